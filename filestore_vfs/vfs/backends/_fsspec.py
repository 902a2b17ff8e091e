"""``FsspecRoot``: a root on one fsspec filesystem and a base path in it.

fsspec already implements local, memory, http, sftp, smb, s3, azure and archive
filesystems; a backend built on this class only turns its options into a filesystem
(:meth:`FsspecRoot._make_fs`) and a base path (:attr:`FsspecRoot.base`), and overrides what
its transport does better (local files open directly, object stores upload atomically,
servers without locks get lock files).
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Callable
from typing import IO, Any

from fsspec import AbstractFileSystem

from .._atomic import AtomicWriteFile
from .._errors import VFSError, already_exists, is_a_directory, not_empty, not_found
from .._paths import INTERNAL_PREFIX
from .._root import Entry, Root
from ._lockfile import lock_path_for

__all__ = ["DirectoryRoot", "FsspecRoot"]


class FsspecRoot(Root):
    """A root whose operations run on :attr:`fs` under :attr:`base`."""

    _fs: AbstractFileSystem | None = None
    #: Create missing parent directories on write (:class:`DirectoryRoot` makes it an option).
    mkdir: bool = True

    @property
    def fs(self) -> AbstractFileSystem:
        """The fsspec filesystem, created on first use (so config loading stays cheap)."""
        if self._fs is None:
            self._fs = self._make_fs()
        return self._fs

    def _make_fs(self) -> AbstractFileSystem:
        """The filesystem of this root's options (called once, on first use)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _make_fs")

    @property
    def base(self) -> str:
        """The root's directory as a path of :attr:`fs`."""
        raise NotImplementedError(f"{type(self).__name__} must implement base")

    def fs_path(self, rel: str) -> str:
        base = self.base
        return f"{base.rstrip('/')}/{rel}" if rel else base

    def rel_of(self, fs_name: str) -> str:
        """The relative path of a name that :attr:`fs` returned for something under us."""
        name = self.fs._strip_protocol(fs_name).rstrip("/")
        base = self.base.rstrip("/")
        if name == base:
            return ""
        if not name.startswith(base + "/"):
            raise VFSError(f"backend returned {fs_name!r}, which is not under /{self.name}")
        return name[len(base) + 1 :]

    def url(self, rel: str = "") -> str:
        """A URL of the backend object, for people: never with credentials."""
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return f"{protocol}://{self.fs_path(rel).lstrip('/')}"

    def lock_key(self, rel: str) -> tuple[Any, ...]:
        """Identifies the object written, for the in-process writer registry."""
        return (type(self.fs).__name__, id(self.fs), self.fs_path(rel))

    # -- operations -------------------------------------------------------------------------
    def ls(self, rel: str) -> list[Entry]:
        entries = self.fs.ls(self.fs_path(rel), detail=True)
        out = []
        for entry in entries:
            sub = self.rel_of(entry["name"])
            if sub == rel or sub.rsplit("/", 1)[-1].startswith(INTERNAL_PREFIX):
                continue
            out.append(self._entry(sub, entry))
        return out

    def info(self, rel: str) -> Entry:
        return self._entry(rel, self.fs.info(self.fs_path(rel)))

    def _entry(self, rel: str, raw: dict[str, Any]) -> Entry:
        kind = "directory" if raw.get("type") == "directory" else "file"
        mtime = raw.get("mtime") or raw.get("LastModified") or raw.get("last_modified")
        if hasattr(mtime, "timestamp"):
            mtime = mtime.timestamp()
        return {
            "name": self.logical(rel),
            "size": int(raw.get("size") or 0) if kind == "file" else 0,
            "type": kind,
            "mtime": mtime,
        }

    def exists(self, rel: str) -> bool:
        return rel == "" or bool(self.fs.exists(self.fs_path(rel)))

    def isdir(self, rel: str) -> bool:
        return rel == "" or bool(self.fs.isdir(self.fs_path(rel)))

    def isfile(self, rel: str) -> bool:
        return rel != "" and bool(self.fs.isfile(self.fs_path(rel)))

    def makedirs(self, rel: str, exist_ok: bool = True) -> None:
        if self.isfile(rel):
            raise already_exists("a file exists where a directory was asked for")
        self.fs.makedirs(self.fs_path(rel), exist_ok=exist_ok)

    def remove(self, rel: str) -> None:
        if self.isdir(rel):
            raise is_a_directory("is a directory; use rmdir")
        self.fs.rm_file(self.fs_path(rel))

    def rmdir(self, rel: str, recursive: bool = False) -> None:
        if not self.isdir(rel):
            kind = NotADirectoryError if self.exists(rel) else FileNotFoundError
            raise kind(20 if kind is NotADirectoryError else 2, "not a directory")
        if recursive:
            self.fs.rm(self.fs_path(rel), recursive=True)
        elif self.ls(rel):
            raise not_empty("directory not empty; pass recursive=True to remove its content")
        else:
            self.fs.rmdir(self.fs_path(rel))

    def rename(self, src: str, dst: str) -> None:
        """Move within this root; roots whose backend can rename atomically override this."""
        self.fs.mv(self.fs_path(src), self.fs_path(dst), recursive=self.isdir(src))

    def open_read(self, rel: str, cache: str | None = None) -> IO[bytes]:
        """A streaming reader; ``cache`` selects a network root's cache mode (else ignored)."""
        if self.isdir(rel):
            raise is_a_directory("is a directory")
        return self.fs.open(self.fs_path(rel), "rb")

    def size(self, rel: str) -> int | None:
        return self.info(rel).get("size")

    def open_write(self, rel: str, mode: str, release: Callable[[], None]) -> AtomicWriteFile:
        """A writer to a temporary sibling that replaces ``rel`` when closed.

        A root changes how the sibling is opened (:meth:`_open_temp`) and how it replaces
        the target (:meth:`_commit_temp`, :meth:`_replace`); the rest is the same for all.
        """
        final = self.fs_path(rel)
        if self.fs.isdir(final):
            raise is_a_directory("is a directory")
        if mode == "xb" and self.fs.lexists(final):
            raise already_exists("already exists")
        tmp = self._temp_sibling(final)
        self._ensure_parent(final)
        appending = mode == "ab" and self.fs.exists(final)
        if appending:
            self.fs.cp_file(final, tmp)
        raw = self._open_temp(tmp, appending)
        exclusive = mode == "xb"

        def commit() -> None:
            self._commit_temp(tmp, final, exclusive)

        def discard() -> None:
            if self.fs.lexists(tmp):
                self.fs.rm_file(tmp)

        return AtomicWriteFile(
            raw, name=self.logical(rel), commit=commit, discard=discard, release=release
        )

    def _open_temp(self, tmp: str, appending: bool) -> IO[bytes]:
        """Open the temporary sibling (already a copy of the target when ``appending``)."""
        return self.fs.open(tmp, "ab" if appending else "wb")

    def _commit_temp(self, tmp: str, final: str, exclusive: bool) -> None:
        """Put the written sibling in place of ``final`` (``exclusive``: only if still absent)."""
        if exclusive and self.fs.exists(final):
            raise already_exists("already exists")
        self._replace(tmp, final)

    def _replace(self, src_path: str, dst_path: str) -> None:
        """Rename ``src_path`` over ``dst_path`` in one step: the filesystem's ``mv``, which
        replaces the target on the roots that write this way (sshfs's ``posix-rename``, the
        SMB root's ``ReplaceIfExists``)."""
        self.fs.mv(src_path, dst_path)

    @staticmethod
    def _temp_sibling(final: str) -> str:
        head, _, tail = final.rpartition("/")
        return f"{head}/{INTERNAL_PREFIX}tmp-{uuid.uuid4().hex[:12]}-{tail}"

    def _ensure_parent(self, path: str) -> None:
        """Create the parent directory of the backend path ``path`` if it is missing."""
        parent = posixpath.dirname(path)
        if self._parent_missing(parent):
            if not self.mkdir:
                raise not_found("the parent directory does not exist (mkdir: false)")
            self.fs.makedirs(parent, exist_ok=True)

    def _parent_missing(self, parent: str) -> bool:
        """Whether ``parent`` must be made (a backend whose top cannot be made says no)."""
        return bool(parent) and not self.fs.isdir(parent)


