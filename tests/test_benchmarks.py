"""The benchmark runner can run every benchmark it lists (``python -m benchmarks`` with no name
runs them all): each ``bench_*`` module has ``run(options)``, and their options parse together.

The benchmarks themselves are not run here: they are measurements, not tests."""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys

import pytest

from benchmarks.__main__ import available, build_parser


@pytest.mark.parametrize("name", available())
def test_every_benchmark_has_run(name: str) -> None:
    module = importlib.import_module(f"benchmarks.bench_{name}")
    assert callable(getattr(module, "run", None)), f"bench_{name} has no run(options)"


def test_every_benchmark_option_parses_together() -> None:
    parser = build_parser(available())
    for name in available():
        module = importlib.import_module(f"benchmarks.bench_{name}")
        if hasattr(module, "add_arguments"):
            module.add_arguments(parser)
    options = parser.parse_args(["sim_ioc", "--ioc-frames", "10", "--net-size", "1MiB"])
    assert options.names == ["sim_ioc"] and options.ioc_frames == 10
    assert options.net_size == 1 << 20


def test_network_benchmark_covers_every_network_backend() -> None:
    """One module measures every network root class against its raw tool or client."""
    from benchmarks.bench_network import BACKENDS

    assert list(BACKENDS) == ["http", "sftp", "smb", "s3", "azure", "redis"]
    stores = [name for name, backend in BACKENDS.items() if backend.object_store]
    assert stores == ["s3", "azure", "redis"]


def test_network_benchmark_refuses_an_unknown_backend() -> None:
    from benchmarks.bench_network import run

    options = build_parser(available()).parse_args(["network"])
    options.net_backends = "http,ftp"
    with pytest.raises(SystemExit, match="unknown backend.*ftp"):
        run(options)


def test_scaleout_benchmark_quick_reports_every_figure() -> None:
    """``python -m benchmarks scaleout --quick`` runs end to end (PostgreSQL, tiled workers,
    client processes) and its JSON line holds every figure with sane values (no timing is
    asserted: only that each figure was measured, is positive and says what it measured)."""
    from benchmarks.bench_scaleout import PAGE, QUICK
    from tests.servers._fixtures import require_server
    from tests.servers._postgres import ServerUnavailable, find_bindir

    try:
        find_bindir()
    except ServerUnavailable as exc:
        require_server("postgres", exc)  # skips, or fails under CI=true
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "scaleout", "--quick"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["machine"]["argv"] == "scaleout --quick"
    figures = report["figures"]
    for fig in figures:
        assert set(fig) >= {"name", "ours", "anchor", "unit", "ratio", "paired", "notes"}
        assert math.isfinite(fig["ours"]) and fig["ours"] > 0, fig
        if fig["anchor"] is not None:
            assert math.isfinite(fig["anchor"]) and fig["anchor"] > 0, fig
            assert fig["ratio"] == pytest.approx(fig["ours"] / fig["anchor"])
    served = [f for f in figures if "workers" in f["notes"]]
    cells = {(f["notes"]["workers"], f["notes"]["clients"]) for f in served}
    assert cells == {(w, c) for w in QUICK["workers"] for c in QUICK["clients"]}
    assert all(f["unit"] == "frames/s" and f["notes"]["h5py"] > 0 for f in served)
    assert all(f["paired"] > 0 for f in served)
    ceilings = [f for f in figures if f["name"].startswith("raw h5py")]
    assert sorted(f["notes"]["clients"] for f in ceilings) == QUICK["clients"]
    latency = [f for f in figures if f["unit"] == "ms"]
    labels = " | ".join(f["name"] for f in latency)
    for query in ("scan_id", "metadata search", f"first page ({PAGE}", "last page", "by uid"):
        assert query in labels
    assert labels.count("count of") == 2
    assert all(len(f["notes"]["pg_ms"]) == QUICK["rounds"] for f in latency)
    fills = [f for f in figures if f["unit"] == "runs/s"]
    assert len(fills) == 2 and all(f["anchor"] > 0 for f in fills)
    assert "frames/s, ours / tiled's HDF5Adapter / raw h5py" in done.stderr
