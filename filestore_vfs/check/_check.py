"""``check_run``: does every frame a run's documents reference exist on this machine?

Each Resource/StreamResource is resolved through the VFS as a reader would resolve it
(:func:`filestore_vfs.handlers.locate`), then checked once: an HDF5 file is opened for its
metadata only (the dataset's length, never the frames), a per-frame directory is listed
once and every referenced file looked up in that listing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..handlers import Location, MissingFileError, locate
from ..vfs import (
    PathEscapeError,
    UnknownRootError,
    VFSError,
    VirtualFileSystem,
    default_config_path,
    default_vfs,
)
from ._documents import Document
from ._progress import ProgressArg, Reporter
from ._references import (
    Reference,
    clip_ranges,
    collect_references,
    count_frames,
    format_ranges,
    merge_ranges,
)

__all__ = ["CheckReport", "ResourceCheck", "STATUSES", "check_run"]

#: Every ``ResourceCheck.status``; all but ``ok`` and ``unsupported`` mean data is lost here.
STATUSES = (
    "ok",
    "missing-frames",
    "missing-file",
    "unreadable",
    "refused",
    "unknown-root",
    "unsupported",
)
_END = 1 << 62
#: Frames of a per-frame sequence between two progress updates.
_PROGRESS_EVERY = 1000


@dataclass
class ResourceCheck:
    """One row of the check: a Resource or StreamResource and what was found of its frames."""

    uid: str
    document: str
    resource: str
    spec: str
    referenced: int
    present: int = 0
    missing: int = 0
    unreadable: int = 0
    status: str = "ok"
    problem: str | None = None
    location: str | None = None

    def lose(self, status: str, problem: str, *, missing: bool) -> ResourceCheck:
        """Mark every referenced frame missing (or unreadable) for one reason."""
        self.status, self.problem, self.present = status, problem, 0
        self.missing = self.referenced if missing else 0
        self.unreadable = 0 if missing else self.referenced
        return self


@dataclass
class CheckReport:
    """The result of :func:`check_run`: one :class:`ResourceCheck` per resource, and totals."""

    resources: list[ResourceCheck] = field(default_factory=list)
    #: Datums whose Resource/StreamResource is not in the run: their frames cannot be found.
    orphan_datums: int = 0
    #: Where this machine's roots came from (shown in unknown-root problems).
    config: str = ""

    def _sum(self, name: str) -> int:
        return sum(getattr(r, name) for r in self.resources)

    @property
    def referenced(self) -> int:
        return self._sum("referenced")

    @property
    def present(self) -> int:
        return self._sum("present")

    @property
    def missing(self) -> int:
        return self._sum("missing")

    @property
    def unreadable(self) -> int:
        return self._sum("unreadable")

    @property
    def unchecked(self) -> int:
        return sum(r.referenced for r in self.resources if r.status == "unsupported")

    @property
    def complete(self) -> bool:
        """No frame missing or unreadable, and no datum without its resource."""
        return self.missing == 0 and self.unreadable == 0 and self.orphan_datums == 0

    def summary(self) -> str:
        verdict = "complete" if self.complete else "INCOMPLETE"
        text = (
            f"{len(self.resources)} resource(s), {self.referenced} frame(s) referenced: "
            f"{self.present} present, {self.missing} missing, {self.unreadable} unreadable"
        )
        if self.unchecked:
            text += f", {self.unchecked} not checked (unsupported spec)"
        if self.orphan_datums:
            text += f"; {self.orphan_datums} datum(s) reference no resource of the run"
        return f"{text}: {verdict}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "summary": {
                "resources": len(self.resources),
                "referenced": self.referenced,
                "present": self.present,
                "missing": self.missing,
                "unreadable": self.unreadable,
                "unchecked": self.unchecked,
                "orphan_datums": self.orphan_datums,
            },
            "config": self.config,
            "resources": [asdict(r) for r in self.resources],
        }


def check_run(
    documents: Iterable[Document],
    vfs: VirtualFileSystem | None = None,
    progress: ProgressArg = None,
    *,
    config_source: str | None = None,
) -> CheckReport:
    """Check every frame that ``documents`` reference, reading through ``vfs``.

    ``progress`` is ``True`` (a tqdm bar) or a callable ``(frames_done, frames_total, name)``.
    ``config_source`` names where ``vfs`` came from, for unknown-root messages (default: the
    file :func:`default_vfs` reads, when ``vfs`` is that VFS).
    """
    if vfs is None:
        vfs = default_vfs()
    refs, orphans = collect_references(documents)
    source = config_source or _config_source(vfs)
    report = CheckReport(orphan_datums=orphans, config=source)
    total = sum(ref.referenced for ref in refs)
    with Reporter(progress, total, "frame", "check") as reporter:
        for ref in refs:
            row = _check_reference(ref, vfs, source, reporter)
            report.resources.append(row)
    return report


def _config_source(vfs: VirtualFileSystem) -> str:
    if vfs is not default_vfs():
        return "the VirtualFileSystem given to check_run"
    path = default_config_path()
    return str(path) if path else "the embedded defaults (no config file)"


def _check_reference(
    ref: Reference, vfs: VirtualFileSystem, source: str, reporter: Reporter
) -> ResourceCheck:
    row = ResourceCheck(ref.uid, ref.document, ref.path, ref.kind, ref.referenced)
    start = reporter.done
    try:  # parsed as every reader does (handlers.locate: vfs.logical_from_uri)
        location = locate(ref.path, vfs)
    except UnknownRootError as exc:  # before MissingFileError: the handlers' one is both
        row.lose("unknown-root", _unknown_root_problem(exc, ref.path, source), missing=False)
    except MissingFileError as exc:
        row.lose("missing-file", str(exc), missing=True)
    except (PathEscapeError, ValueError) as exc:
        row.lose("refused", f"refused {ref.path!r}: {exc}", missing=False)
    else:
        row.location = location.describe()
        try:
            _CHECKS[ref.layout](ref, location, row, reporter)
        except (OSError, VFSError) as exc:
            row.lose("unreadable", f"{row.location}: {exc}", missing=False)
    reporter.advance(row.referenced - (reporter.done - start), ref.path)
    return row


def _unknown_root_problem(exc: UnknownRootError, path: str, source: str) -> str:
    roots = ", ".join(f"/{name}" for name in exc.known)
    return (
        f"root /{exc.root} of {path!r} is not configured on this machine; configured "
        f"roots: {roots} (VFS config: {source}); add /{exc.root} to that config"
    )


# -- one check per layout ----------------------------------------------------------------
def _check_hdf5(ref: Reference, location: Location, row: ResourceCheck, _: Reporter) -> None:
    if not _is_file(location):
        row.lose("missing-file", f"{location.describe()} does not exist", missing=True)
        return
    try:
        length = _dataset_length(location, ref.dataset)
    except (OSError, LookupError, TypeError, ValueError) as exc:
        row.lose(
            "unreadable",
            f"{location.describe()} is not a readable HDF5 file with {ref.dataset} "
            f"(truncated or still being written?): {exc}",
            missing=False,
        )
        return
    frames = ref.frames
    row.present = count_frames(clip_ranges(frames, 0, length))
    row.missing = row.referenced - row.present
    if row.missing:
        past = clip_ranges(frames, length, _END)
        row.status = "missing-frames"
        row.problem = (
            f"frame(s) {format_ranges(past)} past the end of {ref.dataset} "
            f"({length} frames) in {location.describe()}"
        )


def _is_file(location: Location) -> bool:
    if location.local is not None:
        return os.path.isfile(location.local)
    assert location.logical is not None
    return location.vfs.isfile(location.logical)


def _dataset_length(location: Location, dataset: str) -> int:
    """The first dimension of ``dataset``, from the file's metadata only."""
    import h5py

    if location.local is not None:
        # As the handlers do: no HDF5 file lock (NFS/SMB mounts often refuse one, which
        # would make a complete file look unreadable); a file still being written shows
        # up as unreadable or short, which is what check must say.
        with h5py.File(location.local, "r", locking=False) as h5:
            return _length(h5, dataset)
    with location.open(cache="blocks") as raw, h5py.File(raw, "r") as h5:
        return _length(h5, dataset)


