"""``cache="blocks"`` on S3 reads through ranges grouped by measured request costs (issue #14).

Everything runs on moto's S3 server: which requests the reader makes (counted and recorded,
never timed), that memory behind the read position stays bounded, that the bytes are the
object's whatever the grouping, that a dropped connection mid-read is a clear error or a
correct retry, and that HDF5 frames read back equal in every cache mode.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np
import pytest

from filestore_vfs import VirtualFileSystem
from filestore_vfs.vfs.backends._readthrough import PIECE, ReadThroughRanges, RequestCosts
from filestore_vfs.vfs.backends._streams import DIRECT_MIN
from filestore_vfs.vfs.backends.s3 import S3Ranges
from tests.servers import S3Server

from .helpers import s3_spec
from .suite import MiB

pytestmark = pytest.mark.server
BACKEND = "s3"  # conftest.py: prefix, vfs on /s3

#: Costs that make every forward gap up to 8 MiB cheaper than a request, fixed (weight 0).
LONG_GAPS = {"ttfb": 0.08, "bandwidth": 100e6, "weight": 0.0}
#: Costs under which no gap is worth reading through (the limit is DIRECT_MIN), fixed.
SHORT_GAPS = {"ttfb": 1e-6, "bandwidth": 1e6, "weight": 0.0}


def _pattern(size: int) -> bytes:
    """Bytes whose value depends on their offset, so a misplaced byte shows."""
    return np.arange(size // 4, dtype="<u4").tobytes() + bytes(size % 4)


@contextlib.contextmanager
def _reader(vfs: VirtualFileSystem, path: str, **costs: Any) -> Iterator[Any]:
    """``vfs.open(path)`` in the default mode, its :class:`S3Ranges` with ``costs`` and a
    record of every requested range (``reader.ranges``)."""
    with vfs.open(path, "rb") as f:
        reader = f._file
        assert isinstance(reader, S3Ranges)
        if costs:
            reader.costs = RequestCosts(**costs)
        reader.ranges = []
        original = reader._open_range

        def record(start: int, end: int) -> Any:
            reader.ranges.append((start, end))
            return original(start, end)

        reader._open_range = record
        yield f, reader


def _read_at(f: Any, offset: int, size: int) -> bytes:
    f.seek(offset)
    return f.read(size)


def test_forward_reads_within_the_gap_limit_are_one_request(vfs: VirtualFileSystem) -> None:
    data = _pattern(6 * MiB)
    vfs.write_bytes("/s3/seq.bin", data)
    reads = [(0, 8), (8, 40), (4096, 512), (200_000, 300_000), (3 * MiB, 1 * MiB), (5 * MiB, 10)]
    with _reader(vfs, "/s3/seq.bin", **LONG_GAPS) as (f, reader):
        for offset, size in reads:
            assert _read_at(f, offset, size) == data[offset : offset + size]
        assert reader.requests == 1
        assert reader.ranges == [(0, len(data))]  # 8 MiB of read-ahead, cut at the end
        # a step back inside what was kept needs no request either
        assert _read_at(f, 100_000, 70_000) == data[100_000:170_000]
        assert reader.requests == 1


def test_gaps_beyond_the_limit_are_exact_requests(vfs: VirtualFileSystem) -> None:
    data = _pattern(4 * MiB)
    vfs.write_bytes("/s3/spread.bin", data)
    frames = [(k * MiB + 6600, 2 * DIRECT_MIN) for k in range(1, 4)]
    with _reader(vfs, "/s3/spread.bin", **SHORT_GAPS) as (f, reader):
        f.seek(0)
        f.read(8)  # a small first read: one request, no read-ahead worth its cost
        first = len(reader.ranges)
        for offset, size in frames:
            assert _read_at(f, offset, size) == data[offset : offset + size]
        assert reader.ranges[first:] == [(o, o + s) for o, s in frames]
        # small reads far apart and not forward: one block each, from the LRU afterwards
        for offset in (3 * MiB + 100, 2 * MiB + 50, 3 * MiB + 300):
            assert _read_at(f, offset, 16) == data[offset : offset + 16]
        block = reader.block_size
        assert reader.ranges[first + len(frames) :] == [
            (3 * MiB, 3 * MiB + block),
            (2 * MiB, 2 * MiB + block),
        ]


def test_memory_behind_the_read_position_is_bounded(vfs: VirtualFileSystem) -> None:
    data = _pattern(24 * MiB)
    vfs.write_bytes("/s3/long.bin", data)
    with _reader(vfs, "/s3/long.bin", ttfb=1.0, bandwidth=100e6, weight=0.0) as (f, reader):
        reader.behind = 2 * MiB
        most = end = 0
        for offset in range(0, len(data) - 300_000, 700_000):
            assert _read_at(f, offset, 300_000) == data[offset : offset + 300_000]
            most, end = max(most, reader._kept), offset + 300_000
        assert reader.requests == 1  # all of it read through one request
        assert reader.fetched == end  # every byte once, none past the last read
        assert most <= reader.behind + PIECE
        # long behind: no longer kept, so one exact request brings it back, byte for byte
        assert _read_at(f, 1000, 2 * DIRECT_MIN) == data[1000 : 1000 + 2 * DIRECT_MIN]
        assert reader.ranges[-1] == (1000, 1000 + 2 * DIRECT_MIN)


def test_bytes_are_the_objects_whatever_the_grouping(vfs: VirtualFileSystem) -> None:
    data = os.urandom(9 * MiB + 12345)
    vfs.write_bytes("/s3/random.bin", data)
    rng = np.random.default_rng(14)
    reads = [
        (int(rng.integers(0, len(data))), int(rng.choice([1, 100, 5000, DIRECT_MIN, 3 * MiB])))
        for _ in range(60)
    ]
    reads += sorted(reads)  # forward runs too
    for costs in (LONG_GAPS, SHORT_GAPS, {"ttfb": 0.005, "bandwidth": 100e6, "weight": 0.0}):
        with _reader(vfs, "/s3/random.bin", **costs) as (f, reader):
            reader.behind = 1 * MiB
            for offset, size in reads:
                assert _read_at(f, offset, size) == data[offset : offset + size], (costs, offset)
            f.seek(len(data) - 10)
            assert f.read(100) == data[-10:] and f.read(100) == b""
            f.seek(0)
            assert f.read() == data


def test_costs_are_measured_from_real_requests(s3_server: S3Server, prefix: str) -> None:
    vfs = VirtualFileSystem({"s3": s3_spec(s3_server, prefix=prefix)}, defaults=False)
    try:
        data = _pattern(3 * MiB)
        vfs.write_bytes("/s3/measure.bin", data)
        costs = vfs.roots["s3"].request_costs
        assert costs.samples == {"ttfb": 0, "bandwidth": 0}
        guess = (costs.ttfb, costs.bandwidth)
        with vfs.open("/s3/measure.bin", "rb") as f:
            assert f.read() == data
            assert f._file.costs is costs  # the root's, shared by its readers
        assert costs.samples["ttfb"] >= 1 and costs.samples["bandwidth"] >= 1
        assert (costs.ttfb, costs.bandwidth) != guess
        assert costs.ttfb > 0 and costs.bandwidth > 0
        assert costs.gap_limit() >= DIRECT_MIN
        assert "gap_limit=" in repr(costs)
    finally:
        vfs.close()


def test_request_costs_average_moves_toward_new_samples() -> None:
    costs = RequestCosts(ttfb=0.5, bandwidth=1e6, weight=0.5)
    costs.first_byte(0.1)  # the first sample replaces the guess
    assert costs.ttfb == pytest.approx(0.1)
    costs.first_byte(0.3)
    assert costs.ttfb == pytest.approx(0.2)
    costs.transfer(1000, 0.001)  # too short to say anything about bandwidth
    assert costs.bandwidth == 1e6 and costs.samples["bandwidth"] == 0
    costs.transfer(4 * MiB, 0.04)
    assert costs.bandwidth == pytest.approx(4 * MiB / 0.04)
    assert costs.gap_limit() == int(costs.ttfb * costs.bandwidth)


# -- a connection dropped in the middle of a body -------------------------------------------
class CuttingProxy:
    """A TCP proxy on loopback that, once armed, cuts the connection carrying the
    ``cut_after``-th byte of the server's answers (after sending exactly that many)."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._left: int | None = None
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, cut_after: int) -> None:
        with self._lock:
            self._left = cut_after

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _allow(self, n: int) -> int | None:
        """How many of ``n`` answer bytes to pass (``None``: all); arms off when it cuts."""
        with self._lock:
            if self._left is None:
                return None
            if n < self._left:
                self._left -= n
                return None
            allowed, self._left = self._left, None
            self.cuts += 1
            return allowed

    def _pump(self, src: socket.socket, dst: socket.socket, answers: bool) -> None:
        try:
            while data := src.recv(1 << 16):
                allowed = self._allow(len(data)) if answers else None
                if allowed is not None:
                    dst.sendall(data[:allowed])
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(s3_server.host, s3_server.port)
    yield proxy
    proxy.close()


