"""Concurrency and faults of a scaled-out tiled (#16 item 3), on a PostgreSQL catalog with
PostgreSQL tables storage and three workers running ``filestore_vfs.tiled:app_factory``.

* 8 reader processes and 1 writer at once: every reader checks every frame of every run
  the writer makes (and runs made before), nothing lost or mixed up.
* A run whose data URI is outside the server's storage gets ``403`` with the reason, from
  our VFS check and from tiled's ``readable_storage`` check (which tiled alone answers 500).
* The server restarted under reader processes: their clients retry and every frame is right.
* The database stopped mid-write: ``AtomicRunWriter`` raises ``RunNotRegisteredError`` and
  no half-registered run stays once the database is back.

The PostgreSQL cluster is this module's own (``own_server``): the database test stops it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from filestore_vfs.tiled import (
    AtomicRunWriter,
    RunNotRegisteredError,
    is_storage_refusal,
    remove_partial_run,
)
from tests.scaleout._synthetic import check_run, feed, make_run, run_documents, tiled_writer
from tests.scaleout._tiled import TiledCluster, tiled_cluster
from tests.servers._common import temp_dir
from tests.servers._fixtures import own_server

REPO = Path(__file__).resolve().parents[2]
WORKERS = 3
READERS = 8
FRAMES = 6
READER_DEADLINE = 400.0  # seconds a reader process may run before it reports a problem


@pytest.fixture(scope="module")
def pg() -> Iterator[Any]:
    with own_server("postgres") as server:
        yield server


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    with temp_dir("scaleout-data") as path:
        yield path


@pytest.fixture(scope="module")
def cluster(pg: Any, data_dir: Path) -> Iterator[TiledCluster]:
    """Catalog and tables in two databases of ``pg``; the server's VFS has one root, /data."""
    catalog = pg.create_database("faults_catalog")
    pg.create_database("faults_tables")
    tables = pg.uri("faults_tables", driver="postgresql")
    roots = {"data": {"class": "LocalFile", "root": str(data_dir)}}
    vfs_yaml = yaml.safe_dump({"vfs": {"roots": roots}})
    with tiled_cluster(
        catalog, vfs_yaml, ["/data"], workers=WORKERS, name="faults", tables=tables,
        factory="filestore_vfs.tiled:app_factory",
    ) as server:  # fmt: skip
        yield server


class Readers:
    """Reader processes (:mod:`tests.scaleout._readers`) in a private directory."""

    def __init__(self, cluster: TiledCluster, workdir: Path) -> None:
        self.cluster, self.workdir = cluster, workdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, mode: str, uids: list[str], count: int, **env: str) -> None:
        (self.workdir / "uids.json").write_text(json.dumps(uids))
        environ = {**os.environ, "PYTHONPATH": str(REPO), "TILED_API_KEY": self.cluster.api_key}
        environ.update(env)
        for i in range(count):
            argv = [sys.executable, "-m", "tests.scaleout._readers", mode]
            argv += ["--url", self.cluster.url, "--uids", str(self.workdir / "uids.json")]
            argv += ["--progress", str(self.progress(i)), "--stop", str(self.workdir / "stop")]
            argv += ["--deadline", str(READER_DEADLINE)]
            with open(self.workdir / f"out{i}", "wb") as out, open(self.err(i), "wb") as err:
                self.procs.append(
                    subprocess.Popen(argv, stdout=out, stderr=err, cwd=REPO, env=environ)
                )

    def progress(self, i: int) -> Path:
        return self.workdir / f"progress{i}"

    def err(self, i: int) -> Path:
        return self.workdir / f"err{i}"

    def passes(self) -> list[int]:
        """Passes each loop reader has finished."""
        return [
            len(p.read_text().split()) if p.exists() else 0
            for p in map(self.progress, range(len(self.procs)))
        ]

    def wait_passes(self, at_least: list[int]) -> None:
        """Poll until reader ``i`` has finished ``at_least[i]`` passes (or one has exited)."""
        deadline = time.monotonic() + READER_DEADLINE
        while any(n < want for n, want in zip(self.passes(), at_least, strict=True)):
            exited = [i for i, p in enumerate(self.procs) if p.poll() is not None]
            assert not exited, f"readers {exited} exited early: {self.results()}"
            assert time.monotonic() < deadline, f"readers stalled at {self.passes()}"
            time.sleep(0.2)

    def results(self) -> list[dict[str, Any]]:
        """Each reader's JSON summary (waits for them to exit)."""
        out = []
        for i, proc in enumerate(self.procs):
            proc.wait(timeout=READER_DEADLINE + 60)
            lines = (self.workdir / f"out{i}").read_text().splitlines()
            tail = self.err(i).read_text(errors="replace")[-2000:]
            assert lines, f"reader {i} printed nothing (exit {proc.returncode}): {tail}"
            out.append({**json.loads(lines[-1]), "exit": proc.returncode})
        return out

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def readers(cluster: TiledCluster) -> Iterator[Readers]:
    with temp_dir("readers") as workdir:
        group = Readers(cluster, workdir)
        try:
            yield group
        finally:
            group.kill()


