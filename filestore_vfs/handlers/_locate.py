"""Where a handler's path leads: a logical path through the VFS, or a plain file.

A path is logical when it is a ``vfs://`` URL or when its first component names a root of
the handler's VFS (``/detector/...``); ``file://`` URLs are read the same way after their
scheme is dropped (TiledWriter stores ``file://localhost/detector/...`` for Resources whose
root is ``/detector``). Anything else is a plain filesystem path: a legacy document's file,
read only when it lies (symlinks resolved, no ``..``) under a directory the VFS config lists
in ``legacy_paths:`` (none by default), so a hostile or mistaken document cannot make a
reader open any file it can. The rules are :func:`filestore_vfs.vfs.logical_from_uri`'s and
:func:`filestore_vfs.vfs.check_legacy_path`'s, shared by every reader.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO

from ..vfs import (
    InvalidPathError,
    PathEscapeError,
    UnknownRootError,
    VFSError,
    VirtualFileSystem,
    default_config_path,
    logical_from_uri,
    split_logical,
)

__all__ = ["Location", "MissingFileError", "RefusedPathError", "UnknownRootFileError", "locate"]


class MissingFileError(VFSError, LookupError):
    """A file, dataset or frame a document references is not there.

    Deliberately not an ``OSError``: event-model's Filler retries ``OSError`` for about two
    seconds by default, which only hides a file that is really missing. Network roots retry
    transient errors themselves (``retries`` in their config).
    """


class UnknownRootFileError(UnknownRootError, MissingFileError):
    """A document names a root this machine's VFS does not configure.

    The one "root not configured" error (:class:`UnknownRootError`, a ``KeyError``), and a
    :class:`MissingFileError` as handlers raised before, so event-model's Filler does not
    retry it. ``root``, ``known`` and ``path`` say which root, which are configured, and the
    path as the document gave it.
    """

    def __init__(self, cause: UnknownRootError, message: str) -> None:
        super().__init__(cause.root, cause.known, cause.path, message=message)


class RefusedPathError(PathEscapeError, InvalidPathError):
    """A document's path leaves its root (``..``, ``//``, NUL, backslash, encoded escapes),
    or is a plain filesystem path outside every directory of the config's ``legacy_paths``.

    The :class:`PathEscapeError` every reader raises for these, and the
    :class:`InvalidPathError` (``ValueError``) handlers raised before.
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


def locate(path: str, vfs: VirtualFileSystem) -> Location:
    """Resolve ``path`` (logical, ``vfs://``, ``file://`` or plain) for reading on this machine.

    The parsing is :func:`filestore_vfs.vfs.logical_from_uri` (``plain_top_check``: a plain
    absolute path whose top-level directory is not here names a root this VFS lacks). Its
    errors come out as they are, adapted for event-model's Filler, which retries ``OSError``:

    - a root that is not configured: :class:`UnknownRootFileError`, an
      :class:`UnknownRootError` and a :class:`MissingFileError`;
    - a path that leaves its root, or a plain path outside every directory of
      ``vfs.legacy_paths``: :class:`RefusedPathError`, a :class:`PathEscapeError` and (as
      before) an :class:`InvalidPathError`.

    A plain path's :attr:`Location.local` is its real path (symlinks resolved), the one
    that was checked.
    """
    given = os.fspath(path)
    try:
        target = logical_from_uri(
            given, vfs.roots, plain_top_check=True, legacy_paths=vfs.legacy_paths
        )
    except UnknownRootError as exc:
        raise UnknownRootFileError(exc, _unknown_root_message(exc)) from None
    except PathEscapeError as exc:
        raise RefusedPathError(f"refused {given!r}: {exc}") from exc
    if target.logical is None:
        assert target.plain is not None
        return Location(str(path), None, target.plain, vfs)
    logical = str(target.logical)
    root = vfs.roots[target.logical.root]
    local = vfs.local_path(logical) if root.local_dir is not None else None
    return Location(str(path), logical, local, vfs)


def _unknown_root_message(exc: UnknownRootError) -> str:
    config = default_config_path()
    source = str(config) if config else "the embedded defaults"
    roots = ", ".join(f"/{name}" for name in exc.known)
    return (
        f"unknown root /{exc.root} in {exc.path!r}: configured roots are {roots} "
        f"(VFS config: {source}); add /{exc.root} to that config"
    )
