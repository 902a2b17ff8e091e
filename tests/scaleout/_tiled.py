"""A scaled-out tiled server on loopback: a SQL catalog (PostgreSQL or SQLite), N workers.

``tiled serve config`` runs one process; a facility runs tiled's ``app_factory`` under a
process manager with several workers, every worker reading the same ``TILED_CONFIG``. Here
that is ``uvicorn --factory tiled.server.app:app_factory --workers N``: the parent holds the
socket and the workers share it, as gunicorn would. Each worker imports our adapters and
reads the server's own ``FILESTORE_VFS_CONFIG``.

:func:`tiled_cluster` starts one; ``restart()`` stops and starts it on the same port (the
catalog and data stay), for the restarted-mid-read tests.
"""

from __future__ import annotations

import contextlib
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

import yaml

from tests.readback.tiled import ADAPTERS
from tests.servers._common import (
    HOST,
    ServerStartError,
    free_port,
    log_tail,
    spawn,
    stop_process,
    temp_dir,
    write_private,
)

START_TIMEOUT = 180.0  # every worker imports tiled's server: seconds of CPU each
APP_FACTORY = "tiled.server.app:app_factory"
INIT_TIMEOUT = 120.0  # one process importing tiled's catalog and creating its tables
#: the exporter ``run.documents()`` asks the server for (bluesky-tiled-plugins' json-seq)
MEDIA_TYPES = {
    "BlueskyRun": {"application/json-seq": "bluesky_tiled_plugins.exporters:json_seq_exporter"}
}
#: environment variable through which :func:`init_catalog` hands the URI to its subprocess
_URI_VARIABLE = "FILESTORE_VFS_TEST_CATALOG_URI"
#: the init subprocess: tiled's own ``tiled catalog init --if-not-exists``, the URI taken
#: from the environment (``${VAR}`` expanded as tiled expands its config) and not from argv,
#: where any local user could read the password
_INIT_SCRIPT = """
import os
from tiled.commandline._catalog import init
init(os.path.expandvars(os.environ["FILESTORE_VFS_TEST_CATALOG_URI"]), if_not_exists=True)
"""


def catalog_config(
    uri: str, workdir: Path, readable: list[str], adapters: dict[str, str] | None = None
) -> dict[str, Any]:
    """tiled's ``catalog`` tree arguments: our adapters (or ``adapters``: mimetype to import
    string), ``readable_storage`` the logical roots whose ``vfs://`` URIs the server may open."""
    return {
        "uri": uri,
        "init_if_not_exists": True,
        "writable_storage": [str(workdir / "writable"), f"duckdb:///{workdir}/tables.duckdb"],
        "readable_storage": readable,
        "adapters_by_mimetype": ADAPTERS if adapters is None else adapters,
    }


def server_config(catalog: dict[str, Any], api_key: str) -> dict[str, Any]:
    return {
        "authentication": {"single_user_api_key": api_key},
        "trees": [{"path": "/", "tree": "catalog", "args": catalog}],
    }


