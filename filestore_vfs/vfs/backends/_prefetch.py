"""Strided read-ahead for ranged readers: the next chunk travels while the caller works.

h5py reads a dataset one chunk per frame, and each chunk read waits for its own round trip;
between two reads h5py works (selections, copies) while the connection idles, so remote
frames cost the transport's time *plus* h5py's. Frames are read in order, or every n-th
(previews, spread samples), so the next chunk is usually one *stride* past this one: n
chunks, plus now and then an HDF5 B-tree node of a few KiB written between two chunks.

:class:`StridePrefetch` watches the offsets of a reader's large reads. Once a stride has
been seen twice among the last four, it *sends* the request for the range one stride ahead
(with :data:`SLACK` bytes more, so a B-tree node in between still lands inside it) on a
connection of its own, and returns: the server answers while the caller works, and the
answer waits in the socket's buffer. The next read that falls inside it receives it from
there; one that does not makes its own request, and the request sent ahead is dropped with
its connection. No thread is involved (a thread would need the GIL that h5py holds while it
works), and random access costs at most one unused request on the side, never a wait.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any, Protocol

__all__ = ["SLACK", "AheadTransport", "StridePrefetch"]

#: Bytes asked for past the predicted read: room for HDF5 metadata written between chunks.
SLACK = 8 << 10

#: Offsets remembered (strides compared: one fewer).
HISTORY = 5


class AheadTransport(Protocol):
    """How a root sends a ranged request now and receives its answer later."""

    def start(self, offset: int, length: int) -> Any | None:
        """Send a request for ``[offset, offset + length)``; a handle, or ``None`` (not sent)."""

    def finish(self, handle: Any, skip: int, view: memoryview) -> bool:
        """Receive the answer of ``handle``: its bytes from ``skip`` on fill ``view``.
        ``False`` if it could not (any error): the reader then asks for itself."""

    def abandon(self, handle: Any) -> None:
        """Drop a request whose answer will not be read (close its connection)."""


class StridePrefetch:
    """One reader's read-ahead: :meth:`take` before a large read, :meth:`record` after it.

    ``size`` is the object's size: nothing past it is asked for.
    """

    def __init__(self, transport: AheadTransport, size: int) -> None:
        self._transport = transport
        self._size = size
        self._offsets: deque[int] = deque(maxlen=HISTORY)
        self._pending: tuple[int, int, Any] | None = None  # (offset, length, handle)
        self.hits = 0  # reads served by a request sent ahead
        self.misses = 0  # requests sent ahead and dropped (the read went elsewhere, or failed)

    def take(self, offset: int, view: memoryview) -> bool:
        """Fill ``view`` (the bytes at ``offset``) from the request sent ahead if it holds
        them all; ``False``: the caller makes its own request."""
        pending, self._pending = self._pending, None
        if pending is None:
            return False
        start_at, length, handle = pending
        skip = offset - start_at
        if skip < 0 or skip + len(view) > length:
            self.misses += 1
            self._transport.abandon(handle)
            return False
        if not self._transport.finish(handle, skip, view):
            self.misses += 1
            return False
        self.hits += 1
        return True

    def record(self, offset: int, length: int) -> int:
        """Note a large read at ``offset``; send the request one stride ahead when the
        strides agree. The answer is the bytes asked for (0: nothing sent)."""
        self._offsets.append(offset)
        stride = self._stride()
        if stride is None:
            return 0
        ahead = offset + stride
        if ahead < 0 or ahead >= self._size:
            return 0
        length = min(length + SLACK, self._size - ahead)
        handle = self._transport.start(ahead, length)
        if handle is None:
            return 0
        self._pending = (ahead, length, handle)
        return length

    def _stride(self) -> int | None:
        """The stride seen most often among the recent reads, if seen at least twice (ties:
        the latest); ``None`` while the reads show no pattern."""
        offsets = list(self._offsets)
        strides = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
        counts = Counter(s for s in strides if s)
        if not counts:
            return None
        best = max(counts.values())
        if best < 2:
            return None
        return next(s for s in reversed(strides) if counts[s] == best)

    def close(self) -> None:
        """Drop the request in flight, if any."""
        if self._pending is not None:
            self._transport.abandon(self._pending[2])
            self._pending = None
