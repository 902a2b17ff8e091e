"""``FsspecRoot``: a root on one fsspec filesystem and a base path in it.

fsspec already implements local, memory, http, sftp, smb, s3, azure and archive
filesystems; a backend built on this class only turns its options into a filesystem
(:meth:`FsspecRoot._make_fs`) and a base path (:attr:`FsspecRoot.base`), and overrides what
its transport does better (local files open directly, object stores upload atomically,
servers without locks get lock files).
"""

from __future__ import annotations

import errno
import posixpath
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from fsspec import AbstractFileSystem

from .._atomic import AtomicWriteFile
from .._errors import (
    FileBusyError,
    PathEscapeError,
    VFSError,
    already_exists,
    is_a_directory,
    not_a_directory,
    not_empty,
    not_found,
)
from .._paths import INTERNAL_PREFIX
from .._root import Entry, Root
from ._lockfile import DEFAULT_LOCK_TIMEOUT, LockFile, lock_path_for, parse_internal, temp_name

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
        """A fresh hidden name next to ``final`` (within 255 bytes for any legal name)."""
        head, _, tail = final.rpartition("/")
        return f"{head}/{temp_name(tail)}"

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

    def _lock_at(self, path: str, logical: str) -> Any:
        """The cross-process lock whose lock file is ``path`` (a lock file on the server;
        local roots use ``flock``)."""
        timeout = getattr(self, "lock_timeout", DEFAULT_LOCK_TIMEOUT)
        return LockFile(self.fs, path, logical, timeout=timeout)

    # -- cleaning up after writers that are gone ------------------------------------------
    def clean(
        self, rel: str, *, older_than: float | None = None, dry_run: bool = False
    ) -> list[str]:
        """Remove the temporary and lock files that writers which are gone left under ``rel``.

        A target's temporary files and its lock file are removed when its lock is free or
        stale (:mod:`._lockfile`): they are taken as a writer would take them, so a live
        writer's files are never touched, whatever their age. Internal files of another form
        (not made by this version) are removed once unmodified for ``older_than`` seconds.
        Returns the logical spellings of what was removed (``dry_run``: would be).
        """
        if rel and not self.isdir(rel):
            raise (
                not_a_directory("not a directory")
                if self.exists(rel)
                else not_found("no such directory")
            )
        if not self.fs.exists(self.fs_path(rel)):
            return []  # the root's directory is made on the first write
        removed: list[str] = []
        now = time.time()
        for directory, entries in self._walk_raw(rel):
            groups: dict[str, dict[str, list[str]]] = {}
            for raw in entries:
                name = str(raw["name"]).rstrip("/").rsplit("/", 1)[-1]
                parsed = parse_internal(name)
                if parsed is None:
                    continue
                kind, tail = parsed
                sub = f"{directory}/{name}" if directory else name
                if raw.get("type") == "directory":
                    if kind == "other" and older_than is not None:
                        removed += self._clean_private_dir(sub, raw, now, older_than, dry_run)
                    continue
                if kind != "other":
                    groups.setdefault(tail, {}).setdefault(kind, []).append(sub)
                elif older_than is not None and self._idle(sub, raw, now) > older_than:
                    if not dry_run:
                        self._remove_internal(sub)
                    removed.append(sub)
            for tail, group in groups.items():
                removed += self._clean_target(directory, tail, group, dry_run)
        return [self.logical(sub) for sub in sorted(removed)]

    def _walk_raw(self, rel: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Every directory under ``rel`` (never through a link) with its raw entries."""
        stack = [rel]
        while stack:
            directory = stack.pop()
            top = self.fs_path(directory).rstrip("/")
            entries = [
                e
                for e in self.fs.ls(self.fs_path(directory), detail=True)
                if str(e["name"]).rstrip("/") != top
            ]
            yield directory, entries
            for raw in entries:
                name = str(raw["name"]).rstrip("/").rsplit("/", 1)[-1]
                if raw.get("type") != "directory" or raw.get("islink"):
                    continue
                if name.startswith(INTERNAL_PREFIX):
                    continue
                sub = f"{directory}/{name}" if directory else name
                try:
                    self.confine(sub)
                except PathEscapeError:
                    continue
                stack.append(sub)

    def _clean_private_dir(
        self, sub: str, raw: dict[str, Any], now: float, older_than: float, dry_run: bool
    ) -> list[str]:
        """A hidden directory of another form, such as the private one a ``get_file`` killed
        mid-download leaves: removed once it and every file in it are idle ``older_than``,
        and only if it holds plain files alone (nothing is followed or walked into)."""
        if raw.get("islink"):
            return []
        entries = [
            e
            for e in self.fs.ls(self.fs_path(sub), detail=True)
            if str(e["name"]).rstrip("/") != self.fs_path(sub).rstrip("/")
        ]
        if any(e.get("type") != "file" or e.get("islink") for e in entries):
            return []
        files = [f"{sub}/{str(e['name']).rstrip('/').rsplit('/', 1)[-1]}" for e in entries]
        idle = min(
            [self._idle(sub, raw, now)]
            + [self._idle(f, e, now) for f, e in zip(files, entries, strict=True)]
        )
        if idle <= older_than:
            return []
        if not dry_run:
            for f in files:
                self._remove_internal(f)
            self.rmdir(sub)  # the root's own: sshfs has no sync rmdir
        return [sub]

    def _idle(self, sub: str, raw: dict[str, Any], now: float) -> float:
        """Seconds since the internal file ``sub`` was last modified."""
        mtime = self._entry(sub, raw).get("mtime")
        return now - float(mtime) if isinstance(mtime, (int, float)) else float("inf")

    def _remove_internal(self, sub: str) -> None:
        try:
            self.fs.rm_file(self.fs_path(sub))
        except OSError as exc:  # gone already (SMB's is an OSError with ENOENT)
            if not isinstance(exc, FileNotFoundError) and exc.errno != errno.ENOENT:
                raise

    def _clean_target(
        self, directory: str, tail: str, group: dict[str, list[str]], dry_run: bool
    ) -> list[str]:
        """The internal files of one target (``tail``: its name as they carry it)."""
        head = self.fs_path(directory).rstrip("/")
        lock_rel = f"{directory}/{INTERNAL_PREFIX}lock-{tail}".lstrip("/")
        lock = self._lock_at(f"{head}/{INTERNAL_PREFIX}lock-{tail}", self.logical(lock_rel))
        temps, removed = group.get("tmp", []), []
        if temps or group.get("lock"):
            if dry_run:
                if lock.probe() is None:
                    removed += temps + group.get("lock", [])
            else:
                try:
                    lock.acquire()  # a live writer holds it: its files stay
                except FileBusyError:
                    pass
                else:
                    try:
                        for sub in temps:
                            self._remove_internal(sub)
                    finally:
                        lock.release()  # and the lock file goes with it
                    removed += temps + group.get("lock", [])
        timeout = getattr(self, "lock_timeout", DEFAULT_LOCK_TIMEOUT)
        for sub in group.get("old", []):  # a lock moved aside by a takeover that died
            aside = LockFile(self.fs, self.fs_path(sub), self.logical(sub), timeout=timeout)
            holder = aside._read(aside.path)
            if holder is not None and aside.stale(holder) is not None:
                if not dry_run:
                    self._remove_internal(sub)
                removed.append(sub)
        return removed

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