def test_eight_readers_and_a_writer_lose_and_mix_nothing(
    cluster: TiledCluster, data_dir: Path, readers: Readers
) -> None:
    """Runs written before and while 8 reader processes read: each reader waits for every
    run, checks every frame against the run's own seed, and the writer's runs are complete."""
    client = cluster.client()
    before = [feed(tiled_writer(client), make_run(data_dir, "data", s, FRAMES)) for s in (1, 2, 3)]
    during = [make_run(data_dir, "data", seed, FRAMES) for seed in range(10, 18)]
    uids = before + [str(docs[0][1]["uid"]) for docs in during]
    readers.start("verify", uids, READERS)
    writer = tiled_writer(client)
    for docs in during:
        feed(writer, docs)
    results = readers.results()
    assert [r["problems"] for r in results] == [[]] * READERS
    assert [sorted(r["verified"]) for r in results] == [sorted(uids)] * READERS
    assert [r["exit"] for r in results] == [0] * READERS
    for uid in uids:
        assert check_run(cluster.client()[uid]) == []


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("vfs://elsewhere/run.h5", "/elsewhere is not a root of this server's VFS"),
        ("file://localhost/etc/hostname", "outside the readable storage area"),
    ],
    ids=["unknown-root", "outside-readable-storage"],
)
def test_uri_outside_the_roots_is_403_with_the_reason(
    cluster: TiledCluster, uri: str, reason: str
) -> None:
    """Registering such a run works (tiled does not look at URIs then); reading it is 403
    with the reason at once (a 500 would be retried by the client for 45 s)."""
    from tiled.client.utils import ClientError

    client = cluster.client()
    uid = feed(tiled_writer(client), run_documents(uri, 99, 2))
    with pytest.raises(ClientError) as caught:
        client[uid]["primary"]["img"].read()
    assert caught.value.response.status_code == 403
    assert reason in str(caught.value)


def test_is_storage_refusal_tells_refusals_from_other_errors() -> None:
    tiled_words = (
        "Refusing to serve file://localhost/etc/x because it is outside the readable storage "
        "area for this server."
    )
    assert is_storage_refusal(RuntimeError(tiled_words))
    assert not is_storage_refusal(RuntimeError("Server configuration has no adapter"))
    assert not is_storage_refusal(ValueError(tiled_words))


