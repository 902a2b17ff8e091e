"""A minimal PNG writer (8- or 16-bit greyscale), so the demo needs no imaging library."""

from __future__ import annotations

import struct
import zlib
from typing import Any

__all__ = ["png_bytes"]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(frame: Any) -> bytes:
    """Encode a 2-D array as a greyscale PNG, scaled to its full range for people to see."""
    import numpy as np

    data = np.asarray(frame, dtype=np.float64)
    low, high = float(data.min()), float(data.max())
    scaled = (data - low) / (high - low or 1.0) * 65535.0
    pixels = scaled.round().astype(">u2")
    height, width = pixels.shape
    rows = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 6))
        + _chunk(b"IEND", b"")
    )
