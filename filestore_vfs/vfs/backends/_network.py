"""What every network root shares: timeouts, bounded retries, reads that survive a dropped link.

A read that fails with a transient error (connection reset, timeout) is retried with
exponential backoff, reopening the remote file at the offset already read, so a long
download resumes instead of starting over. Writes are never retried blindly: a failed write
is discarded (the old object stays) and the error is raised.
"""

from __future__ import annotations

import functools
import os
import socket
import time
from collections.abc import Callable
from typing import IO, Any, ClassVar, Literal

from .._cache import cache_directory, cached_file
from .._errors import ConfigError, is_a_directory
from .._redact import protect_logs
from .._root import Root
from ._fsspec import FsspecRoot
from ._streams import RangedReader, StreamReader

__all__ = [
    "CacheMode",
    "ForwardStream",
    "FsspecNetworkRoot",
    "NetworkRoot",
    "ResilientReader",
    "TRANSIENT_ERRORS",
    "check_cache_mode",
]

#: How a network root reads: ``blocks`` (an LRU of small blocks: h5py's many seeks),
#: ``stream`` (large read-ahead: sequential copies), ``file`` (a whole local copy first).
CacheMode = Literal["blocks", "stream", "file"]
CACHE_MODES: tuple[str, ...] = ("blocks", "stream", "file")
STREAM_BLOCK = 8 << 20


def check_cache_mode(mode: str) -> CacheMode:
    if mode not in CACHE_MODES:
        raise ConfigError(f"cache must be one of {', '.join(CACHE_MODES)}, not {mode!r}")
    return mode  # type: ignore[return-value]


#: Errors worth a retry on any backend; a root adds its own in :attr:`NetworkRoot.transient`.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, EOFError)


