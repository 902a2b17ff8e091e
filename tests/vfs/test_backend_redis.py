"""``RedisFile`` on redis-server: the shared suite, aiofs' key names, WATCH, bad inputs."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from filestore_vfs import (
    ConfigError,
    FileBusyError,
    FileTooLargeError,
    InvalidPathError,
    VFSError,
    VirtualFileSystem,
)
from tests.servers import RedisServer
from tests.servers._fixtures import own_server

from .helpers import free_port, writer_in_other_process
from .helpers import redis_spec as spec
from .suite import (
    BackendSuite,
    Calls,
    MiB,
    check_copy_through_root,
    check_disk_full_download,
)

pytestmark = pytest.mark.server
BACKEND = "redis"  # the fixtures of conftest.py: backend, prefix, vfs on /r


def raw_client(server: RedisServer) -> redis.Redis:
    return redis.Redis(
        host=server.host, port=server.port, password=server.password, retry=Retry(NoBackoff(), 0)
    )


class TestRedisFile(BackendSuite):
    """The shared suite on redis-server (its ``backend`` fixture: conftest.py)."""


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


def test_writer_in_another_process_is_refused_at_open(
    redis_server: RedisServer, prefix: str
) -> None:
    root = spec(redis_server, prefix=prefix, lock_ttl=1)
    with writer_in_other_process(root, "/r/locked.bin", root="r") as proc:
        vfs = VirtualFileSystem({"r": root})
        time.sleep(1.5)  # longer than lock_ttl: the holder renews its lock
        with pytest.raises(FileBusyError, match="another process"):
            vfs.open("/r/locked.bin", "wb")
        assert not vfs.exists("/r/locked.bin")
        proc.communicate("go\n", timeout=30)
        assert vfs.read_bytes("/r/locked.bin") == b"from the other process"
        vfs.write_bytes("/r/locked.bin", b"ours now")


def test_killed_writer_leaves_old_value_and_its_lock_expires(
    redis_server: RedisServer, prefix: str
) -> None:
    root = spec(redis_server, prefix=prefix, lock_ttl=1)
    vfs = VirtualFileSystem({"r": root})
    vfs.write_bytes("/r/locked.bin", b"old")
    with writer_in_other_process(root, "/r/locked.bin", root="r") as proc:
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
    port = free_port()
    vfs = VirtualFileSystem(
        {"r": {"class": "RedisFile", "port": port, "password": "pw-of-down", "retries": 0}}
    )
    for action in (lambda: vfs.read_bytes("/r/x"), lambda: vfs.write_bytes("/r/x", b"1")):
        with pytest.raises(ConnectionError) as info:
            action()
        assert f":{port}" in str(info.value) and "/r" in str(info.value)
        assert "pw-of-down" not in f"{info.value} {info.value!r}"


def test_server_dying_mid_download_leaves_local_target_intact(tmp_path: Path) -> None:
    target = tmp_path / "frame.bin"
    target.write_bytes(b"previous")
    with own_server("redis") as server:
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
    with own_server("redis") as server:
        vfs = VirtualFileSystem({"r": spec(server, chunk_size=1 << 20)})
        vfs.write_bytes("/r/up.bin", b"old")

        def progress(done: int, total: int | None, name: str) -> None:
            if done >= 4 * MiB:
                os.killpg(server.pid, signal.SIGKILL)

        with pytest.raises(ConnectionError, match="/r/up.bin"):
            vfs.put_file(source, "/r/up.bin", progress=progress)
    assert source.stat().st_size == 16 * MiB


def test_stopped_server_is_a_timeout_naming_the_root() -> None:
    with own_server("redis") as server:
        vfs = VirtualFileSystem({"r": spec(server, timeout=0.5, retries=0)})
        vfs.write_bytes("/r/t.bin", b"x")
        os.killpg(server.pid, signal.SIGSTOP)
        try:
            with pytest.raises(TimeoutError, match="/r/t.bin"):
                vfs.read_bytes("/r/t.bin")
        finally:
            os.killpg(server.pid, signal.SIGCONT)


def test_disk_full_on_download_leaves_nothing(vfs: VirtualFileSystem, tmp_path: Path) -> None:
    check_disk_full_download(vfs, "/r/big.bin", tmp_path)


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
    check_copy_through_root(vfs, "/r")


# -- files larger than the server's proto-max-bulk-len (issue #4: "a 2 GiB file") -------------
TWO_GIB_PLUS = (2 << 30) + 1
LIMIT = "proto-max-bulk-len"


def server_limit_of(r: redis.Redis) -> int:
    return int(r.config_get(LIMIT)[LIMIT])


@contextlib.contextmanager
def server_limit(r: redis.Redis, value: str) -> Iterator[int]:
    """The shared session server's limit set to ``value`` and always put back."""
    old = r.config_get(LIMIT)[LIMIT]
    r.config_set(LIMIT, value)
    try:
        yield server_limit_of(r)
    finally:
        r.config_set(LIMIT, old)


