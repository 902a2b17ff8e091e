"""HDF1/TIFF1: paths in the writer's view, names, Single/Capture/Stream, and bad inputs."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile

from sim_iocs import expected_frame
from tests.sim.helpers import check_frames

pytestmark = pytest.mark.ioc


def read_h5(path):
    with h5py.File(path, "r") as f:
        data = f["entry/data/data"][()]
        uids = f["entry/instrument/NDAttributes/NDArrayUniqueId"][()]
        assert f["entry/instrument/detector/data"].shape == data.shape
    return data, uids


# -- FilePath, FilePathExists_RBV, CreateDirectory -------------------------------------
@pytest.mark.parametrize(
    "written, shown",
    [
        ("/ioc/data", "/ioc/data/"),
        ("/ioc/data/", "/ioc/data/"),
        ("D:\\data", "D:\\data\\"),
        ("d:/DATA/", "d:/DATA/"),
    ],
)
def test_file_path_in_the_writers_view(ca, written, shown):
    ca.put("HDF1:FilePath", "/ioc/elsewhere/")
    ca.wait_for("HDF1:FilePath_RBV", "/ioc/elsewhere/")
    assert ca.get("HDF1:FilePathExists_RBV") == 0
    ca.put("HDF1:FilePath", written)
    ca.wait_for("HDF1:FilePath_RBV", shown)
    assert ca.get("HDF1:FilePathExists_RBV") == 1


@pytest.mark.parametrize(
    "path, message",
    [
        ("E:\\elsewhere\\", "outside every directory"),
        ("/ioc/elsewhere/", "outside every directory"),
        ("/ioc/data/not/there/", "does not exist"),
        ("D:\\data\\missing\\", "does not exist"),
    ],
)
def test_file_path_missing_or_outside_every_mount(ca, path, message):
    ca.put("HDF1:FilePath", "/ioc/data/")
    ca.wait_for("HDF1:FilePath_RBV", "/ioc/data/")
    assert ca.get("HDF1:FilePathExists_RBV") == 1
    ca.put("HDF1:FilePath", path)
    ca.wait_for("HDF1:FilePath_RBV", path)
    ca.wait_for("HDF1:FilePathExists_RBV", 0)
    ca.wait_for_error("HDF1:", message)


@pytest.mark.parametrize(
    "depth, existing, created",
    [
        (0, "", None),
        (-3, "", "a/b/c"),  # the last three of ioc/data/a/b/c
        (-1, "", None),  # only c may be created, but a/b is missing
        (-1, "a/b", "a/b/c"),
        ("+1", "a", "a/b/c"),  # everything up to a is assumed to exist
        ("+1", "", None),
        ("+0", "", "a/b/c"),
        (1, "", "a/b/c"),  # only the first part (ioc) is assumed to exist
    ],
)
def test_create_directory_depth(ca, sim_data, tmp_path, depth, existing, created):
    # "+n": a positive depth counted from the parts above a/b/c (ioc/data/<tmp>/<base>)
    depth = 4 + int(depth) if isinstance(depth, str) else depth
    base = sim_data / "posix" / tmp_path.name / f"depth{depth}{existing.replace('/', '')}"
    base.mkdir(parents=True)
    if existing:
        (base / existing).mkdir(parents=True)
    ca.put("HDF1:CreateDirectory", depth)
    writer = f"/ioc/data/{tmp_path.name}/{base.name}"
    ca.put("HDF1:FilePath", f"{writer}/a/b/c/")
    ca.wait_for("HDF1:FilePath_RBV", f"{writer}/a/b/c/")
    expected = 1 if created else 0
    ca.wait_for("HDF1:FilePathExists_RBV", expected)
    assert (base / "a/b/c").is_dir() == bool(created)


def test_create_directory_windows_dated_tree(ca, sim_data):
    ca.put("TIFF1:CreateDirectory", -3)
    ca.put("TIFF1:FilePath", "D:\\data\\2031\\01\\02\\")
    ca.wait_for("TIFF1:FilePath_RBV", "D:\\data\\2031\\01\\02\\")
    ca.wait_for("TIFF1:FilePathExists_RBV", 1)
    assert (sim_data / "win" / "2031" / "01" / "02").is_dir()


# -- HDF5 ----------------------------------------------------------------------------
def test_hdf5_stream_with_num_capture(ca, sim_data, tmp_path):
    (sim_data / "posix" / tmp_path.name).mkdir()
    ca.setup_file_plugin("HDF1:", f"/ioc/data/{tmp_path.name}/")
    ca.put("HDF1:FileNumber", 7)
    ca.put("HDF1:NumCapture", 5)
    ca.put("HDF1:Capture", 1, wait=False)
    ca.wait_for("HDF1:Capture_RBV", "Capturing")
    full = ca.get("HDF1:FullFileName_RBV", as_string=True)
    assert full == f"/ioc/data/{tmp_path.name}/img_000007.h5"
    assert ca.get("HDF1:FileNumber_RBV") == 8  # AD increments once the file is open
    assert ca.get("HDF1:WriteFile_RBV") == 1
    ca.acquire(8)
    ca.wait_for("HDF1:Capture_RBV", "Done")
    assert ca.get("HDF1:NumCaptured_RBV") == 5
    data, uids = read_h5(sim_data / "posix" / tmp_path.name / "img_000007.h5")
    assert data.shape == (5, 64, 64) and data.dtype == np.uint16
    check_frames(data, uids)
    assert list(np.diff(uids)) == [1, 1, 1, 1]


def test_hdf5_stream_unlimited_until_capture_0(ca, sim_data):
    ca.setup_file_plugin("HDF1:", "D:\\data\\")
    ca.put("HDF1:FileName", "unlimited")
    ca.put("HDF1:Capture", 1, wait=False)
    ca.wait_for("HDF1:Capture_RBV", 1)
    ca.acquire(3)
    ca.acquire(4)
    ca.wait_for("HDF1:NumCaptured_RBV", 7)
    ca.put("HDF1:Capture", 0)
    ca.wait_for("HDF1:Capture_RBV", 0)
    assert ca.get("HDF1:FullFileName_RBV", as_string=True) == "D:\\data\\unlimited_000000.h5"
    data, uids = read_h5(sim_data / "win" / "unlimited_000000.h5")
    assert data.shape == (7, 64, 64)
    check_frames(data, uids)


def test_capture_mode_buffers_then_writes_one_file(ca, sim_data):
    ca.setup_file_plugin("HDF1:", "/ioc/data/", mode="Capture")
    ca.put("HDF1:FileName", "captured")
    ca.put("HDF1:NumCapture", 3)
    ca.put("HDF1:Capture", 1, wait=False)
    ca.wait_for("HDF1:Capture_RBV", 1)
    ca.acquire(2)
    ca.wait_for("HDF1:NumCaptured_RBV", 2)
    assert not (sim_data / "posix" / "captured_000000.h5").exists()
    ca.acquire(2)
    ca.wait_for("HDF1:Capture_RBV", 0)
    ca.wait_for("HDF1:NumCaptured_RBV", 0)  # AD resets it once the buffer is written
    data, uids = read_h5(sim_data / "posix" / "captured_000000.h5")
    assert data.shape == (3, 64, 64)
    check_frames(data, uids)


def test_single_mode_auto_save_one_file_per_frame(ca, sim_data, tmp_path):
    (sim_data / "posix" / tmp_path.name).mkdir()
    ca.setup_file_plugin("HDF1:", f"/ioc/data/{tmp_path.name}", mode="Single")
    ca.acquire(3)
    ca.wait_for("HDF1:FileNumber_RBV", 3)
    names = sorted(p.name for p in (sim_data / "posix" / tmp_path.name).iterdir())
    assert names == ["img_000000.h5", "img_000001.h5", "img_000002.h5"]
    for name in names:
        data, uids = read_h5(sim_data / "posix" / tmp_path.name / name)
        assert data.shape == (1, 64, 64)
        check_frames(data, uids)


def test_write_file_in_single_mode_writes_the_last_frame(ca, sim_data):
    ca.setup_file_plugin("HDF1:", "/ioc/data/", mode="Single")
    ca.put("HDF1:AutoSave", 0)
    ca.put("HDF1:FileName", "manual")
    ca.acquire(2)
    assert not (sim_data / "posix" / "manual_000000.h5").exists()
    ca.put("HDF1:WriteFile", 1)  # a busy record: the put completes once the file is written
    assert ca.get("HDF1:FileNumber_RBV") == 1
    ca.wait_for("HDF1:WriteFile", 0)
    data, uids = read_h5(sim_data / "posix" / "manual_000000.h5")
    assert data.shape == (1, 64, 64)
    assert int(uids[0]) == ca.get("cam1:ArrayCounter_RBV")
    check_frames(data, uids)


@pytest.mark.parametrize("data_type", ["UInt8", "UInt32", "Int16", "Float32", "Float64"])
def test_data_types(ca, sim_data, data_type):
    ca.setup_file_plugin("HDF1:", "/ioc/data/", mode="Single")
    ca.put("HDF1:FileName", f"dtype_{data_type}")
    ca.put("cam1:DataType", data_type)
    ca.wait_for("cam1:DataType_RBV", data_type)
    ca.acquire(1)
    ca.wait_for("HDF1:DataType_RBV", data_type)
    data, uids = read_h5(sim_data / "posix" / f"dtype_{data_type}_000000.h5")
    assert data.dtype == np.dtype(data_type.lower())
    check_frames(data, uids)


# -- TIFF ----------------------------------------------------------------------------
def test_tiff_one_frame_per_file(ca, sim_data, tmp_path):
    (sim_data / "win" / tmp_path.name).mkdir()
    ca.setup_file_plugin("TIFF1:", f"D:\\data\\{tmp_path.name}\\", mode="Stream")
    ca.put("TIFF1:NumCapture", 3)
    ca.put("TIFF1:Capture", 1, wait=False)
    ca.wait_for("TIFF1:Capture_RBV", 1)
    ca.acquire(3)
    ca.wait_for("TIFF1:Capture_RBV", 0)
    files = sorted((sim_data / "win" / tmp_path.name).iterdir())
    assert [f.name for f in files] == [f"img_00000{i}.tiff" for i in range(3)]
    for path in files:
        with tifffile.TiffFile(path) as tif:
            frame = tif.asarray()
            uid = tif.pages[0].tags[65000].value
        assert frame.shape == (64, 64)
        check_frames([frame], [uid])
    assert ca.get("TIFF1:FullFileName_RBV", as_string=True).endswith("img_000002.tiff")


# -- bad inputs ----------------------------------------------------------------------
def test_capture_in_single_mode_is_an_error(ca):
    ca.setup_file_plugin("HDF1:", "/ioc/data/", mode="Single")
    ca.put("HDF1:Capture", 1, wait=False)
    ca.wait_for_error("HDF1:", "capture not supported in Single mode")
    ca.wait_for("HDF1:Capture_RBV", 0)
    assert ca.get("HDF1:Capture") == 0


def test_num_capture_0_in_capture_mode_is_an_error(ca):
    ca.setup_file_plugin("HDF1:", "/ioc/data/", mode="Capture")
    ca.put("HDF1:NumCapture", 0)
    ca.put("HDF1:Capture", 1, wait=False)
    ca.wait_for_error("HDF1:", "NumCapture must be > 0")
    ca.wait_for("HDF1:Capture_RBV", 0)


@pytest.mark.parametrize("template", ["%s_%d.h5", "%s%s%s_%d.h5", "%d%s%s.h5"])
def test_file_template_with_wrong_conversions(ca, template):
    ca.setup_file_plugin("HDF1:", "/ioc/data/", template=template)
    ca.put("HDF1:Capture", 1, wait=False)
    ca.wait_for_error("HDF1:", "FileTemplate")
    ca.wait_for("HDF1:Capture_RBV", 0)
    ca.put("HDF1:FileTemplate", "%s%s_%6.6d.h5")


def test_unwritable_directory(ca):
    ca.setup_file_plugin("HDF1:", "/ioc/readonly/", mode="Single")
    ca.wait_for("HDF1:FilePathExists_RBV", 1)
    before = ca.get("HDF1:ArrayCounter_RBV")
    ca.acquire(1)
    ca.wait_for_error("HDF1:", "Error opening file /ioc/readonly/img_000000.h5")
    assert ca.get("HDF1:ArrayCounter_RBV") == before + 1
    ca.acquire(1)  # the IOC goes on
    assert ca.get("cam1:DetectorState_RBV", as_string=True) == "Idle"


def test_data_type_changed_mid_acquisition(ca, sim_data, tmp_path):
    (sim_data / "posix" / tmp_path.name).mkdir()
    ca.setup_file_plugin("HDF1:", f"/ioc/data/{tmp_path.name}/")
    ca.setup_file_plugin("TIFF1:", f"/ioc/data/{tmp_path.name}/")
    ca.put("HDF1:Capture", 1, wait=False)
    ca.put("TIFF1:Capture", 1, wait=False)
    ca.wait_for("HDF1:Capture_RBV", 1)
    ca.wait_for("TIFF1:Capture_RBV", 1)
    ca.put("cam1:ImageMode", "Continuous")
    ca.put("cam1:AcquireTime", 0.001)
    ca.put("cam1:AcquirePeriod", 0.01)
    ca.put("cam1:Acquire", 1, wait=False)
    ca.wait_for("HDF1:NumCaptured_RBV", 3, at_least=True)
    ca.put("cam1:DataType", "UInt32")
    ca.wait_for_error("HDF1:", "Invalid frame. Ignoring.")
    ca.put("cam1:Acquire", 0)
    ca.wait_for("cam1:Acquire_RBV", 0)
    ca.put("HDF1:Capture", 0)
    ca.put("TIFF1:Capture", 0)
    ca.wait_for("HDF1:Capture_RBV", 0)
    data, uids = read_h5(sim_data / "posix" / tmp_path.name / "img_000000.h5")
    assert data.dtype == np.uint16 and len(data) >= 3
    check_frames(data, uids)
    tiff_types = set()
    for path in sorted((sim_data / "posix" / tmp_path.name).glob("*.tiff")):
        with tifffile.TiffFile(path) as tif:
            frame = tif.asarray()
            check_frames([frame], [tif.pages[0].tags[65000].value])
            tiff_types.add(frame.dtype)
    assert tiff_types == {np.dtype(np.uint16), np.dtype(np.uint32)}


# -- plugin chain, timing, numbering -------------------------------------------------
def test_plugin_chain_needs_enable_port_and_array_callbacks(ca):
    ca.put("HDF1:EnableCallbacks", 1)
    ca.put("HDF1:NDArrayPort", "SIM1")
    ca.acquire(1)
    counter = ca.get("HDF1:UniqueId_RBV")
    assert counter == ca.get("cam1:ArrayCounter_RBV")
    for name, value, restore in (
        ("HDF1:NDArrayPort", "OTHER", "SIM1"),
        ("HDF1:EnableCallbacks", 0, 1),
        ("cam1:ArrayCallbacks", 0, 1),
    ):
        ca.put(name, value)
        ca.acquire(1)
        assert ca.get("HDF1:UniqueId_RBV") == counter, name
        ca.put(name, restore)
    ca.acquire(1)
    assert ca.get("HDF1:UniqueId_RBV") == counter + 4


def test_image_plugin_publishes_the_frame(ca):
    ca.put("image1:EnableCallbacks", 1)
    ca.put("image1:NDArrayPort", "SIM1")
    ca.acquire(1)
    k = ca.get("cam1:ArrayCounter_RBV") - 1
    ca.wait_for("image1:ArraySize0_RBV", 64)
    data = ca.epics.caget(ca.ioc.pv("image1:ArrayData"), count=64 * 64, use_monitor=False)
    np.testing.assert_array_equal(
        np.asarray(data).reshape(64, 64), expected_frame(k, 64, 64, np.uint16)
    )
    ca.put("image1:EnableCallbacks", 0)


def test_acquire_period_spaces_the_frames(ca, sim_data):
    ca.setup_file_plugin("HDF1:", "/ioc/data/")
    ca.put("HDF1:FileName", "period")
    ca.put("HDF1:Capture", 1, wait=False)
    ca.wait_for("HDF1:Capture_RBV", 1)
    ca.acquire(4, exposure=0.001, period=0.05)
    ca.put("HDF1:Capture", 0)
    ca.wait_for("HDF1:Capture_RBV", 0)
    with h5py.File(sim_data / "posix" / "period_000000.h5", "r") as f:
        stamps = f["entry/instrument/NDAttributes/NDArrayTimeStamp"][()]
    assert len(stamps) == 4
    assert min(np.diff(stamps)) >= 0.045  # the IOC's own frame times, not the test's clock


def test_without_auto_increment_the_number_stays(ca, sim_data):
    ca.setup_file_plugin("TIFF1:", "/ioc/data/", mode="Single")
    ca.put("TIFF1:AutoIncrement", 0)
    ca.put("TIFF1:FileName", "same")
    ca.put("TIFF1:FileNumber", 42)
    ca.acquire(2)
    ca.wait_for("TIFF1:FullFileName_RBV", "/ioc/data/same_000042.tiff")
    assert ca.get("TIFF1:FileNumber_RBV") == 42
    assert (sim_data / "posix" / "same_000042.tiff").exists()
    assert not (sim_data / "posix" / "same_000043.tiff").exists()


def test_tiff_capture_mode_writes_one_file_per_frame(ca, sim_data, tmp_path):
    (sim_data / "posix" / tmp_path.name).mkdir()
    ca.setup_file_plugin("TIFF1:", f"/ioc/data/{tmp_path.name}/", mode="Capture")
    ca.put("TIFF1:NumCapture", 3)
    ca.put("TIFF1:Capture", 1, wait=False)
    ca.wait_for("TIFF1:Capture_RBV", 1)
    ca.acquire(3)
    ca.wait_for("TIFF1:Capture_RBV", 0)
    ca.wait_for("TIFF1:FileNumber_RBV", 3)
    files = sorted((sim_data / "posix" / tmp_path.name).glob("*.tiff"))
    assert [f.name for f in files] == [f"img_00000{i}.tiff" for i in range(3)]
    for path in files:
        with tifffile.TiffFile(path) as tif:
            check_frames([tif.asarray()], [tif.pages[0].tags[65000].value])


def test_sim_mode_peaks_writes_the_documented_frames(ca, sim_data, tmp_path):
    (sim_data / "posix" / tmp_path.name).mkdir()
    ca.setup_file_plugin("TIFF1:", f"/ioc/data/{tmp_path.name}/", mode="Single")
    ca.put("cam1:ArrayCounter", 0)
    ca.put("cam1:SimMode", "Peaks")
    try:
        ca.acquire(3)
    finally:
        ca.put("cam1:SimMode", "LinearRamp")
    files = sorted((sim_data / "posix" / tmp_path.name).glob("*.tiff"))
    assert len(files) == 3
    for k, path in enumerate(files):
        np.testing.assert_array_equal(
            tifffile.imread(path), expected_frame(k, 64, 64, "uint16", "Peaks")
        )
