"""``VFSPathProvider`` against ophyd-async's own PathInfo validators and AD data logic."""

from __future__ import annotations

import datetime
from pathlib import PurePosixPath, PureWindowsPath

import pytest

from filestore_vfs import VirtualFileSystem
from filestore_vfs.areadetector import VFSPathProvider

pytest.importorskip("ophyd_async", reason="needs the 'async' extra")

VFS = VirtualFileSystem(
    {
        "detector": {"class": "MemoryFile", "writer_root": "D:\\data"},
        "nfs": {"class": "MemoryFile", "writer_root": "/ioc/data"},
    }
)


def test_windows_writer() -> None:
    from ophyd_async.core import PathInfo, StaticFilenameProvider

    provider = VFSPathProvider(
        "/detector", vfs=VFS, filename_provider=StaticFilenameProvider("scan1")
    )
    info = provider("det")
    assert isinstance(info, PathInfo)  # ophyd-async validated it (absolute path, URI form)
    today = datetime.date.today()
    assert info.directory_path == PureWindowsPath(f"D:\\data\\{today:%Y\\%m\\%d}")
    assert info.directory_uri == f"vfs://detector/{today:%Y/%m/%d}/"
    assert info.filename == "scan1" and info.create_dir_depth == -3


def test_posix_writer_and_uri_resolves_back() -> None:
    provider = VFSPathProvider(
        "/nfs", "visits/{visit}", vfs=VFS, path_formatter=lambda t, now: t.format(visit="cm1234-5")
    )
    info = provider()
    assert info.directory_path == PurePosixPath("/ioc/data/visits/cm1234-5")
    assert info.directory_uri == "vfs://nfs/visits/cm1234-5/"
    assert VFS.resolve(info.directory_uri + "x.h5").relative == "visits/cm1234-5/x.h5"
    assert len(info.filename) == 36  # a uuid4 by default


def test_ophyd_async_prepare_file_paths_puts_writer_view() -> None:
    """ophyd-async's own AD file-path logic, on a mock HDF writer: FilePath is the IOC's view."""
    import asyncio

    from ophyd_async.core import init_devices, set_mock_value
    from ophyd_async.epics.adcore import NDFileHDF5IO
    from ophyd_async.epics.adcore._data_logic import prepare_file_paths

    async def main() -> tuple[str, int]:
        async with init_devices(mock=True):
            writer = NDFileHDF5IO("SIM:HDF1:")
        set_mock_value(writer.file_path_exists, True)
        info = VFSPathProvider("/detector", "scan/%Y", vfs=VFS)("det")
        await prepare_file_paths(info, "%s%s.h5", writer)
        return await writer.file_path.get_value(), await writer.create_directory.get_value()

    path, depth = asyncio.run(main())
    assert path == f"D:\\data\\scan\\{datetime.date.today():%Y}\\"
    assert depth == -3
