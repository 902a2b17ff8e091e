"""``MemoryFile``: an in-process root, private to its VFS unless told to share.

fsspec's memory filesystem keeps one store per process by default, which would let two VFS
instances (or two tests) see each other's files; here every root gets its own store, and
roots that name the same ``share`` get the same one.
"""

from __future__ import annotations

import io
import threading
from typing import IO, Any

from fsspec.implementations.memory import MemoryFileSystem

from .._errors import is_a_directory, not_found
from ._fsspec import FsspecRoot

__all__ = ["MemoryFile"]

_shared: dict[str, MemoryFileSystem] = {}
_shared_lock = threading.Lock()


def _new_store() -> MemoryFileSystem:
    return MemoryFileSystem(global_store=False, skip_instance_cache=True)


class MemoryFile(FsspecRoot):
    """Files in this process's memory.

    share
        Roots (in any VFS of this process) with the same ``share`` name see the same files;
        without it the root's files are its own.
    """

    def __init__(self, *, share: str | None = None, **common: Any) -> None:
        super().__init__(**common)
        self.share = share

    def _make_fs(self) -> MemoryFileSystem:
        if self.share is None:
            return _new_store()
        with _shared_lock:
            return _shared.setdefault(self.share, _new_store())

    @property
    def base(self) -> str:
        return "/"

    def url(self, rel: str = "") -> str:
        return f"memory://{self.share or hex(id(self.fs))}/{rel}"

    def open_read(self, rel: str, cache: str | None = None) -> IO[bytes]:
        path = self.fs_path(rel)
        try:
            stored = self.fs.store[path]
        except KeyError:
            if path in self.fs.pseudo_dirs or self.fs.isdir(path):
                raise is_a_directory("is a directory") from None
            raise not_found("no such file") from None
        # A reader of its own over the stored bytes: concurrent readers never share a position.
        return io.BytesIO(stored.getvalue())
