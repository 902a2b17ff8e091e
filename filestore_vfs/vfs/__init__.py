"""``filestore_vfs.vfs``: the virtual file system (roots, config, rules, ``vfs://``)."""

from ._aio import AsyncFile, AsyncVFS
from ._cache import cache_directory, cached_file
from ._config import load_config_source
from ._default import default_config_path, default_vfs
from ._errors import (
    BackendUnavailableError,
    ConfigError,
    FileBusyError,
    FileTooLargeError,
    InvalidPathError,
    PathEscapeError,
    ReadOnlyRootError,
    UnknownRootError,
    VFSError,
)
from ._paths import (
    LEGACY_PATHS_KEY,
    LogicalPath,
    URITarget,
    check_legacy_path,
    logical_from_uri,
    split_logical,
)
from ._protocol import VFSFileSystem
from ._registry import get_root_class, known_root_classes, register_root_class
from ._root import SECRET_OPTION, Root
from ._storage import Storage
from ._vfs import Resolved, VirtualFileSystem
from ._writer import WriterView, guess_semantics
from .backends import FsspecRoot
from .backends.archive import ArchiveFile
from .backends.fsspec_file import FsspecFile
from .backends.local import LocalFile, TempFile
from .backends.memory import MemoryFile

__all__ = [
    "ArchiveFile",
    "AsyncFile",
    "AsyncVFS",
    "BackendUnavailableError",
    "ConfigError",
    "FileBusyError",
    "FileTooLargeError",
    "FsspecFile",
    "FsspecRoot",
    "InvalidPathError",
    "LEGACY_PATHS_KEY",
    "LocalFile",
    "LogicalPath",
    "MemoryFile",
    "PathEscapeError",
    "ReadOnlyRootError",
    "Resolved",
    "Root",
    "SECRET_OPTION",
    "Storage",
    "TempFile",
    "URITarget",
    "UnknownRootError",
    "VFSError",
    "VFSFileSystem",
    "VirtualFileSystem",
    "WriterView",
    "cache_directory",
    "cached_file",
    "check_legacy_path",
    "default_config_path",
    "default_vfs",
    "get_root_class",
    "guess_semantics",
    "known_root_classes",
    "load_config_source",
    "logical_from_uri",
    "register_root_class",
    "split_logical",
]


def __getattr__(name: str) -> object:
    """Root classes with optional dependencies load on first access (``vfs.HttpFile``)."""
    if name in known_root_classes():
        return get_root_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
