"""``filestore-vfs migrate``: copy a run's files to another root without rewriting documents.

Exit codes: 0 every file is verified at the destination (copied, already identical, or
moved by an earlier run); 3 some file was not migrated (missing source, checksum mismatch,
conflicting destination): nothing was deleted, or a verified source could not be deleted;
1 an error (unknown root, bad run file); 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import yaml

from ._check import EXIT_INCOMPLETE, add_run_arguments, load_run_documents, run_progress

__all__ = ["add_parser"]

_DESCRIPTION = """\
Copy every file a run references from one root to another, keeping relative paths; verify
each copy by SHA-256; print the config reader machines need so that the unchanged documents
resolve to the copies. Re-running skips files already identical at the destination.
"""

_EPILOG = """\
exit codes:
  0  every file verified at the destination (sources deleted if --delete-source)
  1  error: unknown root, unreadable run file or config (one line; --debug for a traceback)
  2  usage error
  3  some file not migrated (missing source, checksum mismatch, conflict): nothing deleted;
     or a verified source could not be deleted (delete-failed)
"""

_COLUMNS = ["source", "destination", "size", "status"]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "migrate",
        help="copy a run's files to another root, verify them, print the readers' root mapping",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_arguments(p)
    p.add_argument("--from", dest="source", required=True, metavar="ROOT", help="e.g. /detector")
    p.add_argument("--to", dest="destination", required=True, metavar="ROOT", help="e.g. /archive")
    p.add_argument(
        "--delete-source",
        action="store_true",
        help="delete the source files once every file of the run is verified",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace destination files whose content differs (default: report a conflict)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_migrate, parser=p)


def cmd_migrate(args: argparse.Namespace) -> int:
    from ..check import migrate_run
    from ..vfs import default_config_path
    from ._files import _print_table, load_vfs

    documents = load_run_documents(args)
    vfs = load_vfs(args)
    report = migrate_run(
        documents,
        args.source,
        args.destination,
        vfs,
        delete_source=args.delete_source,
        overwrite=args.overwrite,
        progress=run_progress(args),
        config_source=args.config or default_config_path(),
    )
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_table([_row(f) for f in report.files], _COLUMNS)
        for item in report.files:
            if item.problem:
                print(f"{item.status}: {item.problem}")
        for line in report.skipped:
            print(f"skipped: {line}")
        print(report.summary())
        print(_mapping_text(report) if report.ok else _not_yet(report))
    return 0 if report.ok else EXIT_INCOMPLETE


def _not_yet(report: Any) -> str:
    return (
        f"# Not every file is verified at /{report.destination_root}: keep readers on "
        f"/{report.source_root}'s storage; fix the problems above and run migrate again."
    )


def _row(item: Any) -> dict[str, Any]:
    row = {column: getattr(item, column) for column in _COLUMNS}
    if row["size"] is None:
        row["size"] = "-"
    if item.deleted:
        row["status"] = f"{item.status}, source deleted"
    return row


def _mapping_text(report: Any) -> str:
    """The reader-side config, as YAML with comments saying where each part goes."""
    src, dst = report.source_root, report.destination_root
    mapping = report.mapping
    vfs_block = yaml.safe_dump({"vfs": mapping["vfs"]}, sort_keys=False).rstrip()
    root_map = yaml.safe_dump({"root_map": mapping["root_map"]}, sort_keys=False).rstrip()
    origin = mapping.get("config") or "this machine's VFS config"
    return "\n".join(
        [
            "",
            f"# Reader machines: point the logical root /{src} at /{dst}'s storage, in each",
            "# machine's VFS config ($FILESTORE_VFS_CONFIG or ~/.config/filestore_vfs/vfs.yaml;",
            f"# options from {origin}; fill in any *** from there). Documents stay unchanged.",
            vfs_block,
            "# Stock readers (event-model Filler, databroker's MongoAdapter) instead:",
            root_map,
        ]
    )
