"""The issue's example: ``/detector`` → ``/archive`` on S3 (moto), then read from S3."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml

from filestore_vfs import VirtualFileSystem
from filestore_vfs.check import check_run, migrate_run
from tests.servers import S3Server

from .runs import TIFF_MIMETYPE, resource_run, stream_run, write_stream_files

pytestmark = pytest.mark.server


def test_migrate_to_s3_and_check_from_s3(s3_server: S3Server, tmp_path: Path) -> None:
    archive = {
        "class": "S3File",
        "bucket": s3_server.bucket,
        "prefix": f"archive-{uuid.uuid4().hex[:8]}",
        "endpoint_url": s3_server.endpoint_url,
        "region": s3_server.region,
        "key": s3_server.access_key,
        "secret": s3_server.secret_key,
        "timeout": 5,
        "retries": 1,
    }
    (tmp_path / "detector").mkdir()
    config = tmp_path / "vfs.yaml"
    detector = {"class": "LocalFile", "root": str(tmp_path / "detector"), "writer_root": "D:\\a"}
    config.write_text(
        yaml.safe_dump({"vfs": {"roots": {"detector": detector, "archive": archive}}})
    )
    vfs = VirtualFileSystem.from_yaml(config)
    uri = write_stream_files(vfs, TIFF_MIMETYPE, "/detector/stream", 3)
    docs = resource_run(vfs, "AD_HDF5", 4, 4) + stream_run(uri, TIFF_MIMETYPE, [(0, 3)])

    report = migrate_run(docs, "/detector", "/archive", vfs, config_source=config)
    assert report.ok and report.counts() == {"copied": 4}
    again = migrate_run(docs, "/detector", "/archive", vfs, config_source=config)
    assert again.counts() == {"identical": 4}

    spec = report.mapping["vfs"]["roots"]["detector"]
    assert spec["class"] == "S3File" and spec["bucket"] == s3_server.bucket
    assert spec["key"] == spec["secret"] == "***" and "writer_root" not in spec
    assert s3_server.secret_key not in str(report.as_dict())
    assert report.mapping["root_map"]["/detector"].startswith("s3://")

    # A reader whose /detector is the archive (secrets filled in from its own environment).
    reader = VirtualFileSystem(
        {"detector": {**spec, "key": archive["key"], "secret": archive["secret"]}}
    )
    result = check_run(docs, reader)
    assert result.complete and result.present == 7
    assert all(row.location and "s3://" in row.location for row in result.resources)
