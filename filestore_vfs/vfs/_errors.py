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

Missing files raise the built-in :class:`FileNotFoundError`.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from typing import Any

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
