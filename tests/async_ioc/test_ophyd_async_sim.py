"""ophyd-async's ``SimDetector`` against the sim IOC: connect, ``bp.count``, a fly scan.

Real Channel Access through aioca (ophyd-async's CA backend), ``VFSPathProvider`` for the
paths. Each run checks that the files are where the provider said (the writer's view on
the IOC, the logical name in the documents), that no physical path of the writing machine
appears in any document, and that every frame read back is the sim's deterministic frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from filestore_vfs import VirtualFileSystem
from filestore_vfs.areadetector import VFSPathProvider
from sim_iocs import load_pv_table, ophyd_async_pv_names
from sim_iocs.testing import SimIOC

from .helpers import (
    SIZE,
    Docs,
    assert_frames,
    assert_no_physical_path,
    fly,
    logical,
    make_detector,
    of,
    read_hdf5,
    read_tiffs,
    run_plan,
)


def test_table_serves_every_pv_ophyd_async_connects_to() -> None:
    """No IOC: the vendored table covers ophyd-async's SimDetector + HDF5 and TIFF writers."""
    table = {spec.name for spec in load_pv_table()}
    missing = sorted(set(ophyd_async_pv_names()) - table)
    assert not missing, f"regenerate sim_iocs/ad_pvs.json; missing {missing}"


def test_leak_check_walks_every_document() -> None:
    """The document check finds a writer or host path at any depth, in keys too."""
    host = Path("/srv/mount/win")
    for leak in ["D:\\data\\x.h5", "d:/DATA/x", "/ioc/data/x", "/srv/mount/win/x"]:
        with pytest.raises(AssertionError, match="in a descriptor document"):
            assert_no_physical_path([("descriptor", {"a": [{"b": ({leak: 1},)}]})], [host])
    assert_no_physical_path([("start", {"uri": "vfs://windet/x.h5", "n": 3})], [host])


# -- connect -------------------------------------------------------------------------
def test_connects_over_channel_access(
    RE: Any, async_ioc: SimIOC, async_vfs: VirtualFileSystem
) -> None:
    from bluesky.run_engine import call_in_bluesky_event_loop

    det = make_detector(RE, async_ioc, "hdf", VFSPathProvider("/detector", vfs=async_vfs))

    async def read() -> dict[str, Any]:
        driver, hdf = det.driver, det.hdf
        return {
            "model": await driver.model.get_value(),
            "core": await driver.ad_core_version.get_value(),
            "state": await driver.detector_state.get_value(),
            "size0": await hdf.array_size0.get_value(),
            "swmr": await hdf.swmr_mode.get_value(),
            "port": await hdf.nd_array_port.get_value(),
        }

    values = call_in_bluesky_event_loop(read())
    assert values["model"] == "Basic simulator" and values["core"]
    assert values["state"].value == "Idle"
    assert values["size0"] == SIZE[0]  # primed: as if a frame had passed
    assert values["port"] == "SIM1"


# -- bp.count and fly scans, through a POSIX and a Windows writer root ------------------
ROOTS = [("/detector", "posix"), ("/windet", "win")]
MIMETYPES = {"hdf": "application/x-hdf5", "tiff": "multipart/related;type=image/tiff"}


def check_run(
    docs: Docs,
    writer: str,
    root: str,
    frames: int,
    vfs: VirtualFileSystem,
    mounts: dict[str, Path],
    mount: str,
) -> None:
    """One StreamResource named by its logical URI, contiguous datums over every frame, the
    files under the mount behind the root's writer_root, nothing physical in any document,
    and every frame the one the sim made."""
    (resource,) = of(docs, "stream_resource")
    assert resource["mimetype"] == MIMETYPES[writer]
    assert resource["uri"].startswith(f"vfs:/{root}/")
    covered = sorted(
        (d["indices"]["start"], d["indices"]["stop"]) for d in of(docs, "stream_datum")
    )
    assert covered[0][0] == 0 and covered[-1][1] == frames
    assert all(a[1] == b[0] for a, b in zip(covered, covered[1:], strict=False))  # contiguous
    assert_no_physical_path(docs, [*mounts.values(), next(iter(mounts.values())).parent])
    relative = logical(resource["uri"]).split("/", 2)[2]
    on_host = mounts[mount] / relative
    if writer == "hdf":
        assert resource["parameters"]["dataset"] == "/entry/data/data"
        assert on_host.is_file(), on_host
        images, uids = read_hdf5(vfs, resource["uri"], "/entry/data/data")
    else:
        assert resource["uri"].endswith("/") and on_host.is_dir(), on_host
        images, uids = read_tiffs(vfs, resource, frames)
    assert images.shape == (frames, SIZE[1], SIZE[0])
    assert_frames(images, uids)


