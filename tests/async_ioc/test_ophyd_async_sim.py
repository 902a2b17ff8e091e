"""ophyd-async's ``SimDetector`` against the sim IOC: connect, ``bp.count``, a fly scan.

Real Channel Access through aioca (ophyd-async's CA backend), ``VFSPathProvider`` for the
paths. Each run checks that the files are where the provider said (the writer's view on
the IOC, the logical name in the documents), that no physical path of the writing machine
appears in any document, and that every frame read back is the sim's deterministic frame.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from filestore_vfs import VirtualFileSystem
from filestore_vfs.areadetector import VFSPathProvider
from sim_iocs import expected_frame, load_pv_table, ophyd_async_pv_names
from sim_iocs.testing import SimIOC

SIZE = (64, 64)  # the IOC's default (x, y)


def test_table_serves_every_pv_ophyd_async_connects_to() -> None:
    """No IOC: the vendored table covers ophyd-async's SimDetector + HDF5 and TIFF writers."""
    table = {spec.name for spec in load_pv_table()}
    missing = sorted(set(ophyd_async_pv_names()) - table)
    assert not missing, f"regenerate sim_iocs/ad_pvs.json; missing {missing}"


# -- helpers -------------------------------------------------------------------------
def make_detector(RE: Any, ioc: SimIOC, writer: str, provider: VFSPathProvider) -> Any:
    """A connected SimDetector with one writer (``"hdf"`` or ``"tiff"``)."""
    from ophyd_async.core import init_devices
    from ophyd_async.epics.adcore import ADWriterFactory
    from ophyd_async.epics.adsimdetector import SimDetector

    with init_devices():
        det = SimDetector(ioc.prefix, getattr(ADWriterFactory, writer)(provider), name="det")
    return det


@pytest.fixture
def documents(RE: Any) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    token = RE.subscribe(lambda name, doc: docs.append((name, doc)))
    yield docs
    RE.unsubscribe(token)


def of(docs: list[tuple[str, dict[str, Any]]], kind: str) -> list[dict[str, Any]]:
    return [doc for name, doc in docs if name == kind]


def assert_no_physical_path(docs: list[tuple[str, dict[str, Any]]], *physical: str) -> None:
    text = json.dumps([doc for _, doc in docs], default=str)
    for path in (*physical, "/ioc/data", "D:\\\\data", "D:/data"):
        assert path not in text, f"{path!r} appears in a document"


def logical(uri: str) -> str:
    assert uri.startswith("vfs://"), uri
    return "/" + uri[len("vfs://") :]


