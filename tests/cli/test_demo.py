"""``filestore-vfs demo`` as a user runs it: a real subprocess, real IOCs, real HTTP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

EXE = shutil.which("filestore-vfs")
pytestmark = pytest.mark.ioc


def demo_env(data: Path) -> dict[str, str]:
    env = {**os.environ, "FILESTORE_VFS_DATA": str(data)}
    env.pop("FILESTORE_VFS_CONFIG", None)
    for key in [k for k in env if k.startswith("EPICS_")]:
        env.pop(key)  # the demo sets up its own Channel Access environment
    return env


def leftover_iocs(pid: int) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if f"DEMO{pid}" in line and "sim_iocs" in line]


@dataclass
class DemoRun:
    data: Path
    proc: subprocess.CompletedProcess[str]
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One full demo run (IOCs, HTTP, tiled), shared by the tests that read its output."""
    assert EXE
    data = tmp_path_factory.mktemp("demo")
    proc = subprocess.run(
        [EXE, "demo", "--points", "4", "--size", "64x48", "--json", "-q"],
        env=demo_env(data),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return DemoRun(data, proc, json.loads(proc.stdout[proc.stdout.index("{\n") :]))


def test_demo_end_to_end(demo_run: DemoRun) -> None:
    summary = demo_run.summary
    assert summary["frames_verified_over_http"] == 8
    out = demo_run.data / summary["output"].removeprefix("/local/")
    assert (out / "frame.png").read_bytes().startswith(b"\x89PNG")
    lines = (out / "documents.jsonl").read_text().splitlines()
    names = [json.loads(line)[0] for line in lines]
    assert names.count("event") == 4 and names.count("resource") == 2
    assert sorted(p.name for p in (out / "hdf5").iterdir())[0].endswith("_000000.h5")
    assert len(list((out / "tiff").iterdir())) == 4
    assert "Tiled version" not in demo_run.proc.stdout + demo_run.proc.stderr


def test_demo_port_taken(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        proc = subprocess.run(
            [EXE, "demo", "--port", str(port), "-q"],
            env=demo_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1
    assert f"port {port} is taken" in proc.stderr and "Traceback" not in proc.stderr


def test_demo_local_unwritable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    proc = subprocess.run(
        [EXE, "demo", "-q"],
        env=demo_env(blocker / "data"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "cannot write the demo's output under /local" in proc.stderr
    assert "FILESTORE_VFS_DATA" in proc.stderr


def test_demo_ctrl_c_cleans_up(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [EXE, "demo", "--points", "400", "-q"],
        env=demo_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until the count runs, then interrupt it
        if line.startswith("[3/7]"):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "partial output is in /local/demo/" in err
    deadline = time.monotonic() + 10
    while leftover_iocs(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)  # the IOCs were sent SIGTERM; give the kernel a moment to reap
    assert leftover_iocs(proc.pid) == []


BUSY_LOOP = "import os, sys\nwhile os.getppid() == int(sys.argv[1]):\n    pass\n"


def test_demo_three_runs_with_every_core_busy(tmp_path: Path) -> None:
    """The main job holds on a loaded machine: os.cpu_count() busy loops run beside it.

    The loops stop with the test (killed below, and each also stops when its parent, this
    process, is gone). Not a timing test: each run must succeed and verify its frames.
    """
    assert EXE
    busy = [
        subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(os.getpid())])
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        for run in range(3):
            proc = subprocess.run(
                [EXE, "demo", "--points", "5", "--size", "64x48", "--json", "-q", "--no-tiled"],
                env=demo_env(tmp_path / f"run{run}"),
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert proc.returncode == 0, f"run {run}: {proc.stderr[-3000:]}"
            summary = json.loads(proc.stdout[proc.stdout.index("{\n") :])
            assert summary["frames_verified_over_http"] == 10, f"run {run}"
            assert summary["check_ok"] is True, f"run {run}"
            assert "Tiled version" not in proc.stdout + proc.stderr
    finally:
        for p in busy:
            p.kill()
        for p in busy:
            p.wait(10)
    assert all(p.returncode is not None for p in busy)


def test_check_accepts_the_logical_path_the_demo_prints(demo_run: DemoRun) -> None:
    summary, tmp_path = demo_run.summary, demo_run.data
    logical = summary["documents_jsonl"]
    assert logical.startswith("/local/demo/") and logical in demo_run.proc.stdout
    check = subprocess.run(
        [EXE, "check", logical, "-q"], env=demo_env(tmp_path), capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "8 present, 0 missing" in check.stdout
    readme = (tmp_path / logical.removeprefix("/local/")).with_name("README.txt").read_text()
    assert summary["run_uid"] in readme
    for text in (
        "documents.jsonl",
        "frame.png",
        "hdf5/",
        "tiff/",
        f"filestore-vfs check {logical}",
    ):
        assert text in readme
