"""A 2 GiB file through every network root that can hold one (issue #4's "a 2 GiB file").

2 GiB is where 32-bit sizes, offsets and lengths overflow (``2**31``), so each case moves a
file of ``2 GiB + 12,345`` bytes: written with ``vfs.open(..., "wb")`` over an existing file
(readers still see the old file until ``close``), read at offsets on both sides of ``2**31``,
then fetched with ``vfs.get_file`` (progress reported during the transfer, peak memory growth
under 64 MiB) and compared block by block. Every 4 KiB block starts with its own index, so a
block landing at the wrong offset, twice, or not at all fails the comparison; the data is made
on the fly, so neither side holds the file in memory.

RedisFile cannot hold a value over 512 MiB (``proto-max-bulk-len``): its clear error for a
2 GiB file is tested in ``test_backend_redis.py``.

These cases are ``slow``: 12-56 s per backend here, and moto holds the object in memory
(its process peaks near 9 GB). The throughput of the same operations is measured in
``benchmarks/``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from filestore_vfs import VirtualFileSystem

from .helpers import NETWORK
from .suite import MiB, peak_rss, peak_rss_reset

pytestmark = [pytest.mark.server, pytest.mark.slow]

GiB = 1 << 30
SIZE = 2 * GiB + 12_345  # past 2**31, ending inside a block
BLOCK = 4096
CHUNK = 8 * MiB
RSS_LIMIT = 64 * MiB
OLD = b"the old contents, intact until the new file is complete"
_BASE = ((np.arange(BLOCK, dtype=np.int64) * 7 + 3) % 251).astype(np.uint8)


def pattern(offset: int, length: int) -> bytes:
    """The file's bytes ``[offset, offset + length)``: block ``i`` starts with ``i`` (8 bytes)."""
    first = offset // BLOCK
    count = (offset + length - 1) // BLOCK - first + 1
    blocks = np.tile(_BASE, (count, 1))
    index = np.arange(first, first + count, dtype=">u8")
    blocks[:, :8] = index.view(np.uint8).reshape(count, 8)
    start = offset - first * BLOCK
    return blocks.tobytes()[start : start + length]


def chunks() -> Iterator[tuple[int, bytes]]:
    for offset in range(0, SIZE, CHUNK):
        yield offset, pattern(offset, min(CHUNK, SIZE - offset))


@dataclass
class Big:
    vfs: VirtualFileSystem
    path: str


#: every network root that can hold 2 GiB (RedisFile cannot, see above)
BACKENDS = sorted(set(NETWORK) - {"redis"})


@pytest.fixture(params=BACKENDS)
def big(request: pytest.FixtureRequest) -> Iterator[Big]:
    kind = NETWORK[request.param]
    server = request.getfixturevalue(kind.server)
    # the bad-input specs fail fast; a 2 GiB transfer needs the ordinary timeouts
    spec = {**kind.spec(server), "timeout": 60, "retries": 2}
    vfs = VirtualFileSystem({"big": spec}, defaults=False)
    path = f"/big/two-gib-{uuid.uuid4().hex[:8]}/日本 big file.bin"
    try:
        yield Big(vfs, path)
    finally:
        if vfs.exists(path):
            vfs.remove(path)
        vfs.close()


def test_two_gib_file_round_trip(big: Big, tmp_path: Path) -> None:
    vfs, path = big.vfs, big.path
    vfs.write_bytes(path, OLD)

    _write_over_old_file(vfs, path)
    assert vfs.info(path)["size"] == SIZE
    _check_reads_around_2_31(vfs, path)

    local = tmp_path / "deep" / "copy.bin"
    _get_file_with_progress(vfs, path, local)
    _check_local_copy(local)
    local.unlink()

    vfs.remove(path)
    assert not vfs.exists(path)


def _write_over_old_file(vfs: VirtualFileSystem, path: str) -> None:
    have_peak = peak_rss_reset()
    before = peak_rss()
    with vfs.open(path, "wb") as f:
        for _, data in chunks():
            f.write(data)
        assert f.tell() == SIZE
        # every byte written, not yet closed: readers still get the old file
        assert vfs.read_bytes(path) == OLD
    if have_peak:
        assert peak_rss() - before < RSS_LIMIT


def _check_reads_around_2_31(vfs: VirtualFileSystem, path: str) -> None:
    with vfs.open(path, "rb") as f:
        for offset in (2**31 - 5, 2**31, 2**31 + BLOCK - 3, SIZE - 100, 17):
            f.seek(offset)
            assert f.tell() == offset
            want = pattern(offset, min(64, SIZE - offset))
            assert f.read(64) == want, f"wrong bytes at offset {offset}"
        f.seek(SIZE)
        assert f.read(10) == b""


def _get_file_with_progress(vfs: VirtualFileSystem, path: str, local: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    have_peak = peak_rss_reset()
    before = peak_rss()
    vfs.get_file(path, local, progress=lambda done, total, name: calls.append((done, total)))
    if have_peak:
        assert peak_rss() - before < RSS_LIMIT
    assert local.stat().st_size == SIZE
    assert calls[-1] == (SIZE, SIZE)
    assert len(calls) > 10, "progress was not reported during the transfer"
    done = [d for d, _ in calls]
    assert done == sorted(done)


def _check_local_copy(local: Path) -> None:
    with open(local, "rb") as f:
        for offset, want in chunks():
            got = f.read(len(want))
            assert got == want, f"the copy differs in the chunk at offset {offset}"
        assert f.read(1) == b""
