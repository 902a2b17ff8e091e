"""Plain filesystem paths in documents: read only under the config's ``legacy_paths``.

A handler used to open any plain path a document named (the legacy fallback), so a hostile
or mistaken document read any local file the reader could. Now a plain path, or a plain
``file:`` URI, is read only when it is absolute, has no ``..`` and, symlinks resolved, lies
under a directory of ``legacy_paths`` (none by default); anything else is refused with a
``PathEscapeError`` (a ``PermissionError``) naming the path and the setting. Logical paths
and ``vfs://`` URLs are not affected.

The table of document paths runs through every handler (``AD_HDF5``, ``AD_HDF5_SINGLE``,
``AD_TIFF``) and, as ``file:`` URIs, through both tiled adapters; the files outside the
listed directory exist and hold readable frames, so a refusal is never a missing file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from filestore_vfs import ConfigError, PathEscapeError, VirtualFileSystem
from filestore_vfs.handlers import RefusedPathError, handler_registry
from tests.handlers.docs import frames, write_files

N = 3
SPECS = ["AD_HDF5", "AD_HDF5_SINGLE", "AD_TIFF"]
READ, LEGACY, ESCAPE = "read", "refused naming legacy_paths", "refused"

# name -> (document path with {L} = the listed directory, {T} = its parent, {d} = the
# spec's data directory; expected outcome). The reader's VFS lists {L} in legacy_paths
# (except where the row says "default") and has a LocalFile root /detector at {T}/det.
ROWS: dict[str, tuple[str, str]] = {
    "plain-inside": ("{L}/data/{d}", READ),
    "file-uri-inside": ("file://localhost{L}/data/{d}", READ),
    "file-uri-inside-no-host": ("file://{L}/data/{d}", READ),
    "double-slash-inside": ("{L}//data/{d}", READ),  # legacy templates join sloppily
    "symlink-inside-to-inside": ("{L}/alias/{d}", READ),
    "default-config-inside": ("default:{L}/data/{d}", LEGACY),
    "plain-outside": ("{T}/outside/{d}", LEGACY),
    "file-uri-outside": ("file://localhost{T}/outside/{d}", LEGACY),
    "sibling-with-same-prefix": ("{L}-sibling/{d}", LEGACY),
    "plain-path-into-a-root": ("{T}/det/{d}", LEGACY),
    "dotdot-leaving": ("{L}/data/../../outside/{d}", LEGACY),
    "dotdot-staying-inside": ("{L}/data/../data/{d}", LEGACY),
    "file-uri-dotdot-leaving": ("file://localhost{L}/data/../../outside/{d}", ESCAPE),
    "file-uri-encoded-dotdot": ("file://localhost{L}/data/%2e%2e/%2e%2e/outside/{d}", ESCAPE),
    "symlinked-dir-leading-out": ("{L}/out/{d}", LEGACY),
    "symlinked-files-leading-out": ("{L}/links/{d}", LEGACY),
    "file-uri-symlinked-dir-out": ("file://localhost{L}/out/{d}", LEGACY),
    "relative-resolving-inside": ("relative:legacy/data/{d}", LEGACY),
    "nul-byte": ("{L}/data/{d}\x00", ESCAPE),
    "vfs-url": ("vfs://detector/{d}", READ),
    "logical-path": ("/detector/{d}", READ),
    "file-uri-of-a-root": ("file://localhost/detector/{d}", READ),
    "vfs-url-default-config": ("default:vfs://detector/{d}", READ),
    "logical-dotdot": ("/detector/../outside/{d}", ESCAPE),
}


def _dirname(spec: str) -> str:
    return spec.lower()


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """{T}/legacy/data/<spec> (listed), {T}/outside/<spec> and {T}/legacy-sibling/<spec>
    (not listed, same frames), {T}/det/<spec> (the /detector root), and the symlinks:
    legacy/alias -> legacy/data, legacy/out -> outside, legacy/links/<spec>/<file> ->
    outside/<spec>/<file>."""
    top = Path(os.path.realpath(tmp_path))
    writer = VirtualFileSystem({"w": {"class": "LocalFile", "root": str(top)}}, defaults=False)
    for spec in SPECS:
        for where in ("legacy/data", "outside", "legacy-sibling", "det"):
            write_files(writer, spec, f"/w/{where}/{_dirname(spec)}", N)
        links = top / "legacy" / "links" / _dirname(spec)
        links.mkdir(parents=True)
        for f in (top / "outside" / _dirname(spec)).iterdir():
            os.symlink(f, links / f.name)
    os.symlink(top / "legacy" / "data", top / "legacy" / "alias")
    os.symlink(top / "outside", top / "legacy" / "out")
    return top


def _reader(top: Path, *, default: bool = False) -> VirtualFileSystem:
    return VirtualFileSystem(
        {"detector": {"class": "LocalFile", "root": str(top / "det")}},
        legacy_paths=None if default else [top / "legacy"],
    )


def _case(row: str, spec: str, top: Path) -> tuple[str, bool]:
    """The document path of ``row`` for ``spec`` and whether it uses the default config."""
    template, _ = ROWS[row]
    default = template.startswith("default:")
    template = template.removeprefix("default:").removeprefix("relative:")
    path = template.format(L=top / "legacy", T=top, d=_dirname(spec))
    if spec == "AD_HDF5":  # the data directory is the last one named: its file
        head, name, tail = path.rpartition(_dirname(spec))
        path = f"{head}{name}/scan_000000.h5{tail}"
    return path, default


def _fields(spec: str) -> dict[str, Any]:
    if spec == "AD_HDF5":
        return {"frame_per_point": 1}
    kind = "h5" if spec == "AD_HDF5_SINGLE" else "tiff"
    return {"template": f"%s%s_%6.6d.{kind}", "filename": "scan", "frame_per_point": 1}


def _read_with_handler(vfs: VirtualFileSystem, spec: str, path: str) -> np.ndarray:
    handler = handler_registry(vfs)[spec](path, **_fields(spec))
    try:
        return np.concatenate([handler(k) for k in range(N)])
    finally:
        handler.close()


def _assert_outcome(
    read: Callable[[], np.ndarray], expected: str, given: str, error: type[Exception]
) -> None:
    if expected == READ:
        np.testing.assert_array_equal(read(), frames(N))
        return
    with pytest.raises(error) as info:
        read()
    exc = info.value
    assert isinstance(exc, PathEscapeError) and isinstance(exc, PermissionError)
    if expected == LEGACY:
        assert "legacy_paths" in str(exc), str(exc)
    assert repr(given)[:-1] in str(exc), str(exc)  # the path (or, in a frame's URI, its start)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("row", ROWS)
def test_handlers(layout: Path, monkeypatch: pytest.MonkeyPatch, row: str, spec: str) -> None:
    monkeypatch.chdir(layout)  # the relative row resolves inside legacy/ from here
    path, default = _case(row, spec, layout)
    if ROWS[row][0].startswith("relative:"):
        path = os.path.relpath(path, layout)
    vfs = _reader(layout, default=default)
    _assert_outcome(
        lambda: _read_with_handler(vfs, spec, path), ROWS[row][1], path, RefusedPathError
    )


# -- the tiled adapters: the same rows as file: URIs -------------------------------------
TILED_ROWS = {
    row: value
    for row, value in ROWS.items()
    if not value[0].removeprefix("default:").startswith("relative:")
}
NODE = SimpleNamespace(metadata_={}, specs=[])


def _as_uri(path: str) -> str:
    if path.startswith(("file:", "vfs:")):
        return path
    if path.startswith("/detector/"):
        return "vfs:/" + path  # a logical path as the URI tiled stores
    return "file://localhost" + path


def _read_with_tiled(vfs: VirtualFileSystem, spec: str, uri: str) -> np.ndarray:
    from filestore_vfs.tiled import adapters_by_mimetype
    from tests.readback.helpers import data_source

    if spec == "AD_HDF5":
        mimetype, uris, params = "application/x-hdf5", [uri], {"dataset": "/entry/data/data"}
    else:
        mimetype, params = "multipart/related;type=image/tiff", {}
        uris = [f"{uri.rstrip('/')}/scan_{k:06d}.tiff" for k in range(N)]
    adapter = adapters_by_mimetype(vfs)[mimetype]
    return np.asarray(adapter.from_catalog(data_source(mimetype, uris, N), NODE, **params).read())


@pytest.mark.parametrize("spec", ["AD_HDF5", "AD_TIFF"])
@pytest.mark.parametrize("row", TILED_ROWS)
def test_tiled_adapters(layout: Path, row: str, spec: str) -> None:
    pytest.importorskip("tiled")
    from filestore_vfs.tiled import RefusedURIError

    path, default = _case(row, spec, layout)
    uri = _as_uri(path)
    vfs = _reader(layout, default=default)
    # in a file: URI a '..' or a NUL is refused as an escape before legacy_paths is asked
    expected = ESCAPE if ".." in path.split("/") or "\x00" in path else ROWS[row][1]
    _assert_outcome(lambda: _read_with_tiled(vfs, spec, uri), expected, uri, RefusedURIError)


@pytest.mark.parametrize("form", ["vfs://detector/hash/{f}#x", "file://localhost{L}/hash/{f}#x"])
def test_tiled_refuses_a_name_its_file_uri_would_cut(layout: Path, form: str) -> None:
    """``x.h5#y`` passes the checks as a file inside; tiled would open ``x.h5``, here a
    symlink leading out of the root: refused."""
    pytest.importorskip("tiled")
    from filestore_vfs.tiled import RefusedURIError

    f = "scan_000000.h5"
    for where in (layout / "det" / "hash", layout / "legacy" / "hash"):
        where.mkdir()
        shutil.copy(layout / "det" / "ad_hdf5" / f, where / f"{f}#x")
        os.symlink(layout / "outside" / "ad_hdf5" / f, where / f)
    uri = form.format(L=layout / "legacy", f=f)
    with pytest.raises(RefusedURIError, match="cannot carry") as info:
        _read_with_tiled(_reader(layout), "AD_HDF5", uri)
    assert info.value.status_code == 403


# -- filestore-vfs resolve shows whether a plain path is read ----------------------------
@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("{L}/data/ad_hdf5/scan_000000.h5", True),
        ("file://localhost{L}/data/ad_hdf5/scan_000000.h5", True),
        ("{T}/outside/ad_hdf5/scan_000000.h5", False),
        ("{L}/out/ad_hdf5/scan_000000.h5", False),
        ("{L}/data/../../outside/ad_hdf5/scan_000000.h5", False),
    ],
)
def test_resolve_shows_whether_a_plain_path_is_read(layout: Path, path: str, allowed: bool) -> None:
    exe = shutil.which("filestore-vfs")
    assert exe, "the filestore-vfs console script is not installed"
    config = layout / "vfs.yaml"
    config.write_text(
        f"legacy_paths: ['{layout / 'legacy'}']\n"
        f"roots:\n  detector: {{class: LocalFile, root: '{layout / 'det'}'}}\n"
    )
    path = path.format(L=layout / "legacy", T=layout)
    proc = subprocess.run(
        [exe, "resolve", "--json", "--config", str(config), path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["allowed"] is allowed and info["legacy_paths"] == [str(layout / "legacy")]
    if allowed:
        assert info["real_path"] == str(layout / "legacy/data/ad_hdf5/scan_000000.h5")
    else:
        assert info["real_path"] is None and "legacy_paths" in info["handlers"]


# -- the setting itself: typed, off by default -------------------------------------------
def test_off_by_default() -> None:
    assert VirtualFileSystem().legacy_paths == ()
    assert VirtualFileSystem.from_yaml("roots: {}").legacy_paths == ()


def test_from_yaml_with_env_and_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEGACY_DIR", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    vfs = VirtualFileSystem.from_yaml(
        "vfs:\n  legacy_paths: ['${LEGACY_DIR}/a', '~/b', /c/./d/]\n  roots: {}\n"
    )
    assert vfs.legacy_paths == (f"{tmp_path}/a", f"{tmp_path}/b", "/c/d")
    with pytest.raises(AttributeError):
        vfs.legacy_paths = ()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/just/one/string", "is not a list of absolute directory paths"),
        ("{a: b}", "is not a list of absolute directory paths"),
        ("[relative/dir]", "is relative"),
        ("[5]", "is not a directory path"),
        ("['']", "is not a directory path"),
        ("[null]", "is not a directory path"),
        ("true", "is not a list of absolute directory paths"),
    ],
)
def test_bad_values_are_config_errors(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        VirtualFileSystem.from_yaml(f"legacy_paths: {value}\nroots: {{}}\n")
    assert "legacy_paths" in str(info.value)


def test_unknown_top_level_keys_still_refused() -> None:
    with pytest.raises(ConfigError, match=r"legacy_path\b.*allowed: roots, defaults, legacy_paths"):
        VirtualFileSystem.from_yaml("legacy_path: [/x]\nroots: {}\n")
