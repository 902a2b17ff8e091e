"""``S3File`` on moto's S3 server: the shared suite, then S3's own bad inputs."""

from __future__ import annotations

import contextlib
import json
import os
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from botocore.exceptions import ClientError

from filestore_vfs import FileBusyError, VirtualFileSystem
from filestore_vfs.vfs.backends import s3 as _s3_root
from filestore_vfs.vfs.backends.s3 import S3Stream
from tests.servers import S3Server
from tests.servers._fixtures import own_server

from .helpers import assert_secret_hidden, check_server_hangs_then_dies, free_port
from .helpers import s3_spec as spec
from .suite import BackendSuite, MiB, check_copy_through_root, check_disk_full_download

pytestmark = pytest.mark.server
BACKEND = "s3"  # the fixtures of conftest.py: backend, prefix, vfs on /s3


class TestS3File(BackendSuite):
    """The shared suite on moto (its ``backend`` fixture: conftest.py)."""


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


def test_large_write_is_multipart_and_reads_back(s3_server: S3Server, prefix: str) -> None:
    vfs = VirtualFileSystem({"s3": spec(s3_server, prefix=prefix, part_size=5 * MiB)})
    data = os.urandom(11 * MiB + 3)
    vfs.write_bytes("/s3/mp.bin", data)
    assert vfs.read_bytes("/s3/mp.bin") == data
    with vfs.open("/s3/mp.bin", "a" + "b") as f:
        f.write(b"tail")
    assert vfs.info("/s3/mp.bin")["size"] == len(data) + 4


