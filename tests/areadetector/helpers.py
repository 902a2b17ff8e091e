"""Helpers of the area-detector tests: an ophyd detector on the sim IOC, and a count."""

from __future__ import annotations

from typing import Any

from sim_iocs.testing import SimIOC, wait_for_device

#: Exposure of the sim cams: short, so a frame is often done before ``trigger()`` returns
#: (filestore_vfs's ``SingleTrigger`` returns its status then; ophyd's returned None).
EXPOSURE = 0.001
#: Seconds to wait for every signal (twice at most: see ``wait_for_device``).
CONNECT_TIMEOUT = 30


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
