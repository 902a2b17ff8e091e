"""``filestore-vfs check``: is every frame a run references readable on this machine?

Exit codes: 0 every referenced frame is present; 3 some frame is missing or unreadable (or a
datum references no resource of the run); 1 an error (bad run file, catalog, config);
2 a usage error.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
from typing import Any

__all__ = ["EXIT_INCOMPLETE", "add_parser", "load_run_documents", "run_progress"]

EXIT_INCOMPLETE = 3

_DESCRIPTION = """\
Resolve every Resource/StreamResource of a run through this machine's VFS and check that
each file exists and holds every frame the datums reference (HDF5: the dataset's length,
read from its metadata; TIFF: one file per frame).
"""

_EPILOG = """\
exit codes:
  0  complete: every referenced frame is present
  1  error: unreadable run file, catalog or config (one line; --debug for a traceback)
  2  usage error
  3  incomplete: some frame is missing or unreadable
"""

_COLUMNS = ["resource", "spec", "referenced", "present", "missing", "unreadable", "status"]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "check",
        help="check that every frame a run references is present and readable here",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_arguments(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_check, parser=p)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """RUN or --catalog/--uid, --config and progress options (shared with ``migrate``)."""
    p.add_argument(
        "run",
        nargs="?",
        metavar="RUN",
        help="a run's documents: a JSONL file of [name, doc] lines (suitcase-jsonl) or msgpack; "
        "a file path or a logical path (/local/demo/<time>/documents.jsonl)",
    )
    p.add_argument(
        "--catalog",
        metavar="URI",
        help="read the run from a tiled server (databroker 2 or tiled catalog): URI or profile",
    )
    p.add_argument("--uid", help="the run's uid in --catalog")
    p.add_argument("--config", metavar="YAML", help="VFS config file (default: see docs)")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress", action="store_true", help="show a progress bar even when not on a terminal"
    )
    bar.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def load_run_documents(args: argparse.Namespace) -> list[Any]:
    """The run's documents from RUN or --catalog/--uid (usage errors exit with 2)."""
    from ..check import ASSET_DOCUMENTS, documents_from_catalog, read_documents

    if args.run and (args.catalog or args.uid):
        args.parser.error("give either RUN or --catalog/--uid, not both")
    if args.run:
        return read_documents(run_file(args), names=ASSET_DOCUMENTS)
    if not (args.catalog and args.uid):
        args.parser.error("give RUN (a JSONL/msgpack file) or both --catalog and --uid")
    return documents_from_catalog(args.catalog, args.uid)


def run_file(args: argparse.Namespace) -> str:
    """RUN on this machine: a file path as given, or a logical path resolved through the VFS.

    A file path wins; an absolute path that is no file here but a file in the VFS
    (``--config``, else the default) is read from its root: in place on a local root, from
    a temporary copy otherwise.
    """
    from ..vfs import VFSError
    from ._files import load_vfs

    path = os.path.expanduser(args.run)
    if os.path.isfile(path) or not args.run.startswith("/"):
        return path
    try:
        vfs = load_vfs(args)
        if not vfs.isfile(args.run):
            return path
        try:
            return vfs.local_path(args.run)
        except VFSError:  # not a local root: fetch a copy
            copy_dir = tempfile.mkdtemp(prefix="filestore-vfs-run-")
            atexit.register(shutil.rmtree, copy_dir, ignore_errors=True)
            local = os.path.join(copy_dir, args.run.rsplit("/", 1)[-1])
            vfs.get_file(args.run, local)
            return local
    except (VFSError, OSError):
        return path  # read_documents then says there is no run file at the path given


def run_progress(args: argparse.Namespace) -> bool:
    """A bar when asked (``--progress``), or on a terminal unless ``--quiet``."""
    return bool(args.progress or (not args.quiet and sys.stderr.isatty()))


def config_source(args: argparse.Namespace) -> str:
    from ..vfs import default_config_path

    if args.config:
        return str(args.config)
    path = default_config_path()
    return str(path) if path else "the embedded defaults (no config file)"


def cmd_check(args: argparse.Namespace) -> int:
    from ..check import check_run
    from ._files import _print_table, load_vfs

    documents = load_run_documents(args)
    vfs = load_vfs(args)
    report = check_run(
        documents, vfs, progress=run_progress(args), config_source=config_source(args)
    )
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_table([_row(r) for r in report.resources], _COLUMNS)
        for row in report.resources:
            if row.problem:
                print(f"{row.status}: {row.problem}")
        print(report.summary())
    return 0 if report.complete else EXIT_INCOMPLETE


def _row(check: Any) -> dict[str, Any]:
    return {column: getattr(check, column) for column in _COLUMNS}
