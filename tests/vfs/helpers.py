"""What the network-backend tests share: root specs for the loopback servers, and the
helpers several backends' tests use (secrets hidden, a full local disk, killing a server,
a writer in another process, the lock checks).

The fixtures built on these (``prefix``, ``vfs``, ``backend``) are in ``conftest.py``; a test
module names its backend with a module-level ``BACKEND = "<name>"`` (a key of
:data:`NETWORK`).  Test modules import from here, never from each other.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from filestore_vfs import FileBusyError, VirtualFileSystem
from tests.servers import (
    AzuriteServer,
    NginxServer,
    RedisServer,
    S3Server,
    SmbServer,
    SshdServer,
    server_pids,
)
from tests.servers._fixtures import own_server

from .suite import MiB

# -- root specs: the tests' options on top of the server's own spec ---------------------------
# Object stores fail fast (short timeout, one retry) so the bad-input tests stay quick.


def dav_spec(server: NginxServer, **extra: Any) -> dict[str, Any]:
    """``HttpFile`` reading ``/data/`` and writing through WebDAV."""
    return server.dav_root(**{"timeout": 10, **extra})


def sftp_spec(server: SshdServer, **extra: Any) -> dict[str, Any]:
    return server.vfs_root(**{"timeout": 10, **extra})


def smb_spec(server: SmbServer, **extra: Any) -> dict[str, Any]:
    return server.vfs_root(**{"timeout": 10, **extra})


def s3_spec(server: S3Server, **extra: Any) -> dict[str, Any]:
    return server.vfs_root(**{"timeout": 5, "retries": 1, **extra})


def azure_spec(server: AzuriteServer, **extra: Any) -> dict[str, Any]:
    return server.vfs_root(**{"timeout": 5, "retries": 1, "retry_backoff": 0.05, **extra})


def redis_spec(server: RedisServer, **extra: Any) -> dict[str, Any]:
    return server.vfs_root(**{"timeout": 5, "retries": 1, "retry_backoff": 0.05, **extra})


@dataclass(frozen=True)
class Network:
    """One network backend as its tests use it."""

    server: str  #: the session fixture that runs its server (tests/servers/_fixtures.py)
    spec: Callable[..., dict[str, Any]]  #: its root spec on that server
    root: str  #: the logical root name its test module uses
    #: an object store: every test gets a fresh key prefix (the ``prefix`` fixture), and the
    #: shared suite runs in ``/<root>/suite`` without empty directories or the large file
    object_store: bool = False
    #: extra options of the shared suite's root
    suite: tuple[tuple[str, Any], ...] = ()
    #: the shared suite's read-only root, when it is not the same spec with ``read_only``
    read_only: Callable[[Any], dict[str, Any]] | None = None


NETWORK: dict[str, Network] = {
    # the read-only view is a download-only root on /data/
    "http": Network("nginx_server", dav_spec, "t", read_only=lambda s: s.vfs_root(read_only=True)),
    "sftp": Network("sshd_server", sftp_spec, "t"),
    "smb": Network("smbd_server", smb_spec, "t", suite=(("root", "suite"),)),
    # the large-file case: 256 MiB through moto takes minutes (moto reads the whole object
    # for every ranged GET), ~13 s through Azurite, ~6 s through Redis (too long for these
    # tests' budget); the benchmark (benchmarks/bench_network.py) moves 512 MiB through each
    "s3": Network("s3_server", s3_spec, "s3", object_store=True),
    "azure": Network("azurite_server", azure_spec, "az", object_store=True),
    "redis": Network("redis_server", redis_spec, "r", object_store=True),
}


# -- errors and servers -----------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nothing listens on (for "server down" cases)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fresh_base() -> str:
    """A new directory on root ``/t``."""
    return f"/t/{uuid.uuid4().hex[:8]}"


def assert_secret_hidden(exc: BaseException, *secrets: str) -> None:
    """No secret in the error's ``args``, nor in the ``str``/``repr`` of the error and its
    cause chain."""
    for secret in secrets:
        assert secret not in repr(exc.args), f"secret leaked in the args: {exc.args!r}"
    seen: BaseException | None = exc
    while seen is not None:
        for text in (str(seen), repr(seen)):
            for secret in secrets:
                assert secret not in text, f"secret leaked in {type(seen).__name__}: {text}"
        seen = seen.__cause__ or seen.__context__


def kill_server(server: Any) -> None:
    """SIGKILL every process of a server of our own (sessions leave its process group)."""
    for pid in server_pids(server.pid, str(server.workdir)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def server_dying_mid_transfer(
    name: str, make_spec: Callable[..., dict[str, Any]], tmp_path: Path
) -> Iterator[tuple[OSError, Any]]:
    """A server of our own (``name`` for :func:`own_server`; root ``/t`` of
    ``make_spec(server)``) killed after the first chunk of a 64 MiB download: nothing lands
    locally, and a write cut off by the dead server leaves the original.  Yields the
    download's error and the server, for the backend's own checks."""
    with own_server(name) as server:
        spec = make_spec(server, retries=1, retry_backoff=0.05, timeout=5)
        vfs = VirtualFileSystem({"t": spec})
        (server.root / "big.bin").write_bytes(os.urandom(64 * MiB))
        vfs.write_bytes("/t/keep.bin", b"original")
        target = tmp_path / "dl" / "big.bin"

        def kill_after_first_chunk(done: int, total: int | None, name: str) -> None:
            kill_server(server)

        with pytest.raises(OSError) as info:
            vfs.get_file("/t/big.bin", target, progress=kill_after_first_chunk)
        assert not target.exists() and os.listdir(target.parent) == []
        with pytest.raises(OSError):  # the upload at close finds the server gone
            with vfs.open("/t/keep.bin", "wb") as f:
                f.write(b"new" * 1000)
        assert (server.root / "keep.bin").read_bytes() == b"original"
        yield info.value, server


def check_mkdir_false_needs_the_parent(spec: dict[str, Any]) -> None:
    vfs = VirtualFileSystem({"t": {**spec, "mkdir": False}})
    with pytest.raises(FileNotFoundError, match="mkdir"):
        vfs.write_bytes(f"{fresh_base()}/x", b"1")


def check_server_hangs_then_dies(
    backend: str, path: str, tmp_path: Path, *, upload: int, existing: int, part_size: int
) -> None:
    """A server of our own for ``backend`` (a key of :data:`NETWORK`; ``path`` on its
    root), stopped (SIGSTOP) once 8 MiB of an ``upload``-byte ``put_file`` are sent (a
    timeout), then killed during a download (a dropped link).  Each: a clear error naming
    ``path``, the old ``existing``-byte object intact, nothing partial anywhere."""
    kind = NETWORK[backend]
    target = tmp_path / "frame.bin"
    target.write_bytes(b"the previous download")
    source = tmp_path / "up.bin"
    source.write_bytes(os.urandom(upload))
    with own_server(kind.server.removesuffix("_server")) as server:
        # a patient VFS for set-up and checks (a loaded machine must not fail them)
        patient = VirtualFileSystem({kind.root: kind.spec(server, timeout=20, retries=2)})
        fast = kind.spec(server, timeout=1, retries=0, part_size=part_size)
        vfs = VirtualFileSystem({kind.root: fast})
        patient.write_bytes(path, os.urandom(existing))

        def stop(done: int, total: int | None, name: str) -> None:
            if done == 8 * MiB:  # the first 8 MiB are on the server; the rest hangs
                os.killpg(server.pid, signal.SIGSTOP)

        try:
            with pytest.raises((TimeoutError, ConnectionError), match=path):
                vfs.put_file(source, path, progress=stop)
        finally:
            os.killpg(server.pid, signal.SIGCONT)
        assert patient.info(path)["size"] == existing  # the old object is intact

        seen: list[int] = []

        def kill(done: int, total: int | None, name: str) -> None:
            seen.append(done)
            if len(seen) == 1:
                os.killpg(server.pid, signal.SIGKILL)

        with pytest.raises(ConnectionError) as info:
            patient.get_file(path, target, progress=kill)
    assert path in str(info.value)
    assert target.read_bytes() == b"the previous download"
    assert sorted(os.listdir(tmp_path)) == ["frame.bin", "up.bin"]  # no partial file left
    assert source.stat().st_size == upload


# -- a full local disk, in a subprocess ----------------------------------------------------------

FSIZE_SCRIPT = textwrap.dedent(
    """
    import json, os, resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
    spec, path, target, limit = json.loads(sys.argv[1])
    from filestore_vfs import VirtualFileSystem
    vfs = VirtualFileSystem({"t": spec})
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        vfs.get_file(path, target)
    except OSError as exc:
        print(json.dumps({"errno": exc.errno, "text": str(exc), "repr": repr(exc)}))
        sys.exit(3)
    print("{}")
    """
)


def get_file_with_small_disk(
    spec: dict[str, Any], path: str, target: Path, limit: int
) -> dict[str, Any]:
    """``get_file`` in a subprocess whose files may not grow past ``limit`` (a full disk)."""
    proc = subprocess.run(
        [sys.executable, "-c", FSIZE_SCRIPT, json.dumps([spec, path, str(target), limit])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_disk_full_in_subprocess(
    spec: dict[str, Any], path: str, tmp_path: Path
) -> dict[str, Any]:
    """``path`` (3 MiB, root ``/t`` of ``spec``) fetched onto a disk full after 1 MiB:
    ``EFBIG`` and no partial file.  Returns the error as the subprocess saw it."""
    out = tmp_path / "out"
    out.mkdir()
    err = get_file_with_small_disk(spec, path, out / "b", MiB)
    assert err["errno"] == errno.EFBIG
    assert os.listdir(out) == []
    return err


# -- a writer in another process ----------------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import json, sys
    from filestore_vfs import VirtualFileSystem
    vfs = VirtualFileSystem({sys.argv[1]: json.loads(sys.argv[2])})
    with vfs.open(sys.argv[3], "wb") as w:
        w.write(b"from the other process")
        print("holding", flush=True)
        sys.stdin.readline()  # hold the lock until told to finish
    print("done", flush=True)
    """
)


