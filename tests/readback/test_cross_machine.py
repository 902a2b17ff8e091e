"""One run, three machines: the writer reads /detector from disk, one reader only over HTTP
(nginx serving that directory), another only over SFTP. Same documents, same arrays.

Each reader is configured the way a real one is: a YAML file named by
``FILESTORE_VFS_CONFIG``, and handlers taken unbound (as a server names them by import
string), so they resolve ``/detector`` through :func:`default_vfs`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import yaml

from filestore_vfs import VirtualFileSystem, default_vfs
from filestore_vfs.handlers import handler_registry
from filestore_vfs.tiled import adapters_by_mimetype
from tests.handlers.docs import fill, frames, run_documents, write_files

pytestmark = pytest.mark.server
SPECS = ["AD_HDF5", "AD_TIFF", "AD_HDF5_SINGLE"]
N = 4


@pytest.fixture(scope="module")
def shared_dir(nginx_server: Any) -> Path:
    """The directory behind /detector: on the writer's disk, and what nginx serves."""
    path = Path(nginx_server.root) / "cross-machine"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def writer(shared_dir: Path) -> VirtualFileSystem:
    return VirtualFileSystem({"detector": {"class": "LocalFile", "root": str(shared_dir)}})


@pytest.fixture(scope="module")
def runs(writer: VirtualFileSystem) -> dict[str, list]:
    """One run per spec, written through the writer's VFS; documents hold logical paths."""
    out = {}
    for spec in SPECS:
        fields = write_files(writer, spec, f"/detector/{spec.lower()}", N)
        out[spec] = run_documents("/detector", spec.lower(), spec, fields, N)
    return out


def reader_configs(nginx_server: Any, sshd_server: Any, shared_dir: Path) -> dict[str, dict]:
    """What each machine's ``vfs.yaml`` says about /detector (the documents never change)."""
    return {
        "local": {"class": "LocalFile", "root": str(shared_dir)},
        "http": {"class": "HttpFile", "download": f"{nginx_server.data_url}cross-machine/"},
        "sftp": {
            "class": "SFTPFile",
            "hostname": sshd_server.host,
            "port": sshd_server.port,
            "username": sshd_server.user,
            "keyfile": str(sshd_server.key_path),
            "known_hosts": str(sshd_server.known_hosts),
            "root": str(shared_dir),
        },
    }


@pytest.fixture(params=["local", "http", "sftp"])
def reader(
    request: pytest.FixtureRequest,
    nginx_server: Any,
    sshd_server: Any,
    shared_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """Make this process the reader machine: its own config file in FILESTORE_VFS_CONFIG."""
    detector = reader_configs(nginx_server, sshd_server, shared_dir)[request.param]
    if request.param != "local":  # whole-file copies (tiled adapters) stay in the test's dir
        detector["cache_dir"] = str(tmp_path / "cache")
    config = tmp_path / "vfs.yaml"
    config.write_text(yaml.safe_dump({"vfs": {"roots": {"detector": detector}}}))
    monkeypatch.setenv("FILESTORE_VFS_CONFIG", str(config))
    return str(request.param)


@pytest.mark.parametrize("spec", SPECS)
def test_filler_gives_identical_arrays(reader: str, runs: dict[str, list], spec: str) -> None:
    vfs = default_vfs()
    assert (
        type(vfs.roots["detector"]).__name__
        == {
            "local": "LocalFile",
            "http": "HttpFile",
            "sftp": "SFTPFile",
        }[reader]
    )
    docs = runs[spec]
    before = copy.deepcopy(docs)
    images = fill(handler_registry(), docs, retry_intervals=[])
    assert docs == before  # nothing in the documents changes
    np.testing.assert_array_equal(np.stack(images)[:, 0], frames(N))


@pytest.mark.parametrize("mimetype", ["application/x-hdf5", "multipart/related;type=image/tiff"])
def test_tiled_adapters_read_the_same_uris(reader: str, runs: dict, mimetype: str) -> None:
    """The server side on a reader machine: the same vfs:// URIs, through its VFS."""
    from tests.readback.helpers import data_source

    if mimetype == "application/x-hdf5":
        uris, params = ["vfs://detector/ad_hdf5/scan_000000.h5"], {"dataset": "/entry/data/data"}
    else:
        uris, params = [f"vfs://detector/ad_tiff/scan_{k:06d}.tiff" for k in range(N)], {}
    adapter = adapters_by_mimetype(default_vfs())[mimetype]
    node = SimpleNamespace(metadata_={}, specs=[])
    got = adapter.from_catalog(data_source(mimetype, uris, N), node, **params).read()
    np.testing.assert_array_equal(np.asarray(got), frames(N))
