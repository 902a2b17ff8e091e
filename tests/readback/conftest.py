"""Read-back fixtures: sim-IOC runs written by our mixins, and one loopback ``tiled`` server.

The server runs ``tiled serve config`` with two trees: ``/db`` is databroker 2's
``MongoAdapter`` (mongomock) with our handlers given as import strings, ``/cat`` a SQLite
catalog whose ``adapters_by_mimetype`` are ours. Its ``FILESTORE_VFS_CONFIG`` is a YAML of
its own that reaches the IOC's mounts as local roots, as a beamline server would.
"""

from __future__ import annotations

import os
import secrets
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.areadetector import conftest as _ad
from tests.servers._common import HOST, launch, stop_process, temp_dir

# The sim IOC and the writer's VFS, shared with tests/areadetector (same definitions).
mounts, ioc, vfs, eager_devices = _ad.mounts, _ad.ioc, _ad.vfs, _ad.eager_devices
make_detector, run_count = _ad.make_detector, _ad.run_count

Docs = list[tuple[str, dict[str, Any]]]
FRAMES = 3
SHAPE = (64, 64)  # the sim IOC's default image size

HANDLERS = {
    "AD_HDF5": "filestore_vfs.handlers:AreaDetectorHDF5Handler",
    "AD_HDF5_SINGLE": "filestore_vfs.handlers:AreaDetectorHDF5SingleHandler",
    "AD_TIFF": "filestore_vfs.handlers:AreaDetectorTiffHandler",
}
ADAPTERS = {
    "application/x-hdf5": "filestore_vfs.tiled:VFSHDF5Adapter",
    "multipart/related;type=image/tiff": "filestore_vfs.tiled:VFSTiffSequenceAdapter",
}


@pytest.fixture(scope="session")
def ioc_runs(ioc: Any, vfs: Any, eager_devices: None) -> dict[str, Docs]:
    """One ``count`` per plugin kind: legacy HDF5/TIFF Resources, and the stream variants."""
    from filestore_vfs.areadetector import (
        HDF5PluginWithVFS,
        HDF5StreamPluginWithVFS,
        TIFFPluginWithVFS,
        TIFFStreamPluginWithVFS,
    )

    kinds = {
        "hdf5": (HDF5PluginWithVFS, "hdf1", "/detector"),
        "tiff": (TIFFPluginWithVFS, "tiff1", "/nfs"),
        "hdf5_stream": (HDF5StreamPluginWithVFS, "hdf1", "/detector"),
        "tiff_stream": (TIFFStreamPluginWithVFS, "tiff1", "/nfs"),
    }
    runs = {}
    for kind, (cls, attr, root) in kinds.items():
        det = make_detector(
            ioc,
            cls,
            attr,
            root=root,
            write_path_template=f"readback/{kind}",
            vfs=vfs,
            make_directories=True,
        )
        runs[kind] = run_count(det, FRAMES, kind=kind)
    return runs


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


def _probe(port: int) -> None:
    with urllib.request.urlopen(f"http://{HOST}:{port}/api/v1/", timeout=2) as response:
        if response.status != 200:
            raise OSError(f"tiled answered {response.status}")


@pytest.fixture(scope="session")
def tiled_server(mounts: dict[str, Path]) -> Iterator[TiledServer]:
    """``tiled serve config`` in a subprocess; ready when ``GET /api/v1/`` answers."""
    api_key = secrets.token_hex(16)
    with temp_dir("tiled") as workdir:
        (workdir / "vfs.yaml").write_text(server_vfs_yaml(mounts))
        config = workdir / "config.yml"
        config.write_text(yaml.safe_dump(tiled_config(workdir, api_key)))
        os.chmod(config, 0o600)
        env = {**os.environ, "FILESTORE_VFS_CONFIG": str(workdir / "vfs.yaml")}
        tiled = str(Path(sys.executable).with_name("tiled"))
        argv = [tiled, "serve", "config", str(config), "--host", HOST]

        def prepare(ports: tuple[int, ...]) -> list[str]:
            return [*argv, "--port", str(ports[0])]

        proc, ports = launch(
            "tiled", prepare, lambda ports: _probe(ports[0]), workdir, env=env, timeout=90
        )
        try:
            yield TiledServer(f"http://{HOST}:{ports[0]}", proc.pid, workdir, api_key)
        finally:
            stop_process(proc, str(workdir))
