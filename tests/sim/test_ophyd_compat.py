"""Compatibility proof: ophyd 1.11's own classes and mixins, bluesky, event-model, handlers.

Nothing here comes from filestore_vfs: the detector is built from ophyd's
``SimDetector``, ``HDF5Plugin_V34``/``TIFFPlugin_V34`` and its own
``FileStoreHDF5IterativeWrite``/``FileStoreTIFFIterativeWrite``; the documents are
filled by ``event_model.Filler`` with the stock ``area_detector_handlers``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim_iocs import expected_frame
from sim_iocs.testing import wait_for_device
from tests.handlers.docs import fill, stock_registry

pytestmark = [pytest.mark.ioc, pytest.mark.timeout(120)]

_KEEP_ALIVE: list[Any] = []


@pytest.fixture(scope="module")
def ophyd_classes() -> Iterator[dict[str, Any]]:
    """Detector classes built only from ophyd; all signals connect eagerly while in use."""
    from ophyd import Component as Cpt
    from ophyd import Device
    from ophyd.areadetector import SimDetector, SingleTrigger
    from ophyd.areadetector.filestore_mixins import (
        FileStoreHDF5IterativeWrite,
        FileStoreTIFFIterativeWrite,
    )
    from ophyd.areadetector.plugins import HDF5Plugin_V34, ImagePlugin, TIFFPlugin_V34

    class HDF5PluginWithFileStore(HDF5Plugin_V34, FileStoreHDF5IterativeWrite):
        pass

    class TIFFPluginWithFileStore(TIFFPlugin_V34, FileStoreTIFFIterativeWrite):
        pass

    def detector_class(plugin: str, **plugin_kwargs: Any) -> type:
        plugin_cls = HDF5PluginWithFileStore if plugin == "HDF1:" else TIFFPluginWithFileStore
        attr = "hdf1" if plugin == "HDF1:" else "tiff1"
        body = {
            attr: Cpt(plugin_cls, plugin, **plugin_kwargs),
            "image1": Cpt(ImagePlugin, "image1:"),
        }
        return type("SimDet", (SingleTrigger, SimDetector), body)

    created: list[Any] = []

    def make(cls: type, prefix: str) -> Any:
        created.append(cls(prefix, name="det"))
        return created[-1]

    saved = Device.lazy_wait_for_connection
    Device.lazy_wait_for_connection = False
    try:
        yield {"detector_class": detector_class, "make": make}
    finally:
        Device.lazy_wait_for_connection = saved
        # Keep the devices: ophyd's destroy() or garbage collection of their pyepics PVs
        # while libca runs can crash it (PV.__del__ clears subscriptions a second time).
        _KEEP_ALIVE.extend(created)


def run_count(det: Any, num: int) -> list[tuple[str, dict]]:
    from bluesky import RunEngine
    from bluesky.plans import count

    docs: list[tuple[str, dict]] = []
    engine = RunEngine({})
    engine.subscribe(lambda name, doc: docs.append((name, doc)))
    engine(count([det], num=num))
    return docs


def prepare(det: Any, plugin: Any) -> None:
    """Beamline set-up: 64x64 UInt16, 10 ms frames, frame k = point k.

    (With 1 ms frames ophyd's ``SingleTrigger`` can lose its own status race on a loaded
    machine: the frame is done before ``trigger()`` returns.)
    """
    wait_for_device(det, 60)
    plugin.kind = "normal"  # ADBase reads nothing by default; ophyd's own tests do this too
    det.cam.stage_sigs["array_counter"] = 0
    det.cam.acquire_time.set(0.01).wait(5)
    det.cam.acquire_period.set(0).wait(5)
    det.cam.data_type.set("UInt16").wait(5)


def check_points(images: list, num: int) -> None:
    assert len(images) == num
    for point, image in enumerate(images):
        frames = image.reshape(-1, 64, 64)
        assert len(frames) == 1
        np.testing.assert_array_equal(frames[0], expected_frame(point, 64, 64, np.uint16))


def test_wait_for_connection_all_signals(ad_ioc):
    """Every PV of ophyd's four classes exists, so all_signals=True connects."""
    from ophyd import Component as Cpt
    from ophyd import Device
    from ophyd.areadetector.cam import SimDetectorCam
    from ophyd.areadetector.plugins import HDF5Plugin_V34, ImagePlugin, TIFFPlugin_V34

    class Everything(Device):
        cam = Cpt(SimDetectorCam, "cam1:")
        image1 = Cpt(ImagePlugin, "image1:")
        hdf1 = Cpt(HDF5Plugin_V34, "HDF1:")
        tiff1 = Cpt(TIFFPlugin_V34, "TIFF1:")

    saved = Device.lazy_wait_for_connection
    Device.lazy_wait_for_connection = False
    try:
        device = Everything(ad_ioc.prefix, name="everything")
        wait_for_device(device, 60)
    finally:
        Device.lazy_wait_for_connection = saved
    assert device.hdf1.plugin_type.get() == "NDFileHDF5"
    assert device.tiff1.plugin_type.get() == "NDFileTIFF"
    assert device.image1.plugin_type.get() == "NDPluginStdArrays"
    assert device.cam.data_type_disabled.get() == 0
    assert device.hdf1.file_write_mode.enum_strs == ("Single", "Capture", "Stream")
    _KEEP_ALIVE.append(device)


