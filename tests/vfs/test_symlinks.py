"""Symlinks in a local root: those that stay inside work, those that leave it do not exist."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from filestore_vfs import PathEscapeError, VirtualFileSystem


@pytest.fixture
def vfs(tmp_path: Path) -> VirtualFileSystem:
    root = tmp_path / "root"
    (root / "inside").mkdir(parents=True)
    (root / "inside" / "data.h5").write_bytes(b"inside")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    os.symlink("/etc", root / "etc")
    os.symlink(outside / "secret", root / "secret-link")
    os.symlink(root / "inside", root / "alias")
    return VirtualFileSystem({"t": {"class": "LocalFile", "root": str(root)}}, defaults=False)


@pytest.mark.parametrize(
    "action",
    [
        lambda v: v.read_bytes("/t/etc/passwd"),
        lambda v: v.read_bytes("/t/secret-link"),
        lambda v: v.exists("/t/etc/passwd"),
        lambda v: v.ls("/t/etc"),
        lambda v: v.find("/t/etc"),
        lambda v: v.info("/t/secret-link"),
        lambda v: v.remove("/t/secret-link"),
        lambda v: v.write_bytes("/t/etc/evil", b"x"),
        lambda v: v.makedirs("/t/etc/evil"),
        lambda v: v.rmdir("/t/etc", recursive=True),
        lambda v: v.copy("/t/secret-link", "/t/inside/copy"),
        lambda v: v.move("/t/inside/data.h5", "/t/etc/data.h5"),
        lambda v: v.local_path("/t/etc/passwd"),
    ],
)
def test_outward_symlinks_refused(vfs: VirtualFileSystem, action, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PathEscapeError, match="symlink"):
        action(vfs)
    assert (tmp_path / "outside" / "secret").read_bytes() == b"secret"
    assert (tmp_path / "root" / "inside" / "data.h5").read_bytes() == b"inside"


def test_outward_symlinks_not_listed(vfs: VirtualFileSystem) -> None:
    assert vfs.ls("/t") == ["/t/alias", "/t/inside"]
    assert vfs.find("/t") == ["/t/alias/data.h5", "/t/inside/data.h5"]


def test_inward_symlink_works(vfs: VirtualFileSystem) -> None:
    assert vfs.read_bytes("/t/alias/data.h5") == b"inside"


def test_fsspec_local_protocol_confined_too(tmp_path: Path) -> None:
    root = tmp_path / "ff"
    root.mkdir()
    os.symlink("/etc", root / "etc-link")
    vfs = VirtualFileSystem(
        {"ff": {"class": "FsspecFile", "protocol": "file", "root": str(root)}}, defaults=False
    )
    with pytest.raises(PathEscapeError, match="symlink"):
        vfs.read_bytes("/ff/etc-link/hostname")
