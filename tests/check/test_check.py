"""``check_run`` at the library level: complete runs, every bad input, and the input formats."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from filestore_vfs import VirtualFileSystem
from filestore_vfs.check import (
    DocumentsError,
    check_run,
    documents_from_catalog,
    read_documents,
)

from .runs import (
    HDF5_MIMETYPE,
    TIFF_MIMETYPE,
    make_vfs,
    resource_run,
    stream_run,
    write_jsonl,
    write_msgpack,
    write_stream_files,
)

Docs = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def vfs(tmp_path: Path) -> VirtualFileSystem:
    return make_vfs(tmp_path)


def only(docs: Docs, vfs: VirtualFileSystem) -> Any:
    report = check_run(docs, vfs)
    assert len(report.resources) == 1
    return report, report.resources[0]


@pytest.mark.parametrize("spec", ["AD_HDF5", "AD_TIFF", "AD_HDF5_SINGLE"])
def test_complete_resource_runs(vfs: VirtualFileSystem, spec: str) -> None:
    report, row = only(resource_run(vfs, spec, 5, 5), vfs)
    assert report.complete and row.status == "ok" and row.problem is None
    assert (row.referenced, row.present, row.missing, row.unreadable) == (5, 5, 0, 0)
    assert row.spec == spec and row.location.startswith("/detector/")


@pytest.mark.parametrize("mimetype", [HDF5_MIMETYPE, TIFF_MIMETYPE])
def test_complete_stream_runs(vfs: VirtualFileSystem, mimetype: str) -> None:
    uri = write_stream_files(vfs, mimetype, "/detector/stream/2026", 6)
    report, row = only(stream_run(uri, mimetype, [(0, 2), (2, 3)], frame_per_point=2), vfs)
    assert report.complete and row.document == "stream_resource" and row.spec == mimetype
    assert (row.referenced, row.present) == (6, 6)


def test_datum_past_the_end_of_the_dataset(vfs: VirtualFileSystem) -> None:
    report, row = only(resource_run(vfs, "AD_HDF5", 5, 7), vfs)
    assert not report.complete and row.status == "missing-frames"
    assert (row.present, row.missing, row.unreadable) == (5, 2, 0)
    assert "5..6 past the end of /entry/data/data (5 frames)" in row.problem


def test_stream_indices_past_the_end(vfs: VirtualFileSystem) -> None:
    uri = write_stream_files(vfs, HDF5_MIMETYPE, "/detector/s", 4)
    _, row = only(stream_run(uri, HDF5_MIMETYPE, [(0, 2), (2, 5)]), vfs)
    assert (row.present, row.missing) == (4, 1) and row.status == "missing-frames"


def test_missing_hdf5_file(vfs: VirtualFileSystem) -> None:
    docs = resource_run(vfs, "AD_HDF5", 3, 3)
    vfs.remove("/detector/ad_hdf5/2026/11/21/scan_000000.h5")
    report, row = only(docs, vfs)
    assert row.status == "missing-file" and (row.present, row.missing) == (0, 3)
    assert "scan_000000.h5" in row.problem and "does not exist" in row.problem
    assert report.missing == 3 and not report.complete


def test_missing_tiff_directory(vfs: VirtualFileSystem) -> None:
    docs = resource_run(vfs, "AD_TIFF", 2, 2)
    vfs.rmdir("/detector/ad_tiff", recursive=True)
    _, row = only(docs, vfs)
    assert row.status == "missing-file" and row.missing == 2 and "directory" in row.problem


def test_truncated_hdf5_file(vfs: VirtualFileSystem) -> None:
    docs = resource_run(vfs, "AD_HDF5", 5, 5)
    path = vfs.local_path("/detector/ad_hdf5/2026/11/21/scan_000000.h5")
    os.truncate(path, os.path.getsize(path) // 2)
    report, row = only(docs, vfs)
    assert row.status == "unreadable" and (row.present, row.unreadable) == (0, 5)
    assert "truncated" in row.problem
    assert not report.complete


def test_hdf5_file_without_the_dataset(vfs: VirtualFileSystem) -> None:
    uri = write_stream_files(vfs, HDF5_MIMETYPE, "/detector/s", 2)
    docs = stream_run(uri, HDF5_MIMETYPE, [(0, 2)])
    docs[2][1]["parameters"]["dataset"] = "/entry/other"
    _, row = only(docs, vfs)
    assert row.status == "unreadable" and "/entry/other" in row.problem


@pytest.mark.parametrize("spec", ["AD_TIFF", "AD_HDF5_SINGLE"])
def test_sequence_with_a_gap(vfs: VirtualFileSystem, spec: str) -> None:
    docs = resource_run(vfs, spec, 6, 6)
    suffix = "tiff" if spec == "AD_TIFF" else "h5"
    for k in (2, 3):
        vfs.remove(f"/detector/{spec.lower()}/2026/11/21/scan_{k:06d}.{suffix}")
    report, row = only(docs, vfs)
    assert row.status == "missing-frames" and (row.present, row.missing) == (4, 2)
    assert "2..3 (a gap in the sequence)" in row.problem


def test_stream_parameters_of_other_writers(vfs: VirtualFileSystem) -> None:
    """``multiplier`` (ophyd-async, tiled) and a ``%``-style template (tiled's exporter)."""
    uri = write_stream_files(vfs, TIFF_MIMETYPE, "/detector/s", 4)
    docs = stream_run(uri, TIFF_MIMETYPE, [(0, 2)])
    params = docs[2][1]["parameters"]
    del params["frame_per_point"]
    params.update(multiplier=2, template="scan_%06d.tiff")
    _, row = only(docs, vfs)
    assert (row.referenced, row.present, row.status) == (4, 4, "ok")


def test_stream_tiff_gap_and_empty_file(vfs: VirtualFileSystem) -> None:
    uri = write_stream_files(vfs, TIFF_MIMETYPE, "/detector/s", 5)
    vfs.remove("/detector/s/scan_000001.tiff")
    vfs.write_bytes("/detector/s/scan_000003.tiff", b"")
    _, row = only(stream_run(uri, TIFF_MIMETYPE, [(0, 5)]), vfs)
    assert (row.present, row.missing, row.unreadable) == (3, 1, 1)
    assert "frame(s) 1 (a gap" in row.problem and "3 are empty files" in row.problem


def test_unknown_root_lists_roots_and_config(vfs: VirtualFileSystem) -> None:
    docs = resource_run(vfs, "AD_HDF5", 2, 2)
    docs[2][1]["root"] = "/beamline7"
    report = check_run(docs, vfs, config_source="/etc/reader.yaml")
    row = report.resources[0]
    assert row.status == "unknown-root" and row.unreadable == 2 and not report.complete
    assert "/beamline7" in row.problem and "/etc/reader.yaml" in row.problem
    assert "/archive, /detector" in row.problem


def test_unknown_root_in_a_vfs_uri(vfs: VirtualFileSystem) -> None:
    _, row = only(stream_run("vfs://elsewhere/x.h5", HDF5_MIMETYPE, [(0, 1)]), vfs)
    assert row.status == "unknown-root" and "/elsewhere" in row.problem
    assert "the VirtualFileSystem given to check_run" in row.problem


@pytest.mark.parametrize(
    "uri", ["vfs://detector/../../etc/passwd", "vfs://detector/a/../../x.h5", "vfs://detector//x"]
)
def test_uri_leaving_its_root_is_refused(vfs: VirtualFileSystem, uri: str) -> None:
    report, row = only(stream_run(uri, HDF5_MIMETYPE, [(0, 3)]), vfs)
    assert row.status == "refused" and (row.unreadable, row.present) == (0 + 3, 0)
    assert "refused" in row.problem and not report.complete


def test_resource_path_leaving_its_root_is_refused(vfs: VirtualFileSystem) -> None:
    docs = resource_run(vfs, "AD_HDF5", 1, 1)
    docs[2][1]["resource_path"] = "../../../etc/hostname"
    _, row = only(docs, vfs)
    assert row.status == "refused"


def test_symlink_leaving_its_root_is_refused(vfs: VirtualFileSystem, tmp_path: Path) -> None:
    outside = tmp_path / "outside.h5"
    outside.write_bytes(b"secret")
    os.symlink(outside, tmp_path / "detector" / "link.h5")
    _, row = only(stream_run("vfs://detector/link.h5", HDF5_MIMETYPE, [(0, 1)]), vfs)
    assert row.status == "refused" and row.unreadable == 1


def test_plain_paths_of_legacy_documents(vfs: VirtualFileSystem, tmp_path: Path) -> None:
    """A Resource whose root is a directory of this machine, not a VFS root: read as is
    when the config lists it in ``legacy_paths``, refused (naming the setting) when not."""
    docs = resource_run(vfs, "AD_HDF5", 2, 2)
    docs[2][1]["root"] = str(tmp_path / "detector")
    _, row = only(docs, vfs)
    assert row.status == "refused" and "legacy_paths" in row.problem
    legacy = VirtualFileSystem(dict(vfs.roots), defaults=False, legacy_paths=[tmp_path])
    _, row = only(docs, legacy)
    assert row.status == "ok" and row.present == 2
    docs[2][1]["root"] = str(tmp_path / "gone")
    _, row = only(docs, legacy)
    assert row.status == "missing-file" and row.missing == 2 and "does not exist" in row.problem


def test_memory_root_goes_through_the_vfs(tmp_path: Path) -> None:
    """A non-local root: HDF5 metadata through the VFS reader, TIFF through one listing."""
    vfs = VirtualFileSystem({"detector": {"class": "MemoryFile"}})
    docs = resource_run(vfs, "AD_HDF5", 4, 5) + resource_run(vfs, "AD_TIFF", 3, 3)
    vfs.remove("/detector/ad_tiff/2026/11/21/scan_000001.tiff")
    report = check_run(docs, vfs)
    h5, tiff = report.resources
    assert (h5.present, h5.missing, h5.status) == (4, 1, "missing-frames")
    assert (tiff.present, tiff.missing, tiff.status) == (2, 1, "missing-frames")


def test_orphan_datums_and_unsupported_specs(vfs: VirtualFileSystem) -> None:
    docs = resource_run(vfs, "AD_HDF5", 2, 2)
    orphan = dict(docs[3][1], resource="no-such-resource", datum_id="no-such-resource/0")
    docs.insert(4, ("datum", orphan))
    report = check_run(docs, vfs)
    assert report.orphan_datums == 1 and not report.complete
    assert "1 datum(s) reference no resource" in report.summary()

    other = resource_run(vfs, "AD_HDF5", 1, 1)
    other[2][1]["spec"] = "AD_EIGER"
    report = check_run(other, vfs)
    assert report.complete and report.resources[0].status == "unsupported"
    assert report.unchecked == 1 and "not checked" in report.summary()


def test_datum_pages(vfs: VirtualFileSystem) -> None:
    docs = resource_run(vfs, "AD_HDF5", 4, 0)
    resource = docs[2][1]
    page = {
        "resource": resource["uid"],
        "datum_id": [f"{resource['uid']}/{k}" for k in range(6)],
        "datum_kwargs": {"point_number": list(range(6))},
    }
    _, row = only([*docs, ("datum_page", page)], vfs)
    assert (row.referenced, row.present, row.missing) == (6, 4, 2)


def test_progress_callable_counts_frames(vfs: VirtualFileSystem) -> None:
    docs = resource_run(vfs, "AD_HDF5", 3, 3) + resource_run(vfs, "AD_TIFF", 2, 2)
    calls: list[tuple[int, int | None, str]] = []
    check_run(docs, vfs, progress=lambda done, total, name: calls.append((done, total, name)))
    assert [c[:2] for c in calls] == [(3, 5), (5, 5)]


def test_ten_thousand_datums_quickly(vfs: VirtualFileSystem) -> None:
    import time

    docs = resource_run(vfs, "AD_HDF5", 10, 10)
    resource = docs[2][1]
    docs += [
        ("datum", {"resource": resource["uid"], "datum_id": f"x/{k}", "datum_kwargs": {}})
        for k in range(10_000)
    ]
    start = time.perf_counter()
    report = check_run(docs, vfs)
    assert time.perf_counter() - start < 5
    assert report.complete and report.resources[0].referenced == 10


# -- input formats -------------------------------------------------------------------------
def test_jsonl_and_msgpack_files(vfs: VirtualFileSystem, tmp_path: Path) -> None:
    docs = resource_run(vfs, "AD_HDF5", 3, 3)
    for path in (
        write_jsonl(tmp_path / "run.jsonl", docs),
        write_msgpack(tmp_path / "run.msgpack", docs),
        write_msgpack(tmp_path / "run.dat", docs),
    ):
        read = read_documents(path)
        assert [n for n, _ in read] == [n for n, _ in docs]
        assert check_run(read, vfs).complete


def test_reading_only_the_asset_documents(vfs: VirtualFileSystem, tmp_path: Path) -> None:
    from filestore_vfs.check import ASSET_DOCUMENTS

    docs = resource_run(vfs, "AD_TIFF", 2, 2)
    for path in (
        write_jsonl(tmp_path / "run.jsonl", docs),
        write_msgpack(tmp_path / "run.msgpack", docs),
    ):
        read = read_documents(path, names=ASSET_DOCUMENTS)
        assert [n for n, _ in read] == ["resource", "datum", "datum"]
        assert check_run(read, vfs).complete
    events_only = write_jsonl(tmp_path / "events.jsonl", [d for d in docs if d[0] == "event"])
    assert read_documents(events_only, names=ASSET_DOCUMENTS) == []  # no assets: not an error


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\n  \n", "is empty"),
        (b'["start", {}]\n{not json\n', "line 2 is not JSON"),
        (b'{"name": "start"}\n', "line 1 is not a [name, doc] pair"),
        (b'["start", {}, 3]\n', "line 1 is not a [name, doc] pair"),
        (b"\x92\xa5start\x81\xa1a", "not a msgpack stream"),
    ],
)
def test_empty_or_malformed_run_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(content)
    with pytest.raises(DocumentsError, match=re.escape(message)) as info:
        read_documents(path)
    assert "\n" not in str(info.value)


