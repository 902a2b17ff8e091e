"""Helpers of the sim IOC tests: Channel Access on the session IOC, and the frame check.

The ``ca`` fixture (``conftest.py``) hands out a :class:`CA` bound to the session IOC.
"""

from __future__ import annotations

import time
from typing import Any

from sim_iocs.testing import SimIOC

_MONITORS: dict[str, tuple[Any, list[int]]] = {}


class CA:
    """Small pyepics helpers bound to one IOC's prefix; every wait polls a real condition."""

    def __init__(self, ioc: SimIOC) -> None:
        import epics

        self.ioc = ioc
        self.epics = epics

    def get(self, name: str, as_string: bool = False) -> Any:
        value = self.epics.caget(
            self.ioc.pv(name), as_string=as_string, use_monitor=False, timeout=5
        )
        if value is None:
            raise TimeoutError(f"caget {self.ioc.pv(name)} got no answer")
        return value

    def put(self, name: str, value: Any, wait: bool = True) -> None:
        ok = self.epics.caput(self.ioc.pv(name), value, wait=wait, timeout=10)
        if ok is None:
            raise TimeoutError(f"caput {self.ioc.pv(name)} = {value!r} got no answer")

    def wait_for(
        self, name: str, expected: Any, timeout: float = 10.0, *, at_least: bool = False
    ) -> Any:
        """Poll until ``name`` equals ``expected`` (or is ``>=`` it with ``at_least``)."""
        as_string = isinstance(expected, str)
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.get(name, as_string=as_string)
            if value == expected or (at_least and value >= expected):
                return value
            time.sleep(0.005)
        raise AssertionError(f"{name} is {value!r}, expected {expected!r} within {timeout} s")

    def wait_for_error(self, plugin: str, text: str, timeout: float = 10.0) -> str:
        """Wait until ``WriteMessage`` contains ``text`` and ``WriteStatus`` is an error."""
        deadline = time.monotonic() + timeout
        message = ""
        while time.monotonic() < deadline:
            message = self.get(f"{plugin}WriteMessage", as_string=True)
            status = self.get(f"{plugin}WriteStatus", as_string=True)
            if text in message and status == "Write error":
                return message
            time.sleep(0.005)
        raise AssertionError(f"{plugin}WriteMessage is {message!r}, expected {text!r} + error")

    def setup_file_plugin(
        self, plugin: str, path: str, *, mode: str = "Stream", template: str | None = None
    ) -> None:
        """Enable ``plugin`` on the cam with a clean file configuration."""
        self.put(f"{plugin}Capture", 0)
        self.wait_for(f"{plugin}Capture_RBV", 0)
        # Prime: without LazyOpen a file takes the size and type of the last frame seen.
        self.put(f"{plugin}AutoSave", 0)
        self.put(f"{plugin}FileWriteMode", "Single")
        self.put(f"{plugin}EnableCallbacks", 1)
        self.put(f"{plugin}NDArrayPort", "SIM1")
        self.acquire(1)
        self.wait_for(f"{plugin}ArraySize0_RBV", self.get("cam1:SizeX_RBV"))
        for name, value in (
            ("EnableCallbacks", 1),
            ("NDArrayPort", "SIM1"),
            ("FileWriteMode", mode),
            ("AutoIncrement", 1),
            ("AutoSave", 1),
            ("LazyOpen", 0),
            ("NumCapture", 0),
            ("CreateDirectory", 0),
            ("FileName", "img"),
            ("FileNumber", 0),
        ):
            self.put(f"{plugin}{name}", value)
        if template is not None:
            self.put(f"{plugin}FileTemplate", template)
        self.put(f"{plugin}FilePath", path)
        self.wait_for(f"{plugin}FilePath_RBV", path if path.endswith(("/", "\\")) else path + "/")
        # WriteStatus is a bi (only the IOC sets it); the message waveform takes a put.
        self.put(f"{plugin}WriteMessage", "")

    def disable_plugins(self) -> None:
        for plugin in ("image1:", "HDF1:", "TIFF1:"):
            self.put(f"{plugin}Capture", 0) if plugin != "image1:" else None
            self.put(f"{plugin}EnableCallbacks", 0)

    def acquire_rbv_updates(self) -> list[int]:
        """Every value ``cam1:Acquire_RBV`` takes, from a monitor kept for the session.

        The PV is never disconnected: pyepics PVs disconnected by hand and later garbage
        collected can crash libca.
        """
        name = self.ioc.pv("cam1:Acquire_RBV")
        if name not in _MONITORS:
            seen: list[int] = []
            pv = self.epics.PV(name, callback=lambda value, **_: seen.append(value))
            assert pv.wait_for_connection(5)
            _MONITORS[name] = (pv, seen)
        return _MONITORS[name][1]

    def acquire(self, num: int = 1, *, exposure: float = 0.001, period: float = 0.0) -> None:
        """Run the cam for ``num`` frames; return once ``Acquire_RBV`` went 1 -> 0."""
        self.put("cam1:ImageMode", "Multiple" if num > 1 else "Single")
        self.put("cam1:NumImages", num)
        self.put("cam1:AcquireTime", exposure)
        self.put("cam1:AcquirePeriod", period)
        seen = self.acquire_rbv_updates()
        seen.clear()
        self.put("cam1:Acquire", 1, wait=False)
        deadline = time.monotonic() + 10 + num * max(exposure, period) * 2
        while not (1 in seen and seen[-1] == 0):
            assert time.monotonic() < deadline, f"Acquire_RBV went {seen}, not 1 -> 0"
            time.sleep(0.002)
        self.wait_for("cam1:DetectorState_RBV", "Idle")


def check_frames(frames: Any, unique_ids: Any) -> None:
    """Every pixel of every frame against the formula, frame k = unique id - 1."""
    import numpy as np

    from sim_iocs import expected_frame

    assert len(frames) == len(unique_ids)
    for frame, uid in zip(frames, unique_ids, strict=True):
        expected = expected_frame(int(uid) - 1, *frame.shape, frame.dtype)
        np.testing.assert_array_equal(frame, expected)
