"""The error hierarchy of filestore-vfs.

Every error is a :class:`VFSError` *and* the built-in a caller would catch without knowing
about us, so ``except KeyError`` or ``except PermissionError`` keeps working::

    VFSError (Exception)
    ├── UnknownRootError        (KeyError)          a path names a root that is not configured
    ├── PathEscapeError         (PermissionError)   a path tries to leave its root
    ├── InvalidPathError        (ValueError)        a path is not a valid logical or writer path
    ├── ConfigError             (ValueError)        a configuration cannot be used
    ├── FileBusyError           (BlockingIOError)   another writer holds the path
    ├── FileTooLargeError       (OSError, EFBIG)    a file is larger than its root can store
    ├── ReadOnlyRootError       (PermissionError)   a write to a root configured read_only
    └── BackendUnavailableError (ImportError)       the root's optional dependency is missing

Missing files raise the built-in :class:`FileNotFoundError`. The built-in OS errors are made
by the small constructors at the end (:func:`not_found`, :func:`is_a_directory`, ...), so every
one carries the right ``errno`` constant and a reason a person can read.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from typing import Any, TypeVar

__all__ = [
    "BackendUnavailableError",
    "ConfigError",
    "FileBusyError",
    "FileTooLargeError",
    "InvalidPathError",
    "PathEscapeError",
    "ReadOnlyRootError",
    "UnknownRootError",
    "VFSError",
    "ERRNO_OF",
    "REASON_OF",
    "already_exists",
    "connection_refused",
    "connection_reset",
    "io_error",
    "is_a_directory",
    "not_a_directory",
    "not_empty",
    "not_found",
    "os_error",
    "permission_denied",
    "timed_out",
]


class VFSError(Exception):
    """Root of every error raised by filestore-vfs."""


class UnknownRootError(VFSError, KeyError):
    """A logical path names a root that this VFS does not configure.

    The one "root not configured" error: ``root``, ``known`` (the configured roots) and
    ``path`` (as given) are attributes. Callers that need another base as well subclass it
    (``filestore_vfs.handlers.UnknownRootFileError``, ``filestore_vfs.tiled.RefusedRootError``)
    and may word the ``message`` for their audience.
    """

    def __init__(
        self,
        root: str,
        known: Iterable[str],
        path: str | None = None,
        *,
        message: str | None = None,
    ) -> None:
        self.root = root
        self.path = path
        self.known = sorted(known)
        if message is None:
            where = f" in {path!r}" if path else ""
            names = ", ".join(f"/{k}" for k in self.known) or "none"
            message = (
                f"unknown root '/{root}'{where}; configured roots: {names}. "
                "Add it to the VFS config (see `filestore-vfs roots`)."
            )
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class PathEscapeError(VFSError, PermissionError):
    """A path tries to leave its root (``..``, ``//``, NUL, backslash, outward symlink)."""


class InvalidPathError(VFSError, ValueError):
    """A path is not a valid logical path (e.g. relative) or cannot be mapped."""


class ConfigError(VFSError, ValueError):
    """A VFS configuration cannot be used; the message says where and what to change."""


class FileBusyError(VFSError, BlockingIOError):
    """Another writer has the same logical path open."""


class FileTooLargeError(VFSError, OSError):
    """A file is larger than its root can store (``errno.EFBIG``); nothing of it was kept.

    ``filename`` is the logical path. The message starts with that path, so ``str()`` shows
    the message alone rather than OSError's ``[Errno 27] ...: 'path'`` form.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(errno.EFBIG, message, path)

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self) -> tuple[Any, ...]:  # OSError would rebuild it from (errno, msg, path)
        return type(self), (self.strerror, self.filename)


class ReadOnlyRootError(VFSError, PermissionError):
    """A write, move or delete on a root that is read-only."""


class BackendUnavailableError(VFSError, ImportError):
    """A root class needs an optional dependency that is not installed."""

    def __init__(self, what: str, extra: str | None, cause: BaseException | None = None) -> None:
        self.extra = extra
        detail = f" ({cause})" if cause else ""
        if extra is None:  # a protocol no extra of ours installs: fsspec's own hint says what
            super().__init__(f"{what} is not available{detail}")
        else:
            super().__init__(f"{what} needs `pip install 'filestore-vfs[{extra}]'`{detail}")


# -- built-in OS errors with errno constants ------------------------------------------------
_E = TypeVar("_E", bound=OSError)

#: The errno each built-in OS error stands for (``OSError(errno, reason, filename)``).
ERRNO_OF: dict[type[OSError], int] = {
    FileNotFoundError: errno.ENOENT,
    IsADirectoryError: errno.EISDIR,
    NotADirectoryError: errno.ENOTDIR,
    FileExistsError: errno.EEXIST,
    PermissionError: errno.EACCES,
    TimeoutError: errno.ETIMEDOUT,
    ConnectionError: errno.ECONNABORTED,
    ConnectionResetError: errno.ECONNRESET,
    ConnectionRefusedError: errno.ECONNREFUSED,
}
#: The reason said when a caller gives none.
REASON_OF: dict[type[OSError], str] = {
    FileNotFoundError: "no such file or directory",
    IsADirectoryError: "is a directory",
    NotADirectoryError: "not a directory",
    FileExistsError: "already exists",
    PermissionError: "permission denied",
}


def os_error(
    kind: type[_E], reason: str | None = None, path: str | None = None, *, code: int | None = None
) -> _E:
    """``kind(errno, reason, path)`` with the errno constant of ``kind`` (or ``code``).

    A path of ``None`` is left out, so ``str()`` reads ``[Errno 2] reason`` rather than
    ``[Errno 2] reason: None``.
    """
    number = code if code is not None else ERRNO_OF.get(kind, errno.EIO)
    text = reason or REASON_OF.get(kind) or kind.__name__
    return kind(number, text) if path is None else kind(number, text, path)


def not_found(
    reason: str = "no such file or directory", path: str | None = None
) -> FileNotFoundError:
    return os_error(FileNotFoundError, reason, path)


def is_a_directory(reason: str = "is a directory", path: str | None = None) -> IsADirectoryError:
    return os_error(IsADirectoryError, reason, path)


def not_a_directory(reason: str = "not a directory", path: str | None = None) -> NotADirectoryError:
    return os_error(NotADirectoryError, reason, path)


def already_exists(reason: str = "already exists", path: str | None = None) -> FileExistsError:
    return os_error(FileExistsError, reason, path)


def not_empty(reason: str = "directory not empty", path: str | None = None) -> OSError:
    return os_error(OSError, reason, path, code=errno.ENOTEMPTY)


def io_error(reason: str, path: str | None = None) -> OSError:
    return os_error(OSError, reason, path, code=errno.EIO)


def permission_denied(
    reason: str = "permission denied", path: str | None = None, *, code: int = errno.EACCES
) -> PermissionError:
    """``EACCES`` by default; ``code=errno.EPERM`` for an operation never allowed."""
    return os_error(PermissionError, reason, path, code=code)


def connection_reset(reason: str, path: str | None = None) -> ConnectionError:
    return os_error(ConnectionError, reason, path, code=errno.ECONNRESET)


def connection_refused(reason: str, path: str | None = None) -> ConnectionError:
    return os_error(ConnectionError, reason, path, code=errno.ECONNREFUSED)


def timed_out(reason: str, path: str | None = None) -> TimeoutError:
    return os_error(TimeoutError, reason, path)