def _through(
    proxy: CuttingProxy, server: S3Server, prefix: str, **options: Any
) -> VirtualFileSystem:
    endpoint = f"http://127.0.0.1:{proxy.port}"
    spec = s3_spec(server, prefix=prefix, endpoint_url=endpoint, **options)
    return VirtualFileSystem({"s3": spec}, defaults=False)


def test_a_dropped_connection_mid_read_is_retried_from_where_it_broke(
    s3_server: S3Server, prefix: str, proxy: CuttingProxy
) -> None:
    data = _pattern(12 * MiB)
    vfs = _through(proxy, s3_server, prefix, retries=2, retry_backoff=0.01)
    try:
        vfs.write_bytes("/s3/cut.bin", data)
        with vfs.open("/s3/cut.bin", "rb") as f:
            assert f.read(1000) == data[:1000]
            proxy.arm(3 * MiB)  # in the middle of the read-through below
            assert f.read(8 * MiB) == data[1000 : 1000 + 8 * MiB]
            assert proxy.cuts == 1
            assert f.read() == data[1000 + 8 * MiB :]
    finally:
        vfs.close()


def test_a_dropped_connection_without_retries_is_a_clear_error(
    s3_server: S3Server, prefix: str, proxy: CuttingProxy
) -> None:
    data = _pattern(12 * MiB)
    vfs = _through(proxy, s3_server, prefix, retries=0)
    try:
        vfs.write_bytes("/s3/cut.bin", data)
        with vfs.open("/s3/cut.bin", "rb") as f:
            f.read(1000)
            proxy.arm(3 * MiB)
            with pytest.raises(ConnectionError) as info:
                f.read(8 * MiB)
            assert "/s3/cut.bin" in str(info.value)
            assert proxy.cuts == 1
            f.seek(5 * MiB)  # the reader is still usable: the next read is a new request
            assert f.read(DIRECT_MIN) == data[5 * MiB : 5 * MiB + DIRECT_MIN]
    finally:
        vfs.close()


