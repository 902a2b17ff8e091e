"""ophyd's own mixin and ours on the same IOC: the same documents but for root and uids."""

from __future__ import annotations

import posixpath
from typing import Any

import pytest
from ophyd.areadetector.filestore_mixins import (
    FileStoreHDF5IterativeWrite,
    FileStoreTIFFIterativeWrite,
)
from ophyd.areadetector.plugins import HDF5Plugin_V34, TIFFPlugin_V34

from filestore_vfs.areadetector import HDF5PluginWithVFS, TIFFPluginWithVFS

from .helpers import make_detector, run_count

pytestmark = [pytest.mark.ioc, pytest.mark.usefixtures("eager_devices")]


class OphydHDF5(HDF5Plugin_V34, FileStoreHDF5IterativeWrite):
    pass


class OphydTIFF(TIFFPlugin_V34, FileStoreTIFFIterativeWrite):
    pass


def by_name(docs: list[tuple[str, dict]], name: str) -> list[dict[str, Any]]:
    return [d for n, d in docs if n == name]


@pytest.mark.parametrize(
    ("theirs", "ours", "attr"),
    [(OphydHDF5, HDF5PluginWithVFS, "hdf1"), (OphydTIFF, TIFFPluginWithVFS, "tiff1")],
)
def test_documents_match_ophyds(ioc, vfs, mounts, theirs, ours, attr) -> None:  # type: ignore[no-untyped-def]
    (mounts["posix"] / "parity" / attr).mkdir(parents=True, exist_ok=True)
    ophyd_det = make_detector(
        ioc, theirs, attr, root="/ioc/data", write_path_template=f"/ioc/data/parity/{attr}/"
    )
    our_det = make_detector(
        ioc, ours, attr, root="/nfs", write_path_template=f"parity/{attr}", vfs=vfs
    )
    a, b = run_count(ophyd_det, 3), run_count(our_det, 3)
    assert [n for n, _ in a] == [n for n, _ in b]

    (ra,), (rb,) = by_name(a, "resource"), by_name(b, "resource")
    assert (ra["root"], rb["root"]) == ("/ioc/data", "/nfs")  # the one intended difference
    assert ra["spec"] == rb["spec"] and ra["path_semantics"] == rb["path_semantics"]
    kwa, kwb = dict(ra["resource_kwargs"]), dict(rb["resource_kwargs"])
    assert ("filename" in kwa) == ("filename" in kwb)  # a fresh short uid on each side
    kwa.pop("filename", None)
    kwb.pop("filename", None)
    assert kwa == kwb
    if ra["spec"] == "AD_HDF5":
        assert posixpath.dirname(ra["resource_path"]) == posixpath.dirname(rb["resource_path"])
        assert ra["resource_path"][-10:] == rb["resource_path"][-10:]  # "_000000.h5"
    else:
        assert ra["resource_path"] == rb["resource_path"] == f"parity/{attr}"

    da, db = by_name(a, "datum"), by_name(b, "datum")
    assert [d["datum_kwargs"] for d in da] == [d["datum_kwargs"] for d in db]
    assert [d["datum_id"].split("/")[-1] for d in da] == [d["datum_id"].split("/")[-1] for d in db]

    (desc_a,), (desc_b,) = by_name(a, "descriptor"), by_name(b, "descriptor")
    assert desc_a["data_keys"] == desc_b["data_keys"]
    ea, eb = by_name(a, "event"), by_name(b, "event")
    assert [sorted(e["data"]) for e in ea] == [sorted(e["data"]) for e in eb]
    assert [e["filled"] for e in ea] == [e["filled"] for e in eb]
