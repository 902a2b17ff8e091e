"""The benchmark runner can run every benchmark it lists (``python -m benchmarks`` with no name
runs them all): each ``bench_*`` module has ``run(options)``, and their options parse together.

The benchmarks themselves are not run here: they are measurements, not tests."""

from __future__ import annotations

import importlib

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
