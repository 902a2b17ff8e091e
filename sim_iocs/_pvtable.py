"""The vendored table of area-detector PVs the sim IOC serves.

ophyd's classes give the PV *names*, but not the record types: ophyd only knows whether
a signal is read as a string.  A client such as ophyd compares enum strings ("Yes",
"Stream") and puts integers to ``bo`` records, so the IOC must serve the record types of
the areaDetector templates.  The table is generated once by ``python -m
sim_iocs._regen_pvtable`` and vendored as ``ad_pvs.json`` so that starting the IOC needs
neither ophyd nor the templates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "OPHYD_ASYNC_WRITERS",
    "OPHYD_CLASSES",
    "PVSpec",
    "all_pv_names",
    "load_pv_table",
    "ophyd_async_pv_names",
    "ophyd_pv_names",
]

#: The ophyd 1.11 classes whose every PV the IOC serves, with the suffix ophyd uses.
OPHYD_CLASSES: tuple[tuple[str, str, str], ...] = (
    ("ophyd.areadetector.cam", "SimDetectorCam", "cam1:"),
    ("ophyd.areadetector.plugins", "ImagePlugin", "image1:"),
    ("ophyd.areadetector.plugins", "HDF5Plugin_V34", "HDF1:"),
    ("ophyd.areadetector.plugins", "TIFFPlugin_V34", "TIFF1:"),
)

#: The ophyd-async ``ADWriterFactory`` constructors (with their suffixes) whose plugins an
#: ophyd-async ``SimDetector`` (driver ``cam1:``) connects to; the IOC serves every PV of them.
OPHYD_ASYNC_WRITERS: tuple[tuple[str, str], ...] = (("hdf", "HDF1:"), ("tiff", "TIFF1:"))

#: Record kinds used in the table; ``field`` names a field of another record (``.DISA``).
KINDS = frozenset({"int", "float", "enum", "str", "char", "array", "field"})


@dataclass(frozen=True)
class PVSpec:
    """One PV (without the IOC prefix) and how its record is typed."""

    name: str
    kind: str
    rtyp: str = ""
    enum_strs: tuple[str, ...] = ()
    max_length: int = 1
    read_only: bool = False
    value: Any = 0
    source: str = "template"
    ophyd_attr: str = ""

    @property
    def plugin(self) -> str:
        """The plugin (or cam) part of the name, e.g. ``"HDF1:"``."""
        return self.name.split(":", 1)[0] + ":"

    @property
    def suffix(self) -> str:
        """The record name inside its plugin, e.g. ``"FilePath_RBV"``."""
        return self.name.split(":", 1)[1]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PVSpec:
        """Build from one entry of ``ad_pvs.json``."""
        known = {k: data[k] for k in data if k in cls.__dataclass_fields__}
        known["enum_strs"] = tuple(known.get("enum_strs", ()))
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        """The JSON form written by the generator (stable key order)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "rtyp": self.rtyp,
            "enum_strs": list(self.enum_strs),
            "max_length": self.max_length,
            "read_only": self.read_only,
            "value": self.value,
            "source": self.source,
            "ophyd_attr": self.ophyd_attr,
        }


@cache
def load_pv_table() -> tuple[PVSpec, ...]:
    """Read the vendored table shipped with the package."""
    text = resources.files("sim_iocs").joinpath("ad_pvs.json").read_text(encoding="utf-8")
    return tuple(PVSpec.from_json(entry) for entry in json.loads(text))


def ophyd_pv_names() -> dict[str, str]:
    """Every PV name (prefix-less) that the ophyd classes define, mapped to its attribute.

    Needs ophyd; used by the generator and by the test that the vendored table still
    covers ophyd.  ``lazy_wait_for_connection`` is switched off so that instantiating the
    classes does not wait for an IOC.
    """
    import importlib

    from ophyd import Device

    saved = Device.lazy_wait_for_connection
    Device.lazy_wait_for_connection = False
    try:
        names: dict[str, str] = {}
        for module, cls_name, suffix in OPHYD_CLASSES:
            cls = getattr(importlib.import_module(module), cls_name)
            device = cls("__PVTABLE__:" + suffix, name="d")
            for walked in device.walk_signals(include_lazy=True):
                for attr in ("_read_pvname", "_setpoint_pvname"):
                    pvname = getattr(walked.item, attr, None)
                    if pvname:
                        attr_name = f"{suffix[:-1].lower()}.{walked.dotted_name}"
                        names.setdefault(pvname.split(":", 1)[1], attr_name)
        return names
    finally:
        Device.lazy_wait_for_connection = saved


def ophyd_async_pv_names() -> dict[str, str]:
    """Every PV name (prefix-less) an ophyd-async ``SimDetector`` with the HDF5 and TIFF
    writers connects to, mapped to ``async:<attribute>``.

    Needs ophyd-async; nothing connects (the devices are only built and walked).
    """
    from pathlib import PurePosixPath

    from ophyd_async.core import Signal, StaticFilenameProvider, StaticPathProvider
    from ophyd_async.epics.adcore import ADWriterFactory
    from ophyd_async.epics.adsimdetector import SimDetector

    provider = StaticPathProvider(StaticFilenameProvider("f"), PurePosixPath("/"))
    factories = [
        getattr(ADWriterFactory, method)(provider, writer_suffix=suffix)
        for method, suffix in OPHYD_ASYNC_WRITERS
    ]
    device = SimDetector("__PVTABLE__:", *factories, name="det")
    names: dict[str, str] = {}

    def walk(parent: Any, dotted: str) -> None:
        for child_name, child in parent.children():
            path = f"{dotted}.{child_name}" if dotted else child_name
            if not isinstance(child, Signal):
                walk(child, path)
                continue
            backend = child._connector.backend
            for attr in ("read_pv", "write_pv"):
                pvname = getattr(backend, attr, "")
                if pvname:
                    names.setdefault(pvname.split(":", 1)[1], f"async:{path}")

    walk(device, "")
    return names


def all_pv_names() -> dict[str, str]:
    """:func:`ophyd_pv_names` and :func:`ophyd_async_pv_names` (ophyd's attribute wins)."""
    return {**ophyd_async_pv_names(), **ophyd_pv_names()}
