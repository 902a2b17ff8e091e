"""filestore-vfs: one logical name per detector file, for bluesky/ophyd beamlines.

The virtual file system is re-exported here; the write side (``filestore_vfs.areadetector``),
read side (``filestore_vfs.handlers``, ``filestore_vfs.tiled``) and the command line
(``filestore_vfs.cli``) are imported explicitly, so ``import filestore_vfs`` stays light and
imports no backend's dependency.
"""

from .vfs import *  # noqa: F403
from .vfs import __all__ as _vfs_all
from .vfs import __getattr__  # noqa: F401  # lazy root classes: filestore_vfs.HttpFile

__version__ = "0.1.0"
__all__ = list(_vfs_all)
