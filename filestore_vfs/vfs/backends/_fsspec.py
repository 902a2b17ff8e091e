"""``FsspecRoot``: a root on one fsspec filesystem and a base path in it.

fsspec already implements local, memory, http, sftp, smb, s3, azure and archive
filesystems; a backend built on this class only turns its options into a filesystem
(:meth:`FsspecRoot._make_fs`) and a base path (:attr:`FsspecRoot.base`), and overrides what
its transport does better (local files open directly, object stores upload atomically,
servers without locks get lock files).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import IO, Any

from fsspec import AbstractFileSystem

from .._atomic import AtomicWriteFile
from .._errors import VFSError
from .._paths import INTERNAL_PREFIX
from .._root import Entry, Root

__all__ = ["FsspecRoot"]


class FsspecRoot(Root):
    """A root whose operations run on :attr:`fs` under :attr:`base`."""

    _fs: AbstractFileSystem | None = None

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
            raise FileExistsError(17, "a file exists where a directory was asked for")
        self.fs.makedirs(self.fs_path(rel), exist_ok=exist_ok)

    def remove(self, rel: str) -> None:
        if self.isdir(rel):
            raise IsADirectoryError(21, "is a directory; use rmdir")
        self.fs.rm_file(self.fs_path(rel))

    def rmdir(self, rel: str, recursive: bool = False) -> None:
        if not self.isdir(rel):
            kind = NotADirectoryError if self.exists(rel) else FileNotFoundError
            raise kind(20 if kind is NotADirectoryError else 2, "not a directory")
        if recursive:
            self.fs.rm(self.fs_path(rel), recursive=True)
        elif self.ls(rel):
            raise OSError(39, "directory not empty; pass recursive=True to remove its content")
        else:
            self.fs.rmdir(self.fs_path(rel))

    def rename(self, src: str, dst: str) -> None:
        """Move within this root; roots whose backend can rename atomically override this."""
        self.fs.mv(self.fs_path(src), self.fs_path(dst), recursive=self.isdir(src))

    def open_read(self, rel: str, cache: str | None = None) -> IO[bytes]:
        """A streaming reader; ``cache`` selects a network root's cache mode (else ignored)."""
        if self.isdir(rel):
            raise IsADirectoryError(21, "is a directory")
        return self.fs.open(self.fs_path(rel), "rb")

    def size(self, rel: str) -> int | None:
        return self.info(rel).get("size")

    def open_write(self, rel: str, mode: str, release: Callable[[], None]) -> AtomicWriteFile:
        """A writer to a temporary sibling that replaces ``rel`` when closed."""
        final = self.fs_path(rel)
        if self.fs.isdir(final):
            raise IsADirectoryError(21, "is a directory")
        if mode == "xb" and self.fs.exists(final):
            raise FileExistsError(17, "already exists")
        tmp = self._temp_sibling(final)
        parent = final.rsplit("/", 1)[0]
        if parent and not self.fs.exists(parent):
            self.fs.makedirs(parent, exist_ok=True)
        if mode == "ab" and self.fs.exists(final):
            self.fs.cp_file(final, tmp)
            raw = self.fs.open(tmp, "ab")
        else:
            raw = self.fs.open(tmp, "wb")
        exclusive = mode == "xb"

        def commit() -> None:
            if exclusive and self.fs.exists(final):
                raise FileExistsError(17, "already exists")
            self.fs.mv(tmp, final)

        def discard() -> None:
            if self.fs.exists(tmp):
                self.fs.rm_file(tmp)

        return AtomicWriteFile(
            raw, name=self.logical(rel), commit=commit, discard=discard, release=release
        )

    @staticmethod
    def _temp_sibling(final: str) -> str:
        head, _, tail = final.rpartition("/")
        return f"{head}/{INTERNAL_PREFIX}tmp-{uuid.uuid4().hex[:12]}-{tail}"