def test_missing_run_file(tmp_path: Path) -> None:
    with pytest.raises(DocumentsError, match="no run file"):
        read_documents(tmp_path / "nope.jsonl")


def test_catalog_uses_tiled_from_uri(
    monkeypatch: pytest.MonkeyPatch, vfs: VirtualFileSystem
) -> None:
    """The catalog path: ``from_uri(uri)[uid].documents()`` (tiled client, databroker 2)."""
    import tiled.client

    docs = resource_run(vfs, "AD_HDF5", 2, 2)
    uid = docs[0][1]["uid"]

    class Run:
        def documents(self) -> Any:
            return iter(docs)

    opened: list[str] = []

    class Catalog(dict):  # type: ignore[type-arg]
        def __getitem__(self, key: str) -> Run:
            if len(key) < 5:  # as databroker's catalog does
                raise ValueError(f"Partial uid {key!r} is too short.")
            return super().__getitem__(key)  # type: ignore[no-any-return]

    def from_uri(uri: str) -> Catalog:
        opened.append(uri)
        return Catalog({uid: Run()})

    monkeypatch.setattr(tiled.client, "from_uri", from_uri)
    got = documents_from_catalog("http://localhost:8000/api", uid)
    assert opened == ["http://localhost:8000/api"] and check_run(got, vfs).complete
    with pytest.raises(DocumentsError, match="no run 'other'"):
        documents_from_catalog("http://localhost:8000/api", "other")
    with pytest.raises(DocumentsError, match="no run 'x'.*too short"):
        documents_from_catalog("http://localhost:8000/api", "x")


def test_progress_inside_a_long_sequence(vfs: VirtualFileSystem) -> None:
    docs = resource_run(vfs, "AD_TIFF", 1, 1)
    resource = docs[2][1]
    docs += [
        (
            "datum",
            {
                "resource": resource["uid"],
                "datum_id": f"d/{k}",
                "datum_kwargs": {"point_number": k},
            },
        )
        for k in range(1, 2500)
    ]
    calls: list[int] = []
    report = check_run(docs, vfs, progress=lambda done, total, name: calls.append(done))
    assert calls == [1000, 2000, 2500] and report.missing == 2499
