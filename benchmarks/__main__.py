"""``python -m benchmarks [name ...]``: run the ``bench_*.py`` modules, print one report.

With no names every benchmark runs; ``python -m benchmarks vfs`` runs ``bench_vfs.py``.
The report is a markdown table on stdout followed by one JSON line (also appended to
``--json FILE`` when given).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

from ._report import Figure, json_line, markdown_table, parse_size, rst_table

_HERE = Path(__file__).parent


def available() -> list[str]:
    """The benchmark names, from the ``bench_*.py`` modules of this package."""
    return sorted(
        m.name[len("bench_") :]
        for m in pkgutil.iter_modules([str(_HERE)])
        if m.name.startswith("bench_")
    )


def build_parser(names: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run filestore-vfs benchmarks; print figure | ours | anchor | ratio | target.",
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all of {names})"
    )
    parser.add_argument(
        "--size",
        type=parse_size,
        default=parse_size("1GiB"),
        help="size of the large files (default 1GiB; e.g. 64MiB for a quick run)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="repeats, best-of (default 5)")
    parser.add_argument("--tmp", default=None, help="directory for the files (default: $TMPDIR)")
    parser.add_argument("--json", default=None, metavar="FILE", help="append the JSON line here")
    parser.add_argument(
        "--rst", default=None, metavar="FILE", help="also write the table as a reST list-table"
    )
    return parser


#: Loopback CA ports for every sim IOC one run may start (bench_areadetector: one per frame
#: size and one more; bench_sim_ioc: one). libca reads the address list once, so they are
#: reserved here, before any benchmark module imports ophyd; the modules' own calls then
#: return these.
CA_PORTS = 8


def _reserve_ca_ports() -> None:
    try:
        from sim_iocs.testing import configure_client_environment
    except ImportError:  # no pythonSoftIOC: the IOC benchmarks say so when they are skipped
        return
    configure_client_environment(ports=CA_PORTS)


def main(argv: Sequence[str] | None = None) -> int:
    _reserve_ca_ports()
    names = available()
    parser = build_parser(names)
    modules = {}
    for name in names:
        try:
            modules[name] = importlib.import_module(f"benchmarks.bench_{name}")
        except ImportError as exc:  # a benchmark whose dependencies are not installed
            print(f"skipping benchmark {name}: {exc}", file=sys.stderr)
    for module in modules.values():
        if hasattr(module, "add_arguments"):
            module.add_arguments(parser)
    options = parser.parse_args(argv)
    unknown = [n for n in options.names if n not in modules]
    if unknown:
        parser.error(
            f"unknown or unavailable benchmark(s) {', '.join(unknown)}; "
            f"available: {', '.join(modules)}"
        )
    figures: list[Figure] = []
    for name in options.names or list(modules):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        figures.extend(modules[name].run(options))
    print(markdown_table(figures))
    line = json_line(figures)
    print(line)
    if options.rst:
        with open(options.rst, "w", encoding="utf-8") as f:
            f.write(rst_table(figures) + "\n")
    if options.json:
        with open(options.json, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
