"""``cache="blocks"``: exact ranged reads for large reads, small blocks for metadata (issue #14).

Frames read back equal in every cache mode; how many requests a spread-frame read costs is
counted (requests, not time: no test asserts a time)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from filestore_vfs import VirtualFileSystem
from filestore_vfs.vfs.backends._prefetch import SLACK, StridePrefetch
from filestore_vfs.vfs.backends._streams import DIRECT_MIN, RangedReader
from tests.servers import NginxServer

FRAMES, SHAPE = 40, (256, 256)  # one 128 KiB chunk per frame


class BytesRanges(RangedReader):
    """A RangedReader over bytes in memory, recording every request."""

    def __init__(self, data: bytes, block_size: int = 4096) -> None:
        super().__init__(0, len(data), block_size=block_size, max_blocks=4)
        self.data = data
        self.calls: list[tuple[int, int]] = []

    def _fetch_into(self, offset: int, view: memoryview) -> int:
        piece = self.data[offset : offset + len(view)]
        view[: len(piece)] = piece
        self.calls.append((offset, len(view)))
        return len(piece)


def test_a_large_read_is_one_exact_request_whatever_its_alignment() -> None:
    data = os.urandom(4 * DIRECT_MIN + 123)
    f = BytesRanges(data)
    f.seek(6600)
    buffer = bytearray(2 * DIRECT_MIN)
    assert f.readinto(buffer) == len(buffer)
    assert bytes(buffer) == data[6600 : 6600 + len(buffer)]
    assert f.calls == [(6600, 2 * DIRECT_MIN)]
    assert f.tell() == 6600 + len(buffer)


def test_small_reads_come_from_blocks_and_the_lru_is_bounded() -> None:
    data = os.urandom(64 * 4096)
    f = BytesRanges(data)
    for offset, size in [(0, 8), (8, 48), (96, 512), (4000, 200), (40, 8)]:
        f.seek(offset)
        assert f.read(size) == data[offset : offset + size]
    assert f.calls == [(0, 4096), (4096, 4096)]  # two blocks, the second for a straddle
    for k in range(10):  # more blocks than max_blocks
        f.seek(k * 4096 * 3)
        f.read(10)
    assert len(f._blocks) == f.max_blocks


def test_reads_at_and_past_the_end() -> None:
    data = os.urandom(DIRECT_MIN + 10)
    f = BytesRanges(data)
    f.seek(len(data) - 5)
    assert f.read(100) == data[-5:]
    assert f.read(100) == b""
    f.seek(len(data) + 10)
    assert f.read(DIRECT_MIN) == b""
    f.seek(0)
    assert f.read() == data
    f.seek(-3, os.SEEK_END)
    assert f.read() == data[-3:]


@pytest.fixture(scope="module")
def frames_file(nginx_server: NginxServer) -> tuple[str, np.ndarray]:
    """An HDF5 file of FRAMES chunked frames in nginx's served directory."""
    path = Path(nginx_server.root) / "ranged-frames.h5"
    rng = np.random.default_rng(14)
    stack = rng.integers(0, 2**16, size=(FRAMES, *SHAPE), dtype=np.uint16)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("/entry/data/data", data=stack, chunks=(1, *SHAPE))
    return path.name, stack


def _vfs(server: NginxServer, tmp_path: Path, **options: Any) -> VirtualFileSystem:
    spec = {"class": "HttpFile", "download": server.data_url, "cache_dir": str(tmp_path)}
    return VirtualFileSystem({"web": {**spec, **options}}, defaults=False)


@pytest.mark.parametrize("cache", ["blocks", "stream", "file"])
def test_spread_frames_are_equal_in_every_cache_mode(
    nginx_server: NginxServer, frames_file: tuple[str, np.ndarray], tmp_path: Path, cache: str
) -> None:
    name, stack = frames_file
    vfs = _vfs(nginx_server, tmp_path)
    indices = [0, 7, 3, FRAMES - 1, 20, 20, 1]
    try:
        with vfs.open(f"/web/{name}", "rb", cache=cache) as f, h5py.File(f, "r") as h5:
            data = h5["/entry/data/data"]
            for k in indices:
                np.testing.assert_array_equal(data[k], stack[k])
            np.testing.assert_array_equal(data[5:9, 10:20, 30:], stack[5:9, 10:20, 30:])
    finally:
        vfs.close()