def test_parts_grow_so_an_upload_of_unknown_length_is_not_capped(
    s3_server: S3Server, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 allows 10,000 parts: small parts (low memory) double every PARTS_PER_SIZE parts."""
    monkeypatch.setattr(_s3_root, "PARTS_PER_SIZE", 2)
    vfs = VirtualFileSystem({"s3": spec(s3_server, prefix=prefix, part_size=5 * MiB)})
    data = os.urandom(51 * MiB)
    with vfs.open("/s3/growing.bin", "wb") as f:
        for start in range(0, len(data), MiB):
            f.write(data[start : start + MiB])
    client = s3_server.client()
    sizes = []
    for number in range(1, 7):
        head = client.head_object(
            Bucket=s3_server.bucket, Key=f"{prefix}/growing.bin", PartNumber=number
        )
        assert head["PartsCount"] == 6
        sizes.append(head["ContentLength"] // MiB)
    assert sizes == [5, 5, 10, 10, 20, 1]
    assert vfs.read_bytes("/s3/growing.bin") == data


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


# -- bad inputs ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def auth_server() -> Iterator[tuple[S3Server, dict[str, str], Any]]:
    """A moto server that checks credentials: a user allowed to read but not write, and an
    admin client to look at what really landed.

    moto checks signatures and IAM policies once ``INITIAL_NO_AUTH_ACTION_COUNT`` requests
    have been served; the first few set up the bucket and the users.
    """
    with contextlib.ExitStack() as stack:
        os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "10"
        try:
            server = stack.enter_context(own_server("s3", bucket="fsvfs-auth"))
        finally:
            del os.environ["INITIAL_NO_AUTH_ACTION_COUNT"]
        reader = _user(server, "reader", ["s3:Get*", "s3:List*"])
        admin = _user(server, "admin", ["s3:*"])
        server.client().put_object(Bucket=server.bucket, Key="ro/kept.bin", Body=b"kept")
        _use_up_unauthenticated_requests(server)
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint_url,
            region_name=server.region,
            aws_access_key_id=admin["key"],
            aws_secret_access_key=admin["secret"],
        )
        yield server, reader, client


def _user(server: S3Server, name: str, allow: list[str]) -> dict[str, str]:
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=server.endpoint_url,
        region_name=server.region,
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    statement = {"Effect": "Allow", "Action": allow, "Resource": "*"}
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def _use_up_unauthenticated_requests(server: S3Server) -> None:
    from botocore.exceptions import ClientError

    for _ in range(8):
        try:
            server.client().list_buckets()
        except ClientError:
            return
    raise AssertionError("moto does not check credentials")


def test_wrong_secret_is_permission_error_without_the_secret(auth_server: Any) -> None:
    server, creds, _ = auth_server
    wrong = "Wr0ngSecretValue-" + uuid.uuid4().hex
    vfs = VirtualFileSystem({"s3": spec(server, key=creds["key"], secret=wrong)})
    for action in (
        lambda: vfs.read_bytes("/s3/x"),
        lambda: vfs.ls("/s3"),
        lambda: vfs.write_bytes("/s3/x", b"1"),
    ):
        with pytest.raises(PermissionError) as info:
            action()
        assert_secret_hidden(info.value, wrong, creds["secret"])
        assert "/s3" in str(info.value)
    for text in (repr(vfs.roots["s3"]), vfs.resolve("/s3/x").url, repr(vfs)):
        assert wrong not in text and creds["key"] not in text


def test_unknown_access_key_is_permission_error(auth_server: Any) -> None:
    server, _, _ = auth_server
    vfs = VirtualFileSystem({"s3": spec(server, key="AKIANOSUCHKEY0000000", secret="s3cr3t-value")})
    with pytest.raises(PermissionError) as info:
        vfs.ls("/s3")
    assert_secret_hidden(info.value, "AKIANOSUCHKEY0000000", "s3cr3t-value")


def test_forbidden_write_is_permission_error_and_nothing_lands(
    auth_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, creds, admin = auth_server
    vfs = VirtualFileSystem({"s3": spec(server, prefix="ro", **creds)})
    # moto's signature check fails on any '/' in a query string ("prefix=ro/x/"), which
    # isdir's listing sends; real S3 accepts it. Skip that listing to reach the PUT.
    monkeypatch.setattr(vfs.roots["s3"], "isdir", lambda rel: rel == "")
    assert vfs.read_bytes("/s3/kept.bin") == b"kept"  # reading is allowed
    with pytest.raises(PermissionError, match="Access Denied.*/s3/denied.bin"):
        vfs.write_bytes("/s3/denied.bin", b"x" * 100)
    with pytest.raises(PermissionError, match="Access Denied"):  # multipart: refused too
        with vfs.open("/s3/denied-big.bin", "wb") as f:
            f.write(os.urandom(20 * MiB))
    for key in ("ro/denied.bin", "ro/denied-big.bin"):
        with pytest.raises(ClientError, match="404|Not Found"):
            admin.head_object(Bucket=server.bucket, Key=key)
    assert admin.list_multipart_uploads(Bucket=server.bucket).get("Uploads", []) == []
    assert admin.get_object(Bucket=server.bucket, Key="ro/kept.bin")["Body"].read() == b"kept"


def test_missing_bucket_is_named(s3_server: S3Server) -> None:
    vfs = VirtualFileSystem({"s3": spec(s3_server, bucket="no-such-bucket-here")})
    for action in (
        lambda: vfs.read_bytes("/s3/x.h5"),
        lambda: vfs.ls("/s3"),
        lambda: vfs.write_bytes("/s3/x.h5", b"1"),
        lambda: vfs.info("/s3/x.h5"),
    ):
        with pytest.raises(FileNotFoundError, match="bucket 'no-such-bucket-here' does not exist"):
            action()


def test_missing_key_is_file_not_found(vfs: VirtualFileSystem) -> None:
    with pytest.raises(FileNotFoundError) as info:
        vfs.read_bytes("/s3/nope/x.h5")
    assert info.value.filename == "/s3/nope/x.h5"
    assert "bucket" not in str(info.value)


def test_server_down_at_open_is_connection_error_naming_the_root() -> None:
    port = free_port()
    root = {
        "class": "S3File",
        "bucket": "b",
        "endpoint_url": f"http://127.0.0.1:{port}",
        "key": "k-down",
        "secret": "secret-of-the-down-server",
        "retries": 0,
        "timeout": 2,
    }
    vfs = VirtualFileSystem({"s3": root})
    start = time.monotonic()
    for action in (lambda: vfs.read_bytes("/s3/x"), lambda: vfs.write_bytes("/s3/x", b"1")):
        with pytest.raises(ConnectionError, match=f"root /s3.*|127.0.0.1:{port}") as info:
            action()
        assert f"127.0.0.1:{port}" in str(info.value) and "/s3" in str(info.value)
        assert_secret_hidden(info.value, "secret-of-the-down-server")
    assert time.monotonic() - start < 10


def test_server_hanging_then_dying_mid_transfer(tmp_path: Path) -> None:
    """One moto of our own: SIGSTOP during an upload (a timeout), SIGKILL during a download
    (a dropped link). Each: a clear error naming the path, the old data intact, nothing
    partial anywhere."""
    check_server_hangs_then_dies(
        "s3", "/s3/big.bin", tmp_path, upload=12 * MiB, existing=24 * MiB, part_size=5 * MiB
    )


def test_disk_full_on_download_leaves_nothing(vfs: VirtualFileSystem, tmp_path: Path) -> None:
    check_disk_full_download(vfs, "/s3/big.bin", tmp_path)


def test_spaces_and_unicode_are_kept_in_the_key(
    vfs: VirtualFileSystem, s3_server: S3Server, prefix: str
) -> None:
    vfs.write_bytes("/s3/scan 1/ünï 日本.h5", b"u")
    vfs.write_bytes("/s3/zero", b"")
    assert _keys(s3_server, prefix) == [f"{prefix}/scan 1/ünï 日本.h5", f"{prefix}/zero"]
    assert vfs.ls("/s3/scan 1") == ["/s3/scan 1/ünï 日本.h5"]
    assert vfs.info("/s3/zero")["size"] == 0 and vfs.read_bytes("/s3/zero") == b""


# -- cross-root copies with progress, streaming -------------------------------------------------
def test_copy_s3_to_temp_and_memory_to_s3_stream_with_progress(vfs: VirtualFileSystem) -> None:
    check_copy_through_root(vfs, "/s3", size=64 * MiB)


def test_dropped_link_mid_stream_resumes_where_it_stopped(
    vfs: VirtualFileSystem, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = os.urandom(10 * MiB)
    vfs.write_bytes("/s3/resume.bin", data)
    original = S3Stream.readinto
    opened: list[int] = []
    failed: list[bool] = []

    def flaky(self: S3Stream, buffer: Any) -> int:
        if self.tell() >= 4 * MiB and not failed:
            failed.append(True)
            raise aiohttp.ClientPayloadError("connection dropped mid-body")
        if self._body is None:
            opened.append(self.tell())
        return original(self, buffer)

    monkeypatch.setattr(S3Stream, "readinto", flaky)
    out = vfs.get_file("/s3/resume.bin", tmp_path / "resume.bin")
    assert Path(out).read_bytes() == data
    assert opened == [0, 4 * MiB]  # the second GET started where the first one broke


def test_credentials_from_environment_and_default_chain(
    auth_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, creds, _ = auth_server
    # ${NAME} in the YAML
    monkeypatch.setenv("FSVFS_TEST_S3_KEY", creds["key"])
    monkeypatch.setenv("FSVFS_TEST_S3_SECRET", creds["secret"])
    yaml_text = f"""
    vfs:
      roots:
        s3:
          class: S3File
          bucket: {server.bucket}
          prefix: ro
          endpoint_url: {server.endpoint_url}
          region: {server.region}
          key: ${{FSVFS_TEST_S3_KEY}}
          secret: ${{FSVFS_TEST_S3_SECRET}}
    """
    vfs = VirtualFileSystem.from_yaml(textwrap.dedent(yaml_text))
    vfs.roots["s3"].isdir = lambda rel: rel == ""  # type: ignore[method-assign]  # see above
    assert vfs.read_bytes("/s3/kept.bin") == b"kept"
    assert creds["secret"] not in repr(vfs.roots["s3"])
    # no key/secret at all: botocore's default chain (here: the environment)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["secret"])
    chain = VirtualFileSystem(
        {"s3": {k: v for k, v in spec(server, prefix="ro").items() if k not in ("key", "secret")}}
    )
    chain.roots["s3"].isdir = lambda rel: rel == ""  # type: ignore[method-assign]
    assert chain.read_bytes("/s3/kept.bin") == b"kept"


def test_two_vfs_objects_on_one_bucket_share_the_writer_lock(
    s3_server: S3Server, prefix: str
) -> None:
    one = VirtualFileSystem({"s3": spec(s3_server, prefix=prefix)})
    two = VirtualFileSystem({"other": spec(s3_server, prefix=prefix, timeout=7)})
    with one.open("/s3/same.bin", "wb"):
        with pytest.raises(FileBusyError, match="in this process"):
            two.open("/other/same.bin", "wb")