@pytest.fixture
def small_limit(r: redis.Redis) -> Iterator[int]:
    """1 MiB, the smallest limit Redis accepts, so streaming past it takes no time."""
    with server_limit(r, "1mb") as limit:
        yield limit


def sparse_file(path: Path, size: int = TWO_GIB_PLUS) -> Path:
    """A file of ``size`` bytes that costs no disk (a hole)."""
    path.touch()
    os.truncate(path, size)
    return path


def stray_keys(r: redis.Redis, prefix: str) -> list[bytes]:
    """Temporary and lock keys a writer left behind."""
    return [k for kind in ("tmp", "lock") for k in r.scan_iter(match=f"{prefix}:.~vfs-{kind}:*")]


def appends(r: redis.Redis) -> int:
    return int(r.info("commandstats").get("cmdstat_append", {}).get("calls", 0))


@contextlib.contextmanager
def nothing_sent(r: redis.Redis) -> Iterator[None]:
    """No APPEND reached the server (its own command counter) and its memory did not grow."""
    calls, memory = appends(r), int(r.info("memory")["used_memory"])
    yield
    assert appends(r) == calls
    assert int(r.info("memory")["used_memory"]) - memory < 4 * MiB


def check_too_large(
    error: FileTooLargeError, server: RedisServer, path: str, size: int, limit_mib: str | None
) -> str:
    """The error is an EFBIG OSError of our root naming what the brief asks, and no secret."""
    text = str(error)
    assert isinstance(error, OSError) and isinstance(error, VFSError)
    assert error.errno == errno.EFBIG and error.filename == path
    assert text.startswith(f"{path} would be ") and f"({size} bytes)" in text
    assert f"{server.host}:{server.port}" in text and LIMIT in text
    assert "Raise proto-max-bulk-len on that server" in text and "object-store root" in text
    if limit_mib is not None:
        assert f"more than the {limit_mib} MiB" in text
    assert server.password not in f"{text} {error!r}"
    return text


@pytest.mark.parametrize("configured_by", ["options", "url"])
def test_2gib_put_file_fails_at_once_and_keeps_the_old_value(
    redis_server: RedisServer, r: redis.Redis, prefix: str, tmp_path: Path, configured_by: str
) -> None:
    root = (
        spec(redis_server, prefix=prefix)
        if configured_by == "options"
        else {"class": "RedisFile", "url": redis_server.url, "prefix": prefix}
    )
    vfs = VirtualFileSystem({"r": root})
    vfs.write_bytes("/r/big.bin", b"old contents")
    source = sparse_file(tmp_path / "big.bin")
    calls = Calls()
    with nothing_sent(r), pytest.raises(FileTooLargeError) as info:
        vfs.put_file(source, "/r/big.bin", progress=calls.append_args)
    limit_mib = f"{server_limit_of(r) / MiB:g}"
    check_too_large(info.value, redis_server, "/r/big.bin", TWO_GIB_PLUS, limit_mib)
    assert "nothing was sent" in str(info.value) and calls == []
    assert vfs.read_bytes("/r/big.bin") == b"old contents"
    assert stray_keys(r, prefix) == []
    vfs.write_bytes("/r/big.bin", b"next")  # no lock was left behind
    assert vfs.read_bytes("/r/big.bin") == b"next"


def test_2gib_copy_or_move_from_a_local_root_fails_before_sending(
    redis_server: RedisServer, r: redis.Redis, prefix: str, tmp_path: Path
) -> None:
    vfs = VirtualFileSystem(
        {"r": spec(redis_server, prefix=prefix), "l": {"class": "LocalFile", "root": str(tmp_path)}}
    )
    sparse_file(tmp_path / "big.bin")
    vfs.write_bytes("/r/copy.bin", b"old")
    for action in (vfs.copy, vfs.move):
        with nothing_sent(r), pytest.raises(FileTooLargeError) as info:
            action("/l/big.bin", "/r/copy.bin")
        check_too_large(info.value, redis_server, "/r/copy.bin", TWO_GIB_PLUS, None)
    assert vfs.info("/l/big.bin")["size"] == TWO_GIB_PLUS  # the failed move kept its source
    assert vfs.read_bytes("/r/copy.bin") == b"old" and stray_keys(r, prefix) == []


