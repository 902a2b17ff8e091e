"""HttpFile against a frozen (SIGSTOP) and a killed (SIGKILL) nginx of the test's own: every
read, listing and upload (at ``close()``, in each upload mode) returns within the root's
timeout with an error naming the logical path, and the old file stays; no credential is
reachable from any error."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from filestore_vfs import VirtualFileSystem
from tests.servers import NginxServer, server_pids
from tests.servers._fixtures import own_server

pytestmark = [pytest.mark.server, pytest.mark.timeout(60)]

MiB = 1 << 20
OLD = b"the old content"


@pytest.fixture
def nginx() -> Iterator[NginxServer]:
    with own_server("nginx") as server:
        (server.root / "old.bin").write_bytes(OLD)
        (server.root / "dir").mkdir()
        (server.root / "dir" / "a.txt").write_bytes(b"a")
        yield server


def _signal(server: NginxServer, sig: signal.Signals) -> None:
    for pid in server_pids(server.pid, str(server.workdir)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@contextlib.contextmanager
def frozen(server: NginxServer) -> Iterator[None]:
    _signal(server, signal.SIGSTOP)
    try:
        yield
    finally:
        _signal(server, signal.SIGCONT)


def _spec(server: NginxServer, mode: str) -> dict[str, Any]:
    upload = server.base_url + "/data/upload" if mode == "pyobs" else server.dav_url
    return {
        "class": "HttpFile",
        "download": server.data_url,
        "upload": upload,
        "upload_mode": mode,
        "timeout": 1,
        "retries": 1,
        "retry_backoff": 0.05,
    }


def _vfs(server: NginxServer, mode: str = "webdav") -> VirtualFileSystem:
    return VirtualFileSystem({"t": _spec(server, mode)}, defaults=False)


def _visible(server: NginxServer) -> list[str]:
    """What a reader of the server's directory sees (temp names would show here)."""
    return sorted(str(p.relative_to(server.root)) for p in server.root.rglob("*"))


UPLOAD_MODES = ["put", "webdav", "pyobs"]
SIZES = {"small": 1000, "large": 48 * MiB}  # large: more than the socket buffers hold
WRITES: dict[str, Callable[[VirtualFileSystem, bytes], Any]] = {
    "write_bytes": lambda v, data: v.write_bytes("/t/old.bin", data),
    "open-close": lambda v, data: _open_write_close(v, data),
}


def _open_write_close(vfs: VirtualFileSystem, data: bytes) -> None:
    f = vfs.open("/t/old.bin", "wb")
    f.write(data)
    f.close()  # the upload happens here


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("write", list(WRITES))
@pytest.mark.parametrize("mode", UPLOAD_MODES)
def test_frozen_server_upload_at_close_times_out(
    nginx: NginxServer, mode: str, write: str, size: str
) -> None:
    vfs = _vfs(nginx, mode)
    if mode != "pyobs":
        vfs.exists("/t/old.bin")  # a pooled connection exists before the freeze too
    data = os.urandom(SIZES[size])
    with frozen(nginx):
        with pytest.raises(TimeoutError, match="within 1 s|no progress|timeout") as info:
            WRITES[write](vfs, data)
        assert info.value.filename == "/t/old.bin"
    # A timeout leaves the outcome to the server: once thawed, nginx may still store a body
    # it had fully received (put, pyobs), but always whole (it renames into place). In webdav
    # mode the MOVE was never sent: the old file stays, the temp file is never listed.
    content = (nginx.root / "old.bin").read_bytes()
    assert content == OLD if mode == "webdav" else content in (OLD, data)
    assert vfs.ls("/t") == ["/t/dir", "/t/old.bin"]


READS: dict[str, Callable[[VirtualFileSystem], Any]] = {
    "read_bytes": lambda v: v.read_bytes("/t/old.bin"),
    "open-blocks": lambda v: v.open("/t/old.bin", "rb").read(),
    "open-stream": lambda v: v.open("/t/old.bin", "rb", cache="stream").read(),
    "open-file": lambda v: v.open("/t/old.bin", "rb", cache="file").read(),
    "info": lambda v: v.info("/t/old.bin"),
    "exists": lambda v: v.exists("/t/old.bin"),
    "ls": lambda v: v.ls("/t/dir"),
    "find": lambda v: v.find("/t/dir"),
    "get_file": lambda v: v.get_file("/t/old.bin", os.devnull + ".never"),
}


