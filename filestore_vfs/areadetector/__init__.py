"""``filestore_vfs.areadetector``: ophyd's area-detector filestore mixins, rooted in the VFS.

Swap one import line::

    # from ophyd.areadetector.filestore_mixins import FileStoreHDF5IterativeWrite
    from filestore_vfs.areadetector import FileStoreHDF5IterativeWrite

and give ``root="/detector"`` (a VFS root) instead of a physical directory.  Take
``SingleTrigger`` from here too: ophyd's can return ``None`` from ``trigger()``.
"""

from ._filestore import (
    FileStoreBase,
    FileStoreHDF5,
    FileStoreHDF5IterativeWrite,
    FileStoreHDF5Single,
    FileStoreHDF5SingleIterativeWrite,
    FileStoreIterativeWrite,
    FileStorePluginBase,
    FileStoreTIFF,
    FileStoreTIFFIterativeWrite,
    new_short_uid,
)
from ._path_provider import VFSPathProvider
from ._plugins import (
    HDF5PluginWithVFS,
    HDF5StreamPluginWithVFS,
    TIFFPluginWithVFS,
    TIFFStreamPluginWithVFS,
)
from ._stream import FileStoreHDF5Stream, FileStoreTIFFStream, StreamingFlyerMixin
from ._templates import PathPlan, PathTemplates
from ._trigger import SingleTrigger

__all__ = [
    "FileStoreBase",
    "FileStoreHDF5",
    "FileStoreHDF5IterativeWrite",
    "FileStoreHDF5Single",
    "FileStoreHDF5Stream",
    "FileStoreHDF5SingleIterativeWrite",
    "FileStoreIterativeWrite",
    "FileStorePluginBase",
    "FileStoreTIFF",
    "FileStoreTIFFIterativeWrite",
    "FileStoreTIFFStream",
    "HDF5PluginWithVFS",
    "HDF5StreamPluginWithVFS",
    "PathPlan",
    "PathTemplates",
    "SingleTrigger",
    "StreamingFlyerMixin",
    "TIFFPluginWithVFS",
    "TIFFStreamPluginWithVFS",
    "VFSPathProvider",
    "new_short_uid",
]
