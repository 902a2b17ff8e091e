"""Synthetic runs for the scale-out tests: HDF5 frames on a local root, written straight
through ``TiledWriter`` (no IOC: the concurrency and fault tests need many runs fast).

Frame ``k`` of the run with pattern seed ``s`` has pixel ``[y, x] = (1000*s + k + x + 2*y)
% 2**16`` (uint16), and the seed is in the start document, so a reader can check every frame
of a run it knows nothing else about and would notice frames of another run. Each run also
has a scalar ``seq`` column (``k`` at event ``k``) that tiled stores in its tables storage.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import event_model
import h5py
import numpy as np

SHAPE = (12, 16)
KEY = "img"
DATASET = "/entry/data/data"
HDF5 = "application/x-hdf5"

Docs = list[tuple[str, dict[str, Any]]]


def frames(seed: int, count: int) -> np.ndarray:
    """The ``count`` frames of the run with pattern seed ``seed``."""
    k = np.arange(count, dtype=np.int64)[:, None, None]
    y = np.arange(SHAPE[0], dtype=np.int64)[None, :, None]
    x = np.arange(SHAPE[1], dtype=np.int64)[None, None, :]
    return ((1000 * seed + k + x + 2 * y) % 2**16).astype(np.uint16)


def write_frames(path: Path, seed: int, count: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        h5.create_dataset(DATASET, data=frames(seed, count), chunks=(1, *SHAPE))


def run_documents(uri: str, seed: int, count: int) -> Docs:
    """A run of ``count`` frames stored at ``uri`` (a ``vfs://`` or ``file:`` URI), its
    pattern seed in the start document."""
    run = event_model.compose_run(metadata={"pattern_seed": seed, "frames": count})
    keys = {
        KEY: {
            "source": "synthetic",
            "dtype": "array",
            "shape": [*SHAPE],
            "external": "STREAM:",
            "dtype_numpy": "<u2",
        },
        "seq": {"source": "synthetic", "dtype": "integer", "shape": [], "dtype_numpy": "<i8"},
    }
    desc = run.compose_descriptor(name="primary", data_keys=keys)
    params = {"dataset": DATASET, "chunk_shape": [1, *SHAPE]}
    sres = run.compose_stream_resource(mimetype=HDF5, uri=uri, data_key=KEY, parameters=params)
    docs: Docs = [
        ("start", run.start_doc),
        ("descriptor", desc.descriptor_doc),
        ("stream_resource", sres.stream_resource_doc),
    ]
    for k in range(count):
        docs.append(
            ("stream_datum", sres.compose_stream_datum(
                indices={"start": k, "stop": k + 1}, descriptor=desc.descriptor_doc
            ))
        )  # fmt: skip
        event = desc.compose_event(data={"seq": k}, timestamps={"seq": 0.0}, seq_num=k + 1)
        docs.append(("event", event))
    docs.append(("stop", run.compose_stop()))
    return docs


def make_run(root_dir: Path, root: str, seed: int, count: int) -> Docs:
    """Write the run's HDF5 file under ``root_dir`` (the local directory of logical root
    ``root``) and return its documents, the file named by a ``vfs://`` URI."""
    relative = f"synthetic/run_{seed:05d}.h5"
    write_frames(root_dir / relative, seed, count)
    return run_documents(f"vfs://{root}/{relative}", seed, count)


def tiled_writer(catalog: Any) -> Callable[[str, dict[str, Any]], Any]:
    """bluesky-tiled-plugins' TiledWriter, writing each event as it comes (as in streaming)."""
    from bluesky_tiled_plugins import TiledWriter

    return TiledWriter(catalog, batch_size=1)  # type: ignore[no-any-return]


def feed(writer: Callable[[str, dict[str, Any]], Any], docs: Docs) -> str:
    """Send ``docs`` to ``writer``; returns the run's uid."""
    for name, doc in docs:
        writer(name, doc)
    return str(docs[0][1]["uid"])


def check_run(node: Any) -> list[str]:
    """Problems with a run read back through tiled (empty: every frame and ``seq`` value is
    what its seed says, and the run has its stop document)."""
    start, stop = node.metadata["start"], node.metadata.get("stop")
    seed, count = int(start["pattern_seed"]), int(start["frames"])
    problems = []
    if not stop or stop.get("exit_status") != "success":
        problems.append(f"run {start['uid']}: no successful stop document ({stop!r})")
    got = np.asarray(node["primary"][KEY].read())
    want = frames(seed, count)
    if got.shape != want.shape:
        problems.append(f"run {start['uid']}: frames {got.shape}, want {want.shape}")
    else:
        bad = [k for k in range(count) if not np.array_equal(got[k], want[k])]
        if bad:
            problems.append(f"run {start['uid']} (seed {seed}): frames {bad} differ")
    seq = np.asarray(node["primary"]["seq"].read())
    if list(seq) != list(range(count)):
        problems.append(f"run {start['uid']}: seq {list(seq)}")
    return problems
