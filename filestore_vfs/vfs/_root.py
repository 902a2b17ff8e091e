"""The base of every root class: one fsspec filesystem, a base path, and the rules.

A root works on *relative* paths that :mod:`._paths` already checked. Subclasses turn their
options into an fsspec filesystem (:meth:`Root._make_fs`) and a base path, and override what
their backend does better (local files open directly, archives rewrite themselves, network
roots lock across processes). Everything else here works for any fsspec filesystem.
"""

from __future__ import annotations

import contextlib
import errno
import io
import re
import uuid
from collections.abc import Iterator
from typing import IO, Any, ClassVar, Protocol

from fsspec import AbstractFileSystem

from ._atomic import AtomicWriteFile
from ._errors import InvalidPathError, VFSError
from ._paths import INTERNAL_PREFIX, join_logical
from ._writer import Semantics, WriterView, guess_semantics

__all__ = ["CrossProcessLock", "Entry", "Root", "SECRET_OPTION", "redact"]

#: Options whose values are secrets: they never appear in messages, logs or documents.
SECRET_OPTION = re.compile(r"pass|secret|token|key|credential|sas|connection|auth", re.I)

Entry = dict[str, Any]

#: OSError subclasses kept as they are (with the logical path added) when re-raised.
_KEPT_OS_ERRORS: tuple[type[OSError], ...] = (
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    FileExistsError,
    PermissionError,
    TimeoutError,
    ConnectionError,
    BlockingIOError,
)
#: errno values for errors raised without one (fsspec often does): "[Errno None]" helps nobody.
_ERRNOS: dict[type[BaseException], int] = {
    FileNotFoundError: errno.ENOENT,
    IsADirectoryError: errno.EISDIR,
    NotADirectoryError: errno.ENOTDIR,
    FileExistsError: errno.EEXIST,
    PermissionError: errno.EACCES,
    TimeoutError: errno.ETIMEDOUT,
    ConnectionError: errno.ECONNABORTED,
}
_REASONS: dict[type[BaseException], str] = {
    FileNotFoundError: "no such file or directory",
    IsADirectoryError: "is a directory",
    NotADirectoryError: "not a directory",
    FileExistsError: "already exists",
    PermissionError: "permission denied",
}


class CrossProcessLock(Protocol):
    """What :meth:`Root.cross_process_lock` returns: ``acquire()`` raises ``FileBusyError``."""

    def acquire(self) -> CrossProcessLock: ...

    def release(self) -> None: ...


