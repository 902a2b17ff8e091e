"""``filestore-vfs check --catalog URL --uid UID`` against a served databroker 2 catalog."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from filestore_vfs import VirtualFileSystem
from tests.readback.tiled import TiledServer

from .runs import make_vfs, resource_run

pytestmark = pytest.mark.server


def test_check_a_served_run(tiled_server: TiledServer, tmp_path: Path) -> None:
    """The session's tiled server (tests/readback/tiled.py): its ``/db`` tree is databroker's
    MongoAdapter (mongomock)."""
    from tiled.client import from_uri

    url, api_key = tiled_server.url, tiled_server.api_key
    vfs: VirtualFileSystem = make_vfs(tmp_path)
    docs = resource_run(vfs, "AD_HDF5", 3, 4)  # 4 points, 3 frames written
    catalog = from_uri(f"{url}/api/v1/metadata/db", api_key=api_key)
    for name, doc in docs:
        catalog.post_document(name, doc)
    uid = docs[0][1]["uid"]

    config = tmp_path / "vfs.yaml"
    config.write_text(
        f"roots:\n  detector: {{class: LocalFile, root: '{tmp_path / 'detector'}'}}\n"
    )
    env = {**os.environ, "TILED_API_KEY": api_key, "FILESTORE_VFS_CONFIG": str(config)}
    exe = shutil.which("filestore-vfs")
    assert exe
    argv = [exe, "check", "--json", "--catalog", f"{url}/api/v1/metadata/db", "--uid", uid]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    report = json.loads(proc.stdout)
    assert report["summary"]["referenced"] == 4 and report["summary"]["missing"] == 1
