"""Regenerate ``sim_iocs/ad_pvs.json`` from ophyd's and ophyd-async's classes (names) and AD types.

Run ``python -m sim_iocs._regen_pvtable [--reference ad-sim-pvs.json]`` after an ophyd
upgrade; ``tests/sim/test_pvtable.py`` fails when the vendored table no longer covers
every PV of the classes in :data:`sim_iocs._pvtable.OPHYD_CLASSES` or of ophyd-async's
``SimDetector`` with the writers of :data:`sim_iocs._pvtable.OPHYD_ASYNC_WRITERS` (both
packages are needed to regenerate).

Types come, in order, from: the vendored table itself (so regeneration is stable), a
reference table typed from the ADCore/ADSimDetector templates (looked up by exact name,
then by record suffix within the same plugin family), :data:`CONVENTIONS` (records of the
AD templates that the reference table did not contain, typed by hand from the templates'
conventions), and finally a heuristic (``source: "heuristic"``) for the few PVs that
ophyd defines but no AD template has (``ArraySize0`` setpoints and the like).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sim_iocs._pvtable import PVSpec, all_pv_names

__all__ = ["CONVENTIONS", "PLUGIN_OVERRIDES", "build_table", "main"]

_YES_NO = ("No", "Yes")
_OFF_ON = ("Off", "On")


def _longs(*names: str) -> dict[str, dict[str, Any]]:
    """longout setpoints with longin ``_RBV`` readbacks (the AD convention)."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        out[name] = {"kind": "int", "rtyp": "longout"}
        out[name + "_RBV"] = {"kind": "int", "rtyp": "longin", "read_only": True}
    return out


def _enums(rtyp_out: str, strs: tuple[str, ...], *names: str) -> dict[str, dict[str, Any]]:
    rtyp_in = "bi" if rtyp_out == "bo" else "mbbi"
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        out[name] = {"kind": "enum", "rtyp": rtyp_out, "enum_strs": strs}
        out[name + "_RBV"] = {"kind": "enum", "rtyp": rtyp_in, "enum_strs": strs, "read_only": True}
    return out


def _chars(length: int, *names: str, read_only: bool = False) -> dict[str, dict[str, Any]]:
    rtyp = "waveform"
    return {
        n: {
            "kind": "char",
            "rtyp": rtyp,
            "max_length": length,
            "read_only": read_only or n.endswith("_RBV"),
            "value": "",
        }
        for n in names
    }


_DIMS = ("3", "4", "5", "6", "7", "8", "9")