class DirectoryRoot(FsspecRoot):
    """A directory tree on a filesystem that renames in one step (local, SFTP, SMB).

    Missing parent directories are made on write unless ``mkdir`` is false; the root's own
    directory is made on the first write; a rename replaces a file at the destination in one
    step (:meth:`_replace`); a writer's cross-process lock lives in a hidden sibling file
    (:meth:`_lock_path`).

    mkdir
        Create missing parent directories on write (pyobs' default: true).
    """

    def __init__(self, *, mkdir: bool = True, **common: Any) -> None:
        super().__init__(**common)
        self.mkdir = bool(mkdir)

    def _lock_path(self, rel: str) -> str:
        """The lock file of ``rel``, in its parent directory (made here if ``mkdir`` allows)."""
        final = self.fs_path(rel)
        self._ensure_parent(final)
        return lock_path_for(final)

    def ls(self, rel: str) -> list[Entry]:
        if rel == "" and not self.fs.exists(self.base):
            return []  # the root's directory is made on the first write
        return super().ls(rel)

    def rename(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst`` in one step; a file at ``dst`` is replaced."""
        dst_path = self.fs_path(dst)
        self._ensure_parent(dst_path)
        if self.isdir(dst) and not self.isdir(src):
            raise is_a_directory("the destination is a directory")
        self._replace(self.fs_path(src), dst_path)
