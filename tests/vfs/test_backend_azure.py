"""``AzureBlobFile`` on Azurite: the shared suite, leases, bad inputs."""

from __future__ import annotations

import base64
import datetime
import os
import time
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import (
    BlobLeaseClient,
    BlobServiceClient,
    ContainerSasPermissions,
    generate_container_sas,
)

from filestore_vfs import FileBusyError, VirtualFileSystem
from filestore_vfs.vfs.backends.azure import BlobLease
from tests.servers import AzuriteServer

from .helpers import azure_spec as spec
from .helpers import check_server_hangs_then_dies, free_port, writer_in_other_process
from .suite import BackendSuite, MiB, check_copy_through_root, check_disk_full_download

pytestmark = pytest.mark.server
BACKEND = "azure"  # the fixtures of conftest.py: backend, prefix, vfs on /az


class TestAzureBlobFile(BackendSuite):
    """The shared suite on Azurite (its ``backend`` fixture: conftest.py)."""


def _container(server: AzuriteServer) -> Any:
    return BlobServiceClient.from_connection_string(server.connection_string).get_container_client(
        server.container
    )


def _blobs(server: AzuriteServer, prefix: str) -> list[str]:
    return sorted(b.name for b in _container(server).list_blobs(name_starts_with=prefix + "/"))


# -- atomic block-list commits --------------------------------------------------------------
def test_write_goes_straight_to_the_blob_and_abort_commits_nothing(
    azurite_server: AzuriteServer, prefix: str
) -> None:
    vfs = VirtualFileSystem({"az": spec(azurite_server, prefix=prefix, part_size=MiB)})
    vfs.write_bytes("/az/a/b.bin", b"old")
    assert _blobs(azurite_server, prefix) == [f"{prefix}/a/b.bin"]  # no temporary, no copy
    with pytest.raises(RuntimeError):
        with vfs.open("/az/a/b.bin", "wb") as f:
            f.write(os.urandom(3 * MiB))  # blocks are staged on the server already
            raise RuntimeError("detector died")
    assert vfs.read_bytes("/az/a/b.bin") == b"old"
    assert _blobs(azurite_server, prefix) == [f"{prefix}/a/b.bin"]


def test_append_is_atomic_and_keeps_a_block_blob(
    vfs: VirtualFileSystem, azurite_server: AzuriteServer, prefix: str
) -> None:
    vfs.write_bytes("/az/log.txt", b"one\n")
    with vfs.open("/az/log.txt", "ab") as f:
        f.write(b"two\n")
        assert vfs.read_bytes("/az/log.txt") == b"one\n"  # not visible before close
    assert vfs.read_bytes("/az/log.txt") == b"one\ntwo\n"
    props = _container(azurite_server).get_blob_client(f"{prefix}/log.txt").get_blob_properties()
    assert props.blob_type == "BlockBlob"


def test_exclusive_create_is_conditional(
    vfs: VirtualFileSystem, azurite_server: AzuriteServer, prefix: str
) -> None:
    f = vfs.open("/az/once.bin", "xb")
    f.write(b"ours")
    _container(azurite_server).upload_blob(f"{prefix}/once.bin", b"theirs")
    with pytest.raises(FileExistsError):
        f.close()
    assert vfs.read_bytes("/az/once.bin") == b"theirs"


# -- the lease ------------------------------------------------------------------------------
def test_writer_in_another_process_is_refused_by_the_lease(
    azurite_server: AzuriteServer, prefix: str
) -> None:
    root = spec(azurite_server, prefix=prefix)
    vfs = VirtualFileSystem({"az": root})
    vfs.write_bytes("/az/locked.bin", b"old")
    with writer_in_other_process(root, "/az/locked.bin", root="az") as proc:
        with pytest.raises(FileBusyError, match="another process.*lease"):
            vfs.open("/az/locked.bin", "wb")
        assert vfs.read_bytes("/az/locked.bin") == b"old"
        assert vfs.ls("/az") == ["/az/locked.bin"]  # the marker blob is never listed
        proc.communicate("go\n", timeout=30)
        assert vfs.read_bytes("/az/locked.bin") == b"from the other process"
        vfs.write_bytes("/az/locked.bin", b"ours now")  # the marker went with the writer
        assert _blobs(azurite_server, prefix) == [f"{prefix}/locked.bin"]


