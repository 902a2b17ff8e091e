"""File commands: roots, ls, cat, get, put, cp, mv, rm and resolve."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from typing import Any

from ..vfs import InvalidPathError, VirtualFileSystem, default_vfs

__all__ = ["add_parser", "load_vfs"]


def load_vfs(args: argparse.Namespace) -> VirtualFileSystem:
    """The VFS named by ``--config``, else this machine's default."""
    if getattr(args, "config", None):
        return VirtualFileSystem.from_yaml(args.config)
    return default_vfs()


def _common(parser: argparse.ArgumentParser, *, json_output: bool = False) -> None:
    parser.add_argument("--config", metavar="YAML", help="VFS config file (default: see docs)")
    if json_output:
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("roots", help="list the configured roots and their backends")
    _common(p, json_output=True)
    p.set_defaults(func=cmd_roots)

    p = sub.add_parser("ls", help="list a directory (or '/' for the roots)")
    _common(p, json_output=True)
    p.add_argument("path", nargs="?", default="/")
    p.add_argument("-l", "--long", action="store_true", help="show type, size and name")
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("cat", help="write a file's bytes to stdout")
    _common(p)
    p.add_argument("path")
    p.set_defaults(func=cmd_cat)

    for name, helptext, func in (
        ("get", "download a logical path to a local file", cmd_get),
        ("put", "upload a local file to a logical path", cmd_put),
        ("cp", "copy between logical paths (across roots too)", cmd_cp),
        ("mv", "move between logical paths", cmd_mv),
    ):
        p = sub.add_parser(name, help=helptext)
        _common(p)
        p.add_argument("source")
        p.add_argument("target")
        if name == "cp":
            p.add_argument("-r", "--recursive", action="store_true", help="copy a directory tree")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        p.set_defaults(func=func)

    p = sub.add_parser("rm", help="delete a file, or a tree with -r")
    _common(p)
    p.add_argument("path")
    p.add_argument("-r", "--recursive", action="store_true", help="delete a directory tree")
    p.set_defaults(func=cmd_rm)

    p = sub.add_parser("resolve", help="show what a logical (or writer) path means here")
    _common(p, json_output=True)
    p.add_argument("path", help="a logical path, vfs:// URL, or a writer's path (D:\\...)")
    p.set_defaults(func=cmd_resolve)


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


def cmd_roots(args: argparse.Namespace) -> int:
    vfs = load_vfs(args)
    rows = []
    for name, root in sorted(vfs.roots.items()):
        view = root.writer_view
        rows.append(
            {
                "root": f"/{name}",
                "class": type(root).__name__,
                "url": root.url(),
                "writer_root": view.root if view else None,
                "writer_semantics": view.semantics if view else None,
                "read_only": root.read_only,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table(rows, ["root", "class", "url", "writer_root", "read_only"])
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    entries = load_vfs(args).ls(args.path, detail=True)
    if args.json:
        print(json.dumps(entries, indent=2))
    elif args.long:
        _print_table(entries, ["type", "size", "name"])
    else:
        for entry in entries:
            print(entry["name"] + ("/" if entry["type"] == "directory" else ""))
    return 0


def cmd_cat(args: argparse.Namespace) -> int:
    with load_vfs(args).open(args.path, "rb") as f:
        shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
    sys.stdout.buffer.flush()
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    local = load_vfs(args).get_file(args.source, args.target, progress=_progress(args))
    print(local)
    return 0


def cmd_put(args: argparse.Namespace) -> int:
    load_vfs(args).put_file(args.source, args.target, progress=_progress(args))
    return 0


def cmd_cp(args: argparse.Namespace) -> int:
    vfs = load_vfs(args)
    vfs.copy(args.source, args.target, recursive=args.recursive, progress=_progress(args))
    return 0


def cmd_mv(args: argparse.Namespace) -> int:
    load_vfs(args).move(args.source, args.target)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    vfs = load_vfs(args)
    if args.recursive and vfs.isdir(args.path):
        vfs.rmdir(args.path, recursive=True)
    else:
        vfs.remove(args.path)
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    vfs = load_vfs(args)
    path = args.path
    given_as = "logical"
    if _is_plain(vfs, path):
        return _print_info(args, _plain_info(vfs, path))
    if not (path.startswith("/") or path.startswith("vfs://")) or _is_writer_path(vfs, path):
        path, given_as = vfs.logical_path(args.path), "writer"
    resolved = vfs.resolve(path)
    root = vfs.roots[resolved.root]
    try:
        writer = vfs.writer_path(path)
    except InvalidPathError:
        writer = None
    info = {
        "given": args.path,
        "given_as": given_as,
        "logical": path if not path.startswith("vfs://") else "/" + path[6:],
        "root": f"/{resolved.root}",
        "relative": resolved.relative,
        "class": type(root).__name__,
        "url": resolved.url,
        "local_path": root.local_path(resolved.relative),
        "writer_path": writer,
    }
    if given_as == "writer":  # a document naming the writer's path is read as a plain path
        info["handlers"] = _handler_reading(vfs, args.path)[1]
    return _print_info(args, info)


def _print_info(args: argparse.Namespace, info: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            if isinstance(value, list):
                value = ", ".join(value) or None
            print(f"{key:12} {value if value is not None else '-'}")
    return 0


def _is_plain(vfs: VirtualFileSystem, path: str) -> bool:
    """A ``file:`` URI, or an absolute POSIX path that names no root and no writer path:
    what a document's plain (legacy) path looks like."""
    if path.startswith("file:"):
        return True
    return path.startswith("/") and not path.startswith("//") and not _is_root_or_writer(vfs, path)


def _is_root_or_writer(vfs: VirtualFileSystem, path: str) -> bool:
    if not _is_writer_path(vfs, path):
        return True
    try:
        vfs.logical_path(path)
    except InvalidPathError:
        return False
    return True


def _handler_reading(vfs: VirtualFileSystem, path: str) -> tuple[str | None, str]:
    """What a handler does with ``path`` from a document: its real path (or logical path)
    if it reads it, and a sentence."""
    from ..handlers import UnknownRootFileError, locate
    from ..vfs import VFSError

    try:
        location = locate(path, vfs)
    except UnknownRootFileError as exc:
        return None, f"refused: unknown root /{exc.root}"
    except VFSError as exc:
        text = str(exc)
        return None, text if text.startswith("refused") else f"refused: {text}"
    if location.logical is not None:
        return location.logical, f"read through the VFS as {location.logical}"
    return location.local, f"read as the plain file {location.local} (legacy_paths allows it)"


def _plain_info(vfs: VirtualFileSystem, path: str) -> dict[str, Any]:
    real, reading = _handler_reading(vfs, path)
    return {
        "given": path,
        "given_as": "file URI" if path.startswith("file:") else "plain",
        "allowed": real is not None,
        "real_path": real,
        "legacy_paths": list(vfs.legacy_paths),
        "handlers": reading,
    }


def _is_writer_path(vfs: VirtualFileSystem, path: str) -> bool:
    """A POSIX path whose first component is no root is read as a writer's path."""
    first = path.lstrip("/").split("/", 1)[0]
    return path.startswith("/") and first not in vfs.roots