# -- HDF5 frames equal in every cache mode --------------------------------------------------
FRAMES, SHAPE = 24, (256, 256)


@pytest.mark.parametrize("mode", ["read-through", "exact", "stream", "file"])
def test_hdf5_frames_are_equal_in_every_cache_mode(
    s3_server: S3Server, prefix: str, tmp_path: Any, mode: str
) -> None:
    path = tmp_path / "frames.h5"
    rng = np.random.default_rng(7)
    stack = rng.integers(0, 2**16, size=(FRAMES, *SHAPE), dtype=np.uint16)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("/entry/data/data", data=stack, chunks=(1, *SHAPE))
    spec = s3_spec(s3_server, prefix=prefix, cache_dir=str(tmp_path / "cache"))
    vfs = VirtualFileSystem({"s3": spec}, defaults=False)
    cache = {"read-through": "blocks", "exact": "blocks"}.get(mode, mode)
    try:
        vfs.put_file(path, "/s3/frames.h5")
        with vfs.open("/s3/frames.h5", "rb", cache=cache) as f:
            raw = getattr(f, "_file", None)
            if cache == "blocks":
                raw.costs = RequestCosts(**(LONG_GAPS if mode == "read-through" else SHORT_GAPS))
            with h5py.File(f, "r") as h5:
                data = h5["/entry/data/data"]
                for k in [0, 7, 3, FRAMES - 1, 12, 12, 1]:
                    np.testing.assert_array_equal(data[k], stack[k])
                np.testing.assert_array_equal(data[5:9, 10:20, 30:], stack[5:9, 10:20, 30:])
            if cache == "blocks":
                assert isinstance(raw, ReadThroughRanges)
                chunk = stack[0].nbytes
                if mode == "read-through":  # the whole 3 MiB file is one request
                    assert raw.requests <= 2, raw.requests
                else:  # about one exact request per chunk read, plus metadata blocks
                    assert raw.requests <= 7 + 4 + 8, raw.requests
                    assert raw.fetched <= (7 + 4 + 8) * chunk
    finally:
        vfs.close()
