"""Frozen (SIGSTOP) S3, Azure and Redis servers: every operation returns.

The object stores' counterpart of ``test_sftp_smb_faults.py``: with the server of the test's
own frozen, each operation, reads of an open file, ``write`` and ``close()`` included, fails
within about the root's ``timeout`` (1 s here, no retry) with an OSError naming the logical
path, never a raw library error; once the server is thawed, the old content is intact.
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from filestore_vfs import VirtualFileSystem
from tests.servers._fixtures import own_server

pytestmark = [pytest.mark.server, pytest.mark.timeout(120)]

FAST = {"timeout": 1, "retries": 0}
NEW = b"new content, sent before the freeze"
BACKENDS = ("s3", "azurite", "redis")


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A server of this module's own, for freezing (every test thaws it again)."""
    with own_server(request.param) as server:
        yield server


@contextlib.contextmanager
def frozen(server: Any) -> Iterator[None]:
    os.killpg(server.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(server.pid, signal.SIGCONT)


def _open_reader(vfs: VirtualFileSystem, path: str) -> Callable[[], Any]:
    f = vfs.open(path, "rb", cache="stream")
    f.read(10)  # open and reading before the server froze
    return lambda: f.read()


def _writer_to_close(vfs: VirtualFileSystem, path: str) -> Callable[[], Any]:
    f = vfs.open(path, "wb")
    f.write(NEW)
    return f.close


def _big_write_then_close(vfs: VirtualFileSystem, path: str) -> Callable[[], Any]:
    f = vfs.open(path, "wb")

    def both() -> None:
        try:
            f.write(os.urandom(24 << 20))  # past a part: an upload starts on the frozen server
        finally:
            f.close()

    return both


FROZEN_OPS: dict[str, Callable[[VirtualFileSystem, str], Callable[[], Any]]] = {
    "read_open_file": _open_reader,
    "read_bytes": lambda v, p: lambda: v.read_bytes(p),
    "info": lambda v, p: lambda: v.info(p),
    "ls": lambda v, p: lambda: v.ls(p.rsplit("/", 1)[0]),
    "close": _writer_to_close,
    "big_write_then_close": _big_write_then_close,
    "write_bytes": lambda v, p: lambda: v.write_bytes(p, b"frozen"),
    "remove": lambda v, p: lambda: v.remove(p),
}


@pytest.mark.parametrize("op", list(FROZEN_OPS))
def test_frozen_server_every_operation_returns(server: Any, op: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    vfs = VirtualFileSystem({"t": server.vfs_root(prefix=prefix, **FAST)}, defaults=False)
    path = "/t/dir/data.bin"
    # a reader already streaming must find data missing, not all of it in socket buffers
    original = os.urandom((16 if op == "read_open_file" else 1) << 20)
    vfs.write_bytes(path, original)
    call = FROZEN_OPS[op](vfs, path)
    with frozen(server):
        with pytest.raises(OSError) as info:
            call()
    assert path in str(info.value) or "/t/dir" in str(info.value), info.value
    assert type(info.value).__module__ in ("builtins", "filestore_vfs.vfs._errors"), info.value
    patient = VirtualFileSystem({"t": server.vfs_root(prefix=prefix, timeout=20)}, defaults=False)
    if op in ("close", "write_bytes"):
        # a request the server had whole before it froze may still complete once thawed
        # (an S3 PUT): the file is then the new one, whole; never a part of either
        assert patient.read_bytes(path) in (original, b"frozen", NEW)
    elif op != "remove":
        assert patient.read_bytes(path) == original
    patient.close()
    vfs.close()
