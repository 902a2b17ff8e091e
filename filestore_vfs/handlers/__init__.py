"""``filestore_vfs.handlers``: read-side handlers that resolve logical paths.

For event-model's ``Filler`` and databroker::

    from filestore_vfs.handlers import handler_registry
    filler = event_model.Filler(handler_registry(vfs), inplace=False)

or by import string in a databroker/tiled server config
(``filestore_vfs.handlers:AreaDetectorHDF5Handler``), where they use ``default_vfs()``.
"""

from __future__ import annotations

from ..vfs import VirtualFileSystem
from ._handlers import (
    AreaDetectorHDF5Handler,
    AreaDetectorHDF5SingleHandler,
    AreaDetectorTiffHandler,
    HandlerBase,
)
from ._locate import (
    Location,
    MissingFileError,
    RefusedPathError,
    UnknownRootFileError,
    locate,
)

__all__ = [
    "AreaDetectorHDF5Handler",
    "AreaDetectorHDF5SingleHandler",
    "AreaDetectorTiffHandler",
    "HandlerBase",
    "Location",
    "MissingFileError",
    "RefusedPathError",
    "UnknownRootFileError",
    "handler_registry",
    "locate",
]

_HANDLERS = (AreaDetectorHDF5Handler, AreaDetectorHDF5SingleHandler, AreaDetectorTiffHandler)


def handler_registry(
    vfs: VirtualFileSystem | None = None, *, cache: str | None = None
) -> dict[str, type[HandlerBase]]:
    """``{spec: handler class}`` for every spec the mixins emit, reading through ``vfs``.

    Without ``vfs`` the handlers use :func:`default_vfs` (as when named by import string).
    ``cache`` sets how network roots buffer reads (``blocks``, ``stream`` or the default
    ``file``: a handler reads every frame of its resource, so one whole-file copy wins).
    """
    registry: dict[str, type[HandlerBase]] = {}
    for cls in _HANDLERS:
        bound = cls if vfs is None and cache is None else _bind(cls, vfs, cache)
        for spec in cls.specs:
            registry[spec] = bound
    return registry


def _bind(cls: type[HandlerBase], vfs: VirtualFileSystem | None, cache: str | None) -> type:
    attrs = {"vfs": vfs, "cache": cache or cls.cache, "__module__": cls.__module__}
    return type(cls.__name__, (cls,), attrs)