def test_count_hdf5_with_ophyds_own_mixin(ad_ioc, ca, sim_data, ophyd_classes):
    today = datetime.date.today()
    (sim_data / "posix" / today.strftime("%Y/%m/%d")).mkdir(parents=True, exist_ok=True)
    cls = ophyd_classes["detector_class"](
        "HDF1:", write_path_template="/ioc/data/%Y/%m/%d/", root="/ioc/data"
    )
    det = ophyd_classes["make"](cls, ad_ioc.prefix)
    ca.setup_file_plugin("HDF1:", "/ioc/data/")  # primes HDF1 so ophyd's stage accepts it
    prepare(det, det.hdf1)
    docs = run_count(det, 5)
    resources = [doc for name, doc in docs if name == "resource"]
    assert len(resources) == 1 and resources[0]["spec"] == "AD_HDF5"
    assert resources[0]["root"] == "/ioc/data"
    assert resources[0]["resource_path"].startswith(today.strftime("%Y/%m/%d/"))
    images = fill(
        stock_registry(), docs, "det_image", root_map={"/ioc/data": str(sim_data / "posix")}
    )
    check_points(images, 5)


def test_count_tiff_with_ophyds_own_mixin(ad_ioc, ca, sim_data, ophyd_classes):
    today = datetime.date.today()
    (sim_data / "posix" / "tiff" / today.strftime("%Y/%m/%d")).mkdir(parents=True, exist_ok=True)
    cls = ophyd_classes["detector_class"](
        "TIFF1:", write_path_template="/ioc/data/tiff/%Y/%m/%d/", root="/ioc/data"
    )
    det = ophyd_classes["make"](cls, ad_ioc.prefix)
    prepare(det, det.tiff1)
    docs = run_count(det, 5)
    resources = [doc for name, doc in docs if name == "resource"]
    assert len(resources) == 1 and resources[0]["spec"] == "AD_TIFF"
    images = fill(
        stock_registry(), docs, "det_image", root_map={"/ioc/data": str(sim_data / "posix")}
    )
    check_points(images, 5)


@pytest.mark.parametrize("plugin", ["HDF1:", "TIFF1:"])
def test_count_with_a_windows_mount(ad_ioc, ca, sim_data, ophyd_classes, plugin):
    """The IOC writes ``D:\\data\\...``; the reader sees ``/beamline/data`` via root_map."""
    cls = ophyd_classes["detector_class"](
        plugin,
        write_path_template="D:\\data\\%Y\\%m\\%d\\",
        read_path_template="/beamline/data/%Y/%m/%d/",
        root="/beamline/data",
        path_semantics="windows",
    )
    det = ophyd_classes["make"](cls, ad_ioc.prefix)
    file_plugin = det.hdf1 if plugin == "HDF1:" else det.tiff1
    if plugin == "HDF1:":
        ca.setup_file_plugin("HDF1:", "D:\\data\\")
    file_plugin.create_directory.set(-3).wait(5)  # the IOC creates the dated tree
    prepare(det, file_plugin)
    docs = run_count(det, 5)
    resource = next(doc for name, doc in docs if name == "resource")
    assert resource["path_semantics"] == "windows"
    assert resource["root"] == "/beamline/data"
    written = Path(sim_data / "win" / datetime.date.today().strftime("%Y/%m/%d"))
    assert written.is_dir() and any(written.iterdir())
    images = fill(
        stock_registry(), docs, "det_image", root_map={"/beamline/data": str(sim_data / "win")}
    )
    check_points(images, 5)
