"""The cam: Acquire/DetectorState, ImageMode, NumImages, ArrayCounter, DataType."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.ioc


def test_single_mode_takes_one_frame(ca):
    ca.put("cam1:ArrayCounter", 10)
    ca.wait_for("cam1:ArrayCounter_RBV", 10)
    ca.acquire(1)
    assert ca.get("cam1:ArrayCounter_RBV") == 11
    assert ca.get("cam1:NumImagesCounter_RBV") == 1
    assert ca.get("cam1:Acquire", as_string=True) == "Done"
    assert ca.get("cam1:DetectorState_RBV", as_string=True) == "Idle"


def test_multiple_mode_takes_num_images(ca):
    ca.put("cam1:ArrayCounter", 0)
    ca.wait_for("cam1:ArrayCounter_RBV", 0)
    ca.acquire(7)
    assert ca.get("cam1:ArrayCounter_RBV") == 7
    assert ca.get("cam1:NumImagesCounter_RBV") == 7


def test_continuous_runs_until_stopped(ca):
    ca.put("cam1:ImageMode", "Continuous")
    ca.put("cam1:AcquireTime", 0.001)
    ca.put("cam1:AcquirePeriod", 0.005)
    ca.put("cam1:Acquire", 1, wait=False)
    ca.wait_for("cam1:Acquire_RBV", "Acquiring")
    assert ca.get("cam1:DetectorState_RBV", as_string=True) == "Acquire"
    start = ca.get("cam1:ArrayCounter_RBV")
    for _ in range(2000):
        if ca.get("cam1:ArrayCounter_RBV") >= start + 3:
            break
    ca.put("cam1:Acquire", 0)
    ca.wait_for("cam1:Acquire_RBV", "Done")
    ca.wait_for("cam1:DetectorState_RBV", "Idle")
    stopped_at = ca.get("cam1:ArrayCounter_RBV")
    assert stopped_at >= start + 3
    assert ca.get("cam1:ArrayCounter_RBV") == stopped_at


@pytest.mark.parametrize(
    "name, value",
    [
        ("cam1:AcquireTime", 0.25),
        ("cam1:AcquirePeriod", 0.5),
        ("cam1:NumImages", 12),
        ("cam1:ImageMode", "Continuous"),
        ("cam1:TriggerMode", "External"),
        ("cam1:DataType", "Float64"),
        ("HDF1:FileName", "a_rather_long_file_name_" * 5),
        ("HDF1:AutoIncrement", "Yes"),
        ("HDF1:FileWriteMode", "Capture"),
        ("HDF1:NumCapture", 33),
        ("HDF1:LazyOpen", "Yes"),
        ("TIFF1:CreateDirectory", -2),
    ],
)
def test_readbacks_follow_setpoints(ca, name, value):
    ca.put(name, value)
    ca.wait_for(name + "_RBV", value)


def test_enum_strings_are_the_templates(ca):
    import epics

    def strings(name):
        return epics.PV(ca.ioc.pv(name), form="ctrl").get_ctrlvars(timeout=5)["enum_strs"]

    assert strings("cam1:Acquire_RBV") == ("Done", "Acquiring")
    assert strings("cam1:ImageMode") == ("Single", "Multiple", "Continuous")
    assert strings("cam1:DataType")[:10] == (
        "Int8",
        "UInt8",
        "Int16",
        "UInt16",
        "Int32",
        "UInt32",
        "Int64",
        "UInt64",
        "Float32",
        "Float64",
    )
    assert strings("HDF1:FileWriteMode") == ("Single", "Capture", "Stream")
    assert strings("HDF1:Capture_RBV") == ("Done", "Capturing")
    assert strings("HDF1:EnableCallbacks") == ("Disable", "Enable")


def test_long_strings_are_char_waveforms(ca):
    import epics

    for name, nelm in (("HDF1:FilePath", 256), ("TIFF1:FullFileName_RBV", 512)):
        pv = epics.PV(ca.ioc.pv(name))
        assert pv.wait_for_connection(5)
        assert epics.ca.field_type(pv.chid) == epics.dbr.CHAR
        assert pv.nelm == nelm
    long_path = "/ioc/data/" + "x" * 150 + "/"
    ca.put("TIFF1:FilePath", long_path)
    ca.wait_for("TIFF1:FilePath_RBV", long_path)
