"""ophyd-async runs read back: through tiled, and on a second machine over HTTP.

This module's IOC writes into a directory that nginx serves (``async_mounts`` is overridden
here), so the same files are local to the writer, local to a tiled server whose own VFS has
the roots ``detector`` and ``windet``, and remote to a reader whose roots of the same names
are ``HttpFile`` roots. The runs (HDF5 and TIFF, ``bp.count`` and a fly scan, over both
writer roots) are recorded once; every read-back must give the frames the IOC made, which
``cam1:ArrayCounter`` before and after each run names.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest
import yaml

from filestore_vfs import VirtualFileSystem
from filestore_vfs.areadetector import VFSPathProvider
from sim_iocs.testing import SimIOC
from tests.readback.tiled import (
    TILED_WRITERS,
    TiledProcess,
    TiledServer,
    start_tiled,
    wait_for_tiled,
    write_run,
)

from .helpers import (
    SIZE,
    Docs,
    array_counter,
    assert_no_physical_path,
    fly,
    make_detector,
    of,
    run_plan,
    sim_frames,
    tiff_uris,
)

pytestmark = [pytest.mark.ioc, pytest.mark.server]


@dataclass(frozen=True)
class Run:
    """One recorded run and the IOC frame counters it covers."""

    writer: str  # "hdf" or "tiff"
    root: str  # the logical root, without its slash
    docs: Docs
    counters: range  # cam1:ArrayCounter values of its frames

    @property
    def resource(self) -> dict[str, Any]:
        (resource,) = of(self.docs, "stream_resource")
        return resource

    def expected(self) -> np.ndarray:
        return sim_frames(self.counters)


#: kind: (writer, logical root, frames, fly scan?) — each root gets an HDF5 and a TIFF run.
KINDS = {
    "hdf5_count": ("hdf", "detector", 3, False),
    "tiff_count": ("tiff", "windet", 3, False),
    "hdf5_fly": ("hdf", "windet", 20, True),
    "tiff_fly": ("tiff", "detector", 20, True),
}


@pytest.fixture(scope="module")
def async_mounts(nginx_server: Any) -> dict[str, Path]:
    """The IOC's mounts inside nginx's document root: one directory, three ways to reach it."""
    base = Path(nginx_server.root) / "ophyd-async"
    out = {"posix": base / "posix", "win": base / "win"}
    for path in out.values():
        path.mkdir(parents=True, exist_ok=True)
    return out


def server_roots(mounts: dict[str, Path]) -> dict[str, Path]:
    return {"detector": mounts["posix"], "windet": mounts["win"]}


@pytest.fixture(scope="module")
def async_tiled_process(async_mounts: dict[str, Path]) -> Iterator[TiledProcess]:
    """A tiled server whose VFS reaches this module's mounts (``/cat`` only), started before
    the runs are recorded so that it comes up meanwhile."""
    with start_tiled(server_roots(async_mounts), databroker=False) as process:
        yield process


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, RE: Any, async_ioc: SimIOC, async_vfs: VirtualFileSystem
) -> dict[str, Run]:
    """Each kind once; the tiled server, when a selected test needs it, starts first."""
    import bluesky.plans as bp

    if any("async_tiled_server" in getattr(i, "fixturenames", ()) for i in request.session.items):
        request.getfixturevalue("async_tiled_process")
    out = {}
    for kind, (writer, root, frames, flying) in KINDS.items():
        det = make_detector(RE, async_ioc, writer, VFSPathProvider(f"/{root}", vfs=async_vfs))
        before = array_counter(det)
        plan = fly(det, frames) if flying else bp.count([det], num=frames)
        docs = run_plan(RE, det, writer, plan)
        after = array_counter(det)
        assert after - before == frames, f"{kind}: the IOC made {after - before} frames"
        out[kind] = Run(writer, root, docs, range(before, after))
    return out


@pytest.fixture(scope="module")
def async_tiled_server(async_tiled_process: TiledProcess) -> TiledServer:
    return wait_for_tiled(async_tiled_process)


@pytest.mark.parametrize("kind", KINDS)
def test_runs_name_only_logical_uris(
    runs: dict[str, Run], async_mounts: dict[str, Path], kind: str
) -> None:
    run = runs[kind]
    assert run.resource["uri"].startswith(f"vfs://{run.root}/")
    assert_no_physical_path(run.docs, [*async_mounts.values(), async_mounts["posix"].parent])


# -- tiled: TiledWriter into a SQL catalog, our adapters on the server -----------------------
@pytest.fixture(scope="module")
def written(async_tiled_server: TiledServer, runs: dict[str, Run]) -> dict[tuple[str, str], Any]:
    """Every run stored by both TiledWriters (bluesky's under a fresh start uid: one
    catalog holds both copies)."""
    out = {}
    for writer in TILED_WRITERS:
        for kind, run in runs.items():
            docs = run.docs if writer == "bluesky_tiled_plugins" else new_start_uid(run.docs)
            out[writer, kind] = write_run(async_tiled_server, docs, writer=writer)
    return out


def new_start_uid(docs: Docs) -> Docs:
    """A copy of the run under a fresh start uid (every reference to it follows)."""
    old, new = docs[0][1]["uid"], str(uuid.uuid4())

    def swap(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: swap(value) for key, value in node.items()}
        if isinstance(node, list):
            return [swap(value) for value in node]
        return new if node == old else node

    return [(name, swap(doc)) for name, doc in docs]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("writer", TILED_WRITERS)
def test_tiled_frames_equal_the_iocs(
    written: dict[tuple[str, str], Any],
    runs: dict[str, Run],
    async_tiled_server: TiledServer,
    writer: str,
    kind: str,
) -> None:
    node = written[writer, kind]
    try:
        images = np.asarray(node["primary"]["det"].read())
    except Exception as exc:  # the server's reason is in its log, not in the 500
        log = async_tiled_server.log()[-3000:]
        raise AssertionError(f"{exc}\n--- server log ---\n{log}") from exc
    expected = runs[kind].expected()
    # ophyd-async's data key shape is [1, y, x] (one frame per event): bluesky-tiled-plugins
    # keeps that axis, bluesky's own TiledWriter drops it
    frames = len(runs[kind].counters)
    extra = (1,) if writer == "bluesky_tiled_plugins" else ()
    assert images.shape == (frames, *extra, SIZE[1], SIZE[0])
    np.testing.assert_array_equal(images.reshape(expected.shape), expected)


def test_tiled_keeps_the_vfs_uris(
    written: dict[tuple[str, str], Any], runs: dict[str, Run]
) -> None:
    """The json-seq exporter gives back the StreamResource as written: vfs://, unchanged."""
    node = written["bluesky_tiled_plugins", "hdf5_fly"]
    back = [d["uri"] for n, d in node.documents() if n == "stream_resource"]
    assert back == [runs["hdf5_fly"].resource["uri"]]