def test_other_runtime_errors_stay_500() -> None:
    """The handler answers refusals only: tiled's handler still turns other errors into 500."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from filestore_vfs.tiled import install_refusal_handler

    app = install_refusal_handler(FastAPI())

    @app.get("/refused")
    def refused() -> None:
        raise RuntimeError(
            "Refusing to serve file:///x because it is outside the readable storage area."
        )

    @app.get("/broken")
    def broken() -> None:
        raise RuntimeError("something else")

    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/refused").status_code == 403
    assert "file:///x" in client.get("/refused").json()["detail"]
    assert client.get("/broken").status_code == 500


def test_server_restarted_mid_read_recovers(
    cluster: TiledCluster, data_dir: Path, readers: Readers
) -> None:
    """Reader processes read frame by frame while every worker is stopped and started again:
    their clients retry (``TILED_RETRY_*`` give them time for a restart) and every frame read
    before, during and after is right."""
    client = cluster.client()
    uids = [feed(tiled_writer(client), make_run(data_dir, "data", s, FRAMES)) for s in (30, 31)]
    readers.start("loop", uids, 3, TILED_RETRY_ATTEMPTS="1000", TILED_RETRY_TIMEOUT="300")
    readers.wait_passes([1, 1, 1])
    cluster.restart()
    readers.wait_passes([n + 2 for n in readers.passes()])  # a whole pass after the restart
    (readers.workdir / "stop").touch()
    results = readers.results()
    assert [r["problems"] for r in results] == [[]] * 3
    assert [r["exit"] for r in results] == [0] * 3
    assert sum(r["retries"] for r in results) >= 1, "no request met the restart"


@contextlib.contextmanager
def few_retries(attempts: int, timeout: float) -> Iterator[None]:
    """Let this process's tiled client give up quickly (it retries a 5xx for 45 s)."""
    from tiled.client import utils

    saved = utils.TILED_RETRY_ATTEMPTS, utils.TILED_RETRY_TIMEOUT
    utils.TILED_RETRY_ATTEMPTS, utils.TILED_RETRY_TIMEOUT = attempts, timeout
    try:
        yield
    finally:
        utils.TILED_RETRY_ATTEMPTS, utils.TILED_RETRY_TIMEOUT = saved


def test_bad_document_mid_run_leaves_no_partial_run(cluster: TiledCluster, data_dir: Path) -> None:
    """A write that fails while the catalog answers: the partial run is removed at once."""
    client = cluster.client()
    docs = make_run(data_dir, "data", 40, FRAMES)
    uid = str(docs[0][1]["uid"])
    writer = AtomicRunWriter(client, batch_size=1)
    feed(writer, docs[:3])  # start, descriptor, stream_resource
    assert uid in client
    stray = {**docs[3][1], "stream_resource": "no-such-resource", "uid": "no-such-resource/0"}
    with pytest.raises(RunNotRegisteredError) as caught:
        writer("stream_datum", stray)
    assert caught.value.removed and caught.value.uid == uid
    assert "partial entry was removed" in str(caught.value)
    assert uid not in client
    feed(writer, docs[3:])  # the rest of the failed run is dropped, not half-written
    assert uid not in client


def test_database_stopped_mid_write(pg: Any, cluster: TiledCluster, data_dir: Path) -> None:
    """PostgreSQL stops while a run is written: a clear ``RunNotRegisteredError``; once the
    database is back the writer removes the partial run, and the run written again is whole."""
    client = cluster.client()
    docs = make_run(data_dir, "data", 50, FRAMES)
    uid = str(docs[0][1]["uid"])
    writer = AtomicRunWriter(client, batch_size=1)
    feed(writer, docs[:6])  # start, descriptor, stream_resource, two frames
    assert uid in client
    pg.stop("fast")
    try:
        with few_retries(2, 5.0), pytest.raises(RunNotRegisteredError) as caught:
            feed(writer, docs[6:])
    finally:
        pg.start()
    error = caught.value
    assert error.uid == uid and not error.removed and writer.pending == [uid]
    assert "could not be removed yet" in str(error) and "remove_partial_run" in str(error)
    assert "500" in str(error) or "Server error" in str(error), str(error)
    assert pg.password not in str(error)
    assert writer.cleanup() == []
    assert uid not in client, "a half-registered run stayed in the catalog"
    assert not remove_partial_run(client, uid)
    feed(writer, docs)  # written again, as the error says
    assert check_run(client[uid]) == []
