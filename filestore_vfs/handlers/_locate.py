"""Where a handler's path leads: a logical path through the VFS, or a plain file.

A path is logical when it is a ``vfs://`` URL or when its first component names a root of
the handler's VFS (``/detector/...``); ``file://`` URLs are read the same way after their
scheme is dropped (TiledWriter stores ``file://localhost/detector/...`` for Resources whose
root is ``/detector``). Anything else is a plain filesystem path, so legacy documents keep
working beside ours.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO

from ..vfs import (
    InvalidPathError,
    PathEscapeError,
    VFSError,
    VirtualFileSystem,
    default_config_path,
    split_logical,
)

__all__ = ["Location", "MissingFileError", "locate"]


class MissingFileError(VFSError, LookupError):
    """A file, dataset or frame a document references is not there.

    Deliberately not an ``OSError``: event-model's Filler retries ``OSError`` for about two
    seconds by default, which only hides a file that is really missing. Network roots retry
    transient errors themselves (``retries`` in their config).
    """


@dataclass(frozen=True)
class Location:
    """A resolved handler path: ``logical`` for VFS paths, ``local`` when it is a file here."""

    given: str
    logical: str | None
    local: str | None
    vfs: VirtualFileSystem

    def describe(self) -> str:
        if self.logical is None:
            return repr(self.given)
        root = split_logical(self.logical).root
        where = self.vfs.roots[root].url(split_logical(self.logical).rel)
        return f"{self.logical} (root /{root} on {where})"

    def open(self, cache: str | None = None) -> IO[bytes]:
        """A binary reader: the plain file, or the VFS's streaming reader."""
        try:
            if self.local is not None:
                return open(self.local, "rb")  # noqa: SIM115  # the handler closes it
            assert self.logical is not None
            return self.vfs.open(self.logical, "rb", cache=cache)
        except FileNotFoundError:
            raise MissingFileError(f"{self.describe()} does not exist") from None

    def child(self, name: str) -> Location:
        """The location of a file inside this directory location."""
        if self.logical is not None:
            return locate(f"{self.logical.rstrip('/')}/{name}", self.vfs)
        return locate(os.path.join(self.given, name), self.vfs)


def _strip_file_scheme(path: str) -> str:
    if path.startswith("file://localhost/"):
        return path[len("file://localhost") :]
    if path.startswith("file:///"):
        return path[len("file://") :]
    return path


def locate(path: str, vfs: VirtualFileSystem) -> Location:
    """Resolve ``path`` (logical, ``vfs://``, ``file://`` or plain) for reading on this machine."""
    text = _strip_file_scheme(os.fspath(path))
    logical = _logical_or_none(text, vfs)
    if logical is None:
        _check_not_unknown_root(text, vfs)
        return Location(str(path), None, text, vfs)
    root = vfs.roots[split_logical(logical).root]
    local = vfs.local_path(logical) if root.local_dir is not None else None
    return Location(str(path), logical, local, vfs)


def _logical_or_none(text: str, vfs: VirtualFileSystem) -> str | None:
    if text.startswith("vfs://"):
        try:
            lp = split_logical(text)
        except PathEscapeError as exc:
            raise InvalidPathError(f"refused {text!r}: {exc}") from exc
        if lp.root not in vfs.roots:
            raise MissingFileError(_unknown_root_message(lp.root, vfs, text))
        return str(lp)
    if not text.startswith("/"):
        return None
    first = text[1:].split("/", 1)[0]
    if first not in vfs.roots:
        return None
    try:
        return str(split_logical(text.rstrip("/") or text))
    except PathEscapeError as exc:
        raise InvalidPathError(f"refused {text!r}: {exc}") from exc


def _check_not_unknown_root(text: str, vfs: VirtualFileSystem) -> None:
    """A plain absolute path that does not exist may be a root this machine lacks: say so."""
    if text.startswith("/") and not os.path.exists(text):
        first = text[1:].split("/", 1)[0]
        raise MissingFileError(
            f"{text} does not exist here, and /{first} is not a root of this machine's VFS: "
            + _unknown_root_message(first, vfs, text).split(": ", 1)[1]
        )


def _unknown_root_message(root: str, vfs: VirtualFileSystem, path: str) -> str:
    config = default_config_path()
    source = str(config) if config else "the embedded defaults"
    roots = ", ".join(f"/{name}" for name in sorted(vfs.roots))
    return (
        f"unknown root /{root} in {path!r}: configured roots are {roots} "
        f"(VFS config: {source}); add /{root} to that config"
    )