def _every_other(
    vfs: VirtualFileSystem, name: str, stack: np.ndarray, order: list[int] | None = None
) -> Any:
    """Read ``order`` (default: every other frame) through h5py, checking each; the reader."""
    with vfs.open(f"/web/{name}", "rb") as f:
        with h5py.File(f, "r") as h5:
            data = h5["/entry/data/data"]
            for k in range(0, FRAMES, 2) if order is None else order:
                np.testing.assert_array_equal(data[k], stack[k])
        return f._file


def test_blocks_fetch_about_one_request_and_one_chunk_per_frame(
    nginx_server: NginxServer, frames_file: tuple[str, np.ndarray], tmp_path: Path
) -> None:
    name, stack = frames_file
    with _vfs(nginx_server, tmp_path, prefetch=False) as vfs:
        reader = _every_other(vfs, name, stack)
        frames, chunk = FRAMES // 2, stack[0].nbytes
        assert reader._ahead is None
        assert reader.requests <= frames + 4, reader.requests  # + a few metadata blocks
        assert reader.fetched <= frames * chunk + 4 * 64 * 1024, reader.fetched


def test_read_ahead_serves_strided_frames_for_one_more_request(
    nginx_server: NginxServer, frames_file: tuple[str, np.ndarray], tmp_path: Path
) -> None:
    """With the default ``prefetch: true`` the chunk one stride ahead is asked for while
    h5py works: after two strides every read is served by it, at the cost of the
    :data:`SLACK` bytes per request and one request past the last read."""
    name, stack = frames_file
    with _vfs(nginx_server, tmp_path) as vfs:
        reader = _every_other(vfs, name, stack)
        frames, chunk = FRAMES // 2, stack[0].nbytes
        ahead = reader._ahead
        assert ahead.hits >= frames - 3 and ahead.misses == 0, (ahead.hits, ahead.misses)
        assert reader.requests <= frames + 5, reader.requests
        assert reader.fetched <= (frames + 1) * (chunk + SLACK) + 4 * 64 * 1024
        assert len(vfs.roots["web"]._idle) >= 1  # the connection used ahead went back


@pytest.mark.parametrize(
    "order",
    [
        list(range(FRAMES - 1, -1, -3)),  # backwards
        [0, 1, 2, 3, 10, 11, 12, 30, 31, 5, 6, 7, 39],  # runs, then jumps
        [int(k) for k in np.random.default_rng(3).permutation(FRAMES)[:25]],  # no pattern
    ],
    ids=["backwards", "runs", "random"],
)
def test_read_ahead_in_any_order_reads_equal_frames(
    nginx_server: NginxServer,
    frames_file: tuple[str, np.ndarray],
    tmp_path: Path,
    order: list[int],
) -> None:
    name, stack = frames_file
    with _vfs(nginx_server, tmp_path, retries=0) as vfs:  # no retry may hide a failure
        reader = _every_other(vfs, name, stack, order)
        ahead = reader._ahead
        # every request sent ahead was either used or dropped; at most one is left at the end
        assert reader.requests <= 2 * len(order) + 5
        assert ahead.hits + ahead.misses <= len(order)


def test_read_ahead_on_a_lost_connection_reads_again_itself(
    nginx_server: NginxServer, frames_file: tuple[str, np.ndarray], tmp_path: Path
) -> None:
    name, stack = frames_file
    with _vfs(nginx_server, tmp_path, retries=0) as vfs:  # the reader's own request, not a retry
        with vfs.open(f"/web/{name}", "rb") as f, h5py.File(f, "r") as h5:
            data = h5["/entry/data/data"]
            for k in (0, 2, 4):
                np.testing.assert_array_equal(data[k], stack[k])
            ahead = f._file._ahead
            assert ahead._pending is not None  # frame 6 has been asked for
            ahead._pending[2]._sock.shutdown(socket.SHUT_RDWR)  # and the connection is lost
            np.testing.assert_array_equal(data[6], stack[6])
            assert ahead.misses == 1
            np.testing.assert_array_equal(data[8], stack[8])


