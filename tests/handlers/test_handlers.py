"""Our handlers in event-model's Filler: logical paths, vfs:// URLs, plain paths, bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from filestore_vfs import InvalidPathError, VirtualFileSystem
from filestore_vfs.handlers import (
    AreaDetectorHDF5Handler,
    MissingFileError,
    handler_registry,
)

from .docs import fill, frames, run_documents, write_files

SPECS = ["AD_HDF5", "AD_TIFF", "AD_HDF5_SINGLE"]


@pytest.fixture
def vfs(tmp_path: Path) -> VirtualFileSystem:
    return VirtualFileSystem(
        {
            "detector": {"class": "LocalFile", "root": str(tmp_path / "det")},
            "remote": {"class": "MemoryFile"},  # not a local directory: read through vfs.open
        }
    )


@pytest.mark.parametrize("root", ["/detector", "/remote"])
@pytest.mark.parametrize("spec", SPECS)
def test_filler_fills_every_frame(vfs: VirtualFileSystem, spec: str, root: str) -> None:
    fields = write_files(vfs, spec, f"{root}/2026/11", 5)
    docs = run_documents(root, "2026/11", spec, fields, 5)
    images = fill(handler_registry(vfs), docs)
    assert len(images) == 5
    for k, image in enumerate(images):
        assert isinstance(image, np.ndarray) and image.shape == (1, 16, 24)
        np.testing.assert_array_equal(image[0], frames(5)[k])


def test_vfs_url_and_plain_path(tmp_path: Path) -> None:
    """A plain path is read when the config lists its directory in ``legacy_paths``
    (tests/hostile/test_handler_paths.py: everything else is refused)."""
    vfs = VirtualFileSystem(
        {"detector": {"class": "LocalFile", "root": str(tmp_path / "det")}},
        legacy_paths=[tmp_path / "det"],
    )
    write_files(vfs, "AD_HDF5", "/detector/x", 3)
    registry = handler_registry(vfs)
    by_url = registry["AD_HDF5"]("vfs://detector/x/scan_000000.h5")
    plain = registry["AD_HDF5"](str(tmp_path / "det" / "x" / "scan_000000.h5"))
    np.testing.assert_array_equal(by_url(2), plain(2))
    assert by_url.get_file_list([{"point_number": 0}]) == [str(tmp_path / "det/x/scan_000000.h5")]
    by_url.close()
    plain.close()


def test_stock_specs_covered() -> None:
    assert set(handler_registry()) >= {"AD_HDF5", "AD_TIFF", "AD_HDF5_SINGLE"}
    assert handler_registry()["AD_HDF5"] is AreaDetectorHDF5Handler  # importable by string


def test_unknown_root_names_roots_and_config(vfs: VirtualFileSystem) -> None:
    docs = run_documents(
        "/elsewhere",
        "x",
        "AD_HDF5",
        {"resource_path": "a.h5", "resource_kwargs": {"frame_per_point": 1}},
        1,
    )
    with pytest.raises(MissingFileError) as info:
        fill(handler_registry(vfs), docs)
    message = str(info.value)
    assert "/elsewhere" in message and "/detector" in message and "/remote" in message
    assert "VFS config" in message


def test_missing_file_is_not_retried_silently(vfs: VirtualFileSystem) -> None:
    docs = run_documents(
        "/detector",
        "x",
        "AD_HDF5",
        {"resource_path": "gone.h5", "resource_kwargs": {"frame_per_point": 1}},
        1,
    )
    calls = []

    class Counting(AreaDetectorHDF5Handler):
        vfs = None

        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(args)
            super().__init__(*args, **kwargs)

    Counting.vfs = vfs
    with pytest.raises(MissingFileError, match="gone.h5 .*does not exist"):
        fill({"AD_HDF5": Counting}, docs)  # Filler's default retry_intervals in force
    assert len(calls) == 1  # raised at once, not after ~2 s of retries


def test_truncated_hdf5(vfs: VirtualFileSystem) -> None:
    write_files(vfs, "AD_HDF5", "/detector/t", 4)
    whole = vfs.read_bytes("/detector/t/scan_000000.h5")
    vfs.write_bytes("/detector/t/scan_000000.h5", whole[: len(whole) // 2])
    registry = handler_registry(vfs)
    with pytest.raises(MissingFileError, match="not a readable HDF5 file"):
        registry["AD_HDF5"]("/detector/t/scan_000000.h5")(0)


def test_tiff_gap(vfs: VirtualFileSystem) -> None:
    fields = write_files(vfs, "AD_TIFF", "/detector/g", 4)
    vfs.remove("/detector/g/scan_000002.tiff")
    docs = run_documents("/detector", "g", "AD_TIFF", fields, 4)
    with pytest.raises(MissingFileError, match="frame 2 of the TIFF sequence is missing"):
        fill(handler_registry(vfs), docs)


@pytest.mark.parametrize("root", ["/detector", "/remote"])
@pytest.mark.parametrize("pages", [1, 3])
def test_tiff_reads_what_tifffile_imread_reads(
    vfs: VirtualFileSystem, root: str, pages: int
) -> None:
    """The one-page fast path and the many-page fallback both return imread's array."""
    import tifffile

    data = np.arange(pages * 6 * 7, dtype=np.uint16).reshape(pages, 6, 7)
    local = vfs.local_path("/temp/frame.tiff")
    tifffile.imwrite(local, data if pages > 1 else data[0], photometric="minisblack")
    vfs.write_bytes(f"{root}/m/scan_000000.tiff", Path(local).read_bytes())
    handler = handler_registry(vfs)["AD_TIFF"](f"{root}/m", "%s%s_%6.6d.tiff", "scan")
    got = handler(0)
    want = tifffile.imread(local)
    with tifffile.TiffFile(local) as tif:
        assert len(tif.pages) == pages  # the many-page case really has many pages
    assert got.shape == (1, *want.shape)
    np.testing.assert_array_equal(got[0], want)


@pytest.mark.parametrize(
    "path", ["vfs://detector/../../etc/passwd", "vfs://detector/a/..//x", "/detector/../etc"]
)
def test_escaping_paths_refused(vfs: VirtualFileSystem, path: str) -> None:
    with pytest.raises(InvalidPathError, match="refused"):
        handler_registry(vfs)["AD_HDF5"](path)


def test_datum_past_end(vfs: VirtualFileSystem) -> None:
    write_files(vfs, "AD_HDF5", "/detector/p", 3)
    handler = handler_registry(vfs)["AD_HDF5"]("/detector/p/scan_000000.h5")
    with pytest.raises(MissingFileError, match="needs frames 7..7 but .* holds 3"):
        handler(7)
    handler.close()
