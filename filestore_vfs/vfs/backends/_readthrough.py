"""A read-through range cache whose requests follow what a request costs on this root.

h5py reads a file as small metadata reads and one large read per chunk, mostly moving
forward. On a transport where a request is expensive against its bandwidth (S3: tens of ms
before the first byte; moto: the whole object's time, whatever the range), one request per
read is the slowest way to get them: reading *through* the gap between two reads is cheaper
than a new request whenever the gap takes less time to receive than a request takes to
answer. That is Arrow's rule for coalescing ranges (``hole_size_limit``), applied online to
reads that arrive one at a time:

* :class:`RequestCosts` measures, per root, the time to the first byte of a request and the
  bandwidth of its body (moving averages of real requests), so the break-even gap,
  ``ttfb x bandwidth``, is the server's, not a guess.
* :class:`ReadThroughRanges` keeps one ranged request open while reads move forward within
  that gap, receives the gap and keeps the most recent bytes (:data:`BEHIND`, 16 MiB), so the
  reads that step back a little (h5py reads a B-tree node, then the chunks before it) come
  from memory. A read that is not sequential is exact: a large one is one request for its
  bytes, a small one one small block (kept in a bounded LRU).

Memory stays bounded whatever the file size: :data:`BEHIND` bytes, one received piece, and
the LRU of small blocks. The bytes handed out are the server's, in order; only which request
brings them changes.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

from ._streams import DIRECT_MIN, StreamReader

__all__ = ["BEHIND", "RangeBody", "ReadThroughRanges", "RequestCosts"]

#: Bytes kept behind the open request's position, for reads that step back.
BEHIND = 16 << 20
#: Bytes received from a body per call (one hop to the transport's event loop).
PIECE = 4 << 20
#: A body read shorter than this tells little about bandwidth (its time is mostly overhead).
SAMPLE_MIN = 256 << 10


class RequestCosts:
    """What one request costs on a root: time to first byte and bandwidth, as measured.

    Both are exponentially weighted moving averages (``weight``: the share of a new sample)
    of the root's real requests; the first sample replaces the starting guess. ``weight=0``
    keeps the given costs (a link whose costs are known; tests). They change how
    :class:`ReadThroughRanges` groups reads, never which bytes it returns. Thread-safe: one
    root's readers share it.
    """

    def __init__(
        self, ttfb: float = 0.02, bandwidth: float = 100e6, *, weight: float = 0.3
    ) -> None:
        self.ttfb = float(ttfb)
        self.bandwidth = float(bandwidth)
        self.weight = float(weight)
        self.samples = {"ttfb": 0, "bandwidth": 0}
        self._lock = threading.Lock()

    def first_byte(self, seconds: float) -> None:
        """A request answered (headers received) ``seconds`` after it was sent."""
        self._update("ttfb", max(0.0, seconds))

    def transfer(self, nbytes: int, seconds: float) -> None:
        """``nbytes`` of a body arrived in ``seconds`` (short pieces are ignored)."""
        if nbytes >= SAMPLE_MIN and seconds > 0:
            self._update("bandwidth", nbytes / seconds)

    def _update(self, name: str, value: float) -> None:
        with self._lock:
            seen = self.samples[name]
            self.samples[name] = seen + 1
            if self.weight <= 0:
                return
            old = getattr(self, name)
            setattr(self, name, value if seen == 0 else old + self.weight * (value - old))

    def gap_limit(self) -> int:
        """Bytes that take as long to receive as a new request takes to answer: a forward
        gap smaller than this is read through, a larger one is a new request."""
        return max(DIRECT_MIN, int(self.ttfb * self.bandwidth))

    def __repr__(self) -> str:
        return (
            f"RequestCosts(ttfb={self.ttfb * 1000:.1f} ms, "
            f"bandwidth={self.bandwidth / 1e6:.0f} MB/s, gap_limit={self.gap_limit()})"
        )


class RangeBody(Protocol):
    """The body of one ranged request, received piece by piece."""

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; fewer only at the end of the range (or of the object)."""
        ...

    def close(self) -> None: ...


