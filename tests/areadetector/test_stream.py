"""Stream variants over real CA: StreamResource + StreamDatum ranges, read back via vfs://."""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np
import pytest
import tifffile

from filestore_vfs import VirtualFileSystem
from filestore_vfs.areadetector import (
    HDF5StreamPluginWithVFS,
    StreamingFlyerMixin,
    TIFFStreamPluginWithVFS,
)
from sim_iocs import expected_frame
from sim_iocs.testing import wait_for_device

from .helpers import CONNECT_TIMEOUT, EXPOSURE, make_detector, run_count

pytestmark = [pytest.mark.ioc, pytest.mark.usefixtures("eager_devices")]


def frames_for(vfs: VirtualFileSystem, sres: dict[str, Any], start: int, stop: int) -> list[Any]:
    """Frames ``[start, stop)`` (in frames) of a StreamResource, read through the VFS."""
    uri = sres["uri"]
    if sres["mimetype"] == "application/x-hdf5":
        with vfs.open(uri, "rb") as f, h5py.File(f, "r") as h5:
            return list(h5[sres["parameters"]["dataset"]][start:stop])
    template = sres["parameters"]["template"]
    out = []
    for j in range(start, stop):
        with vfs.open(uri + template.format(j), "rb") as f:
            out.append(tifffile.imread(f))
    return out


@pytest.mark.parametrize(
    ("plugin_cls", "attr", "root"),
    [
        (HDF5StreamPluginWithVFS, "hdf1", "/detector"),
        (TIFFStreamPluginWithVFS, "tiff1", "/nfs"),
    ],
)
def test_count_emits_one_stream_resource(ioc, vfs, plugin_cls, attr, root) -> None:  # type: ignore[no-untyped-def]
    det = make_detector(
        ioc,
        plugin_cls,
        attr,
        root=root,
        write_path_template="stream/%Y",
        vfs=vfs,
        make_directories=True,
    )
    docs = run_count(det, 4)
    names = [n for n, _ in docs]
    assert names.count("stream_resource") == 1 and "resource" not in names and "datum" not in names
    assert names.count("stream_datum") == 4
    sres = next(d for n, d in docs if n == "stream_resource")
    assert sres["uri"].startswith(f"vfs:/{root}/stream/") and sres["data_key"] == "det_image"
    descriptor = next(d for n, d in docs if n == "descriptor")
    assert descriptor["data_keys"]["det_image"]["external"] == "STREAM:"
    assert descriptor["data_keys"]["det_image"]["shape"] == [1, 64, 64]
    datums = [d for n, d in docs if n == "stream_datum"]
    assert [(d["indices"]["start"], d["indices"]["stop"]) for d in datums] == [
        (0, 1),
        (1, 2),
        (2, 3),
        (3, 4),
    ]
    assert all(d["descriptor"] == descriptor["uid"] for d in datums)
    frames = frames_for(vfs, sres, 0, 4)
    for k, frame in enumerate(frames):
        np.testing.assert_array_equal(frame, expected_frame(k, 64, 64, np.uint16))


def test_fly_scan_asset_documents_constant_in_n(ioc, vfs) -> None:  # type: ignore[no-untyped-def]
    import bluesky.plan_stubs as bps
    import bluesky.preprocessors as bpp
    from bluesky import RunEngine
    from ophyd import Component as Cpt
    from ophyd.areadetector import SimDetector

    from filestore_vfs.areadetector import SingleTrigger

    class FlyDet(StreamingFlyerMixin, SingleTrigger, SimDetector):
        hdf1 = Cpt(
            HDF5StreamPluginWithVFS,
            "HDF1:",
            root="/nfs",
            write_path_template="fly",
            vfs=vfs,
            make_directories=True,
        )

    def fly(det: Any) -> Any:
        @bpp.stage_decorator([det])
        @bpp.run_decorator()
        def inner() -> Any:
            yield from bps.declare_stream(det, name="primary", collect=True)
            yield from bps.kickoff(det, wait=True)
            yield from bps.complete(det, wait=True)
            yield from bps.collect(det, name="primary")

        return (yield from inner())

    counts = {}
    for n in (5, 40):
        det = FlyDet(ioc.prefix, name="det", fly_frames=n)
        wait_for_device(det, CONNECT_TIMEOUT)
        det.cam.stage_sigs["array_counter"] = 0
        det.cam.acquire_time.set(EXPOSURE).wait(5)
        det.cam.acquire_period.set(0).wait(5)
        before = (det.cam.image_mode.get(), det.cam.num_images.get())
        docs: list[tuple[str, dict]] = []
        engine = RunEngine({})
        engine.subscribe(lambda name, doc, docs=docs: docs.append((name, doc)))
        engine(fly(det))
        assert (det.cam.image_mode.get(), det.cam.num_images.get()) == before  # restored
        assets = [n for n, _ in docs if n.startswith("stream_")]
        counts[n] = len(assets)
        sres = next(d for name, d in docs if name == "stream_resource")
        (datum,) = [d for name, d in docs if name == "stream_datum"]
        assert datum["indices"] == {"start": 0, "stop": n}
        frames = frames_for(vfs, sres, 0, n)
        assert len(frames) == n
        np.testing.assert_array_equal(frames[-1], expected_frame(n - 1, 64, 64, np.uint16))
    assert counts[5] == counts[40] == 2