def _length(h5: Any, dataset: str) -> int:
    import h5py

    obj = h5.get(dataset)
    if not isinstance(obj, h5py.Dataset):
        raise LookupError(f"no dataset {dataset}")
    return int(obj.shape[0]) if obj.shape else 1


def _check_files(
    ref: Reference, location: Location, row: ResourceCheck, reporter: Reporter
) -> None:
    listing = _listing(location)
    if listing is None:
        row.lose("missing-file", f"directory {location.describe()} does not exist", missing=True)
        return
    assert ref.name_of is not None
    missing: list[tuple[int, int]] = []
    empty: list[tuple[int, int]] = []
    done = 0
    for start, stop in ref.frames:
        for j in range(start, stop):
            name = ref.name_of(j)
            size = listing.get(name) if "/" not in name else _size(location.child(name))
            if size is None:
                missing.append((j, j + 1))
            elif size == 0:
                empty.append((j, j + 1))
            done += 1
            if done % _PROGRESS_EVERY == 0:  # long sequences: show life
                reporter.advance(_PROGRESS_EVERY, ref.path)
    row.missing, row.unreadable = count_frames(missing), count_frames(empty)
    row.present = row.referenced - row.missing - row.unreadable
    _describe_file_losses(location, row, merge_ranges(missing), merge_ranges(empty))


