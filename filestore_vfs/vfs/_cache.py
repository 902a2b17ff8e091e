"""Whole-file local copies: one cache directory, one key, one download rule.

Network roots (``cache: file``) and the tiled adapters (for roots with no local directory)
both keep whole-file copies here:

- the directory is ``cache_dir`` when one is configured, else the user cache directory
  (``platformdirs.user_cache_dir("filestore-vfs")``);
- an entry's name is a hash of the backend URL, the size and the mtime (plus the file's
  suffix, so tools that look at it still can), so a changed remote file gets a new entry and
  an unchanged one is reused;
- a download goes to a temporary name in that directory and is renamed when complete, so a
  partial download never becomes an entry.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from typing import IO

from ._paths import INTERNAL_PREFIX
from ._transfer import copy_stream

__all__ = ["cache_directory", "cached_file"]


def cache_directory(override: str | os.PathLike[str] | None = None) -> str:
    """``override`` when given, else the user cache directory of filestore-vfs."""
    if override is not None:
        return os.fspath(override)
    import platformdirs

    return platformdirs.user_cache_dir("filestore-vfs", appauthor=False)


def cached_file(
    url: str,
    size: int | None,
    mtime: object,
    open_source: Callable[[], IO[bytes]],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    suffix: str = "",
) -> str:
    """The local path of a whole-file copy of ``url``, downloading it when not cached.

    ``size`` and ``mtime`` are the remote file's (``info()``); the copy is reused while they
    are unchanged. ``open_source`` opens the remote file for reading (called only when a
    download is needed). ``suffix`` (e.g. ``".h5"``) ends the entry's name.
    """
    directory = cache_directory(cache_dir)
    token = f"{url}\0{size}\0{mtime}"
    digest = hashlib.sha256(token.encode()).hexdigest()[:32]
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, digest + suffix[:16])
    if os.path.exists(target) and os.path.getsize(target) == size:
        return target
    fd, tmp = tempfile.mkstemp(prefix=f"{INTERNAL_PREFIX}tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out, open_source() as src:
            copy_stream(src, out)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target
