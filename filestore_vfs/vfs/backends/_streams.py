"""What every streaming reader shares: a position, a size, seeking, and bulk reads.

The readers of the network roots (:class:`~._network.ResilientReader`,
:class:`~._network.ForwardStream` and its S3 and Azure streams, HTTP's streaming ``GET``,
SMB's pipelined reads, Redis' ``GETRANGE`` chunks) are read-only, seekable
:class:`io.RawIOBase` objects. :class:`StreamReader` holds their common bookkeeping; a
subclass implements ``readinto`` and, when a seek must do more than move the position (drop
a request, drain replies), :meth:`StreamReader._move`.

Seeking follows the readers' long-standing rule, not :mod:`io`'s: a negative target clamps
to 0 (no error), and a target past the end is allowed (reads there return nothing).
"""

from __future__ import annotations

import contextlib
import io
from collections import OrderedDict
from typing import Any

from ._prefetch import AheadTransport, StridePrefetch

__all__ = [
    "DIRECT_MIN",
    "STREAM_CHUNK",
    "ChunkedStream",
    "RangedReader",
    "StreamReader",
    "read_upto",
]

#: Bytes per read of a streamed body, and per ``read`` of :meth:`StreamReader.readall`.
STREAM_CHUNK = 4 << 20


class StreamReader(io.RawIOBase):
    """A read-only, seekable raw stream at :attr:`_pos` in an object of :attr:`_size` bytes.

    ``size`` may be ``None`` when it costs a request: :meth:`_total` then asks
    :meth:`_fetch_size` once, the first time it is needed (a seek from the end, a read that
    must know where the end is).
    """

    #: Bytes per ``read`` of :meth:`readall` (a subclass or an instance may change it).
    chunk_size: int = STREAM_CHUNK

    def __init__(self, offset: int = 0, size: int | None = None) -> None:
        super().__init__()
        self._pos = max(0, int(offset))
        self._size = size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            start = 0
        elif whence == io.SEEK_CUR:
            start = self._pos
        elif whence == io.SEEK_END:
            start = self._total()
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        target = max(0, start + int(offset))
        if target != self._pos:
            self._move(target)
        return self._pos

    def _move(self, target: int) -> None:
        """Go to ``target`` (a different position); a subclass drops what the old one had open."""
        self._pos = target

    def _total(self) -> int:
        """The object's size, asked of the server at most once."""
        if self._size is None:
            self._size = self._fetch_size()
        return self._size

    def _fetch_size(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must know its size or fetch it")

    def _remaining(self) -> int:
        """Bytes from the position to the end (0 past the end)."""
        return max(0, self._total() - self._pos)

    def readall(self) -> bytes:
        """The rest, read :attr:`chunk_size` at a time (io's default reads 8 KiB at a time)."""
        parts = []
        while chunk := self.read(self.chunk_size):
            parts.append(chunk)
        return b"".join(parts)


class ChunkedStream(StreamReader):
    """A reader that receives the object as a sequence of chunks (replies, response parts).

    A subclass implements :meth:`_next_chunk`, which puts the next chunk in :attr:`_buf`;
    ``read`` and ``readinto`` hand it out, without copying it into intermediate bytes.
    """

    _buf: memoryview = memoryview(b"")

    def _move(self, target: int) -> None:
        """The chunk in hand is for the old position: drop it."""
        self._buf = memoryview(b"")
        self._pos = target

    def _next_chunk(self) -> bool:
        """Receive the next chunk into :attr:`_buf`; ``False`` at the end of the stream."""
        raise NotImplementedError(f"{type(self).__name__} must implement _next_chunk")

    def _take(self, most: int | None = None) -> memoryview:
        """Up to ``most`` bytes (``None``: all) of the current chunk, receiving the next one
        if it is used up; empty at the end of the stream."""
        if not self._buf and not self._next_chunk():
            return memoryview(b"")
        piece = self._buf if most is None else self._buf[:most]
        self._buf = self._buf[len(piece) :]
        self._pos += len(piece)
        return piece

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        got = 0
        while got < len(view) and (piece := self._take(len(view) - got)):
            view[got : got + len(piece)] = piece
            got += len(piece)
        return got

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        parts: list[memoryview] = []
        got = 0
        while got < size and (piece := self._take(size - got)):
            parts.append(piece)
            got += len(piece)
        return b"".join(parts)

    def readall(self) -> bytes:
        parts = []
        while piece := self._take():
            parts.append(piece)
        return b"".join(parts)


#: A read of at least this many bytes is one ranged request straight into the caller's buffer
#: (an HDF5 chunk, a frame); smaller ones (HDF5's headers and B-tree nodes) come from blocks.
DIRECT_MIN = 64 << 10


class RangedReader(StreamReader):
    """Random access by ranged requests: what ``cache="blocks"`` means on a network root.

    A read of at least :data:`DIRECT_MIN` bytes is **one** request for exactly those bytes,
    received straight into the caller's buffer (``readinto``: h5py hands its chunk buffer);
    its bytes are not kept. A smaller read is served from an LRU of ``block_size``-aligned
    blocks (at most ``max_blocks``), fetched on a miss: h5py's metadata (superblock,
    object headers, B-tree nodes) is many tiny reads close together. So reading an HDF5
    chunk costs one round trip and its own bytes, whatever its alignment against the
    blocks, and a file's metadata costs a few block requests.

    With ``ahead`` (a root that can send a request now and read its answer later), large
    reads that move by a steady stride have the next one asked for before it is needed
    (:class:`~._prefetch.StridePrefetch`).

    A subclass implements :meth:`_fetch_into` (one ranged request) and knows the size.
    """

    def __init__(
        self,
        offset: int = 0,
        size: int | None = None,
        *,
        block_size: int,
        max_blocks: int = 32,
        ahead: AheadTransport | None = None,
        blocks: OrderedDict[int, bytes] | None = None,
    ) -> None:
        super().__init__(offset, size)
        self.block_size = max(1, int(block_size))
        self.max_blocks = max(1, int(max_blocks))
        # ``blocks`` may be shared by the readers of one unchanged file (see HttpFile)
        self._blocks: OrderedDict[int, bytes] = OrderedDict() if blocks is None else blocks
        self.requests = 0  # ranged requests made, read-ahead included (benchmarks, tests)
        self.fetched = 0  # bytes they asked for
        self._ahead: StridePrefetch | None = None
        if ahead is not None and size is not None:
            self._ahead = StridePrefetch(ahead, size)

    def _fetch_into(self, offset: int, view: memoryview) -> int:
        """Fill ``view`` with the bytes at ``offset`` in one request; fewer only at the end."""
        raise NotImplementedError(f"{type(self).__name__} must implement _fetch_into")

    def _fetch(self, offset: int, view: memoryview) -> int:
        got = self._fetch_into(offset, view)
        self.requests += 1
        self.fetched += got
        return got

    def _block(self, index: int) -> bytes:
        block = self._blocks.get(index)
        if block is not None:
            with contextlib.suppress(KeyError):  # another reader's thread may drop it
                self._blocks.move_to_end(index)
            return block
        start = index * self.block_size
        buffer = bytearray(min(self.block_size, max(0, self._total() - start)))
        got = self._fetch(start, memoryview(buffer))
        block = bytes(buffer[:got]) if got < len(buffer) else bytes(buffer)
        self._blocks[index] = block
        while len(self._blocks) > self.max_blocks:
            with contextlib.suppress(KeyError):
                self._blocks.popitem(last=False)
        return block

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        size = min(len(view), self._remaining())
        if size <= 0:
            return 0
        if size >= DIRECT_MIN:
            got = self._direct(view[:size])
        else:
            got = 0
            while got < size:
                pos = self._pos + got
                block = self._block(pos // self.block_size)
                start = pos % self.block_size
                piece = block[start : start + size - got]
                if not piece:
                    break
                view[got : got + len(piece)] = piece
                got += len(piece)
        self._pos += got
        return got

    def _direct(self, view: memoryview) -> int:
        """One large read: from the request sent ahead when it holds it, else its own
        request; then (if read-ahead is on) the request for the next one goes out."""
        ahead = self._ahead
        if ahead is None:
            return self._fetch(self._pos, view)
        got = len(view) if ahead.take(self._pos, view) else self._fetch(self._pos, view)
        asked = ahead.record(self._pos, len(view))
        if asked:
            self.requests += 1
            self.fetched += asked
        return got

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.close()
        super().close()

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        buffer = bytearray(min(size, self._remaining()))
        got = self.readinto(buffer)
        return bytes(buffer) if got == len(buffer) else bytes(buffer[:got])


async def read_upto(body: Any, size: int) -> bytes:
    """Up to ``size`` bytes of an async body (``await body.read(n)``: aiohttp's content,
    aiobotocore's streamed body), fewer only at its end, in one hop to the event loop."""
    parts = []
    got = 0
    while got < size:
        chunk = await body.read(size - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)
