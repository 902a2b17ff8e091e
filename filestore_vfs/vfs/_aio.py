"""The async API: pyobs' ``open_file`` and coroutine twins of the sync helpers.

Every blocking call runs in a worker thread (``asyncio.to_thread``), so the event loop never
waits on a disk or a network.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from typing import Any

from ._interface import VFSInterface

__all__ = ["AsyncFile", "AsyncVFS"]

#: The sync methods that ``vfs.aio`` offers as coroutines.
ASYNC_METHODS = (
    "copy",
    "exists",
    "find",
    "get_file",
    "info",
    "isdir",
    "isfile",
    "ls",
    "makedirs",
    "move",
    "put_file",
    "read_array",
    "read_bytes",
    "read_csv",
    "read_text",
    "read_yaml",
    "remove",
    "rmdir",
    "write_array",
    "write_bytes",
    "write_csv",
    "write_text",
    "write_yaml",
)


class AsyncFile:
    """``async with vfs.open_file(path, mode) as f``: ``await f.read(n)``, ``await f.write(b)``.

    Leaving the block by an exception discards a write, as in the sync API.
    """

    def __init__(self, vfs: VFSInterface, path: str | os.PathLike[str], mode: str) -> None:
        self._vfs = vfs
        self._path = path
        self._mode = mode
        self._file: Any = None

    async def __aenter__(self) -> AsyncFile:
        self._file = await asyncio.to_thread(self._vfs.open, self._path, self._mode)
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None and hasattr(self._file, "abort"):
            await asyncio.to_thread(self._file.abort)
        else:
            await self.close()

    async def read(self, n: int = -1) -> Any:
        return await asyncio.to_thread(self._file.read, n)

    async def write(self, data: Any) -> int:
        return await asyncio.to_thread(self._file.write, data)

    async def close(self) -> None:
        if self._file is not None:
            await asyncio.to_thread(self._file.close)


class AsyncVFS:
    """Coroutine twins of :class:`VirtualFileSystem`'s helpers: ``await vfs.aio.exists(p)``."""

    def __init__(self, vfs: VFSInterface) -> None:
        self._vfs = vfs
        for name in ASYNC_METHODS:
            setattr(self, name, _twin(getattr(vfs, name)))

    def open_file(self, path: str | os.PathLike[str], mode: str = "r") -> AsyncFile:
        return AsyncFile(self._vfs, path, mode)


def _twin(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def coroutine(*args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(method, *args, **kwargs)

    return coroutine
