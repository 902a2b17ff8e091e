"""Copies between two network roots (the issue's "SFTP → S3"), streamed, with progress.

A copy between roots of two servers goes through this process; it must stream (peak memory
growth far below the file), report progress during the transfer, land complete or not at
all, and ``progress=True`` must draw a tqdm bar, on ``VirtualFileSystem.copy`` and on the
``Storage`` facade alike.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filestore_vfs import VirtualFileSystem

from .helpers import NETWORK
from .suite import MiB, peak_rss, peak_rss_reset

pytestmark = pytest.mark.server

SIZE = 160 * MiB + 333  # well above the 64 MiB bound on memory growth
RSS_LIMIT = 64 * MiB

PAIRS = [("sftp", "s3"), ("smb", "azure"), ("http", "sftp"), ("s3", "smb")]


def _vfs(request: pytest.FixtureRequest, names: tuple[str, ...]) -> VirtualFileSystem:
    roots: dict[str, Any] = {}
    for name in names:
        kind = NETWORK[name]
        spec = {**kind.spec(request.getfixturevalue(kind.server)), "timeout": 30, "retries": 2}
        if kind.object_store:
            spec["prefix"] = f"cross-{uuid.uuid4().hex[:8]}"
        roots[name] = spec
    return VirtualFileSystem(roots)


@pytest.fixture(params=PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[VirtualFileSystem, str, str]]:
    source, target = request.param
    vfs = _vfs(request, (source, target))
    run = uuid.uuid4().hex[:8]
    src, dst = f"/{source}/cross-{run}/src file.bin", f"/{target}/cross-{run}/copy.bin"
    try:
        yield vfs, src, dst
    finally:
        for path in (src, dst):
            if vfs.exists(path):
                vfs.remove(path)
        vfs.close()


def _write_random(vfs: VirtualFileSystem, path: str, size: int) -> str:
    digest = hashlib.sha256()
    with vfs.open(path, "wb") as f:
        left = size
        while left:
            piece = os.urandom(min(8 * MiB, left))
            digest.update(piece)
            f.write(piece)
            left -= len(piece)
    return digest.hexdigest()


def _digest(vfs: VirtualFileSystem, path: str) -> str:
    digest = hashlib.sha256()
    with vfs.open(path, "rb", cache="stream") as f:
        while piece := f.read(8 * MiB):
            digest.update(piece)
    return digest.hexdigest()


def test_copy_between_network_roots_streams_with_progress(
    pair: tuple[VirtualFileSystem, str, str],
) -> None:
    vfs, src, dst = pair
    want = _write_random(vfs, src, SIZE)
    vfs.write_bytes(dst, b"old")
    calls: list[tuple[int, int | None, str]] = []
    have_peak = peak_rss_reset()
    before = peak_rss()
    vfs.copy(src, dst, progress=lambda done, total, name: calls.append((done, total, name)))
    growth = peak_rss() - before
    if have_peak:
        assert growth < RSS_LIMIT, f"the copy grew memory by {growth / MiB:.0f} MiB"
    assert len(calls) > 5, "progress was not reported during the transfer"
    assert calls[-1] == (SIZE, SIZE, src)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert vfs.info(dst)["size"] == SIZE
    assert _digest(vfs, dst) == want


def test_failed_cross_root_copy_keeps_the_old_target(
    pair: tuple[VirtualFileSystem, str, str],
) -> None:
    vfs, src, dst = pair
    _write_random(vfs, src, 3 * MiB)
    vfs.write_bytes(dst, b"old")

    def stop(done: int, total: int | None, name: str) -> None:
        if done >= MiB:
            raise KeyboardInterrupt  # the user gives up half-way

    with pytest.raises(KeyboardInterrupt):
        vfs.copy(src, dst, progress=stop)
    assert vfs.read_bytes(dst) == b"old"
    parent = dst.rsplit("/", 1)[0]
    assert vfs.ls(parent) == [dst], "a partial copy is visible"


def test_progress_true_draws_a_bar(
    request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    vfs = _vfs(request, ("sftp", "s3"))
    run = uuid.uuid4().hex[:8]
    src, dst = f"/sftp/bar-{run}/scan.h5", f"/s3/bar-{run}/scan.h5"
    data = os.urandom(3 * MiB + 1)
    vfs.write_bytes(src, data)
    try:
        vfs.copy(src, dst, progress=True)
        err = capsys.readouterr().err
        assert src in err and "100%" in err and "3.00M" in err

        storage = vfs.storage("s3")
        out = storage.get_file(f"bar-{run}/scan.h5", tmp_path / "deep" / "scan.h5", progress=True)
        assert Path(out).read_bytes() == data
        err = capsys.readouterr().err
        assert "100%" in err and "scan.h5" in err
    finally:
        for path in (src, dst):
            if vfs.exists(path):
                vfs.remove(path)
        vfs.close()
