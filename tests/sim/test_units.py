"""No IOC needed: the PV table, frames, mounts and file templates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sim_iocs import (
    AD_DATA_TYPES,
    FileTemplateError,
    MountTable,
    all_pv_names,
    check_file_template,
    expected_frame,
    load_pv_table,
    make_frame,
    ophyd_pv_names,
    parse_mount,
)
from sim_iocs._regen_pvtable import build_table


# -- PV table ------------------------------------------------------------------------
def test_vendored_table_covers_every_ophyd_pv():
    """Fails after an ophyd upgrade adds PVs: run ``python -m sim_iocs._regen_pvtable``."""
    table = {spec.name for spec in load_pv_table()}
    missing = sorted(set(ophyd_pv_names()) - table)
    assert not missing, f"regenerate sim_iocs/ad_pvs.json; missing {missing[:10]}"


def test_regenerating_reproduces_the_vendored_table():
    vendored = Path(__import__("sim_iocs").__file__).with_name("ad_pvs.json")
    previous = {e["name"]: e for e in json.loads(vendored.read_text())}
    regenerated = [spec.to_json() for spec in build_table(all_pv_names(), previous, {})]
    assert regenerated == list(previous.values())


def test_table_types_follow_the_templates():
    from sim_iocs._pvtable import KINDS

    specs = {spec.name: spec for spec in load_pv_table()}
    assert {spec.kind for spec in specs.values()} <= KINDS
    assert specs["HDF1:FileWriteMode"].enum_strs == ("Single", "Capture", "Stream")
    assert specs["cam1:Acquire"].rtyp == "bo"
    assert specs["HDF1:Capture"].rtyp == "busy"
    assert specs["HDF1:FilePath"].kind == "char" and specs["HDF1:FilePath"].max_length == 256
    assert specs["TIFF1:FullFileName_RBV"].kind == "char"
    assert specs["HDF1:PluginType_RBV"].kind == "str"
    assert specs["HDF1:EnableCallbacks"].enum_strs == ("Disable", "Enable")
    assert specs["HDF1:AutoIncrement"].enum_strs == ("No", "Yes")
    assert specs["TIFF1:LazyOpen"].enum_strs == ("No", "Yes")
    for spec in specs.values():
        if spec.name.endswith("_RBV") and spec.name[:-4] in specs:
            setpoint = specs[spec.name[:-4]]
            assert spec.read_only and not setpoint.read_only
            if spec.kind == "enum":
                assert len(spec.enum_strs) == len(setpoint.enum_strs) or spec.name.endswith(
                    ("ShutterMode_RBV", "FileFormat_RBV")
                ), spec.name


# -- frames --------------------------------------------------------------------------
@pytest.mark.parametrize("name, dtype", AD_DATA_TYPES)
@pytest.mark.parametrize("k", [0, 1, 255, 65535, 2**31 + 5])
def test_frame_formula(name, dtype, k):
    frame = make_frame(k, 5, 300, dtype)
    assert frame.dtype == dtype and frame.shape == (5, 300)
    np.testing.assert_array_equal(frame, expected_frame(k, 5, 300, dtype))


def test_frame_formula_by_hand():
    frame = make_frame(3, 2, 200, "uint8")
    assert frame[0, 0] == 3 and frame[1, 0] == 5 and frame[0, 199] == 202
    assert frame[1, 199] == (3 + 199 + 2) % 256
    assert make_frame(0, 1, 2, "float32").tolist() == [[0.0, 1.0]]
    signed = make_frame(250, 1, 10, "int8")  # 255 -> -1, 259 % 256 = 3: two's complement
    assert signed[0, 5] == -1 and signed[0, 9] == 3


# -- mounts --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "writer, host",
    [
        ("D:\\data\\2026\\", "/srv/win/2026"),
        ("d:/DATA/2026/11", "/srv/win/2026/11"),
        ("D:\\data", "/srv/win"),
        ("D:\\database\\x", None),
        ("D:\\data\\..\\x", None),
        ("E:\\data\\x", None),
        ("/ioc/data/a/b/", "/srv/posix/a/b"),
        ("/ioc/data/deep/er", "/srv/deeper"),
        ("/IOC/data/a", None),
        ("/ioc/database", None),
        ("relative/path", None),
    ],
)
def test_mount_mapping(writer, host):
    table = MountTable(
        [
            parse_mount("D:\\data=/srv/win"),
            parse_mount("/ioc/data=/srv/posix"),
            parse_mount("/ioc/data/deep/er=/srv/deeper"),
        ]
    )
    result = table.to_host(writer)
    assert (str(result) if result else None) == host


def test_separators_and_defaults():
    table = MountTable([parse_mount("D:\\data=/srv/win")])
    assert table.separator("D:\\data\\x") == "\\"
    assert MountTable().to_host("/a/b") == Path("/a/b")
    assert MountTable().to_host("C:\\x") is None
    assert MountTable().separator("/x") == "/"


@pytest.mark.parametrize("bad", ["D:\\data", "=/srv", "D:\\data=relative", "rel=/srv"])
def test_bad_mounts(bad):
    with pytest.raises(ValueError):
        parse_mount(bad)


# -- file templates ------------------------------------------------------------------
@pytest.mark.parametrize(
    "template, expected",
    [
        ("%s%s_%6.6d.h5", "/p/n_000007.h5"),
        ("%s%s_%3.3d.tiff", "/p/n_007.tiff"),
        ("%s%s.h5", "/p/n.h5"),  # ophyd-async's HDF5 template: the number is not used
        ("%s%s_%d_%d.h5", None),
        ("%s%s_%ld.h5", "/p/n_7.h5"),
        ("%s%s_%s.h5", None),
        ("%s100%%_%s_%d", "/p/100%_n_7"),
        ("%s%s_%*d", None),
    ],
)
def test_file_templates(template, expected):
    if expected is None:
        with pytest.raises(FileTemplateError):
            check_file_template(template)
    else:
        assert check_file_template(template) % ("/p/", "n", 7) == expected


# -- CA repeater ---------------------------------------------------------------------
def test_repeater_confirms_and_forwards_beacons():
    import socket
    import struct

    from sim_iocs._repeater import CARepeater
    from sim_iocs.testing import free_port

    repeater = CARepeater(free_port())
    header = struct.Struct("!HHHHII")
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server,
    ):
        client.bind(("127.0.0.1", 0))
        client.settimeout(5)
        server.bind(("127.0.0.1", 0))
        registration = header.pack(24, 0, 0, 0, 0, 0x7F000001)
        repeater.handle(registration, client.getsockname())
        assert header.unpack(client.recv(64))[0] == 17
        beacon = header.pack(13, 0, 5064, 0, 7, 0)
        repeater.handle(beacon, server.getsockname())
        forwarded = header.unpack(client.recv(64))
        assert forwarded[:5] == (13, 0, 5064, 0, 7)
        assert forwarded[5] == 0x7F000001  # the beacon's sender filled in
    repeater.sock.close()


def test_public_namespace():
    import sim_iocs

    assert all(hasattr(sim_iocs, name) for name in sim_iocs.__all__)
    import types

    public = [
        name
        for name, value in vars(sim_iocs).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    ]
    assert sorted(public) == sorted(sim_iocs.__all__)


@pytest.mark.parametrize("dtype", ["uint16", "int8", "uint8", "int32", "float32"])
@pytest.mark.parametrize("k", [0, 1, 9, 1000])
@pytest.mark.parametrize("shape", [(48, 64), (7, 5), (1, 1)])
def test_peaks_frame_formula(dtype, k, shape):
    frame = make_frame(k, *shape, dtype, "Peaks")
    assert frame.dtype == np.dtype(dtype) and frame.shape == shape
    np.testing.assert_array_equal(frame, expected_frame(k, *shape, dtype, "Peaks"))


def test_peaks_spot_follows_the_frame_number():
    # 64x48: spot radius 4, steps of 4 (x) and 2 (y) pixels per frame from (4, 4)
    for k, (x, y) in [(0, (4, 4)), (1, (8, 6)), (5, (24, 14)), (14, (60, 32)), (15, (56, 34))]:
        frame = make_frame(k, 48, 64, "uint16", "Peaks")
        peak_y, peak_x = np.unravel_index(np.argmax(frame), frame.shape)
        assert (peak_x, peak_y) == (x, y), k
        assert frame.max() >= 3000


def test_other_sim_modes_fall_back_to_the_ramp():
    for mode in ("LinearRamp", "Sine", "Offset&Noise"):
        np.testing.assert_array_equal(
            make_frame(3, 4, 6, "uint16", mode), expected_frame(3, 4, 6, "uint16")
        )
