"""One loopback ``tiled`` server for the session (a pytest plugin: ``tests/conftest.py``).

The server runs ``tiled serve config`` with two trees: ``/db`` is databroker 2's
``MongoAdapter`` (mongomock) with our handlers given as import strings, ``/cat`` a SQLite
catalog whose ``adapters_by_mimetype`` are ours. Its ``FILESTORE_VFS_CONFIG`` is a YAML of
its own that reaches the IOC's mounts as local roots, as a beamline server would.
``tests/readback`` reads runs back through it and ``tests/check`` checks a run it serves:
importing tiled's server costs seconds of CPU, so it starts once.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

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


def server_vfs_yaml(mounts: dict[str, Path]) -> str:
    """The server's own VFS config: the IOC's mounts as local roots (no writer view needed)."""
    roots = {
        "detector": {"class": "LocalFile", "root": str(mounts["win"])},
        "nfs": {"class": "LocalFile", "root": str(mounts["posix"])},
    }
    return yaml.safe_dump({"vfs": {"roots": roots}})


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


def tiled_config(workdir: Path, api_key: str) -> dict[str, Any]:
    """Both trees; ``readable_storage`` also names the logical roots (see the how-to)."""
    catalog = {
        "uri": f"sqlite:///{workdir}/catalog.db",
        "init_if_not_exists": True,
        "writable_storage": [str(workdir / "writable"), f"duckdb:///{workdir}/tables.duckdb"],
        "readable_storage": ["/detector", "/nfs"],
        "adapters_by_mimetype": ADAPTERS,
    }
    return {
        "authentication": {"single_user_api_key": api_key},
        "trees": [
            {
                "path": "/db",
                "tree": "databroker.mongo_normalized:MongoAdapter.from_mongomock",
                "args": {"handler_registry": HANDLERS},
            },
            {"path": "/cat", "tree": "catalog", "args": catalog},
        ],
        "media_types": {
            "BlueskyRun": {
                "application/json-seq": "bluesky_tiled_plugins.exporters:json_seq_exporter"
            }
        },
    }


def _probe(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/api/v1/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class _Process:
    proc: subprocess.Popen[bytes]
    port: int
    workdir: Path
    api_key: str = field(repr=False)


@pytest.fixture(scope="session")
def tiled_process(mounts: dict[str, Path]) -> Iterator[_Process]:
    """Start ``tiled serve config`` without waiting: importing tiled takes seconds, so it
    comes up while the IOC runs are recorded (``ioc_runs`` asks for this fixture first)."""
    api_key = secrets.token_hex(16)
    with temp_dir("tiled") as workdir:
        (workdir / "vfs.yaml").write_text(server_vfs_yaml(mounts))
        config = workdir / "config.yml"
        config.write_text(yaml.safe_dump(tiled_config(workdir, api_key)))
        os.chmod(config, 0o600)  # it holds the API key
        env = {**os.environ, "FILESTORE_VFS_CONFIG": str(workdir / "vfs.yaml")}
        port = free_port()
        tiled = str(Path(sys.executable).with_name("tiled"))
        argv = [tiled, "serve", "config", str(config), "--host", HOST, "--port", str(port)]
        proc = spawn(argv, workdir, workdir / "tiled.out", env=env)
        try:
            yield _Process(proc, port, workdir, api_key)
        finally:
            stop_process(proc, str(workdir))


@pytest.fixture(scope="session")
def tiled_server(tiled_process: _Process) -> TiledServer:
    """The server, once ``GET /api/v1/`` answers (polled until a deadline, no fixed sleep)."""
    deadline = time.monotonic() + START_TIMEOUT
    while not _probe(tiled_process.port):
        log = log_tail(tiled_process.workdir / "tiled.out")
        if tiled_process.proc.poll() is not None:
            pytest.fail(f"tiled serve exited ({tiled_process.proc.returncode}):\n{log}")
        if time.monotonic() > deadline:
            pytest.fail(f"tiled serve did not answer in {START_TIMEOUT:.0f} s:\n{log}")
        time.sleep(0.1)
    url = f"http://{HOST}:{tiled_process.port}"
    return TiledServer(url, tiled_process.proc.pid, tiled_process.workdir, tiled_process.api_key)
