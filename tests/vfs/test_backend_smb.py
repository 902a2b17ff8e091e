"""SMBFile on a real Samba smbd: the shared suite, credentials, shares, locks, bad inputs."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from filestore_vfs import FileBusyError, VirtualFileSystem
from tests.servers import SmbServer

from .helpers import (
    assert_secret_hidden,
    check_cross_process_lock,
    check_disk_full_in_subprocess,
    check_lock_heartbeat,
    check_mkdir_false_needs_the_parent,
    check_stale_lock,
    free_port,
    fresh_base,
    server_dying_mid_transfer,
    smb_spec,
)
from .suite import BackendSuite, MiB

pytestmark = pytest.mark.server
BACKEND = "smb"  # the fixtures of conftest.py: backend on /t (share folder "suite")


class TestSMBFile(BackendSuite):
    """The shared suite on smbd (its ``backend`` fixture: conftest.py)."""


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
    vfs = VirtualFileSystem({"t": smb_spec(smbd_server, port=free_port(), retries=0, timeout=3)})
    with pytest.raises(ConnectionError, match="cannot connect") as info:
        vfs.read_bytes("/t/x")
    assert "/t" in str(info.value)
    assert_secret_hidden(info.value, smbd_server.password)


def test_mkdir_false_needs_the_parent(smbd_server: SmbServer) -> None:
    check_mkdir_false_needs_the_parent(smb_spec(smbd_server))


def test_server_dies_mid_transfer(tmp_path: Path) -> None:
    with server_dying_mid_transfer("smbd", smb_spec, tmp_path) as (error, server):
        assert "/t/big.bin" in str(error)
        assert_secret_hidden(error, server.password)


def test_disk_full_on_the_local_side(smbd_server: SmbServer, tmp_path: Path) -> None:
    vfs = VirtualFileSystem({"t": smb_spec(smbd_server)})
    base = fresh_base()
    vfs.write_bytes(f"{base}/big.bin", os.urandom(3 * MiB))
    err = check_disk_full_in_subprocess(smb_spec(smbd_server), f"{base}/big.bin", tmp_path)
    assert smbd_server.password not in err["text"] + err["repr"]


def test_cross_process_lock(smbd_server: SmbServer) -> None:
    check_cross_process_lock(smb_spec(smbd_server))


def test_stale_lock_is_taken_over(smbd_server: SmbServer) -> None:
    check_stale_lock(smb_spec(smbd_server), smbd_server.root)


def test_lock_file_is_exclusive_on_the_share(smbd_server: SmbServer) -> None:
    """Two roots (their own in-process keys) on the same file: the lock file decides."""
    sub = fresh_base()
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
    check_lock_heartbeat(smb_spec(smbd_server))
