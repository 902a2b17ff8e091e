"""``default_vfs()``: this machine's VFS, from ``$FILESTORE_VFS_CONFIG``, a file or defaults."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ._vfs import VirtualFileSystem

__all__ = ["default_vfs", "default_config_path"]

_cache: dict[tuple[str, float], VirtualFileSystem] = {}
_lock = threading.Lock()


def default_config_path() -> Path | None:
    """``$FILESTORE_VFS_CONFIG``, else ``~/.config/filestore_vfs/vfs.yaml`` if it exists."""
    env = os.environ.get("FILESTORE_VFS_CONFIG")
    if env:
        return Path(env).expanduser()
    user = Path("~/.config/filestore_vfs/vfs.yaml").expanduser()
    return user if user.is_file() else None


def default_vfs(*, refresh: bool = False) -> VirtualFileSystem:
    """The VFS this machine uses when none is given; rebuilt when the config file changes."""
    path = default_config_path()
    key = (str(path), path.stat().st_mtime if path and path.is_file() else 0.0)
    with _lock:
        if refresh or key not in _cache:
            _cache.clear()
            _cache[key] = VirtualFileSystem.from_yaml(path) if path else VirtualFileSystem()
        return _cache[key]
