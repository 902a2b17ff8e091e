"""The simulated area detector: a SimDetector cam feeding image1, HDF1 and TIFF1.

Everything runs in the IOC's asyncio event loop (softioc's ``AsyncioDispatcher``): client
puts arrive as record ``on_update`` calls, and an acquisition is one task that makes each
frame and hands it to the plugins before the next.  One loop, no locks.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Sequence
from typing import Any

from sim_iocs._file_plugins import FilePluginBase, HDF5Plugin, TIFFPlugin
from sim_iocs._frames import AD_DATA_TYPES, make_frame
from sim_iocs._mounts import MountTable
from sim_iocs._plugins import ImagePlugin, NDArray, PluginBase
from sim_iocs._pvtable import load_pv_table
from sim_iocs._records import RecordSet

__all__ = ["DEVICES", "SimAreaDetector", "SimDetectorCam", "check_aliases", "check_port"]

log = logging.getLogger("sim_iocs")

SINGLE, MULTIPLE, CONTINUOUS = 0, 1, 2
IDLE, ACQUIRE = 0, 1
CAM_PORT = "SIM1"
#: The devices of the IOC, as the first part of each PV name after the prefix.
DEVICES = ("cam1:", "image1:", "HDF1:", "TIFF1:")
#: What an alias may be made of: the characters of EPICS record names, ending in ``:``.
_ALIAS = re.compile(r"[A-Za-z0-9_\-+:\[\]<>;.]*:")


class SimDetectorCam:
    """ADSimDetector's cam: Acquire, ImageMode, NumImages, times, size and data type."""

    def __init__(self, pvs: RecordSet, suffix: str = "cam1:", port: str = CAM_PORT) -> None:
        self.pvs = pvs
        self.suffix = suffix
        self.port = port
        self.plugins: list[PluginBase] = []
        self._task: asyncio.Task[None] | None = None

    def pv(self, name: str) -> str:
        """The table name of one of the cam's records."""
        return self.suffix + name

    def initial_values(self, size: tuple[int, int]) -> dict[str, object]:
        """Start-up values: a 64x64 UInt16 detector that is idle."""
        size_x, size_y = size
        values: dict[str, object] = {
            "PortName_RBV": self.port,
            "Manufacturer_RBV": "Simulated detector",
            "Model_RBV": "Basic simulator",
            "ADCoreVersion_RBV": "3.12.1",
            "DriverVersion_RBV": "2.11.0",
            "MaxSizeX_RBV": 4096,
            "MaxSizeY_RBV": 4096,
            "SizeX": size_x,
            "SizeY": size_y,
            "ArraySizeX_RBV": size_x,
            "ArraySizeY_RBV": size_y,
            "ArraySize_RBV": size_x * size_y * 2,
            "DataType": "UInt16",
            "ColorMode": "Mono",
            "ImageMode": "Single",
            "TriggerMode": "Internal",
            "NumImages": 1,
            "NumExposures": 1,
            "AcquireTime": 0.01,
            "AcquirePeriod": 0.0,
            "ArrayCallbacks": 1,
            "DetectorState_RBV": "Idle",
            "BinX": 1,
            "BinY": 1,
            "Gain": 1.0,
            "PoolMaxMem": 0.0,
        }
        return {self.pv(k): v for k, v in values.items()}

    def register(self) -> None:
        """Own Acquire (a busy record: its put completes when acquiring is over) and sizes."""
        self.pvs.on_put(self.pv("Acquire"), self._put_acquire)
        self.pvs.busy(self.pv("Acquire"), self._until_idle)
        for axis in ("X", "Y"):
            self.pvs.on_put(self.pv(f"Size{axis}"), self._size_handler(axis))

    def _size_handler(self, axis: str) -> Any:
        def on_put(value: int) -> None:
            limit = int(self.pvs.get(self.pv(f"MaxSize{axis}_RBV")))
            clamped = min(max(int(value), 1), limit)
            if clamped != value:
                self.pvs.set(self.pv(f"Size{axis}"), clamped)
            self.pvs.set(self.pv(f"Size{axis}_RBV"), clamped)

        return on_put

    @property
    def acquiring(self) -> bool:
        """True while an acquisition task runs."""
        return self._task is not None and not self._task.done()

    def _until_idle(self) -> Any:
        """An awaitable that is done when the running acquisition is (None when idle)."""
        if not self.acquiring:
            return None
        assert self._task is not None
        return asyncio.wait([self._task])

    def _put_acquire(self, value: int) -> None:
        if value and not self.acquiring:
            self.pvs.set(self.pv("DetectorState_RBV"), "Acquire")
            self.pvs.set(self.pv("StatusMessage_RBV"), "Acquiring data", sync=False)
            self.pvs.set(self.pv("Acquire_RBV"), 1)  # last: clients see a consistent state
            self._task = asyncio.get_running_loop().create_task(self._acquire())
            self._task.add_done_callback(_log_failure)
        elif value:
            self.pvs.set(self.pv("Acquire_RBV"), 1)
        elif self.acquiring:
            assert self._task is not None
            self._task.cancel()
        else:
            self.pvs.set(self.pv("Acquire_RBV"), 0)

    def frame_count(self) -> float:
        """How many frames the current ImageMode asks for."""
        mode = int(self.pvs.get(self.pv("ImageMode")))
        if mode == SINGLE:
            return 1
        if mode == MULTIPLE:
            return max(int(self.pvs.get(self.pv("NumImages"))), 1)
        return math.inf

    async def _acquire(self) -> None:
        pvs = self.pvs
        loop = asyncio.get_running_loop()
        wanted = self.frame_count()
        pvs.set_if_changed(self.pv("NumImagesCounter_RBV"), 0)
        start = loop.time()
        done = 0
        try:
            while done < wanted:
                exposure = max(float(pvs.get(self.pv("AcquireTime"))), 0.0)
                period = max(float(pvs.get(self.pv("AcquirePeriod"))), exposure)
                delay = start + exposure - loop.time()
                await asyncio.sleep(max(delay, 0.0))
                self.emit_frame()
                done += 1
                pvs.set(self.pv("NumImagesCounter_RBV"), done, sync=False)
                start += period
                if done < wanted and start > loop.time():
                    await asyncio.sleep(start - loop.time())
                elif done < wanted:
                    start = loop.time()
        except asyncio.CancelledError:
            log.info("acquisition stopped after %d frames", done)
        finally:
            pvs.set(self.pv("StatusMessage_RBV"), "Waiting for acquire command", sync=False)
            pvs.flush()  # counters first: a client that sees Done sees the final counts
            pvs.set(self.pv("DetectorState_RBV"), "Idle")
            pvs.set(self.pv("Acquire_RBV"), 0)
            pvs.set(self.pv("Acquire"), 0)

    def current_dtype(self) -> str:
        """The AD name of the cam's data type (read at every frame, as the sim does)."""
        index = int(self.pvs.get(self.pv("DataType")))
        return AD_DATA_TYPES[index][0]

    def emit_frame(self) -> NDArray:
        """Make frame k = ArrayCounter, count it, and pass it down the plugin chain."""
        pvs = self.pvs
        k = int(pvs.get(self.pv("ArrayCounter_RBV")))
        size_x = int(pvs.get(self.pv("SizeX_RBV")))
        size_y = int(pvs.get(self.pv("SizeY_RBV")))
        data_type = self.current_dtype()
        sim_mode = self.pvs.get_str(self.pv("SimMode"))
        data = make_frame(k, size_y, size_x, data_type.lower(), sim_mode)
        array = NDArray(data=data, unique_id=k + 1, timestamp=time.time())
        # Only the readback: AD's ArrayCounter setpoint keeps what the client wrote.
        pvs.set(self.pv("ArrayCounter_RBV"), k + 1, sync=False)
        pvs.set_if_present(self.pv("UniqueId_RBV"), k + 1, sync=False)
        pvs.set_if_changed(self.pv("ArraySizeX_RBV"), size_x)
        pvs.set_if_changed(self.pv("ArraySizeY_RBV"), size_y)
        pvs.set_if_changed(self.pv("ArraySize_RBV"), data.nbytes)
        for axis, size in enumerate((size_x, size_y, 0)):  # what ophyd-async's driver reads
            pvs.set_if_present(self.pv(f"ArraySize{axis}_RBV"), size)
        pvs.set_if_changed(self.pv("DataType_RBV"), data_type)
        if int(pvs.get(self.pv("ArrayCallbacks"))):
            for plugin in self.plugins:
                self._deliver(plugin, array)
        return array

    def _deliver(self, plugin: PluginBase, array: NDArray) -> None:
        try:
            if plugin.accepts(self.port):
                plugin.receive(array)
        except Exception as exc:  # a plugin bug must never stop the detector
            log.exception("%s failed on frame %d", plugin.suffix, array.unique_id)
            if isinstance(plugin, FilePluginBase):
                plugin.error(f"Internal error: {exc}")

    def stop(self) -> None:
        """Cancel a running acquisition (IOC shutdown)."""
        if self._task is not None:
            self._task.cancel()