def redact(text: str, secrets: frozenset[str]) -> str:
    """Replace every secret value in ``text`` with ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class Root:
    """A named root: how *this* machine reaches one logical root, plus its writer's view.

    Parameters common to every root class:

    writer_root
        How the detector IOC spells this root's directory (``D:\\assets``, ``/ioc/data``).
    writer_path_semantics
        ``posix`` or ``windows``; guessed from ``writer_root`` when not given.
    read_only
        Refuse writes, moves and deletes with :class:`ReadOnlyRootError`.
    """

    #: The extra that installs this root's dependencies (for error messages).
    extra: ClassVar[str | None] = None
    #: Whether directories exist without files in them (object stores: no).
    supports_empty_dirs: ClassVar[bool] = True

    def __init__(
        self,
        *,
        writer_root: str | None = None,
        writer_path_semantics: Semantics | None = None,
        read_only: bool = False,
    ) -> None:
        self.name = "?"
        self.read_only = bool(read_only)
        self._writer: WriterView | None = None
        if writer_root is not None:
            semantics = writer_path_semantics or guess_semantics(writer_root)
            self._writer = WriterView(str(writer_root), semantics)
        elif writer_path_semantics is not None:
            raise InvalidPathError("writer_path_semantics is set but writer_root is not")
        self._fs: AbstractFileSystem | None = None
        self.secrets: frozenset[str] = frozenset()

    # -- identity -------------------------------------------------------------------------
    def bind(self, name: str) -> Root:
        """Give the root its logical name (done by the VFS when the root is added)."""
        self.name = name
        return self

    def __repr__(self) -> str:
        try:
            where = self.url()
        except Exception:  # noqa: BLE001  # a repr must not fail (backend missing, ...)
            where = "an unavailable backend"
        return f"<{type(self).__name__} /{self.name} at {where}>"

    def logical(self, rel: str) -> str:
        return join_logical(self.name, rel)

    # -- the backend ----------------------------------------------------------------------
    @property
    def fs(self) -> AbstractFileSystem:
        """The fsspec filesystem, created on first use (so config loading stays cheap)."""
        if self._fs is None:
            self._fs = self._make_fs()
        return self._fs

    def _make_fs(self) -> AbstractFileSystem:
        raise NotImplementedError

    @property
    def base(self) -> str:
        """The root's directory as a path of :attr:`fs`."""
        raise NotImplementedError

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

    @property
    def local_dir(self) -> str | None:
        """The directory on this machine, for roots that are local files; else ``None``."""
        return None

    @property
    def writer_view(self) -> WriterView | None:
        """The writer's view: ``writer_root``, else the local directory, else ``None``."""
        if self._writer is not None:
            return self._writer
        if self.local_dir is not None:
            return WriterView(self.local_dir, "posix")
        return None

    # -- rules ----------------------------------------------------------------------------
    def confine(self, rel: str) -> None:
        """Raise :class:`PathEscapeError` if ``rel`` reaches outside the root (symlinks)."""

    def lock_key(self, rel: str) -> tuple[Any, ...]:
        """Identifies the object written, for the in-process writer registry."""
        return (type(self.fs).__name__, id(self.fs), self.fs_path(rel))

    def check_size(self, rel: str, size: int) -> None:
        """Raise :class:`FileTooLargeError` if a file of ``size`` bytes cannot be stored at ``rel``.

        The VFS calls this before a transfer whose size it knows (``put_file``, ``copy``,
        ``Storage.add_file``), so a file the backend would refuse half-way fails before a
        byte is sent. Most backends have no limit worth checking: the default accepts any size.
        """

    def cross_process_lock(self, rel: str) -> CrossProcessLock | None:
        """A lock that also keeps other processes out, where the backend has one."""
        return None

    def map_error(self, exc: BaseException) -> BaseException | None:
        """Turn a backend's own exception into a built-in one (``None``: not ours to map).

        Network roots override this (HTTP 404 → ``FileNotFoundError``, 403 →
        ``PermissionError``, ...); :meth:`translate` then adds the logical path.
        """
        return None

    @contextlib.contextmanager
    def translate(self, logical: str) -> Iterator[None]:
        """Re-raise backend errors with the logical path in the message and no secrets."""
        try:
            yield
        except VFSError:
            raise
        except Exception as e:  # noqa: BLE001  # every backend error is mapped or re-raised
            if isinstance(e, OSError) and e.filename == logical:
                raise  # already translated (nested translate, e.g. in a reader)
            mapped = e if isinstance(e, OSError) else self.map_error(e)
            if mapped is None:
                self._scrub(e)
                raise
            raise self._with_path(mapped, logical) from self._scrub(e)

    def _with_path(self, exc: BaseException, logical: str) -> BaseException:
        for kind in _KEPT_OS_ERRORS:
            if isinstance(exc, kind):
                code = getattr(exc, "errno", None) or _ERRNOS.get(kind)
                return kind(code, self._message(exc), logical)
        if isinstance(exc, OSError):
            return OSError(exc.errno, self._message(exc), logical)
        return exc

    def _message(self, exc: BaseException) -> str:
        reason = _REASONS.get(type(exc)) if not getattr(exc, "strerror", None) else None
        if reason is None:
            text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            reason = redact(str(text), self.secrets)
        return f"{reason} (root /{self.name} on {self.url()})"

    def _scrub(self, exc: BaseException) -> BaseException:
        if self.secrets:
            exc.args = tuple(redact(a, self.secrets) if isinstance(a, str) else a for a in exc.args)
        return exc

    # -- operations on relative paths -----------------------------------------------------
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

    def open_write(self, rel: str, mode: str, release: Any) -> AtomicWriteFile:
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

    def close(self) -> None:
        """Release connections; the default has none."""


def bytes_reader(data: bytes) -> IO[bytes]:
    """A reader over bytes already in memory, without copying them."""
    return io.BytesIO(data)
