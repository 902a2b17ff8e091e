"""Local directories: ``LocalFile`` and ``TempFile``.

Reads return real file objects (``open()`` itself), so a local root costs nothing over plain
Python I/O. Writes go to a hidden sibling and ``os.replace`` it; ``flock`` on a lock file keeps
a second writer out, in this process and in others. The kernel drops a dead writer's
``flock``, so a writer that crashed never blocks the next one; the next writer of the same
path removes the crashed writer's temporary files (:class:`LocalLock`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import weakref
from typing import IO, Any

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from .._errors import PathEscapeError, not_a_directory
from .._locking import FlockLock
from .._paths import INTERNAL_PREFIX
from .._root import Entry
from ._fsspec import DirectoryRoot
from ._lockfile import LockFile, parse_internal

__all__ = ["LocalFile", "LocalLock", "TempFile"]


def confine_local(base: str, rel: str, logical: str) -> None:
    """Refuse ``rel`` if, with symlinks resolved, it lies outside the directory ``base``."""
    real = os.path.realpath(f"{base.rstrip('/')}/{rel}")
    top = os.path.realpath(base)
    if real != top and not real.startswith(top.rstrip("/") + "/"):
        root = logical.split("/")[1]
        raise PathEscapeError(
            f"{logical} leads outside root /{root} through a symlink; "
            "nothing outside a root is reachable"
        )


class LocalLock(FlockLock):
    """The ``flock`` of a local writer, which also removes a crashed writer's temporary files.

    A lock file is unlinked when its writer releases it, so finding one that we can lock
    means its writer died holding it (the kernel dropped its ``flock``); as every writer holds
    the lock for its whole life, no temporary sibling of the target can then belong to a live
    writer, and they are removed (:attr:`reclaimed`). An empty lock file is a ``flock`` lock;
    one with content is another client's lock file (SFTP, SMB on the same directory), whose
    temporary files are left alone.
    """

    def __init__(self, path: str, logical: str) -> None:
        super().__init__(path, logical)
        self.reclaimed: list[str] = []

    def acquire(self, *, blocking: bool = False) -> LocalLock:
        try:
            left = os.lstat(self.path).st_size == 0
        except FileNotFoundError:
            left = False
        super().acquire(blocking=blocking)
        if left:
            self.reclaimed = self.reclaim_temps()
        return self

    def reclaim_temps(self) -> list[str]:
        """Remove the target's temporary files (only while holding the lock)."""
        directory, _, name = self.path.rpartition("/")
        parsed = parse_internal(name)
        if parsed is None or parsed[0] != "lock":
            return []
        removed = []
        with os.scandir(directory or ".") as it:
            for dirent in it:
                if parse_internal(dirent.name) == ("tmp", parsed[1]):
                    try:
                        os.unlink(dirent.path)
                        removed.append(dirent.path)
                    except OSError:  # gone already: best effort, as is the whole reclaim
                        pass
        return removed

    def probe(self) -> dict[str, object] | None:
        """``{}`` while a writer holds the lock, else ``None`` (changes nothing on disk)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return {}
        finally:
            os.close(fd)  # closing drops our flock
        return None


class LocalFile(DirectoryRoot):
    """A directory on this machine.

    root
        The directory (``~`` and ``$VARS`` are expanded). Created on the first write.
    mkdir
        Create missing parent directories on write (pyobs' default: true).
    """

    def __init__(self, *, root: str, **common: Any) -> None:
        super().__init__(**common)
        self._dir = os.path.abspath(os.path.expanduser(os.path.expandvars(str(root))))

    def _make_fs(self) -> AbstractFileSystem:
        return LocalFileSystem()

    @property
    def base(self) -> str:
        return self._dir

    @property
    def local_dir(self) -> str:
        return self._dir

    def url(self, rel: str = "") -> str:
        return "file://" + self.fs_path(rel)

    def lock_key(self, rel: str) -> tuple[Any, ...]:
        return ("local", os.path.realpath(self.fs_path(rel)))

    def cross_process_lock(self, rel: str) -> FlockLock:
        return LocalLock(self._lock_path(rel), self.logical(rel))

    def _lock_at(self, path: str, logical: str) -> LocalLock | LockFile:
        """``flock`` on an empty lock file; a lock file with content was made by a client
        through SFTP or SMB, and is judged by its rules (:mod:`._lockfile`)."""
        try:
            foreign = os.lstat(path).st_size > 0
        except FileNotFoundError:
            foreign = False
        if foreign:
            return LockFile(self.fs, path, logical)
        return LocalLock(path, logical)

    def confine(self, rel: str) -> None:
        if rel:
            confine_local(self.base, rel, self.logical(rel))

    def _escapes(self, rel: str) -> bool:
        try:
            self.confine(rel)
        except PathEscapeError:
            return True
        return False

    def ls(self, rel: str) -> list[Entry]:
        if rel == "" and not os.path.isdir(self.base):
            return []  # the root's directory is made on the first write
        out = []
        with os.scandir(self.fs_path(rel)) as it:
            for dirent in it:
                if dirent.name.startswith(INTERNAL_PREFIX):
                    continue
                sub = f"{rel}/{dirent.name}" if rel else dirent.name
                if dirent.is_symlink() and self._escapes(sub):
                    continue  # a link out of the root is not listed either
                out.append(self._dirent_entry(sub, dirent))
        return out

    def _dirent_entry(self, rel: str, dirent: os.DirEntry[str]) -> Entry:
        try:
            st = dirent.stat()
        except FileNotFoundError:  # dangling link
            st = dirent.stat(follow_symlinks=False)
        is_dir = dirent.is_dir()
        return {
            "name": self.logical(rel),
            "size": 0 if is_dir else st.st_size,
            "type": "directory" if is_dir else "file",
            "mtime": st.st_mtime,
        }

    def info(self, rel: str) -> Entry:
        st = os.stat(self.fs_path(rel))
        is_dir = os.path.isdir(self.fs_path(rel))
        return {
            "name": self.logical(rel),
            "size": 0 if is_dir else st.st_size,
            "type": "directory" if is_dir else "file",
            "mtime": st.st_mtime,
        }

    def exists(self, rel: str) -> bool:
        return rel == "" or os.path.exists(self.fs_path(rel))

    def isdir(self, rel: str) -> bool:
        return rel == "" or os.path.isdir(self.fs_path(rel))

    def isfile(self, rel: str) -> bool:
        return rel != "" and os.path.isfile(self.fs_path(rel))

    def makedirs(self, rel: str, exist_ok: bool = True) -> None:
        os.makedirs(self.fs_path(rel), exist_ok=exist_ok)

    def remove(self, rel: str) -> None:
        os.remove(self.fs_path(rel))

    def rmdir(self, rel: str, recursive: bool = False) -> None:
        path = self.fs_path(rel)
        if recursive:
            if os.path.islink(path):
                raise not_a_directory("is a symbolic link, not a directory")
            shutil.rmtree(path)
        else:
            os.rmdir(path)

    def open_read(self, rel: str, cache: str | None = None) -> IO[bytes]:
        return open(self.fs_path(rel), "rb")  # noqa: SIM115  # the caller closes it

    def size(self, rel: str) -> int:
        return os.stat(self.fs_path(rel)).st_size

    # writing: FsspecRoot's temporary sibling, as a real file replaced with os calls ------
    def _open_temp(self, tmp: str, appending: bool) -> IO[bytes]:
        # readable: h5py seeks and reads back
        return open(tmp, "a+b" if appending else "x+b")  # noqa: SIM115  # the writer closes it

    def _commit_temp(self, tmp: str, final: str, exclusive: bool) -> None:
        if exclusive:
            os.link(tmp, final)  # fails if another process created it meanwhile
            os.unlink(tmp)
        else:
            os.replace(tmp, final)

    def _replace(self, src_path: str, dst_path: str) -> None:
        os.replace(src_path, dst_path)


class TempFile(LocalFile):
    """A fresh temporary directory, removed when the VFS is garbage-collected or at exit.

    root
        The parent directory of the temporary directory (default: the system's).
    prefix
        The temporary directory's name prefix.
    """

    def __init__(
        self, *, root: str | None = None, prefix: str = "filestore-vfs-", **common: Any
    ) -> None:
        super().__init__(root=root or tempfile.gettempdir(), **common)
        self._parent = self._dir
        self._prefix = prefix
        self._created = False

    @property
    def base(self) -> str:
        self._create()
        return self._dir

    @property
    def local_dir(self) -> str:
        return self.base

    def _create(self) -> None:
        if not self._created:
            os.makedirs(self._parent, exist_ok=True)
            self._dir = tempfile.mkdtemp(prefix=self._prefix, dir=self._parent)
            self._created = True
            self._finalizer = weakref.finalize(self, shutil.rmtree, self._dir, True)

    def fs_path(self, rel: str) -> str:
        self._create()
        return super().fs_path(rel)

    def close(self) -> None:
        """Remove the directory and everything in it now."""
        if self._created:
            self._finalizer()
