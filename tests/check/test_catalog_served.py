"""``filestore-vfs check --catalog URL --uid UID`` against a served databroker 2 catalog."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from filestore_vfs import VirtualFileSystem
from tests.servers._common import HOST, free_port, log_tail, stop_process, temp_dir

from .runs import make_vfs, resource_run

pytestmark = pytest.mark.server
START_TIMEOUT = 120.0  # importing tiled's server takes 10-40 s on a loaded machine


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v1/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, str]]:
    """``tiled serve config`` with one tree, ``/db``: databroker's MongoAdapter (mongomock)."""
    api_key = secrets.token_hex(16)
    with temp_dir("check-tiled") as workdir:
        config = workdir / "config.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "authentication": {"single_user_api_key": api_key},
                    "trees": [
                        {
                            "path": "/db",
                            "tree": "databroker.mongo_normalized:MongoAdapter.from_mongomock",
                        }
                    ],
                }
            )
        )
        os.chmod(config, 0o600)
        port = free_port()
        tiled = str(Path(sys.executable).with_name("tiled"))
        argv = [tiled, "serve", "config", str(config), "--host", HOST, "--port", str(port)]
        with open(workdir / "tiled.out", "wb") as log:
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True
            )
        url = f"http://{HOST}:{port}"
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not _answers(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"tiled serve did not come up:\n{log_tail(workdir / 'tiled.out')}")
                time.sleep(0.2)
            yield url, api_key
        finally:
            stop_process(proc, str(workdir))


def test_check_a_served_run(served: tuple[str, str], tmp_path: Path) -> None:
    from tiled.client import from_uri

    url, api_key = served
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