class SimAreaDetector:
    """The whole simulated IOC: records, cam and plugins under one PV prefix."""

    def __init__(
        self,
        prefix: str,
        mounts: MountTable | None = None,
        *,
        primed: bool = False,
        size: tuple[int, int] = (64, 64),
        aliases: Sequence[tuple[str, str]] = (),
        cam_port: str = CAM_PORT,
    ) -> None:
        self.prefix = prefix
        self.mounts = mounts or MountTable()
        self.primed = primed
        self.size = size
        self.pvs = RecordSet(prefix, load_pv_table())
        cam, image, hdf, tiff = DEVICES
        self.cam = SimDetectorCam(self.pvs, cam, port=check_port(cam_port))
        self.image = ImagePlugin(self.pvs, image, "IMAGE1")
        self.hdf = HDF5Plugin(self.pvs, hdf, "FileHDF1", self.mounts)
        self.tiff = TIFFPlugin(self.pvs, tiff, "FileTIFF1", self.mounts)
        self.cam.plugins = [self.image, self.hdf, self.tiff]
        self.aliases = check_aliases(aliases)

    def build(self) -> None:
        """Create all records (before ``iocInit``); readbacks start equal to setpoints."""
        initial: dict[str, object] = self.cam.initial_values(self.size)
        for plugin in self.cam.plugins:
            initial.update(plugin.initial_values(self.cam.port))
            plugin.register()
        self.cam.register()
        for name, spec in self.pvs.specs.items():
            rbv = name + "_RBV"
            if rbv in self.pvs.specs and rbv not in initial:
                initial[rbv] = _rbv_initial(self.pvs, name, initial.get(name, spec.value))
        from epicsdbbuilder import SetSimpleRecordNames
        from softioc import builder  # noqa: F401 - its import resets the record names

        SetSimpleRecordNames(prefix=self.prefix, separator="")
        self.pvs.build(initial)
        self.pvs.add_aliases(self.aliases)

    def after_init(self) -> None:
        """Runs in the event loop once the IOC serves: optional priming."""
        if self.primed:
            for plugin in self.cam.plugins:
                plugin.prime(self.size, "UInt16")

    def shutdown(self) -> None:
        """Stop acquiring and close open files (runs in the event loop)."""
        self.cam.stop()
        for plugin in self.cam.plugins:
            try:
                plugin.stop()
            except Exception:
                log.exception("closing %s", plugin.suffix)