@contextlib.contextmanager
def writer_in_other_process(
    spec: dict[str, Any], path: str, root: str = "t"
) -> Iterator[subprocess.Popen[str]]:
    """A second process holding ``path`` (on root ``root`` of ``spec``) open for writing until
    we write a line to it; killed on exit if it still runs."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, root, json.dumps(spec), path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "holding"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- lock files (SFTP, SMB) --------------------------------------------------------------------


def check_cross_process_lock(spec: dict[str, Any]) -> None:
    """Another process's writer makes ours busy; after it commits, we can write."""
    vfs = VirtualFileSystem({"t": spec})
    base = fresh_base()
    path = f"{base}/locked.bin"
    with writer_in_other_process(spec, path) as holder:
        with pytest.raises(FileBusyError, match=f"pid {holder.pid}"):
            vfs.open(path, "wb")
        assert not vfs.exists(path)
        holder.communicate("go\n", timeout=30)
    assert holder.returncode == 0
    assert vfs.read_bytes(path) == b"from the other process"
    vfs.write_bytes(path, b"ours now")
    assert vfs.read_bytes(path) == b"ours now"
    assert vfs.ls(base) == [path]  # no lock or temporary file left visible


def check_stale_lock(spec: dict[str, Any], server_root: Path) -> None:
    """A fresh foreign lock file makes us busy; one older than lock_timeout is taken over.
    ``server_root`` is the server's directory behind root ``/t`` of ``spec``."""
    vfs = VirtualFileSystem({"t": spec})
    sub = uuid.uuid4().hex[:8]
    (server_root / sub).mkdir()
    lock_on_disk = server_root / sub / ".~vfs-lock-stale.bin"
    path = f"/t/{sub}/stale.bin"
    vfs.write_bytes(path, b"old")
    holder = {"user": "ghost", "host": "gone", "pid": 4242, "token": "t0"}
    lock_on_disk.write_text(json.dumps({**holder, "time": time.time()}))
    with pytest.raises(FileBusyError, match="ghost@gone"):
        vfs.write_bytes(path, b"new")
    lock_on_disk.write_text(json.dumps({**holder, "time": time.time() - 7200}))
    vfs.write_bytes(path, b"new")  # lock_timeout is 3600 s: taken over
    assert vfs.read_bytes(path) == b"new"
    assert not lock_on_disk.exists()  # and removed when our writer closed


def check_lock_heartbeat(spec: dict[str, Any]) -> None:
    """A writer open longer than lock_timeout keeps its lock: the lock file is refreshed."""
    base = fresh_base()
    fast = {**spec, "lock_timeout": 1.0}
    first = VirtualFileSystem({"t": fast})
    second_root = VirtualFileSystem({"t": fast}).roots["t"]
    second_root.lock_key = lambda rel: ("another registry", rel)  # type: ignore[method-assign]
    second = VirtualFileSystem({"t": second_root})
    path = f"{base}/long.bin"
    with first.open(path, "wb") as f:
        f.write(b"slow writer")
        time.sleep(2.5)  # 2.5 × lock_timeout
        with pytest.raises(FileBusyError, match="open for writing by"):
            second.open(path, "wb")
    second.write_bytes(path, b"after")
    assert first.read_bytes(path) == b"after"
    assert first.ls(base) == [path]
