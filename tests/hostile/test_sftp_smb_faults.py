"""Frozen (SIGSTOP) and killed (SIGKILL) SFTP and SMB servers: every operation returns.

With the server frozen, each operation, ``read``, ``write`` and ``close()`` included, fails
within about the root's ``timeout`` (2 s here, one retry) with an OSError naming the logical
path, and nothing half-written is committed. With the processes serving our connection
killed, a write fails with an OSError naming the logical path (never a raw asyncssh or
smbprotocol error), its lock file stays on the server (nobody can remove it), and the next
writer of this process is not blocked by it. Each test uses servers of its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from filestore_vfs import VirtualFileSystem
from tests.servers import server_pids
from tests.servers._fixtures import own_server

pytestmark = pytest.mark.timeout(90)

FAST = {"timeout": 2, "retries": 1, "retry_backoff": 0.05}
BACKENDS = {"sftp": "sshd", "smb": "smbd"}


@pytest.fixture(scope="module", params=list(BACKENDS))
def server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A server of this module's own, for freezing (every test thaws it again)."""
    with own_server(BACKENDS[request.param]) as server:
        yield server


def signal_server(server: Any, sig: signal.Signals, pids: list[int] | None = None) -> None:
    for pid in pids if pids is not None else server_pids(server.pid, str(server.workdir)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@contextlib.contextmanager
def frozen(server: Any) -> Iterator[None]:
    """The server and every process serving a connection, stopped for the block."""
    pids = server_pids(server.pid, str(server.workdir))
    signal_server(server, signal.SIGSTOP, pids)
    try:
        yield
    finally:
        signal_server(server, signal.SIGCONT, pids)


def new_path() -> str:
    return f"/t/f{uuid.uuid4().hex[:8]}/data.bin"


def on_disk(server: Any, path: str) -> Path:
    return Path(server.root) / path.removeprefix("/t/")


# -- frozen: each operation returns with an error naming the path ------------------------------


def _open_reader(vfs: VirtualFileSystem, path: str) -> Callable[[], Any]:
    f = vfs.open(path, "rb")
    f.read(10)  # the reader is open and has read before the server froze
    return f.read


def _open_writer(vfs: VirtualFileSystem, path: str) -> Callable[[], Any]:
    f = vfs.open(path, "wb")
    f.write(b"x" * 1000)

    def write() -> None:
        try:
            f.write(os.urandom(16 << 20))  # more than the socket buffers take
        finally:
            with contextlib.suppress(OSError):  # after a failed write: nothing committed
                f.close()

    return write


def _writer_to_close(vfs: VirtualFileSystem, path: str) -> Callable[[], Any]:
    f = vfs.open(path, "wb")
    f.write(b"new content, never to be committed")
    return f.close


def _write_then_close(vfs: VirtualFileSystem, path: str) -> Callable[[], Any]:
    """A write that fails on the frozen server, then close(): nothing may be committed."""
    writer = vfs.open(path, "wb")
    writer.write(b"x" * 1000)

    def both() -> None:
        with contextlib.suppress(OSError):
            writer.write(os.urandom(16 << 20))
        writer.close()

    return both


#: name -> (prepared before the freeze) -> the call made while frozen
FROZEN_OPS: dict[str, Callable[[VirtualFileSystem, str], Callable[[], Any]]] = {
    "read_open_file": _open_reader,
    "read_bytes": lambda v, p: lambda: v.read_bytes(p),
    "exists": lambda v, p: lambda: v.exists(p),
    "info": lambda v, p: lambda: v.info(p),
    "ls": lambda v, p: lambda: v.ls(p),
    "get_file": lambda v, p: lambda: v.get_file(p, Path(f"/tmp/{uuid.uuid4().hex}")),
    "write_open_file": _open_writer,
    "close": _writer_to_close,
    "write_then_close": _write_then_close,
    "write_bytes": lambda v, p: lambda: v.write_bytes(p, b"frozen"),
    "makedirs": lambda v, p: lambda: v.makedirs(p + ".d/more"),
    "remove": lambda v, p: lambda: v.remove(p),
}


@pytest.mark.parametrize("op", list(FROZEN_OPS))
def test_frozen_server_every_operation_returns(server: Any, op: str) -> None:
    spec = server.vfs_root(**FAST)
    vfs = VirtualFileSystem({"t": spec}, defaults=False)
    path = new_path()
    original = os.urandom(1 << 20)
    vfs.write_bytes(path, original)
    call = FROZEN_OPS[op](vfs, path)
    with frozen(server):
        with pytest.raises(OSError) as info:
            call()
    assert path in str(info.value), info.value
    assert type(info.value).__module__ in ("builtins", "filestore_vfs.vfs._errors"), info.value
    # thawed: the server answers again, and nothing half-written was committed
    patient = VirtualFileSystem({"t": server.vfs_root(timeout=20)}, defaults=False)
    if op != "remove":
        assert patient.read_bytes(path) == original
    patient.write_bytes(path, b"after")
    assert patient.read_bytes(path) == b"after"
    vfs.close()
    patient.close()


# -- killed: errors name the path, and the lock is recoverable ---------------------------------


def connection_pids(server: Any, before: set[int]) -> list[int]:
    """The processes the server started for connections made since ``before`` was taken."""
    return sorted(set(server_pids(server.pid, str(server.workdir))) - before - {server.pid})


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_killed_connection_write_names_the_path_and_frees_the_lock(backend: str) -> None:
    """SIGKILL of the server processes serving our connection (the server stays up): the
    write fails naming the path, the lock file stays behind, and the next writer of this
    process, on this root or another, is not blocked by it."""
    with own_server(BACKENDS[backend]) as server:
        before = set(server_pids(server.pid, str(server.workdir)))
        vfs = VirtualFileSystem({"t": server.vfs_root(**FAST)}, defaults=False)
        other = VirtualFileSystem({"t": server.vfs_root(**FAST)}, defaults=False)
        path = new_path()
        vfs.write_bytes(path, b"original")
        writer = vfs.open(path, "wb")
        writer.write(b"partial")
        lock = on_disk(server, path).parent / ".~vfs-lock-data.bin"
        assert lock.exists()
        signal_server(server, signal.SIGKILL, connection_pids(server, before))
        with pytest.raises(OSError) as info:
            writer.write(os.urandom(4 << 20))
            writer.close()
        with contextlib.suppress(OSError):
            writer.close()
        assert path in str(info.value)
        assert type(info.value).__module__ == "builtins", repr(info.value)
        assert on_disk(server, path).read_bytes() == b"original"
        assert lock.exists()  # the server lost the connection before we could remove it
        other.write_bytes(path, b"from another root")  # not blocked for lock_timeout
        assert not lock.exists()
        vfs.write_bytes(path, b"ours again")
        assert on_disk(server, path).read_bytes() == b"ours again"
        assert not lock.exists()


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_killed_server_write_and_close_name_the_path(backend: str) -> None:
    """SIGKILL of the whole server mid-write: write/close fail with a built-in OSError naming
    the path (SFTP used to raise asyncssh's raw SFTPNoConnection), the old content stays."""
    with own_server(BACKENDS[backend]) as server:
        vfs = VirtualFileSystem({"t": server.vfs_root(**FAST)}, defaults=False)
        path = new_path()
        vfs.write_bytes(path, b"original")
        writer = vfs.open(path, "wb")
        writer.write(b"partial")
        signal_server(server, signal.SIGKILL)
        errors = []
        for step in (lambda: writer.write(os.urandom(4 << 20)), writer.close):
            try:
                step()
            except OSError as exc:
                errors.append(exc)
        assert errors, "the write to a killed server succeeded"
        for exc in errors:
            assert path in str(exc), exc
            assert type(exc).__module__ == "builtins", repr(exc)
        assert on_disk(server, path).read_bytes() == b"original"
