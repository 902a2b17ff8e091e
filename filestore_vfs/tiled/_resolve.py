"""Turn a stored ``data_uri`` into a file tiled's own adapters can open, inside the VFS roots.

Tiled checks ``readable_storage`` for ``file:`` URIs only; a ``vfs://`` URI skips that check,
so every URI is confined here: its path must be normal (no ``..``, ``.``, ``//``), name a
root of the server's VFS, and (for local roots) not leave the root through a symlink.

A plain ``file:`` URI (its first component names no root) gets the rule every reader of
documents applies to plain paths (:func:`filestore_vfs.vfs.check_legacy_path`): it is served
only when its real path (symlinks resolved) is under a directory of the VFS config's
``legacy_paths``. Tiled's ``readable_storage`` check still runs first, but it compares path
prefixes without resolving symlinks, so alone it would serve a symlink that leads out.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from urllib.parse import urlparse

from ..vfs import (
    PathEscapeError,
    UnknownRootError,
    VFSError,
    VirtualFileSystem,
    cached_file,
    default_config_path,
    logical_from_uri,
    split_logical,
)

__all__ = ["RefusedRootError", "RefusedURIError", "Target", "local_uri", "resolve_uri"]


try:  # inside a tiled server, answer a refusal as 403 with its reason, not as a bare 500
    from starlette.exceptions import HTTPException as _HTTPBase
except ImportError:  # pragma: no cover - tiled[server] brings starlette
    _HTTPBase = Exception  # type: ignore[assignment,misc]


class RefusedURIError(PathEscapeError, _HTTPBase):  # type: ignore[misc]
    """A ``data_uri`` this server will not serve: it leaves the VFS roots or names none.

    A :class:`PathEscapeError` (so a ``PermissionError``) for Python callers; for a tiled
    server it is also an HTTP exception, so the client gets ``403 Forbidden`` and the reason.
    """

    def __init__(self, message: str) -> None:
        PathEscapeError.__init__(self, message)
        self.status_code = 403
        self.detail = message
        self.headers: dict[str, str] | None = None

    def __str__(self) -> str:
        return str(self.detail)


class RefusedRootError(RefusedURIError, UnknownRootError):  # type: ignore[misc]
    """A ``data_uri`` whose root this server's VFS does not configure.

    A :class:`RefusedURIError` (403 with the reason) and the one "root not configured" error,
    :class:`~filestore_vfs.vfs.UnknownRootError` (``root``, ``known``, ``path``).
    """

    def __init__(self, cause: UnknownRootError, message: str) -> None:
        RefusedURIError.__init__(self, message)
        self.root, self.known, self.path = cause.root, cause.known, cause.path


@dataclass(frozen=True)
class Target:
    """Where a ``data_uri`` leads: a logical path, or (``logical is None``) a plain file URI
    whose checked real path is ``local``."""

    uri: str
    logical: str | None
    local: str | None = None


def _config_source() -> str:
    path = default_config_path()
    return str(path) if path else "the embedded defaults"


def _refuse(uri: str, why: str) -> RefusedURIError:
    return RefusedURIError(f"refusing to serve {uri!r}: {why}")


def resolve_uri(uri: str, vfs: VirtualFileSystem) -> Target:
    """Map ``vfs://<root>/...`` and ``file://localhost/<root>/...`` to logical paths.

    The parsing is :func:`filestore_vfs.vfs.logical_from_uri` (URIs only). Other ``file:``
    URIs are legacy files: served only when their path is normal and really (symlinks
    resolved) under a directory of ``vfs.legacy_paths`` (tiled's own ``readable_storage``
    check also applies to them). Every refusal is a :class:`RefusedURIError` (403); one for
    a root that is not configured is a :class:`RefusedRootError`, also the
    :class:`~filestore_vfs.vfs.UnknownRootError` every reader raises.
    """
    try:
        target = logical_from_uri(uri, vfs.roots, plain_paths=False, legacy_paths=vfs.legacy_paths)
    except UnknownRootError as exc:
        raise _refuse_root(uri, exc) from None
    except VFSError as exc:  # PathEscapeError; InvalidPathError: scheme, host, no URI
        raise _refuse(uri, str(exc)) from None
    if target.logical is None:
        return Target(uri, None, target.plain)
    return Target(uri, str(target.logical))


def _refuse_root(uri: str, exc: UnknownRootError) -> RefusedRootError:
    roots = ", ".join(f"/{name}" for name in exc.known)
    why = (
        f"/{exc.root} is not a root of this server's VFS (roots: {roots}; "
        f"VFS config: {_config_source()})"
    )
    return RefusedRootError(exc, f"refusing to serve {uri!r}: {why}")


def local_uri(target: Target, vfs: VirtualFileSystem, cache_dir: str | None = None) -> str:
    """A ``file://`` URI of the bytes ``target`` names, for tiled's own adapters.

    Local roots give their own file (no copy; symlinks leaving the root are refused);
    other roots give a whole-file local copy made through the VFS (its ``cache: file``
    copy for network roots, reused while size and mtime are unchanged).
    """
    if target.logical is None:  # a legacy file, checked in resolve_uri: its real path
        return target.uri if target.local is None else _file_uri(target.local, target.uri)
    try:
        return _file_uri(_local_file(target.logical, vfs, cache_dir), target.uri)
    except UnknownRootError as exc:  # the VFS changed under us
        raise _refuse_root(target.uri, exc) from None
    except PathEscapeError as exc:
        raise _refuse(target.uri, str(exc)) from None


def _file_uri(path: str, given: str) -> str:
    """``file://localhost<path>``, if tiled reads exactly ``path`` back from it.

    Tiled parses the URI with :func:`urllib.parse.urlparse`, which ends the path at ``?`` or
    ``#`` and drops tabs and newlines: the file it opened would not be the file checked here
    (``x#y`` checked, ``x`` opened, perhaps a symlink that leaves the root). Such a name
    is refused.
    """
    uri = "file://localhost" + path
    if urlparse(uri).path != path:
        raise _refuse(
            given,
            f"its file {path!r} has a character a file: URI cannot carry for tiled "
            "('?', '#', a tab or a line break)",
        )
    return uri


def _local_file(logical: str, vfs: VirtualFileSystem, cache_dir: str | None) -> str:
    root = vfs.roots[split_logical(logical).root]
    if root.local_dir is not None:
        local = vfs.local_path(logical)
        if not os.path.isfile(local):
            raise FileNotFoundError(errno.ENOENT, f"{logical} does not exist (on {local})")
        return local
    src = vfs.open(logical, "rb", cache="file")
    with src:
        name = getattr(src, "name", None)
        if isinstance(name, str) and os.path.isabs(name) and os.path.isfile(name):
            return name  # a network root's own whole-file copy
        # Other roots (memory, Redis, archives): a copy in the same cache (``cache_dir``
        # overrides it), keyed by the backend URL, size and mtime.
        info = vfs.info(logical)
        return cached_file(
            vfs.resolve(logical).url,
            info.get("size"),
            info.get("mtime"),
            lambda: src,
            cache_dir=cache_dir,
            suffix=os.path.splitext(logical)[1],
        )
