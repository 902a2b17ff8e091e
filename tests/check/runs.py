"""Runs for the check/migrate tests: Resource runs from ``tests.handlers.docs``, plus
StreamResource runs (HDF5 and TIFF) and the suitcase file formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import event_model
import h5py
import msgpack
import tifffile

from filestore_vfs import VirtualFileSystem
from tests.handlers.docs import SHAPE, frames, run_documents, write_files

__all__ = [
    "HDF5_MIMETYPE",
    "SHAPE",
    "TIFF_MIMETYPE",
    "make_vfs",
    "resource_run",
    "stream_run",
    "write_jsonl",
    "write_msgpack",
    "write_stream_files",
]

TIFF_MIMETYPE = "multipart/related;type=image/tiff"
HDF5_MIMETYPE = "application/x-hdf5"


def make_vfs(tmp_path: Path) -> VirtualFileSystem:
    """``/detector`` and ``/archive``: two local directories under ``tmp_path``."""
    roots = {}
    for name in ("detector", "archive"):
        (tmp_path / name).mkdir(exist_ok=True)
        roots[name] = {"class": "LocalFile", "root": str(tmp_path / name)}
    return VirtualFileSystem(roots)


def resource_run(
    vfs: VirtualFileSystem, spec: str, written: int, referenced: int, *, root: str = "/detector"
) -> list[tuple[str, dict[str, Any]]]:
    """A Resource/Datum run of ``referenced`` points over ``written`` frames on ``root``."""
    rel_dir = f"{spec.lower()}/2026/11/21"
    fields = write_files(vfs, spec, f"{root}/{rel_dir}", written)
    return run_documents(root, rel_dir, spec, fields, referenced)


def write_stream_files(vfs: VirtualFileSystem, mimetype: str, directory: str, n: int) -> str:
    """Write ``n`` frames as a stream plugin would; return the StreamResource URI."""
    data = frames(n)
    if mimetype == HDF5_MIMETYPE:
        with vfs.open(f"{directory}/scan_000000.h5", "wb") as f, h5py.File(f, "w") as h5:
            h5.create_dataset("/entry/data/data", data=data)
        return "vfs:/" + f"{directory}/scan_000000.h5"
    for k in range(n):
        with vfs.open(f"{directory}/scan_{k:06d}.tiff", "wb") as f:
            tifffile.imwrite(f, data[k])
    return "vfs:/" + f"{directory}/"


def stream_run(
    uri: str, mimetype: str, indices: list[tuple[int, int]], frame_per_point: int = 1
) -> list[tuple[str, dict[str, Any]]]:
    """start, descriptor, StreamResource, one StreamDatum per index range, stop."""
    run = event_model.compose_run()
    docs: list[tuple[str, dict[str, Any]]] = [("start", run.start_doc)]
    desc = run.compose_descriptor(
        name="primary",
        data_keys={
            "img": {
                "source": "PV:SIM:",
                "dtype": "array",
                "shape": [frame_per_point, *SHAPE],
                "external": "STREAM:",
            }
        },
    )
    docs.append(("descriptor", desc.descriptor_doc))
    if mimetype == HDF5_MIMETYPE:
        params: dict[str, Any] = {"dataset": "/entry/data/data"}
    else:
        params = {"template": "scan_{:06d}.tiff"}
    params["frame_per_point"] = frame_per_point
    bundle = run.compose_stream_resource(
        mimetype=mimetype, uri=uri, data_key="img", parameters=params
    )
    docs.append(("stream_resource", bundle.stream_resource_doc))
    for start, stop in indices:
        datum = bundle.compose_stream_datum(
            indices={"start": start, "stop": stop}, descriptor=desc.descriptor_doc
        )
        docs.append(("stream_datum", dict(datum)))
    docs.append(("stop", run.compose_stop()))
    return docs


def write_jsonl(path: Path, docs: list[tuple[str, dict[str, Any]]]) -> Path:
    """The run as suitcase-jsonl writes it: one ``[name, doc]`` per line."""
    path.write_text("".join(json.dumps([name, doc]) + "\n" for name, doc in docs))
    return path


def write_msgpack(path: Path, docs: list[tuple[str, dict[str, Any]]]) -> Path:
    """The run as suitcase-msgpack writes it: a stream of ``[name, doc]`` arrays."""
    with open(path, "wb") as f:
        for name, doc in docs:
            f.write(msgpack.packb([name, doc], use_bin_type=True))
    return path
