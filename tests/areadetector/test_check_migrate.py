"""``check`` and ``migrate`` on runs the sim IOC really wrote through our mixins.

They use this folder's session IOC (one IOC fewer to start, and the detector's channels are
already connected)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import event_model
import numpy as np
import pytest

from filestore_vfs import VirtualFileSystem
from filestore_vfs.areadetector import HDF5PluginWithVFS, TIFFStreamPluginWithVFS
from filestore_vfs.check import check_run, migrate_run
from filestore_vfs.handlers import handler_registry
from sim_iocs import expected_frame

from .helpers import make_detector, run_count

pytestmark = [pytest.mark.ioc, pytest.mark.usefixtures("eager_devices")]


@pytest.fixture(scope="module")
def runs(ioc: Any, vfs: VirtualFileSystem) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    out = {}
    for kind, cls, attr, root in (
        ("hdf5", HDF5PluginWithVFS, "hdf1", "/detector"),
        ("tiff_stream", TIFFStreamPluginWithVFS, "tiff1", "/nfs"),
    ):
        det = make_detector(
            ioc,
            cls,
            attr,
            root=root,
            write_path_template=f"check/{kind}",
            vfs=vfs,
            make_directories=True,
        )
        out[kind] = run_count(det, 3)
    return out


def test_ioc_runs_check_complete(runs: dict[str, Any], vfs: VirtualFileSystem) -> None:
    for docs in runs.values():
        report = check_run(docs, vfs)
        assert report.complete and report.referenced == 3 and report.present == 3


def test_ioc_tiff_stream_gap_found(runs: dict[str, Any], vfs: VirtualFileSystem) -> None:
    docs = runs["tiff_stream"]
    sres = next(d for name, d in docs if name == "stream_resource")
    second = sres["uri"] + sres["parameters"]["template"].format(1)
    data = vfs.read_bytes(second)
    vfs.remove(second)
    try:
        report = check_run(docs, vfs)
        assert (report.present, report.missing) == (2, 1)
        assert "frame(s) 1 (a gap" in report.resources[0].problem
    finally:
        vfs.write_bytes(second, data)


def test_ioc_run_migrated_reads_back(
    runs: dict[str, Any], mounts: dict[str, Path], tmp_path: Path
) -> None:
    docs = runs["hdf5"]
    mover = VirtualFileSystem(
        {
            "detector": {"class": "LocalFile", "root": str(mounts["win"])},
            "archive": {"class": "LocalFile", "root": str(tmp_path)},
        }
    )
    report = migrate_run(docs, "/detector", "/archive", mover)
    assert report.ok and report.counts() == {"copied": 1}
    reader = VirtualFileSystem({"detector": report.mapping["vfs"]["roots"]["detector"]})
    images = []
    with event_model.Filler(handler_registry(reader), inplace=False) as filler:
        for name, doc in docs:
            _, filled = filler(name, doc)
            if name == "event":
                images.append(np.asarray(filled["data"]["det_image"]))
    assert len(images) == 3
    for k, image in enumerate(images):
        np.testing.assert_array_equal(image[0], expected_frame(k, 64, 64, np.uint16))
