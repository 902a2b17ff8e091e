"""A put completes only once the readbacks it changes are current, as in real areaDetector.

Every test does ``caput(..., wait=True)`` and then one non-monitored ``caget``: no polling.
Each setpoint is put twice with different values, so a stale readback shows as the first.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.ioc

FILE_PLUGINS = ("HDF1:", "TIFF1:")

#: (setpoint, two values to put, what the readback shows for them)
SETPOINTS = [
    ("FileName", ("first", "second"), ("first", "second")),
    ("FileTemplate", ("%s%s_%3.3d.dat", "%s%s_%4.4d.dat"), ("%s%s_%3.3d.dat", "%s%s_%4.4d.dat")),
    ("FileNumber", (7, 8), (7, 8)),
    ("NumCapture", (3, 4), (3, 4)),
    ("FileWriteMode", ("Capture", "Stream"), ("Capture", "Stream")),
    ("AutoIncrement", ("Yes", "No"), ("Yes", "No")),
    ("AutoSave", ("Yes", "No"), ("Yes", "No")),
    ("CreateDirectory", (-2, 0), (-2, 0)),
    ("LazyOpen", ("Yes", "No"), ("Yes", "No")),
    ("ArrayCounter", (5, 0), (5, 0)),
    ("EnableCallbacks", ("Enable", "Disable"), ("Enable", "Disable")),
    ("NDArrayPort", ("OTHER", "SIM1"), ("OTHER", "SIM1")),
]

CAM_SETPOINTS = [
    ("cam1:AcquireTime", (0.25, 0.01), (0.25, 0.01)),
    ("cam1:AcquirePeriod", (0.5, 0.0), (0.5, 0.0)),
    ("cam1:NumImages", (12, 1), (12, 1)),
    ("cam1:ImageMode", ("Continuous", "Single"), ("Continuous", "Single")),
    ("cam1:TriggerMode", ("External", "Internal"), ("External", "Internal")),
    ("cam1:DataType", ("Float64", "UInt16"), ("Float64", "UInt16")),
    ("cam1:ArrayCounter", (9, 0), (9, 0)),
    ("cam1:SizeX", (100000, 64), (4096, 64)),  # clamped to MaxSizeX_RBV
    ("cam1:SizeY", (0, 64), (1, 64)),  # clamped to 1
    ("image1:EnableCallbacks", ("Enable", "Disable"), ("Enable", "Disable")),
    ("image1:NDArrayPort", ("OTHER", "SIM1"), ("OTHER", "SIM1")),
]


def _put_then_get(ca, name, values, shown):
    for value, expected in zip(values, shown, strict=True):
        ca.put(name, value)  # wait=True: returns when the IOC says the put is complete
        got = ca.get(name + "_RBV", as_string=isinstance(expected, str))
        assert got == pytest.approx(expected) if isinstance(expected, float) else got == expected


@pytest.mark.parametrize("plugin", FILE_PLUGINS)
@pytest.mark.parametrize(("name", "values", "shown"), SETPOINTS, ids=[s[0] for s in SETPOINTS])
def test_file_plugin_readback_is_current_when_the_put_completes(ca, plugin, name, values, shown):
    try:
        _put_then_get(ca, plugin + name, values, shown)
    finally:
        if name == "FileTemplate":  # the session IOC's other tests expect the default
            ca.put(plugin + name, "%s%s_%6.6d.h5" if plugin == "HDF1:" else "%s%s_%6.6d.tiff")


@pytest.mark.parametrize(
    ("name", "values", "shown"), CAM_SETPOINTS, ids=[s[0] for s in CAM_SETPOINTS]
)
def test_cam_readback_is_current_when_the_put_completes(ca, name, values, shown):
    _put_then_get(ca, name, values, shown)


@pytest.mark.parametrize("plugin", FILE_PLUGINS)
def test_file_path_readbacks_are_current_when_the_put_completes(ca, plugin):
    for _ in range(3):
        ca.put(f"{plugin}FilePath", "/ioc/data/missing")
        assert ca.get(f"{plugin}FilePath_RBV", as_string=True) == "/ioc/data/missing/"
        assert ca.get(f"{plugin}FilePathExists_RBV") == 0
        assert ca.get(f"{plugin}WriteStatus", as_string=True) == "Write error"
        assert "does not exist" in ca.get(f"{plugin}WriteMessage", as_string=True)
        ca.put(f"{plugin}FilePath", "D:\\data")
        assert ca.get(f"{plugin}FilePath_RBV", as_string=True) == "D:\\data\\"
        assert ca.get(f"{plugin}FilePathExists_RBV") == 1
        ca.put(f"{plugin}FilePath", "/ioc/elsewhere/")
        assert ca.get(f"{plugin}FilePathExists_RBV") == 0
        assert "outside every directory" in ca.get(f"{plugin}WriteMessage", as_string=True)
        ca.put(f"{plugin}FilePath", "/ioc/data/")
        assert ca.get(f"{plugin}FilePathExists_RBV") == 1


def test_capture_readbacks_are_current_when_the_put_completes(ca):
    ca.setup_file_plugin("HDF1:", "/ioc/data/", mode="Stream")
    for number in range(3):
        ca.put("HDF1:FileNumber", number)
        ca.put("HDF1:Capture", 1)  # opens the file at once (LazyOpen = No)
        assert ca.get("HDF1:Capture_RBV") == 1
        assert ca.get("HDF1:FullFileName_RBV", as_string=True) == f"/ioc/data/img_{number:06d}.h5"
        assert ca.get("HDF1:FileNumber_RBV") == number + 1
        assert ca.get("HDF1:WriteFile_RBV") == 1
        ca.put("HDF1:Capture", 0)
        assert ca.get("HDF1:Capture_RBV") == 0
        assert ca.get("HDF1:WriteFile_RBV") == 0


@pytest.mark.parametrize("plugin", FILE_PLUGINS)
def test_capture_refused_in_single_mode_is_current_when_the_put_completes(ca, plugin):
    ca.put(f"{plugin}FileWriteMode", "Single")
    ca.put(f"{plugin}WriteMessage", "")
    ca.put(f"{plugin}Capture", 1)
    assert ca.get(f"{plugin}Capture_RBV") == 0
    assert ca.get(f"{plugin}WriteStatus", as_string=True) == "Write error"
    assert "Single mode" in ca.get(f"{plugin}WriteMessage", as_string=True)


def test_acquire_completes_when_the_frames_are_taken(ca):
    """``Acquire`` is a busy record: its put completes when the acquisition is over."""
    ca.setup_file_plugin("TIFF1:", "/ioc/data/", mode="Single")
    ca.put("cam1:SizeX", 48)
    ca.put("cam1:SizeY", 32)
    ca.put("cam1:ImageMode", "Multiple")
    ca.put("cam1:NumImages", 3)
    ca.put("cam1:AcquireTime", 0.001)
    ca.put("cam1:ArrayCounter", 0)
    ca.put("TIFF1:FileNumber", 0)
    try:
        ca.put("cam1:Acquire", 1)
        assert ca.get("cam1:Acquire_RBV") == 0
        assert ca.get("cam1:DetectorState_RBV", as_string=True) == "Idle"
        assert ca.get("cam1:ArrayCounter_RBV") == 3
        assert ca.get("cam1:NumImagesCounter_RBV") == 3
        assert (ca.get("cam1:ArraySizeX_RBV"), ca.get("cam1:ArraySizeY_RBV")) == (48, 32)
        assert ca.get("cam1:ArraySize_RBV") == 48 * 32 * 2
        assert (ca.get("TIFF1:ArraySize0_RBV"), ca.get("TIFF1:ArraySize1_RBV")) == (48, 32)
        assert ca.get("TIFF1:FullFileName_RBV", as_string=True) == "/ioc/data/img_000002.tiff"
        assert ca.get("TIFF1:FileNumber_RBV") == 3
    finally:
        ca.put("cam1:SizeX", 64)
        ca.put("cam1:SizeY", 64)
