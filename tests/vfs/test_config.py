"""Configuration: YAML and dicts, pyobs blocks, defaults, and every bad input's message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from filestore_vfs import (
    ConfigError,
    LocalFile,
    MemoryFile,
    VirtualFileSystem,
    default_vfs,
)

PYOBS_BLOCK = """
vfs:
  class: pyobs.vfs.VirtualFileSystem
  roots:
    cache:
      class: pyobs.vfs.LocalFile
      root: {root}
    scratch:
      class: pyobs.vfs.MemoryFile
"""


def test_pyobs_block_loads_unchanged(tmp_path: Path) -> None:
    vfs = VirtualFileSystem.from_yaml(PYOBS_BLOCK.format(root=tmp_path))
    assert isinstance(vfs.roots["cache"], LocalFile)
    assert isinstance(vfs.roots["scratch"], MemoryFile)
    vfs.write_text("/cache/a.txt", "x")
    assert (tmp_path / "a.txt").read_text() == "x"
    assert {"local", "temp", "memory"} <= set(vfs.roots)  # defaults stay unless overridden


def test_from_file_and_bare_roots(tmp_path: Path) -> None:
    config = tmp_path / "vfs.yaml"
    config.write_text(
        "roots:\n  detector:\n    class: LocalFile\n    root: '{}'\n"
        "    writer_root: 'D:\\assets'\ndefaults: false\n".format(tmp_path / "d")
    )
    vfs = VirtualFileSystem.from_yaml(config)
    assert set(vfs.roots) == {"detector"}
    assert vfs.writer_path("/detector/x.h5") == "D:\\assets\\x.h5"
    assert VirtualFileSystem.from_yaml(str(config)).roots.keys() == vfs.roots.keys()


def test_from_config_mapping_and_override_default(tmp_path: Path) -> None:
    vfs = VirtualFileSystem.from_config(
        {"roots": {"local": {"class": "LocalFile", "root": str(tmp_path)}}}
    )
    assert vfs.local_path("/local/x") == str(tmp_path / "x")


def test_env_references(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BEAMLINE_DATA", str(tmp_path))
    vfs = VirtualFileSystem.from_yaml("roots: {d: {class: LocalFile, root: '${BEAMLINE_DATA}/x'}}")
    assert vfs.local_path("/d/f") == str(tmp_path / "x" / "f")
    monkeypatch.delenv("BEAMLINE_DATA")
    with pytest.raises(ConfigError, match=r"\$\{BEAMLINE_DATA\}, which is not set"):
        VirtualFileSystem.from_yaml("roots: {d: {class: LocalFile, root: '${BEAMLINE_DATA}'}}")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("roots:\n  d:\n    class: LocalFile\n    root: [unclosed\n", r"line \d+, column \d+"),
        ("roots: {d: {class: NoSuchFile}}", r"unknown root class 'NoSuchFile'; known: .*LocalFile"),
        (
            "roots: {d: {class: LocalFile}}",
            r"\(LocalFile\): missing required option.*root",
        ),
        ("roots: {d: {class: LocalFile, root: /x, colour: red}}", r"unknown option\(s\) colour"),
        ("roots: {d: {root: /x}}", r"root 'd' needs a mapping with 'class:'"),
        ("roots: {'a/b': {class: MemoryFile}}", r"cannot name a root"),
        ("roots: [a, b]", r"'roots:' must map root names"),
        ("rooots: {}", r"unknown key\(s\) rooots"),
        ("- just\n- a list\n", r"a VFS config is a mapping"),
        ("roots: {d: {class: LocalFile, root: /x, writer_root: 'relative'}}", r"writer_root"),
        (
            "roots: {d: {class: LocalFile, root: /x, writer_root: /a, writer_path_semantics: vms}}",
            r"'posix' or 'windows'",
        ),
        ("roots: {d: {class: ArchiveFile, archive: /x/data.rar}}", r"set format: zip or tar"),
    ],
)
def test_bad_config_says_what_to_fix(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        VirtualFileSystem.from_yaml(text)


def test_bad_yaml_file_names_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("roots:\n  d:\n    class: LocalFile\n   root: /x\n")
    with pytest.raises(ConfigError) as info:
        VirtualFileSystem.from_yaml(config)
    assert str(config) in str(info.value) and "line 4" in str(info.value)


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="no VFS config file"):
        VirtualFileSystem.from_yaml("/nonexistent/vfs.yaml")


def test_default_vfs_reads_env_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "vfs.yaml"
    config.write_text(f"roots: {{beam: {{class: LocalFile, root: '{tmp_path}'}}}}\n")
    monkeypatch.setenv("FILESTORE_VFS_CONFIG", str(config))
    vfs = default_vfs(refresh=True)
    assert "beam" in vfs.roots and "local" in vfs.roots
    assert default_vfs() is vfs  # cached until the file changes
    monkeypatch.delenv("FILESTORE_VFS_CONFIG")
    assert "beam" not in default_vfs().roots


def test_default_roots_use_data_env(tmp_path: Path) -> None:
    code = "import filestore_vfs as f; print(f.default_vfs().local_path('/local/x'))"
    env = {"FILESTORE_VFS_DATA": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "x")


def test_memory_roots_do_not_leak_between_vfs_instances() -> None:
    a, b = VirtualFileSystem(), VirtualFileSystem()
    a.write_bytes("/memory/secret.bin", b"a's")
    assert not b.exists("/memory/secret.bin")
    s1 = VirtualFileSystem({"m": {"class": "MemoryFile", "share": "shared-test"}})
    s2 = VirtualFileSystem({"m": {"class": "MemoryFile", "share": "shared-test"}})
    s1.write_bytes("/m/x", b"shared")
    assert s2.read_bytes("/m/x") == b"shared"


def test_temp_root_removed_on_close() -> None:
    vfs = VirtualFileSystem()
    vfs.write_bytes("/temp/x", b"1")
    directory = Path(vfs.local_path("/temp"))
    assert directory.is_dir()
    vfs.close()
    assert not directory.exists()
