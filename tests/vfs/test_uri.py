"""One URI parser: the same table of URIs through ``logical_from_uri`` and through each
reader that uses it (handlers' ``locate``, tiled's ``resolve_uri``, ``check_run``), with
identical outcomes: the same logical or plain path, the same escapes refused, the same
unknown roots reported as :class:`UnknownRootError`. The readers pass the VFS's
``legacy_paths`` (here ``{tmp}``): a plain path they open must really be under it, so
``relative/x.h5``, ``C:\\data\\x.h5`` and ``{tmp}/../x.h5``, plain to the parser alone, are
escapes to every reader (tests/hostile/test_handler_paths.py has the full table).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from filestore_vfs import (
    InvalidPathError,
    PathEscapeError,
    UnknownRootError,
    VirtualFileSystem,
    logical_from_uri,
)

NOWHERE = "nowhere-filestore-vfs-test"  # a top-level directory no machine has

# uri -> outcome for a reader of plain paths (handlers, check): ("logical", path),
# ("plain", path), "escape" (PathEscapeError), "unknown" (UnknownRootError) or "invalid"
# (InvalidPathError, not an escape). ``{tmp}`` is a directory that exists here.
GOOD: dict[str, Any] = {
    "vfs://detector/2026/x.h5": ("logical", "/detector/2026/x.h5"),
    "vfs://remote/a/b.h5": ("logical", "/remote/a/b.h5"),
    "vfs://detector/dir/": ("logical", "/detector/dir"),
    "vfs://detector/dir//": ("logical", "/detector/dir"),
    "vfs://detector": ("logical", "/detector"),
    "vfs://detector/a%20b.h5": ("logical", "/detector/a%20b.h5"),  # not decoded
    "vfs://detector/100%.h5": ("logical", "/detector/100%.h5"),
    "vfs://detector/file..h5": ("logical", "/detector/file..h5"),
    "file://localhost/detector/x.h5": ("logical", "/detector/x.h5"),
    "file://LOCALHOST/detector/x.h5": ("logical", "/detector/x.h5"),
    "file:///detector/x.h5": ("logical", "/detector/x.h5"),
    "file:/detector/x.h5": ("logical", "/detector/x.h5"),
    "file://localhost/remote/d/": ("logical", "/remote/d"),
    "/detector/x.h5": ("logical", "/detector/x.h5"),
    "/detector/dir/": ("logical", "/detector/dir"),
    "file://localhost{tmp}/plain.h5": ("plain", "{tmp}/plain.h5"),
    "file://{tmp}/plain.h5": ("plain", "{tmp}/plain.h5"),  # {tmp} starts with '/'
    "file://{tmp}/x%20y.h5": ("plain", "{tmp}/x%20y.h5"),  # not decoded
    "{tmp}/plain.h5": ("plain", "{tmp}/plain.h5"),
    "relative/x.h5": ("plain", "relative/x.h5"),
    "C:\\data\\x.h5": ("plain", "C:\\data\\x.h5"),  # a legacy Windows path, unchanged
    "{tmp}/../x.h5": ("plain", "{tmp}/../x.h5"),  # a plain path is not ours to normalise
}
HOSTILE: dict[str, Any] = {
    "vfs://detector/../../etc/passwd": "escape",
    "vfs://detector/a/../../x.h5": "escape",
    "vfs://detector//x.h5": "escape",
    "vfs://detector/./x.h5": "escape",
    "vfs://detector/a\\..\\..\\x": "escape",
    "vfs://detector/a\x00.h5": "escape",
    "vfs://detector/%2e%2e/%2e%2e/etc/passwd": "escape",
    "vfs://detector/%2E%2E/x.h5": "escape",
    "vfs://detector/%2e/x.h5": "escape",
    "vfs://detector/%252e%252e/x.h5": "escape",  # encoded twice
    "vfs://detector/a%2f..%2f..%2fx": "escape",  # an encoded '/'
    "vfs://detector/a%5c..%5cx": "escape",  # an encoded backslash
    "vfs://detector/a%00.h5": "escape",
    "file://localhost/detector/../../../etc/passwd": "escape",
    "file:///detector/%2e%2e/etc/passwd": "escape",
    "file://localhost{tmp}/../etc/passwd": "escape",
    "file://localhost{tmp}/./x.h5": "escape",
    "file://localhost{tmp}/%2e%2e/etc/passwd": "escape",
    "file://localhost{tmp}/a\\..\\x": "escape",
    "file://localhost{tmp}/a\x00": "escape",
    "/detector/../etc/passwd": "escape",
    "/detector/%2e%2e/etc/passwd": "escape",
    "/detector//x.h5": "escape",
    "//detector/x.h5": "escape",
    "vfs://%2e%2e/x.h5": "escape",
}
UNKNOWN: dict[str, Any] = {
    "vfs://nowhere/x.h5": "unknown",
    "vfs://Detector/x.h5": "unknown",  # root names are case-sensitive
    f"file://localhost/{NOWHERE}/x.h5": "unknown",
    f"file:///{NOWHERE}/x.h5": "unknown",
    f"/{NOWHERE}/x.h5": "unknown",
}
INVALID: dict[str, Any] = {
    "file://elsewhere/detector/x.h5": "invalid",  # another machine's file
    "http://127.0.0.1/detector/x.h5": "invalid",
    "s3://bucket/detector/x.h5": "invalid",
    "file:detector/x.h5": "invalid",  # a file: URI needs an absolute path
    "vfs://": "invalid",
}
TABLE = {**GOOD, **HOSTILE, **UNKNOWN, **INVALID}


@pytest.fixture
def vfs(tmp_path: Path) -> VirtualFileSystem:
    return VirtualFileSystem(
        {
            "detector": {"class": "LocalFile", "root": str(tmp_path / "det")},
            "remote": {"class": "MemoryFile"},  # no local directory
        },
        defaults=False,
        legacy_paths=[tmp_path],
    )


def _reader(uri: str, vfs: VirtualFileSystem, **options: Any) -> Any:
    """The core's outcome with the options every reader passes (its ``legacy_paths``)."""
    return _core(uri, vfs, legacy_paths=vfs.legacy_paths, **options)


