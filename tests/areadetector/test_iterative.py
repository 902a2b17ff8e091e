"""Our drop-in mixins against the sim IOC over real Channel Access, read back every pixel."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import tifffile

from filestore_vfs import VirtualFileSystem
from filestore_vfs.areadetector import HDF5PluginWithVFS, TIFFPluginWithVFS
from sim_iocs import expected_frame
from tests.handlers.docs import fill, stock_registry

from .helpers import make_detector, run_count

pytestmark = [pytest.mark.ioc, pytest.mark.usefixtures("eager_devices")]


def frames_from_documents(vfs: VirtualFileSystem, docs: list[tuple[str, dict]]) -> list[Any]:
    """Read each datum's frames through the VFS, as a reader machine would."""
    resources = {d["uid"]: d for n, d in docs if n == "resource"}
    datums = {d["datum_id"]: d for n, d in docs if n == "datum"}
    frames = []
    for name, doc in docs:
        if name != "event":
            continue
        datum = datums[doc["data"]["det_image"]]
        res = resources[datum["resource"]]
        point, fpp = (
            datum["datum_kwargs"]["point_number"],
            res["resource_kwargs"]["frame_per_point"],
        )
        logical = f"{res['root']}/{res['resource_path']}"
        if res["spec"] == "AD_HDF5":
            with vfs.open(logical, "rb") as f, h5py.File(f, "r") as h5:
                frames.extend(h5["/entry/data/data"][point * fpp : (point + 1) * fpp])
        else:
            kw = res["resource_kwargs"]
            for j in range(point * fpp, (point + 1) * fpp):
                name_j = kw["template"] % (logical + "/", kw["filename"], j)
                with vfs.open(name_j, "rb") as f:
                    frames.append(tifffile.imread(f))
    return frames


def check(frames: list[Any], num: int) -> None:
    assert len(frames) == num
    for k, frame in enumerate(frames):
        np.testing.assert_array_equal(frame, expected_frame(k, 64, 64, np.uint16))


@pytest.mark.parametrize(
    ("plugin_cls", "attr", "root"),
    [
        (HDF5PluginWithVFS, "hdf1", "/detector"),
        (HDF5PluginWithVFS, "hdf1", "/nfs"),
        (TIFFPluginWithVFS, "tiff1", "/detector"),
        (TIFFPluginWithVFS, "tiff1", "/nfs"),
    ],
)
def test_count_reads_back_through_vfs(ioc, vfs, mounts, plugin_cls, attr, root) -> None:  # type: ignore[no-untyped-def]
    det = make_detector(
        ioc,
        plugin_cls,
        attr,
        root=root,
        write_path_template="%Y/%m/%d",
        vfs=vfs,
        make_directories=True,
    )
    docs = run_count(det, 5)
    resources = [d for n, d in docs if n == "resource"]
    assert len(resources) == 1
    res = resources[0]
    today = datetime.date.today().strftime("%Y/%m/%d")
    assert res["root"] == root and res["path_semantics"] == "posix"
    assert res["resource_path"].startswith(today)
    assert "\\" not in res["resource_path"]
    datums = [d for n, d in docs if n == "datum"]
    assert [d["datum_kwargs"]["point_number"] for d in datums] == list(range(5))
    assert all(d["datum_id"] == f"{res['uid']}/{i}" for i, d in enumerate(datums))
    check(frames_from_documents(vfs, docs), 5)
    # a reader without filestore-vfs: stock handlers and one root_map entry
    mount = mounts["win"] if root == "/detector" else mounts["posix"]
    check(stock_filled(docs, {root: str(mount)}), 5)


def stock_filled(docs: list[tuple[str, dict]], root_map: dict[str, str]) -> list[Any]:
    images = fill(stock_registry(), docs, "det_image", root_map=root_map)
    return [frame for image in images for frame in image.reshape(-1, 64, 64)]


def test_windows_writer_gets_windows_path(ioc, vfs, mounts) -> None:  # type: ignore[no-untyped-def]
    det = make_detector(
        ioc,
        HDF5PluginWithVFS,
        "hdf1",
        root="/detector",
        write_path_template="D:\\data\\win-abs\\%Y\\",
        vfs=vfs,
        make_directories=True,
    )
    det.stage()
    try:
        path = det.hdf1.file_path.get()
        assert path.startswith("D:\\data\\win-abs\\") and path.endswith("\\")
        assert det.hdf1._fp == f"/detector/win-abs/{datetime.date.today():%Y}/"
    finally:
        det.unstage()


def test_documents_valid_against_schemas(ioc, vfs) -> None:  # type: ignore[no-untyped-def]
    import event_model

    det = make_detector(
        ioc,
        HDF5PluginWithVFS,
        "hdf1",
        root="/nfs",
        write_path_template="schema",
        vfs=vfs,
        make_directories=True,
    )
    for name, doc in run_count(det, 2):
        event_model.schema_validators[event_model.DocumentNames[name]].validate(doc)


def test_missing_directory_restores_pvs(ioc, vfs, mounts: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    det = make_detector(
        ioc, HDF5PluginWithVFS, "hdf1", root="/nfs", write_path_template="never/created/%Y", vfs=vfs
    )
    hdf = det.hdf1
    hdf.create_directory.set(0).wait(5)
    before = {
        s: getattr(hdf, s).get()
        for s in (
            "file_path",
            "file_name",
            "file_number",
            "create_directory",
            "capture",
            "file_write_mode",
        )
    }
    hdf.stage_sigs["create_directory"] = 0  # and the IOC may not create it either
    hdf.create_directory_depth = 0
    with pytest.raises(FileNotFoundError) as info:
        det.stage()
    message = str(info.value)
    assert "/ioc/data/never/created" in message and "/nfs/never/created" in message
    after = {s: getattr(hdf, s).get() for s in before}
    assert after == before
    assert list(hdf.collect_asset_docs()) == []


def test_lazy_open_left_on_by_another_client(ioc, vfs) -> None:  # type: ignore[no-untyped-def]
    """ophyd-async's HDF writer leaves ``LazyOpen`` on: the file then opens at the first
    frame, after stage read ``FileNumber``. Stage turns it off, so the Resource names the file
    the IOC wrote (not file ``-1``), and unstage puts it back."""
    det = make_detector(
        ioc, HDF5PluginWithVFS, "hdf1", root="/nfs", write_path_template="lazy", vfs=vfs,
        make_directories=True,
    )  # fmt: skip
    det.hdf1.lazy_open.set(1).wait(5)
    try:
        docs = run_count(det, 2)
        (res,) = [d for n, d in docs if n == "resource"]
        assert res["resource_path"].endswith("_000000.h5")
        check(frames_from_documents(vfs, docs), 2)
        assert det.hdf1.lazy_open.get(as_string=True) == "Yes"  # restored by unstage
    finally:
        det.hdf1.lazy_open.set(0).wait(5)
