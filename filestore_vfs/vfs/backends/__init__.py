"""``filestore_vfs.vfs.backends``: the root classes, one module per transport.

Each module holds one root class (two for ``local`` and ``sftp``); the registry
(:mod:`filestore_vfs.vfs._registry`) names them by public module path and imports a module
only when a config uses its class, so importing this package imports no backend's optional
dependency. The shared pieces live here once each:

- :class:`FsspecRoot` (``_fsspec``): every operation on one fsspec filesystem;
- :class:`NetworkRoot` (``_network``): timeouts, bounded retries, cache modes, resumable reads;
- lock files for servers without locks (``_lockfile``), object-store uploads
  (``_objectstore``) and the streaming readers' bookkeeping (``_streams``).

A new backend subclasses :class:`FsspecRoot` (or :class:`FsspecNetworkRoot` when it talks to
a server), or :class:`filestore_vfs.vfs.Root` directly when it has no fsspec filesystem.
"""

from ._fsspec import FsspecRoot
from ._network import FsspecNetworkRoot, NetworkRoot

__all__ = ["FsspecNetworkRoot", "FsspecRoot", "NetworkRoot"]
