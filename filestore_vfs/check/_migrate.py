"""``migrate_run``: copy a run's files to another root, verify them, and say how to read them.

Documents name files by logical path (``/detector/...`` or ``vfs://detector/...``), so moving
the bytes never means rewriting documents: readers point the logical root ``detector`` at
the archive's storage instead. Every file is copied through :meth:`VirtualFileSystem.copy`
(streaming, atomic), read back and compared by SHA-256; sources are deleted only when asked
and only when every file of the run verified.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..handlers import locate
from ..vfs import (
    SECRET_OPTION,
    InvalidPathError,
    ReadOnlyRootError,
    UnknownRootError,
    VFSError,
    VirtualFileSystem,
    default_config_path,
    default_vfs,
    load_config_source,
    split_logical,
)
from ._documents import Document
from ._progress import ProgressArg, Reporter
from ._references import Reference, collect_references

__all__ = ["FileMigration", "MigrateReport", "OK_STATUSES", "migrate_run", "reader_mapping"]

#: File statuses that leave the file readable from the destination root.
OK_STATUSES = ("copied", "identical", "already-moved")
_CHUNK = 8 << 20
_WRITER_OPTIONS = ("writer_root", "writer_path_semantics")


@dataclass
class FileMigration:
    """One file of the run: where it was, where it went, and what happened."""

    source: str
    destination: str
    size: int | None = None
    status: str = "pending"
    sha256: str | None = None
    problem: str | None = None
    deleted: bool = False


@dataclass
class MigrateReport:
    """The result of :func:`migrate_run`."""

    source_root: str
    destination_root: str
    files: list[FileMigration] = field(default_factory=list)
    #: References not under the source root (other roots, plain paths), with the reason.
    skipped: list[str] = field(default_factory=list)
    #: What reader machines need: ``{"vfs": {"roots": {...}}, "root_map": {...}}``.
    mapping: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[FileMigration]:
        return [f for f in self.files if f.status not in OK_STATUSES]

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            out[f.status] = out.get(f.status, 0) + 1
        return out

    def summary(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.counts().items()))
        deleted = sum(f.deleted for f in self.files)
        verdict = "verified" if self.ok else f"{len(self.failed)} NOT migrated"
        return (
            f"{len(self.files)} file(s) /{self.source_root} -> /{self.destination_root}: "
            f"{counts or 'nothing to do'}; {deleted} source file(s) deleted: {verdict}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "source_root": f"/{self.source_root}",
            "destination_root": f"/{self.destination_root}",
            "summary": self.counts(),
            "files": [asdict(f) for f in self.files],
            "skipped": self.skipped,
            **self.mapping,
        }


def migrate_run(
    documents: Iterable[Document],
    source_root: str,
    destination_root: str,
    vfs: VirtualFileSystem | None = None,
    *,
    delete_source: bool = False,
    overwrite: bool = False,
    progress: ProgressArg = None,
    config_source: str | Path | None = None,
) -> MigrateReport:
    """Copy every file the run references from one root to another, keeping relative paths.

    Re-running is idempotent: files already identical at the destination are not copied
    again, and a source already deleted by an earlier ``delete_source`` run counts as moved
    when its destination exists. A destination that differs is a ``conflict`` (kept) unless
    ``overwrite``. A checksum mismatch removes the destination and keeps the source. With
    ``delete_source``, sources are removed only when every file of the run verified.
    ``config_source`` is the YAML file that configured ``vfs``: the reader mapping copies the
    destination root's options from it (default: the file :func:`default_vfs` read, when
    ``vfs`` is that VFS; else options are rebuilt from the root object, local roots only).
    """
    vfs = vfs if vfs is not None else default_vfs()
    src, dst = _check_roots(vfs, source_root, destination_root)
    if delete_source and vfs.roots[src].read_only:
        raise ReadOnlyRootError(
            f"--delete-source: source root /{src} is read-only in this config; "
            "migrate without --delete-source, or delete with a config that may write it"
        )
    refs, _orphans = collect_references(documents)
    report = MigrateReport(src, dst)
    report.files, report.skipped = _plan(refs, vfs, src, dst)
    total = sum(_source_size(vfs, f) for f in report.files)
    with Reporter(progress, total, "B", "migrate") as reporter:
        for item in report.files:
            _migrate_file(vfs, item, overwrite, reporter)
    if delete_source and report.ok:
        for item in report.files:
            _delete_source(vfs, item)
    if config_source is None and vfs is default_vfs():
        config_source = default_config_path()
    report.mapping = reader_mapping(vfs, src, dst, config_source)
    return report


def _check_roots(vfs: VirtualFileSystem, source: str, destination: str) -> tuple[str, str]:
    names = []
    for given in (source, destination):
        name = given.strip("/")
        if name.startswith("vfs:"):
            name = name[4:].strip("/")
        if name not in vfs.roots:
            raise UnknownRootError(name, vfs.roots)
        names.append(name)
    if names[0] == names[1]:
        raise InvalidPathError(f"--from and --to are the same root /{names[0]}")
    if vfs.roots[names[1]].read_only:
        raise ReadOnlyRootError(f"destination root /{names[1]} is read-only in this config")
    return names[0], names[1]


def _plan(
    refs: list[Reference], vfs: VirtualFileSystem, src: str, dst: str
) -> tuple[list[FileMigration], list[str]]:
    """The files to migrate (each once, in document order) and the references skipped."""
    files: dict[str, FileMigration] = {}
    skipped: list[str] = []
    for ref in refs:
        try:
            logical = locate(ref.path, vfs).logical
        except (VFSError, ValueError) as exc:
            skipped.append(f"{ref.path}: {exc}")
            continue
        if logical is None or split_logical(logical).root != src:
            skipped.append(f"{ref.path}: not on /{src}")
            continue
        for path in _files_of(ref, logical, vfs):
            rel = split_logical(path).rel
            files.setdefault(path, FileMigration(path, f"/{dst}/{rel}"))
    return list(files.values()), skipped


def _files_of(ref: Reference, logical: str, vfs: VirtualFileSystem) -> list[str]:
    if ref.layout == "files" and ref.name_of is not None:
        base = logical.rstrip("/")
        return [f"{base}/{ref.name_of(j)}" for a, b in ref.frames for j in range(a, b)]
    if ref.layout == "unsupported" and vfs.isdir(logical):
        return vfs.find(logical)
    return [logical]


def _source_size(vfs: VirtualFileSystem, item: FileMigration) -> int:
    try:
        item.size = int(vfs.info(item.source).get("size") or 0)
    except FileNotFoundError:
        item.size = None
    except (OSError, VFSError) as exc:  # unreachable, permission denied: not "missing"
        item.status, item.problem = "error", f"{type(exc).__name__}: {exc}"
    return item.size or 0


def _migrate_file(
    vfs: VirtualFileSystem, item: FileMigration, overwrite: bool, reporter: Reporter
) -> None:
    if item.status == "error":
        return
    try:
        _copy_verified(vfs, item, overwrite, reporter)
    except (OSError, VFSError) as exc:
        item.status, item.problem = "error", f"{type(exc).__name__}: {exc}"


def _copy_verified(
    vfs: VirtualFileSystem, item: FileMigration, overwrite: bool, reporter: Reporter
) -> None:
    there = vfs.exists(item.destination)
    if item.size is None:
        item.status = "already-moved" if there else "missing"
        if not there:
            item.problem = f"{item.source} does not exist (nothing deleted)"
        return
    item.sha256 = sha256(vfs, item.source)
    if there:
        if sha256(vfs, item.destination) == item.sha256:
            item.status = "identical"
            reporter.advance(item.size, item.source)
            return
        if not overwrite:
            item.status = "conflict"
            item.problem = f"{item.destination} exists with other content (kept; --overwrite)"
            reporter.advance(item.size, item.source)
            return
    vfs.copy(item.source, item.destination, progress=_relay(reporter))
    if sha256(vfs, item.destination) != item.sha256:
        vfs.remove(item.destination)
        item.status = "mismatch"
        item.problem = f"checksum of {item.destination} differs: removed it, kept the source"
        return
    item.status = "copied"


def _relay(reporter: Reporter) -> Any:
    """A per-file ``(done, total, name)`` callable that advances the run's reporter."""
    last = 0

    def relay(done: int, total: int | None, name: str) -> None:
        nonlocal last
        reporter.advance(done - last, name)
        last = done

    return relay


