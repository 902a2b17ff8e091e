"""tiled scaled out: frames/s to concurrent client processes, and catalog query latency.

**Frames served.** One HDF5 file per client (``--scaleout-frames`` 512×512 UInt16 frames,
one per chunk, as the IOC writes), each registered twice in one PostgreSQL catalog, as in
``bench_tiled``: ``ours-i`` (``application/x-hdf5``, our ``VFSHDF5Adapter``, URI
``vfs://bench/i.h5`` on a ``LocalFile`` root of the server's VFS) and ``stock-i`` (a
mimetype of its own mapped to tiled's ``HDF5Adapter``, URI ``file://`` of the same file).
One server config serves both, under ``uvicorn --workers W`` (``tests/scaleout/_tiled.py``)
for each W of ``--scaleout-workers`` (1, 2, 4). For each number of client PROCESSES C of
``--scaleout-clients`` (1, 2, 4, 8), C processes each read their own node frame by frame
(``node[k]``, one request per frame), all released at once; the rate is every frame over
the wall time from the first start to the last finish. The same processes read the same
files with raw h5py, the ceiling. Each round alternates the order ours, stock, h5py; best
of ``--repeats`` rounds, and the paired ratio (median of per-round ours/stock). Every
frame's corner pixels are checked against the frame formula (a mixed-up frame is an error).

**Catalog queries.** ``--scaleout-runs`` (10,000) runs, each a ``BlueskyRun`` container
(``start`` and ``stop`` metadata, as TiledWriter stores them) with a ``primary``
``BlueskyEventStream`` child (descriptor metadata) and no data, are bulk-inserted into a
PostgreSQL catalog and a SQLite catalog through tiled's own ORM (``tiled.catalog.orm``, one
transaction per 2,000 runs: the database's triggers fill the closure and full-text tables as
for any node). One single-worker server per catalog; the same client asks each, alternating
per round, with the same random parameters: a ``scan_id`` search, a metadata search (one
sample of 100), the first and the last page of 100 runs, one run by uid, the count, and the
count of a search. Median milliseconds per query; the ratio is PostgreSQL's time over
SQLite's (below 1: PostgreSQL faster). Two fill rates are reported too: the bulk insert and
one run at a time through the tiled client (what TiledWriter costs per run, without data).

``--quick`` shrinks everything to a smoke test (one worker count, two client counts, a few
frames, 300 runs). Run alone: ``python -m benchmarks.bench_scaleout --quick``; with the
others: ``python -m benchmarks scaleout``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import h5py
import numpy as np
import yaml

from ._report import Figure, print_report
from .bench_handlers import DATASET, SHAPE

HDF5 = "application/x-hdf5"
#: the mimetype the catalog maps to tiled's own HDF5 adapter
STOCK = "application/x-hdf5-tiled"
#: the runs in a page (the first and the last page queries)
PAGE = 100
#: distinct ``sample`` values in the synthetic catalog (a metadata search matches 1 %)
SAMPLES = 100
PLANS = ("count", "scan", "rel_scan")
#: runs per bulk-insert transaction
BATCH = 2000
#: runs created one at a time through the tiled client, for the fill-rate comparison
ONE_BY_ONE = 40
QUICK = {
    "workers": [1],
    "clients": [1, 2],
    "frames": 4,
    "runs": 300,
    "rounds": 2,
    "repeats": 1,
    "one_by_one": 5,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scaleout")
    group.add_argument(
        "--scaleout-workers",
        default="1,2,4",
        help="tiled worker counts (scaleout; default 1,2,4)",
    )
    group.add_argument(
        "--scaleout-clients",
        default="1,2,4,8",
        help="concurrent client process counts (scaleout; default 1,2,4,8)",
    )
    group.add_argument(
        "--scaleout-frames",
        type=int,
        default=30,
        help="frames each client reads per measurement (scaleout; default 30)",
    )
    group.add_argument(
        "--scaleout-runs",
        type=int,
        default=10_000,
        help="runs in each catalog for the query latencies (scaleout; default 10000)",
    )
    group.add_argument(
        "--scaleout-rounds",
        type=int,
        default=15,
        help="rounds of each catalog query, PostgreSQL and SQLite alternating (default 15)",
    )
    # ``--quick`` is shared with bench_areadetector: whichever module comes first defines it
    if "--quick" not in parser._option_string_actions:
        group.add_argument("--quick", action="store_true", help="smoke-test sizes")


@dataclass(frozen=True)
class Plan:
    """The sizes of one run (``--quick`` or the options)."""

    workers: list[int]
    clients: list[int]
    frames: int
    runs: int
    rounds: int
    repeats: int
    one_by_one: int


def _counts(text: str, option: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise SystemExit(f"{option} takes positive integers separated by commas, not {text!r}")
    return counts


def plan_of(options: argparse.Namespace) -> Plan:
    if getattr(options, "quick", False):
        return Plan(**QUICK)  # type: ignore[arg-type]
    return Plan(
        workers=_counts(getattr(options, "scaleout_workers", "1,2,4"), "--scaleout-workers"),
        clients=_counts(getattr(options, "scaleout_clients", "1,2,4,8"), "--scaleout-clients"),
        frames=getattr(options, "scaleout_frames", 30),
        runs=getattr(options, "scaleout_runs", 10_000),
        rounds=getattr(options, "scaleout_rounds", 15),
        repeats=options.repeats,
        one_by_one=ONE_BY_ONE,
    )


# --- client processes ---------------------------------------------------------------------


def _corner_ok(frame: Any, g: int) -> bool:
    """Frame ``g`` of the formula ``(g + x + 2y) % 2**16``, checked at two corners."""
    h, w = SHAPE
    last = (g + (w - 1) + 2 * (h - 1)) % 2**16
    return int(frame[0, 0]) == g % 2**16 and int(frame[h - 1, w - 1]) == last


def _client_main(conn: Connection) -> None:
    """A reader process: prepare a task, say ``ready``, wait for ``go``, read, report.

    A task is ``(kind, target, key, first, n)``: ``kind`` ``"tiled"`` (``target`` the URL and
    API key, ``key`` the node) or ``"h5py"`` (``target`` the file). Clients are kept per URL,
    so a server's connection is set up once, outside the timing.
    """
    from tiled.client import from_uri

    clients: dict[str, Any] = {}
    while (task := conn.recv()) is not None:
        kind, target, key, first, n = task
        with contextlib.ExitStack() as stack:
            try:
                if kind == "h5py":
                    read = stack.enter_context(h5py.File(target, "r"))[DATASET].__getitem__
                else:
                    url, api_key = target
                    if url not in clients:
                        clients[url] = from_uri(url, api_key=api_key)
                    read = clients[url][key].__getitem__
            except Exception as exc:  # reported to the parent, which raises it
                conn.send(("error", f"{kind} {key}: {exc!r}"))
                continue
            conn.send("ready")
            conn.recv()
            start = time.monotonic()
            bad = [k for k in range(n) if not _corner_ok(np.asarray(read(k)), first + k)]
            conn.send((start, time.monotonic(), bad))


class ClientPool:
    """``size`` reader processes (``spawn``: clean interpreters), kept for the whole run."""

    def __init__(self, size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs = []
        for _ in range(size):
            parent, child = context.Pipe()
            proc = context.Process(target=_client_main, args=(child,), daemon=True)
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)

    def rate(self, tasks: list[tuple[Any, ...]]) -> float:
        """Frames/s of ``tasks`` run at once, one per process, released together."""
        conns = self.conns[: len(tasks)]
        for conn, task in zip(conns, tasks, strict=True):
            conn.send(task)
        replies = [conn.recv() for conn in conns]
        errors = [r[1] for r in replies if r != "ready"]
        if errors:
            raise RuntimeError("a reader could not start: " + "; ".join(errors))
        for conn in conns:
            conn.send("go")
        results = [conn.recv() for conn in conns]
        bad = [(task[2], k) for task, (_, _, ks) in zip(tasks, results, strict=True) for k in ks]
        if bad:
            raise RuntimeError(f"frames read back wrong (node, frame): {bad[:10]}")
        elapsed = max(r[1] for r in results) - min(r[0] for r in results)
        return sum(task[4] for task in tasks) / elapsed

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(None)
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()


# --- frames served --------------------------------------------------------------------------


def write_h5(path: str, first: int, n: int) -> None:
    """Frames ``first .. first+n-1`` of the formula, one per chunk, at ``DATASET``."""
    y, x = np.indices(SHAPE, dtype=np.int64)
    with h5py.File(path, "w") as h5:
        ds = h5.create_dataset(DATASET, (n, *SHAPE), np.uint16, chunks=(1, *SHAPE))
        for k in range(n):
            ds[k] = ((first + k + x + 2 * y) % 2**16).astype(np.uint16)


def _mimetypes() -> dict[str, str]:
    from tests.readback.tiled import ADAPTERS

    return {**ADAPTERS, STOCK: "tiled.adapters.hdf5:HDF5Adapter"}


def init_catalog(uri: str) -> None:
    """Create tiled's tables in this process, for the bulk insert (which bypasses a server)."""
    from tiled.catalog import from_uri

    from_uri(uri, init_if_not_exists=True)