class ReadThroughRanges(StreamReader):
    """``cache="blocks"`` on a root whose requests cost far more than their bytes.

    A subclass implements :meth:`_open_range` (one ranged request, returning its body; it
    may set :attr:`_size` from the answer) and :meth:`_fetch_size`. ``costs`` is the root's
    :class:`RequestCosts`, which this reader feeds. ``requests`` and ``fetched`` count what
    it asked for (for tests and benchmarks).
    """

    def __init__(
        self,
        costs: RequestCosts,
        offset: int = 0,
        size: int | None = None,
        *,
        block_size: int = 64 << 10,
        max_blocks: int = 32,
        behind: int = BEHIND,
    ) -> None:
        super().__init__(offset, size)
        self.costs = costs
        self.block_size = max(1, int(block_size))
        self.max_blocks = max(1, int(max_blocks))
        self.behind = max(0, int(behind))
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        # the open request: its body, where it is and where it ends
        self._body: RangeBody | None = None
        self._at = 0
        self._end = 0
        # what it brought recently: contiguous pieces ending at self._at
        self._starts: list[int] = []
        self._pieces: list[bytes] = []
        self._kept = 0
        self._last_end = self._pos  # where the previous read ended (is the next one sequential?)
        self._span = 0  # the next sequential request's read-ahead (doubles while it pays)
        self.requests = 0
        self.fetched = 0

    # -- what a subclass provides -----------------------------------------------------------
    def _open_range(self, start: int, end: int) -> RangeBody:
        """One request for the bytes ``[start, end)`` (``end`` within the object)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _open_range")

    # -- requests, measured -----------------------------------------------------------------
    def _request(self, start: int, end: int) -> RangeBody:
        t0 = time.perf_counter()
        body = self._open_range(start, end)
        self.costs.first_byte(time.perf_counter() - t0)
        self.requests += 1
        return body

    def _receive(self, body: RangeBody, size: int) -> bytes:
        t0 = time.perf_counter()
        data = body.read(size)
        self.costs.transfer(len(data), time.perf_counter() - t0)
        self.fetched += len(data)
        return data

    def _exact(self, start: int, view: memoryview) -> int:
        """One request for exactly ``len(view)`` bytes at ``start``, received into ``view``."""
        body = self._request(start, start + len(view))
        try:
            got = 0
            while got < len(view):
                data = self._receive(body, min(PIECE, len(view) - got))
                if not data:
                    break
                view[got : got + len(data)] = data
                got += len(data)
        finally:
            body.close()
        if got < len(view):
            raise ConnectionError(f"the server sent {got} of {len(view)} bytes at {start}")
        return got

    # -- the open request and the bytes behind it -----------------------------------------
    def _open_stream(self, start: int, need: int) -> None:
        """A new request from ``start`` reading ahead as far as sequential reads justify."""
        self._drop()
        gap = self.costs.gap_limit()
        self._span = max(gap, min(self._span * 2, 1 << 40)) if self._span else gap
        end = min(self._total(), start + need + self._span)
        self._body = self._request(start, end)
        self._at, self._end = start, end

    def _reaches(self, pos: int) -> bool:
        """Whether the open request gets to ``pos`` for less than a new request costs."""
        return (
            self._body is not None
            and self._at <= pos < self._end
            and (pos - self._at <= self.costs.gap_limit())
        )

    def _advance(self, target: int, keep_from: int) -> None:
        """Receive the open request up to ``target`` (at most its end), keeping the bytes;
        those from ``keep_from`` on stay kept whatever :attr:`behind` says (the read in
        progress still copies them)."""
        assert self._body is not None
        target = min(target, self._end)
        while self._at < target:
            data = self._receive(self._body, min(PIECE, target - self._at))
            if not data:
                at, end = self._at, self._end
                self._drop()
                raise ConnectionError(f"the server ended a ranged read at {at}, before {end}")
            self._starts.append(self._at)
            self._pieces.append(data)
            self._kept += len(data)
            self._at += len(data)
            self._trim(keep_from)
        if self._at >= self._end:
            self._drop_body()

    def _trim(self, keep_from: int) -> None:
        """Forget the oldest pieces while the rest still hold :attr:`behind` bytes, never
        one that reaches ``keep_from``."""
        while (
            self._pieces
            and self._kept - len(self._pieces[0]) >= self.behind
            and self._starts[0] + len(self._pieces[0]) <= keep_from
        ):
            self._kept -= len(self._pieces[0])
            del self._starts[0], self._pieces[0]

    def _kept_at(self, pos: int) -> memoryview | None:
        """The kept bytes from ``pos`` to the end of their piece, if ``pos`` is kept."""
        i = bisect.bisect_right(self._starts, pos) - 1
        if i < 0:
            return None
        piece = self._pieces[i]
        offset = pos - self._starts[i]
        return memoryview(piece)[offset:] if offset < len(piece) else None

    def _block_at(self, pos: int) -> memoryview | None:
        index = pos // self.block_size
        block = self._blocks.get(index)
        if block is None:
            return None
        self._blocks.move_to_end(index)
        offset = pos - index * self.block_size
        return memoryview(block)[offset:] if offset < len(block) else None

    def _fetch_block(self, pos: int) -> None:
        index = pos // self.block_size
        start = index * self.block_size
        buffer = bytearray(min(self.block_size, self._total() - start))
        self._exact(start, memoryview(buffer))
        self._blocks[index] = bytes(buffer)
        if len(self._blocks) > self.max_blocks:
            self._blocks.popitem(last=False)

    # -- reading ------------------------------------------------------------------------------
    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        size = min(len(view), self._remaining())
        if size <= 0:
            return 0
        pos = self._pos
        sequential = self._last_end <= pos <= self._last_end + self.costs.gap_limit()
        got = 0
        while got < size:
            at, need = pos + got, size - got
            piece = self._kept_at(at) or self._block_at(at)
            if piece is not None:
                n = min(len(piece), need)
                view[got : got + n] = piece[:n]
                got += n
            elif self._reaches(at):
                self._advance(at + min(need, PIECE), keep_from=at)
            elif sequential:
                self._open_stream(at, need)
            elif need >= DIRECT_MIN:
                got += self._exact(at, view[got:size])
            else:
                self._fetch_block(at)
        self._pos = self._last_end = pos + size
        return size

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        buffer = bytearray(min(size, self._remaining()))
        got = self.readinto(buffer)
        return bytes(buffer) if got == len(buffer) else bytes(buffer[:got])

    # -- closing ------------------------------------------------------------------------------
    def _drop_body(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            try:
                body.close()
            except Exception:  # noqa: BLE001  # a link that is gone is closed enough
                pass

    def _drop(self) -> None:
        """End the open request and forget what it brought."""
        self._drop_body()
        self._starts.clear()
        self._pieces.clear()
        self._kept = 0

    def close(self) -> None:
        self._drop()
        self._blocks.clear()
        super().close()
