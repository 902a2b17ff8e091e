"""One-file-per-frame sequences on a network root: one request per file, the next files
fetched ahead while datums come in order, errors on the datum that needs the file, and no
thread left running once the handler is closed."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from filestore_vfs import VirtualFileSystem
from filestore_vfs.handlers import MissingFileError, handler_registry
from filestore_vfs.handlers._handlers import _Prefetcher
from tests.servers import NginxServer

TEMPLATE = "%s%s_%6.6d.tiff"
SHAPE = (16, 24)


def _frame(k: int) -> np.ndarray:
    y, x = np.indices(SHAPE)
    return ((k + x + 2 * y) % 2**16).astype(np.uint16)


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("vfs-prefetch")]


@pytest.fixture
def served(nginx_server: NginxServer) -> Iterator[tuple[VirtualFileSystem, Path, str]]:
    """Eight TIFF frames in a fresh directory nginx serves, an HTTP root over it."""
    name = f"seq-{uuid.uuid4().hex[:8]}"
    directory = nginx_server.root / name
    directory.mkdir()
    for k in range(8):
        tifffile.imwrite(directory / (TEMPLATE % ("", "scan", k)), _frame(k))
    spec = {"class": "HttpFile", "download": nginx_server.data_url, "timeout": 10, "retries": 0}
    vfs = VirtualFileSystem({"web": spec}, defaults=False)
    try:
        yield vfs, directory, name
    finally:
        vfs.close()
        shutil.rmtree(directory, ignore_errors=True)


def _handler(vfs: VirtualFileSystem, name: str, **attrs: Any) -> Any:
    cls = handler_registry(vfs)["AD_TIFF"]
    if attrs:
        cls = type(cls.__name__, (cls,), attrs)
    return cls(f"/web/{name}", TEMPLATE, "scan")


def _gets(server: NginxServer, name: str) -> list[str]:
    """The requests nginx logged for files of the directory ``name``, as ``METHOD path``."""
    log = (server.workdir / "logs" / "access.log").read_text()
    out = []
    for line in log.splitlines():
        if f"/{name}/" in line and '"' in line:
            method, path = line.split('"')[1].split()[:2]
            out.append(f"{method} {path.rsplit('/', 1)[-1]}")
    return out


@pytest.mark.parametrize("prefetch", [0, 4])
def test_frames_equal_and_one_request_per_file(
    served: tuple[VirtualFileSystem, Path, str], nginx_server: NginxServer, prefetch: int
) -> None:
    vfs, _, name = served
    with _handler(vfs, name, prefetch=prefetch) as handler:
        for k in range(8):
            np.testing.assert_array_equal(handler(point_number=k)[0], _frame(k))
    run = [TEMPLATE % ("", "scan", k) for k in range(8)]
    # nginx logs a request after its response: wait until every frame's GET is logged
    deadline = time.monotonic() + 30
    requests = _gets(nginx_server, name)
    while not set(run) <= {r.split()[1] for r in requests} and time.monotonic() < deadline:
        time.sleep(0.02)
        requests = _gets(nginx_server, name)
    assert all(r.startswith("GET ") for r in requests), "\n".join(requests)  # no HEAD
    files = [r.split()[1] for r in requests]
    assert sorted(f for f in files if f in run) == run, "\n".join(requests)  # each once
    # past the end of the run (the handler cannot know where it ends): a few, once each
    beyond = [f for f in files if f not in run]
    assert len(beyond) == len(set(beyond)) <= prefetch, "\n".join(requests)


def test_frames_per_point_and_random_access(served: tuple[VirtualFileSystem, Path, str]) -> None:
    vfs, _, name = served
    cls = handler_registry(vfs)["AD_TIFF"]
    with cls(f"/web/{name}", TEMPLATE, "scan", frame_per_point=2) as handler:
        for point in (3, 0, 1, 2, 0):  # a jump, then in order, then back
            frames = handler(point_number=point)
            assert frames.shape == (2, *SHAPE)
            for i, k in enumerate((2 * point, 2 * point + 1)):
                np.testing.assert_array_equal(frames[i], _frame(k))


def test_a_missing_file_fails_its_own_datum_only(
    served: tuple[VirtualFileSystem, Path, str],
) -> None:
    """File 3 is missing: points 0-2 read although its prefetch failed; point 3 names frame
    3; points after it still read."""
    vfs, directory, name = served
    (directory / (TEMPLATE % ("", "scan", 3))).unlink()
    with _handler(vfs, name) as handler:
        for k in range(3):
            np.testing.assert_array_equal(handler(point_number=k)[0], _frame(k))
        with pytest.raises(MissingFileError, match=r"frame 3 of the TIFF sequence is missing"):
            handler(point_number=3)
        for k in range(4, 8):
            np.testing.assert_array_equal(handler(point_number=k)[0], _frame(k))
        with pytest.raises(MissingFileError, match=r"frame 8 "):
            handler(point_number=8)  # past the end of the run


def test_no_thread_outlives_the_handler(served: tuple[VirtualFileSystem, Path, str]) -> None:
    vfs, _, name = served
    before = set(_prefetch_threads())
    handler = _handler(vfs, name)
    for k in range(3):
        handler(point_number=k)
    assert set(_prefetch_threads()) - before, "consecutive datums should fetch ahead"
    handler.close()
    assert set(_prefetch_threads()) - before == set()
    np.testing.assert_array_equal(handler(point_number=5)[0], _frame(5))  # still readable
    assert set(_prefetch_threads()) - before == set()


def test_a_handler_dropped_unclosed_ends_its_threads(
    served: tuple[VirtualFileSystem, Path, str],
) -> None:
    """event-model's Filler drops its handlers without calling ``close``."""
    vfs, _, name = served
    before = set(_prefetch_threads())
    handler = _handler(vfs, name)
    for k in range(3):
        handler(point_number=k)
    assert set(_prefetch_threads()) - before
    del handler
    deadline = time.monotonic() + 10
    while set(_prefetch_threads()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(_prefetch_threads()) - before == set()


def test_a_local_root_reads_the_files_directly(tmp_path: Path) -> None:
    for k in range(3):
        tifffile.imwrite(tmp_path / (TEMPLATE % ("", "scan", k)), _frame(k))
    vfs = VirtualFileSystem({"here": {"class": "LocalFile", "root": str(tmp_path)}})
    with handler_registry(vfs)["AD_TIFF"]("/here", TEMPLATE, "scan") as handler:
        assert handler._ahead is None
        for k in range(3):
            np.testing.assert_array_equal(handler(point_number=k)[0], _frame(k))


# -- the prefetcher alone ---------------------------------------------------------------------


class _Fetches:
    """A fetch that records what it was asked for and how many run at once."""

    def __init__(self, fail: set[int] = frozenset(), delay: float = 0.01) -> None:  # type: ignore[assignment]
        self.asked: list[int] = []
        self.running = 0
        self.most = 0
        self._fail = fail
        self._delay = delay
        self._lock = threading.Lock()

    def __call__(self, j: int) -> bytes:
        with self._lock:
            self.asked.append(j)
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self._delay)
            if j in self._fail:
                raise FileNotFoundError(f"no file {j}")
            return str(j).encode()
        finally:
            with self._lock:
                self.running -= 1


