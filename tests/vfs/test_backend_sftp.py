"""SFTPFile/SSHFile on a real OpenSSH sshd: the shared suite, host keys, locks, bad inputs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from filestore_vfs import VirtualFileSystem
from tests.servers import SshdServer

from .suite import Backend, BackendSuite

pytestmark = pytest.mark.server


def sftp_spec(server: SshdServer, **extra: Any) -> dict[str, Any]:
    return {
        "class": "SFTPFile",
        "hostname": server.host,
        "port": server.port,
        "username": server.user,
        "keyfile": str(server.key_path),
        "known_hosts": str(server.known_hosts),
        "root": str(server.root),
        "timeout": 10,
        **extra,
    }


class TestSFTPFile(BackendSuite):
    @pytest.fixture
    def backend(self, sshd_server: SshdServer) -> Iterator[Backend]:
        spec = sftp_spec(sshd_server)
        rw = VirtualFileSystem({"t": spec})
        ro = VirtualFileSystem({"t": {**spec, "read_only": True}})
        yield Backend(rw, f"/t/{uuid.uuid4().hex[:10]}", read_only=ro)
        rw.close()
        ro.close()
