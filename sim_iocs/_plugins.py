"""The NDArray passed down the plugin chain, and the plugin base behaviour.

Plugins run synchronously in the IOC's event loop (as areaDetector does with
``BlockingCallbacks=Yes``): a frame is handed to every enabled plugin whose
``NDArrayPort`` names the cam's port before the next frame is made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim_iocs._records import RecordSet

__all__ = ["ImagePlugin", "NDArray", "PluginBase"]

_EPICS_EPOCH = 631152000  # 1990-01-01 in Unix time: AD timestamps count from it


@dataclass(frozen=True)
class NDArray:
    """One frame as areaDetector passes it between plugins."""

    data: np.ndarray
    unique_id: int
    timestamp: float

    @property
    def data_type(self) -> str:
        """The AD ``NDDataType`` name (``UInt16``...)."""
        name = self.data.dtype.name
        return name[0].upper() + name[1:] if name[0] != "u" else "UInt" + name[4:]

    @property
    def shape_xy(self) -> tuple[int, int]:
        """``(size_x, size_y)``: AD lists dimensions fastest first."""
        return self.data.shape[1], self.data.shape[0]


class PluginBase:
    """NDPluginBase: port names, enable, array counter, priming, dimensions."""

    plugin_type = "NDPluginBase"
    #: NDPluginDriver counts every array; file plugins count only the arrays they save.
    counts_every_array = True

    def __init__(self, pvs: RecordSet, suffix: str, port: str) -> None:
        self.pvs = pvs
        self.suffix = suffix
        self.port = port
        self.last_array: NDArray | None = None

    def pv(self, name: str) -> str:
        """The table name of one of this plugin's records."""
        return self.suffix + name

    def initial_values(self, source_port: str) -> dict[str, object]:
        """Start-up values of this plugin's records."""
        return {
            self.pv("PortName_RBV"): self.port,
            self.pv("PluginType_RBV"): self.plugin_type,
            self.pv("NDArrayPort"): source_port,
            self.pv("NDArrayPort_RBV"): source_port,
            self.pv("EnableCallbacks"): 0,
            self.pv("EnableCallbacks_RBV"): 0,
            self.pv("BlockingCallbacks"): 1,
            self.pv("BlockingCallbacks_RBV"): 1,
            self.pv("QueueSize"): 20,
            self.pv("QueueFree"): 20,
            self.pv("ADCoreVersion_RBV"): "3.12.1",
            self.pv("DriverVersion_RBV"): "3.12.1",
        }

    def register(self) -> None:
        """Hook this plugin's behaviour into the record set (before the records exist)."""

    def prime(self, shape_xy: tuple[int, int], data_type: str) -> None:
        """Show array dimensions as if a frame had been seen (``--primed``)."""
        self._show_dimensions(shape_xy, data_type)

    def accepts(self, source_port: str) -> bool:
        """True when enabled and wired to ``source_port``."""
        pvs = self.pvs
        return bool(pvs.get(self.pv("EnableCallbacks"))) and (
            pvs.get(self.pv("NDArrayPort")) == source_port
        )

    def receive(self, array: NDArray) -> None:
        """Count the frame, show its dimensions, then let the plugin process it."""
        pvs = self.pvs
        if self.counts_every_array:
            self.count_array()
        self._show_dimensions(array.shape_xy, array.data_type)
        pvs.set_if_present(self.pv("UniqueId_RBV"), array.unique_id, sync=False)
        stamp = array.timestamp - _EPICS_EPOCH
        pvs.set_if_present(self.pv("TimeStamp_RBV"), stamp, sync=False)
        self.last_array = array
        self.process(array)

    def process(self, array: NDArray) -> None:
        """What the plugin does with a frame; the base does nothing."""

    def count_array(self) -> None:
        """Bump ``ArrayCounter`` (and its readback)."""
        counter = int(self.pvs.get(self.pv("ArrayCounter_RBV"))) + 1
        self.pvs.set(self.pv("ArrayCounter_RBV"), counter, sync=False)

    def _show_dimensions(self, shape_xy: tuple[int, int], data_type: str) -> None:
        pvs = self.pvs
        size_x, size_y = shape_xy
        for name, value in (
            ("ArraySize0_RBV", size_x),
            ("ArraySize1_RBV", size_y),
            ("ArraySize2_RBV", 0),
            ("ArraySize0", size_x),  # NDFileIO.array_size0/1 of ophyd-async read these
            ("ArraySize1", size_y),
            ("ArraySizeX_RBV", size_x),
            ("ArraySizeY_RBV", size_y),
            ("NDimensions_RBV", 2),
            ("DataType_RBV", data_type),
        ):
            pvs.set_if_present(self.pv(name), value)

    def stop(self) -> None:
        """Release resources at IOC shutdown."""


class ImagePlugin(PluginBase):
    """NDPluginStdArrays: publishes each frame in ``ArrayData``."""

    plugin_type = "NDPluginStdArrays"

    def process(self, array: NDArray) -> None:
        """Publish the frame as a flat int32 waveform (as much as fits)."""
        limit = self.pvs.specs[self.pv("ArrayData")].max_length
        flat = array.data.reshape(-1)[:limit].astype(np.int32)
        self.pvs.set(self.pv("ArrayData"), flat, sync=False)  # posted at <= 50 Hz, as counters
