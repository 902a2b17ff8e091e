"""Arrays by suffix: ``.npy``, ``.tif``/``.tiff`` and HDF5 (``.h5``, ``.hdf5``, ``.hdf``).

numpy, tifffile and h5py are imported here, on first use, not when the package is imported.
"""

from __future__ import annotations

import io
from typing import IO, Any

__all__ = ["read_array", "encode_array"]


def _kind(path: str) -> str:
    lower = path.lower()
    for suffixes, kind in (
        ((".npy",), "npy"),
        ((".tif", ".tiff"), "tiff"),
        ((".h5", ".hdf5", ".hdf", ".nxs"), "hdf5"),
    ):
        if lower.endswith(suffixes):
            return kind
    raise ValueError(f"{path}: read_array/write_array know .npy, .tif/.tiff and .h5/.hdf5 files")


def read_array(f: IO[bytes], path: str, dataset: str) -> Any:
    kind = _kind(path)
    if kind == "npy":
        import numpy as np

        return np.load(f, allow_pickle=False)
    if kind == "tiff":
        import tifffile

        return tifffile.imread(f)
    import h5py

    with h5py.File(f, "r") as h5:
        if dataset not in h5:
            raise KeyError(f"{path} has no dataset {dataset!r}")
        return h5[dataset][()]


def encode_array(array: Any, path: str, dataset: str) -> bytes:
    import numpy as np

    kind = _kind(path)
    buf = io.BytesIO()
    if kind == "npy":
        np.save(buf, np.asarray(array), allow_pickle=False)
    elif kind == "tiff":
        import tifffile

        tifffile.imwrite(buf, np.asarray(array))
    else:
        import h5py

        with h5py.File(buf, "w") as h5:
            h5.create_dataset(dataset, data=np.asarray(array))
    return buf.getvalue()
