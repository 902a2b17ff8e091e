"""``filestore_vfs.tiled``: server-side tiled adapters for assets named by VFS URIs.

In a ``tiled serve config`` catalog::

    adapters_by_mimetype:
      application/x-hdf5: filestore_vfs.tiled:VFSHDF5Adapter
      multipart/related;type=image/tiff: filestore_vfs.tiled:VFSTiffSequenceAdapter

The adapters read ``vfs://<root>/...`` URIs, and ``file://localhost/<root>/...`` URIs whose
first component is a root (what TiledWriter makes of a Resource with ``root="/detector"``),
through the server's :func:`~filestore_vfs.default_vfs`, and refuse anything outside its roots.
On the writing side, ``TiledWriter(client, patches=tiled_writer_patches())`` keeps legacy
``AD_TIFF`` Resources readable (TiledWriter drops the directory's trailing slash), and
:class:`AtomicRunWriter` leaves a run in the catalog whole or not at all. For a server run
under a process manager, :func:`app_factory` is tiled's factory with refusals answered as 403.
"""

from __future__ import annotations

from ._adapters import VFSHDF5Adapter, VFSTiffSequenceAdapter, adapters_by_mimetype
from ._app import app_factory, install_refusal_handler, is_storage_refusal
from ._atomic import AtomicRunWriter, RunNotRegisteredError, remove_partial_run
from ._resolve import RefusedRootError, RefusedURIError, Target, local_uri, resolve_uri
from ._writer import DIRECTORY_SPECS, tiled_writer_patches

__all__ = [
    "AtomicRunWriter",
    "DIRECTORY_SPECS",
    "RefusedRootError",
    "RefusedURIError",
    "RunNotRegisteredError",
    "Target",
    "VFSHDF5Adapter",
    "VFSTiffSequenceAdapter",
    "adapters_by_mimetype",
    "app_factory",
    "install_refusal_handler",
    "is_storage_refusal",
    "local_uri",
    "remove_partial_run",
    "resolve_uri",
    "tiled_writer_patches",
]
