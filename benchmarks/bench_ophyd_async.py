"""An ophyd-async fly scan on the sim IOC beside the same acquisition driven through ophyd.

Figure, with its anchor measured in the same run on the same IOC: frames per second of a fly
scan of N frames (default 1,000; 512x512 UInt16, HDF5 Stream, 1 ms exposure, period 0):

* ours: ophyd-async's ``SimDetector`` with ``ADWriterFactory.hdf(VFSPathProvider(...))``
  over real Channel Access (aioca): ``stage``, ``prepare(TriggerInfo(number_of_events=N))``,
  ``kickoff``, ``collect_while_completing``, ``unstage``;
* anchor: an ophyd ``SimDetector`` (pyepics) with filestore_vfs's ``StreamingFlyerMixin`` and
  ``HDF5StreamPluginWithVFS`` (the ophyd fly scan of ``bench_areadetector``): ``stage``,
  ``kickoff``, ``complete``, ``collect``, ``unstage``.

Each side's time is the whole plan (``RE(...)``, the RunEngine made outside the timing),
rounds alternate A B, B A, ...; the figure is best-of, the paired ratio the median over
rounds. Both files are checked after each run: N frames, first and last equal to the sim's
formula. ``python -m benchmarks ophyd_async [--async-frames N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._report import Figure, best_of, markdown_table, paired_ratio

SIZE = 512
EXPOSURE = 0.001


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ophyd_async")
    group.add_argument(
        "--async-frames",
        type=int,
        default=1000,
        help="ophyd_async: frames per fly scan (default 1000)",
    )


def _async_fly(det: Any, frames: int) -> Iterator[Any]:
    import bluesky.plan_stubs as bps
    from ophyd_async.core import TriggerInfo

    yield from bps.open_run()
    # wait=True: for ophyd-async devices bps.stage/unstage do not wait by default, and the
    # file would be checked before unstage's Capture = 0 has closed it
    yield from bps.stage(det, wait=True)
    info = TriggerInfo(number_of_events=frames, livetime=EXPOSURE)
    yield from bps.prepare(det, info, wait=True)
    yield from bps.declare_stream(det, name="primary", collect=True)
    yield from bps.kickoff(det, wait=True)
    yield from bps.collect_while_completing([det], [det], flush_period=0.5)
    yield from bps.unstage(det, wait=True)
    yield from bps.close_run()


def _check_file(path: Path, frames: int) -> None:
    import h5py
    import numpy as np

    from sim_iocs import expected_frame

    with h5py.File(path, "r") as f:
        data = f["entry/data/data"]
        uids = f["entry/instrument/NDAttributes/NDArrayUniqueId"][()]
        if data.shape != (frames, SIZE, SIZE):
            raise RuntimeError(f"{path.name}: shape {data.shape}, wanted {frames} frames")
        for index in (0, frames - 1):
            expected = expected_frame(int(uids[index]) - 1, SIZE, SIZE, "uint16")
            if not np.array_equal(data[index], expected):
                raise RuntimeError(f"{path.name}: frame {index} differs from the sim's")


def _only_file(directory: Path) -> Path:
    files = list(directory.rglob("*.h5"))
    if len(files) != 1:
        raise RuntimeError(f"expected one HDF5 file under {directory}, found {files}")
    return files[0]


def _clean(directory: Path) -> None:
    for path in sorted(directory.rglob("*"), reverse=True):
        if path.is_file():
            path.unlink()


def run(options: argparse.Namespace) -> list[Figure]:
    """Measure the figure; needs pythonSoftIOC and ophyd-async[ca]."""
    from sim_iocs.testing import configure_client_environment, sim_ioc

    configure_client_environment(ports=2)
    from ophyd import Device
    from ophyd.signal import EpicsSignalBase

    from .bench_areadetector import _fly_detector

    frames = getattr(options, "async_frames", 1000)
    repeats = min(getattr(options, "repeats", 3), 5)
    Device.lazy_wait_for_connection = False
    EpicsSignalBase.set_defaults(timeout=10.0, connection_timeout=5.0)
    with tempfile.TemporaryDirectory(prefix="bench-async-", dir=options.tmp) as tmp:
        mount = Path(tmp) / "ioc-data"
        for sub in ("async", "fly"):
            (mount / sub).mkdir(parents=True)
        with sim_ioc(mounts=[f"/ioc/data={mount}"], primed=True, size=(SIZE, SIZE)) as ioc:
            from bluesky import RunEngine
            from ophyd_async.core import init_devices
            from ophyd_async.epics.adcore import ADWriterFactory
            from ophyd_async.epics.adsimdetector import SimDetector

            from filestore_vfs import VirtualFileSystem
            from filestore_vfs.areadetector import VFSPathProvider

            vfs = VirtualFileSystem(
                {"bench": {"class": "LocalFile", "root": str(mount), "writer_root": "/ioc/data"}},
                defaults=False,
            )
            engine = RunEngine({})
            with init_devices():
                adet = SimDetector(
                    ioc.prefix,
                    ADWriterFactory.hdf(VFSPathProvider("/bench", "async", vfs=vfs)),
                    name="adet",
                )
            odet = _fly_detector(ioc.prefix, vfs, frames)

            def ours() -> float:
                _clean(mount / "async")
                start = time.perf_counter()
                engine(_async_fly(adet, frames))
                elapsed = time.perf_counter() - start
                _check_file(_only_file(mount / "async"), frames)
                return elapsed

            def anchor() -> float:
                from .bench_areadetector import _fly

                _clean(mount / "fly")
                start = time.perf_counter()
                engine(_fly(odet))
                elapsed = time.perf_counter() - start
                _check_file(_only_file(mount / "fly"), frames)
                return elapsed

            ours()  # warm-up each: connections, first-file costs
            anchor()
            runs: list[list[float]] = []
            best = best_of(repeats, ours, anchor, runs=runs)
            vfs.close()
    figure = Figure(
        f"fly scan of {frames:,} frames {SIZE}x{SIZE} UInt16 HDF5, frames/s: ophyd-async "
        "SimDetector + VFSPathProvider vs ophyd SimDetector + StreamingFlyerMixin",
        frames / best[0],
        frames / best[1],
        "frames/s",
        target="information",
        paired=paired_ratio(runs),
        notes={"runs_seconds": runs},
    )
    print(markdown_table([figure]), file=sys.stderr, flush=True)
    return [figure]
