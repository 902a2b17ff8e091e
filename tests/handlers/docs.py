"""Documents of a run as our mixins write them, built without an IOC, plus their files."""

from __future__ import annotations

from typing import Any

import event_model
import h5py
import numpy as np
import tifffile

from filestore_vfs import VirtualFileSystem
from sim_iocs import expected_frame

SHAPE = (16, 24)


def frames(n: int, dtype: Any = np.uint16) -> np.ndarray:
    return np.stack([expected_frame(k, *SHAPE, dtype) for k in range(n)])


def write_files(vfs: VirtualFileSystem, spec: str, directory: str, n: int) -> dict[str, Any]:
    """Write ``n`` frames as the IOC would; return the Resource fields."""
    data = frames(n)
    if spec == "AD_HDF5":
        with vfs.open(f"{directory}/scan_000000.h5", "wb") as f, h5py.File(f, "w") as h5:
            h5.create_dataset("/entry/data/data", data=data)
        return {"resource_path": "scan_000000.h5", "resource_kwargs": {"frame_per_point": 1}}
    kind = "h5" if spec == "AD_HDF5_SINGLE" else "tiff"
    for k in range(n):
        with vfs.open(f"{directory}/scan_{k:06d}.{kind}", "wb") as f:
            if kind == "tiff":
                tifffile.imwrite(f, data[k])
            else:
                with h5py.File(f, "w") as h5:
                    h5.create_dataset("/entry/data/data", data=data[k : k + 1])
    return {
        "resource_path": "",
        "resource_kwargs": {
            "template": f"%s%s_%6.6d.{kind}",
            "filename": "scan",
            "frame_per_point": 1,
        },
    }


def run_documents(root: str, rel_dir: str, spec: str, fields: dict[str, Any], n: int) -> list:
    """start, descriptor, resource, n × (datum, event), stop: as bluesky emits them."""
    path = fields["resource_path"]
    resource_path = f"{rel_dir}/{path}" if path else rel_dir
    run = event_model.compose_run()
    docs: list[tuple[str, dict]] = [("start", run.start_doc)]
    desc = run.compose_descriptor(
        name="primary",
        data_keys={
            "img": {
                "source": "PV:SIM:",
                "dtype": "array",
                "shape": [1, *SHAPE],
                "external": "FILESTORE:",
                "dtype_numpy": "<u2",
            }
        },
    )
    docs.append(("descriptor", desc.descriptor_doc))
    res = run.compose_resource(
        spec=spec,
        root=root,
        resource_path=resource_path,
        resource_kwargs=fields["resource_kwargs"],
        path_semantics="posix",
    )
    docs.append(("resource", res.resource_doc))
    for k in range(n):
        datum = res.compose_datum(datum_kwargs={"point_number": k})
        docs.append(("datum", datum))
        docs.append(
            (
                "event",
                desc.compose_event(
                    data={"img": datum["datum_id"]}, timestamps={"img": 0.0}, filled={"img": False}
                ),
            )
        )
    docs.append(("stop", run.compose_stop()))
    return docs


def fill(registry: dict, docs: list, key: str = "img", **kwargs: Any) -> list[np.ndarray]:
    """The ``key`` image of every event, filled by ``event_model.Filler`` with ``registry``
    (``kwargs``: ``root_map``, ``retry_intervals``, ...)."""
    out = []
    with event_model.Filler(registry, inplace=False, **kwargs) as filler:
        for name, doc in docs:
            name, doc = filler(name, doc)
            if name == "event":
                out.append(np.asarray(doc["data"][key]))
    return out


def stock_registry() -> dict[str, Any]:
    """The stock area-detector-handlers for our specs (what a reader without us uses)."""
    from area_detector_handlers.handlers import AreaDetectorHDF5Handler, AreaDetectorTiffHandler

    return {"AD_HDF5": AreaDetectorHDF5Handler, "AD_TIFF": AreaDetectorTiffHandler}