def test_2gib_storage_add_file_fails_before_sending(
    redis_server: RedisServer, r: redis.Redis, prefix: str, tmp_path: Path
) -> None:
    vfs = VirtualFileSystem({"r": spec(redis_server, prefix=prefix)})
    storage = vfs.storage("r")
    source = sparse_file(tmp_path / "big.bin")
    storage.add_file(io.BytesIO(b"old"), "add.bin")
    with open(source, "rb") as opened:
        opened.seek(1)  # what is left of an open file counts, and is still too much
        for what in (source, opened):
            with nothing_sent(r), pytest.raises(FileTooLargeError) as info:
                storage.add_file(what, "add.bin")
            size = TWO_GIB_PLUS if what is source else TWO_GIB_PLUS - 1
            check_too_large(info.value, redis_server, "/r/add.bin", size, None)
    assert vfs.read_bytes("/r/add.bin") == b"old" and stray_keys(r, prefix) == []


def test_max_file_size_is_read_once_per_connection(
    redis_server: RedisServer, r: redis.Redis, prefix: str
) -> None:
    vfs = VirtualFileSystem({"r": spec(redis_server, prefix=prefix)})
    root = vfs.roots["r"]
    before = server_limit_of(r)
    assert root.max_file_size == before  # type: ignore[attr-defined]
    with server_limit(r, "1mb"):
        assert root.max_file_size == before  # type: ignore[attr-defined]  # cached
        root.close()
        assert root.max_file_size == MiB  # type: ignore[attr-defined]  # a new connection
        fresh = VirtualFileSystem({"r": spec(redis_server, prefix=prefix)})
        assert fresh.roots["r"].max_file_size == MiB  # type: ignore[attr-defined]


