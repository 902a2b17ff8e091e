"""SMBFile on a real Samba smbd: the shared suite, credentials, shares, locks, bad inputs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from filestore_vfs import VirtualFileSystem
from tests.servers import SmbServer

from .suite import Backend, BackendSuite

pytestmark = pytest.mark.server


def smb_spec(server: SmbServer, **extra: Any) -> dict[str, Any]:
    return {
        "class": "SMBFile",
        "hostname": server.host,
        "port": server.port,
        "share": server.share,
        "username": server.user,
        "password": server.password,
        "timeout": 10,
        **extra,
    }


class TestSMBFile(BackendSuite):
    @pytest.fixture
    def backend(self, smbd_server: SmbServer) -> Iterator[Backend]:
        spec = smb_spec(smbd_server, root="suite")
        rw = VirtualFileSystem({"t": spec})
        ro = VirtualFileSystem({"t": {**spec, "read_only": True}})
        yield Backend(rw, f"/t/{uuid.uuid4().hex[:10]}", read_only=ro)
        rw.close()
        ro.close()