def _fill(value: Any, tmp: Path) -> Any:
    if isinstance(value, tuple):
        return (value[0], value[1].replace("{tmp}", str(tmp)))
    return value


def _core(uri: str, vfs: VirtualFileSystem, **options: Any) -> Any:
    try:
        target = logical_from_uri(uri, vfs.roots, **options)
    except UnknownRootError:
        return "unknown"
    except PathEscapeError:
        return "escape"
    except InvalidPathError:
        return "invalid"
    if target.logical is not None:
        assert target.plain is None
        return ("logical", str(target.logical))
    assert target.plain is not None
    return ("plain", target.plain)


def _handlers(uri: str, vfs: VirtualFileSystem) -> Any:
    from filestore_vfs.handlers import MissingFileError, locate

    try:
        location = locate(uri, vfs)
    except UnknownRootError as exc:
        assert isinstance(exc, MissingFileError)  # as handlers raised before, not retried
        assert not isinstance(exc, OSError)
        return "unknown"
    except PathEscapeError as exc:
        assert isinstance(exc, InvalidPathError) and "refused" in str(exc)  # as before
        return "escape"
    except InvalidPathError:
        return "invalid"
    if location.logical is not None:
        return ("logical", location.logical)
    return ("plain", location.local)


def _tiled(uri: str, vfs: VirtualFileSystem) -> Any:
    from filestore_vfs.tiled import RefusedRootError, RefusedURIError, resolve_uri

    try:
        target = resolve_uri(uri, vfs)
    except RefusedURIError as exc:
        assert exc.status_code == 403 and str(exc).startswith("refusing to serve")
        if isinstance(exc, UnknownRootError):
            assert isinstance(exc, RefusedRootError) and exc.root
            return "unknown"
        return "refused"  # an escape or an invalid URI: one 403 for both
    if target.logical is not None:
        return ("logical", target.logical)
    return ("plain", urlsplit(target.uri).path)


