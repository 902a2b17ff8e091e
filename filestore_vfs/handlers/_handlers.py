"""Handlers for the specs the mixins emit, resolving paths through the reading machine's VFS.

Same constructor and call signatures as area-detector-handlers, and the same return shape
``(frame_per_point, y, x)``, but plain numpy arrays (no dask graph per datum), files opened
once per resource and kept open until :meth:`close`.
"""

from __future__ import annotations

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
    cache: ClassVar[str | None] = None

    def _vfs(self) -> VirtualFileSystem:
        return type(self).vfs or default_vfs()

    def close(self) -> None:
        """Release open files (Filler calls this when it is done with the resource)."""

    def __enter__(self) -> HandlerBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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

    def _open(self) -> Any:
        if self._dataset is None:
            import h5py

            self._raw = self._location.open(self.cache)
            try:
                self._file = h5py.File(self._raw, "r")
            except OSError as exc:
                self.close()
                raise MissingFileError(
                    f"{self._location.describe()} is not a readable HDF5 file "
                    f"(truncated or still being written?): {exc}"
                ) from exc
            if DATASET not in self._file:
                self.close()
                raise MissingFileError(f"{self._location.describe()} has no dataset {DATASET}")
            self._dataset = self._file[DATASET]
        return self._dataset

    def __call__(self, point_number: int) -> np.ndarray:
        dataset = self._open()
        frames = _frames(point_number, self._fpp)
        if frames.stop > dataset.shape[0]:
            raise MissingFileError(
                f"point {point_number} needs frames {frames.start}..{frames.stop - 1} but "
                f"{self._location.describe()} holds {dataset.shape[0]}"
            )
        return dataset[frames.start : frames.stop]

    def get_file_list(self, datum_kwargs: Any) -> list[str]:
        return [self._location.local or self._location.logical or self._location.given]

    def close(self) -> None:
        for obj in (self._file, self._raw):
            if obj is not None:
                obj.close()
        self._file = self._raw = self._dataset = None


class _PerFrameFiles(HandlerBase):
    """One file per frame named ``template % (directory/, filename, j)``."""

    def __init__(self, fpath: str, template: str, filename: str, frame_per_point: int = 1) -> None:
        self._directory = locate(fpath, self._vfs())
        self._template = template
        self._filename = filename
        self._fpp = int(frame_per_point)

    def _location(self, j: int) -> Location:
        name = self._template % ("", self._filename, j)
        return self._directory.child(name)

    def __call__(self, point_number: int) -> np.ndarray:
        return np.stack(
            [self._read(self._location(j), j) for j in _frames(point_number, self._fpp)]
        )

    def _read(self, location: Location, j: int) -> np.ndarray:
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

    def _read(self, location: Location, j: int) -> np.ndarray:
        import tifffile

        try:
            with location.open(self.cache) as f:
                return tifffile.imread(f)
        except MissingFileError:
            raise MissingFileError(
                f"frame {j} of the TIFF sequence is missing: {location.describe()} "
                "(a gap in the sequence)"
            ) from None


class AreaDetectorHDF5SingleHandler(_PerFrameFiles):
    """``AD_HDF5_SINGLE``: one HDF5 file per frame, each with ``/entry/data/data``."""

    specs = {"AD_HDF5_SINGLE"}

    def _read(self, location: Location, j: int) -> np.ndarray:
        import h5py

        with location.open(self.cache) as f, h5py.File(f, "r") as h5:
            if DATASET not in h5:
                raise MissingFileError(f"{location.describe()} has no dataset {DATASET}")
            data = h5[DATASET][()]
        return data[0] if data.ndim == 3 and data.shape[0] == 1 else data
