"""Handlers for the specs the mixins emit, resolving paths through the reading machine's VFS.

Same constructor and call signatures as area-detector-handlers, and the same return shape
``(frame_per_point, y, x)``, but plain numpy arrays (no dask graph per datum), files opened
once per resource and kept open until :meth:`close`.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np

from ..vfs import VirtualFileSystem, default_vfs
from ._locate import Location, MissingFileError, locate

__all__ = [
    "AreaDetectorHDF5Handler",
    "AreaDetectorHDF5SingleHandler",
    "AreaDetectorTiffHandler",
    "HandlerBase",
]

DATASET = "/entry/data/data"


class HandlerBase:
    """Binds a handler to a VFS: the class attribute, else :func:`default_vfs`."""

    specs: ClassVar[set[str]] = set()
    vfs: ClassVar[VirtualFileSystem | None] = None
    #: How network roots buffer reads (see ``VirtualFileSystem.open``).
    #: A handler reads every frame of its resource, so a network root's file is fetched whole
    #: once (``file``): over loopback HTTP that filled 0.20× of a local root's rate cold and
    #: 1.0× warm, against 0.12× for ranged blocks (benchmarks/bench_handlers.py). Local roots
    #: ignore it.
    cache: ClassVar[str | None] = "file"

    def _vfs(self) -> VirtualFileSystem:
        return type(self).vfs or default_vfs()

    def close(self) -> None:
        """Release open files (Filler calls this when it is done with the resource)."""

    def __enter__(self) -> HandlerBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _NoDatasetError(MissingFileError):
    """The file is there but lacks the dataset (not a gap in a sequence)."""


def _frames(point_number: int, fpp: int) -> range:
    return range(int(point_number * fpp), int((point_number + 1) * fpp))


class AreaDetectorHDF5Handler(HandlerBase):
    """``AD_HDF5``: frames stacked in ``/entry/data/data`` of one file."""

    specs = {"AD_HDF5"}

    def __init__(self, filename: str, frame_per_point: int = 1) -> None:
        self._location = locate(filename, self._vfs())
        self._fpp = int(frame_per_point)
        self._raw: Any = None
        self._file: Any = None
        self._dataset: Any = None
        self._length = 0

    def _open(self) -> Any:
        if self._dataset is None:
            self._file = self._open_file()
            if DATASET not in self._file:
                self.close()
                raise MissingFileError(f"{self._location.describe()} has no dataset {DATASET}")
            self._dataset = self._open_dataset(self._file)
            self._length = int(self._dataset.shape[0])
        return self._dataset

    def _open_dataset(self, h5: Any) -> Any:
        """The dataset; with a one-chunk cache when a chunk spans several points (the IOC's
        ``NumFramesChunks`` > frames per point), so consecutive points read a chunk once."""
        import h5py

        dataset = h5[DATASET]
        chunks = dataset.chunks
        if not chunks or chunks[0] <= self._fpp:
            return dataset
        nbytes = int(np.prod(chunks)) * dataset.dtype.itemsize
        access = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
        access.set_chunk_cache(521, max(2 * nbytes, 1 << 20), 0.75)
        return h5py.Dataset(h5py.h5d.open(h5.id, DATASET.encode(), access))

    def _open_file(self) -> Any:
        """h5py reads through a Python file object, also for a local file: a native open
        shares HDF5's per-process file state, so a second native open of the same file with
        other flags (tiled's ``swmr=True`` in the same server) would fail, either way round."""
        import h5py

        self._raw = self._location.open(self.cache)
        try:
            # No chunk cache by default: each frame is read once, and copying every chunk
            # through HDF5's cache halves the frame rate (see _open_dataset for the exception).
            return h5py.File(self._raw, "r", rdcc_nbytes=0)
        except OSError as exc:
            self.close()
            raise MissingFileError(
                f"{self._location.describe()} is not a readable HDF5 file "
                f"(truncated or still being written?): {exc}"
            ) from exc

    def __call__(self, point_number: int) -> np.ndarray:
        dataset = self._open()
        frames = _frames(point_number, self._fpp)
        if frames.stop > self._length:  # the length is read once; a growing file is re-read
            self._length = int(dataset.shape[0])
        if frames.stop > self._length:
            raise MissingFileError(
                f"point {point_number} needs frames {frames.start}..{frames.stop - 1} but "
                f"{self._location.describe()} holds {self._length}"
            )
        return dataset[frames.start : frames.stop]

    def get_file_list(self, datum_kwargs: Any) -> list[str]:
        return [self._location.local or self._location.logical or self._location.given]

    def close(self) -> None:
        for obj in (self._file, self._raw):
            if obj is not None:
                obj.close()
        self._file = self._raw = self._dataset = None


class _Prefetcher:
    """Whole files fetched ahead, on a few threads, while the caller asks for consecutive ones.

    ``get(j)`` returns file ``j``'s bytes. When ``j`` follows the file asked for before,
    files ``j+1 .. j+depth`` are requested at once (at most ``depth`` waiting: memory is
    ``depth`` files), so the next datums find theirs already here; a jump cancels what was
    fetched ahead and starts again from there. A fetch's error is raised by the ``get`` of
    the file that needs it (a file past the end of the run, never asked for, is no error).
    :meth:`close` cancels what has not started and waits for the requests in flight, so no
    thread outlives the handler.
    """

    def __init__(self, fetch: Callable[[int], bytes], depth: int = 4, workers: int = 4) -> None:
        self._fetch = fetch
        self._depth = depth
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: dict[int, Future[bytes]] = {}
        self._last: int | None = None
        self._lock = threading.Lock()
        self._closed = False

    def get(self, j: int) -> bytes:
        with self._lock:
            future = self._ahead.pop(j, None)
            if future is not None or j == (None if self._last is None else self._last + 1):
                self._schedule(j)
            else:
                self._cancel()
            self._last = j
        if future is None:
            return self._fetch(j)
        return future.result()

    def _schedule(self, j: int) -> None:
        wanted = range(j + 1, j + 1 + self._depth)
        for k in [k for k in self._ahead if k not in wanted]:
            self._ahead.pop(k).cancel()
        if self._closed or not wanted:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="vfs-prefetch")
        for k in wanted:
            if k not in self._ahead:
                self._ahead[k] = self._pool.submit(self._fetch, k)

    def _cancel(self) -> None:
        for future in self._ahead.values():
            future.cancel()
        self._ahead.clear()

    def close(self, wait: bool = True) -> None:
        """Cancel what has not started; with ``wait``, also wait for the requests in flight
        (``False`` from a finalizer: the threads end when those return)."""
        with self._lock:
            self._closed = True
            self._cancel()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)