def test_read_ahead_of_a_removed_file_reports_not_found(
    nginx_server: NginxServer, frames_file: tuple[str, np.ndarray], tmp_path: Path
) -> None:
    """The request sent ahead meets the 404; the read makes its own request, whose error
    names the logical path (no stale or partial frame comes back)."""
    name, stack = frames_file
    copy = Path(nginx_server.root) / f"removed-{os.getpid()}-{id(tmp_path)}.h5"
    copy.write_bytes((Path(nginx_server.root) / name).read_bytes())
    with _vfs(nginx_server, tmp_path, retries=0) as vfs:
        with vfs.open(f"/web/{copy.name}", "rb") as f:
            with h5py.File(f, "r") as h5:
                data = h5["/entry/data/data"]
                for k in (0, 2, 4):
                    np.testing.assert_array_equal(data[k], stack[k])
                pending = f._file._ahead._pending
                assert pending is not None
                copy.unlink()
                # the answer to the request sent ahead may already be on its way (nginx
                # keeps an open file); what matters is that no frame differs and a
                # request made after the removal reports it
                try:
                    np.testing.assert_array_equal(data[6], stack[6])
                except FileNotFoundError as exc:
                    assert exc.filename == f"/web/{copy.name}"
                with pytest.raises(FileNotFoundError) as info:
                    data[15]  # not in the stride: a request of its own
                assert info.value.filename == f"/web/{copy.name}"


def _settled_copy(server: NginxServer, name: str, tag: str, age: float = 600) -> Path:
    """A copy of ``name`` in the served directory, last modified ``age`` seconds ago."""
    copy = Path(server.root) / f"{tag}-{os.getpid()}-{time.monotonic_ns()}.h5"
    copy.write_bytes((Path(server.root) / name).read_bytes())
    then = time.time() - age
    os.utime(copy, (then, then))
    return copy


def test_metadata_blocks_are_kept_across_opens_of_an_unchanged_file(
    nginx_server: NginxServer, frames_file: tuple[str, np.ndarray], tmp_path: Path
) -> None:
    """A handler or a tiled server opens a file per request: the second open of a settled,
    unchanged file reads no metadata block again, only the chunks."""
    name, stack = frames_file
    copy = _settled_copy(nginx_server, name, "settled")
    with _vfs(nginx_server, tmp_path, prefetch=False) as vfs:
        first = _every_other(vfs, copy.name, stack)
        again = _every_other(vfs, copy.name, stack)
        assert again._blocks is first._blocks
        assert first.requests > FRAMES // 2  # the superblock, headers and B-tree nodes
        assert again.requests == FRAMES // 2  # the chunks alone


def test_metadata_blocks_of_a_changed_or_fresh_file_are_not_reused(
    nginx_server: NginxServer, frames_file: tuple[str, np.ndarray], tmp_path: Path
) -> None:
    name, stack = frames_file
    copy = _settled_copy(nginx_server, name, "changed")
    with _vfs(nginx_server, tmp_path, prefetch=False) as vfs:
        first = _every_other(vfs, copy.name, stack)
        # the same path, rewritten: other frames, another layout, another size
        other = stack[::-1].copy()
        with h5py.File(copy, "w") as h5:
            h5.create_dataset("/pad", data=np.zeros(100, dtype=np.uint8))
            h5.create_dataset("/entry/data/data", data=other, chunks=(1, *SHAPE))
        then = time.time() - 300
        os.utime(copy, (then, then))
        changed = _every_other(vfs, copy.name, other)
        assert changed._blocks is not first._blocks
        # changed a moment ago (mtime now): its blocks are its own on every open
        os.utime(copy)
        fresh = [_every_other(vfs, copy.name, other) for _ in range(2)]
        assert fresh[0]._blocks is not fresh[1]._blocks
        assert fresh[1].requests > FRAMES // 2


def test_prefetch_option_is_typed_and_off_means_no_read_ahead(
    nginx_server: NginxServer, frames_file: tuple[str, np.ndarray], tmp_path: Path
) -> None:
    name, stack = frames_file
    with _vfs(nginx_server, tmp_path, prefetch="no") as vfs:
        assert vfs.roots["web"].prefetch is False
        assert _every_other(vfs, name, stack)._ahead is None


def test_a_keep_alive_connection_the_server_closed_is_replaced(
    nginx_server: NginxServer, frames_file: tuple[str, np.ndarray], tmp_path: Path
) -> None:
    name, stack = frames_file
    with _vfs(nginx_server, tmp_path, retries=0) as vfs:  # no retry may hide a failure
        with vfs.open(f"/web/{name}", "rb") as f:
            f.seek(0)
            f.read(2 * DIRECT_MIN)  # a connection is now idle in the root's pool
            root = f._file._root
            assert root._idle
            for connection in root._idle:
                connection._sock.shutdown(socket.SHUT_RDWR)  # as a server's idle timeout does
            with h5py.File(f, "r") as h5:
                np.testing.assert_array_equal(h5["/entry/data/data"][9], stack[9])


