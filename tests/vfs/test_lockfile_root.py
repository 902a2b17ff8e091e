"""The lock, parent-directory, rename and write code that SFTP, SMB and local roots share.

``LockFileRoot`` (SFTP, SMB) and ``DirectoryRoot`` (those and ``LocalFile``) hold it once;
here it runs on an in-memory filesystem, so the rules are checked without a server.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.memory import MemoryFileSystem

from filestore_vfs import FileBusyError, VirtualFileSystem
from filestore_vfs.vfs._paths import INTERNAL_PREFIX
from filestore_vfs.vfs.backends._fsspec import DirectoryRoot
from filestore_vfs.vfs.backends._lockfile import LockFile, lock_path_for
from filestore_vfs.vfs.backends._lockfile_root import LockFileRoot
from filestore_vfs.vfs.backends.local import LocalFile, TempFile

BASE = "/srv/data"


class MemoryLockRoot(LockFileRoot):
    """A lock-file root on a shared in-memory filesystem (as if every process saw it)."""

    hostname = "memory"
    port = 0

    def __init__(self, *, fs: MemoryFileSystem, **common: Any) -> None:
        super().__init__(**common)
        self._shared = fs

    def _make_fs(self) -> MemoryFileSystem:
        return self._shared

    @property
    def base(self) -> str:
        return BASE

    def url(self, rel: str = "") -> str:
        return f"memory://{self.fs_path(rel)}"


@pytest.fixture
def fs() -> MemoryFileSystem:
    return MemoryFileSystem(global_store=False, skip_instance_cache=True)


def vfs_on(fs: MemoryFileSystem, **options: Any) -> VirtualFileSystem:
    return VirtualFileSystem({"t": MemoryLockRoot(fs=fs, **options)}, defaults=False)


def hidden(fs: MemoryFileSystem, directory: str) -> list[str]:
    names = [p.rsplit("/", 1)[-1] for p in fs.ls(directory, detail=False)]
    return sorted(n for n in names if n.startswith(INTERNAL_PREFIX))


def test_sftp_smb_and_local_roots_share_the_bases() -> None:
    sftp = pytest.importorskip("filestore_vfs.vfs.backends.sftp")
    smb = pytest.importorskip("filestore_vfs.vfs.backends.smb")
    servers = [
        (sftp.SFTPFile, {"hostname": "h", "root": "/x"}),
        (sftp.SSHFile, {"hostname": "h", "root": "/x"}),
        (smb.SMBFile, {"hostname": "h", "share": "s"}),
    ]
    for cls, options in servers:
        assert issubclass(cls, LockFileRoot)
        for shared in ("cross_process_lock", "open_write", "rename", "ls", "close"):
            assert shared not in cls.__dict__, f"{cls.__name__} repeats {shared}"
        root = cls(**options, mkdir=False, lock_timeout=5)
        assert (root.mkdir, root.lock_timeout) == (False, 5.0)
    for cls in (LocalFile, TempFile):
        assert issubclass(cls, DirectoryRoot) and not issubclass(cls, LockFileRoot)
        assert "rename" not in cls.__dict__ and "open_write" not in cls.__dict__


def test_mkdir_and_lock_timeout_are_config_options() -> None:
    pytest.importorskip("filestore_vfs.vfs.backends.sftp")
    spec = {"class": "SFTPFile", "hostname": "h", "root": "/x", "mkdir": False}
    VirtualFileSystem.from_config({"roots": {"t": {**spec, "lock_timeout": 5}}})
    VirtualFileSystem.from_config({"roots": {"d": {"class": "LocalFile", "root": "/x"}}})


def test_write_goes_through_a_hidden_sibling_and_a_lock(fs: MemoryFileSystem) -> None:
    vfs = vfs_on(fs)
    assert vfs.ls("/t") == []  # the root's directory is made on the first write
    with vfs.open("/t/a/b/x.bin", "wb") as w:
        w.write(b"new")
        assert not vfs.exists("/t/a/b/x.bin")
        names = hidden(fs, f"{BASE}/a/b")
        assert f"{INTERNAL_PREFIX}lock-x.bin" in names
        assert any(n.startswith(f"{INTERNAL_PREFIX}tmp-") for n in names)
    assert vfs.read_bytes("/t/a/b/x.bin") == b"new"
    assert hidden(fs, f"{BASE}/a/b") == []
    assert vfs.ls("/t/a/b") == ["/t/a/b/x.bin"]


def test_append_and_replace(fs: MemoryFileSystem) -> None:
    vfs = vfs_on(fs)
    vfs.write_bytes("/t/x", b"one")
    with vfs.open("/t/x", "ab") as w:
        w.write(b"two")
    assert vfs.read_bytes("/t/x") == b"onetwo"
    vfs.write_bytes("/t/x", b"three")
    assert vfs.read_bytes("/t/x") == b"three"


def test_a_failed_write_keeps_the_old_content(fs: MemoryFileSystem) -> None:
    vfs = vfs_on(fs)
    vfs.write_bytes("/t/x", b"old")
    with pytest.raises(RuntimeError), vfs.open("/t/x", "wb") as w:
        w.write(b"half")
        raise RuntimeError("the writer failed")
    assert vfs.read_bytes("/t/x") == b"old"
    assert hidden(fs, BASE) == []


def test_exclusive_commit_refuses_a_file_made_meanwhile(fs: MemoryFileSystem) -> None:
    vfs = vfs_on(fs)
    w = vfs.open("/t/x", "xb")
    w.write(b"ours")
    fs.pipe_file(f"{BASE}/x", b"theirs")
    with pytest.raises(FileExistsError):
        w.close()
    assert vfs.read_bytes("/t/x") == b"theirs"
    assert hidden(fs, BASE) == []
    with pytest.raises(FileExistsError):
        vfs.open("/t/x", "xb")


def test_a_writer_elsewhere_makes_us_busy_until_it_is_done(fs: MemoryFileSystem) -> None:
    vfs = vfs_on(fs)
    other = LockFile(fs, lock_path_for(f"{BASE}/x"), "/t/x").acquire()  # another process
    try:
        with pytest.raises(FileBusyError, match="open for writing by"):
            vfs.write_bytes("/t/x", b"ours")
    finally:
        other.release()
    vfs.write_bytes("/t/x", b"ours")
    assert vfs.read_bytes("/t/x") == b"ours"


@pytest.mark.parametrize(("lock_timeout", "busy"), [(3600, False), (1e12, True)])
def test_a_stale_lock_is_taken_over_after_lock_timeout(
    fs: MemoryFileSystem, lock_timeout: float, busy: bool
) -> None:
    vfs = vfs_on(fs, lock_timeout=lock_timeout)
    fs.mkdir(BASE)
    dead = {"user": "u", "host": "h", "pid": 1, "token": "dead", "time": 1.0}
    fs.pipe_file(lock_path_for(f"{BASE}/x"), json.dumps(dead).encode())
    if busy:
        with pytest.raises(FileBusyError, match="u@h"):
            vfs.write_bytes("/t/x", b"ours")
    else:
        vfs.write_bytes("/t/x", b"ours")
        assert vfs.read_bytes("/t/x") == b"ours"
        assert hidden(fs, BASE) == []


def test_mkdir_false_needs_the_parent(fs: MemoryFileSystem) -> None:
    vfs = vfs_on(fs, mkdir=False)
    with pytest.raises(FileNotFoundError, match="mkdir: false"):
        vfs.write_bytes("/t/a/x", b"1")
    fs.makedirs(f"{BASE}/a")
    vfs.write_bytes("/t/a/x", b"1")
    assert vfs.read_bytes("/t/a/x") == b"1"


def test_rename_replaces_a_file_and_refuses_a_directory(fs: MemoryFileSystem) -> None:
    vfs = vfs_on(fs)
    vfs.write_bytes("/t/src", b"src")
    vfs.write_bytes("/t/dst", b"dst")
    vfs.move("/t/src", "/t/new/dir/dst")  # parents are made
    vfs.move("/t/new/dir/dst", "/t/dst")  # the old file is replaced
    assert vfs.read_bytes("/t/dst") == b"src"
    assert not vfs.exists("/t/src")
    vfs.makedirs("/t/d")
    with pytest.raises(IsADirectoryError):
        vfs.move("/t/dst", "/t/d")


def test_a_lost_connection_is_transient_and_forgotten(fs: MemoryFileSystem) -> None:
    root = MemoryLockRoot(fs=fs)
    assert root.fs is fs
    assert root.is_transient(ConnectionResetError(104, "reset"))
    assert root._fs is None  # the next use connects again
    assert not root.is_transient(FileNotFoundError(2, "gone"))


def test_local_exclusive_write_sees_a_dangling_link(tmp_path: Path) -> None:
    vfs = VirtualFileSystem({"d": {"class": "LocalFile", "root": str(tmp_path)}})
    os.symlink(tmp_path / "nowhere", tmp_path / "x")
    with pytest.raises(FileExistsError):
        vfs.open("/d/x", "xb")
    with vfs.open("/d/y", "xb") as w:
        w.write(b"1")
        w.seek(0)
        assert w.read() == b"1"  # a real file opened read-write: h5py can read back
    assert vfs.read_bytes("/d/y") == b"1"
