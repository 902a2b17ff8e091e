"""SFTPFile/SSHFile on a real OpenSSH sshd: the shared suite, host keys, locks, bad inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from filestore_vfs import ConfigError, VirtualFileSystem
from tests.servers import SshdServer

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
    sftp_spec,
)
from .suite import BackendSuite, MiB

pytestmark = pytest.mark.server
BACKEND = "sftp"  # the fixtures of conftest.py: backend on /t


class TestSFTPFile(BackendSuite):
    """The shared suite on sshd (its ``backend`` fixture: conftest.py)."""


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
    vfs = VirtualFileSystem({"t": sftp_spec(sshd_server, port=free_port(), retries=0)})
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
    check_mkdir_false_needs_the_parent(sftp_spec(sshd_server))


def test_server_dies_mid_transfer(tmp_path: Path) -> None:
    with server_dying_mid_transfer("sshd", sftp_spec, tmp_path) as (error, server):
        assert "/t/big.bin" in str(error) or "/t" in str(error)


def test_writer_dies_mid_write_leaves_original(sshd_server: SshdServer) -> None:
    vfs = VirtualFileSystem({"t": sftp_spec(sshd_server)})
    base = fresh_base()
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
    # the dead writer's lock names a process of this host that has ended: taken over at once
    # (tests/hostile/test_stale_writers.py has the rules and the reclaimed temporary file)
    vfs.write_bytes(f"{base}/keep.bin", b"after")
    assert vfs.read_bytes(f"{base}/keep.bin") == b"after"


def test_disk_full_on_the_local_side(sshd_server: SshdServer, tmp_path: Path) -> None:
    vfs = VirtualFileSystem({"t": sftp_spec(sshd_server)})
    base = fresh_base()
    vfs.write_bytes(f"{base}/big.bin", os.urandom(3 * MiB))
    check_disk_full_in_subprocess(sftp_spec(sshd_server), f"{base}/big.bin", tmp_path)


def test_cross_process_lock(sshd_server: SshdServer) -> None:
    check_cross_process_lock(sftp_spec(sshd_server))


def test_stale_lock_is_taken_over(sshd_server: SshdServer) -> None:
    check_stale_lock(sftp_spec(sshd_server), sshd_server.root)


def test_lock_heartbeat(sshd_server: SshdServer) -> None:
    check_lock_heartbeat(sftp_spec(sshd_server))