def test_read_bytes_is_one_get_on_a_kept_connection(
    nginx_server: NginxServer, tmp_path: Path
) -> None:
    name = f"whole-{os.getpid()}-{id(tmp_path)}.bin"
    data = os.urandom(3 * (1 << 20) + 7)
    (Path(nginx_server.root) / name).write_bytes(data)
    log = Path(nginx_server.workdir) / "logs" / "access.log"

    def requests() -> list[str]:
        return [line for line in log.read_text().splitlines() if name in line]

    with _vfs(nginx_server, tmp_path) as vfs:
        for _ in range(2):
            before = len(requests())
            got = vfs.read_bytes(f"/web/{name}")
            assert isinstance(got, bytes) and got == data
            new = requests()[before:]
            assert len(new) == 1 and '"GET /data/' in new[0], new  # no HEAD, one GET
            assert len(vfs.roots["web"]._idle) == 1  # kept, and reused the second time


def test_read_ahead_over_tls_reads_equal_frames(
    nginx_server: NginxServer, frames_file: tuple[str, np.ndarray], tmp_path: Path
) -> None:
    """TLS sockets keep Python's timeout (no ``MSG_WAITALL``); read-ahead works the same."""
    name, stack = frames_file
    spec = {
        "class": "HttpFile",
        "download": nginx_server.tls_data_url,
        "verify_tls": str(nginx_server.ca_cert),
        "cache_dir": str(tmp_path),
        "retries": 0,
    }
    with VirtualFileSystem({"web": spec}, defaults=False) as vfs:
        reader = _every_other(vfs, name, stack)
        assert reader._ahead.hits >= FRAMES // 2 - 3
        assert reader._ahead.misses == 0


class MemoryAhead:
    """An :class:`AheadTransport` over bytes in memory, recording what is sent and dropped."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.sent: list[tuple[int, int]] = []
        self.dropped: list[tuple[int, int]] = []

    def start(self, offset: int, length: int) -> tuple[int, int]:
        self.sent.append((offset, length))
        return offset, length

    def finish(self, handle: tuple[int, int], skip: int, view: memoryview) -> bool:
        offset, _ = handle
        view[:] = self.data[offset + skip : offset + skip + len(view)]
        return True

    def abandon(self, handle: tuple[int, int]) -> None:
        self.dropped.append(handle)


def test_stride_is_learnt_from_two_equal_steps_and_survives_a_small_shift() -> None:
    chunk = DIRECT_MIN
    data = os.urandom(64 * chunk)
    ahead = MemoryAhead(data)
    f = BytesRanges(data)
    f._ahead = StridePrefetch(ahead, len(data))
    # chunks every 3 chunks, one of them shifted by a 3,136-byte B-tree node
    offsets = [0, 3 * chunk, 6 * chunk, 9 * chunk + 3136, 12 * chunk + 3136, 15 * chunk + 3136]
    for offset in offsets:
        f.seek(offset)
        assert f.read(chunk) == data[offset : offset + chunk]
    # nothing is sent until a stride is seen twice (after the third read), then one per read
    assert [o for o, _ in ahead.sent] == [
        9 * chunk,
        12 * chunk + 3136,
        15 * chunk + 3136,
        18 * chunk + 3136,
    ]
    assert all(length == chunk + SLACK for _, length in ahead.sent)
    # the shifted read fell inside the slack of the request for 9 * chunk: no drop, no own read
    assert ahead.dropped == [] and f._ahead.hits == 3
    assert [call for call in f.calls if call[1] >= DIRECT_MIN] == [(o, chunk) for o in offsets[:3]]


def test_a_jump_drops_one_request_and_the_stride_goes_on() -> None:
    chunk = DIRECT_MIN
    data = os.urandom(64 * chunk)
    ahead = MemoryAhead(data)
    f = BytesRanges(data)
    f._ahead = StridePrefetch(ahead, len(data))
    for k in [0, 1, 2, 3, 30, 31, 32, 63]:
        f.seek(k * chunk)
        assert f.read(chunk) == data[k * chunk : (k + 1) * chunk]
    assert ahead.dropped == [(4 * chunk, chunk + SLACK), (33 * chunk, chunk + SLACK)]
    assert f._ahead.hits == 3  # 3, 31 and 32 came from requests sent ahead; 30, 63 did not
    assert ahead.sent[-1][0] == 33 * chunk  # nothing is asked for past the end