#: Records of ADCore (NDPluginBase, NDFile, NDFileHDF5, NDStdArrays, ADBase) typed by hand.
CONVENTIONS: dict[str, dict[str, Any]] = {
    "ADCoreVersion_RBV": {"kind": "str", "rtyp": "stringin", "read_only": True, "value": "3.12.1"},
    "DriverVersion_RBV": {"kind": "str", "rtyp": "stringin", "read_only": True, "value": "3.12.1"},
    "ArrayData": {"kind": "array", "rtyp": "waveform", "max_length": 1 << 20, "read_only": True},
    "EpicsTSSec_RBV": {"kind": "int", "rtyp": "longin", "read_only": True},
    "EpicsTSNsec_RBV": {"kind": "int", "rtyp": "longin", "read_only": True},
    "ExecutionTime_RBV": {"kind": "float", "rtyp": "ai", "read_only": True, "value": 0.0},
    "MaxThreads_RBV": {"kind": "int", "rtyp": "longin", "read_only": True, "value": 1},
    "QueueSize_RBV": {"kind": "int", "rtyp": "longin", "read_only": True, "value": 20},
    "SortFree": {"kind": "int", "rtyp": "longin", "read_only": True},
    "SortFreeLow": {"kind": "float", "rtyp": "calcout", "read_only": True, "value": 0.0},
    "NumQueuedArrays": {"kind": "int", "rtyp": "longin", "read_only": True},
    "SWMRCbCounter_RBV": {"kind": "int", "rtyp": "longin", "read_only": True},
    "MaxArrayRate_COUT": {"kind": "float", "rtyp": "calcout", "read_only": True, "value": 0.0},
    "NDAttributesStatus": {
        "kind": "enum",
        "rtyp": "mbbi",
        "read_only": True,
        "enum_strs": ("Attributes file OK", "File not found", "XML syntax error", "Macro error"),
    },
    "EmptyFreeList": {"kind": "enum", "rtyp": "bo", "enum_strs": ("Done", "Empty")},
    "ProcessPlugin": {"kind": "enum", "rtyp": "bo", "enum_strs": ("Done", "Process")},
    "XMLValid_RBV": {"kind": "enum", "rtyp": "bi", "enum_strs": _YES_NO, "read_only": True},
    "SWMRSupported_RBV": {
        "kind": "enum",
        "rtyp": "bi",
        "enum_strs": ("Not Supported", "Supported"),
        "read_only": True,
    },
    "SWMRActive_RBV": {
        "kind": "enum",
        "rtyp": "bi",
        "enum_strs": ("Off", "Active"),
        "read_only": True,
    },
    "TempSuffix": {"kind": "str", "rtyp": "stringout", "value": ""},
    # ADBase.template records that ophyd-async's ADBaseIO connects to (ophyd does not)
    "SerialNumber_RBV": {"kind": "str", "rtyp": "stringin", "read_only": True, "value": ""},
    "SDKVersion_RBV": {"kind": "str", "rtyp": "stringin", "read_only": True, "value": ""},
    "FirmwareVersion_RBV": {"kind": "str", "rtyp": "stringin", "read_only": True, "value": ""},
    "WaitForPlugins": {"kind": "enum", "rtyp": "bo", "enum_strs": _YES_NO},
    # NDFileHDF5.template: the SWMR flush (a busy record) and automatic chunking
    "FlushNow": {"kind": "enum", "rtyp": "busy", "enum_strs": ("Done", "Flush")},
    "TempSuffix_RBV": {"kind": "str", "rtyp": "stringin", "read_only": True, "value": ""},
    **{
        f"ExtraDimName{d}_RBV": {"kind": "str", "rtyp": "stringin", "read_only": True, "value": ""}
        for d in _DIMS
    },
    **_chars(256, "XMLFileName", "XMLFileName_RBV", "NDAttributesMacros"),
    **_chars(512, "XMLErrorMsg_RBV", read_only=True),
    **_chars(
        64,
        *(
            f"Pos{kind}Dim{d}{rbv}"
            for kind in ("Index", "Name")
            for d in (*_DIMS, "N", "X", "Y")
            for rbv in ("", "_RBV")
        ),
    ),
    **_longs(
        "CreateDirectory",
        "DisorderedArrays",
        "DroppedOutputArrays",
        "NumThreads",
        "SortSize",
        "BloscLevel",
        "NDAttributeChunk",
        *(f"ExtraDimChunk{d}" for d in (*_DIMS, "X", "Y")),
        *(f"ExtraDimSize{d}" for d in _DIMS),
    ),
    **{
        f"Dim{i}SA{rbv}": {"kind": "int", "rtyp": "subArray", "read_only": bool(rbv)}
        for i in range(10)
        for rbv in ("", "_RBV")
    },
    "SortTime": {"kind": "float", "rtyp": "ao", "value": 0.0},
    "SortTime_RBV": {"kind": "float", "rtyp": "ai", "read_only": True, "value": 0.0},
    "MaxArrayRate": {"kind": "float", "rtyp": "ao", "value": 0.0},
    "MaxArrayRate_RBV": {"kind": "float", "rtyp": "ai", "read_only": True, "value": 0.0},
    "MaxByteRate": {"kind": "float", "rtyp": "ao", "value": 0.0},
    "MaxByteRate_RBV": {"kind": "float", "rtyp": "ai", "read_only": True, "value": 0.0},
    "FillValue": {"kind": "float", "rtyp": "ao", "value": 0.0},
    "FillValue_RBV": {"kind": "float", "rtyp": "ai", "read_only": True, "value": 0.0},
    **_enums("bo", _YES_NO, "LazyOpen", "DimAttDatasets", "ChunkSizeAuto"),
    **_enums("bo", _OFF_ON, "SWMRMode", "PositionMode"),
    **_enums("bo", ("Unsorted", "Sorted"), "SortMode"),
    **_enums("mbbo", ("BloscLZ", "LZ4", "LZ4HC", "SNAPPY", "ZLIB", "ZSTD"), "BloscCompressor"),
    **_enums("mbbo", ("None", "Byte", "Bit"), "BloscShuffle"),
}


#: Records whose type differs between plugins of one family (looked up by full name).
PLUGIN_OVERRIDES: dict[str, dict[str, Any]] = {
    "TIFF1:FileFormat": {"kind": "enum", "rtyp": "mbbo", "enum_strs": ("TIFF", "Invalid")},
    "TIFF1:FileFormat_RBV": {
        "kind": "enum",
        "rtyp": "mbbi",
        "enum_strs": ("TIFF", "Undefined"),
        "read_only": True,
    },
}


