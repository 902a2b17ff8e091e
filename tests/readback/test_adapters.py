"""``filestore_vfs.tiled`` at the adapter level: URIs confined to the VFS roots, then read."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from filestore_vfs import PathEscapeError, VirtualFileSystem
from filestore_vfs.tiled import (
    RefusedURIError,
    adapters_by_mimetype,
    local_uri,
    resolve_uri,
)
from tests.handlers.docs import frames, write_files

from .helpers import data_source

HDF5 = "application/x-hdf5"
TIFFS = "multipart/related;type=image/tiff"


@pytest.fixture
def roots(tmp_path: Path) -> VirtualFileSystem:
    (tmp_path / "outside.h5").write_bytes(b"secret")
    return VirtualFileSystem(
        {
            "detector": {"class": "LocalFile", "root": str(tmp_path / "det")},
            "remote": {"class": "MemoryFile"},  # no local directory: read through the VFS
        }
    )


NODE = SimpleNamespace(metadata_={}, specs=[])


def read(vfs: VirtualFileSystem, mimetype: str, uris: list[str], n: int, **params: Any) -> Any:
    adapter = adapters_by_mimetype(vfs)[mimetype]
    return np.asarray(adapter.from_catalog(data_source(mimetype, uris, n), NODE, **params).read())


@pytest.mark.parametrize("root", ["detector", "remote"])
@pytest.mark.parametrize(
    "form", ["vfs://{root}/{rel}", "file://localhost/{root}/{rel}", "file:///{root}/{rel}"]
)
def test_hdf5_by_vfs_and_root_file_uri(roots: VirtualFileSystem, root: str, form: str) -> None:
    write_files(roots, "AD_HDF5", f"/{root}/2026/11", 4)
    uri = form.format(root=root, rel="2026/11/scan_000000.h5")
    got = read(roots, HDF5, [uri], 4, dataset="/entry/data/data", swmr=True)
    np.testing.assert_array_equal(got, frames(4))


@pytest.mark.parametrize("root", ["detector", "remote"])
def test_tiff_sequence(roots: VirtualFileSystem, root: str) -> None:
    write_files(roots, "AD_TIFF", f"/{root}/t", 3)
    uris = [f"vfs://{root}/t/scan_{k:06d}.tiff" for k in range(3)]
    np.testing.assert_array_equal(read(roots, TIFFS, uris, 3), frames(3))


def test_local_root_is_read_in_place(roots: VirtualFileSystem, tmp_path: Path) -> None:
    write_files(roots, "AD_HDF5", "/detector/x", 1)
    target = resolve_uri("vfs://detector/x/scan_000000.h5", roots)
    assert target.logical == "/detector/x/scan_000000.h5"
    assert local_uri(target, roots) == f"file://localhost{tmp_path}/det/x/scan_000000.h5"


def test_plain_file_uri_outside_roots_is_served_under_legacy_paths(
    roots: VirtualFileSystem,
) -> None:
    """A plain file: URI is a legacy file: served under ``legacy_paths`` only (tiled's own
    ``readable_storage`` check comes first, in the catalog)."""
    with pytest.raises(RefusedURIError, match="legacy_paths"):
        resolve_uri("file://localhost/srv/data/a.h5", roots)
    legacy = VirtualFileSystem(dict(roots.roots), defaults=False, legacy_paths=["/srv/data"])
    target = resolve_uri("file://localhost/srv/data/a.h5", legacy)
    assert target.logical is None and local_uri(target, legacy) == target.uri


ESCAPES = {
    "dotdot": "vfs://detector/../../etc/passwd",
    "dotdot-file": "file://localhost/detector/../../../etc/passwd",
    "dotdot-plain-file": "file://localhost/srv/../etc/passwd",
    "unknown-root": "vfs://nowhere/x.h5",
    "other-host": "file://elsewhere/detector/x.h5",
    "scheme": "http://127.0.0.1/detector/x.h5",
    "double-slash": "vfs://detector//x.h5",
}


@pytest.mark.parametrize("uri", ESCAPES.values(), ids=ESCAPES.keys())
def test_escaping_uri_refused(roots: VirtualFileSystem, uri: str) -> None:
    with pytest.raises(RefusedURIError, match="refusing to serve") as info:
        read(roots, HDF5, [uri], 1, dataset="/entry/data/data")
    assert isinstance(info.value, PathEscapeError) and info.value.status_code == 403


def test_unknown_root_lists_roots(roots: VirtualFileSystem) -> None:
    with pytest.raises(RefusedURIError, match=r"/nowhere .*roots: /detector, .*/remote"):
        resolve_uri("vfs://nowhere/x.h5", roots)


def test_symlink_out_of_root_refused(roots: VirtualFileSystem, tmp_path: Path) -> None:
    (tmp_path / "det").mkdir()
    os.symlink(tmp_path / "outside.h5", tmp_path / "det" / "link.h5")
    with pytest.raises(RefusedURIError, match="symlink"):
        read(roots, HDF5, ["vfs://detector/link.h5"], 1, dataset="/entry/data/data")


def test_one_bad_frame_refuses_the_sequence(roots: VirtualFileSystem) -> None:
    write_files(roots, "AD_TIFF", "/detector/t", 2)
    uris = ["vfs://detector/t/scan_000000.tiff", "vfs://detector/t/../../../etc/passwd"]
    with pytest.raises(RefusedURIError):
        read(roots, TIFFS, uris, 2)


def test_missing_file_is_file_not_found(roots: VirtualFileSystem) -> None:
    with pytest.raises(FileNotFoundError, match="/detector/gone.h5"):
        read(roots, HDF5, ["vfs://detector/gone.h5"], 1, dataset="/entry/data/data")


def test_unbound_classes_use_default_vfs() -> None:
    from filestore_vfs.tiled import VFSHDF5Adapter, VFSTiffSequenceAdapter

    assert adapters_by_mimetype() == {HDF5: VFSHDF5Adapter, TIFFS: VFSTiffSequenceAdapter}
    assert VFSHDF5Adapter.vfs is None


def test_handler_and_adapter_read_one_file_in_one_process(roots: VirtualFileSystem) -> None:
    """A server holding a file open in a databroker handler still serves it from the SQL
    catalog (tiled opens with ``swmr=True``; a native non-SWMR open would make that fail)."""
    from filestore_vfs.handlers import handler_registry

    write_files(roots, "AD_HDF5", "/detector/both", 2)
    handler = handler_registry(roots)["AD_HDF5"]("/detector/both/scan_000000.h5")
    try:
        np.testing.assert_array_equal(handler(1)[0], frames(2)[1])
        uri = "vfs://detector/both/scan_000000.h5"
        got = read(roots, HDF5, [uri], 2, dataset="/entry/data/data", swmr=True)
        np.testing.assert_array_equal(got, frames(2))
        np.testing.assert_array_equal(handler(0)[0], frames(2)[0])
    finally:
        handler.close()
