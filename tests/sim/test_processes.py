"""Starting and stopping IOCs, several at once, clients and IOCs that go away, the CLIs.

This module runs after the ophyd tests on purpose: the channels of a stopped IOC keep
searching, and many unanswered searches slow libca down for IOCs connected later.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from sim_iocs.testing import sim_ioc
from tests.sim.helpers import CA, check_frames

pytestmark = pytest.mark.ioc


def read_h5(path):
    with h5py.File(path, "r") as f:
        return f["entry/data/data"][()], f["entry/instrument/NDAttributes/NDArrayUniqueId"][()]


def test_several_iocs_at_once_priming_and_lazy_open(ad_ioc, tmp_path):
    """Two more IOCs beside the session one: separate ports, separate state."""
    with sim_ioc() as fresh, sim_ioc(primed=True) as primed:
        assert len({fresh.port, primed.port, ad_ioc.port}) == 3
        a, b = CA(fresh), CA(primed)
        a.put("cam1:NumImages", 3)
        assert b.get("cam1:NumImages") == 1
        for ca in (a, b):
            for name, value in (
                ("EnableCallbacks", 1),
                ("FileWriteMode", "Stream"),
                ("FileName", "x"),
                ("AutoIncrement", 1),
                ("NumCapture", 2),
            ):
                ca.put(f"HDF1:{name}", value)
            ca.put("HDF1:FilePath", str(tmp_path) + "/")
            ca.wait_for("HDF1:FilePathExists_RBV", 1)
        # An unprimed plugin cannot open a file without knowing the frame size ...
        assert a.get("HDF1:ArraySize0_RBV") == 0
        a.put("HDF1:Capture", 1, wait=False)
        a.wait_for_error("HDF1:", "must collect an array to get dimensions first")
        a.wait_for("HDF1:Capture_RBV", 0)
        # ... unless LazyOpen defers the open to the first frame.
        a.put("HDF1:LazyOpen", "Yes")
        a.put("HDF1:FileName", "lazy")
        a.put("HDF1:Capture", 1, wait=False)
        a.wait_for("HDF1:Capture_RBV", 1)
        a.acquire(2)
        a.wait_for("HDF1:Capture_RBV", 0)
        data, uids = read_h5(tmp_path / "lazy_000000.h5")
        assert data.shape == (2, 64, 64)
        check_frames(data, uids)
        # A --primed IOC opens at Capture time.
        assert b.get("HDF1:ArraySize0_RBV") == 64
        b.put("HDF1:FileName", "primed")
        b.put("HDF1:Capture", 1, wait=False)
        b.wait_for("HDF1:Capture_RBV", 1)
        assert (tmp_path / "primed_000000.h5").exists()
        b.acquire(2)
        b.wait_for("HDF1:Capture_RBV", 0)
        check_frames(*read_h5(tmp_path / "primed_000000.h5"))
        processes = [fresh.process, primed.process]
    assert [p.returncode for p in processes] == [0, 0]


CLIENT = textwrap.dedent(
    """
    import sys, time, epics
    prefix, path = sys.argv[1], sys.argv[2]
    def put(name, value):
        assert epics.caput(prefix + name, value, wait=True, timeout=5) == 1, name
    for name, value in [("HDF1:Capture", 0), ("HDF1:EnableCallbacks", 1),
                        ("HDF1:NDArrayPort", "SIM1"), ("HDF1:FileWriteMode", "Stream"),
                        ("HDF1:FileName", "orphan"), ("HDF1:FileNumber", 0),
                        ("HDF1:NumCapture", 20), ("HDF1:LazyOpen", 1),
                        ("HDF1:FilePath", path), ("cam1:ImageMode", "Multiple"),
                        ("cam1:NumImages", 20), ("cam1:AcquireTime", 0.001),
                        ("cam1:AcquirePeriod", 0.02), ("HDF1:Capture", 1)]:
        put(name, value)
    # no wait: a put to Acquire completes when the acquisition is over
    assert epics.caput(prefix + "cam1:Acquire", 1) == 1
    print("capturing", flush=True)
    time.sleep(60)
    """
)


def test_client_disconnects_mid_capture(ad_ioc, ca, sim_data, tmp_path):
    """The client dies; the IOC still captures every frame and closes a valid file."""
    directory = sim_data / "posix" / tmp_path.name
    directory.mkdir()
    env = {**os.environ, **ad_ioc.environment}
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, ad_ioc.prefix, f"/ioc/data/{tmp_path.name}/"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert client.stdout.readline().strip() == "capturing"
        deadline = time.monotonic() + 10
        while ca.get("HDF1:NumCaptured_RBV") < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        client.kill()  # no goodbye: the CA circuit just drops
        client.wait(5)
        assert ca.get("HDF1:NumCaptured_RBV") < 20
    finally:
        client.kill()
        client.wait(5)
    ca.wait_for("HDF1:NumCaptured_RBV", 20, timeout=20)
    ca.wait_for("HDF1:Capture_RBV", 0)
    data, uids = read_h5(directory / "orphan_000000.h5")
    assert data.shape == (20, 64, 64)
    check_frames(data, uids)
    assert list(np.diff(uids)) == [1] * 19


def test_ioc_stopped_mid_capture_leaves_a_valid_file(tmp_path):
    with sim_ioc(mounts=[f"/data={tmp_path}"], primed=True) as ioc:
        ca = CA(ioc)
        ca.setup_file_plugin("HDF1:", "/data/")
        ca.put("HDF1:Capture", 1, wait=False)
        ca.wait_for("HDF1:Capture_RBV", 1)
        ca.put("cam1:ImageMode", "Continuous")
        ca.put("cam1:AcquireTime", 0.001)
        ca.put("cam1:AcquirePeriod", 0.005)
        ca.put("cam1:Acquire", 1, wait=False)
        deadline = time.monotonic() + 10
        while ca.get("HDF1:NumCaptured_RBV") < 5 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert ioc.stop() == 0  # SIGTERM while streaming
    data, uids = read_h5(tmp_path / "img_000000.h5")
    assert len(data) >= 5
    check_frames(data, uids)
    assert list(np.diff(uids)) == [1] * (len(uids) - 1)


def test_no_process_left_behind(ad_ioc):
    with sim_ioc() as ioc:
        pid = ioc.process.pid
    assert ioc.process.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_banner_tells_the_client_environment(ad_ioc):
    text = ad_ioc.log_path.read_text()
    assert f"serving prefix {ad_ioc.prefix} on 127.0.0.1:{ad_ioc.port}" in text
    assert f"export EPICS_CA_ADDR_LIST='127.0.0.1:{ad_ioc.port}'" in text
    assert "export EPICS_CA_AUTO_ADDR_LIST='NO'" in text
    assert "D:\\data -> " in text


def test_list_pvs_from_both_command_lines():
    out = subprocess.run(
        [sys.executable, "-m", "sim_iocs", "areadetector", "--prefix", "LP:", "--list-pvs"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(out) == 629
    assert "LP:HDF1:FilePath\twaveform\tchar" in out
    assert "LP:cam1:Acquire\tbo\tenum" in out
    from filestore_vfs.cli import main

    assert main(["sim-ioc", "--prefix", "LP:", "--list-pvs"]) == 0


def test_filestore_vfs_cli_has_the_same_options():
    from filestore_vfs.cli import _sim_ioc
    from sim_iocs._cli import add_areadetector_arguments

    ours = argparse.ArgumentParser()
    add_areadetector_arguments(ours)
    sub = argparse.ArgumentParser().add_subparsers()
    theirs = _sim_ioc.add_parser(sub)

    def options(parser):
        return {s for a in parser._actions for s in a.option_strings}

    assert options(ours) == options(theirs)


def test_filestore_vfs_does_not_import_sim_iocs():
    code = (
        "import sys, filestore_vfs, filestore_vfs.cli; filestore_vfs.cli.build_parser(); "
        "print('sim_iocs' in sys.modules, 'softioc' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
