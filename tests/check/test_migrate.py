"""``migrate_run``: copy, verify, idempotent re-runs, deletion only after verification."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from filestore_vfs import VirtualFileSystem
from filestore_vfs.check import check_run, migrate_run
from filestore_vfs.handlers import handler_registry
from filestore_vfs.vfs import ReadOnlyRootError, UnknownRootError
from tests.handlers.docs import fill, frames

from .runs import TIFF_MIMETYPE, make_vfs, resource_run, stream_run, write_stream_files


@pytest.fixture
def vfs(tmp_path: Path) -> VirtualFileSystem:
    return make_vfs(tmp_path)


def mixed_run(vfs: VirtualFileSystem) -> list[tuple[str, dict[str, Any]]]:
    """An HDF5 Resource run plus a TIFF StreamResource run: 1 + 3 files on /detector."""
    uri = write_stream_files(vfs, TIFF_MIMETYPE, "/detector/stream/2026", 3)
    return resource_run(vfs, "AD_HDF5", 4, 4) + stream_run(uri, TIFF_MIMETYPE, [(0, 3)])


def reader_vfs(tmp_path: Path) -> VirtualFileSystem:
    """A reader machine after the migration: the logical root /detector IS the archive."""
    return VirtualFileSystem(
        {"detector": {"class": "LocalFile", "root": str(tmp_path / "archive")}}
    )


def test_copy_verify_and_read_back_through_the_mapping(
    vfs: VirtualFileSystem, tmp_path: Path
) -> None:
    docs = mixed_run(vfs)
    report = migrate_run(docs, "/detector", "/archive", vfs)
    assert report.ok and report.counts() == {"copied": 4}
    assert all(f.sha256 and not f.deleted for f in report.files)
    h5 = "ad_hdf5/2026/11/21/scan_000000.h5"
    assert vfs.read_bytes(f"/archive/{h5}") == vfs.read_bytes(f"/detector/{h5}")
    assert report.mapping["vfs"] == {
        "roots": {"detector": {"class": "LocalFile", "root": str(tmp_path / "archive")}}
    }
    assert report.mapping["root_map"] == {"/detector": str(tmp_path / "archive")}
    # The unchanged documents resolve on a reader whose /detector is the archive.
    reader = reader_vfs(tmp_path)
    assert check_run(docs, reader).complete
    images = fill(handler_registry(reader), docs[: len(docs) - 5])
    np.testing.assert_array_equal(np.concatenate(images), frames(4))


def test_rerun_is_idempotent_and_delete_source_after_verification(
    vfs: VirtualFileSystem, tmp_path: Path
) -> None:
    docs = mixed_run(vfs)
    migrate_run(docs, "detector", "archive", vfs)
    archived = vfs.local_path("/archive/stream/2026/scan_000000.tiff")
    before = os.stat(archived).st_mtime_ns
    again = migrate_run(docs, "/detector", "/archive", vfs, delete_source=True)
    assert again.ok and again.counts() == {"identical": 4}
    assert os.stat(archived).st_mtime_ns == before  # not copied again
    assert all(f.deleted for f in again.files)
    assert not vfs.exists("/detector/stream/2026/scan_000000.tiff")
    third = migrate_run(docs, "/detector", "/archive", vfs, delete_source=True)
    assert third.ok and third.counts() == {"already-moved": 4}
    assert check_run(docs, reader_vfs(tmp_path)).complete


def test_missing_source_is_reported_and_nothing_deleted(vfs: VirtualFileSystem) -> None:
    docs = mixed_run(vfs)
    vfs.remove("/detector/stream/2026/scan_000001.tiff")
    report = migrate_run(docs, "/detector", "/archive", vfs, delete_source=True)
    assert not report.ok and report.counts() == {"copied": 3, "missing": 1}
    (bad,) = report.failed
    assert bad.source.endswith("scan_000001.tiff") and "nothing deleted" in bad.problem
    assert not any(f.deleted for f in report.files)
    assert vfs.exists("/detector/ad_hdf5/2026/11/21/scan_000000.h5")
    assert "1 NOT migrated" in report.summary()


class CorruptingVFS(VirtualFileSystem):
    """A VFS whose copies arrive damaged (a flaky link or disk)."""

    def copy(self, src: Any, dst: Any, **kwargs: Any) -> None:
        super().copy(src, dst, **kwargs)
        data = bytearray(self.read_bytes(dst))
        data[len(data) // 2] ^= 0xFF
        self.write_bytes(dst, bytes(data))


def test_checksum_mismatch_removes_destination_keeps_source(tmp_path: Path) -> None:
    good = make_vfs(tmp_path)
    docs = resource_run(good, "AD_HDF5", 3, 3)
    bad = CorruptingVFS(dict(good.roots))
    report = migrate_run(docs, "/detector", "/archive", bad, delete_source=True)
    (item,) = report.files
    assert item.status == "mismatch" and not report.ok
    assert "removed it, kept the source" in item.problem
    assert not good.exists(item.destination) and good.exists(item.source)


def test_conflicting_destination_is_kept_unless_overwrite(vfs: VirtualFileSystem) -> None:
    docs = resource_run(vfs, "AD_HDF5", 2, 2)
    target = "/archive/ad_hdf5/2026/11/21/scan_000000.h5"
    vfs.write_bytes(target, b"another file")
    report = migrate_run(docs, "/detector", "/archive", vfs, delete_source=True)
    assert report.files[0].status == "conflict" and vfs.read_bytes(target) == b"another file"
    assert vfs.exists(report.files[0].source)
    report = migrate_run(docs, "/detector", "/archive", vfs, overwrite=True)
    assert report.ok and vfs.read_bytes(target) != b"another file"


def test_bad_roots(vfs: VirtualFileSystem, tmp_path: Path) -> None:
    docs = resource_run(vfs, "AD_HDF5", 1, 1)
    with pytest.raises(UnknownRootError, match="configured roots: .*/archive"):
        migrate_run(docs, "/detector", "/tape", vfs)
    with pytest.raises(UnknownRootError, match="'/nope'"):
        migrate_run(docs, "/nope", "/archive", vfs)
    with pytest.raises(ValueError, match="same root"):
        migrate_run(docs, "/detector", "/detector", vfs)
    vfs.add_root("vault", {"class": "LocalFile", "root": str(tmp_path), "read_only": True})
    with pytest.raises(ReadOnlyRootError):
        migrate_run(docs, "/detector", "/vault", vfs)


def test_delete_source_refused_on_a_read_only_source(tmp_path: Path) -> None:
    vfs = make_vfs(tmp_path)
    docs = resource_run(vfs, "AD_HDF5", 1, 1)
    vfs.add_root(
        "detector", {"class": "LocalFile", "root": str(tmp_path / "detector"), "read_only": True}
    )
    with pytest.raises(ReadOnlyRootError, match="--delete-source"):
        migrate_run(docs, "/detector", "/archive", vfs, delete_source=True)
    assert migrate_run(docs, "/detector", "/archive", vfs).ok  # copying is fine


def test_references_elsewhere_are_skipped(vfs: VirtualFileSystem) -> None:
    docs = resource_run(vfs, "AD_HDF5", 1, 1, root="/archive")
    report = migrate_run(docs, "/detector", "/archive", vfs)
    assert report.ok and report.files == [] and "not on /detector" in report.skipped[0]


def test_progress_in_bytes(vfs: VirtualFileSystem) -> None:
    docs = mixed_run(vfs)
    calls: list[tuple[int, int | None]] = []
    migrate_run(docs, "/detector", "/archive", vfs, progress=lambda d, t, n: calls.append((d, t)))
    total = calls[-1][1]
    assert total and calls[-1][0] == total


def test_mapping_from_the_config_file_hides_secrets(tmp_path: Path) -> None:
    config = tmp_path / "vfs.yaml"
    config.write_text(
        "vfs:\n  roots:\n"
        f"    detector: {{class: LocalFile, root: '{tmp_path / 'det'}', writer_root: 'D:\\data'}}\n"
        f"    archive:\n      class: LocalFile\n      root: '{tmp_path / 'arc'}'\n"
        "      writer_root: /ioc/arc\n"
    )
    (tmp_path / "det").mkdir()
    (tmp_path / "arc").mkdir()
    vfs = VirtualFileSystem.from_yaml(config)
    from filestore_vfs.check import reader_mapping
    from filestore_vfs.check._migrate import _redacted

    mapping = reader_mapping(vfs, "detector", "archive", config)
    assert mapping["vfs"]["roots"]["detector"] == {
        "class": "LocalFile",
        "root": str(tmp_path / "arc"),
    }
    assert mapping["config"] == str(config)
    assert _redacted("secret_access_key", "abc") == "***"
    assert _redacted("password", "${SFTP_PASSWORD}") == "${SFTP_PASSWORD}"
    assert _redacted("options", {"token": "t", "host": "h"}) == {"token": "***", "host": "h"}
