"""What ophyd-async's own ADSim system tests rely on, reproduced on our IOC over real CA.

``benchmarks/run_ophyd_async_upstream.py`` runs their ``test_adsim_system.py`` against our IOC
(see docs/explanations/ophyd-async-upstream-tests.rst). Their tests need the IOC the way
their container serves it; each behaviour is checked here with our own assertions, through
aioca (ophyd-async's CA backend) on an IOC of this module started the same way:

* ``--alias``: the driver as ``DET:`` and the HDF5 plugin as ``HDF5:`` are the very records
  of ``cam1:`` and ``HDF1:`` (a put to one is seen on the other, monitors included);
* ``--cam-port``: the cam's ``PortName_RBV`` and the plugins' ``NDArrayPort`` are
  ``DET.PROC``, so the HDF5 plugin takes the frames as it does behind their PROC plugin;
* ``prepare`` is idempotent and sets the exposure, also starting from a continuous
  acquisition (their container is acquiring when the tests start);
* software triggering (``bp.count``) writes one frame per event, the descriptor tells the
  shape and Int8 type of the frames, and the file holds the sim's frames;
* reading every setting and applying it back (their per-test baseline reset) works.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from filestore_vfs import VirtualFileSystem
from filestore_vfs.areadetector import VFSPathProvider
from sim_iocs import expected_frame
from sim_iocs.testing import SimIOC, require_softioc, start_sim_ioc

from .helpers import logical, of

PREFIX = "UPSTREAM-DI-CAM-01:"
ALIASES = ("--alias", "cam1:=DET:", "--alias", "HDF1:=HDF5:", "--cam-port", "DET.PROC")
SIZE = (48, 32)  # (x, y): not square, so a swapped axis shows


@pytest.fixture(scope="module")
def upstream_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("upstream-ioc")


@pytest.fixture(scope="module")
def upstream_ioc(upstream_dir: Path) -> Iterator[SimIOC]:
    """An IOC started as ``run_ophyd_async_upstream`` starts it (smaller frames)."""
    require_softioc()
    ioc = start_sim_ioc(PREFIX, [f"/ioc/data={upstream_dir}"], size=SIZE, extra_args=ALIASES)
    try:
        yield ioc
    finally:
        ioc.stop()


@pytest.fixture(scope="module")
def upstream_vfs(upstream_dir: Path) -> VirtualFileSystem:
    return VirtualFileSystem(
        {"detector": {"class": "LocalFile", "root": str(upstream_dir), "writer_root": "/ioc/data"}}
    )


@pytest.fixture
def adsim(RE: Any, upstream_ioc: SimIOC, upstream_vfs: VirtualFileSystem) -> Any:
    """Their detector: driver ``DET:``, writer ``HDF5:``; our path provider."""
    from ophyd_async.core import init_devices
    from ophyd_async.epics.adcore import ADWriterFactory
    from ophyd_async.epics.adsimdetector import SimDetector

    provider = VFSPathProvider("/detector", "upstream", vfs=upstream_vfs)
    with init_devices():
        adsim = SimDetector(
            PREFIX,
            ADWriterFactory.hdf(provider, writer_suffix="HDF5:"),
            driver_suffix="DET:",
        )
    return adsim


def in_loop(coro: Any) -> Any:
    from bluesky.run_engine import call_in_bluesky_event_loop

    return call_in_bluesky_event_loop(coro)


def test_alias_is_the_same_record(RE: Any, upstream_ioc: SimIOC) -> None:
    """A put through either name is seen through both, by get and by monitor."""
    from aioca import caget, caput
    from ophyd_async.core import init_devices
    from ophyd_async.epics.core import epics_signal_r

    with init_devices():
        alias_rbv = epics_signal_r(float, upstream_ioc.pv("DET:AcquireTime_RBV"))
    seen: list[float] = []

    def on_reading(reading: dict[str, Any]) -> None:
        seen.append(next(iter(reading.values()))["value"])

    async def check() -> tuple[float, float, str]:
        alias_rbv.subscribe_reading(on_reading)  # a CA monitor on the alias
        try:
            return await put_both_ways()
        finally:
            alias_rbv.clear_sub(on_reading)

    async def put_both_ways() -> tuple[float, float, str]:
        await caput(upstream_ioc.pv("DET:AcquireTime"), 0.25, wait=True)
        via_original = await caget(upstream_ioc.pv("cam1:AcquireTime_RBV"))
        await caput(upstream_ioc.pv("cam1:AcquireTime"), 0.5, wait=True)
        via_alias = await caget(upstream_ioc.pv("DET:AcquireTime_RBV"))
        for _ in range(200):  # monitors arrive after the put's completion
            if seen[-1:] == [0.5]:
                break
            await asyncio.sleep(0.01)
        return via_original, via_alias, await caget(upstream_ioc.pv("HDF5:PluginType_RBV"))

    via_original, via_alias, plugin = in_loop(check())
    assert via_original == 0.25 and via_alias == 0.5
    assert seen[-2:] == [0.25, 0.5]  # the alias's monitor saw both puts
    assert plugin == "NDFileHDF5"


def test_cam_port_names_the_source_the_plugins_take_frames_from(
    RE: Any, upstream_ioc: SimIOC
) -> None:
    from aioca import caget

    async def read() -> list[str]:
        names = ["DET:PortName_RBV", "HDF5:NDArrayPort_RBV", "TIFF1:NDArrayPort_RBV"]
        return [await caget(upstream_ioc.pv(name)) for name in names]

    assert in_loop(read()) == ["DET.PROC"] * 3


def test_prepare_is_idempotent_sets_exposure_and_stops_continuous(RE: Any, adsim: Any) -> None:
    """From a continuous acquisition (as their IOC starts), prepare twice, then count."""
    import bluesky.plan_stubs as bps
    import bluesky.plans as bp
    from ophyd_async.core import TriggerInfo
    from ophyd_async.epics.adcore import ADImageMode

    RE(bps.mv(adsim.driver.image_mode, ADImageMode.CONTINUOUS))
    RE(bps.abs_set(adsim.driver.acquire, True))  # not waited: it never ends by itself

    def prepare_twice_then_count() -> Iterator[Any]:
        yield from bps.prepare(adsim, TriggerInfo(livetime=0.2), wait=True)
        yield from bps.prepare(adsim, TriggerInfo(livetime=0.2), wait=True)
        yield from bp.count([adsim])

    RE(prepare_twice_then_count())
    assert RE(bps.rd(adsim.driver.acquire_time)).plan_result == 0.2
    assert in_loop(adsim.driver.acquire.get_value()) is False


def test_software_triggering_writes_one_frame_per_event(
    RE: Any, adsim: Any, upstream_vfs: VirtualFileSystem, upstream_ioc: SimIOC
) -> None:
    import bluesky.plan_stubs as bps
    import bluesky.plans as bp
    import h5py
    from aioca import caput
    from ophyd_async.core import TriggerInfo

    # ophyd-async only reads the type; their IOC is Int8 from start-up: set it as it does
    in_loop(caput(upstream_ioc.pv("DET:DataType"), "Int8", wait=True))
    RE(bps.prepare(adsim, TriggerInfo(livetime=0.01), wait=True))
    docs: list[tuple[str, dict[str, Any]]] = []
    RE(bp.count([adsim], num=2), lambda name, doc: docs.append((name, doc)))
    (descriptor,) = of(docs, "descriptor")
    key = descriptor["data_keys"]["adsim"]
    assert key["shape"] == [1, SIZE[1], SIZE[0]] and key["dtype_numpy"] == "|i1"
    assert key["external"] == "STREAM:"
    (resource,) = of(docs, "stream_resource")
    assert resource["uri"].startswith("vfs://detector/upstream/")
    assert resource["parameters"]["chunk_shape"] == (1, SIZE[1], SIZE[0])
    indices = [d["indices"] for d in of(docs, "stream_datum")]
    assert indices == [{"start": 0, "stop": 1}, {"start": 1, "stop": 2}]
    assert [e["seq_num"] for e in of(docs, "event")] == [1, 2]
    assert of(docs, "stop")[0]["num_events"] == {"primary": 2}
    with upstream_vfs.open(logical(resource["uri"]), "rb") as raw, h5py.File(raw) as f:
        frames = f[resource["parameters"]["dataset"]][()]
        uids = f["entry/instrument/NDAttributes/NDArrayUniqueId"][()]
    assert frames.dtype == np.int8 and frames.shape == (2, SIZE[1], SIZE[0])
    expected = [expected_frame(int(u) - 1, SIZE[1], SIZE[0], "int8") for u in uids]
    np.testing.assert_array_equal(frames, np.stack(expected))


def test_current_settings_apply_back(RE: Any, adsim: Any) -> None:
    """Their baseline reset: read every writable signal, change one, apply them all."""
    import bluesky.plan_stubs as bps
    from ophyd_async.plan_stubs import apply_settings, get_current_settings

    RE(bps.mv(adsim.driver.acquire_period, 0.005))
    settings = RE(get_current_settings(adsim)).plan_result
    names = {signal.name for signal, _value in settings.items()}
    wanted = {"driver-acquire_period", "driver-image_mode", "hdf-file_name", "hdf-swmr_mode"}
    assert {f"adsim-{name}" for name in wanted} <= names  # driver and writer, via the aliases
    RE(bps.mv(adsim.driver.acquire_period, 0.75, adsim.hdf.file_name, "changed"))
    RE(apply_settings(settings))
    assert RE(bps.rd(adsim.driver.acquire_period)).plan_result == 0.005
    assert RE(bps.rd(adsim.hdf.file_name)).plan_result != "changed"