def check_aliases(
    aliases: Sequence[tuple[str, str]], devices: Sequence[str] = DEVICES
) -> tuple[tuple[str, str], ...]:
    """Validate ``(DEVICE, ALIAS)`` pairs: a known device, a record-name-safe alias ending
    in ``:`` that names no device and no other alias; raise ValueError saying which."""
    seen: dict[str, str] = {}
    for device, alias in aliases:
        text = repr(f"{device}={alias}")
        if device not in devices:
            raise ValueError(f"alias {text}: no device {device!r} (one of {devices})")
        if not _ALIAS.fullmatch(alias) or alias == ":":
            raise ValueError(f"alias {text}: {alias!r} must be PV-name characters ending in ':'")
        if alias in devices or alias in seen:
            taken = "a device" if alias in devices else f"already an alias of {seen[alias]}"
            raise ValueError(f"alias {text}: {alias!r} is {taken}")
        seen[alias] = device
    return tuple(aliases)


def check_port(port: str) -> str:
    """An asyn port name: what the cam shows in PortName_RBV and plugins' NDArrayPort."""
    if not port or len(port) > 40 or any(c.isspace() for c in port):
        raise ValueError(f"cam port {port!r} must be 1-40 characters without spaces")
    return port


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("acquisition failed", exc_info=task.exception())


def _rbv_initial(pvs: RecordSet, name: str, value: object) -> object:
    """A readback's first value: the setpoint's, by index for enums."""
    spec = pvs.specs[name]
    if spec.kind == "enum" and isinstance(value, str):
        return spec.enum_strs.index(value)
    return value