def read_hdf5(vfs: VirtualFileSystem, uri: str, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    import h5py

    with vfs.open(logical(uri), "rb") as raw, h5py.File(raw, "r") as f:
        return f[dataset][()], f["entry/instrument/NDAttributes/NDArrayUniqueId"][()]


def read_tiffs(
    vfs: VirtualFileSystem, resource: dict[str, Any], count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Frames 0..count-1 of a multipart TIFF StreamResource, read through the VFS."""
    import tifffile

    template = resource["parameters"]["template"]
    frames, uids = [], []
    for index in range(count):
        path = logical(resource["uri"]) + template.format(index)
        assert vfs.isfile(path), path
        with vfs.open(path, "rb") as raw, tifffile.TiffFile(raw) as tif:
            frames.append(tif.pages[0].asarray())
            uids.append(tif.pages[0].tags[65000].value)
    return np.asarray(frames), np.asarray(uids)


def assert_frames(frames: np.ndarray, unique_ids: np.ndarray) -> None:
    """Frame with unique id u is the sim's frame k = u - 1 (ArrayCounter before it)."""
    assert len(frames) == len(unique_ids) > 0
    for frame, uid in zip(frames, unique_ids, strict=True):
        expected = expected_frame(int(uid) - 1, SIZE[1], SIZE[0], "uint16")
        np.testing.assert_array_equal(frame, expected)


def disable_callbacks(RE: Any, det: Any, writer: str) -> None:
    import bluesky.plan_stubs as bps
    from ophyd_async.core import EnableDisable

    RE(bps.mv(getattr(det, writer).enable_callbacks, EnableDisable.DISABLE))


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


# -- bp.count ------------------------------------------------------------------------
@pytest.mark.parametrize("root, mount", [("/detector", "posix"), ("/windet", "win")])
def test_count_hdf5(
    RE: Any,
    async_ioc: SimIOC,
    async_vfs: VirtualFileSystem,
    async_mounts: dict[str, Path],
    documents: list[tuple[str, dict[str, Any]]],
    root: str,
    mount: str,
) -> None:
    import bluesky.plans as bp

    det = make_detector(RE, async_ioc, "hdf", VFSPathProvider(root, "scans/%Y", vfs=async_vfs))
    RE(bp.count([det], num=3))

    (resource,) = of(documents, "stream_resource")
    assert resource["mimetype"] == "application/x-hdf5"
    assert resource["uri"].startswith(f"vfs:/{root}/scans/")
    assert resource["parameters"]["dataset"] == "/entry/data/data"
    datums = of(documents, "stream_datum")
    assert [d["indices"] for d in datums] == [{"start": i, "stop": i + 1} for i in range(3)]
    # the file is where the provider said: under the mount behind the root's writer_root
    relative = logical(resource["uri"]).split("/", 2)[2]
    assert (async_mounts[mount] / relative).is_file()
    assert_no_physical_path(documents, str(async_mounts[mount]))

    frames, uids = read_hdf5(async_vfs, resource["uri"], "/entry/data/data")
    assert frames.shape == (3, SIZE[1], SIZE[0])
    assert_frames(frames, uids)


def test_count_tiff(
    RE: Any,
    async_ioc: SimIOC,
    async_vfs: VirtualFileSystem,
    async_mounts: dict[str, Path],
    documents: list[tuple[str, dict[str, Any]]],
) -> None:
    import bluesky.plan_stubs as bps
    import bluesky.plans as bp
    from ophyd_async.core import EnableDisable

    det = make_detector(RE, async_ioc, "tiff", VFSPathProvider("/detector", vfs=async_vfs))
    # ophyd-async's TIFF data logic does not enable the plugin (its HDF5 logic does)
    RE(bps.mv(det.tiff.enable_callbacks, EnableDisable.ENABLE))
    try:
        RE(bp.count([det], num=2))
    finally:
        disable_callbacks(RE, det, "tiff")

    (resource,) = of(documents, "stream_resource")
    assert resource["mimetype"] == "multipart/related;type=image/tiff"
    assert resource["uri"].startswith("vfs://detector/") and resource["uri"].endswith("/")
    assert_no_physical_path(documents, str(async_mounts["posix"]))
    frames, uids = read_tiffs(async_vfs, resource, 2)
    assert_frames(frames, uids)


# -- fly scan ------------------------------------------------------------------------
def fly(det: Any, frames: int) -> Iterator[Any]:
    import bluesky.plan_stubs as bps
    from ophyd_async.core import TriggerInfo

    yield from bps.open_run()
    yield from bps.stage(det, wait=True)  # new-style devices: stage/unstage do not wait else
    yield from bps.prepare(det, TriggerInfo(number_of_events=frames), wait=True)
    yield from bps.declare_stream(det, name="primary", collect=True)
    yield from bps.kickoff(det, wait=True)
    yield from bps.collect_while_completing([det], [det], flush_period=0.1)
    yield from bps.unstage(det, wait=True)  # the file is closed when the run is over
    yield from bps.close_run()


@pytest.mark.parametrize("writer", ["hdf", "tiff"])
def test_fly_scan(
    RE: Any,
    async_ioc: SimIOC,
    async_vfs: VirtualFileSystem,
    async_mounts: dict[str, Path],
    documents: list[tuple[str, dict[str, Any]]],
    writer: str,
) -> None:
    import bluesky.plan_stubs as bps
    from ophyd_async.core import EnableDisable

    det = make_detector(RE, async_ioc, writer, VFSPathProvider("/detector", vfs=async_vfs))
    RE(bps.mv(getattr(det, writer).enable_callbacks, EnableDisable.ENABLE))
    try:
        RE(fly(det, 20))
    finally:
        if writer == "tiff":
            disable_callbacks(RE, det, writer)

    (resource,) = of(documents, "stream_resource")
    datums = of(documents, "stream_datum")
    covered = sorted((d["indices"]["start"], d["indices"]["stop"]) for d in datums)
    assert covered[0][0] == 0 and covered[-1][1] == 20
    assert all(a[1] == b[0] for a, b in zip(covered, covered[1:], strict=False))  # contiguous
    assert_no_physical_path(documents, str(async_mounts["posix"]))
    if writer == "hdf":
        frames, uids = read_hdf5(async_vfs, resource["uri"], "/entry/data/data")
    else:
        frames, uids = read_tiffs(async_vfs, resource, 20)
    assert frames.shape == (20, SIZE[1], SIZE[0])
    assert_frames(frames, uids)


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
