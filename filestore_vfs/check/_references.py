"""What a run references: one :class:`Reference` per Resource/StreamResource, with its frames.

Datums are grouped per resource as they are read, and their frames kept as merged
``[start, stop)`` ranges, so a 10,000-datum run becomes one small object per file (or per
TIFF directory) and checking it opens each file once.
"""

from __future__ import annotations

import ntpath
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ._documents import Document

__all__ = ["Reference", "collect_references", "count_frames", "merge_ranges", "format_ranges"]

DATASET = "/entry/data/data"
HDF5_SPECS = {"AD_HDF5"}
PER_FRAME_SPECS = {"AD_TIFF", "AD_HDF5_SINGLE"}
HDF5_MIMETYPES = {"application/x-hdf5"}
TIFF_MIMETYPES = {"multipart/related;type=image/tiff"}


@dataclass
class Reference:
    """One Resource or StreamResource and the frames its datums reference.

    ``layout`` is ``hdf5`` (frames stacked in ``dataset`` of the file at ``path``), ``files``
    (one file per frame in the directory ``path``, named by ``name_of(frame)``) or
    ``unsupported`` (a spec this check does not know how to count).
    """

    uid: str
    document: str
    path: str
    kind: str
    layout: str
    frame_per_point: int = 1
    dataset: str = DATASET
    name_of: Callable[[int], str] | None = None
    ranges: list[tuple[int, int]] = field(default_factory=list)
    datums: int = 0

    def add_points(self, start: int, stop: int) -> None:
        """Datum points (or StreamDatum indices) ``[start, stop)``, as frames."""
        fpp = self.frame_per_point
        self.ranges.append((start * fpp, stop * fpp))

    @property
    def frames(self) -> list[tuple[int, int]]:
        """The referenced frames as sorted, merged ``[start, stop)`` ranges."""
        self.ranges = merge_ranges(self.ranges)
        return self.ranges

    @property
    def referenced(self) -> int:
        return count_frames(self.frames)


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort and merge overlapping or touching ranges (empty ones dropped)."""
    out: list[tuple[int, int]] = []
    for start, stop in sorted(r for r in ranges if r[1] > r[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], stop))
        else:
            out.append((start, stop))
    return out


def count_frames(ranges: Iterable[tuple[int, int]]) -> int:
    return sum(stop - start for start, stop in ranges)


def clip_ranges(ranges: Iterable[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    """The parts of ``ranges`` inside ``[lo, hi)``."""
    return [(max(a, lo), min(b, hi)) for a, b in ranges if min(b, hi) > max(a, lo)]


def format_ranges(ranges: Iterable[tuple[int, int]], limit: int = 6) -> str:
    """``0, 3..5, 9`` (the first ``limit`` ranges, then ``...``)."""
    items = list(ranges)
    text = [f"{a}" if b - a == 1 else f"{a}..{b - 1}" for a, b in items[:limit]]
    if len(items) > limit:
        text.append(f"... ({len(items) - limit} more ranges)")
    return ", ".join(text)


def collect_references(documents: Iterable[Document]) -> tuple[list[Reference], int]:
    """The run's references in document order, and the number of orphan datums.

    An orphan datum points at a resource the run does not contain: its data cannot be found.
    """
    refs: dict[str, Reference] = {}
    orphans = 0
    for name, doc in documents:
        if name == "resource":
            refs[doc["uid"]] = _from_resource(doc)
        elif name == "stream_resource":
            refs[doc["uid"]] = _from_stream_resource(doc)
        elif name in ("datum", "datum_page", "stream_datum"):
            orphans += _add_datums(refs, name, doc)
    return list(refs.values()), orphans


def _add_datums(refs: dict[str, Reference], name: str, doc: dict[str, Any]) -> int:
    """Add one datum document's frames to its reference; return 1 per orphan datum."""
    if name == "stream_datum":
        ref = refs.get(doc.get("stream_resource", ""))
        if ref is None:
            return 1
        ref.add_points(int(doc["indices"]["start"]), int(doc["indices"]["stop"]))
        ref.datums += 1
        return 0
    ref = refs.get(doc.get("resource", ""))
    points = _points(name, doc)
    if ref is None:
        return len(points)
    for point in points:
        ref.add_points(point, point + 1)
    ref.datums += len(points)
    return 0


def _points(name: str, doc: dict[str, Any]) -> list[int]:
    """The ``point_number`` of each datum (datum pages: one per ``datum_id``)."""
    kwargs = doc.get("datum_kwargs") or {}
    if name == "datum":
        return [int(kwargs.get("point_number", 0))]
    count = len(doc.get("datum_id") or [])
    return [int(p) for p in kwargs.get("point_number", [0] * count)]


def _join(doc: dict[str, Any]) -> str:
    """The path a Filler would hand the handler: ``root`` joined with ``resource_path``."""
    root, rel = doc.get("root") or "", doc.get("resource_path") or ""
    join = ntpath.join if doc.get("path_semantics") == "windows" else posixpath.join
    return join(root, rel) if root else rel


def _from_resource(doc: dict[str, Any]) -> Reference:
    spec = str(doc.get("spec", ""))
    kwargs = doc.get("resource_kwargs") or {}
    fpp = max(1, int(kwargs.get("frame_per_point", 1)))
    path = _join(doc)
    if spec in HDF5_SPECS:
        return Reference(doc["uid"], "resource", path, spec, "hdf5", fpp)
    if spec in PER_FRAME_SPECS and "template" in kwargs:
        template, filename = str(kwargs["template"]), str(kwargs.get("filename", ""))

        def name_of(j: int) -> str:
            return (template % ("", filename, j)).lstrip("/")

        return Reference(doc["uid"], "resource", path, spec, "files", fpp, name_of=name_of)
    return Reference(doc["uid"], "resource", path, spec, "unsupported", 1)


def _from_stream_resource(doc: dict[str, Any]) -> Reference:
    mimetype = str(doc.get("mimetype", ""))
    params = doc.get("parameters") or {}
    # Our mixins say frame_per_point; ophyd-async and tiled's consolidators say multiplier.
    fpp = max(1, int(params.get("frame_per_point") or params.get("multiplier") or 1))
    uri = str(doc.get("uri", ""))
    if mimetype in HDF5_MIMETYPES:
        dataset = str(params.get("dataset", DATASET))
        return Reference(doc["uid"], "stream_resource", uri, mimetype, "hdf5", fpp, dataset)
    if mimetype in TIFF_MIMETYPES and "template" in params:
        template = str(params["template"])
        # "scan_{:06d}.tiff" (ours, tiled's consolidators) or "scan_%06d.tiff" (the template
        # bluesky-tiled-plugins' exporter re-derives for documents read from a tiled catalog).
        braces = "{" in template

        def name_of(j: int) -> str:
            return (template.format(j) if braces else template % j).lstrip("/")

        return Reference(
            doc["uid"], "stream_resource", uri, mimetype, "files", fpp, name_of=name_of
        )
    return Reference(doc["uid"], "stream_resource", uri, mimetype, "unsupported", 1)
