"""``vfs://``: the VFS as an fsspec filesystem, so every fsspec-aware tool reads logical paths.

``fsspec.open("vfs://detector/2026/11/21/x.h5")`` resolves through :func:`default_vfs`, or
through ``config=`` (a YAML path, YAML text or a mapping) or ``instance=`` (a VFS object).
"""

from __future__ import annotations

from typing import Any

from fsspec import AbstractFileSystem

from ._default import default_vfs
from ._errors import already_exists
from ._paths import URL_PREFIX
from ._vfs import VirtualFileSystem

__all__ = ["VFSFileSystem"]


class VFSFileSystem(AbstractFileSystem):
    """fsspec filesystem over a :class:`VirtualFileSystem`; paths are ``<root>/<relative>``."""

    protocol = "vfs"
    root_marker = ""

    def __init__(
        self, config: Any = None, instance: VirtualFileSystem | None = None, **kwargs: Any
    ) -> None:
        # ``instance`` rather than ``vfs``: fsspec reads a keyword named after the protocol
        # as that protocol's options, so ``fsspec.open(url, vfs=...)`` could never work.
        super().__init__(**kwargs)
        self._fixed: VirtualFileSystem | None
        if instance is not None:
            self._fixed = instance
        elif config is None:
            self._fixed = None
            default_vfs()  # a bad default config fails here, where the user opened vfs://
        elif isinstance(config, dict):
            self._fixed = VirtualFileSystem.from_config(config)
        else:
            self._fixed = VirtualFileSystem.from_yaml(config)

    @property
    def vfs(self) -> VirtualFileSystem:
        """The VFS behind the paths. Without ``config=``/``instance=`` it is this machine's
        :func:`default_vfs` *at each call*: fsspec caches filesystem objects by their
        arguments, so one built with no arguments would otherwise keep the roots of the
        config file in force when it was first used, after ``FILESTORE_VFS_CONFIG`` changed."""
        return self._fixed if self._fixed is not None else default_vfs()

    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]  # type: ignore[return-value]
        text = str(path)
        if text.startswith(URL_PREFIX):
            text = text[len(URL_PREFIX) :]
        return text.strip("/")

    @staticmethod
    def _logical(path: str) -> str:
        return "/" + VFSFileSystem._strip_protocol(path)

    def _to_fsspec(self, entry: dict[str, Any]) -> dict[str, Any]:
        return {**entry, "name": entry["name"].lstrip("/")}

    # -- listing --------------------------------------------------------------------------
    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        stripped = self._strip_protocol(path)
        if stripped and self.vfs.isfile("/" + stripped):
            entries = [self.vfs.info("/" + stripped)]
        else:
            entries = self.vfs.ls("/" + stripped if stripped else "/", detail=True)
        out = [self._to_fsspec(e) for e in entries]
        return out if detail else [e["name"] for e in out]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        stripped = self._strip_protocol(path)
        if not stripped:
            return {"name": "", "size": 0, "type": "directory"}
        if "/" not in stripped and stripped in self.vfs.roots:
            return {"name": stripped, "size": 0, "type": "directory"}
        return self._to_fsspec(self.vfs.info("/" + stripped))

    def exists(self, path: str, **kwargs: Any) -> bool:
        stripped = self._strip_protocol(path)
        return not stripped or self.vfs.exists("/" + stripped)

    # -- files ----------------------------------------------------------------------------
    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        return self.vfs.open(self._logical(path), mode)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        src = self._logical(path1)
        if self.vfs.isdir(src):  # fsspec's recursive cp passes directories, too
            self.vfs.makedirs(self._logical(path2))
        else:
            self.vfs.copy(src, self._logical(path2))

    def mv(self, path1: Any, path2: Any, recursive: bool = False, **kwargs: Any) -> None:
        if isinstance(path1, str) and isinstance(path2, str) and not self._has_magic(path1):
            self.vfs.move(self._logical(path1), self._logical(path2))
        else:
            super().mv(path1, path2, recursive=recursive, **kwargs)

    @staticmethod
    def _has_magic(path: str) -> bool:
        return any(c in path for c in "*?[")

    def _rm(self, path: str) -> None:
        logical = self._logical(path)
        if self.vfs.isdir(logical):
            self.vfs.rmdir(logical)
        else:
            self.vfs.remove(logical)

    def rm_file(self, path: str) -> None:
        # fsspec's recursive rm calls this for the directories it expanded, too
        logical = self._logical(path)
        if self.vfs.isdir(logical):
            if self.vfs.exists(logical):
                self.vfs.rmdir(logical, recursive=True)
        else:
            self.vfs.remove(logical)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        logical = self._logical(path)
        if self.vfs.exists(logical):
            raise already_exists("already exists", logical)
        self.vfs.makedirs(logical)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        logical = self._logical(path)
        if not exist_ok and self.vfs.exists(logical):
            raise already_exists("already exists", logical)
        self.vfs.makedirs(logical)

    def rmdir(self, path: str) -> None:
        self.vfs.rmdir(self._logical(path))

    def get_file(self, rpath: str, lpath: str, callback: Any = None, **kwargs: Any) -> None:
        if self.isdir(rpath):
            import os

            os.makedirs(lpath, exist_ok=True)
            return
        self.vfs.get_file(self._logical(rpath), lpath, progress=_progress_of(callback))

    def put_file(self, lpath: str, rpath: str, callback: Any = None, **kwargs: Any) -> None:
        import os

        if os.path.isdir(lpath):
            self.makedirs(rpath, exist_ok=True)
            return
        self.vfs.put_file(lpath, self._logical(rpath), progress=_progress_of(callback))

    def created(self, path: str) -> Any:
        return self.modified(path)

    def modified(self, path: str) -> Any:
        import datetime

        mtime = self.info(path).get("mtime")
        return datetime.datetime.fromtimestamp(mtime, tz=datetime.UTC) if mtime else None

    def ukey(self, path: str) -> str:
        info = self.info(path)
        return f"{info['name']}:{info.get('size')}:{info.get('mtime')}"


def _progress_of(callback: Any) -> Any:
    """Turn an fsspec Callback into our ``(done, total, name)`` progress callable."""
    if callback is None or type(callback).__name__ == "NoOpCallback":
        return None

    def report(done: int, total: int | None, name: str) -> None:
        if total is not None:
            callback.set_size(total)
        callback.absolute_update(done)

    return report
