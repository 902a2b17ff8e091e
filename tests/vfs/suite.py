"""The shared backend test suite: every root class runs all of it (like fsspec's abstract tests).

A backend's test module subclasses :class:`BackendSuite` and provides the ``backend`` fixture:
a :class:`Backend` with a VFS and an empty logical directory ``base`` on the root under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import io
import os
import resource
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from filestore_vfs import (
    FileBusyError,
    PathEscapeError,
    ReadOnlyRootError,
    VirtualFileSystem,
)

MiB = 1 << 20


class Calls(list[tuple[int, int | None, str]]):
    """Records progress callbacks."""

    def append_args(self, done: int, total: int | None, name: str) -> None:
        self.append((done, total, name))


@dataclass
class Backend:
    vfs: VirtualFileSystem
    base: str  # an empty logical directory on the root under test
    #: a VFS whose root is the same storage but configured read_only
    read_only: VirtualFileSystem | None = None
    #: object stores have no empty directories
    empty_dirs: bool = True
    #: whether the large-file case runs for this backend
    large: bool = True


def peak_rss_reset() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


class BackendSuite:
    """Round trips, listing, the rules; every backend inherits it."""

    # -- round trips ----------------------------------------------------------------------
    def test_bytes_round_trip(self, backend: Backend) -> None:
        path = f"{backend.base}/a.bin"
        data = os.urandom(100_000)
        backend.vfs.write_bytes(path, data)
        assert backend.vfs.read_bytes(path) == data
        assert backend.vfs.info(path)["size"] == len(data)
        assert backend.vfs.info(path)["type"] == "file"

    def test_text_yaml_csv_round_trip(self, backend: Backend) -> None:
        vfs, base = backend.vfs, backend.base
        vfs.write_text(f"{base}/t.txt", "λ = 1\nzwei\n")
        assert vfs.read_text(f"{base}/t.txt") == "λ = 1\nzwei\n"
        doc = {"detector": {"frames": [1, 2, 3], "name": "cam"}}
        vfs.write_yaml(f"{base}/c.yaml", doc)
        assert vfs.read_yaml(f"{base}/c.yaml") == doc
        rows = [{"x": "1", "y": "a"}, {"x": "2", "y": "b, c"}]
        vfs.write_csv(f"{base}/r.csv", rows)
        assert vfs.read_csv(f"{base}/r.csv") == rows

    @pytest.mark.parametrize("suffix", [".npy", ".tiff", ".h5"])
    def test_array_round_trip(self, backend: Backend, suffix: str) -> None:
        array = (np.arange(12 * 16, dtype=np.uint16).reshape(12, 16) * 7) % 4096
        path = f"{backend.base}/frame{suffix}"
        backend.vfs.write_array(path, array)
        back = backend.vfs.read_array(path)
        assert back.dtype == array.dtype
        np.testing.assert_array_equal(back, array)

    def test_empty_file(self, backend: Backend) -> None:
        path = f"{backend.base}/empty"
        backend.vfs.write_bytes(path, b"")
        assert backend.vfs.isfile(path)
        assert backend.vfs.read_bytes(path) == b""
        assert backend.vfs.info(path)["size"] == 0

    @pytest.mark.parametrize("name", ["ünïcødé ñame.h5", "with space/日本語.txt", "a-b_c.d+e"])
    def test_unicode_names(self, backend: Backend, name: str) -> None:
        path = f"{backend.base}/{name}"
        backend.vfs.write_bytes(path, name.encode())
        assert backend.vfs.read_bytes(path) == name.encode()
        assert path in backend.vfs.find(backend.base)

    def test_streaming_read_in_chunks(self, backend: Backend) -> None:
        path = f"{backend.base}/stream.bin"
        data = os.urandom(3 * MiB + 17)
        backend.vfs.write_bytes(path, data)
        got = []
        with backend.vfs.open(path, "rb") as f:
            while chunk := f.read(MiB):
                assert len(chunk) <= MiB
                got.append(chunk)
        assert b"".join(got) == data

    def test_append(self, backend: Backend) -> None:
        path = f"{backend.base}/log.txt"
        backend.vfs.write_text(path, "one\n")
        with backend.vfs.open(path, "a") as f:
            f.write("two\n")
        assert backend.vfs.read_text(path) == "one\ntwo\n"

    def test_exclusive_create(self, backend: Backend) -> None:
        path = f"{backend.base}/once"
        with backend.vfs.open(path, "xb") as f:
            f.write(b"1")
        with pytest.raises(FileExistsError):
            backend.vfs.open(path, "xb")
        assert backend.vfs.read_bytes(path) == b"1"

    # -- listing --------------------------------------------------------------------------
    def test_nested_dirs_listing_and_find(self, backend: Backend) -> None:
        vfs, base = backend.vfs, backend.base
        for rel in ["a/b/c/deep.h5", "a/b/x.tif", "a/top.h5", "z.txt"]:
            vfs.write_bytes(f"{base}/{rel}", rel.encode())
        assert vfs.ls(base) == [f"{base}/a", f"{base}/z.txt"]
        assert vfs.isdir(f"{base}/a/b") and not vfs.isfile(f"{base}/a/b")
        assert vfs.isfile(f"{base}/a/top.h5") and not vfs.isdir(f"{base}/a/top.h5")
        assert vfs.find(base, "*.h5") == [f"{base}/a/b/c/deep.h5", f"{base}/a/top.h5"]
        detail = {e["name"]: e for e in vfs.ls(f"{base}/a", detail=True)}
        assert detail[f"{base}/a/b"]["type"] == "directory"
        assert detail[f"{base}/a/top.h5"]["size"] == len(b"a/top.h5")
        assert not vfs.exists(f"{base}/nope")
        with pytest.raises(FileNotFoundError):
            vfs.ls(f"{base}/nope")
        with pytest.raises(NotADirectoryError):
            vfs.ls(f"{base}/z.txt")

    def test_makedirs_rmdir(self, backend: Backend) -> None:
        vfs, base = backend.vfs, backend.base
        vfs.write_bytes(f"{base}/d/sub/f", b"x")
        with pytest.raises(OSError, match="not empty"):
            vfs.rmdir(f"{base}/d")
        vfs.rmdir(f"{base}/d", recursive=True)
        assert not vfs.exists(f"{base}/d")
        if backend.empty_dirs:
            vfs.makedirs(f"{base}/e/f")
            assert vfs.isdir(f"{base}/e/f")
            vfs.rmdir(f"{base}/e/f")
            assert not vfs.exists(f"{base}/e/f")

    def test_remove(self, backend: Backend) -> None:
        path = f"{backend.base}/gone"
        backend.vfs.write_bytes(path, b"x")
        backend.vfs.remove(path)
        assert not backend.vfs.exists(path)
        with pytest.raises(FileNotFoundError, match="gone"):
            backend.vfs.remove(path)

    def test_open_directory_as_file(self, backend: Backend) -> None:
        backend.vfs.write_bytes(f"{backend.base}/dir/f", b"x")
        with pytest.raises(IsADirectoryError):
            backend.vfs.open(f"{backend.base}/dir", "rb")
        with pytest.raises(IsADirectoryError):
            backend.vfs.open(f"{backend.base}/dir", "wb")
        with pytest.raises(IsADirectoryError):
            backend.vfs.remove(f"{backend.base}/dir")

    def test_missing_file_names_logical_path(self, backend: Backend) -> None:
        path = f"{backend.base}/missing.h5"
        with pytest.raises(FileNotFoundError) as info:
            backend.vfs.read_bytes(path)
        assert info.value.filename == path

    # -- copy, move, transfers ------------------------------------------------------------
    def test_copy_and_move(self, backend: Backend) -> None:
        vfs, base = backend.vfs, backend.base
        vfs.write_bytes(f"{base}/src", b"payload")
        vfs.copy(f"{base}/src", f"{base}/sub/copy")
        assert vfs.read_bytes(f"{base}/sub/copy") == b"payload"
        vfs.move(f"{base}/src", f"{base}/moved")
        assert not vfs.exists(f"{base}/src")
        assert vfs.read_bytes(f"{base}/moved") == b"payload"
        vfs.copy(f"{base}/sub", f"{base}/sub2", recursive=True)
        assert vfs.read_bytes(f"{base}/sub2/copy") == b"payload"

    def test_copy_to_memory_root_and_back(self, backend: Backend) -> None:
        vfs, base = backend.vfs, backend.base
        other = "/memory" if not base.startswith("/memory") else "/temp"
        vfs.write_bytes(f"{base}/x", b"cross-root")
        vfs.copy(f"{base}/x", f"{other}/suite-x")
        vfs.move(f"{other}/suite-x", f"{base}/y")
        assert vfs.read_bytes(f"{base}/y") == b"cross-root"
        assert not vfs.exists(f"{other}/suite-x")

    def test_get_put_file_with_progress(self, backend: Backend, tmp_path: Any) -> None:
        data = os.urandom(2 * MiB + 5)
        src = tmp_path / "in.bin"
        src.write_bytes(data)
        calls = Calls()
        backend.vfs.put_file(src, f"{backend.base}/up.bin", progress=calls.append_args)
        assert calls and calls[-1][0] == len(data) and calls[-1][1] == len(data)
        calls.clear()
        target = tmp_path / "deep" / "out.bin"
        out = backend.vfs.get_file(f"{backend.base}/up.bin", target, progress=calls.append_args)
        assert Path(out).read_bytes() == data
        assert calls[-1][:2] == (len(data), len(data))
        assert [c[0] for c in calls] == sorted(c[0] for c in calls)

    def test_get_file_missing_leaves_nothing(self, backend: Backend, tmp_path: Any) -> None:
        with pytest.raises(FileNotFoundError):
            backend.vfs.get_file(f"{backend.base}/absent", tmp_path / "out.bin")
        assert os.listdir(tmp_path) == []

    # -- Storage facade -----------------------------------------------------------------
    def test_storage_facade(self, backend: Backend, tmp_path: Any) -> None:
        root, prefix = backend.base.lstrip("/").split("/", 1)
        storage = backend.vfs.storage(root)
        tree = tmp_path / "tree"
        (tree / "sub" / "deeper").mkdir(parents=True)
        (tree / "a.bin").write_bytes(b"A")
        (tree / "sub" / "deeper" / "b.bin").write_bytes(b"B" * 1000)
        os.symlink("/etc/hostname", tree / "sub" / "link")  # not followed, not uploaded
        storage.add_directory(tree, f"{prefix}/up")
        mine = sorted(n for n in storage.list_files() if n.startswith(prefix + "/"))
        assert mine == [f"{prefix}/up/a.bin", f"{prefix}/up/sub/deeper/b.bin"]
        storage.add_file(io.BytesIO(b"from a file object"), f"{prefix}/obj.bin")
        assert f"{prefix}/obj.bin" in storage and f"{prefix}/nope" not in storage
        storage.copy_file(f"{prefix}/obj.bin", f"{prefix}/obj2.bin")
        calls = Calls()
        local = storage.get_file(f"{prefix}/obj2.bin", tmp_path / "x" / "y.bin", calls.append_args)
        assert Path(local).read_bytes() == b"from a file object"
        assert calls[-1][:2] == (18, 18)
        storage.delete_file(f"{prefix}/obj2.bin")
        with pytest.raises(KeyError):
            del storage[f"{prefix}/obj2.bin"]
        storage[f"{prefix}/set.bin"] = str(tree / "a.bin")
        assert backend.vfs.read_bytes(f"{backend.base}/set.bin") == b"A"
        with pytest.raises(PathEscapeError):
            storage.get_file("../../etc/passwd", tmp_path / "p")
        sub = backend.vfs.storage(root)
        out = tmp_path / "all"
        calls.clear()
        paths = sub.get_all_files(out, progress=calls.append_args)
        assert (out / prefix / "up" / "sub" / "deeper" / "b.bin").read_bytes() == b"B" * 1000
        assert len(paths) == len(sub.list_files()) and calls
        storage.flush()

    # -- the rules ------------------------------------------------------------------------
    def test_failed_write_keeps_old_content(self, backend: Backend) -> None:
        path = f"{backend.base}/keep.bin"
        backend.vfs.write_bytes(path, b"old")
        with pytest.raises(RuntimeError):
            with backend.vfs.open(path, "wb") as f:
                f.write(b"half-written")
                raise RuntimeError("detector died")
        assert backend.vfs.read_bytes(path) == b"old"
        assert backend.vfs.ls(backend.base) == [path]  # no temporary left visible

    def test_reader_never_sees_half_a_file(self, backend: Backend) -> None:
        path = f"{backend.base}/atomic.bin"
        backend.vfs.write_bytes(path, b"A" * 1000)
        with backend.vfs.open(path, "wb") as f:
            f.write(b"B" * 500)
            f.flush()
            assert backend.vfs.read_bytes(path) == b"A" * 1000
            f.write(b"B" * 500)
        assert backend.vfs.read_bytes(path) == b"B" * 1000

    def test_second_writer_is_busy(self, backend: Backend) -> None:
        path = f"{backend.base}/busy.bin"
        with backend.vfs.open(path, "wb") as f:
            f.write(b"first")
            with pytest.raises(FileBusyError, match="busy.bin"):
                backend.vfs.open(path, "wb")
            with pytest.raises(BlockingIOError):  # the built-in, for code that knows no VFS
                backend.vfs.write_bytes(path, b"second")
        assert backend.vfs.read_bytes(path) == b"first"
        backend.vfs.write_bytes(path, b"after")  # the lock went with the first writer
        assert backend.vfs.read_bytes(path) == b"after"

    @pytest.mark.parametrize(
        "method",
        [
            "open",
            "read_bytes",
            "exists",
            "isdir",
            "isfile",
            "info",
            "ls",
            "find",
            "makedirs",
            "remove",
            "rmdir",
            "local_path",
            "resolve",
            "write_bytes",
        ],
    )
    @pytest.mark.parametrize(
        "suffix", ["/../../etc/passwd", "/a/../../x", "//etc", "/a\\..\\..\\x", "/./x", "/x\x00y"]
    )
    def test_traversal_refused_everywhere(self, backend: Backend, method: str, suffix: str) -> None:
        path = backend.base + suffix
        args: tuple[Any, ...] = (path, b"x") if method == "write_bytes" else (path,)
        with pytest.raises(PathEscapeError):
            getattr(backend.vfs, method)(*args)

    def test_read_only_root(self, backend: Backend) -> None:
        if backend.read_only is None:
            pytest.skip("this backend's test gives no read-only view")
        ro = backend.read_only
        base = backend.base
        backend.vfs.write_bytes(f"{base}/ro.bin", b"kept")
        assert ro.read_bytes(f"{base}/ro.bin") == b"kept"
        for action in (
            lambda: ro.write_bytes(f"{base}/new", b"x"),
            lambda: ro.open(f"{base}/ro.bin", "wb"),
            lambda: ro.remove(f"{base}/ro.bin"),
            lambda: ro.makedirs(f"{base}/d"),
            lambda: ro.move(f"{base}/ro.bin", f"{base}/other"),
            lambda: ro.rmdir(base, recursive=True),
        ):
            with pytest.raises(ReadOnlyRootError, match="read-only"):
                action()
        assert backend.vfs.read_bytes(f"{base}/ro.bin") == b"kept"

    # -- async ----------------------------------------------------------------------------
    def test_async_api(self, backend: Backend) -> None:
        path = f"{backend.base}/async.txt"

        async def main() -> tuple[str, bool, bytes]:
            async with backend.vfs.open_file(path, "w") as f:
                await f.write("hello ")
                await f.write("async")
            async with backend.vfs.open_file(path, "r") as f:
                text = await f.read()
            exists = await backend.vfs.aio.exists(path)
            await backend.vfs.aio.write_bytes(path + ".b", b"raw")
            raw = await backend.vfs.aio.read_bytes(path + ".b")
            return text, exists, raw

        assert asyncio.run(main()) == ("hello async", True, b"raw")

    def test_async_write_failure_keeps_old(self, backend: Backend) -> None:
        path = f"{backend.base}/async-keep.bin"
        backend.vfs.write_bytes(path, b"old")

        async def main() -> None:
            async with backend.vfs.open_file(path, "wb") as f:
                await f.write(b"partial")
                raise RuntimeError("lost connection")

        with pytest.raises(RuntimeError):
            asyncio.run(main())
        assert backend.vfs.read_bytes(path) == b"old"

    # -- large files ----------------------------------------------------------------------
    @pytest.mark.slow
    def test_large_file_streamed(self, backend: Backend) -> None:
        if not backend.large:
            pytest.skip("large-file case runs in this backend's benchmark")
        size, chunk = 256 * MiB, 4 * MiB
        block = os.urandom(chunk)
        path = f"{backend.base}/large.bin"
        have_peak = peak_rss_reset()
        before = peak_rss()
        digest = hashlib.sha256()
        with backend.vfs.open(path, "wb") as f:
            for i in range(size // chunk):
                piece = block[i % 7 :] + block[: i % 7]  # each chunk differs
                digest.update(piece)
                f.write(piece)
        assert backend.vfs.info(path)["size"] == size
        back = hashlib.sha256()
        with backend.vfs.open(path, "rb") as f:
            while piece := f.read(chunk):
                back.update(piece)
        assert back.hexdigest() == digest.hexdigest()
        if have_peak and backend.vfs.resolve(path).url.startswith("file://"):
            assert peak_rss() - before < 64 * MiB
        backend.vfs.remove(path)


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """The local disk is "full" after ``limit`` bytes per file (``RLIMIT_FSIZE``, soft limit
    only, restored after): writes past it fail with ``EFBIG`` instead of a ``SIGXFSZ``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def check_disk_full_download(vfs: VirtualFileSystem, path: str, tmp_path: Path) -> None:
    """A 3 MiB download onto a local disk that is full after 1 MiB: ``EFBIG``, no partial file."""
    vfs.write_bytes(path, os.urandom(3 * MiB))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OSError) as info, file_size_limit(MiB):
        vfs.get_file(path, out / "big.bin")
    assert info.value.errno == errno.EFBIG
    assert os.listdir(out) == []  # no partial file


