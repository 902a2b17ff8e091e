"""Hostile or broken names: each is refused with a clear error and nothing is written."""

from __future__ import annotations

import pytest

from filestore_vfs import InvalidPathError, PathEscapeError, VirtualFileSystem


@pytest.fixture
def vfs() -> VirtualFileSystem:
    return VirtualFileSystem({"d": {"class": "MemoryFile", "writer_root": "D:\\data"}})


@pytest.mark.parametrize("path", ["/memory/\udc80", "vfs://memory/a\udcff/b", "/local/x\ud800.h5"])
def test_lone_surrogate_is_an_invalid_path(vfs: VirtualFileSystem, path: str) -> None:
    with pytest.raises(InvalidPathError, match="lone surrogate"):
        vfs.write_bytes(path, b"x")
    with pytest.raises(InvalidPathError, match="lone surrogate"):
        vfs.exists(path)
    assert vfs.ls("/memory") == []


@pytest.mark.parametrize("writer", ["D:\\data\\a\x00b.h5", "D:\\data\\x\\\x00"])
def test_logical_path_refuses_a_nul_byte(vfs: VirtualFileSystem, writer: str) -> None:
    with pytest.raises(PathEscapeError, match="NUL"):
        vfs.logical_path(writer)


def test_logical_path_of_a_good_writer_path_is_unchanged(vfs: VirtualFileSystem) -> None:
    assert vfs.logical_path("d:/DATA/2026/x.h5") == "/d/2026/x.h5"


@pytest.mark.parametrize(
    ("connection_string", "endpoint"),
    [
        (
            "DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=c2VjcmV0LWtleQ==;"
            "EndpointSuffix=core.windows.net",
            "https://acct1.blob.core.windows.net",
        ),
        (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            "AccountKey=c2VjcmV0LWtleQ==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
            "http://127.0.0.1:10000/devstoreaccount1",
        ),
    ],
)
def test_azure_by_connection_string_names_its_account(
    connection_string: str, endpoint: str
) -> None:
    pytest.importorskip("adlfs")
    vfs = VirtualFileSystem(
        {"a": {"class": "AzureBlobFile", "container": "c", "connection_string": connection_string}}
    )
    root = vfs.roots["a"]
    assert root._account_url() == endpoint
    account = endpoint.rsplit("/", 1)[-1] if "127.0.0.1" in endpoint else "acct1"
    assert vfs.resolve("/a/x.h5").url == f"az://{account}/c/x.h5"
    assert "None" not in repr(root)
    assert "c2VjcmV0LWtleQ" not in repr(root) + vfs.resolve("/a/x.h5").url
