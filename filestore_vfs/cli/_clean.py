"""``filestore-vfs clean``: remove what crashed writers left behind (hidden temporary and
lock files)."""

from __future__ import annotations

import argparse
import json

from ._files import load_vfs

__all__ = ["add_parser"]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 or more seconds")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "clean",
        help="remove the hidden temporary and lock files of writers that are gone",
        description=(
            "Walk the tree under PATH and remove the hidden temporary files (.~vfs-tmp-...) "
            "and lock files (.~vfs-lock-...) of writers that are gone: a target's files go "
            "when its lock is free or provably stale (its process ended, or it was not "
            "refreshed for several heartbeats); a live writer's files are never touched."
        ),
    )
    p.add_argument("--config", metavar="YAML", help="VFS config file (default: see docs)")
    p.add_argument("path", help="a logical directory, e.g. /detector/2026")
    p.add_argument(
        "--older-than",
        type=_seconds,
        metavar="SECONDS",
        help="also remove hidden files whose owner cannot be checked, unmodified this long",
    )
    p.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of lines")
    p.set_defaults(func=cmd_clean)


def cmd_clean(args: argparse.Namespace) -> int:
    vfs = load_vfs(args)
    try:
        removed = vfs.clean(args.path, older_than=args.older_than, dry_run=args.dry_run)
    finally:
        vfs.close()
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "removed": removed}))
        return 0
    verb = "would remove" if args.dry_run else "removed"
    for name in removed:
        print(f"{verb} {name}")
    print(f"{verb} {len(removed)} hidden file(s) in total" + (" (dry run)" if args.dry_run else ""))
    return 0