def _register_files(client: Any, data: str, n_files: int, frames: int) -> None:
    from .bench_tiled import _register

    for i in range(n_files):
        path = os.path.join(data, f"{i}.h5")
        _register(client, f"ours-{i}", HDF5, f"vfs://bench/{i}.h5", frames)
        _register(client, f"stock-{i}", STOCK, f"file://localhost{path}", frames)


def _tasks(kind: str, cluster: Any, data: str, clients: int, frames: int) -> list[tuple]:
    target: Any = (cluster.url, cluster.api_key)
    out = []
    for i in range(clients):
        if kind == "h5py":
            out.append(("h5py", os.path.join(data, f"{i}.h5"), f"{i}.h5", i * frames, frames))
        else:
            out.append(("tiled", target, f"{kind}-{i}", i * frames, frames))
    return out


def _measure_block(
    pool: ClientPool, cluster: Any, data: str, plan: Plan
) -> dict[int, dict[str, list[float]]]:
    """Rates per client count: ``{"ours": [...], "stock": [...], "h5py": [...]}`` per round."""
    kinds = ["ours", "stock", "h5py"]
    rates: dict[int, dict[str, list[float]]] = {c: {k: [] for k in kinds} for c in plan.clients}
    for round_number in range(plan.repeats):
        order = kinds if round_number % 2 == 0 else kinds[::-1]
        for c in plan.clients:
            for kind in order:
                rate = pool.rate(_tasks(kind, cluster, data, c, plan.frames))
                rates[c][kind].append(rate)
    return rates