def check_copy_through_root(vfs: VirtualFileSystem, root: str, size: int = 48 * MiB) -> None:
    """``size`` bytes copied from ``/memory`` into ``root`` and back to ``/temp``: progress
    during both copies, the way back streams (memory grows far less than the file), and the
    copy that lands starts with the bytes sent."""
    block = os.urandom(MiB)
    with vfs.open("/memory/src.bin", "wb") as f:
        for _ in range(size // MiB):
            f.write(block)
    calls = Calls()
    vfs.copy("/memory/src.bin", f"{root}/copied.bin", progress=calls.append_args)
    assert len(calls) > 2 and calls[-1] == (size, size, "/memory/src.bin")
    assert vfs.info(f"{root}/copied.bin")["size"] == size
    calls.clear()
    have_peak = peak_rss_reset()
    before = peak_rss()
    vfs.copy(f"{root}/copied.bin", "/temp/back.bin", progress=calls.append_args)
    growth = peak_rss() - before
    assert len(calls) > 2 and calls[-1] == (size, size, f"{root}/copied.bin")
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    if have_peak:  # streamed: far less than the file (the bound is 64 MiB)
        assert growth < size
    with open(vfs.local_path("/temp/back.bin"), "rb") as f:
        assert f.read(MiB) == block


def callable_names(obj: Any) -> list[str]:
    return [n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n))]


Factory = Callable[..., Backend]
