"""``AzureBlobFile`` on Azurite: the shared suite, leases, bad inputs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from filestore_vfs import VirtualFileSystem
from tests.servers import AzuriteServer

from .suite import Backend, BackendSuite

pytestmark = pytest.mark.server
MiB = 1 << 20


def spec(server: AzuriteServer, **extra: Any) -> dict[str, Any]:
    return {
        "class": "AzureBlobFile",
        "account_name": server.account_name,
        "account_key": server.account_key,
        "blob_endpoint": server.blob_endpoint,
        "container": server.container,
        "timeout": 5,
        "retries": 1,
        "retry_backoff": 0.05,
        **extra,
    }


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


class TestAzureBlobFile(BackendSuite):
    @pytest.fixture
    def backend(self, azurite_server: AzuriteServer, prefix: str) -> Backend:
        rw = VirtualFileSystem({"az": spec(azurite_server, prefix=prefix)})
        ro = VirtualFileSystem({"az": spec(azurite_server, prefix=prefix, read_only=True)})
        return Backend(rw, "/az/suite", read_only=ro, empty_dirs=False, large=False)
