"""One lazy registry of root classes, with install hints.

Root classes are named in YAML (``class: LocalFile``, or pyobs' ``pyobs.vfs.LocalFile``).
The registry maps names to import paths and imports a class only when a root uses it, so
``import filestore_vfs`` never imports a backend's dependency. A missing dependency becomes a
:class:`BackendUnavailableError` that names the extra to install. Third-party packages add
root classes with :func:`register_root_class` or the ``filestore_vfs.roots`` entry-point group.
"""

from __future__ import annotations

import importlib
import types
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from ._errors import BackendUnavailableError, ConfigError

if TYPE_CHECKING:
    from ._root import Root

__all__ = ["known_root_classes", "get_root_class", "register_root_class", "registry"]

#: name -> (import path "module:attr", extra that installs its dependencies or None)
_known: dict[str, tuple[str, str | None]] = {
    "ArchiveFile": ("filestore_vfs.vfs.backends.archive:ArchiveFile", None),
    "AzureBlobFile": ("filestore_vfs.vfs.backends.azure:AzureBlobFile", "azure"),
    "FsspecFile": ("filestore_vfs.vfs.backends.fsspec_file:FsspecFile", None),
    "HttpFile": ("filestore_vfs.vfs.backends.http:HttpFile", "http"),
    "LocalFile": ("filestore_vfs.vfs.backends.local:LocalFile", None),
    "MemoryFile": ("filestore_vfs.vfs.backends.memory:MemoryFile", None),
    "RedisFile": ("filestore_vfs.vfs.backends.redis:RedisFile", "redis"),
    "S3File": ("filestore_vfs.vfs.backends.s3:S3File", "s3"),
    "SFTPFile": ("filestore_vfs.vfs.backends.sftp:SFTPFile", "sftp"),
    "SMBFile": ("filestore_vfs.vfs.backends.smb:SMBFile", "smb"),
    "SSHFile": ("filestore_vfs.vfs.backends.sftp:SSHFile", "sftp"),
    "TempFile": ("filestore_vfs.vfs.backends.local:TempFile", None),
}
assert list(_known) == sorted(_known), "keep the registry in alphabetical order"

_loaded: dict[str, type[Root]] = {}
#: A read-only view of the registry: name -> (import path, extra).
registry = types.MappingProxyType(_known)
_PREFIXES = ("pyobs.vfs.", "filestore_vfs.vfs.", "filestore_vfs.")
_entry_points_read = False


def _read_entry_points() -> None:
    global _entry_points_read
    if _entry_points_read:
        return
    _entry_points_read = True
    for ep in entry_points(group="filestore_vfs.roots"):
        _known.setdefault(ep.name, (ep.value, None))


def known_root_classes() -> list[str]:
    """The names a config may use in ``class:`` (pyobs spellings are accepted too)."""
    _read_entry_points()
    return sorted(_known)


def register_root_class(name: str, target: str | type[Root], *, clobber: bool = False) -> None:
    """Make ``name`` usable in ``class:``; ``target`` is a class or ``"module:attr"``."""
    _read_entry_points()
    if name in _known and not clobber:
        raise ConfigError(f"root class {name!r} is already registered; pass clobber=True")
    if isinstance(target, str):
        _known[name] = (target, None)
        _loaded.pop(name, None)
    else:
        _known[name] = (f"{target.__module__}:{target.__qualname__}", None)
        _loaded[name] = target


def get_root_class(spelling: str) -> type[Root]:
    """Import and return the root class that ``spelling`` names."""
    _read_entry_points()
    name = spelling
    for prefix in _PREFIXES:
        if name.startswith(prefix) and name[len(prefix) :] in _known:
            name = name[len(prefix) :]
    if name in _loaded:
        return _loaded[name]
    if name not in _known:
        raise ConfigError(
            f"unknown root class {spelling!r}; known: {', '.join(known_root_classes())}"
        )
    target, extra = _known[name]
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name == module_name:
            raise ConfigError(
                f"root class {name!r} is not available in this version of filestore-vfs"
            ) from exc
        raise BackendUnavailableError(f"root class {name}", extra or "all", exc) from exc
    cls: type[Root] = getattr(module, attr)
    _loaded[name] = cls
    return cls
