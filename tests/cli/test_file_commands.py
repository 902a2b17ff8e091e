"""The ``filestore-vfs`` file commands, run as the real console script in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

EXE = shutil.which("filestore-vfs")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "vfs.yaml"
    config.write_text(
        "roots:\n"
        f"  detector:\n    class: LocalFile\n    root: '{tmp_path / 'assets'}'\n"
        "    writer_root: 'D:\\assets'\n"
        f"  archive:\n    class: LocalFile\n    root: '{tmp_path / 'archive'}'\n"
        "    read_only: true\n"
    )
    return {
        **os.environ,
        "FILESTORE_VFS_CONFIG": str(config),
        "FILESTORE_VFS_DATA": str(tmp_path / "data"),
    }


def run(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    assert EXE, "the filestore-vfs console script is not installed"
    proc = subprocess.run([EXE, *args], env=env, capture_output=True, text=True, timeout=60)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_roots_json(env: dict[str, str]) -> None:
    rows = json.loads(run(env, "roots", "--json").stdout)
    by_root = {r["root"]: r for r in rows}
    assert by_root["/detector"]["writer_root"] == "D:\\assets"
    assert by_root["/archive"]["read_only"] is True
    assert {"/local", "/temp", "/memory"} <= set(by_root)


def test_put_ls_cat_cp_mv_get_rm(env: dict[str, str], tmp_path: Path) -> None:
    src = tmp_path / "frame.bin"
    src.write_bytes(b"\x00\x01frame")
    run(env, "put", str(src), "/detector/2026/frame.bin")
    assert run(env, "ls", "/detector/2026").stdout.split() == ["/detector/2026/frame.bin"]
    listing = json.loads(run(env, "ls", "--json", "/detector/2026").stdout)
    assert listing[0]["size"] == len(b"\x00\x01frame")
    assert run(env, "cat", "/detector/2026/frame.bin").stdout.encode("latin-1") == b"\x00\x01frame"
    run(env, "cp", "/detector/2026/frame.bin", "/detector/copy.bin")
    run(env, "mv", "/detector/copy.bin", "/detector/moved.bin")
    out = run(env, "get", "/detector/moved.bin", str(tmp_path / "back.bin")).stdout.strip()
    assert Path(out).read_bytes() == b"\x00\x01frame"
    run(env, "rm", "/detector/moved.bin")
    run(env, "rm", "-r", "/detector/2026")
    assert run(env, "ls", "/detector").stdout.strip() == ""


def test_resolve_logical_and_writer_paths(env: dict[str, str], tmp_path: Path) -> None:
    info = json.loads(run(env, "resolve", "--json", "/detector/a/b.h5").stdout)
    assert info["writer_path"] == "D:\\assets\\a\\b.h5"
    assert info["local_path"] == str(tmp_path / "assets" / "a" / "b.h5")
    back = json.loads(run(env, "resolve", "--json", "d:/ASSETS/a/b.h5").stdout)
    assert back["logical"] == "/detector/a/b.h5" and back["given_as"] == "writer"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ls", "/nope"), "unknown root '/nope'"),
        (("cat", "/detector/../../etc/passwd"), "not normal"),
        (("cat", "/detector/missing.h5"), "No such file"),
        (("put", "/etc/hostname", "/archive/x"), "read-only"),
        (("ls", "--config", "/nonexistent.yaml", "/"), "no VFS config file"),
        (("resolve", "C:\\other\\x"), "under no root's writer_root"),
    ],
)
def test_errors_are_one_clear_line(
    env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    proc = run(env, *args, ok=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_debug_shows_traceback(env: dict[str, str]) -> None:
    proc = run(env, "--debug", "ls", "/nope", ok=False)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_missing_argument_is_usage_error(env: dict[str, str]) -> None:
    proc = run(env, "cat", ok=False)
    assert proc.returncode == 2 and "usage:" in proc.stderr