def test_streaming_past_the_limit_fails_at_the_write_that_passes_it(
    redis_server: RedisServer, r: redis.Redis, prefix: str, small_limit: int
) -> None:
    vfs = VirtualFileSystem({"r": spec(redis_server, prefix=prefix, chunk_size=64 << 10)})
    vfs.write_bytes("/r/s.bin", b"old")
    block = os.urandom(256 << 10)
    f = vfs.open("/r/s.bin", "wb")
    for _ in range(small_limit // len(block)):
        f.write(block)  # exactly the limit is allowed
    [temp] = r.scan_iter(match=f"{prefix}:.~vfs-tmp:*")
    assert r.strlen(temp) == small_limit  # the data really went to the server
    with pytest.raises(FileTooLargeError) as info:
        f.write(b"x")
    check_too_large(info.value, redis_server, "/r/s.bin", small_limit + 1, "1")
    assert "the write was discarded" in str(info.value)
    assert not r.exists(temp)  # freed at once, before the writer is closed
    with pytest.raises(FileTooLargeError):
        f.write(b"y")  # the writer stays refused
    with pytest.raises(FileTooLargeError):
        f.close()  # closing anyway commits nothing
    assert vfs.read_bytes("/r/s.bin") == b"old" and stray_keys(r, prefix) == []
    with pytest.raises(FileTooLargeError), vfs.open("/r/s.bin", "wb") as g:
        g.write(bytes(small_limit + 1))  # one write over the limit: refused before sending
    assert vfs.read_bytes("/r/s.bin") == b"old" and stray_keys(r, prefix) == []
    with pytest.raises(FileTooLargeError):
        vfs.storage("r").add_file(io.BytesIO(bytes(small_limit + 1)), "s.bin")  # no fileno
    vfs.write_bytes("/r/s.bin", block * 4)  # a second writer gets the lock and the limit
    assert vfs.read_bytes("/r/s.bin") == block * 4


async def test_async_writer_past_the_limit_keeps_the_old_value(
    redis_server: RedisServer, r: redis.Redis, prefix: str, small_limit: int, tmp_path: Path
) -> None:
    vfs = VirtualFileSystem({"r": spec(redis_server, prefix=prefix, chunk_size=64 << 10)})
    await vfs.aio.write_bytes("/r/a.bin", b"old")
    block = bytes(300 << 10)
    written = 0
    with pytest.raises(FileTooLargeError) as info:
        async with vfs.open_file("/r/a.bin", "wb") as f:
            for _ in range(8):
                await f.write(block)
                written += len(block)
    assert written == 3 * len(block)  # the fourth write passed the limit and was refused
    check_too_large(info.value, redis_server, "/r/a.bin", 4 * len(block), "1")
    assert await vfs.aio.read_bytes("/r/a.bin") == b"old" and stray_keys(r, prefix) == []
    source = sparse_file(tmp_path / "a.bin", small_limit + 1)
    with pytest.raises(FileTooLargeError, match="nothing was sent"):
        await vfs.aio.put_file(source, "/r/a.bin")
    await vfs.aio.write_bytes("/r/a.bin", b"new")  # lock released
    assert await vfs.aio.read_bytes("/r/a.bin") == b"new"


@pytest.mark.parametrize("chunk_size", [64 << 10, 4 << 20])
def test_server_refusal_after_its_limit_was_lowered_is_the_same_error(
    redis_server: RedisServer, r: redis.Redis, prefix: str, chunk_size: int
) -> None:
    vfs = VirtualFileSystem({"r": spec(redis_server, prefix=prefix, chunk_size=chunk_size)})
    vfs.write_bytes("/r/l.bin", b"old")
    root = vfs.roots["r"]
    known = root.max_file_size  # type: ignore[attr-defined]
    with server_limit(r, "1mb") as lowered:
        assert root.max_file_size == known > lowered  # type: ignore[attr-defined]
        # 64 KiB chunks: refused at the 5th write; 4 MiB: at close, in pieces the server
        # still reads (one 2 MiB argument would make it drop the connection instead)
        written = 0
        with pytest.raises(FileTooLargeError) as info, vfs.open("/r/l.bin", "wb") as f:
            for _ in range(8):
                f.write(bytes(256 << 10))
                written += 256 << 10
        refused_at = 5 * (256 << 10) if chunk_size < lowered else written
        assert written == (4 * (256 << 10) if chunk_size < lowered else 8 * (256 << 10))
        text = check_too_large(info.value, redis_server, "/r/l.bin", refused_at, "1")
        assert root.max_file_size == lowered  # type: ignore[attr-defined]  # learned
        assert "the write was discarded" in text
        assert vfs.read_bytes("/r/l.bin") == b"old" and stray_keys(r, prefix) == []
        vfs.write_bytes("/r/l.bin", b"next")
    assert vfs.read_bytes("/r/l.bin") == b"next"


def test_config_refused_by_acl_falls_back_to_512_mib(
    redis_server: RedisServer, r: redis.Redis, prefix: str
) -> None:
    user, password = f"u{prefix}", f"pw-{uuid.uuid4().hex}"
    r.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["~*"], commands=["+@all", "-config"]
    )
    try:
        root = spec(redis_server, prefix=prefix, username=user, password=password)
        vfs = VirtualFileSystem({"r": root})
        assert vfs.roots["r"].max_file_size == 512 * MiB  # type: ignore[attr-defined]
        with server_limit(r, "1mb"):
            with pytest.raises(FileTooLargeError) as info:
                vfs.write_bytes("/r/acl.bin", bytes(2 * MiB))
        text = str(info.value)
        assert "more than the limit a value can hold" in text and "512 MiB" not in text
        assert password not in f"{text} {info.value!r}" and not vfs.exists("/r/acl.bin")
        assert stray_keys(r, prefix) == []
    finally:
        r.acl_deluser(user)


def test_max_file_size_option_for_a_user_without_config(
    redis_server: RedisServer, r: redis.Redis, prefix: str, tmp_path: Path
) -> None:
    """An ACL that hides CONFIG: the configured limit replaces the 512 MiB guess."""
    user, password = f"o{prefix}", f"pw-{uuid.uuid4().hex}"
    r.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["~*"], commands=["+@all", "-config"]
    )
    try:
        root = spec(
            redis_server, prefix=prefix, username=user, password=password, max_file_size=MiB
        )
        vfs = VirtualFileSystem({"r": root})
        assert vfs.roots["r"].max_file_size == MiB  # type: ignore[attr-defined]
        vfs.write_bytes("/r/kept.bin", b"old")
        source = tmp_path / "two-mib.bin"
        source.write_bytes(bytes(2 * MiB))
        with pytest.raises(FileTooLargeError, match="more than the 1 MiB") as info:
            vfs.put_file(source, "/r/kept.bin")
        assert password not in f"{info.value} {info.value!r}"
        assert vfs.read_bytes("/r/kept.bin") == b"old" and stray_keys(r, prefix) == []
        vfs.write_bytes("/r/kept.bin", bytes(MiB))  # exactly the limit is fine
        assert vfs.info("/r/kept.bin")["size"] == MiB
    finally:
        r.acl_deluser(user)


@pytest.mark.parametrize("bad", [0, -5])
def test_max_file_size_option_must_be_positive(redis_server: RedisServer, bad: int) -> None:
    with pytest.raises(ConfigError, match="max_file_size"):
        VirtualFileSystem({"r": spec(redis_server, max_file_size=bad)})
