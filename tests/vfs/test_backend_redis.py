"""``RedisFile`` on redis-server: the shared suite, aiofs' key names, WATCH, bad inputs."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from filestore_vfs import FileBusyError, InvalidPathError, VirtualFileSystem
from tests.servers import RedisServer, ServerUnavailable, _redis
from tests.servers._fixtures import require_server

from .suite import Backend, BackendSuite, Calls, peak_rss, peak_rss_reset

pytestmark = pytest.mark.server
MiB = 1 << 20


def spec(server: RedisServer, **extra: Any) -> dict[str, Any]:
    return {
        "class": "RedisFile",
        "host": server.host,
        "port": server.port,
        "password": server.password,
        "timeout": 5,
        "retries": 1,
        "retry_backoff": 0.05,
        **extra,
    }


def raw_client(server: RedisServer) -> redis.Redis:
    return redis.Redis(
        host=server.host, port=server.port, password=server.password, retry=Retry(NoBackoff(), 0)
    )


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


class TestRedisFile(BackendSuite):
    @pytest.fixture
    def backend(self, redis_server: RedisServer, prefix: str) -> Backend:
        rw = VirtualFileSystem({"r": spec(redis_server, prefix=prefix)})
        ro = VirtualFileSystem({"r": spec(redis_server, prefix=prefix, read_only=True)})
        # large=False: 256 MiB passes here in ~6 s, too long for these tests' budget; the
        # benchmark moves 512 MiB through RedisFile instead.
        return Backend(rw, "/r/suite", read_only=ro, empty_dirs=False, large=False)


@pytest.fixture
def vfs(redis_server: RedisServer, prefix: str) -> VirtualFileSystem:
    return VirtualFileSystem({"r": spec(redis_server, prefix=prefix)})


@pytest.fixture
def r(redis_server: RedisServer) -> redis.Redis:
    return raw_client(redis_server)


def _user_keys(r: redis.Redis, prefix: str) -> list[str]:
    keys = sorted(k.decode() for k in r.scan_iter(match=f"{prefix}:*"))
    return [k for k in keys if ".~vfs-" not in k]


# -- aiofs' key names and its bugs fixed -------------------------------------------------------
def test_keys_are_named_as_aiofs_names_them(
    vfs: VirtualFileSystem, r: redis.Redis, prefix: str
) -> None:
    vfs.write_bytes("/r/dir/path/file.bin", b"payload")
    assert _user_keys(r, prefix) == [f"{prefix}:dir:path:file.bin"]
    assert r.get(f"{prefix}:dir:path:file.bin") == b"payload"
    r.set(f"{prefix}:from:aiofs.bin", b"written by aiofs")
    assert vfs.read_bytes("/r/from/aiofs.bin") == b"written by aiofs"
    assert vfs.ls("/r/from") == ["/r/from/aiofs.bin"]


def test_no_prefix_maps_exactly_like_aiofs(redis_server: RedisServer, r: redis.Redis) -> None:
    db = 3
    r3 = redis.Redis(
        host=redis_server.host, port=redis_server.port, password=redis_server.password, db=db
    )
    r3.flushdb()
    vfs = VirtualFileSystem({"r": spec(redis_server, db=db)})
    vfs.write_bytes("/r/dir/path/file.bin", b"x")
    assert [k for k in r3.keys("*") if b".~vfs-" not in k] == [b"dir:path:file.bin"]
    assert vfs.ls("/r") == ["/r/dir"]
    r3.flushdb()


def test_read_n_works_and_streams(vfs: VirtualFileSystem) -> None:
    data = os.urandom(3 * MiB + 5)
    vfs.write_bytes("/r/s.bin", data)
    with vfs.open("/r/s.bin", "rb") as f:
        assert f.read(10) == data[:10]  # aiofs returned b"" for read(n)
        f.seek(MiB)
        assert f.read(5) == data[MiB : MiB + 5]
        f.seek(-3, 2)
        assert f.read() == data[-3:]


def test_move_copies_the_data(vfs: VirtualFileSystem, r: redis.Redis, prefix: str) -> None:
    vfs.write_bytes("/r/a/x.bin", b"moved, not lost")  # aiofs' mv deleted without copying
    vfs.move("/r/a/x.bin", "/r/b/y.bin")
    assert vfs.read_bytes("/r/b/y.bin") == b"moved, not lost"
    assert not vfs.exists("/r/a/x.bin")
    vfs.write_bytes("/r/d/1", b"1")
    vfs.write_bytes("/r/d/sub/2", b"2")
    vfs.move("/r/d", "/r/e")
    assert vfs.find("/r/e") == ["/r/e/1", "/r/e/sub/2"] and not vfs.exists("/r/d")


def test_expiry(redis_server: RedisServer, r: redis.Redis, prefix: str) -> None:
    vfs = VirtualFileSystem({"r": spec(redis_server, prefix=prefix, expiry=60)})
    vfs.write_bytes("/r/e.bin", b"x")
    assert 55 < r.ttl(f"{prefix}:e.bin") <= 60
    forever = VirtualFileSystem({"r": spec(redis_server, prefix=prefix)})
    forever.write_bytes("/r/e.bin", b"y")
    assert r.ttl(f"{prefix}:e.bin") == -1


def test_colon_in_a_name_is_refused(vfs: VirtualFileSystem) -> None:
    with pytest.raises(InvalidPathError, match="':'"):
        vfs.write_bytes("/r/a:b", b"x")


def test_glob_characters_in_names_are_not_patterns(vfs: VirtualFileSystem) -> None:
    vfs.write_bytes("/r/[ab]*?/x", b"1")
    vfs.write_bytes("/r/a/x", b"2")
    assert vfs.ls("/r/[ab]*?") == ["/r/[ab]*?/x"]
    assert vfs.isdir("/r/[ab]*?") and not vfs.isdir("/r/[c]*?")


# -- WATCH: the optimistic cross-process guarantee --------------------------------------------
def test_key_changed_by_another_client_makes_our_commit_busy(
    vfs: VirtualFileSystem, r: redis.Redis, prefix: str
) -> None:
    vfs.write_bytes("/r/w.bin", b"old")
    f = vfs.open("/r/w.bin", "wb")
    f.write(b"ours" * 1000)
    r.set(f"{prefix}:w.bin", b"theirs")  # aiofs, redis-cli, ...: no lock key, but WATCH sees it
    with pytest.raises(FileBusyError, match="changed by another writer"):
        f.close()
    assert vfs.read_bytes("/r/w.bin") == b"theirs"
    assert not list(r.scan_iter(match=f"{prefix}:.~vfs-tmp*"))  # temp key removed
    vfs.write_bytes("/r/w.bin", b"next")  # nothing left locked
    assert vfs.read_bytes("/r/w.bin") == b"next"


HOLDER = textwrap.dedent(
    """
    import json, sys
    from filestore_vfs import VirtualFileSystem
    vfs = VirtualFileSystem({"r": json.loads(sys.argv[1])})
    with vfs.open("/r/locked.bin", "wb") as w:
        w.write(b"from the other process")
        print("holding", flush=True)
        sys.stdin.readline()
    print("done", flush=True)
    """
)


def test_writer_in_another_process_is_refused_at_open(
    redis_server: RedisServer, prefix: str
) -> None:
    root = spec(redis_server, prefix=prefix, lock_ttl=1)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, json.dumps(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        vfs = VirtualFileSystem({"r": root})
        time.sleep(1.5)  # longer than lock_ttl: the holder renews its lock
        with pytest.raises(FileBusyError, match="another process"):
            vfs.open("/r/locked.bin", "wb")
        assert not vfs.exists("/r/locked.bin")
        proc.communicate("go\n", timeout=30)
        assert vfs.read_bytes("/r/locked.bin") == b"from the other process"
        vfs.write_bytes("/r/locked.bin", b"ours now")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_killed_writer_leaves_old_value_and_its_lock_expires(
    redis_server: RedisServer, prefix: str
) -> None:
    root = spec(redis_server, prefix=prefix, lock_ttl=1)
    vfs = VirtualFileSystem({"r": root})
    vfs.write_bytes("/r/locked.bin", b"old")
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, json.dumps(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    proc.kill()
    proc.wait()
    assert vfs.read_bytes("/r/locked.bin") == b"old"
    time.sleep(1.2)
    vfs.write_bytes("/r/locked.bin", b"next writer")
    assert vfs.read_bytes("/r/locked.bin") == b"next writer"


def test_reader_of_a_replaced_file_fails_instead_of_mixing(
    redis_server: RedisServer, prefix: str
) -> None:
    vfs = VirtualFileSystem({"r": spec(redis_server, prefix=prefix, chunk_size=64 << 10)})
    vfs.write_bytes("/r/m.bin", b"A" * (1 << 20))
    with vfs.open("/r/m.bin", "rb", cache="stream") as f:
        assert f.read(10) == b"A" * 10
        vfs.write_bytes("/r/m.bin", b"B" * (1 << 20))
        with pytest.raises(OSError) as info:
            f.read()
    assert info.value.errno == errno.ESTALE and "/r/m.bin" in str(info.value)


# -- bad inputs --------------------------------------------------------------------------------
def test_wrong_password_is_permission_error_without_the_password(
    redis_server: RedisServer,
) -> None:
    wrong = "not-the-password-" + uuid.uuid4().hex
    vfs = VirtualFileSystem({"r": spec(redis_server, password=wrong)})
    start = time.monotonic()
    for action in (lambda: vfs.read_bytes("/r/x"), lambda: vfs.write_bytes("/r/x", b"1")):
        with pytest.raises(PermissionError) as info:
            action()
        text = f"{info.value} {info.value!r}"
        assert wrong not in text and redis_server.password not in text and "/r/x" in text
    assert time.monotonic() - start < 3  # an auth failure is not retried
    url = f"redis://:{wrong}@{redis_server.host}:{redis_server.port}/0"
    by_url = VirtualFileSystem({"r": {"class": "RedisFile", "url": url}})
    with pytest.raises(PermissionError) as info:
        by_url.ls("/r")
    for text in (
        str(info.value),
        repr(info.value),
        repr(by_url.roots["r"]),
        by_url.resolve("/r/a").url,
    ):
        assert wrong not in text


def test_url_option(redis_server: RedisServer, prefix: str) -> None:
    vfs = VirtualFileSystem(
        {"r": {"class": "RedisFile", "url": redis_server.url, "prefix": prefix}}
    )
    vfs.write_bytes("/r/u.bin", b"via url")
    assert vfs.read_bytes("/r/u.bin") == b"via url"
    assert redis_server.password not in vfs.resolve("/r/u.bin").url


def test_server_down_at_open_is_connection_error_naming_the_root() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    vfs = VirtualFileSystem(
        {"r": {"class": "RedisFile", "port": port, "password": "pw-of-down", "retries": 0}}
    )
    for action in (lambda: vfs.read_bytes("/r/x"), lambda: vfs.write_bytes("/r/x", b"1")):
        with pytest.raises(ConnectionError) as info:
            action()
        assert f":{port}" in str(info.value) and "/r" in str(info.value)
        assert "pw-of-down" not in f"{info.value} {info.value!r}"


def own_redis_server() -> Any:
    try:
        return _redis.redis_server()
    except ServerUnavailable as exc:  # pragma: no cover
        require_server("redis", exc)


def test_server_dying_mid_download_leaves_local_target_intact(tmp_path: Path) -> None:
    target = tmp_path / "frame.bin"
    target.write_bytes(b"previous")
    with own_redis_server() as server:
        vfs = VirtualFileSystem({"r": spec(server, chunk_size=1 << 20)})
        vfs.write_bytes("/r/big.bin", os.urandom(16 * MiB))
        seen: list[int] = []

        def progress(done: int, total: int | None, name: str) -> None:
            seen.append(done)
            if len(seen) == 1:
                os.killpg(server.pid, signal.SIGKILL)

        with pytest.raises(ConnectionError, match="/r/big.bin"):
            vfs.get_file("/r/big.bin", target, progress=progress)
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["frame.bin"]


def test_server_dying_mid_upload_is_a_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "up.bin"
    source.write_bytes(os.urandom(16 * MiB))
    with own_redis_server() as server:
        vfs = VirtualFileSystem({"r": spec(server, chunk_size=1 << 20)})
        vfs.write_bytes("/r/up.bin", b"old")

        def progress(done: int, total: int | None, name: str) -> None:
            if done >= 4 * MiB:
                os.killpg(server.pid, signal.SIGKILL)

        with pytest.raises(ConnectionError, match="/r/up.bin"):
            vfs.put_file(source, "/r/up.bin", progress=progress)
    assert source.stat().st_size == 16 * MiB


def test_stopped_server_is_a_timeout_naming_the_root() -> None:
    with own_redis_server() as server:
        vfs = VirtualFileSystem({"r": spec(server, timeout=0.5, retries=0)})
        vfs.write_bytes("/r/t.bin", b"x")
        os.killpg(server.pid, signal.SIGSTOP)
        try:
            with pytest.raises(TimeoutError, match="/r/t.bin"):
                vfs.read_bytes("/r/t.bin")
        finally:
            os.killpg(server.pid, signal.SIGCONT)


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


def test_disk_full_on_download_leaves_nothing(
    redis_server: RedisServer, prefix: str, tmp_path: Path
) -> None:
    vfs = VirtualFileSystem({"r": spec(redis_server, prefix=prefix)})
    vfs.write_bytes("/r/big.bin", os.urandom(3 * MiB))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OSError) as info, file_size_limit(MiB):
        vfs.get_file("/r/big.bin", out / "big.bin")
    assert info.value.errno == errno.EFBIG
    assert os.listdir(out) == []  # no partial file


def test_wrong_type_key_is_a_clear_error(
    vfs: VirtualFileSystem, r: redis.Redis, prefix: str
) -> None:
    r.hset(f"{prefix}:h", "a", "b")
    with pytest.raises(OSError, match="other than a string"):
        vfs.read_bytes("/r/h")


def test_spaces_unicode_and_zero_bytes(vfs: VirtualFileSystem, r: redis.Redis, prefix: str) -> None:
    vfs.write_bytes("/r/scan 1/ünï 日本.h5", b"u")
    vfs.write_bytes("/r/zero", b"")
    assert _user_keys(r, prefix) == [f"{prefix}:scan 1:ünï 日本.h5", f"{prefix}:zero"]
    assert vfs.info("/r/zero")["size"] == 0 and vfs.read_bytes("/r/zero") == b""


def test_copies_to_and_from_redis_stream_with_progress(vfs: VirtualFileSystem) -> None:
    size = 48 * MiB
    block = os.urandom(MiB)
    with vfs.open("/memory/src.bin", "wb") as f:
        for _ in range(size // MiB):
            f.write(block)
    calls = Calls()
    vfs.copy("/memory/src.bin", "/r/copied.bin", progress=calls.append_args)
    assert len(calls) > 2 and calls[-1] == (size, size, "/memory/src.bin")
    assert vfs.info("/r/copied.bin")["size"] == size
    calls.clear()
    have_peak = peak_rss_reset()
    before = peak_rss()
    vfs.copy("/r/copied.bin", "/temp/back.bin", progress=calls.append_args)
    growth = peak_rss() - before
    assert len(calls) > 2 and calls[-1] == (size, size, "/r/copied.bin")
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    if have_peak:  # streamed: far less than the file (the bound is 64 MiB)
        assert growth < size
