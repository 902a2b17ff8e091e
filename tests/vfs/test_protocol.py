"""``vfs://`` as an fsspec filesystem: fsspec's own shared test suite, and a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import fsspec
import fsspec.tests.abstract as abstract
import pytest

from filestore_vfs import VFSFileSystem, VirtualFileSystem


class _LocalRootFixtures(abstract.AbstractFixtures):
    @pytest.fixture(scope="class")
    def fs(self, tmp_path_factory: pytest.TempPathFactory) -> VFSFileSystem:
        root = tmp_path_factory.mktemp("vfs-local")
        vfs = VirtualFileSystem({"d": {"class": "LocalFile", "root": str(root)}})
        return VFSFileSystem(instance=vfs, skip_instance_cache=True)

    @pytest.fixture
    def fs_path(self) -> str:
        return f"d/{uuid.uuid4().hex}"


class _MemoryRootFixtures(_LocalRootFixtures):
    @pytest.fixture(scope="class")
    def fs(self) -> VFSFileSystem:  # type: ignore[override]
        vfs = VirtualFileSystem({"m": {"class": "MemoryFile"}})
        return VFSFileSystem(instance=vfs, skip_instance_cache=True)

    @pytest.fixture
    def fs_path(self) -> str:
        return f"m/{uuid.uuid4().hex}"


class TestLocalCopy(abstract.AbstractCopyTests, _LocalRootFixtures):
    pass


class TestLocalGet(abstract.AbstractGetTests, _LocalRootFixtures):
    pass


class TestLocalPut(abstract.AbstractPutTests, _LocalRootFixtures):
    pass


class TestLocalPipe(abstract.AbstractPipeTests, _LocalRootFixtures):
    pass


class TestLocalOpen(abstract.AbstractOpenTests, _LocalRootFixtures):
    pass


class TestMemoryCopy(abstract.AbstractCopyTests, _MemoryRootFixtures):
    pass


class TestMemoryGet(abstract.AbstractGetTests, _MemoryRootFixtures):
    pass


class TestMemoryPut(abstract.AbstractPutTests, _MemoryRootFixtures):
    pass


class TestMemoryPipe(abstract.AbstractPipeTests, _MemoryRootFixtures):
    pass


class TestMemoryOpen(abstract.AbstractOpenTests, _MemoryRootFixtures):
    pass


@pytest.mark.parametrize("root", ["d", "m"])
def test_mv(root: str, tmp_path: Path) -> None:
    """fsspec's mv tests are written for the local filesystem only; the same cases here."""
    vfs = VirtualFileSystem(
        {"d": {"class": "LocalFile", "root": str(tmp_path)}, "m": {"class": "MemoryFile"}}
    )
    fs = VFSFileSystem(instance=vfs, skip_instance_cache=True)
    fs.pipe(f"{root}/src/file.txt", b"content")
    with pytest.raises(FileNotFoundError):
        fs.mv(f"{root}/src/missing.txt", f"{root}/dst/x.txt")
    fs.mv(f"{root}/src/file.txt", f"{root}/dst/moved.txt")
    assert fs.cat(f"{root}/dst/moved.txt") == b"content"
    assert not fs.exists(f"{root}/src/file.txt")
    fs.mv(f"{root}/dst", f"{root}/dst2", recursive=True)
    assert fs.cat(f"{root}/dst2/moved.txt") == b"content"


def test_fresh_interpreter_entry_point(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"via entry point")
    code = (
        "import fsspec\n"
        "with fsspec.open('vfs://local/x.bin') as f: print(f.read().decode())\n"
        "print(fsspec.filesystem('vfs').ls('local', detail=False))"
    )
    env = {**os.environ, "FILESTORE_VFS_DATA": str(tmp_path)}
    env.pop("FILESTORE_VFS_CONFIG", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["via entry point", "['local/x.bin']"]


def test_config_option_and_fsspec_tools(tmp_path: Path) -> None:
    config = {"roots": {"beam": {"class": "LocalFile", "root": str(tmp_path)}}}
    with fsspec.open("vfs://beam/a/b.txt", "w", config=config) as f:
        f.write("text through fsspec")
    assert (tmp_path / "a" / "b.txt").read_text() == "text through fsspec"
    fs = fsspec.filesystem("vfs", config=config)
    assert fs.find("beam") == ["beam/a/b.txt"]
    assert fs.info("beam/a/b.txt")["size"] == len("text through fsspec")
    with pytest.raises(PermissionError):
        fs.cat("beam/../../etc/passwd")


def test_open_with_an_instance(tmp_path: Path) -> None:
    vfs = VirtualFileSystem({"m": {"class": "MemoryFile"}})
    vfs.write_bytes("/m/a.txt", b"mine")
    with fsspec.open("vfs://m/a.txt", "rb", instance=vfs) as f:
        assert f.read() == b"mine"


def test_default_vfs_follows_a_changed_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fsspec caches ``vfs`` filesystems by arguments: the default one must not pin the roots
    of the first config it saw (found by the ophyd-async second-machine test)."""
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.txt").write_text(name)
        (tmp_path / f"{name}.yaml").write_text(
            f"vfs:\n  roots:\n    beam: {{class: LocalFile, root: '{tmp_path / name}'}}\n"
        )
    monkeypatch.setenv("FILESTORE_VFS_CONFIG", str(tmp_path / "one.yaml"))
    with fsspec.open("vfs://beam/x.txt", "rt") as f:
        assert f.read() == "one"
    monkeypatch.setenv("FILESTORE_VFS_CONFIG", str(tmp_path / "two.yaml"))
    with fsspec.open("vfs://beam/x.txt", "rt") as f:
        assert f.read() == "two"
    assert fsspec.filesystem("vfs").cat("beam/x.txt") == b"two"
