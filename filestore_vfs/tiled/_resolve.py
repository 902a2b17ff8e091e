"""Turn a stored ``data_uri`` into a file tiled's own adapters can open, inside the VFS roots.

Tiled checks ``readable_storage`` for ``file:`` URIs only; a ``vfs://`` URI skips that check,
so every URI is confined here: its path must be normal (no ``..``, ``.``, ``//``), name a
root of the server's VFS, and (for local roots) not leave the root through a symlink.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from urllib.parse import urlparse

from ..vfs import (
    PathEscapeError,
    UnknownRootError,
    VFSError,
    VirtualFileSystem,
    default_config_path,
    split_logical,
)

__all__ = ["RefusedURIError", "Target", "local_uri", "resolve_uri"]


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


@dataclass(frozen=True)
class Target:
    """Where a ``data_uri`` leads: a logical path, or (``logical is None``) a plain file URI."""

    uri: str
    logical: str | None


def _config_source() -> str:
    path = default_config_path()
    return str(path) if path else "the embedded defaults"


def _refuse(uri: str, why: str) -> RefusedURIError:
    return RefusedURIError(f"refusing to serve {uri!r}: {why}")


def resolve_uri(uri: str, vfs: VirtualFileSystem) -> Target:
    """Map ``vfs://<root>/...`` and ``file://localhost/<root>/...`` to logical paths.

    Other ``file:`` URIs are not ours: they stay as they are (tiled's ``readable_storage``
    check has already confined them) unless their path is not normal.
    """
    parsed = urlparse(uri)
    if parsed.scheme == "vfs":
        return Target(uri, _logical(uri, uri, vfs))
    if parsed.scheme != "file":
        raise _refuse(uri, f"scheme {parsed.scheme!r} is not served (use vfs:// or file://)")
    if parsed.netloc not in ("", "localhost"):
        raise _refuse(uri, f"host {parsed.netloc!r} is not this machine")
    path = parsed.path
    first = path.lstrip("/").split("/", 1)[0]
    if first in vfs.roots:
        return Target(uri, _logical(path, uri, vfs))
    if any(part in ("..", ".") for part in path.split("/")):
        raise _refuse(uri, "'..' and '.' components are refused")
    return Target(uri, None)


def _logical(path: str, uri: str, vfs: VirtualFileSystem) -> str:
    try:
        lp = split_logical(path)
    except PathEscapeError as exc:
        raise _refuse(uri, str(exc)) from None
    except VFSError as exc:
        raise _refuse(uri, f"not a logical path: {exc}") from None
    if lp.root not in vfs.roots:
        roots = ", ".join(f"/{name}" for name in sorted(vfs.roots))
        raise _refuse(
            uri,
            f"/{lp.root} is not a root of this server's VFS (roots: {roots}; "
            f"VFS config: {_config_source()})",
        )
    return str(lp)


def local_uri(target: Target, vfs: VirtualFileSystem, cache_dir: str | None = None) -> str:
    """A ``file://`` URI of the bytes ``target`` names, for tiled's own adapters.

    Local roots give their own file (no copy; symlinks leaving the root are refused);
    other roots give a whole-file local copy made through the VFS (its ``cache: file``
    copy for network roots, reused while size and mtime are unchanged).
    """
    if target.logical is None:
        return target.uri
    try:
        return "file://localhost" + _local_file(target.logical, vfs, cache_dir)
    except PathEscapeError as exc:
        raise _refuse(target.uri, str(exc)) from None
    except UnknownRootError as exc:  # the VFS changed under us
        raise _refuse(target.uri, str(exc)) from None


def _local_file(logical: str, vfs: VirtualFileSystem, cache_dir: str | None) -> str:
    root = vfs.roots[split_logical(logical).root]
    if root.local_dir is not None:
        local = vfs.local_path(logical)
        if not os.path.isfile(local):
            raise FileNotFoundError(2, f"{logical} does not exist (on {local})")
        return local
    with vfs.open(logical, "rb", cache="file") as f:
        name = getattr(f, "name", None)
        if isinstance(name, str) and os.path.isabs(name) and os.path.isfile(name):
            return name
        return _copy_into(f, logical, vfs, cache_dir)


def _copy_into(src: object, logical: str, vfs: VirtualFileSystem, cache_dir: str | None) -> str:
    """Copy a stream into ``cache_dir`` under a name keyed by path, size and mtime."""
    info = vfs.info(logical)
    token = f"{logical}\0{info.get('size')}\0{info.get('mtime')}"
    directory = cache_dir or os.path.join(tempfile.gettempdir(), "filestore-vfs-tiled")
    os.makedirs(directory, exist_ok=True)
    suffix = os.path.splitext(logical)[1][:16]
    target = os.path.join(directory, hashlib.sha256(token.encode()).hexdigest()[:32] + suffix)
    if os.path.exists(target) and os.path.getsize(target) == info.get("size"):
        return target
    fd, tmp = tempfile.mkstemp(prefix=".~vfs-tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, 8 << 20)  # type: ignore[arg-type]
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target
