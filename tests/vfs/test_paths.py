"""Logical paths and writer paths: the rules, and the exact round trip (property-based)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from filestore_vfs import (
    InvalidPathError,
    PathEscapeError,
    UnknownRootError,
    VirtualFileSystem,
    split_logical,
)

# Characters a Windows IOC can store unchanged (no reserved ones, no controls).
_SAFE = st.characters(
    codec="utf-8", exclude_characters='<>:"|?*/\\', exclude_categories=("Cc", "Cs", "Zl", "Zp")
)
_component = (
    st.text(_SAFE, min_size=1, max_size=12)
    .filter(lambda s: s not in (".", "..") and not s.endswith((".", " ")))
    .filter(lambda s: s.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT1"})
)
_rel = st.lists(_component, min_size=1, max_size=6).map("/".join)


@pytest.mark.parametrize(
    ("path", "root", "rel"),
    [
        ("/local/a/b.h5", "local", "a/b.h5"),
        ("/local", "local", ""),
        ("/local/", "local", ""),
        ("/local/dir/", "local", "dir"),
        ("vfs://detector/2026/x.h5", "detector", "2026/x.h5"),
        ("/d/file..h5", "d", "file..h5"),  # '..' inside a name is just a name (pyobs refuses it)
    ],
)
def test_split(path: str, root: str, rel: str) -> None:
    assert split_logical(path) == (root, rel)


@pytest.mark.parametrize(
    "path",
    [
        "/local/../etc/passwd",
        "/local/a/../../x",
        "/local//etc",
        "/local/a\\..\\..\\x",
        "/local/./x",
        "/local/a\x00",
        "//local/x",
    ],
)
def test_escapes_refused(path: str) -> None:
    with pytest.raises(PathEscapeError):
        split_logical(path)


@pytest.mark.parametrize("path", ["local/x", "", "/", "x.h5", 3])
def test_not_logical(path: object) -> None:
    with pytest.raises(InvalidPathError, match="logical path"):
        split_logical(path)


def test_unknown_root_lists_configured_roots() -> None:
    vfs = VirtualFileSystem()
    with pytest.raises(UnknownRootError) as info:
        vfs.read_bytes("/detector/x.h5")
    message = str(info.value)
    assert "/detector" in message and "/local, /memory, /temp" in message
    assert isinstance(info.value, KeyError)


@given(_rel)
def test_split_accepts_every_normal_path(rel: str) -> None:
    assert split_logical(f"/r/{rel}") == ("r", rel)


# -- writer paths -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vfs() -> VirtualFileSystem:
    return VirtualFileSystem(
        {
            "detector": {"class": "MemoryFile", "writer_root": "D:\\assets"},
            "unc": {"class": "MemoryFile", "writer_root": "\\\\ioc01\\share\\data"},
            "nfs": {"class": "MemoryFile", "writer_root": "/ioc/mnt/data"},
            "nested": {"class": "MemoryFile", "writer_root": "/ioc/mnt/data/special"},
            "drive": {"class": "MemoryFile", "writer_root": "E:\\"},
        },
        defaults=False,
    )


def test_writer_path_examples(vfs: VirtualFileSystem) -> None:
    assert vfs.writer_path("/detector/a/b.h5") == "D:\\assets\\a\\b.h5"
    assert vfs.writer_path("/detector") == "D:\\assets"
    assert vfs.writer_path("/drive/x.tif") == "E:\\x.tif"
    assert vfs.writer_path("/unc/2026/x.h5") == "\\\\ioc01\\share\\data\\2026\\x.h5"
    assert vfs.writer_path("/nfs/a/b.h5") == "/ioc/mnt/data/a/b.h5"


@pytest.mark.parametrize(
    ("writer", "logical"),
    [
        ("d:\\ASSETS\\a\\b.h5", "/detector/a/b.h5"),  # Windows compares case-insensitively
        ("D:/assets/a/b.h5", "/detector/a/b.h5"),  # and accepts either separator
        ("D:\\assets\\\\a\\b.h5", "/detector/a/b.h5"),  # repeated separators are one
        ("D:\\assets\\a\\", "/detector/a"),
        ("//IOC01/share/data/x", "/unc/x"),
        ("/ioc/mnt/data/special/y", "/nested/y"),  # the longest writer root wins
        ("/ioc/mnt/data/y", "/nfs/y"),
    ],
)
def test_logical_path_examples(vfs: VirtualFileSystem, writer: str, logical: str) -> None:
    assert vfs.logical_path(writer) == logical


@pytest.mark.parametrize(
    "writer", ["/IOC/mnt/data/x", "C:\\assets\\x", "relative\\x", "/elsewhere"]
)
def test_unmappable_writer_path(vfs: VirtualFileSystem, writer: str) -> None:
    with pytest.raises(InvalidPathError, match="writer_root"):
        vfs.logical_path(writer)


def test_writer_path_escape_refused(vfs: VirtualFileSystem) -> None:
    with pytest.raises(PathEscapeError):
        vfs.logical_path("D:\\assets\\..\\windows\\system32")


@pytest.mark.parametrize("rel", ["a:b.h5", "con.txt", "x?.tif", "trailing.", "sp /x"])
def test_names_windows_cannot_store(vfs: VirtualFileSystem, rel: str) -> None:
    with pytest.raises(InvalidPathError, match="Windows"):
        vfs.writer_path(f"/detector/{rel}")


@given(_rel, st.sampled_from(["detector", "unc", "nfs", "drive"]))
def test_round_trip(rel: str, root: str) -> None:
    vfs = _VFS
    logical = f"/{root}/{rel}"
    assert vfs.logical_path(vfs.writer_path(logical)) == logical


@given(_rel)
def test_windows_spelling_variants_map_back(rel: str) -> None:
    writer = _VFS.writer_path(f"/detector/{rel}")
    variant = writer.replace("\\", "/").replace("D:", "d:").replace("assets", "ASSETS", 1)
    assert _VFS.logical_path(variant) == f"/detector/{rel}"


@given(_rel)
def test_posix_writer_is_case_sensitive(rel: str) -> None:
    assume(rel.upper() != rel)
    upper = "/IOC/MNT/DATA/" + rel
    with pytest.raises(InvalidPathError):
        _VFS.logical_path(upper)


_VFS = VirtualFileSystem(
    {
        "detector": {"class": "MemoryFile", "writer_root": "D:\\assets"},
        "unc": {"class": "MemoryFile", "writer_root": "\\\\ioc01\\share\\data"},
        "nfs": {"class": "MemoryFile", "writer_root": "/ioc/mnt/data"},
        "drive": {"class": "MemoryFile", "writer_root": "E:\\"},
    },
    defaults=False,
)
