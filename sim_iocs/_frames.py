"""Deterministic frames, so that any reader can check every pixel it gets back.

Frame ``k`` (0-based: the value of ``cam1:ArrayCounter`` before the frame) has
``pixel[y, x] = (k + x + 2*y) % 2**bits`` for integer data types; signed types hold the
same bit pattern (two's complement).  Float32/Float64 frames hold the same integer
values as floats, i.e. ``float((k + x + 2*y) % 2**32)``, which Float32 represents exactly
while the value stays below ``2**24``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["AD_DATA_TYPES", "expected_frame", "make_frame"]

#: ``NDDataType_t`` in enum order, as ``cam1:DataType`` lists it, with the numpy dtype.
AD_DATA_TYPES: tuple[tuple[str, np.dtype], ...] = tuple(
    (name, np.dtype(name.lower()))
    for name in (
        "Int8",
        "UInt8",
        "Int16",
        "UInt16",
        "Int32",
        "UInt32",
        "Int64",
        "UInt64",
        "Float32",
        "Float64",
    )
)

_FLOAT_MODULUS = 2**32


@lru_cache(maxsize=16)
def _base(height: int, width: int, dtype: np.dtype) -> np.ndarray:
    """``x + 2*y`` in the target dtype (wrapped), cached: adding ``k`` is then one pass."""
    y, x = np.indices((height, width), dtype=np.uint64)
    base = x + np.uint64(2) * y
    if dtype.kind == "f":
        return (base % np.uint64(_FLOAT_MODULUS)).astype(dtype)
    out = base.astype(dtype, casting="unsafe")
    out.setflags(write=False)
    return out


def make_frame(k: int, height: int, width: int, dtype: np.dtype | str) -> np.ndarray:
    """Frame ``k`` as a new ``(height, width)`` array of ``dtype``."""
    dtype = np.dtype(dtype)
    base = _base(height, width, dtype)
    if dtype.kind == "f":
        values = (base.astype(np.float64) + float(k % _FLOAT_MODULUS)) % _FLOAT_MODULUS
        return values.astype(dtype)
    bits = dtype.itemsize * 8
    k_wrapped = np.array(k % 2**bits, dtype=np.uint64).astype(dtype, casting="unsafe")
    return np.add(base, k_wrapped, dtype=dtype)


def expected_frame(k: int, height: int, width: int, dtype: np.dtype | str) -> np.ndarray:
    """The formula written out plainly (slow, for tests and readers): same as ``make_frame``."""
    dtype = np.dtype(dtype)
    y, x = np.indices((height, width), dtype=object)
    values = k + x + 2 * y
    if dtype.kind == "f":
        return (values % _FLOAT_MODULUS).astype(dtype)
    bits = dtype.itemsize * 8
    wrapped = values % (2**bits)
    if dtype.kind == "i":
        wrapped = (wrapped + 2 ** (bits - 1)) % (2**bits) - 2 ** (bits - 1)
    return wrapped.astype(dtype)
