"""A sim IOC and a VFS whose roots are the IOC's mounts: ``D:\\data`` and ``/ioc/data``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filestore_vfs import VirtualFileSystem
from sim_iocs.testing import SimIOC, require_softioc, sim_ioc, wait_for_device

#: Exposure of the sim cams: short, so a frame is often done before ``trigger()`` returns
#: (filestore_vfs's ``SingleTrigger`` returns its status then; ophyd's returned None).
EXPOSURE = 0.001
#: Seconds to wait for every signal (twice at most: see ``wait_for_device``).
CONNECT_TIMEOUT = 30


@pytest.fixture(scope="session")
def mounts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("ad-mounts")
    out = {"win": base / "win", "posix": base / "posix"}
    for path in out.values():
        path.mkdir()
    return out


@pytest.fixture(scope="session")
def ioc(mounts: dict[str, Path]) -> Iterator[SimIOC]:
    require_softioc()
    with sim_ioc(
        mounts=[f"D:\\data={mounts['win']}", f"/ioc/data={mounts['posix']}"], primed=True
    ) as running:
        yield running


@pytest.fixture(scope="session")
def vfs(mounts: dict[str, Path]) -> VirtualFileSystem:
    return VirtualFileSystem(
        {
            "detector": {
                "class": "LocalFile",
                "root": str(mounts["win"]),
                "writer_root": "D:\\data",
            },
            "nfs": {"class": "LocalFile", "root": str(mounts["posix"]), "writer_root": "/ioc/data"},
        }
    )


@pytest.fixture(scope="session")
def eager_devices() -> Iterator[None]:
    """Connect every signal at once (0.3 s) instead of one lazy signal at a time (4 s)."""
    from ophyd import Device

    saved = Device.lazy_wait_for_connection
    Device.lazy_wait_for_connection = False
    yield
    Device.lazy_wait_for_connection = saved


def make_detector(ioc: SimIOC, plugin_cls: type, attr: str, **plugin_kwargs: Any) -> Any:
    from ophyd import Component as Cpt
    from ophyd.areadetector import SimDetector

    from filestore_vfs.areadetector import SingleTrigger

    suffix = "HDF1:" if attr == "hdf1" else "TIFF1:"
    cls = type(
        "Det", (SingleTrigger, SimDetector), {attr: Cpt(plugin_cls, suffix, **plugin_kwargs)}
    )
    det = cls(ioc.prefix, name="det")
    wait_for_device(det, CONNECT_TIMEOUT)
    plugin = getattr(det, attr)
    plugin.kind = "normal"
    det.cam.stage_sigs["array_counter"] = 0
    det.cam.acquire_time.set(EXPOSURE).wait(5)
    det.cam.acquire_period.set(0).wait(5)
    det.cam.data_type.set("UInt16").wait(5)
    return det


def run_count(det: Any, num: int, **md: Any) -> list[tuple[str, dict[str, Any]]]:
    from bluesky import RunEngine
    from bluesky.plans import count

    docs: list[tuple[str, dict[str, Any]]] = []
    engine = RunEngine({})
    engine.subscribe(lambda name, doc: docs.append((name, doc)))
    engine(count([det], num=num, md=md))
    return docs
