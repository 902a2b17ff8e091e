"""One loopback ``tiled`` server for the session (a pytest plugin: ``tests/conftest.py``).

The server runs ``tiled serve config`` with two trees: ``/db`` is databroker 2's
``MongoAdapter`` (mongomock) with our handlers given as import strings, ``/cat`` a SQLite
catalog whose ``adapters_by_mimetype`` are ours. Its ``FILESTORE_VFS_CONFIG`` is a YAML of
its own that reaches the IOC's mounts as local roots, as a beamline server would.
``tests/readback`` reads runs back through it and ``tests/check`` checks a run it serves:
importing tiled's server costs seconds of CPU, so it starts once.

:func:`start_tiled` and :func:`wait_for_tiled` serve any roots: ``tests/async_ioc`` starts a
second server (module scope, ``/cat`` only) over its own IOC's mounts with them.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.readback.helpers import Docs
from tests.servers._common import HOST, free_port, log_tail, spawn, stop_process, temp_dir

START_TIMEOUT = 120.0  # importing tiled's server takes 10-40 s on a loaded machine

HANDLERS = {
    "AD_HDF5": "filestore_vfs.handlers:AreaDetectorHDF5Handler",
    "AD_HDF5_SINGLE": "filestore_vfs.handlers:AreaDetectorHDF5SingleHandler",
    "AD_TIFF": "filestore_vfs.handlers:AreaDetectorTiffHandler",
}
ADAPTERS = {
    "application/x-hdf5": "filestore_vfs.tiled:VFSHDF5Adapter",
    "multipart/related;type=image/tiff": "filestore_vfs.tiled:VFSTiffSequenceAdapter",
}


def session_roots(mounts: dict[str, Path]) -> dict[str, Path]:
    """The session server's roots: the readback IOC's mounts under the writer VFS's names."""
    return {"detector": mounts["win"], "nfs": mounts["posix"]}


def server_vfs_yaml(roots: dict[str, Path]) -> str:
    """The server's own VFS config: the IOC's mounts as local roots (no writer view needed)."""
    spec = {name: {"class": "LocalFile", "root": str(path)} for name, path in roots.items()}
    return yaml.safe_dump({"vfs": {"roots": spec}})


@dataclass(frozen=True)
class TiledServer:
    """A running ``tiled serve config`` on loopback."""

    url: str
    pid: int
    workdir: Path
    api_key: str = field(repr=False)

    def client(self, tree: str) -> Any:
        from tiled.client import from_uri

        return from_uri(self.url, api_key=self.api_key)[tree]

    def log(self) -> str:
        return (self.workdir / "tiled.out").read_text(errors="replace")


def tiled_config(
    workdir: Path, api_key: str, roots: list[str], *, databroker: bool = True
) -> dict[str, Any]:
    """``/cat`` and, with ``databroker``, ``/db``; ``readable_storage`` also names the logical
    roots (see the how-to)."""
    catalog = {
        "uri": f"sqlite:///{workdir}/catalog.db",
        "init_if_not_exists": True,
        "writable_storage": [str(workdir / "writable"), f"duckdb:///{workdir}/tables.duckdb"],
        "readable_storage": [f"/{name}" for name in roots],
        "adapters_by_mimetype": ADAPTERS,
    }
    trees: list[dict[str, Any]] = [{"path": "/cat", "tree": "catalog", "args": catalog}]
    if databroker:
        mongo = "databroker.mongo_normalized:MongoAdapter.from_mongomock"
        trees.insert(0, {"path": "/db", "tree": mongo, "args": {"handler_registry": HANDLERS}})
    return {
        "authentication": {"single_user_api_key": api_key},
        "trees": trees,
        "media_types": {
            "BlueskyRun": {
                "application/json-seq": "bluesky_tiled_plugins.exporters:json_seq_exporter"
            }
        },
    }


#: The two TiledWriters: bluesky's own and bluesky-tiled-plugins' (where it is developed now).
TILED_WRITERS = {
    "bluesky": ("bluesky.callbacks.tiled_writer", "TiledWriter"),
    "bluesky_tiled_plugins": ("bluesky_tiled_plugins", "TiledWriter"),
}


def write_run(server: TiledServer, docs: Docs, *, writer: str = "bluesky_tiled_plugins") -> Any:
    """Store one run's documents in ``/cat`` with a TiledWriter (``tiled_writer_patches`` for
    legacy TIFF Resources) and return the run's node, as a beamline's callback would."""
    import importlib

    from filestore_vfs.tiled import tiled_writer_patches

    module, name = TILED_WRITERS[writer]
    catalog = server.client("cat")
    callback = getattr(importlib.import_module(module), name)(
        catalog, patches=tiled_writer_patches()
    )
    for kind, doc in docs:
        callback(kind, doc)
    return catalog[docs[0][1]["uid"]]


def _probe(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/api/v1/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class TiledProcess:
    proc: subprocess.Popen[bytes]
    port: int
    workdir: Path
    api_key: str = field(repr=False)


@contextmanager
def start_tiled(roots: dict[str, Path], *, databroker: bool = True) -> Iterator[TiledProcess]:
    """Start ``tiled serve config`` over ``roots`` (name: local directory) without waiting:
    importing tiled takes seconds, so callers start it before recording their runs."""
    api_key = secrets.token_hex(16)
    with temp_dir("tiled") as workdir:
        (workdir / "vfs.yaml").write_text(server_vfs_yaml(roots))
        config = workdir / "config.yml"
        config.write_text(
            yaml.safe_dump(tiled_config(workdir, api_key, list(roots), databroker=databroker))
        )
        os.chmod(config, 0o600)  # it holds the API key
        env = {**os.environ, "FILESTORE_VFS_CONFIG": str(workdir / "vfs.yaml")}
        port = free_port()
        tiled = str(Path(sys.executable).with_name("tiled"))
        argv = [tiled, "serve", "config", str(config), "--host", HOST, "--port", str(port)]
        proc = spawn(argv, workdir, workdir / "tiled.out", env=env)
        try:
            yield TiledProcess(proc, port, workdir, api_key)
        finally:
            stop_process(proc, str(workdir))


def wait_for_tiled(process: TiledProcess) -> TiledServer:
    """The server, once ``GET /api/v1/`` answers (polled until a deadline, no fixed sleep)."""
    deadline = time.monotonic() + START_TIMEOUT
    while not _probe(process.port):
        log = log_tail(process.workdir / "tiled.out")
        if process.proc.poll() is not None:
            pytest.fail(f"tiled serve exited ({process.proc.returncode}):\n{log}")
        if time.monotonic() > deadline:
            pytest.fail(f"tiled serve did not answer in {START_TIMEOUT:.0f} s:\n{log}")
        time.sleep(0.1)
    url = f"http://{HOST}:{process.port}"
    return TiledServer(url, process.proc.pid, process.workdir, process.api_key)


@pytest.fixture(scope="session")
def tiled_process(mounts: dict[str, Path]) -> Iterator[TiledProcess]:
    """The session server, started without waiting (``ioc_runs`` asks for it first)."""
    with start_tiled(session_roots(mounts)) as process:
        yield process


@pytest.fixture(scope="session")
def tiled_server(tiled_process: TiledProcess) -> TiledServer:
    """The session server, once it answers."""
    return wait_for_tiled(tiled_process)