def _frame_figures(w: int, rates: dict[int, dict[str, list[float]]], plan: Plan) -> list[Figure]:
    figures = []
    for c, by_kind in rates.items():
        paired = statistics.median(
            o / s for o, s in zip(by_kind["ours"], by_kind["stock"], strict=True)
        )
        figures.append(
            Figure(
                f"tiled on PostgreSQL, {w} worker(s), {c} client process(es), frame by frame: "
                "our VFSHDF5Adapter (vfs://, local root) vs tiled's HDF5Adapter (file://)",
                max(by_kind["ours"]),
                max(by_kind["stock"]),
                "frames/s",
                paired=paired,
                notes={
                    "workers": w,
                    "clients": c,
                    "h5py": max(by_kind["h5py"]),
                    "frames_per_client": plan.frames,
                },
            )
        )
    return figures


def frames_served(pool: ClientPool, pg: Any, tmp: str, plan: Plan) -> list[Figure]:
    from tests.scaleout._tiled import tiled_cluster

    data = os.path.join(tmp, "data")
    os.makedirs(data)
    n_files = max(plan.clients)
    print(f"  writing {n_files} files of {plan.frames} frames ...", file=sys.stderr, flush=True)
    for i in range(n_files):
        write_h5(os.path.join(data, f"{i}.h5"), i * plan.frames, plan.frames)
    uri = pg.create_database("frames")  # tiled_cluster creates tiled's tables once
    vfs_yaml = yaml.safe_dump({"vfs": {"roots": {"bench": {"class": "LocalFile", "root": data}}}})
    figures: list[Figure] = []
    for i, w in enumerate(plan.workers):
        print(f"  {w} worker(s) ...", file=sys.stderr, flush=True)
        with tiled_cluster(
            uri, vfs_yaml, ["/bench", data], workers=w, name="bench-scaleout", adapters=_mimetypes()
        ) as cluster:
            if i == 0:
                _register_files(cluster.client(), data, n_files, plan.frames)
            figures += _frame_figures(w, _measure_block(pool, cluster, data, plan), plan)
    for c in plan.clients:
        h5 = [f.notes["h5py"] for f in figures if f.notes["clients"] == c]
        figures.append(
            Figure(
                f"raw h5py on the same files, {c} client process(es) (the ceiling)",
                max(h5),
                None,
                "frames/s",
                notes={"clients": c, "frames_per_client": plan.frames},
            )
        )
    return figures