def test_killed_writer_leaves_old_blob_and_a_lease_that_lapses(
    azurite_server: AzuriteServer, prefix: str
) -> None:
    root = spec(azurite_server, prefix=prefix)
    vfs = VirtualFileSystem({"az": root})
    vfs.write_bytes("/az/locked.bin", b"old")
    with writer_in_other_process(root, "/az/locked.bin", root="az") as proc:
        proc.kill()
        proc.wait()
    assert vfs.read_bytes("/az/locked.bin") == b"old"
    marker = _container(azurite_server).get_blob_client(f"{prefix}/.~vfs-lock-locked.bin")
    lease = marker.get_blob_properties().lease
    assert (lease.state, lease.duration) == ("leased", "fixed")  # 15 s, then free again


def test_lease_is_renewed_while_the_writer_is_open(
    azurite_server: AzuriteServer, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    renewals: list[float] = []
    original = BlobLease.acquire

    def fast(self: BlobLease) -> BlobLease:
        self.renew_every = 0.1
        out = original(self)
        renew = self._lease.renew
        self._lease.renew = lambda: renewals.append(time.monotonic()) or renew()
        return out

    monkeypatch.setattr(BlobLease, "acquire", fast)
    vfs = VirtualFileSystem({"az": spec(azurite_server, prefix=prefix)})
    with vfs.open("/az/r.bin", "wb") as f:
        f.write(b"x")
        time.sleep(0.5)
    count = len(renewals)
    assert count >= 3
    time.sleep(0.3)
    assert len(renewals) == count  # renewal stops with the writer


# -- bad inputs ------------------------------------------------------------------------------
WRONG_KEY = base64.b64encode(
    b"not the azurite key at all, 64 bytes long..................."
).decode()


def test_wrong_key_is_permission_error_without_the_key(azurite_server: AzuriteServer) -> None:
    vfs = VirtualFileSystem({"az": spec(azurite_server, account_key=WRONG_KEY)})
    for action in (lambda: vfs.read_bytes("/az/x"), lambda: vfs.write_bytes("/az/x", b"1")):
        with pytest.raises(PermissionError) as info:
            action()
        text = f"{info.value} {info.value!r} {info.value.__cause__!r}"
        assert WRONG_KEY not in text and azurite_server.account_key not in text
        assert "/az/x" in text
    conn = VirtualFileSystem(
        {
            "az": {
                "class": "AzureBlobFile",
                "connection_string": azurite_server.connection_string,
                "container": azurite_server.container,
            }
        }
    )
    assert azurite_server.account_key not in repr(conn.roots["az"]) + conn.resolve("/az/a").url


def test_read_only_sas_write_is_403_and_nothing_lands(
    azurite_server: AzuriteServer, prefix: str
) -> None:
    VirtualFileSystem({"az": spec(azurite_server, prefix=prefix)}).write_bytes("/az/kept", b"k")
    sas = generate_container_sas(
        azurite_server.account_name,
        azurite_server.container,
        account_key=azurite_server.account_key,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
    )
    root = spec(azurite_server, prefix=prefix, sas_token=sas)
    del root["account_key"]
    vfs = VirtualFileSystem({"az": root})
    assert vfs.read_bytes("/az/kept") == b"k"
    with pytest.raises(PermissionError) as info:
        vfs.write_bytes("/az/new", b"x")
    assert "/az/new" in str(info.value) and "sig=" not in str(info.value)
    assert sas not in f"{info.value} {info.value!r}"
    assert _blobs(azurite_server, prefix) == [f"{prefix}/kept"]


def test_missing_container_is_named(azurite_server: AzuriteServer) -> None:
    vfs = VirtualFileSystem({"az": spec(azurite_server, container="no-such-container")})
    for action in (
        lambda: vfs.read_bytes("/az/x.h5"),
        lambda: vfs.ls("/az"),
        lambda: vfs.write_bytes("/az/x.h5", b"1"),
    ):
        with pytest.raises(FileNotFoundError, match="container 'no-such-container' does not"):
            action()


def test_server_down_at_open_is_connection_error_naming_the_root() -> None:
    port = free_port()
    root = {
        "class": "AzureBlobFile",
        "account_name": "devstoreaccount1",
        "account_key": WRONG_KEY,
        "blob_endpoint": f"http://127.0.0.1:{port}/devstoreaccount1",
        "container": "c",
        "retries": 0,
        "timeout": 2,
    }
    vfs = VirtualFileSystem({"az": root})
    start = time.monotonic()
    for action in (lambda: vfs.read_bytes("/az/x"), lambda: vfs.write_bytes("/az/x", b"1")):
        with pytest.raises(ConnectionError) as info:
            action()
        assert f"127.0.0.1:{port}" in str(info.value) and "/az" in str(info.value)
        assert WRONG_KEY not in f"{info.value} {info.value!r}"
    assert time.monotonic() - start < 10


def test_server_hanging_then_dying_mid_transfer(tmp_path: Path) -> None:
    """One Azurite of our own: SIGSTOP during an upload (a timeout), SIGKILL during a
    download (a dropped link). Each: a clear error, the old data intact, nothing partial."""
    check_server_hangs_then_dies(
        "azure", "/az/big.bin", tmp_path, upload=24 * MiB, existing=40 * MiB, part_size=MiB
    )


def test_disk_full_on_download_leaves_nothing(vfs: VirtualFileSystem, tmp_path: Path) -> None:
    check_disk_full_download(vfs, "/az/big.bin", tmp_path)


def test_spaces_unicode_and_zero_bytes(
    vfs: VirtualFileSystem, azurite_server: AzuriteServer, prefix: str
) -> None:
    vfs.write_bytes("/az/scan 1/ünï 日本.h5", b"u")
    vfs.write_bytes("/az/zero", b"")
    assert _blobs(azurite_server, prefix) == [f"{prefix}/scan 1/ünï 日本.h5", f"{prefix}/zero"]
    assert vfs.info("/az/zero")["size"] == 0 and vfs.read_bytes("/az/zero") == b""


def test_copies_to_and_from_azure_stream_with_progress(vfs: VirtualFileSystem) -> None:
    check_copy_through_root(vfs, "/az")


def test_writer_whose_lease_was_lost_does_not_commit(
    vfs: VirtualFileSystem, azurite_server: AzuriteServer, prefix: str
) -> None:
    vfs.write_bytes("/az/l.bin", b"old")
    f = vfs.open("/az/l.bin", "wb")
    f.write(b"new")
    marker = _container(azurite_server).get_blob_client(f"{prefix}/.~vfs-lock-l.bin")
    BlobLeaseClient(marker).break_lease(lease_break_period=0)  # as if it had lapsed
    with pytest.raises(FileBusyError, match="lost its lease"):
        f.close()
    assert vfs.read_bytes("/az/l.bin") == b"old"


def test_two_vfs_objects_on_one_container_share_the_writer_lock(
    azurite_server: AzuriteServer, prefix: str
) -> None:
    one = VirtualFileSystem({"az": spec(azurite_server, prefix=prefix)})
    two = VirtualFileSystem({"other": spec(azurite_server, prefix=prefix)})
    with one.open("/az/same.bin", "wb"):
        with pytest.raises(FileBusyError, match="in this process"):
            two.open("/other/same.bin", "wb")
