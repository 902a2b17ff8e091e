"""Tiled with a SQL catalog: TiledWriter stores our runs, our adapters serve their frames.

Stream runs carry ``vfs://<root>/...`` URIs; legacy Resources become
``file://localhost/<root>/...`` in TiledWriter's hands. The server's adapters resolve both
through its own VFS and refuse any URI that leaves its roots (403, with the reason).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import event_model
import h5py
import numpy as np
import pytest

from sim_iocs import expected_frame

from .helpers import SHAPE, Docs, check_frames
from .tiled import TiledServer, write_run

pytestmark = [pytest.mark.ioc, pytest.mark.server]
Runs = dict[str, Docs]
HDF5 = "application/x-hdf5"


@pytest.fixture(scope="module")
def written(tiled_server: TiledServer, ioc_runs: Runs) -> dict[str, Any]:
    return {kind: write_run(tiled_server, docs) for kind, docs in ioc_runs.items()}


@pytest.mark.parametrize("kind", ["hdf5_stream", "tiff_stream", "hdf5", "tiff"])
def test_frames_read_back(written: dict[str, Any], kind: str, tiled_server: TiledServer) -> None:
    try:
        images = written[kind]["primary"]["det_image"].read()
    except Exception as exc:  # the server's reason is in its log, not in the 500
        raise AssertionError(f"{exc}\n--- server log ---\n{tiled_server.log()[-3000:]}") from exc
    check_frames(images)


def test_one_frame_of_a_tiff_sequence(written: dict[str, Any]) -> None:
    """The catalog's lazy path hands the adapter only the URI of the frame it reads."""
    frame = written["tiff_stream"]["primary"]["det_image"][2]
    np.testing.assert_array_equal(np.asarray(frame)[0], expected_frame(2, *SHAPE, np.uint16))


def test_patch_leaves_the_documents_alone(ioc_runs: Runs) -> None:
    resource = next(d for n, d in ioc_runs["tiff"] if n == "resource")
    assert not resource["resource_path"].endswith("/")  # as ophyd writes it, untouched


def test_documents_keep_their_uris(written: dict[str, Any], ioc_runs: Runs) -> None:
    """The json-seq exporter gives back the StreamResource as written: vfs://, unchanged."""
    sent = next(d for n, d in ioc_runs["hdf5_stream"] if n == "stream_resource")
    back = [d for n, d in written["hdf5_stream"].documents() if n == "stream_resource"]
    assert [d["uri"] for d in back] == [sent["uri"]]
    assert sent["uri"].startswith("vfs://detector/")


def escaping_run(uris: dict[str, str], legacy: dict[str, str]) -> Docs:
    """A run whose data keys point outside the server's roots (nothing is read to write it)."""
    run = event_model.compose_run()
    keys = {
        key: {
            "source": "test",
            "dtype": "array",
            "shape": [1, *SHAPE],
            "external": "STREAM:" if key in uris else "FILESTORE:",
            "dtype_numpy": "<u2",
        }
        for key in [*uris, *legacy]
    }
    desc = run.compose_descriptor(name="primary", data_keys=keys)
    docs: Docs = [("start", run.start_doc), ("descriptor", desc.descriptor_doc)]
    datums: dict[str, Any] = {}
    for key, uri in uris.items():
        params = {"dataset": "/entry/data/data", "chunk_shape": [1, *SHAPE]}
        sres = run.compose_stream_resource(mimetype=HDF5, uri=uri, data_key=key, parameters=params)
        docs.append(("stream_resource", sres.stream_resource_doc))
        docs.append(
            (
                "stream_datum",
                sres.compose_stream_datum(
                    indices={"start": 0, "stop": 1}, descriptor=desc.descriptor_doc
                ),
            )
        )
    for key, path in legacy.items():
        res = run.compose_resource(
            spec="AD_HDF5",
            root="/detector",
            resource_path=path,
            resource_kwargs={"frame_per_point": 1},
        )
        docs.append(("resource", res.resource_doc))
        datum = res.compose_datum(datum_kwargs={"point_number": 0})
        docs.append(("datum", datum))
        datums[key] = datum["datum_id"]
    event = desc.compose_event(
        data=datums,
        timestamps=dict.fromkeys(datums, 0.0),
        filled=dict.fromkeys(datums, False),
        seq_num=1,
    )
    docs += [("event", event), ("stop", run.compose_stop())]
    return docs


@pytest.fixture(scope="module")
def outside_file(mounts: dict[str, Path]) -> Path:
    """A readable HDF5 file outside every root, and a symlink to it inside /detector."""
    target = mounts["win"].parent / "outside.h5"
    with h5py.File(target, "w") as h5:
        h5.create_dataset("/entry/data/data", data=np.zeros((1, *SHAPE), np.uint16))
    link = mounts["win"] / "readback" / "link.h5"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        os.symlink(target, link)
    return target


ESCAPES = {
    "dotdot": "vfs://detector/../outside.h5",
    "unknown_root": "vfs://nowhere/x.h5",
    "symlink_out": "vfs://detector/readback/link.h5",
}


@pytest.fixture(scope="module")
def escaping(tiled_server: TiledServer, outside_file: Path) -> Any:
    return write_run(tiled_server, escaping_run(ESCAPES, {"legacy_dotdot": "../outside.h5"}))


@pytest.mark.parametrize("key", [*ESCAPES, "legacy_dotdot"])
def test_escaping_uri_refused_by_server(escaping: Any, key: str) -> None:
    from tiled.client.utils import ClientError

    with pytest.raises(ClientError) as info:
        escaping["primary"][key].read()
    assert info.value.response.status_code == 403
    assert "refusing to serve" in info.value.response.text
