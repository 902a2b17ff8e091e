"""The ``filestore-vfs`` command line.

Each sub-command lives in its own private module that exposes ``add_parser(subparsers)``;
the module's ``run(args)`` does the work. Sub-command modules import heavy dependencies
(bluesky, the sim IOC, backends) inside ``run`` only, so ``filestore-vfs --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]

#: Sub-command modules, in the order ``--help`` lists them.
_COMMAND_MODULES = (
    "filestore_vfs.cli._files",
    "filestore_vfs.cli._clean",
    "filestore_vfs.cli._check",
    "filestore_vfs.cli._migrate",
    "filestore_vfs.cli._demo",
    "filestore_vfs.cli._sim_ioc",
)

#: Exit codes, documented in docs/reference/cli.rst.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every sub-command that is installed."""
    parser = argparse.ArgumentParser(
        prog="filestore-vfs",
        description="One logical name per detector file: inspect and use the virtual file system.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a sub-command module not written yet
            if exc.name != name:
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``filestore-vfs`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or EXIT_OK)
    except KeyboardInterrupt:
        print("filestore-vfs: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line unless --debug
        if args.debug:
            raise
        print(f"filestore-vfs {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