# -- a second machine: the same root names, reached over HTTP --------------------------------
@pytest.fixture(scope="module")
def reader_config(
    nginx_server: Any, async_mounts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The reader machine's ``vfs.yaml``: ``detector`` and ``windet`` are nginx URLs."""
    home = tmp_path_factory.mktemp("async-reader")
    base = f"{nginx_server.data_url}ophyd-async/"
    roots = {
        name: {"class": "HttpFile", "download": f"{base}{mount}/", "cache_dir": str(home / name)}
        for name, mount in [("detector", "posix"), ("windet", "win")]
    }
    config = home / "vfs.yaml"
    config.write_text(yaml.safe_dump({"vfs": {"roots": roots}}))
    return config


def logged_gets(nginx_server: Any, names: set[str]) -> set[str]:
    """The file names among ``names`` that nginx has logged a GET of under ``ophyd-async/``;
    nginx logs a request after its response, so this polls until a deadline."""
    log = Path(nginx_server.workdir) / "logs" / "access.log"
    deadline = time.monotonic() + 30
    while True:
        seen = {
            line.split('"')[1].split()[1].rsplit("/", 1)[-1]
            for line in log.read_text().splitlines()
            if '"GET /data/ophyd-async/' in line
        }
        if names <= seen or time.monotonic() > deadline:
            return seen & names
        time.sleep(0.02)


@pytest.mark.parametrize("kind", KINDS)
def test_second_machine_reads_frames_over_http(
    runs: dict[str, Run], reader_config: Path, nginx_server: Any, kind: str
) -> None:
    """``fsspec.open("vfs://...")`` on a machine whose roots are nginx URLs, then h5py or
    tifffile: the IOC's frames, and nginx served every file."""
    import h5py
    import tifffile

    run = runs[kind]
    fs = fsspec.filesystem("vfs", config=str(reader_config))
    assert type(fs.vfs.roots[run.root]).__name__ == "HttpFile"
    if run.writer == "hdf":
        uris = [run.resource["uri"]]
        with fsspec.open(uris[0], "rb", config=str(reader_config)) as raw:
            with h5py.File(raw, "r") as f:
                images = f[run.resource["parameters"]["dataset"]][()]
    else:
        uris = tiff_uris(run.resource, len(run.counters))
        frames = []
        for uri in uris:
            with fsspec.open(uri, "rb", config=str(reader_config)) as raw:
                frames.append(tifffile.imread(raw))
        images = np.asarray(frames)
    np.testing.assert_array_equal(images, run.expected())
    names = {uri.rsplit("/", 1)[-1] for uri in uris}
    assert logged_gets(nginx_server, names) == names