def _weak_fetch(handler: _PerFrameFiles) -> Callable[[int], bytes]:
    """``handler._remote_bytes`` without a reference to the handler (the prefetcher's
    threads must not keep it alive)."""
    method = weakref.WeakMethod(handler._remote_bytes)

    def fetch(j: int) -> bytes:
        bound = method()
        if bound is None:
            raise MissingFileError("the handler was closed")
        return bound(j)

    return fetch


class _PerFrameFiles(HandlerBase):
    """One file per frame named ``template % (directory/, filename, j)``.

    On a network root each file is read whole in one request (``VirtualFileSystem.read_bytes``)
    and, while the datums asked for are consecutive, the next :attr:`prefetch` files are
    fetched concurrently on as many threads (memory: that many files); ``cache`` does not
    apply to them.
    """

    #: What the files hold, for messages.
    kind: ClassVar[str] = "file"
    #: Files fetched ahead on a network root (0: none).
    prefetch: ClassVar[int] = 4

    def __init__(self, fpath: str, template: str, filename: str, frame_per_point: int = 1) -> None:
        self._directory = locate(fpath, self._vfs())
        self._template = template
        self._filename = filename
        self._fpp = int(frame_per_point)
        self._ahead: _Prefetcher | None = None
        if self._directory.local is None and self._directory.logical is not None:
            depth = max(0, int(self.prefetch))
            self._ahead = _Prefetcher(_weak_fetch(self), depth=depth, workers=depth)
            # Filler drops handlers without closing them: the threads end with the handler
            weakref.finalize(self, self._ahead.close, False)

    def _remote_bytes(self, j: int) -> bytes:
        location = self._location(j)
        if location.local is not None or location.logical is None:  # pragma: no cover
            with location.open() as f:
                return f.read()
        try:
            return location.vfs.read_bytes(location.logical)
        except FileNotFoundError:
            raise MissingFileError(f"{location.describe()} does not exist") from None

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.close()

    def _location(self, j: int) -> Location:
        name = self._template % ("", self._filename, j)
        return self._directory.child(name)

    def _local_file(self, j: int) -> str | None:
        """The frame's file on a local root without re-resolving the directory (resolved and
        confined once, in ``__init__``); ``None`` sends the file through :meth:`_location`,
        which checks it: a name with a separator, or a symlink (it might leave the root)."""
        if self._directory.local is None:
            return None
        name = self._template % ("", self._filename, j)
        if "/" in name or os.sep in name or name in ("", ".", ".."):
            return None
        path = os.path.join(self._directory.local, name)
        return None if os.path.islink(path) else path

    def __call__(self, point_number: int) -> np.ndarray:
        frames = [self._frame(j) for j in _frames(point_number, self._fpp)]
        return frames[0][np.newaxis] if len(frames) == 1 else np.stack(frames)

    def _frame(self, j: int) -> np.ndarray:
        local = self._local_file(j)
        try:
            if local is None and self._ahead is not None:
                return self._read(io.BytesIO(self._ahead.get(j)), j)
            return self._read(local if local is not None else self._location(j), j)
        except _NoDatasetError:
            raise
        except (MissingFileError, FileNotFoundError):
            where = self._location(j).describe()
            raise MissingFileError(
                f"frame {j} of the {self.kind} sequence is missing: {where} (a gap in the sequence)"
            ) from None

    def _read(self, source: Location | str | io.BytesIO, j: int) -> np.ndarray:
        """One frame from a local path (opened by the library), a VFS location, or the
        file's bytes (a network root's file, read whole)."""
        raise NotImplementedError

    def get_file_list(self, datum_kwargs: Any) -> list[str]:
        out = []
        for kwargs in datum_kwargs:
            for j in _frames(kwargs["point_number"], self._fpp):
                loc = self._location(j)
                out.append(loc.local or loc.logical or loc.given)
        return out


