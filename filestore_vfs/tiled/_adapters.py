"""Tiled adapters that read ``vfs://`` (and ``file://localhost/<root>/``) assets via the VFS.

They subclass tiled's own ``HDF5Adapter`` and ``TiffSequenceAdapter`` and change one thing:
before tiled opens an asset, its ``data_uri`` is confined to the server's VFS roots and
rewritten to a ``file://`` URI (the file itself on a local root, a whole-file local copy
made through the VFS on a remote one). Array logic, chunking and metadata stay tiled's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

from tiled.adapters.hdf5 import HDF5Adapter, HDF5ArrayAdapter
from tiled.adapters.tiff import TiffSequenceAdapter

from ..vfs import VirtualFileSystem, default_vfs
from ._resolve import Target, local_uri, resolve_uri

__all__ = ["VFSHDF5Adapter", "VFSTiffSequenceAdapter", "adapters_by_mimetype"]


class _VFSBound:
    """Binds an adapter to a VFS: the class attribute, else the server's :func:`default_vfs`."""

    vfs: ClassVar[VirtualFileSystem | None] = None
    #: Where copies of files on roots without a local directory or cache of their own go
    #: (``None``: the VFS's one cache directory, :func:`filestore_vfs.vfs.cache_directory`).
    cache_dir: ClassVar[str | None] = None

    @classmethod
    def _vfs(cls) -> VirtualFileSystem:
        return cls.vfs or default_vfs()


def _replace(obj: Any, **changes: Any) -> Any:
    """``DataSource``/``Asset`` arrive as dataclasses or pydantic models, by tiled version."""
    if hasattr(obj, "model_copy"):
        return obj.model_copy(update=changes)
    return dataclasses.replace(obj, **changes)


def _localised(data_source: Any, cls: type[_VFSBound]) -> Any:
    """The data source with every asset URI confined and made a local ``file://`` URI."""
    vfs = cls._vfs()
    assets = [
        _replace(a, data_uri=local_uri(resolve_uri(a.data_uri, vfs), vfs, cls.cache_dir))
        for a in data_source.assets
    ]
    return _replace(data_source, assets=assets)


class VFSHDF5Adapter(_VFSBound, HDF5Adapter):
    """``application/x-hdf5``: tiled's HDF5 adapter over a file named by a VFS URI."""

    @classmethod
    def from_catalog(  # type: ignore[override]
        cls, data_source: Any, node: Any, /, **kwargs: Any
    ) -> HDF5Adapter | HDF5ArrayAdapter:
        return super().from_catalog(_localised(data_source, cls), node, **kwargs)


class _ResolvingURIs(Sequence[Any]):
    """A TIFF sequence's URIs, confined at once, made local only when a frame is read.

    A read of one frame out of thousands copies (on a remote root) just that frame's file.
    """

    def __init__(self, uris: Sequence[str | None], cls: type[_VFSBound]) -> None:
        self._vfs = cls._vfs()
        self._cache_dir = cls.cache_dir
        self._targets: list[Target | None] = [
            None if uri is None else resolve_uri(uri, self._vfs) for uri in uris
        ]

    def __len__(self) -> int:
        return len(self._targets)

    def _one(self, target: Target | None) -> str | None:
        return None if target is None else local_uri(target, self._vfs, self._cache_dir)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return [self._one(t) for t in self._targets[key]]
        return self._one(self._targets[key])


class VFSTiffSequenceAdapter(_VFSBound, TiffSequenceAdapter):
    """``multipart/related;type=image/tiff``: tiled's TIFF sequence over VFS URIs."""

    @classmethod
    def from_catalog(  # type: ignore[override]
        cls, data_source: Any, node: Any, /, **kwargs: Any
    ) -> TiffSequenceAdapter:
        uris = kwargs.pop("data_uris", None)  # the catalog's lazy path passes only some
        if uris is None:
            uris = cls._stacking_uris_from_assets(data_source)
        return super().from_catalog(
            data_source, node, data_uris=_ResolvingURIs(uris, cls), **kwargs
        )


_BY_MIMETYPE: dict[str, type[_VFSBound]] = {
    "application/x-hdf5": VFSHDF5Adapter,
    "multipart/related;type=image/tiff": VFSTiffSequenceAdapter,
}


def adapters_by_mimetype(
    vfs: VirtualFileSystem | None = None, *, cache_dir: str | None = None
) -> dict[str, type]:
    """``{mimetype: adapter class}`` for a catalog's ``adapters_by_mimetype``.

    Without arguments the classes use the server's :func:`default_vfs` (as when named by
    import string in a ``tiled serve config`` YAML); with ``vfs`` they read through it.
    """
    if vfs is None and cache_dir is None:
        return dict(_BY_MIMETYPE)
    return {
        mimetype: type(
            cls.__name__,
            (cls,),
            {"vfs": vfs, "cache_dir": cache_dir, "__module__": cls.__module__},
        )
        for mimetype, cls in _BY_MIMETYPE.items()
    }
