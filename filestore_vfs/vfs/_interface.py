"""What :class:`~filestore_vfs.vfs.Storage` and the async API need of a VFS, as a Protocol.

``_vfs`` imports ``_storage`` and ``_aio`` to build ``vfs.storage(root)`` and ``vfs.aio``;
those two type their ``vfs`` against this Protocol instead of importing ``_vfs`` back, so
the core's imports form no circle (``tests/test_layout.py`` checks it).
"""

from __future__ import annotations

import os
from typing import IO, Any, Protocol

from ._transfer import Progress

__all__ = ["PathArg", "VFSInterface"]

PathArg = str | os.PathLike[str]


class VFSInterface(Protocol):
    """The methods of :class:`~filestore_vfs.vfs.VirtualFileSystem` that Storage and aio call."""

    def resolve(self, path: PathArg) -> Any: ...

    def open(self, path: PathArg, mode: str = "rb") -> IO[Any]: ...

    def info(self, path: PathArg) -> dict[str, Any]: ...

    def isfile(self, path: PathArg) -> bool: ...

    def find(self, path: PathArg, pattern: str = "*") -> list[str]: ...

    def remove(self, path: PathArg) -> None: ...

    def copy(self, src: PathArg, dst: PathArg) -> None: ...

    def get_file(self, path: PathArg, local: PathArg, progress: Progress = None) -> str: ...

    def put_file(self, local: PathArg, path: PathArg, progress: Progress = None) -> None: ...

    def check_size(self, path: PathArg, size: int | None) -> None: ...