@pytest.mark.parametrize("root, mount", ROOTS)
@pytest.mark.parametrize("writer", ["hdf", "tiff"])
def test_count(
    RE: Any,
    async_ioc: SimIOC,
    async_vfs: VirtualFileSystem,
    async_mounts: dict[str, Path],
    writer: str,
    root: str,
    mount: str,
) -> None:
    import bluesky.plans as bp

    provider = VFSPathProvider(root, "scans/%Y", vfs=async_vfs)
    det = make_detector(RE, async_ioc, writer, provider)
    docs = run_plan(RE, det, writer, bp.count([det], num=3))
    datums = of(docs, "stream_datum")
    assert [d["indices"] for d in datums] == [{"start": i, "stop": i + 1} for i in range(3)]
    check_run(docs, writer, root, 3, async_vfs, async_mounts, mount)


@pytest.mark.parametrize("root, mount", ROOTS)
@pytest.mark.parametrize("writer", ["hdf", "tiff"])
def test_fly_scan(
    RE: Any,
    async_ioc: SimIOC,
    async_vfs: VirtualFileSystem,
    async_mounts: dict[str, Path],
    writer: str,
    root: str,
    mount: str,
) -> None:
    det = make_detector(RE, async_ioc, writer, VFSPathProvider(root, vfs=async_vfs))
    docs = run_plan(RE, det, writer, fly(det, 20))
    check_run(docs, writer, root, 20, async_vfs, async_mounts, mount)


def test_swmr_frames_readable_after_flush_while_file_is_open(
    RE: Any, async_ioc: SimIOC, async_vfs: VirtualFileSystem
) -> None:
    """ophyd-async turns SWMR on; after its FlushNow put a SWMR reader sees every frame
    captured so far, while the IOC still has the file open."""
    import h5py
    from aioca import caget
    from bluesky.run_engine import call_in_bluesky_event_loop
    from ophyd_async.core import TriggerInfo, wait_for_value

    det = make_detector(RE, async_ioc, "hdf", VFSPathProvider("/detector", vfs=async_vfs))

    async def acquire_and_read() -> tuple[int, np.ndarray, np.ndarray]:
        await det.stage()
        try:
            await det.prepare(TriggerInfo(number_of_events=5))
            await det.kickoff()
            await det.complete()
            active = await caget(async_ioc.pv("HDF1:SWMRActive_RBV"), format=0)
            await det.hdf.flush_now.set(True)  # completes once the file is flushed
            writer_path = await det.hdf.full_file_name.get_value()
            local = async_vfs.local_path(async_vfs.logical_path(writer_path))
            with h5py.File(local, "r", swmr=True) as f:
                frames = f["entry/data/data"][()]
                uids = f["entry/instrument/NDAttributes/NDArrayUniqueId"][()]
            await wait_for_value(det.hdf.flush_now, False, timeout=5)  # a busy record: Done
            return int(active), frames, uids
        finally:
            await det.unstage()

    active, frames, uids = call_in_bluesky_event_loop(acquire_and_read())
    assert active == 1  # SWMRActive_RBV: the IOC had the file open for SWMR
    assert frames.shape == (5, SIZE[1], SIZE[0])
    assert_frames(frames, uids)
