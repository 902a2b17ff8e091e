"""The lazy registry: no backend dependency at import, install hints, the public namespace."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import filestore_vfs
from filestore_vfs import (
    BackendUnavailableError,
    ConfigError,
    ReadOnlyRootError,
    Root,
    VFSError,
    VirtualFileSystem,
    known_root_classes,
    register_root_class,
)

BACKEND_MODULES = [
    "aiohttp",
    "paramiko",
    "asyncssh",
    "sshfs",
    "smbprotocol",
    "smbclient",
    "s3fs",
    "botocore",
    "adlfs",
    "azure",
    "redis",
    "h5py",
    "tifffile",
    "ophyd",
    "bluesky",
    "epics",
    "sim_iocs",
    "tiled",
    "databroker",
]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_import_loads_no_backend_dependency() -> None:
    code = (
        "import sys, filestore_vfs\n"
        "v = filestore_vfs.VirtualFileSystem(); v.write_bytes('/memory/x', b'1')\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {BACKEND_MODULES!r}))"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_missing_extra_names_the_install_command() -> None:
    code = (
        "import sys; sys.modules['aiohttp'] = None\n"
        "import filestore_vfs as f\n"
        "v = f.VirtualFileSystem({'web': {'class': 'FsspecFile', 'protocol': 'https', "
        "'root': 'example.invalid/data'}})\n"
        "try:\n    v.exists('/web/x')\n"
        "except f.BackendUnavailableError as e:\n    print('ERR', e)\n"
        "    assert isinstance(e, ImportError)\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert "ERR" in out.stdout
    assert "pip install 'filestore-vfs[http]'" in out.stdout


def test_registry_spellings_and_known_list() -> None:
    names = known_root_classes()
    assert names == sorted(names)
    for name in ["LocalFile", "MemoryFile", "TempFile", "ArchiveFile", "FsspecFile"]:
        assert name in names
    for spelling in ["pyobs.vfs.MemoryFile", "filestore_vfs.MemoryFile", "MemoryFile"]:
        vfs = VirtualFileSystem({"m": {"class": spelling}}, defaults=False)
        assert type(vfs.roots["m"]).__name__ == "MemoryFile"


def test_register_root_class() -> None:
    class ShoutingMemory(filestore_vfs.MemoryFile):
        pass

    register_root_class("ShoutingMemory", ShoutingMemory, clobber=True)
    with pytest.raises(ConfigError, match="already registered"):
        register_root_class("ShoutingMemory", ShoutingMemory)
    vfs = VirtualFileSystem({"s": {"class": "ShoutingMemory"}}, defaults=False)
    assert isinstance(vfs.roots["s"], ShoutingMemory)


def test_public_namespace_is_explicit() -> None:
    assert sorted(filestore_vfs.__all__) == sorted(set(filestore_vfs.__all__))
    for name in filestore_vfs.__all__:
        assert hasattr(filestore_vfs, name), name
    errors = [BackendUnavailableError, ConfigError, ReadOnlyRootError]
    assert all(issubclass(e, VFSError) for e in errors)
    assert issubclass(filestore_vfs.LocalFile, Root)


def test_fsspec_root_keeps_secrets_out_of_messages(tmp_path: Path) -> None:
    password = "hunter2-Sup3rSecret"
    vfs = VirtualFileSystem(
        {
            "remote": {
                "class": "FsspecFile",
                "protocol": "file",
                "root": str(tmp_path),
                "storage_options": {"password": password, "auto_mkdir": True},
            }
        },
        defaults=False,
    )
    vfs.roots["remote"].fs  # noqa: B018  # build it
    for action in (lambda: vfs.read_bytes("/remote/missing"), lambda: vfs.ls("/remote/nope")):
        with pytest.raises(FileNotFoundError) as info:
            action()
        assert password not in str(info.value) and password not in repr(info.value)
    assert (
        password not in repr(vfs.roots["remote"]) and password not in vfs.resolve("/remote/x").url
    )


def test_tar_archive_is_read_only(tmp_path: Path) -> None:
    payload = tmp_path / "frame.bin"
    payload.write_bytes(b"tarred")
    archive = tmp_path / "bundle.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(payload, arcname="scan/frame.bin")
    vfs = VirtualFileSystem({"t": {"class": "ArchiveFile", "archive": str(archive)}})
    assert vfs.read_bytes("/t/scan/frame.bin") == b"tarred"
    assert vfs.ls("/t") == ["/t/scan"]
    assert vfs.find("/t") == ["/t/scan/frame.bin"]
    with pytest.raises(ReadOnlyRootError, match="read-only"):
        vfs.write_bytes("/t/scan/new.bin", b"x")


def test_unknown_protocol_backend_hint_and_repr() -> None:
    vfs = VirtualFileSystem(
        {"box": {"class": "FsspecFile", "protocol": "dropbox", "root": "x"}}, defaults=False
    )
    assert "FsspecFile" in repr(vfs.roots["box"])  # a repr never raises
    with pytest.raises(BackendUnavailableError) as info:
        vfs.exists("/box/a")
    assert "filestore-vfs[all]" not in str(info.value)
    assert "dropbox" in str(info.value)


def test_fsspec_errors_carry_an_errno() -> None:
    vfs = VirtualFileSystem(
        {"mem": {"class": "FsspecFile", "protocol": "memory", "root": "/x"}}, defaults=False
    )
    with pytest.raises(FileNotFoundError) as info:
        vfs.read_bytes("/mem/missing")
    assert info.value.errno == 2 and "Errno None" not in str(info.value)
