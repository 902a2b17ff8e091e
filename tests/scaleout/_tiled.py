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
from urllib.parse import urlparse

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


def catalog_config(
    uri: str, workdir: Path, readable: list[str], *, tables: str | None = None
) -> dict[str, Any]:
    """tiled's ``catalog`` tree arguments: our adapters, ``readable_storage`` the logical
    roots whose ``vfs://`` URIs the server may open. ``tables`` is the tables storage URI
    (:func:`tables_storage`); DuckDB in ``workdir`` without it."""
    return {
        "uri": uri,
        "init_if_not_exists": True,
        "writable_storage": [
            str(workdir / "writable"),
            tables or f"duckdb:///{workdir}/tables.duckdb",
        ],
        "readable_storage": readable,
        "adapters_by_mimetype": ADAPTERS,
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


@contextlib.contextmanager
def tiled_cluster(
    catalog_uri: str,
    vfs_yaml: str,
    readable: list[str],
    *,
    workers: int = 2,
    name: str = "tiled",
    tables: str | None = None,
    factory: str = APP_FACTORY,
) -> Iterator[TiledCluster]:
    """Serve a catalog at ``catalog_uri`` with ``workers`` processes, the server's VFS being
    ``vfs_yaml``; stops every worker on exit.

    ``tables``: the tables storage (:func:`tables_storage`; DuckDB, one writer process at a
    time, without it). ``factory``: the ASGI app factory uvicorn runs, e.g.
    ``filestore_vfs.tiled:app_factory`` (refusals as 403). With several workers the catalog
    is initialised once first: workers initialising an empty PostgreSQL database together
    race on ``create extension btree_gin``."""
    api_key = secrets.token_hex(16)
    with temp_dir(name) as workdir:
        (workdir / "writable").mkdir()
        (workdir / "vfs.yaml").write_text(vfs_yaml)
        tables_uri = tables_storage(tables, workdir)
        catalog = catalog_config(catalog_uri, workdir, readable, tables=tables_uri)
        config = server_config(catalog, api_key)
        write_private(workdir / "config.yml", yaml.safe_dump(config))  # holds the key and URI
        env = {
            **os.environ,
            "TILED_CONFIG": str(workdir / "config.yml"),
            "FILESTORE_VFS_CONFIG": str(workdir / "vfs.yaml"),
        }
        port = free_port()
        cluster = TiledCluster(f"http://{HOST}:{port}", port, workers, workdir, env, api_key)
        cluster.factory = factory
        if workers > 1:
            init_catalog(catalog_uri, workdir, env)
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


def init_catalog(catalog_uri: str, workdir: Path, env: dict[str, str]) -> None:
    """``tiled catalog init`` once, before several workers open the catalog together."""
    tiled = str(Path(sys.executable).with_name("tiled"))
    log = workdir / "init.out"
    with open(log, "wb") as out:
        done = subprocess.run(
            [tiled, "catalog", "init", catalog_uri], stdout=out, stderr=subprocess.STDOUT,
            cwd=workdir, env=env, timeout=START_TIMEOUT,
        )  # fmt: skip
    if done.returncode:
        password = urlparse(catalog_uri).password
        text = log_tail(log).replace(password, "***") if password else log_tail(log)
        raise ServerStartError(f"tiled catalog init failed ({done.returncode}):\n{text}")
