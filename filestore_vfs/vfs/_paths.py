"""Logical paths: ``/<root>/<relative POSIX path>``, checked once, at the boundary.

A logical path is absolute and already normal. Rather than normalising ``a/../b`` (which
hides an attempt to leave a root), anything that is not already normal is refused with
:class:`PathEscapeError`. ``vfs://<root>/<path>`` URLs are accepted everywhere a logical
path is.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ._errors import InvalidPathError, PathEscapeError

__all__ = ["LogicalPath", "split_logical", "join_logical", "check_root_name", "URL_PREFIX"]

URL_PREFIX = "vfs://"
_ROOT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")
#: Names of the hidden files the VFS uses for atomic writes and locks.
INTERNAL_PREFIX = ".~vfs-"


class LogicalPath(NamedTuple):
    """A checked logical path: the root name and the relative POSIX path ('' for the root)."""

    root: str
    rel: str

    def __str__(self) -> str:
        return join_logical(self.root, self.rel)


def check_root_name(name: str) -> str:
    """Return ``name`` without a leading '/', or raise if it cannot name a root."""
    bare = name[1:] if name.startswith("/") else name
    if not _ROOT_NAME.match(bare):
        raise InvalidPathError(
            f"{name!r} cannot name a root: use letters, digits, '_', '.', '-' "
            "and no '/' (e.g. 'detector')"
        )
    return bare


def join_logical(root: str, rel: str) -> str:
    """The logical path of ``rel`` under ``root``."""
    return f"/{root}/{rel}" if rel else f"/{root}"


def split_logical(path: object) -> LogicalPath:
    """Check a logical path (or ``vfs://`` URL) and split it into root and relative path.

    A single trailing '/' is allowed (directories). Raises :class:`InvalidPathError` for
    non-strings and relative paths and :class:`PathEscapeError` for ``..``, ``.``, empty
    components (``//``), NUL bytes and backslashes.
    """
    if not isinstance(path, str):
        if hasattr(path, "__fspath__"):
            path = path.__fspath__()  # type: ignore[union-attr]
        if not isinstance(path, str):
            raise InvalidPathError(f"a logical path must be a str, not {type(path).__name__}")
    text = path
    if text.startswith(URL_PREFIX):
        text = "/" + text[len(URL_PREFIX) :]
    if not text.startswith("/") or text == "/":
        raise InvalidPathError(
            f"{path!r} is not a logical path: it must start with '/<root>/', "
            "e.g. '/local/data/x.h5' (relative paths are not resolved against a directory)"
        )
    if "\\" in text or "\x00" in text:
        what = "a backslash" if "\\" in text else "a NUL byte"
        raise PathEscapeError(f"{path!r} contains {what}; logical paths are POSIX, use '/'")
    if text.endswith("/") and len(text) > 2:
        text = text[:-1]
    parts = text[1:].split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise PathEscapeError(
                f"{path!r} is not normal ({part or 'empty'!r} component): "
                "'..', '.' and '//' are refused so no path can leave its root"
            )
    return LogicalPath(parts[0], "/".join(parts[1:]))
