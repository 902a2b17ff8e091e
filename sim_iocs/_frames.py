"""Deterministic frames, so that any reader can check every pixel it gets back.

Frame ``k`` (0-based: the value of ``cam1:ArrayCounter`` before the frame) has
``pixel[y, x] = (k + x + 2*y) % 2**bits`` for integer data types; signed types hold the
same bit pattern (two's complement).  Float32/Float64 frames hold the same integer
values as floats, i.e. ``float((k + x + 2*y) % 2**32)``, which Float32 represents exactly
while the value stays below ``2**24``.

``cam1:SimMode = Peaks`` (ADSimDetector's name; LinearRamp, the formula above, stays the
default and every other mode falls back to it) gives frames worth looking at, with the
same guarantees: integers only, every pixel checkable by :func:`expected_frame`.  For a
``width`` x ``height`` frame ``k``, with ``c = min(width, height)``:

* a faint texture ``100 + (k + x + 2*y) % 64`` (the ramp, folded: frame ``k`` still shows);
* a ring, ``+ 800`` where ``|d2 - R*R| <= 2*R*T``, ``d2`` the squared distance to the centre
  ``(width // 2, height // 2)``, ``R = 3*c // 8``, ``T = max(1, c // 64)``;
* a spot that moves with ``k``, ``+ 3000 * max(0, r*r - s2) // (r*r)``, ``s2`` the squared
  distance to ``(m + tri(k*max(1, width // 13), width - 2*m), m + tri(k*max(1, height // 17),
  height - 2*m))`` with ``r = max(2, c // 10)``, ``m = r`` (kept inside the frame if it fits)
  and ``tri(t, L) = t % (2L)`` folded back (``2L - t % (2L)`` past ``L``): it bounces
  between the edges, one step per frame;
* the sum (at most 3963) shifted right to fit the type: by 4 for UInt8, 5 for Int8.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["AD_DATA_TYPES", "SIM_MODES", "expected_frame", "make_frame"]

#: ``cam1:SimMode`` in enum order; only LinearRamp (default) and Peaks have their own frames.
SIM_MODES = ("LinearRamp", "Peaks", "Sine", "Offset&Noise")

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


def make_frame(
    k: int, height: int, width: int, dtype: np.dtype | str, sim_mode: str = "LinearRamp"
) -> np.ndarray:
    """Frame ``k`` as a new ``(height, width)`` array of ``dtype`` (``sim_mode``: see above)."""
    dtype = np.dtype(dtype)
    if sim_mode == "Peaks":
        return _peaks(k, height, width, dtype)
    base = _base(height, width, dtype)
    if dtype.kind == "f":
        values = (base.astype(np.float64) + float(k % _FLOAT_MODULUS)) % _FLOAT_MODULUS
        return values.astype(dtype)
    bits = dtype.itemsize * 8
    k_wrapped = np.array(k % 2**bits, dtype=np.uint64).astype(dtype, casting="unsafe")
    return np.add(base, k_wrapped, dtype=dtype)


def expected_frame(
    k: int, height: int, width: int, dtype: np.dtype | str, sim_mode: str = "LinearRamp"
) -> np.ndarray:
    """The formula written out plainly (slow, for tests and readers): same as ``make_frame``."""
    dtype = np.dtype(dtype)
    if sim_mode == "Peaks":
        return _peaks_plain(k, height, width, dtype)
    y, x = np.indices((height, width), dtype=object)
    values = k + x + 2 * y
    if dtype.kind == "f":
        return (values % _FLOAT_MODULUS).astype(dtype)
    bits = dtype.itemsize * 8
    wrapped = values % (2**bits)
    if dtype.kind == "i":
        wrapped = (wrapped + 2 ** (bits - 1)) % (2**bits) - 2 ** (bits - 1)
    return wrapped.astype(dtype)


def _tri(t: int, length: int) -> int:
    """A triangle wave: 0 .. length and back, one unit per unit of ``t``."""
    if length <= 0:
        return 0
    t %= 2 * length
    return t if t <= length else 2 * length - t


def _peaks_geometry(k: int, height: int, width: int) -> tuple[int, int, int, int, int, int, int]:
    c = min(width, height)
    ring_r, ring_t, spot_r = 3 * c // 8, max(1, c // 64), max(2, c // 10)
    mx, my = min(spot_r, width // 2), min(spot_r, height // 2)
    sx = mx + _tri(k * max(1, width // 13), width - 2 * mx)
    sy = my + _tri(k * max(1, height // 17), height - 2 * my)
    return width // 2, height // 2, ring_r, ring_t, spot_r, sx, sy


def _peaks_shift(dtype: np.dtype) -> int:
    value_bits = dtype.itemsize * 8 - (dtype.kind == "i")
    return 0 if dtype.kind == "f" else max(0, 12 - value_bits)


def _peaks(k: int, height: int, width: int, dtype: np.dtype) -> np.ndarray:
    cx, cy, ring_r, ring_t, spot_r, sx, sy = _peaks_geometry(k, height, width)
    y, x = np.indices((height, width), dtype=np.int64)
    values = 100 + (k % 64 + x + 2 * y) % 64
    d2 = (x - cx) ** 2 + (y - cy) ** 2
    values += 800 * (np.abs(d2 - ring_r * ring_r) <= 2 * ring_r * ring_t)
    s2 = (x - sx) ** 2 + (y - sy) ** 2
    values += 3000 * np.maximum(0, spot_r * spot_r - s2) // (spot_r * spot_r)
    return (values >> _peaks_shift(dtype)).astype(dtype)


def _peaks_plain(k: int, height: int, width: int, dtype: np.dtype) -> np.ndarray:
    cx, cy, ring_r, ring_t, spot_r, sx, sy = _peaks_geometry(k, height, width)
    shift = _peaks_shift(dtype)
    out = np.empty((height, width), dtype=dtype)
    for y in range(height):
        for x in range(width):
            value = 100 + (k + x + 2 * y) % 64
            if abs((x - cx) ** 2 + (y - cy) ** 2 - ring_r**2) <= 2 * ring_r * ring_t:
                value += 800
            spot = spot_r**2 - ((x - sx) ** 2 + (y - sy) ** 2)
            value += 3000 * max(0, spot) // spot_r**2
            out[y, x] = value >> shift
    return out
