"""``ArchiveFile``: a zip or tar archive as a root.

Reading goes through fsspec's zip and tar filesystems. Tar archives are read-only. A zip
archive is also writable: every change rewrites the archive into a hidden sibling and
replaces it in one step, under a lock shared by all processes, so a reader never sees a
half-written archive and two writers never lose each other's members. That costs a copy of
the archive per change: archive roots suit bundles, not a detector's stream of frames.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable
from typing import IO, Any, Literal

from fsspec import AbstractFileSystem
from fsspec.implementations.memory import MemoryFileSystem
from fsspec.implementations.tar import TarFileSystem
from fsspec.implementations.zip import ZipFileSystem

from .._atomic import AtomicWriteFile
from .._errors import (
    ConfigError,
    ReadOnlyRootError,
    already_exists,
    is_a_directory,
    not_empty,
    not_found,
)
from .._locking import FlockLock
from .._paths import INTERNAL_PREFIX
from .._root import Entry
from ._fsspec import FsspecRoot
from ._lockfile import lock_path_for

__all__ = ["ArchiveFile"]

_COPY_CHUNK = 1 << 20
_rewrite_lock = threading.Lock()


class ArchiveFile(FsspecRoot):
    """A ``.zip`` or ``.tar[.gz|.bz2|.xz]`` file on this machine, seen as a directory tree.

    archive
        The archive's path (``~`` and ``$VARS`` expanded). A missing zip is created on the
        first write.
    format
        ``zip`` or ``tar``; guessed from the suffix when not given.
    compression
        For members written into a zip: ``stored`` (default: detector data rarely shrinks)
        or ``deflated``.
    """

    def __init__(
        self,
        *,
        archive: str,
        format: Literal["zip", "tar"] | None = None,  # noqa: A002  # the YAML option's name
        compression: Literal["stored", "deflated"] = "stored",
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.archive = os.path.abspath(os.path.expanduser(os.path.expandvars(str(archive))))
        self.format = format or _guess_format(self.archive)
        if self.format not in ("zip", "tar"):
            raise ConfigError(f"ArchiveFile format must be 'zip' or 'tar', not {format!r}")
        if compression not in ("stored", "deflated"):
            raise ConfigError(f"compression must be 'stored' or 'deflated', not {compression!r}")
        self._compress = zipfile.ZIP_STORED if compression == "stored" else zipfile.ZIP_DEFLATED
        if self.format == "tar":
            self.read_only = True

    def _make_fs(self) -> AbstractFileSystem:
        if not os.path.exists(self.archive):
            if self.format == "tar":
                raise not_found(f"no archive at {self.archive}")
            return MemoryFileSystem(global_store=False, skip_instance_cache=True)  # empty
        cls = ZipFileSystem if self.format == "zip" else TarFileSystem
        return cls(fo=self.archive, skip_instance_cache=True)

    @property
    def base(self) -> str:
        return ""

    def fs_path(self, rel: str) -> str:
        return rel

    def rel_of(self, fs_name: str) -> str:
        return fs_name.strip("/")

    def url(self, rel: str = "") -> str:
        return f"{self.format}://{rel}::file://{self.archive}"

    def lock_key(self, rel: str) -> tuple[Any, ...]:
        return ("archive", self.archive, rel)

    def _refresh(self) -> None:
        self._fs = None

    # reading ------------------------------------------------------------------------------
    def ls(self, rel: str) -> list[Entry]:
        if not os.path.exists(self.archive) and rel == "":
            return []
        return super().ls(rel)

    def info(self, rel: str) -> Entry:
        if rel == "":
            return {"name": self.logical(""), "size": 0, "type": "directory", "mtime": None}
        return super().info(rel)

    def open_read(self, rel: str, cache: str | None = None) -> IO[bytes]:
        if self.isdir(rel):
            raise is_a_directory("is a directory")
        return self.fs.open(rel, "rb")

    # writing: rewrite the archive ---------------------------------------------------------
    def _check_writable(self) -> None:
        if self.format == "tar":
            raise ReadOnlyRootError(
                f"root /{self.name} is a tar archive, which is read-only; use a zip to write"
            )

    def _rewrite(self, drop: Callable[[str], bool], add: list[tuple[str, str | None]]) -> None:
        """Copy every member not dropped, then add ``(name, source file or None=dir)``."""
        self._check_writable()
        folder = os.path.dirname(self.archive)
        os.makedirs(folder, exist_ok=True)
        lock = FlockLock(lock_path_for(self.archive), self.logical(""))
        with _rewrite_lock:
            lock.acquire(blocking=True)
            try:
                fd, new = tempfile.mkstemp(prefix=f"{INTERNAL_PREFIX}tmp-", dir=folder)
                os.close(fd)
                try:
                    self._copy_into(new, drop, add)
                    os.replace(new, self.archive)
                except BaseException:
                    os.unlink(new)
                    raise
            finally:
                lock.release()
                self._refresh()

    def _copy_into(
        self, new: str, drop: Callable[[str], bool], add: list[tuple[str, str | None]]
    ) -> None:
        with zipfile.ZipFile(new, "w", self._compress, allowZip64=True) as out:
            if os.path.exists(self.archive):
                with zipfile.ZipFile(self.archive) as old:
                    for item in old.infolist():
                        if drop(item.filename.rstrip("/")):
                            continue
                        with old.open(item) as src, out.open(item, "w", force_zip64=True) as dst:
                            shutil.copyfileobj(src, dst, _COPY_CHUNK)
            for name, source in add:
                if source is None:
                    out.writestr(zipfile.ZipInfo(name.rstrip("/") + "/"), b"")
                else:
                    out.write(source, arcname=name, compress_type=self._compress)

    def open_write(self, rel: str, mode: str, release: Any) -> AtomicWriteFile:
        self._check_writable()
        if self.isdir(rel):
            raise is_a_directory("is a directory")
        if mode == "xb" and self.exists(rel):
            raise already_exists("already exists")
        folder = os.path.dirname(self.archive)
        os.makedirs(folder, exist_ok=True)
        fd, spool = tempfile.mkstemp(prefix=f"{INTERNAL_PREFIX}tmp-", dir=folder)
        raw = os.fdopen(fd, "wb")
        if mode == "ab" and self.isfile(rel):
            with self.open_read(rel) as src:
                shutil.copyfileobj(src, raw, _COPY_CHUNK)

        def commit() -> None:
            self._rewrite(lambda name: name == rel, [(rel, spool)])
            os.unlink(spool)

        def discard() -> None:
            if os.path.exists(spool):
                os.unlink(spool)

        return AtomicWriteFile(
            raw, name=self.logical(rel), commit=commit, discard=discard, release=release
        )

    def makedirs(self, rel: str, exist_ok: bool = True) -> None:
        if self.isfile(rel):
            raise already_exists("a file exists where a directory was asked for")
        if self.isdir(rel):
            if not exist_ok:
                raise already_exists("already exists")
            return
        self._rewrite(lambda name: False, [(rel, None)])

    def remove(self, rel: str) -> None:
        if not self.isfile(rel):
            raise (
                is_a_directory("is a directory") if self.isdir(rel) else not_found("no such file")
            )
        self._rewrite(lambda name: name == rel, [])

    def rmdir(self, rel: str, recursive: bool = False) -> None:
        if not self.isdir(rel):
            raise not_found("no such directory")
        if not recursive and self.ls(rel):
            raise not_empty("directory not empty; pass recursive=True to remove its content")
        self._rewrite(lambda name: name == rel or name.startswith(rel + "/"), [])

    def rename(self, src: str, dst: str) -> None:
        raise NotImplementedError  # the VFS falls back to copy + remove


def _guess_format(path: str) -> str:
    lower = path.lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        return "tar"
    raise ConfigError(
        f"cannot tell the archive format of {os.path.basename(path)!r}; set format: zip or tar"
    )
