"""SMBFile on a real Samba smbd: the shared suite, credentials, shares, locks, bad inputs."""

from __future__ import annotations

import errno
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filestore_vfs import FileBusyError, VirtualFileSystem
from tests.servers import SmbServer, smbd_server

from .suite import Backend, BackendSuite, MiB
from .test_backend_sftp import (
    assert_secret_hidden,
    check_cross_process_lock,
    check_lock_heartbeat,
    check_stale_lock,
    get_file_with_small_disk,
    kill_server,
)

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


def test_wrong_password_is_refused_without_leaking(smbd_server: SmbServer) -> None:
    good = VirtualFileSystem({"t": smb_spec(smbd_server)})
    good.write_bytes("/t/pw/x", b"1")  # a pooled session for this user now exists
    secret = "pw-" + uuid.uuid4().hex
    vfs = VirtualFileSystem({"t": smb_spec(smbd_server, password=secret)})
    with pytest.raises(PermissionError, match="check the username and password") as info:
        vfs.read_bytes("/t/pw/x")
    assert_secret_hidden(info.value, secret, smbd_server.password)
    assert secret not in repr(vfs.roots["t"]) and secret not in vfs.resolve("/t/x").url


def test_share_that_does_not_exist(smbd_server: SmbServer) -> None:
    vfs = VirtualFileSystem({"t": smb_spec(smbd_server, share="nosuchshare")})
    with pytest.raises(FileNotFoundError, match="share 'nosuchshare' does not exist") as info:
        vfs.ls("/t")
    assert_secret_hidden(info.value, smbd_server.password)


def test_server_down_at_open(smbd_server: SmbServer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    vfs = VirtualFileSystem({"t": smb_spec(smbd_server, port=free, retries=0, timeout=3)})
    with pytest.raises(ConnectionError, match="cannot connect") as info:
        vfs.read_bytes("/t/x")
    assert "/t" in str(info.value)
    assert_secret_hidden(info.value, smbd_server.password)


def test_mkdir_false_needs_the_parent(smbd_server: SmbServer) -> None:
    vfs = VirtualFileSystem({"t": smb_spec(smbd_server, mkdir=False)})
    with pytest.raises(FileNotFoundError, match="mkdir"):
        vfs.write_bytes(f"/t/{uuid.uuid4().hex}/x", b"1")


def test_server_dies_mid_transfer(tmp_path: Path) -> None:
    with smbd_server() as server:
        spec = smb_spec(server, retries=1, retry_backoff=0.05, timeout=5)
        vfs = VirtualFileSystem({"t": spec})
        (server.root / "big.bin").write_bytes(os.urandom(64 * MiB))
        vfs.write_bytes("/t/keep.bin", b"original")
        target = tmp_path / "dl" / "big.bin"

        def kill_after_first_chunk(done: int, total: int | None, name: str) -> None:
            kill_server(server)

        with pytest.raises(OSError) as info:
            vfs.get_file("/t/big.bin", target, progress=kill_after_first_chunk)
        assert "/t/big.bin" in str(info.value)
        assert_secret_hidden(info.value, server.password)
        assert not target.exists() and os.listdir(target.parent) == []
        with pytest.raises(OSError):
            with vfs.open("/t/keep.bin", "wb") as f:
                f.write(b"new" * 1000)
        assert (server.root / "keep.bin").read_bytes() == b"original"


def test_disk_full_on_the_local_side(smbd_server: SmbServer, tmp_path: Path) -> None:
    vfs = VirtualFileSystem({"t": smb_spec(smbd_server)})
    base = f"/t/{uuid.uuid4().hex[:8]}"
    vfs.write_bytes(f"{base}/big.bin", os.urandom(3 * MiB))
    out = tmp_path / "out"
    out.mkdir()
    err = get_file_with_small_disk(smb_spec(smbd_server), f"{base}/big.bin", out / "b", MiB)
    assert err["errno"] == errno.EFBIG
    assert smbd_server.password not in err["text"] + err["repr"]
    assert os.listdir(out) == []


def test_cross_process_lock(smbd_server: SmbServer) -> None:
    check_cross_process_lock(smb_spec(smbd_server), f"/t/{uuid.uuid4().hex[:8]}")


def test_stale_lock_is_taken_over(smbd_server: SmbServer) -> None:
    vfs = VirtualFileSystem({"t": smb_spec(smbd_server)})
    sub = uuid.uuid4().hex[:8]
    (smbd_server.root / sub).mkdir()
    check_stale_lock(vfs, f"/t/{sub}", smbd_server.root / sub / ".~vfs-lock-stale.bin")


def test_lock_file_is_exclusive_on_the_share(smbd_server: SmbServer) -> None:
    """Two roots (their own in-process keys) on the same file: the lock file decides."""
    sub = f"/t/{uuid.uuid4().hex[:8]}"
    first = VirtualFileSystem({"t": smb_spec(smbd_server)})
    second_root = VirtualFileSystem({"t": smb_spec(smbd_server)}).roots["t"]
    second_root.lock_key = lambda rel: ("other registry", rel)  # type: ignore[method-assign]
    second = VirtualFileSystem({"t": second_root})
    with first.open(f"{sub}/x.bin", "wb") as f:
        f.write(b"first")
        with pytest.raises(FileBusyError, match="open for writing by"):
            second.open(f"{sub}/x.bin", "wb")
    second.write_bytes(f"{sub}/x.bin", b"second")
    assert first.read_bytes(f"{sub}/x.bin") == b"second"


def test_lock_heartbeat(smbd_server: SmbServer) -> None:
    check_lock_heartbeat(smb_spec(smbd_server), f"/t/{uuid.uuid4().hex[:8]}")