def _probe(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v1/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class TiledCluster:
    """A running multi-worker tiled server. ``client()`` is an authenticated root client."""

    url: str
    port: int
    workers: int
    workdir: Path
    env: dict[str, str] = field(repr=False)
    api_key: str = field(repr=False)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    factory: str = APP_FACTORY

    def client(self, **kwargs: Any) -> Any:
        from tiled.client import from_uri

        return from_uri(self.url, api_key=self.api_key, **kwargs)

    def log(self) -> str:
        return log_tail(self.workdir / "tiled.out", 6000)

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", "--factory", self.factory,
            "--host", HOST, "--port", str(self.port), "--workers", str(self.workers),
            "--no-access-log", "--timeout-graceful-shutdown", "3",
        ]  # fmt: skip

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start and wait until ``GET /api/v1/`` answers (polled, no fixed sleep)."""
        self.proc = spawn(self.argv(), self.workdir, self.workdir / "tiled.out", env=self.env)
        deadline = time.monotonic() + timeout
        while not _probe(self.url):
            if self.proc.poll() is not None:
                raise ServerStartError(f"tiled exited ({self.proc.returncode}):\n{self.log()}")
            if time.monotonic() > deadline:
                raise ServerStartError(f"tiled did not answer in {timeout:.0f} s:\n{self.log()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, str(self.workdir))
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def init_catalog(uri: str, env: dict[str, str], workdir: Path) -> None:
    """Create the catalog's tables once, before any worker starts.

    With ``init_if_not_exists`` every worker initialises an empty database itself, and on
    PostgreSQL they race (``create extension btree_gin`` fails in all but one). ``uri`` may
    hold ``${VAR}`` references to ``env``, as the tiled config does; the log gets tiled's
    redacted form of it only.
    """
    log = workdir / "tiled-init.out"
    with open(log, "ab") as out:
        done = subprocess.run(
            [sys.executable, "-c", _INIT_SCRIPT],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env={**env, _URI_VARIABLE: uri},
            timeout=INIT_TIMEOUT,
            check=False,
        )
    if done.returncode:
        raise ServerStartError(f"tiled catalog init failed ({done.returncode}):\n{log_tail(log)}")


@contextlib.contextmanager
def tiled_cluster(
    catalog_uri: str,
    vfs_yaml: str,
    readable: list[str],
    *,
    workers: int = 2,
    name: str = "tiled",
    env: dict[str, str] | None = None,
    tables: str | None = None,
    factory: str = APP_FACTORY,
    adapters: dict[str, str] | None = None,
) -> Iterator[TiledCluster]:
    """Serve a catalog at ``catalog_uri`` with ``workers`` processes, the server's VFS being
    ``vfs_yaml``; stops every worker on exit.

    The catalog is initialised once before the workers start (:func:`init_catalog`). ``env``
    adds variables to the server's environment: secrets that ``catalog_uri``, ``tables`` and
    ``vfs_yaml`` name as ``${VAR}`` (tiled and the VFS config expand them), so that no file
    or log holds them. ``tables`` replaces the DuckDB tables storage (one writer process at
    a time: a second worker's write fails on its lock) with e.g. a ``postgresql://`` one,
    or ``"sqlite"`` (:func:`tables_storage`). ``factory``: the ASGI app factory uvicorn runs,
    e.g. ``filestore_vfs.tiled:app_factory`` (storage refusals as 403). ``adapters``
    (mimetype: import string) replaces our adapters, e.g. to serve tiled's own beside ours
    (``benchmarks/bench_scaleout.py``).
    """
    api_key = secrets.token_hex(16)
    with temp_dir(name) as workdir:
        (workdir / "writable").mkdir()
        write_private(workdir / "vfs.yaml", vfs_yaml)  # may name remote roots' credentials
        catalog = catalog_config(catalog_uri, workdir, readable, adapters)
        catalog["init_if_not_exists"] = False  # init_catalog below, once, before the workers
        tables = tables_storage(tables, workdir)
        if tables is not None:
            catalog["writable_storage"] = [str(workdir / "writable"), tables]
        config = {**server_config(catalog, api_key), "media_types": MEDIA_TYPES}
        write_private(workdir / "config.yml", yaml.safe_dump(config))  # holds the key and URI
        env = {
            **os.environ,
            "TILED_CONFIG": str(workdir / "config.yml"),
            "FILESTORE_VFS_CONFIG": str(workdir / "vfs.yaml"),
            **(env or {}),
        }
        init_catalog(catalog_uri, env, workdir)
        port = free_port()
        cluster = TiledCluster(f"http://{HOST}:{port}", port, workers, workdir, env, api_key)
        cluster.factory = factory
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()


def tables_storage(tables: str | None, workdir: Path) -> str | None:
    """The tables storage URI for ``tables``: ``None`` (DuckDB), ``"sqlite"`` (a SQLite file in
    ``workdir``; several workers can write it) or a URI as given, e.g. a ``postgresql://``
    database (tiled reaches it through ADBC) separate from the catalog's."""
    if tables == "sqlite":
        return f"sqlite:///{workdir}/tables.sqlite"
    return tables
