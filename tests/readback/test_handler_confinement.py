"""The handlers' local fast paths (h5py/tifffile open local files themselves) stay confined.

A TIFF directory is resolved and confined once; each frame's file is then opened directly,
unless its name has a separator or it is a symlink: those go through the VFS's checks.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from filestore_vfs import InvalidPathError, PathEscapeError, VirtualFileSystem
from filestore_vfs.handlers import MissingFileError, handler_registry
from tests.handlers.docs import fill, frames, run_documents, write_files


@pytest.fixture
def vfs(tmp_path: Path) -> VirtualFileSystem:
    return VirtualFileSystem({"detector": {"class": "LocalFile", "root": str(tmp_path / "det")}})


def test_symlinked_frame_leaving_the_root_is_refused(
    vfs: VirtualFileSystem, tmp_path: Path
) -> None:
    fields = write_files(vfs, "AD_TIFF", "/detector/s", 3)
    frame = tmp_path / "det" / "s" / "scan_000001.tiff"
    outside = tmp_path / "outside.tiff"
    frame.rename(outside)
    os.symlink(outside, frame)
    handler = handler_registry(vfs)["AD_TIFF"]("/detector/s", **fields["resource_kwargs"])
    np.testing.assert_array_equal(handler(0)[0], frames(1)[0])
    with pytest.raises(PathEscapeError, match="symlink"):
        handler(1)


def test_symlink_inside_the_root_is_read(vfs: VirtualFileSystem, tmp_path: Path) -> None:
    fields = write_files(vfs, "AD_TIFF", "/detector/s", 2)
    frame = tmp_path / "det" / "s" / "scan_000001.tiff"
    frame.rename(tmp_path / "det" / "moved.tiff")
    os.symlink(tmp_path / "det" / "moved.tiff", frame)
    images = fill(handler_registry(vfs), run_documents("/detector", "s", "AD_TIFF", fields, 2))
    np.testing.assert_array_equal(np.stack(images)[:, 0], frames(2))


@pytest.mark.parametrize("filename", ["../../../etc/passwd", "a/../../.."])
def test_filename_with_separators_goes_through_the_vfs(
    vfs: VirtualFileSystem, filename: str
) -> None:
    write_files(vfs, "AD_TIFF", "/detector/s", 1)
    handler = handler_registry(vfs)["AD_TIFF"]("/detector/s", "%s%s_%6.6d.tiff", filename)
    with pytest.raises((InvalidPathError, PathEscapeError, MissingFileError)):
        handler(0)


def test_hdf5_missing_and_past_end_on_the_native_path(vfs: VirtualFileSystem) -> None:
    write_files(vfs, "AD_HDF5", "/detector/h", 2)
    registry = handler_registry(vfs)
    with pytest.raises(MissingFileError, match="does not exist"):
        registry["AD_HDF5"]("/detector/h/none.h5")(0)
    handler = registry["AD_HDF5"]("/detector/h/scan_000000.h5")
    np.testing.assert_array_equal(handler(1)[0], frames(2)[1])
    with pytest.raises(MissingFileError, match="holds 2"):
        handler(2)
    handler.close()


@pytest.mark.parametrize("chunk_frames", [1, 4])
@pytest.mark.parametrize("fpp", [1, 2])
def test_hdf5_chunking_and_frames_per_point(
    vfs: VirtualFileSystem, chunk_frames: int, fpp: int
) -> None:
    """One frame per chunk (no chunk cache) and chunks spanning points (a one-chunk cache)."""
    import h5py

    data = frames(8)
    with vfs.open("/detector/c/scan.h5", "wb") as f, h5py.File(f, "w") as h5:
        h5.create_dataset("/entry/data/data", data=data, chunks=(chunk_frames, 16, 24))
    handler = handler_registry(vfs)["AD_HDF5"]("/detector/c/scan.h5", frame_per_point=fpp)
    try:
        for point in range(8 // fpp):
            np.testing.assert_array_equal(handler(point), data[point * fpp : (point + 1) * fpp])
    finally:
        handler.close()
