"""``filestore_vfs.tiled``: server-side tiled adapters for assets named by VFS URIs.

In a ``tiled serve config`` catalog::

    adapters_by_mimetype:
      application/x-hdf5: filestore_vfs.tiled:VFSHDF5Adapter
      multipart/related;type=image/tiff: filestore_vfs.tiled:VFSTiffSequenceAdapter

The adapters read ``vfs://<root>/...`` URIs, and ``file://localhost/<root>/...`` URIs whose
first component is a root (what TiledWriter makes of a Resource with ``root="/detector"``),
through the server's :func:`~filestore_vfs.default_vfs`, and refuse anything outside its roots.
On the writing side, ``TiledWriter(client, patches=tiled_writer_patches())`` keeps legacy
``AD_TIFF`` Resources readable (TiledWriter drops the directory's trailing slash).
"""

from __future__ import annotations

from ._adapters import VFSHDF5Adapter, VFSTiffSequenceAdapter, adapters_by_mimetype
from ._resolve import RefusedRootError, RefusedURIError, Target, local_uri, resolve_uri
from ._writer import DIRECTORY_SPECS, tiled_writer_patches

__all__ = [
    "DIRECTORY_SPECS",
    "RefusedRootError",
    "RefusedURIError",
    "Target",
    "VFSHDF5Adapter",
    "VFSTiffSequenceAdapter",
    "adapters_by_mimetype",
    "local_uri",
    "resolve_uri",
    "tiled_writer_patches",
]