def _describe_file_losses(
    location: Location,
    row: ResourceCheck,
    missing: list[tuple[int, int]],
    empty: list[tuple[int, int]],
) -> None:
    problems = []
    if missing:
        problems.append(f"no file for frame(s) {format_ranges(missing)} (a gap in the sequence)")
    if empty:
        problems.append(f"frame(s) {format_ranges(empty)} are empty files")
    if problems:
        row.status = "missing-frames" if missing else "unreadable"
        row.problem = f"{location.describe()}: " + "; ".join(problems)


def _listing(location: Location) -> dict[str, int] | None:
    """``{file name: size}`` of a directory, read once; ``None`` when it does not exist."""
    if location.local is not None:
        try:
            with os.scandir(location.local) as entries:
                return {e.name: e.stat().st_size for e in entries if e.is_file()}
        except (FileNotFoundError, NotADirectoryError):
            return None
    assert location.logical is not None
    try:
        entries = location.vfs.ls(location.logical, detail=True)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return {
        e["name"].rsplit("/", 1)[-1]: int(e.get("size") or 0)
        for e in entries
        if e["type"] == "file"
    }


def _size(location: Location) -> int | None:
    try:
        if location.local is not None:
            return os.stat(location.local).st_size
        assert location.logical is not None
        return int(location.vfs.info(location.logical).get("size") or 0)
    except FileNotFoundError:
        return None


def _check_unsupported(ref: Reference, location: Location, row: ResourceCheck, _: Reporter) -> None:
    exists = (
        os.path.exists(location.local)
        if location.local is not None
        else location.vfs.exists(location.logical or "")
    )
    if not exists:
        row.lose("missing-file", f"{location.describe()} does not exist", missing=True)
        return
    row.status = "unsupported"
    row.problem = (
        f"{ref.kind!r} is not checked frame by frame (supported: AD_HDF5, AD_HDF5_SINGLE, "
        "AD_TIFF, application/x-hdf5, multipart/related;type=image/tiff); the path exists"
    )


_CHECKS = {"hdf5": _check_hdf5, "files": _check_files, "unsupported": _check_unsupported}