class NetworkRoot(Root):
    """Base of the roots that talk to a server.

    timeout
        Seconds to wait for the server on any one operation.
    cache
        How reads are buffered: ``blocks`` (default; ranged reads for random access, right
        for HDF5), ``stream`` (8 MiB read-ahead) or ``file`` (a whole-file local copy in
        ``cache_dir``, reused while the remote size and mtime are unchanged).
    block_size
        Bytes per block of the ``blocks`` cache (default :attr:`default_block_size`).
    retries
        How many times a read is retried after a transient error (0: never).
    retry_backoff
        The first retry's delay in seconds; it doubles on every retry.
    """

    #: Backend exception types that mean "try again" (besides :data:`TRANSIENT_ERRORS`).
    transient: ClassVar[tuple[type[BaseException], ...]] = ()
    #: ``block_size`` when the config gives none.
    default_block_size: ClassVar[int] = 512 * 1024

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        retry_backoff: float = 0.25,
        cache: CacheMode = "blocks",
        block_size: int | None = None,
        cache_dir: str | None = None,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        protect_logs()  # the clients this root creates log through the redactor
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.retry_backoff = float(retry_backoff)
        self.cache = check_cache_mode(cache)
        self.block_size = int(block_size or self.default_block_size)
        self._cache_dir = cache_dir

    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
            return False
        return isinstance(exc, TRANSIENT_ERRORS + self.transient)

    def retrying(self, call: Callable[[], Any]) -> Any:
        """Run ``call``; retry it on transient errors, at most :attr:`retries` times."""
        for attempt in range(self.retries + 1):
            try:
                return call()
            except Exception as exc:
                if attempt == self.retries or not self.is_transient(exc):
                    raise
                time.sleep(self.retry_backoff * 2**attempt)
        raise AssertionError("unreachable")

    def open_remote(self, rel: str, offset: int, **options: Any) -> IO[bytes]:
        """Open ``rel`` for reading at ``offset``; :meth:`open_read` retries through this.

        ``options`` are what :meth:`open_options` gives for the chosen cache mode.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement open_remote")

    def open_read(self, rel: str, cache: CacheMode | None = None) -> IO[bytes]:
        if self.isdir(rel):
            raise is_a_directory("is a directory")
        mode = check_cache_mode(cache or self.cache)
        if mode == "file":
            return open(self.cached_copy(rel), "rb")  # noqa: SIM115  # the caller closes it
        return ResilientReader(self, rel, **self.open_options(mode))

    def open_options(self, mode: CacheMode) -> dict[str, Any]:
        """fsspec ``open`` options per cache mode: small LRU blocks for h5py's seeks,
        large read-ahead for sequential copies."""
        if mode == "stream":
            return {"block_size": STREAM_BLOCK, "cache_type": "readahead"}
        return {"block_size": self.block_size, "cache_type": "blockcache"}

    @property
    def cache_dir(self) -> str:
        if self._cache_dir is None:
            self._cache_dir = cache_directory()
        return self._cache_dir

    def cached_copy(self, rel: str) -> str:
        """A whole-file local copy, reused while the remote size and mtime stay the same.

        The one cache of the VFS (:func:`filestore_vfs.vfs.cached_file`): the download goes
        to a temporary name and is renamed when complete, so a partial download never
        becomes a cache entry.
        """
        info = self.retrying(lambda: self.info(rel))
        return cached_file(
            self.url(rel),
            info.get("size"),
            info.get("mtime"),
            lambda: ResilientReader(self, rel, **self.open_options("stream")),
            cache_dir=self.cache_dir,
            suffix=os.path.splitext(rel)[1],
        )


class FsspecNetworkRoot(NetworkRoot, FsspecRoot):
    """A network root on an fsspec filesystem (HTTP, SFTP, SMB, S3, Azure)."""

    #: ``cache="blocks"`` reads an HDF5 chunk (>= 64 KiB) with one exact ranged request;
    #: blocks serve only the small metadata reads, which small blocks fetch cheapest
    #: (with 512 KiB blocks, spread HDF5 frames ran slower over HTTP and SFTP).
    default_block_size = 64 * 1024

    def open_remote(self, rel: str, offset: int, **options: Any) -> IO[bytes]:
        """``options`` are fsspec's ``block_size`` and ``cache_type`` for the cache mode.

        ``blocks`` (``cache_type="blockcache"``) opens the fsspec file without a cache and
        reads it through :class:`FileRanges`: one request per large read, whatever its
        alignment (fsspec's own block cache fetched two blocks for a chunk that straddles
        them).
        """
        if options.get("cache_type") == "blockcache":
            f = self.fs.open(self.fs_path(rel), "rb", cache_type="none")
            return FileRanges(f, offset, options.get("block_size") or self.block_size)
        f = self.fs.open(self.fs_path(rel), "rb", **options)
        if offset:
            f.seek(offset)
        return f


class FileRanges(RangedReader):
    """``cache="blocks"`` on an fsspec file opened without a cache: each fetch is one
    ``seek`` and ``read`` of it (one ranged request of the backend)."""

    def __init__(self, f: IO[bytes], offset: int, block_size: int) -> None:
        size = getattr(f, "size", None)
        super().__init__(offset, size if isinstance(size, int) else None, block_size=block_size)
        self._f = f

    def _fetch_size(self) -> int:
        return int(self._f.seek(0, os.SEEK_END))

    def _fetch_into(self, offset: int, view: memoryview) -> int:
        self._f.seek(offset)
        data = self._f.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._f.close()
        finally:
            super().close()


class ResilientReader(StreamReader):
    """A seekable reader that reopens the remote file where it was after a transient error."""

    def __init__(self, root: NetworkRoot, rel: str, **options: Any) -> None:
        super().__init__()
        self._root = root
        self._rel = rel
        self._options = options
        self.name = root.logical(rel)
        self._file: IO[bytes] | None = root.retrying(lambda: root.open_remote(rel, 0, **options))

    def seek(self, offset: int, whence: int = 0) -> int:
        """The remote file seeks (not :class:`StreamReader`): only it knows its size, and
        its own rule for a negative target stands (fsspec's files raise ``ValueError``)."""
        with self._root.translate(self.name):
            self._pos = self._current().seek(offset, whence)
        return self._pos

    def _current(self) -> IO[bytes]:
        if self._file is None:
            self._file = self._root.open_remote(self._rel, self._pos, **self._options)
        return self._file

    def _reopen_after(self, exc: BaseException) -> None:
        try:
            if self._file is not None:
                self._file.close()
        except Exception:  # noqa: BLE001  # the link is already broken
            pass
        self._file = None

    def _attempt(self, call: Callable[[IO[bytes]], Any]) -> Any:
        def once() -> Any:
            try:
                return call(self._current())
            except Exception as exc:
                if self._root.is_transient(exc):
                    self._reopen_after(exc)
                raise

        # an error that outlives the retries (a dead server) names the logical path too
        with self._root.translate(self.name):
            return self._root.retrying(once)

    def read(self, size: int = -1) -> bytes:
        data = self._attempt(lambda f: f.read(size))
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        """One ``read(-1)`` of the remote file, whose own buffering decides the requests."""
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        """Straight into ``buffer`` when the remote file can (no intermediate bytes)."""
        view = memoryview(buffer).cast("B")

        def fill(f: IO[bytes]) -> int:
            readinto = getattr(f, "readinto", None)
            if readinto is not None:
                return readinto(view) or 0
            data = f.read(len(view))
            view[: len(data)] = data
            return len(data)

        n = self._attempt(fill)
        self._pos += n
        return n

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        super().close()


class ForwardStream(StreamReader):
    """Base of the one-request sequential readers (S3, Azure): position, size and seeking.

    A subclass streams from :attr:`_pos` to the end in one request; seeking only moves the
    position and drops the request (:meth:`_drop`), so the next read starts a new one there.
    Subclasses provide :meth:`_fetch_size` (asked only for a seek from the end or at the
    first request), :meth:`_drop` and ``readinto``.
    """

    def _move(self, target: int) -> None:
        self._drop()
        self._pos = target

    def _drop(self) -> None:
        raise NotImplementedError


@functools.lru_cache
def user_timeout_sockets(timeout: float) -> Callable[[Any], socket.socket]:
    """A socket factory for aiohttp connectors: sockets whose unacknowledged data (or zero
    window) fails them after ``timeout`` (``TCP_USER_TIMEOUT``). aiohttp has no timeout while
    it sends a body, so without this an upload to a server that stopped reading never ends."""

    def make(addr_info: Any) -> socket.socket:
        family, kind, proto, _, _ = addr_info
        sock = socket.socket(family=family, type=kind, proto=proto)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(timeout * 1000))
        return sock

    return make