def test_prefetcher_is_bounded_and_fetches_each_file_once() -> None:
    fetch = _Fetches()
    ahead = _Prefetcher(fetch, depth=3, workers=3)
    try:
        for j in range(20):
            assert ahead.get(j) == str(j).encode()
            assert len(ahead._ahead) <= 3
        assert fetch.most <= 4  # three ahead and the caller's own
        assert set(range(20)) <= set(fetch.asked) <= set(range(23))
        assert len(fetch.asked) == len(set(fetch.asked)), "a file was fetched twice"
    finally:
        ahead.close()
    assert ahead._pool is None and not ahead._ahead


def test_prefetcher_errors_reach_only_the_get_that_needs_them() -> None:
    ahead = _Prefetcher(_Fetches(fail={2, 5}), depth=4, workers=2)
    try:
        assert ahead.get(0) == b"0"
        assert ahead.get(1) == b"1"  # 2 .. 5 now fetched ahead, two of them fail
        with pytest.raises(FileNotFoundError, match="no file 2"):
            ahead.get(2)
        assert ahead.get(3) == b"3"
        assert ahead.get(4) == b"4"
        with pytest.raises(FileNotFoundError, match="no file 5"):
            ahead.get(5)
    finally:
        ahead.close()


def test_prefetcher_close_cancels_what_has_not_started() -> None:
    fetch = _Fetches(delay=0.2)
    ahead = _Prefetcher(fetch, depth=8, workers=1)
    ahead.get(0)
    ahead.get(1)  # asks for 2 .. 9 on one thread: most cannot have started
    ahead.close()
    assert len(fetch.asked) < 10, "close should cancel the queued fetches"
    assert fetch.running == 0
    assert ahead.get(3) == b"3"  # a closed prefetcher still fetches, without threads
    assert ahead._pool is None


def test_prefetcher_jump_drops_what_was_fetched_ahead() -> None:
    fetch = _Fetches(delay=0)
    ahead = _Prefetcher(fetch, depth=2, workers=2)
    try:
        ahead.get(0)
        ahead.get(1)  # 2, 3 ahead
        ahead.get(10)  # a jump: nothing ahead any more, nothing new asked
        assert not ahead._ahead
        ahead.get(11)  # in order again: 12, 13 ahead
        assert sorted(ahead._ahead) == [12, 13]
    finally:
        ahead.close()