@pytest.mark.parametrize("read", list(READS))
@pytest.mark.parametrize("mode", ["put", "webdav"])
def test_frozen_server_reads_and_listings_time_out(
    nginx: NginxServer, mode: str, read: str
) -> None:
    vfs = _vfs(nginx, mode)
    with frozen(nginx):
        with pytest.raises(TimeoutError) as info:
            READS[read](vfs)
    assert str(info.value.filename).startswith("/t/")


@pytest.mark.parametrize("write", list(WRITES))
@pytest.mark.parametrize("mode", UPLOAD_MODES)
def test_killed_server_write_names_the_path_and_keeps_the_old_file(
    nginx: NginxServer, mode: str, write: str
) -> None:
    vfs = _vfs(nginx, mode)
    _signal(nginx, signal.SIGKILL)
    with pytest.raises(ConnectionError, match="root /t") as info:
        WRITES[write](vfs, os.urandom(2 * MiB))
    assert info.value.filename == "/t/old.bin"
    assert (nginx.root / "old.bin").read_bytes() == OLD
    assert _visible(nginx) == ["dir", "dir/a.txt", "old.bin"]


@pytest.mark.parametrize("read", list(READS))
def test_killed_server_reads_name_the_path(nginx: NginxServer, read: str) -> None:
    vfs = _vfs(nginx)
    _signal(nginx, signal.SIGKILL)
    with pytest.raises(ConnectionError) as info:
        READS[read](vfs)
    assert str(info.value.filename).startswith("/t/")


# -- no credential reachable from an error ------------------------------------------------------
def _reachable(exc: BaseException) -> str:
    """The repr of everything an error holds: args, attributes, causes and contexts, and the
    same of every error among them."""
    texts: list[str] = []
    todo: list[Any] = [exc]
    seen: set[int] = set()
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        texts.append(repr(obj))
        if isinstance(obj, BaseException):
            texts.append(str(obj))
            todo.extend(obj.args)
            todo.extend(v for v in vars(obj).values() if v is not obj)
            todo.extend(e for e in (obj.__cause__, obj.__context__) if e is not None)
        elif isinstance(obj, (tuple, list)):
            todo.extend(obj)
        elif hasattr(obj, "headers"):  # aiohttp's RequestInfo, responses
            texts.append(repr(dict(obj.headers)))
            todo.extend(getattr(obj, "history", ()))
            info = getattr(obj, "request_info", None)
            if info is not None:
                todo.append(info)
    return "\n".join(texts)


@pytest.mark.parametrize(
    "action",
    [
        lambda v: v.read_bytes("/t/x.bin"),
        lambda v: v.write_bytes("/t/x.bin", b"x"),
        lambda v: v.ls("/t/dir"),
        lambda v: _fsspec_read(v),
    ],
    ids=["read", "write", "ls", "fsspec-inside-translate"],
)
def test_no_credential_reachable_from_an_error(
    nginx: NginxServer, action: Callable[[VirtualFileSystem], Any]
) -> None:
    password = "pw-" + os.urandom(8).hex()
    header = base64.b64encode(f"{nginx.user}:{password}".encode()).decode()
    spec = {
        "class": "HttpFile",
        "download": nginx.auth_url,
        "upload": nginx.auth_url,
        "upload_mode": "webdav",
        "username": nginx.user,
        "password": password,  # wrong: every request is a 401
        "timeout": 2,
        "retries": 0,
    }
    vfs = VirtualFileSystem({"t": spec}, defaults=False)
    with pytest.raises(PermissionError) as info:
        action(vfs)
    text = _reachable(info.value)
    assert password not in text and header not in text, text


def _fsspec_read(vfs: VirtualFileSystem) -> None:
    """A request fsspec makes (its ``raise_for_status`` keeps aiohttp's error, with the
    request headers) inside the root's translation, as every read does."""
    root = vfs.roots["t"]
    with root.translate("/t/dir/a.txt"):
        root.fs.cat_file(root.fs_path("dir/a.txt"))
