"""``filestore-vfs check`` and ``migrate`` as the real console script, in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from filestore_vfs import VirtualFileSystem

from .runs import TIFF_MIMETYPE, resource_run, stream_run, write_jsonl, write_stream_files

EXE = shutil.which("filestore-vfs")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "vfs.yaml"
    path.write_text(
        "roots:\n"
        f"  detector: {{class: LocalFile, root: '{tmp_path / 'detector'}'}}\n"
        f"  archive: {{class: LocalFile, root: '{tmp_path / 'archive'}'}}\n"
    )
    for name in ("detector", "archive"):
        (tmp_path / name).mkdir()
    return path


@pytest.fixture
def env(config: Path, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FILESTORE_VFS_CONFIG": str(config),
        "FILESTORE_VFS_DATA": str(tmp_path / "data"),
    }


@pytest.fixture
def vfs(config: Path) -> VirtualFileSystem:
    return VirtualFileSystem.from_yaml(config)


@pytest.fixture
def run_file(vfs: VirtualFileSystem, tmp_path: Path) -> Path:
    """An HDF5 Resource run (5 frames) and a TIFF StreamResource run (4 frames)."""
    uri = write_stream_files(vfs, TIFF_MIMETYPE, "/detector/stream/2026", 4)
    docs = resource_run(vfs, "AD_HDF5", 5, 5) + stream_run(uri, TIFF_MIMETYPE, [(0, 2), (2, 4)])
    return write_jsonl(tmp_path / "run.jsonl", docs)


def run(env: dict[str, str], *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    assert EXE, "the filestore-vfs console script is not installed"
    proc = subprocess.run([EXE, *args], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    return proc


def test_check_complete_table(env: dict[str, str], run_file: Path) -> None:
    out = run(env, "check", str(run_file)).stdout
    lines = out.splitlines()
    assert lines[0].split() == [
        "RESOURCE",
        "SPEC",
        "REFERENCED",
        "PRESENT",
        "MISSING",
        "UNREADABLE",
        "STATUS",
    ]
    assert "/detector/ad_hdf5/2026/11/21/scan_000000.h5  AD_HDF5" in lines[1]
    assert lines[-1] == (
        "2 resource(s), 9 frame(s) referenced: 9 present, 0 missing, 0 unreadable: complete"
    )


def test_check_incomplete_json_exit_3(
    env: dict[str, str], run_file: Path, vfs: VirtualFileSystem
) -> None:
    vfs.remove("/detector/stream/2026/scan_000002.tiff")
    proc = run(env, "check", "--json", str(run_file), code=3)
    report = json.loads(proc.stdout)
    assert report["complete"] is False and report["summary"]["missing"] == 1
    tiff = report["resources"][1]
    assert tiff["status"] == "missing-frames" and "frame(s) 2 (a gap" in tiff["problem"]
    assert proc.stderr == ""  # no bar when stderr is no terminal


def test_check_progress_bar_when_asked(env: dict[str, str], run_file: Path) -> None:
    proc = run(env, "check", "--progress", str(run_file))
    assert "check:" in proc.stderr and "/9 [" in proc.stderr and "frame/s" in proc.stderr


def test_check_unknown_root_names_roots_and_config(
    env: dict[str, str], vfs: VirtualFileSystem, tmp_path: Path, config: Path
) -> None:
    docs = resource_run(vfs, "AD_HDF5", 2, 2)
    docs[2][1]["root"] = "/beamline7"
    path = write_jsonl(tmp_path / "other.jsonl", docs)
    out = run(env, "check", str(path), code=3).stdout
    assert "unknown-root: root /beamline7" in out
    assert f"(VFS config: {config})" in out and "/archive, /detector" in out
    with_flag = run(env, "check", "--config", str(config), str(path), code=3).stdout
    assert f"(VFS config: {config})" in with_flag


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "is empty"), ('["start", {}]\n{oops\n', "line 2 is not JSON")],
)
def test_check_empty_or_malformed_file_one_line(
    env: dict[str, str], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    proc = run(env, "check", str(path), code=1)
    assert proc.stderr.startswith("filestore-vfs check: error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_check_usage_errors(env: dict[str, str], run_file: Path) -> None:
    assert "give RUN" in run(env, "check", code=2).stderr
    assert "not both" in run(env, "check", str(run_file), "--uid", "x", code=2).stderr


def test_migrate_delete_source_then_rerun(
    env: dict[str, str], run_file: Path, tmp_path: Path
) -> None:
    proc = run(env, "migrate", str(run_file), "--from", "/detector", "--to", "/archive")
    assert "5 copied" in proc.stdout and "verified" in proc.stdout
    assert "    detector:\n      class: LocalFile\n" in proc.stdout
    assert f"  /detector: {tmp_path / 'archive'}" in proc.stdout
    again = run(
        env,
        "migrate",
        "--json",
        "--delete-source",
        str(run_file),
        "--from",
        "detector",
        "--to",
        "archive",
    )
    report = json.loads(again.stdout)
    assert report["ok"] and report["summary"] == {"identical": 5}
    assert all(f["deleted"] for f in report["files"])
    assert report["root_map"] == {"/detector": str(tmp_path / "archive")}
    assert not any((tmp_path / "detector").rglob("*.tiff"))
    # The documents are unchanged; a reader whose /detector is the archive checks them.
    reader = tmp_path / "reader.yaml"
    reader.write_text(f"roots:\n  detector: {{class: LocalFile, root: '{tmp_path / 'archive'}'}}\n")
    run(env, "check", "--config", str(reader), str(run_file))


def test_migrate_missing_source_exit_3_nothing_deleted(
    env: dict[str, str], run_file: Path, vfs: VirtualFileSystem
) -> None:
    vfs.remove("/detector/ad_hdf5/2026/11/21/scan_000000.h5")
    proc = run(
        env,
        "migrate",
        str(run_file),
        "--from",
        "/detector",
        "--to",
        "/archive",
        "--delete-source",
        code=3,
    )
    assert "missing: /detector/ad_hdf5/2026/11/21/scan_000000.h5 does not exist" in proc.stdout
    assert vfs.exists("/detector/stream/2026/scan_000000.tiff")


def test_migrate_unknown_root_one_line(env: dict[str, str], run_file: Path) -> None:
    proc = run(env, "migrate", str(run_file), "--from", "/detector", "--to", "/tape", code=1)
    assert proc.stderr.startswith("filestore-vfs migrate: error: unknown root '/tape'")
    assert "/archive" in proc.stderr and proc.stderr.count("\n") == 1
