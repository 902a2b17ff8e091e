"""``S3File`` on moto's S3 server: the shared suite, then S3's own bad inputs."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from filestore_vfs import FileBusyError, VirtualFileSystem
from tests.servers import S3Server

from .suite import Backend, BackendSuite

pytestmark = pytest.mark.server
MiB = 1 << 20


def spec(server: S3Server, **extra: Any) -> dict[str, Any]:
    """An ``S3File`` root on ``server``; fast failures so bad-input tests stay quick."""
    return {
        "class": "S3File",
        "bucket": server.bucket,
        "endpoint_url": server.endpoint_url,
        "region": server.region,
        "key": server.access_key,
        "secret": server.secret_key,
        "timeout": 5,
        "retries": 1,
        **extra,
    }


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


class TestS3File(BackendSuite):
    @pytest.fixture
    def backend(self, s3_server: S3Server, prefix: str) -> Backend:
        rw = VirtualFileSystem({"s3": spec(s3_server, prefix=prefix)})
        ro = VirtualFileSystem({"s3": spec(s3_server, prefix=prefix, read_only=True)})
        # large=False: 256 MiB through moto takes minutes (moto reads the whole object
        # for every ranged GET); the benchmark moves 512 MiB through S3File instead.
        return Backend(rw, "/s3/suite", read_only=ro, empty_dirs=False, large=False)


@pytest.fixture
def vfs(s3_server: S3Server, prefix: str) -> VirtualFileSystem:
    return VirtualFileSystem({"s3": spec(s3_server, prefix=prefix)})


def _keys(server: S3Server, prefix: str) -> list[str]:
    listing = server.client().list_objects_v2(Bucket=server.bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def _uploads(server: S3Server, prefix: str) -> list[str]:
    listing = server.client().list_multipart_uploads(Bucket=server.bucket, Prefix=prefix)
    return [u["Key"] for u in listing.get("Uploads", [])]


# -- writes go straight to the key ------------------------------------------------------------
def test_write_goes_straight_to_the_key(
    vfs: VirtualFileSystem, s3_server: S3Server, prefix: str
) -> None:
    vfs.write_bytes("/s3/a/b.bin", b"x" * 10)
    assert _keys(s3_server, prefix) == [f"{prefix}/a/b.bin"]  # no temporary, no copy
    assert (
        s3_server.client()
        .get_object(Bucket=s3_server.bucket, Key=f"{prefix}/a/b.bin")["Body"]
        .read()
        == b"x" * 10
    )


def test_aborted_multipart_upload_keeps_old_object(s3_server: S3Server, prefix: str) -> None:
    vfs = VirtualFileSystem({"s3": spec(s3_server, prefix=prefix, part_size=5 * MiB)})
    vfs.write_bytes("/s3/big.bin", b"old")
    with pytest.raises(RuntimeError):
        with vfs.open("/s3/big.bin", "wb") as f:
            f.write(os.urandom(12 * MiB))  # parts are on the server already
            assert _uploads(s3_server, prefix) == [f"{prefix}/big.bin"]
            raise RuntimeError("detector died")
    assert vfs.read_bytes("/s3/big.bin") == b"old"
    assert _uploads(s3_server, prefix) == []  # the multipart upload was aborted
    assert _keys(s3_server, prefix) == [f"{prefix}/big.bin"]


def test_dropped_writer_is_discarded_not_committed(
    vfs: VirtualFileSystem, s3_server: S3Server, prefix: str
) -> None:
    vfs.write_bytes("/s3/drop.bin", b"old")
    f = vfs.open("/s3/drop.bin", "wb")
    f.write(b"never closed")
    with pytest.warns(ResourceWarning):
        del f
        import gc

        gc.collect()
    assert vfs.read_bytes("/s3/drop.bin") == b"old"


def test_large_write_is_multipart_and_reads_back(vfs: VirtualFileSystem) -> None:
    data = os.urandom(20 * MiB + 3)
    vfs.write_bytes("/s3/mp.bin", data)
    assert vfs.read_bytes("/s3/mp.bin") == data
    with vfs.open("/s3/mp.bin", "a" + "b") as f:
        f.write(b"tail")
    assert vfs.info("/s3/mp.bin")["size"] == len(data) + 4


# -- exclusive create: If-None-Match ------------------------------------------------------------
def test_exclusive_create_is_conditional_across_processes(
    vfs: VirtualFileSystem, s3_server: S3Server, prefix: str
) -> None:
    """Another process creates the key between our open('xb') and our close: we lose."""
    with vfs.open("/s3/once.bin", "xb") as f:
        f.write(b"ours")
        s3_server.client().put_object(
            Bucket=s3_server.bucket, Key=f"{prefix}/once.bin", Body=b"theirs"
        )
        with pytest.raises(FileExistsError, match="once.bin"):
            f.close()
    assert vfs.read_bytes("/s3/once.bin") == b"theirs"
    assert _uploads(s3_server, prefix) == []


def test_exclusive_create_large_and_empty(
    vfs: VirtualFileSystem, s3_server: S3Server, prefix: str
) -> None:
    for name, data in (("big", os.urandom(6 * MiB)), ("empty", b"")):
        f = vfs.open(f"/s3/{name}", "xb")
        f.write(data)
        s3_server.client().put_object(Bucket=s3_server.bucket, Key=f"{prefix}/{name}", Body=b"1")
        with pytest.raises(FileExistsError):
            f.close()
        assert vfs.read_bytes(f"/s3/{name}") == b"1"
    assert _uploads(s3_server, prefix) == []
    with vfs.open("/s3/fresh-empty", "xb"):
        pass
    assert vfs.read_bytes("/s3/fresh-empty") == b""


def test_second_writer_in_process_is_busy(vfs: VirtualFileSystem) -> None:
    with vfs.open("/s3/w.bin", "wb"):
        with pytest.raises(FileBusyError):
            vfs.open("/s3/w.bin", "wb")
