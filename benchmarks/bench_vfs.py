"""The VFS core against plain Python: local I/O, ``get_file`` and path resolution.

Figures, each with its anchor measured in the same run:

* writing and reading a large file (``--size``, default 1 GiB) through ``vfs.open`` on a
  ``LocalFile`` root, against plain ``open()``, in the same 8 MiB chunks (target ≥ 0.9×);
* ``get_file`` of that file against ``shutil.copyfile`` (throughput), and the peak resident
  memory growth of ``get_file`` (target < 64 MiB);
* 64 KiB files written per second (open, write, close: atomic and locked) against ``open()``;
* logical-path resolutions per second: ``vfs.resolve`` on a local and on a memory root, and
  ``split_logical``, against ``os.path.normpath`` (target ≥ 200,000/s).

Set-up and clean-up stay outside the timings: before every timed write the previous file is
removed and the page cache is flushed (``os.sync``); reads run on a file already read once,
so both sides read from the page cache; timings alternate between ours and the anchor and the
best of ``--repeats`` counts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from filestore_vfs import VirtualFileSystem, split_logical

from ._report import (
    Figure,
    MiB,
    best_of,
    format_size,
    paired_ratio,
    peak_rss_growth,
    timed_fresh,
)

CHUNK = 8 * MiB
RSS_LIMIT = 64 * MiB
RESOLVE_TARGET = 200_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("vfs")
    group.add_argument(
        "--resolutions",
        type=int,
        default=100_000,
        help="logical paths resolved per timing (vfs; default 100000)",
    )


def _mib_per_s(size: int, seconds: float) -> float:
    return size / MiB / seconds


def _write_chunks(f: Any, size: int, block: bytes) -> None:
    view = memoryview(block)
    left = size
    while left > 0:
        n = min(left, len(block))
        f.write(view[:n])
        left -= n


def _read_chunks(f: Any) -> int:
    buf = bytearray(CHUNK)
    total = 0
    while n := f.readinto(buf):
        total += n
    return total


def _timed_write(path: str, opener: Callable[[], Any], size: int, block: bytes) -> float:
    if os.path.exists(path):
        os.remove(path)
    os.sync()
    start = time.perf_counter()
    with opener() as f:
        _write_chunks(f, size, block)
    return time.perf_counter() - start


def _timed_read(opener: Callable[[], Any], size: int) -> float:
    start = time.perf_counter()
    with opener() as f:
        got = _read_chunks(f)
    elapsed = time.perf_counter() - start
    if got != size:
        raise RuntimeError(f"read {got} bytes, expected {size}")
    return elapsed


def _io_figures(vfs: VirtualFileSystem, tmp: str, size: int, repeats: int) -> list[Figure]:
    block = os.urandom(CHUNK)
    plain_path = os.path.join(tmp, "plain.bin")
    vfs_path = vfs.local_path("/bench/written.bin")
    write_runs: list[list[float]] = []
    write_vfs, write_plain = best_of(
        repeats,
        lambda: _timed_write(vfs_path, partial(vfs.open, "/bench/written.bin", "wb"), size, block),
        lambda: _timed_write(plain_path, partial(open, plain_path, "wb"), size, block),
        runs=write_runs,
    )
    os.remove(plain_path)

    # Read the same file both ways, after one untimed read, so both read from the page cache.
    _timed_read(partial(open, vfs_path, "rb"), size)
    read_runs: list[list[float]] = []
    read_vfs, read_plain = best_of(
        repeats,
        lambda: _timed_read(partial(vfs.open, "/bench/written.bin", "rb"), size),
        lambda: _timed_read(partial(open, vfs_path, "rb"), size),
        runs=read_runs,
    )

    label = format_size(size)
    return [
        Figure(
            f"write {label} via `vfs.open` (local root) vs `open()`",
            _mib_per_s(size, write_vfs),
            _mib_per_s(size, write_plain),
            "MiB/s",
            target="≥ 0.9×",
            min_ratio=0.9,
            paired=paired_ratio(write_runs),
            notes={"runs": write_runs, "chunk": CHUNK},
        ),
        Figure(
            f"read {label} via `vfs.open` (local root) vs `open()`",
            _mib_per_s(size, read_vfs),
            _mib_per_s(size, read_plain),
            "MiB/s",
            target="≥ 0.9×",
            min_ratio=0.9,
            paired=paired_ratio(read_runs),
            notes={"runs": read_runs, "chunk": CHUNK},
        ),
    ]


def _get_file_figures(vfs: VirtualFileSystem, tmp: str, size: int, repeats: int) -> list[Figure]:
    source = vfs.local_path("/bench/written.bin")
    got = os.path.join(tmp, "got.bin")
    copied = os.path.join(tmp, "copied.bin")
    get_runs: list[list[float]] = []
    get_vfs, get_plain = best_of(
        repeats,
        lambda: timed_fresh(got, lambda: vfs.get_file("/bench/written.bin", got)),
        lambda: timed_fresh(copied, lambda: shutil.copyfile(source, copied)),
        runs=get_runs,
    )
    growth_vfs = growth_plain = 0.0
    for _ in range(repeats):
        for target in (got, copied):
            os.remove(target)
        growth_vfs = max(
            growth_vfs, peak_rss_growth(lambda: vfs.get_file("/bench/written.bin", got))
        )
        growth_plain = max(growth_plain, peak_rss_growth(lambda: shutil.copyfile(source, copied)))
    for target in (got, copied):
        os.remove(target)
    label = format_size(size)
    return [
        Figure(
            f"`get_file` {label} (local root) vs `shutil.copyfile`",
            _mib_per_s(size, get_vfs),
            _mib_per_s(size, get_plain),
            "MiB/s",
            target="throughput, no target",
            paired=paired_ratio(get_runs),
            notes={"runs": get_runs},
        ),
        Figure(
            f"`get_file` {label}: peak RSS growth vs `shutil.copyfile`",
            growth_vfs,
            growth_plain,
            "B",
            target="< 64 MiB",
            max_value=RSS_LIMIT,
        ),
    ]


def _rate(fn: Callable[[str], Any], paths: list[str], repeats: int) -> float:
    def loop() -> None:
        for p in paths:
            fn(p)

    (best,) = best_of(repeats, loop)
    return len(paths) / best


def _small_files_figure(vfs: VirtualFileSystem, tmp: str, count: int, repeats: int) -> Figure:
    """Files per second for 64 KiB files (a TIFF-per-frame detector): open, write, close."""
    data = os.urandom(64 * 1024)
    plain_dir = os.path.join(tmp, "small")
    os.makedirs(plain_dir, exist_ok=True)
    vfs.makedirs("/bench/small")

    def plain() -> None:
        for i in range(count):
            with open(f"{plain_dir}/frame_{i:06d}.tif", "wb") as f:
                f.write(data)

    def ours() -> None:
        for i in range(count):
            with vfs.open(f"/bench/small/frame_{i:06d}.tif", "wb") as f:
                f.write(data)

    t_ours, t_plain = best_of(repeats, ours, plain)
    shutil.rmtree(plain_dir)
    vfs.rmdir("/bench/small", recursive=True)
    return Figure(
        f"{count} files of 64 KiB via `vfs.open` (local root) vs `open()`",
        count / t_ours,
        count / t_plain,
        "/s",
        target="(information: atomic + locked)",
    )


def _resolve_figures(vfs: VirtualFileSystem, count: int, repeats: int) -> list[Figure]:
    rels = [f"2026/11/21/scan_{i % 100:03d}/frame_{i:06d}.h5" for i in range(count)]
    for i in range(100):  # the directories exist, as they do at a beamline
        vfs.makedirs(f"/bench/2026/11/21/scan_{i:03d}")
    local = [f"/bench/{r}" for r in rels]
    memory = [f"/memory/{r}" for r in rels]
    physical = [f"/data/assets/./{r}" for r in rels]
    normpath = _rate(os.path.normpath, physical, repeats)
    target = f"≥ {RESOLVE_TARGET:,}/s"
    return [
        Figure(
            "`split_logical` (parse + check) vs `os.path.normpath`",
            _rate(split_logical, local, repeats),
            normpath,
            "/s",
            target=target,
            min_value=RESOLVE_TARGET,
        ),
        Figure(
            "`vfs.resolve`, memory root vs `os.path.normpath`",
            _rate(vfs.resolve, memory, repeats),
            normpath,
            "/s",
            target=target,
            min_value=RESOLVE_TARGET,
        ),
        Figure(
            "`vfs.resolve`, local root (symlink check) vs `os.path.normpath`",
            _rate(vfs.resolve, local, repeats),
            normpath,
            "/s",
            target=target,
            min_value=RESOLVE_TARGET,
        ),
        Figure(
            "`vfs.writer_path`, Windows writer vs `os.path.normpath`",
            _rate(vfs.writer_path, memory, repeats),
            normpath,
            "/s",
            target="(information)",
        ),
    ]


def run(options: argparse.Namespace) -> list[Figure]:
    """Measure every figure of this module; files live in a temporary directory."""
    size = options.size
    repeats = options.repeats
    with tempfile.TemporaryDirectory(prefix="bench-vfs-", dir=options.tmp) as tmp:
        vfs = VirtualFileSystem(
            {
                "bench": {"class": "LocalFile", "root": os.path.join(tmp, "root")},
                "memory": {"class": "MemoryFile", "writer_root": "D:\\assets"},
            },
            defaults=False,
        )
        try:
            figures = _io_figures(vfs, tmp, size, repeats)
            figures += _get_file_figures(vfs, tmp, size, repeats)
            figures.append(_small_files_figure(vfs, tmp, 2000, repeats))
            figures += _resolve_figures(vfs, getattr(options, "resolutions", 100_000), repeats)
        finally:
            vfs.close()
    return figures