def sha256(vfs: VirtualFileSystem, path: str) -> str:
    """The SHA-256 of a file, streamed in 8 MiB chunks."""
    digest = hashlib.sha256()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with vfs.open(path, "rb", cache="stream") as f:
        readinto = getattr(f, "readinto", None)
        while True:
            if readinto is not None:
                n = readinto(buf)
                chunk: Any = view[:n]
            else:
                chunk = f.read(_CHUNK)
                n = len(chunk)
            if not n:
                break
            digest.update(chunk)
    return digest.hexdigest()


def _delete_source(vfs: VirtualFileSystem, item: FileMigration) -> None:
    if item.status not in ("copied", "identical"):
        return
    try:
        vfs.remove(item.source)
        item.deleted = True
    except (OSError, VFSError) as exc:
        item.status = "delete-failed"
        item.problem = f"verified at {item.destination}, but deleting the source failed: {exc}"


# -- what readers need --------------------------------------------------------------------
def reader_mapping(
    vfs: VirtualFileSystem, source: str, destination: str, config: str | Path | None = None
) -> dict[str, Any]:
    """The config a reader machine needs so documents naming ``/source`` read the copies.

    ``vfs`` is the logical root ``source`` given the options of the destination root (from
    ``config``, the YAML file that configured it, secrets shown as ``***`` unless they are
    ``${ENV}`` references); ``root_map`` is the same for stock readers (event-model's Filler
    and area-detector-handlers), which need a filesystem path or URL.
    """
    root = vfs.roots[destination]
    spec = _spec_from_config(config, destination)
    if spec is None:
        spec = {"class": type(root).__name__}
        if root.local_dir is not None:
            spec["root"] = root.local_dir
    for option in _WRITER_OPTIONS:
        spec.pop(option, None)
    target = root.local_dir if root.local_dir is not None else root.url()
    return {
        "vfs": {"roots": {source: spec}},
        "root_map": {f"/{source}": target},
        "config": str(config) if config else None,
    }


def _spec_from_config(config: str | Path | None, name: str) -> dict[str, Any] | None:
    if not config:
        return None
    try:
        data, _origin = load_config_source(Path(config))
    except VFSError:
        return None
    if isinstance(data, dict) and isinstance(data.get("vfs"), dict):
        data = data["vfs"]
    roots = data.get("roots") if isinstance(data, dict) else None
    spec = roots.get(name) if isinstance(roots, dict) else None
    if not isinstance(spec, dict):
        return None
    return {key: _redacted(key, value) for key, value in copy.deepcopy(spec).items()}


def _redacted(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _redacted(k, v) for k, v in value.items()}
    if SECRET_OPTION.search(str(key)) and not str(value).startswith("${"):
        return "***"
    return value
