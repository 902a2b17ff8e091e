"""SFTPFile/SSHFile on a real OpenSSH sshd: the shared suite, host keys, locks, bad inputs."""

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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filestore_vfs import ConfigError, FileBusyError, VirtualFileSystem
from tests.servers import SshdServer, server_pids, sshd_server

from .suite import Backend, BackendSuite, MiB

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


# -- helpers shared with the other network backends' tests ------------------------------------

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


def assert_secret_hidden(exc: BaseException, *secrets: str) -> None:
    """No secret in the error, its cause chain, or their ``str``/``repr``."""
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


HOLDER = textwrap.dedent(
    """
    import json, sys
    from filestore_vfs import VirtualFileSystem
    vfs = VirtualFileSystem({"t": json.loads(sys.argv[1])})
    with vfs.open(sys.argv[2], "wb") as w:
        w.write(b"from the other process")
        print("holding", flush=True)
        sys.stdin.readline()  # hold the lock until told to finish
    print("done", flush=True)
    """
)


@contextlib.contextmanager
def writer_in_other_process(spec: dict[str, Any], path: str) -> Iterator[subprocess.Popen[str]]:
    """A second process holding ``path`` open for writing until we write a line to it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, json.dumps(spec), path],
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


def check_cross_process_lock(spec: dict[str, Any], base: str) -> None:
    """Another process's writer makes ours busy; after it commits, we can write."""
    vfs = VirtualFileSystem({"t": spec})
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


def check_stale_lock(vfs: VirtualFileSystem, base: str, lock_on_disk: Path) -> None:
    """A fresh foreign lock file makes us busy; one older than lock_timeout is taken over."""
    path = f"{base}/stale.bin"
    vfs.write_bytes(path, b"old")
    holder = {"user": "ghost", "host": "gone", "pid": 4242, "token": "t0"}
    lock_on_disk.write_text(json.dumps({**holder, "time": time.time()}))
    with pytest.raises(FileBusyError, match="ghost@gone"):
        vfs.write_bytes(path, b"new")
    lock_on_disk.write_text(json.dumps({**holder, "time": time.time() - 7200}))
    vfs.write_bytes(path, b"new")  # lock_timeout is 3600 s: taken over
    assert vfs.read_bytes(path) == b"new"
    assert not lock_on_disk.exists()  # and removed when our writer closed


# -- SFTP bad inputs ---------------------------------------------------------------------------


def test_wrong_key_and_password_are_refused_without_leaking(
    sshd_server: SshdServer,
) -> None:
    wrong_key = sshd_server.workdir / "wrong_host_ed25519"  # a real key, not authorized
    secret = "pw-" + uuid.uuid4().hex
    spec = sftp_spec(sshd_server, keyfile=str(wrong_key), password=secret)
    vfs = VirtualFileSystem({"t": spec})
    with pytest.raises(PermissionError, match="check the password or keyfile") as info:
        vfs.ls("/t")
    assert_secret_hidden(info.value, secret)
    assert secret not in repr(vfs.roots["t"]) and secret not in vfs.resolve("/t/x").url


def test_unknown_host_key_is_refused(sshd_server: SshdServer) -> None:
    spec = sftp_spec(sshd_server, known_hosts=str(sshd_server.wrong_known_hosts))
    vfs = VirtualFileSystem({"t": spec})
    with pytest.raises(PermissionError, match="host key") as info:
        vfs.read_bytes("/t/anything")
    assert "man-in-the-middle" in str(info.value)


def test_missing_known_hosts_file_is_a_clear_config_error(
    sshd_server: SshdServer, tmp_path: Path
) -> None:
    spec = sftp_spec(sshd_server, known_hosts=str(tmp_path / "none"))
    with pytest.raises(ConfigError, match="ssh-keyscan"):
        VirtualFileSystem({"t": spec}).exists("/t/x")


def test_default_known_hosts_is_the_users(sshd_server: SshdServer) -> None:
    spec = sftp_spec(sshd_server)
    del spec["known_hosts"]
    root = VirtualFileSystem({"t": spec}).roots["t"]
    assert root.known_hosts == os.path.expanduser("~/.ssh/known_hosts")  # type: ignore[attr-defined]
    assert root.insecure is False  # type: ignore[attr-defined]


def test_accepting_any_host_key_must_be_explicit_and_warns(sshd_server: SshdServer) -> None:
    spec = sftp_spec(
        sshd_server,
        known_hosts=str(sshd_server.wrong_known_hosts),
        insecure_accept_any_host_key=True,
    )
    with pytest.warns(UserWarning, match="man-in-the-middle"):
        vfs = VirtualFileSystem({"t": spec})
    vfs.write_bytes("/t/insecure/x", b"1")
    assert vfs.read_bytes("/t/insecure/x") == b"1"


def test_ssh_file_is_the_same_root(sshd_server: SshdServer) -> None:
    vfs = VirtualFileSystem({"t": {**sftp_spec(sshd_server), "class": "pyobs.vfs.SSHFile"}})
    vfs.write_bytes("/t/ssh/x", b"via SSHFile")
    assert (sshd_server.root / "ssh" / "x").read_bytes() == b"via SSHFile"