class AreaDetectorTiffHandler(_PerFrameFiles):
    """``AD_TIFF``: one TIFF file per frame."""

    specs = {"AD_TIFF"}
    kind = "TIFF"

    def _read(self, source: Location | str | io.BytesIO, j: int) -> np.ndarray:
        if isinstance(source, str | io.BytesIO):
            return _read_tiff(source)
        with source.open(self.cache) as f:
            return _read_tiff(f)


def _read_tiff(source: Any) -> np.ndarray:
    """What ``tifffile.imread`` returns, a third faster for the one-page files of AD_TIFF:
    ``imread`` sets up a series and a thread pool per call, ``pages.first`` reads directly."""
    import tifffile

    with tifffile.TiffFile(source) as tif:
        if len(tif.pages) == 1:
            return tif.pages.first.asarray()
        return tif.asarray()


class AreaDetectorHDF5SingleHandler(_PerFrameFiles):
    """``AD_HDF5_SINGLE``: one HDF5 file per frame, each with ``/entry/data/data``."""

    specs = {"AD_HDF5_SINGLE"}
    kind = "HDF5"

    def _read(self, source: Location | str | io.BytesIO, j: int) -> np.ndarray:
        import h5py

        with contextlib.ExitStack() as stack:
            # a file object, never a native open (see AreaDetectorHDF5Handler._open_file)
            if isinstance(source, str):
                raw = stack.enter_context(open(source, "rb"))  # noqa: SIM115
            elif isinstance(source, io.BytesIO):
                raw = source
            else:
                raw = stack.enter_context(source.open(self.cache))
            h5 = stack.enter_context(h5py.File(raw, "r"))
            if DATASET not in h5:
                where = source if isinstance(source, str) else self._location(j).describe()
                raise _NoDatasetError(f"{where} has no dataset {DATASET}")
            data = h5[DATASET][()]
        return data[0] if data.ndim == 3 and data.shape[0] == 1 else data