def _check(uri: str, vfs: VirtualFileSystem) -> Any:
    from filestore_vfs.check import check_run
    from tests.check.runs import HDF5_MIMETYPE, stream_run

    [row] = check_run(stream_run(uri, HDF5_MIMETYPE, [(0, 1)]), vfs).resources
    if row.status == "unknown-root":
        return "unknown"
    if row.status == "refused":
        return "refused"  # check reports escapes and invalid paths as one status
    assert row.location is not None, row
    return ("resolved", row.location)


def _as_check(uri: str, outcome: Any, vfs: VirtualFileSystem) -> Any:
    """What ``check`` shows for a core outcome: the location as handlers describe it."""
    if outcome in ("escape", "invalid"):
        return "refused"
    if outcome == "unknown":
        return outcome
    kind, path = outcome
    if kind == "plain":
        return ("resolved", repr(uri))
    resolved = vfs.resolve(path)
    return ("resolved", f"{path} (root /{resolved.root} on {resolved.url})")


def _as_tiled(uri: str, outcome: Any) -> Any:
    """What tiled gives for a core outcome: refusals are one 403; only URIs are served;
    plain ``file:`` URIs are served under ``legacy_paths`` (tiled's own ``readable_storage``
    check comes before, in the catalog)."""
    if outcome in ("escape", "invalid"):
        return "refused"
    if not uri.startswith(("vfs:", "file:")):
        return "refused"
    return outcome


@pytest.mark.parametrize(("uri", "expected"), TABLE.items(), ids=[repr(u) for u in TABLE])
def test_one_function(vfs: VirtualFileSystem, tmp_path: Path, uri: str, expected: Any) -> None:
    uri, expected = uri.replace("{tmp}", str(tmp_path)), _fill(expected, tmp_path)
    assert _core(uri, vfs, plain_top_check=True) == expected


@pytest.mark.parametrize("uri", TABLE, ids=[repr(u) for u in TABLE])
def test_handlers_agree(vfs: VirtualFileSystem, tmp_path: Path, uri: str) -> None:
    uri = uri.replace("{tmp}", str(tmp_path))
    assert _handlers(uri, vfs) == _reader(uri, vfs, plain_top_check=True)


@pytest.mark.parametrize("uri", TABLE, ids=[repr(u) for u in TABLE])
def test_tiled_agrees(vfs: VirtualFileSystem, tmp_path: Path, uri: str) -> None:
    pytest.importorskip("tiled")
    uri = uri.replace("{tmp}", str(tmp_path))
    core = _reader(uri, vfs, plain_paths=False)
    assert _tiled(uri, vfs) == _as_tiled(uri, core)
    if core != _reader(uri, vfs, plain_top_check=True) and uri.startswith("file:"):
        # the one difference: a plain file: URI whose top directory is not here is an
        # unknown root to a reader of plain paths, and outside legacy_paths to tiled
        assert core == "escape"


@pytest.mark.parametrize("uri", TABLE, ids=[repr(u) for u in TABLE])
def test_check_agrees(vfs: VirtualFileSystem, tmp_path: Path, uri: str) -> None:
    uri = uri.replace("{tmp}", str(tmp_path))
    assert _check(uri, vfs) == _as_check(uri, _reader(uri, vfs, plain_top_check=True), vfs)


def test_unknown_root_is_one_type_with_its_details(vfs: VirtualFileSystem) -> None:
    from filestore_vfs.handlers import UnknownRootFileError, locate
    from filestore_vfs.tiled import RefusedRootError, resolve_uri

    uri = "vfs://nowhere/x.h5"
    errors = []
    for call in (
        lambda: logical_from_uri(uri, vfs.roots),
        lambda: locate(uri, vfs),
        lambda: resolve_uri(uri, vfs),
        lambda: vfs.read_bytes(uri),
    ):
        with pytest.raises(UnknownRootError) as info:
            call()
        errors.append(info.value)
    assert [(e.root, e.known) for e in errors] == [("nowhere", ["detector", "remote"])] * 4
    assert isinstance(errors[1], UnknownRootFileError) and isinstance(errors[1], KeyError)
    assert isinstance(errors[2], RefusedRootError) and isinstance(errors[2], PermissionError)
    assert all(e.path == uri for e in errors[:3])