def test_server_down_at_open(sshd_server: SshdServer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    vfs = VirtualFileSystem({"t": sftp_spec(sshd_server, port=free, retries=0)})
    with pytest.raises(ConnectionError) as info:
        vfs.read_bytes("/t/x")
    assert "/t" in str(info.value)


def test_server_refuses_access(sshd_server: SshdServer) -> None:
    """The server's "permission denied" (SFTP's 403): /sys refuses new files even to root."""
    vfs = VirtualFileSystem({"t": sftp_spec(sshd_server, root="/sys", mkdir=False)})
    with pytest.raises(PermissionError) as info:
        vfs.write_bytes("/t/new-file", b"1")
    assert info.value.filename == "/t/new-file"
    assert not os.path.exists("/sys/new-file")


def test_mkdir_false_needs_the_parent(sshd_server: SshdServer) -> None:
    vfs = VirtualFileSystem({"t": sftp_spec(sshd_server, mkdir=False)})
    with pytest.raises(FileNotFoundError, match="mkdir"):
        vfs.write_bytes(f"/t/{uuid.uuid4().hex}/x", b"1")


def test_server_dies_mid_transfer(tmp_path: Path) -> None:
    with sshd_server() as server:
        spec = sftp_spec(server, retries=1, retry_backoff=0.05, timeout=5)
        vfs = VirtualFileSystem({"t": spec})
        (server.root / "big.bin").write_bytes(os.urandom(64 * MiB))
        vfs.write_bytes("/t/keep.bin", b"original")
        target = tmp_path / "dl" / "big.bin"

        def kill_after_first_chunk(done: int, total: int | None, name: str) -> None:
            kill_server(server)

        with pytest.raises(OSError) as info:
            vfs.get_file("/t/big.bin", target, progress=kill_after_first_chunk)
        assert "/t/big.bin" in str(info.value) or "/t" in str(info.value)
        assert not target.exists() and os.listdir(target.parent) == []
        # a write cut off by the dead server leaves the original in place
        with pytest.raises(OSError):
            with vfs.open("/t/keep.bin", "wb") as f:
                f.write(b"new" * 1000)
        assert (server.root / "keep.bin").read_bytes() == b"original"


def test_writer_dies_mid_write_leaves_original(sshd_server: SshdServer) -> None:
    vfs = VirtualFileSystem({"t": sftp_spec(sshd_server)})
    base = f"/t/{uuid.uuid4().hex[:8]}"
    vfs.write_bytes(f"{base}/keep.bin", b"original")
    code = textwrap.dedent(
        """
        import json, os, sys
        from filestore_vfs import VirtualFileSystem
        vfs = VirtualFileSystem({"t": json.loads(sys.argv[1])})
        f = vfs.open(sys.argv[2], "wb")
        f.write(b"half" * 100000)
        f.flush()
        os._exit(9)  # killed mid-write: no close, no clean-up
        """
    )
    spec = sftp_spec(sshd_server)
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(spec), f"{base}/keep.bin"])
    assert proc.returncode == 9
    assert vfs.read_bytes(f"{base}/keep.bin") == b"original"
    assert vfs.ls(base) == [f"{base}/keep.bin"]
    # the dead writer's lock is stale only after lock_timeout: until then we are told who
    with pytest.raises(FileBusyError, match="open for writing by"):
        vfs.write_bytes(f"{base}/keep.bin", b"x")
    fast = VirtualFileSystem({"t": {**spec, "lock_timeout": 0}})
    fast.write_bytes(f"{base}/keep.bin", b"after")
    assert fast.read_bytes(f"{base}/keep.bin") == b"after"


def test_disk_full_on_the_local_side(sshd_server: SshdServer, tmp_path: Path) -> None:
    vfs = VirtualFileSystem({"t": sftp_spec(sshd_server)})
    base = f"/t/{uuid.uuid4().hex[:8]}"
    vfs.write_bytes(f"{base}/big.bin", os.urandom(3 * MiB))
    out = tmp_path / "out"
    out.mkdir()
    err = get_file_with_small_disk(sftp_spec(sshd_server), f"{base}/big.bin", out / "b", MiB)
    assert err["errno"] == errno.EFBIG
    assert os.listdir(out) == []


def test_cross_process_lock(sshd_server: SshdServer) -> None:
    check_cross_process_lock(sftp_spec(sshd_server), f"/t/{uuid.uuid4().hex[:8]}")


def test_stale_lock_is_taken_over(sshd_server: SshdServer) -> None:
    vfs = VirtualFileSystem({"t": sftp_spec(sshd_server)})
    sub = uuid.uuid4().hex[:8]
    (sshd_server.root / sub).mkdir()
    check_stale_lock(vfs, f"/t/{sub}", sshd_server.root / sub / ".~vfs-lock-stale.bin")


def check_lock_heartbeat(spec: dict[str, Any], base: str) -> None:
    """A writer open longer than lock_timeout keeps its lock: the lock file is refreshed."""
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


def test_lock_heartbeat(sshd_server: SshdServer) -> None:
    check_lock_heartbeat(sftp_spec(sshd_server), f"/t/{uuid.uuid4().hex[:8]}")