def _reference_lookup(reference: dict[str, dict[str, Any]], name: str) -> dict[str, Any] | None:
    """Find ``name`` in the reference, else the same record of another plugin family member."""
    if name in reference:
        return reference[name]
    plugin, suffix = name.split(":", 1)
    family = "cam1" if plugin == "cam1" else "HDF1"
    found = reference.get(f"{family}:{suffix}")
    if found is None and not suffix.endswith("_RBV"):
        found = _setpoint_from_readback(reference.get(f"{family}:{suffix}_RBV"))
    if found is None:
        found = reference.get(f"cam1:{suffix}") or reference.get(f"HDF1:{suffix}")
    return found


def _setpoint_from_readback(readback: dict[str, Any] | None) -> dict[str, Any] | None:
    """An NDArrayBase setpoint (``ColorMode``) typed like its readback (``ColorMode_RBV``)."""
    if readback is None:
        return None
    out_types = {
        "bi": "bo",
        "mbbi": "mbbo",
        "longin": "longout",
        "ai": "ao",
        "stringin": "stringout",
    }
    if readback.get("rtyp") not in out_types:
        return None
    return {**readback, "rtyp": out_types[readback["rtyp"]], "read_only": False}


def _heuristic(name: str) -> dict[str, Any]:
    """Type a PV that ophyd defines but no AD template has (e.g. ``ArraySize0``)."""
    suffix = name.split(":", 1)[1]
    base = suffix.removesuffix("_RBV")
    if base.startswith(("Dimensions",)):
        return {"kind": "array", "rtyp": "waveform", "max_length": 10}
    if base == "NDimensions":
        return {"kind": "int", "rtyp": "longout"}
    return {"kind": "int", "rtyp": "longin" if suffix.endswith("_RBV") else "longout"}


def _spec(name: str, attr: str, typed: dict[str, Any], source: str) -> PVSpec:
    kind = typed["kind"]
    default = {"int": 0, "float": 0.0, "str": "", "char": "", "array": 0, "field": 0}
    enum_strs = tuple(typed.get("enum_strs", ()))
    value = typed.get("value", enum_strs[0] if enum_strs else default.get(kind, 0))
    return PVSpec(
        name=name,
        kind=kind,
        rtyp=typed.get("rtyp", ""),
        enum_strs=enum_strs,
        max_length=int(typed.get("max_length", 1)),
        read_only=bool(typed.get("read_only", name.endswith("_RBV"))),
        value=value,
        source=typed.get("source", source),
        ophyd_attr=attr,
    )


def build_table(
    names: dict[str, str],
    previous: dict[str, dict[str, Any]],
    reference: dict[str, dict[str, Any]],
) -> list[PVSpec]:
    """Type every ophyd PV name; see the module docstring for the order of sources."""
    table = []
    for name, attr in sorted(names.items(), key=lambda kv: _sort_key(kv[0])):
        suffix = name.split(":", 1)[1]
        if name in previous:
            table.append(_spec(name, attr, previous[name], "template"))
            continue
        found = PLUGIN_OVERRIDES.get(name) or _reference_lookup(reference, name)
        if found is not None:
            table.append(_spec(name, attr, found, "template"))
        elif suffix in CONVENTIONS:
            table.append(_spec(name, attr, CONVENTIONS[suffix], "convention"))
        else:
            table.append(_spec(name, attr, _heuristic(name), "heuristic"))
    return table


def _sort_key(name: str) -> tuple[int, str]:
    order = ("cam1", "image1", "HDF1", "TIFF1")
    plugin = name.split(":", 1)[0]
    return (order.index(plugin) if plugin in order else len(order), name)


def _read_json(path: Path | None) -> dict[str, dict[str, Any]]:
    if path is None or not path.exists():
        return {}
    return {entry["name"]: entry for entry in json.loads(path.read_text(encoding="utf-8"))}


def main(argv: list[str] | None = None) -> int:
    """Write the table; ``--fresh`` ignores the vendored types and retypes everything."""
    here = Path(__file__).with_name("ad_pvs.json")
    parser = argparse.ArgumentParser(prog="python -m sim_iocs._regen_pvtable")
    parser.add_argument("--reference", type=Path, help="a table typed from the AD templates")
    parser.add_argument("--output", type=Path, default=here)
    parser.add_argument("--fresh", action="store_true", help="do not reuse the vendored types")
    args = parser.parse_args(argv)
    previous = {} if args.fresh else _read_json(here)
    table = build_table(all_pv_names(), previous, _read_json(args.reference))
    text = json.dumps([spec.to_json() for spec in table], indent=1) + "\n"
    args.output.write_text(text, encoding="utf-8")
    sources: dict[str, int] = {}
    for spec in table:
        sources[spec.source] = sources.get(spec.source, 0) + 1
    print(f"wrote {len(table)} PVs to {args.output}: {sources}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