# --- catalog queries -----------------------------------------------------------------------


def _run_metadata(i: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Run ``i``: its uid, its node metadata (``start``, ``stop``), its stream's metadata."""
    uid = str(uuid.UUID(int=random.Random(i).getrandbits(128), version=4))
    t = 1.7e9 + 60 * i
    start = {
        "uid": uid,
        "time": t,
        "scan_id": i + 1,
        "plan_name": PLANS[i % len(PLANS)],
        "sample": f"sample-{i % SAMPLES}",
        "detectors": ["det"],
        "num_points": 10,
    }
    stop = {
        "uid": str(uuid.uuid4()),
        "run_start": uid,
        "time": t + 30,
        "exit_status": "success",
        "num_events": {"primary": 10},
    }
    desc = {
        "uid": str(uuid.uuid4()),
        "time": t + 1,
        "data_keys": {
            "det": {"dtype": "array", "shape": [*SHAPE], "source": "sim", "external": "STREAM:"}
        },
    }
    return uid, {"start": start, "stop": stop}, desc


RUN_SPECS = [{"name": "BlueskyRun", "version": "3.0"}]
STREAM_SPECS = [{"name": "BlueskyEventStream", "version": "3.0"}, {"name": "composite"}]


async def _bulk_insert(uri: str, first: int, n: int) -> None:
    from tiled.catalog import from_uri, orm
    from tiled.structures.core import StructureFamily

    adapter = from_uri(uri)
    await adapter.startup()
    try:
        for start in range(first, first + n, BATCH):
            rows = [_run_metadata(i) for i in range(start, min(first + n, start + BATCH))]
            async with adapter.context.session() as db:
                runs = [
                    orm.Node(
                        key=uid,
                        parent=adapter.node.id,
                        metadata_=md,
                        structure_family=StructureFamily.container,
                        specs=RUN_SPECS,
                    )
                    for uid, md, _ in rows
                ]
                db.add_all(runs)
                await db.flush()  # the runs' ids, for their streams' parent
                db.add_all(
                    orm.Node(
                        key="primary",
                        parent=run.id,
                        metadata_=desc,
                        structure_family=StructureFamily.container,
                        specs=STREAM_SPECS,
                    )
                    for run, (_, _, desc) in zip(runs, rows, strict=True)
                )
                await db.commit()
    finally:
        await adapter.shutdown()


def bulk_fill(uri: str, n: int) -> float:
    """Insert runs ``0 .. n-1``; returns runs/s."""
    init_catalog(uri)
    start = time.perf_counter()
    asyncio.run(_bulk_insert(uri, 0, n))
    return n / (time.perf_counter() - start)


def one_by_one_fill(client: Any, first: int, n: int) -> float:
    """Runs ``first ..`` created as TiledWriter does (run, stream, stop), runs/s."""
    from tiled.structures.core import Spec

    start = time.perf_counter()
    for i in range(first, first + n):
        uid, md, desc = _run_metadata(i)
        run = client.create_container(
            key=uid, metadata={"start": md["start"]}, specs=[Spec("BlueskyRun", version="3.0")]
        )
        run.create_container(
            key="primary",
            metadata=desc,
            specs=[Spec("BlueskyEventStream", version="3.0"), Spec("composite")],
        )
        run.update_metadata(metadata={"start": md["start"], "stop": md["stop"]})
    return n / (time.perf_counter() - start)


def _fresh_count(node: Any) -> int:
    """``len(node)`` asked of the server (the client caches a count for a few seconds)."""
    node._cached_len = None
    return len(node)


def _queries(n: int) -> dict[str, Callable[[Any, random.Random], Any]]:
    """Each query: ``f(client, rng) -> result``; the rng draws the same parameters for both
    catalogs in a round."""
    from tiled.queries import Key

    return {
        "scan_id search (one match)": lambda c, r: list(
            c.search(Key("start.scan_id") == r.randrange(n) + 1).keys()
        ),
        f"metadata search (start.sample, {n // SAMPLES} matches, first page)": lambda c, r: list(
            c.search(Key("start.sample") == f"sample-{r.randrange(SAMPLES)}").keys()[:PAGE]
        ),
        f"first page ({PAGE} runs with metadata)": lambda c, r: list(c.items()[:PAGE]),
        f"last page ({PAGE} runs with metadata)": lambda c, r: list(c.items()[-1 : -PAGE - 1 : -1]),
        "one run by uid": lambda c, r: c[_run_metadata(r.randrange(n))[0]].metadata["start"],
        "count of all runs": lambda c, r: _fresh_count(c),
        "count of a search (start.plan_name, a third)": lambda c, r: len(
            c.search(Key("start.plan_name") == PLANS[r.randrange(len(PLANS))])
        ),
    }


def _check_catalog(client: Any, n: int) -> None:
    from tiled.queries import Key

    if _fresh_count(client) != n:
        raise RuntimeError(f"the catalog holds {_fresh_count(client)} runs, not {n}")
    uid = _run_metadata(n // 2)[0]
    found = list(client.search(Key("start.scan_id") == n // 2 + 1).keys())
    if found != [uid] or client[uid]["primary"].specs[0].name != "BlueskyEventStream":
        raise RuntimeError(f"scan_id {n // 2 + 1} found {found}, not [{uid}] with its stream")


def _latency_figures(clients: dict[str, Any], plan: Plan) -> list[Figure]:
    figures = []
    for label, query in _queries(plan.runs).items():
        times: dict[str, list[float]] = {"pg": [], "sqlite": []}
        for round_number in range(plan.rounds):
            order = ["pg", "sqlite"] if round_number % 2 == 0 else ["sqlite", "pg"]
            seed = random.Random(round_number).random()
            for name in order:
                rng = random.Random(seed)
                start = time.perf_counter()
                query(clients[name], rng)
                times[name].append(1000 * (time.perf_counter() - start))
        figures.append(
            Figure(
                f"catalog of {plan.runs:,} runs, {label}: PostgreSQL vs SQLite, one worker each "
                "(ms per query; ratio = PostgreSQL's time over SQLite's)",
                statistics.median(times["pg"]),
                statistics.median(times["sqlite"]),
                "ms",
                paired=statistics.median(
                    p / s for p, s in zip(times["pg"], times["sqlite"], strict=True)
                ),
                notes={"rounds": plan.rounds, "pg_ms": times["pg"], "sqlite_ms": times["sqlite"]},
            )
        )
    return figures


@contextlib.contextmanager
def _catalog_servers(uris: dict[str, str]) -> Iterator[dict[str, Any]]:
    from tests.scaleout._tiled import tiled_cluster

    vfs_yaml = yaml.safe_dump({"vfs": {"roots": {}}})
    with contextlib.ExitStack() as stack:
        clusters = {
            name: stack.enter_context(tiled_cluster(uri, vfs_yaml, [], workers=1, name=name))
            for name, uri in uris.items()
        }
        yield {name: cluster.client() for name, cluster in clusters.items()}


def catalog_queries(pg: Any, tmp: str, plan: Plan) -> list[Figure]:
    uris = {"pg": pg.create_database("catalog"), "sqlite": f"sqlite:///{tmp}/catalog.db"}
    fill = {}
    for name, uri in uris.items():
        print(f"  inserting {plan.runs:,} runs into {name} ...", file=sys.stderr, flush=True)
        fill[name] = bulk_fill(uri, plan.runs)
    with _catalog_servers(uris) as clients:
        for client in clients.values():
            _check_catalog(client, plan.runs)
        figures = _latency_figures(clients, plan)
        slow = {
            name: one_by_one_fill(client, plan.runs, plan.one_by_one)
            for name, client in clients.items()
        }
    return [
        Figure(
            f"catalog fill, bulk through tiled's ORM ({BATCH:,} runs a transaction, run + "
            "stream nodes): PostgreSQL vs SQLite",
            fill["pg"],
            fill["sqlite"],
            "runs/s",
            notes={"runs": plan.runs},
        ),
        Figure(
            "catalog fill, one run at a time through the tiled client (run, stream, stop "
            "metadata: TiledWriter's requests without data): PostgreSQL vs SQLite",
            slow["pg"],
            slow["sqlite"],
            "runs/s",
            notes={"runs": plan.one_by_one},
        ),
        *figures,
    ]


def run(options: argparse.Namespace) -> list[Figure]:
    from tests.servers import postgres_server

    plan = plan_of(options)
    pool = ClientPool(max(plan.clients))
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-scaleout-", dir=options.tmp) as tmp,
            postgres_server() as pg,
        ):
            figures = frames_served(pool, pg, tmp, plan)
            figures += catalog_queries(pg, tmp, plan)
    finally:
        pool.close()
    print(scaling_table(figures), file=sys.stderr)
    return figures


def scaling_table(figures: list[Figure]) -> str:
    """frames/s by workers (rows) and client processes (columns): ours / stock / h5py."""
    served = [f for f in figures if "workers" in f.notes]
    workers = sorted({f.notes["workers"] for f in served})
    clients = sorted({f.notes["clients"] for f in served})
    rows = ["| workers | " + " | ".join(f"{c} client(s)" for c in clients) + " |"]
    rows.append("|---:|" + "---:|" * len(clients))
    for w in workers:
        cells = []
        for c in clients:
            (f,) = [f for f in served if f.notes["workers"] == w and f.notes["clients"] == c]
            cells.append(f"{f.ours:.0f} / {f.anchor:.0f} / {f.notes['h5py']:.0f}")
        rows.append(f"| {w} | " + " | ".join(cells) + " |")
    return "frames/s, ours / tiled's HDF5Adapter / raw h5py:\n" + "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_scaleout")
    parser.add_argument("--repeats", type=int, default=3, help="rounds, best-of (default 3)")
    parser.add_argument("--tmp", default=None, help="directory for the files")
    add_arguments(parser)
    return print_report(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
