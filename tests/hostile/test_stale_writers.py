"""Writers that die, and names that fill NAME_MAX: every backend that locks.

* A writer process SIGKILLed mid-write (on local, SFTP and SMB roots) leaves its lock and its
  temporary file; the next writer of that path succeeds **at once** (the lock names a
  process of this host that has ended), with the default ``lock_timeout`` of an hour, and
  removes the dead writer's temporary file when it opens; ``filestore-vfs clean`` removes
  what a dead writer left and never what a live one holds.
* Azure leases and Redis lock keys lapse by themselves: a second writer is refused until then
  (``lease_duration``, ``lock_ttl``) and succeeds after.
* The stale rules themselves (dead pid, reused pid, zombie, another pid namespace or host, a
  previous boot, missed heartbeats, an old lock without heartbeat) on an in-memory server.
* Names of 200, 233, 240 and 255 bytes (ASCII and 3-byte UTF-8) are written, read and listed
  on local, SFTP and SMB roots; their lock and temporary files fit in 255 bytes and are never
  listed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.memory import MemoryFileSystem

from filestore_vfs import FileBusyError, ReadOnlyRootError, VFSError, VirtualFileSystem
from filestore_vfs.vfs._paths import INTERNAL_PREFIX
from filestore_vfs.vfs.backends._lockfile import (
    STALE_BEATS,
    LockFile,
    _machine,
    _start_time,
    internal_tail,
    lock_name,
    lock_path_for,
    parse_internal,
    temp_name,
)
from tests.vfs.helpers import azure_spec, redis_spec, sftp_spec, smb_spec, writer_in_other_process

# -- a writer that is SIGKILLed mid-write ----------------------------------------------------

KILLED_WRITER = textwrap.dedent(
    """
    import json, sys
    from filestore_vfs import VirtualFileSystem
    root, spec, path = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    vfs = VirtualFileSystem({root: spec})
    f = vfs.open(path, "wb")
    f.write(b"half of a frame" * 1000)
    f.flush()
    print("writing", flush=True)
    sys.stdin.readline()  # until the test kills us
    """
)


def kill_a_writer(spec: dict[str, Any], path: str, root: str = "t") -> int:
    """A process that opened ``path`` for writing and wrote some bytes, SIGKILLed (and
    reaped, as its parent or init would); returns its pid."""
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, root, json.dumps(spec), path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    return proc.pid


def write_when_free(vfs: VirtualFileSystem, path: str, data: bytes) -> int:
    """Write ``data`` as soon as the lock of a dead writer has lapsed on a backend whose locks
    expire by themselves (a lease, a key TTL: there is no event to wait for, so we ask
    again); returns how many times we were refused. Bounded by the test's timeout."""
    refused = 0
    while True:
        try:
            vfs.write_bytes(path, data)
            return refused
        except FileBusyError:
            refused += 1
            time.sleep(0.5)


# -- the roots that keep lock and temporary files: local, SFTP, SMB ----------------------------


@dataclass(frozen=True)
class Target:
    """A root ``/t`` and its directory as files on this machine (a server's files)."""

    kind: str
    spec: dict[str, Any]
    disk: Path


@pytest.fixture(params=["local", "sftp", "smb"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "local":
        disk = tmp_path / "root"
        return Target("local", {"class": "LocalFile", "root": str(disk)}, disk)
    if request.param == "sftp":
        server = request.getfixturevalue("sshd_server")
        return Target("sftp", sftp_spec(server), Path(server.root))
    server = request.getfixturevalue("smbd_server")
    return Target("smb", smb_spec(server), Path(server.root))


def hidden(directory: Path) -> list[str]:
    """The VFS's internal files in ``directory`` on disk."""
    if not directory.is_dir():
        return []
    return sorted(n for n in os.listdir(directory) if n.startswith(INTERNAL_PREFIX))


def temps(directory: Path) -> list[str]:
    return [n for n in hidden(directory) if n.startswith(f"{INTERNAL_PREFIX}tmp-")]


@pytest.mark.timeout(120)
def test_the_next_writer_takes_a_dead_writers_lock_at_once(target: Target) -> None:
    vfs = VirtualFileSystem({"t": target.spec})  # lock_timeout: the default hour
    sub = uuid.uuid4().hex[:8]
    path, disk = f"/t/{sub}/frame.h5", target.disk / sub
    vfs.write_bytes(path, b"old")
    pid = kill_a_writer(target.spec, path)

    left = hidden(disk)
    assert f"{INTERNAL_PREFIX}lock-frame.h5" in left  # a crashed process removes nothing
    (dead_temp,) = temps(disk)
    if target.kind != "local":  # a lock file on the server says who held it
        holder = json.loads((disk / f"{INTERNAL_PREFIX}lock-frame.h5").read_text())
        assert (holder["pid"], holder["host"]) == (pid, socket.gethostname())
    assert vfs.read_bytes(path) == b"old"  # atomic: the half-written frame is invisible
    assert vfs.ls(f"/t/{sub}") == [path]

    with vfs.open(path, "wb") as w:  # no FileBusyError: the lock's process has ended
        assert dead_temp not in hidden(disk)  # reclaimed when the path was opened
        assert len(temps(disk)) == 1  # ours
        w.write(b"new")
    assert vfs.read_bytes(path) == b"new"
    assert hidden(disk) == []
    vfs.close()


@pytest.mark.timeout(180)
def test_clean_removes_what_a_dead_writer_left_and_nothing_a_live_one_holds(
    target: Target, tmp_path: Path
) -> None:
    sub = uuid.uuid4().hex[:8]
    disk = target.disk / sub
    config = tmp_path / "vfs.yaml"
    config.write_text(json.dumps({"vfs": {"roots": {"t": target.spec}}}))  # JSON is YAML

    def clean(*options: str) -> list[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "filestore_vfs.cli", "clean", "--config", str(config)]
            + [f"/t/{sub}", *options],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()

    kill_a_writer(target.spec, f"/t/{sub}/dead.bin")
    (dead_temp,) = temps(disk)
    dead = sorted([dead_temp, f"{INTERNAL_PREFIX}lock-dead.bin"])
    with writer_in_other_process(target.spec, f"/t/{sub}/live.bin") as live:
        held = sorted(set(hidden(disk)) - set(dead))
        assert len(held) == 2  # the live writer's lock and temporary file

        lines = clean("--dry-run")
        assert lines == [f"would remove /t/{sub}/{name}" for name in dead] + [
            "would remove 2 hidden file(s) in total (dry run)"
        ]
        assert hidden(disk) == sorted(dead + held)  # a dry run changes nothing

        lines = clean()
        assert lines[:-1] == [f"removed /t/{sub}/{name}" for name in dead]
        assert hidden(disk) == held  # the live writer's files are untouched
        live.communicate("go\n", timeout=60)
    assert live.returncode == 0
    vfs = VirtualFileSystem({"t": target.spec})
    assert vfs.read_bytes(f"/t/{sub}/live.bin") == b"from the other process"
    assert vfs.ls(f"/t/{sub}") == [f"/t/{sub}/live.bin"]
    assert hidden(disk) == []
    assert clean()[-1] == "removed 0 hidden file(s) in total"
    vfs.close()


# -- names that fill NAME_MAX ---------------------------------------------------------------


def name_of(nbytes: int, multibyte: bool) -> str:
    """A legal file name of exactly ``nbytes`` UTF-8 bytes, ending in ``.bin``."""
    body = nbytes - len(".bin")
    if not multibyte:
        return "n" * body + ".bin"
    return "日" * (body // 3) + "x" * (body % 3) + ".bin"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("multibyte", [False, True], ids=["ascii", "utf8"])
@pytest.mark.parametrize("nbytes", [200, 233, 240, 255])
def test_names_up_to_255_bytes_are_written_and_their_internal_files_fit(
    target: Target, nbytes: int, multibyte: bool
) -> None:
    name = name_of(nbytes, multibyte)
    assert len(name.encode()) == nbytes
    vfs = VirtualFileSystem({"t": target.spec})
    sub = uuid.uuid4().hex[:8]
    path, disk = f"/t/{sub}/{name}", target.disk / sub
    data = os.urandom(1000)
    with vfs.open(path, "wb") as w:
        w.write(data)
        internal = hidden(disk)
        assert len(internal) == 2  # its lock and its temporary file
        assert all(len(os.fsencode(n)) <= 255 for n in internal)
        assert vfs.ls(f"/t/{sub}") == []  # nothing listed while it is being written
    assert vfs.read_bytes(path) == data
    assert vfs.ls(f"/t/{sub}") == [path]
    assert os.listdir(disk) == [name]
    vfs.write_bytes(path, b"again")  # the same lock name the second time
    assert vfs.read_bytes(path) == b"again"
    assert hidden(disk) == []
    vfs.close()


@pytest.mark.timeout(120)
def test_long_names_that_share_their_beginning_have_locks_of_their_own(target: Target) -> None:
    vfs = VirtualFileSystem({"t": target.spec})
    sub = uuid.uuid4().hex[:8]
    first, second = "日" * 83 + "a.h5", "日" * 83 + "b.h5"  # 255 and 255 bytes, 250 shared
    with vfs.open(f"/t/{sub}/{first}", "wb") as a, vfs.open(f"/t/{sub}/{second}", "wb") as b:
        a.write(b"a")
        b.write(b"b")
        assert len(hidden(target.disk / sub)) == 4
    assert vfs.read_bytes(f"/t/{sub}/{first}") == b"a"
    assert vfs.read_bytes(f"/t/{sub}/{second}") == b"b"
    assert vfs.ls(f"/t/{sub}") == sorted([f"/t/{sub}/{first}", f"/t/{sub}/{second}"])
    vfs.close()


def test_internal_names_fit_and_stay_apart() -> None:
    seen: dict[str, str] = {}
    for nbytes in range(1, 256):
        for multibyte in (False, True):
            if multibyte and nbytes < 4:
                continue
            name = name_of(nbytes, multibyte)
            tail = internal_tail(name)
            assert tail == internal_tail(name)  # deterministic: one lock per target
            assert len(lock_name(name).encode()) <= 255
            assert len(temp_name(name).encode()) <= 255
            tail.encode("utf-8")  # never half a character
            if nbytes <= 232:
                assert tail == name  # short names are kept as they are
            assert seen.setdefault(tail, name) == name  # no two names share a lock
            assert parse_internal(lock_name(name)) == ("lock", tail)
            assert parse_internal(temp_name(name)) == ("tmp", tail)
    assert parse_internal("frame.h5") is None
    assert parse_internal(f"{INTERNAL_PREFIX}tmp-abcdefgh") == ("other", "")


# -- the stale rules, on an in-memory server --------------------------------------------------

DIR = "/srv/d"


@pytest.fixture
def fs() -> MemoryFileSystem:
    fs = MemoryFileSystem(global_store=False, skip_instance_cache=True)
    fs.mkdir(DIR)
    return fs


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def zombie() -> subprocess.Popen[bytes]:
    """A child that has exited and is not reaped yet (its pid still exists)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, left unreaped
    return proc


def holder(**changes: Any) -> dict[str, Any]:
    """A lock as this process would write it now, with ``changes``."""
    body = json.loads(LockFile(MemoryFileSystem(), "/x", "/t/x")._body("their-token"))
    return {**body, **changes}


def stale_cases() -> list[tuple[str, dict[str, Any], bool]]:
    me, now = os.getpid(), time.time()
    machine = _machine()
    boot_time = machine["btime"] or now
    return [
        ("ended process, this host", {"pid": dead_pid()}, True),
        ("reused pid", {"pid": me, "start": (_start_time(me) or 0) + 1}, True),
        ("live process, this host", {"pid": me}, False),
        ("ended process, other pid namespace", {"pid": dead_pid(), "pidns": "pid:[1]"}, False),
        ("ended process, other host", {"pid": dead_pid(), "host": "elsewhere"}, False),
        ("previous boot", {"boot": "another-boot", "time": boot_time - 60}, True),
        # "age": seconds before the test runs (the cases are made at collection time)
        ("other boot, refreshed since ours", {"boot": "another-boot", "age": 0}, False),
        ("other host, missed 4 heartbeats", {"host": "elsewhere", "age": 121}, True),
        ("other host, missed 2 heartbeats", {"host": "elsewhere", "age": 60}, False),
    ]


@pytest.mark.parametrize(
    ("case", "changes", "taken"), stale_cases(), ids=[c[0] for c in stale_cases()]
)
def test_when_a_lock_is_stale(
    fs: MemoryFileSystem, case: str, changes: dict[str, Any], taken: bool
) -> None:
    lock_path = lock_path_for(f"{DIR}/frame.h5")
    changes = dict(changes)
    if "age" in changes:
        changes["time"] = time.time() - changes.pop("age")
    fs.pipe_file(lock_path, json.dumps(holder(beat=30.0, **changes)).encode())
    dead_temp = f"{DIR}/{temp_name('frame.h5')}"
    other_temp = f"{DIR}/{temp_name('other.h5')}"
    fs.pipe_file(dead_temp, b"half")
    fs.pipe_file(other_temp, b"someone else's")
    lock = LockFile(fs, lock_path, "/t/frame.h5")  # lock_timeout: the default hour
    if not taken:
        with pytest.raises(FileBusyError, match="at once if its process ends"):
            lock.acquire()
        assert fs.exists(dead_temp)
        return
    lock.acquire()
    try:
        assert lock.took_over is not None
        assert lock.reclaimed == [dead_temp]
        assert not fs.exists(dead_temp) and fs.exists(other_temp)
        assert json.loads(fs.cat_file(lock_path))["pid"] == os.getpid()
    finally:
        lock.release()
    assert not fs.exists(lock_path)
    assert [p for p in fs.ls(DIR, detail=False) if "old-" in p] == []  # nothing left aside


def test_a_zombie_owner_has_ended(fs: MemoryFileSystem) -> None:
    proc = zombie()
    try:
        lock_path = lock_path_for(f"{DIR}/x")
        fs.pipe_file(lock_path, json.dumps(holder(pid=proc.pid, beat=30.0)).encode())
        assert LockFile(fs, lock_path, "/t/x").acquire().took_over == (
            f"its process {proc.pid} has ended"
        )
    finally:
        proc.wait()


@pytest.mark.parametrize(("age", "taken"), [(1000.0, False), (4000.0, True)])
def test_a_lock_without_heartbeat_is_stale_after_lock_timeout(
    fs: MemoryFileSystem, age: float, taken: bool
) -> None:
    """An older version's lock (no ``beat``) keeps the old rule: ``lock_timeout``."""
    lock_path = lock_path_for(f"{DIR}/x")
    old = {"user": "u", "host": "elsewhere", "pid": 7, "token": "t", "time": time.time() - age}
    fs.pipe_file(lock_path, json.dumps(old).encode())
    lock = LockFile(fs, lock_path, "/t/x", timeout=3600)
    if taken:
        assert lock.acquire().took_over is not None
        lock.release()
    else:
        with pytest.raises(FileBusyError, match="taken over after 3600 s"):
            lock.acquire()


def test_a_held_lock_says_how_often_it_is_refreshed(fs: MemoryFileSystem) -> None:
    lock = LockFile(fs, lock_path_for(f"{DIR}/x"), "/t/x", timeout=3600).acquire()
    try:
        body = json.loads(fs.cat_file(lock.path))
        assert body["beat"] == 30.0 and STALE_BEATS * body["beat"] == 120.0
        assert {"host", "pid", "start", "boot", "pidns", "time", "token"} <= set(body)
    finally:
        lock.release()


# -- vfs.clean on a local root: the rules it follows -------------------------------------------


def test_clean_walks_the_tree_but_no_link_and_keeps_unknown_files_until_older_than(
    tmp_path: Path,
) -> None:
    top = tmp_path / "root"
    (top / "a" / "b").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    elsewhere = outside / temp_name("x")
    elsewhere.write_bytes(b"not ours to clean")
    (top / "way-out").symlink_to(outside)
    deep = top / "a" / "b" / temp_name("frame.tif")
    deep.write_bytes(b"a dead writer's")
    (top / "a" / lock_name("frame.tif")).write_bytes(b"")  # a flock lock file nobody holds
    foreign = top / f"{INTERNAL_PREFIX}tmp-k3j2h1g0"  # a name this version does not make
    foreign.write_bytes(b"?")
    vfs = VirtualFileSystem({"d": {"class": "LocalFile", "root": str(top)}}, defaults=False)

    expected = [f"/d/a/{lock_name('frame.tif')}", f"/d/a/b/{deep.name}"]
    assert vfs.clean("/d", dry_run=True) == expected
    assert deep.exists()
    assert vfs.clean("/d") == expected
    assert not deep.exists() and foreign.exists()
    assert elsewhere.exists()  # never through a link
    os.utime(foreign, (time.time() - 600, time.time() - 600))
    assert vfs.clean("/d", older_than=3600) == []
    assert vfs.clean("/d", older_than=60) == [f"/d/{foreign.name}"]
    assert sorted(os.listdir(top)) == ["a", "way-out"]


def test_clean_removes_a_killed_get_files_private_directory_once_idle(tmp_path: Path) -> None:
    """``get_file`` downloads into a hidden private directory beside the target; killed
    mid-download (SIGKILL), it leaves that directory, which ``older_than`` removes like a
    hidden file of another form. One holding anything but plain files is left alone."""
    top = tmp_path / "root"
    top.mkdir()
    vfs = VirtualFileSystem({"d": {"class": "LocalFile", "root": str(top)}}, defaults=False)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_bytes(b"not ours")
    killed = top / f"{INTERNAL_PREFIX}tmp-q8w7e6r5"
    killed.mkdir()
    (killed / "scan.h5").write_bytes(b"half a download")
    linked = top / f"{INTERNAL_PREFIX}tmp-z1x2c3v4"
    linked.mkdir()
    (linked / "out").symlink_to(victim)
    old = time.time() - 600
    for path in (killed / "scan.h5", killed, linked):
        os.utime(path, (old, old))
    (killed / "scan.h5").touch()  # still being written: the directory is not idle
    assert vfs.clean("/d", older_than=60) == []
    os.utime(killed / "scan.h5", (old, old))
    assert vfs.clean("/d", older_than=3600) == []
    assert vfs.clean("/d", older_than=60, dry_run=True) == [f"/d/{killed.name}"]
    assert killed.exists()
    assert vfs.clean("/d", older_than=60) == [f"/d/{killed.name}"]
    assert sorted(os.listdir(top)) == [linked.name]
    assert (victim / "keep.txt").read_bytes() == b"not ours"


def test_clean_is_refused_where_it_has_nothing_to_do(tmp_path: Path) -> None:
    vfs = VirtualFileSystem(
        {
            "m": {"class": "MemoryFile"},
            "ro": {"class": "LocalFile", "root": str(tmp_path), "read_only": True},
        },
        defaults=False,
    )
    with pytest.raises(VFSError, match="MemoryFile"):
        vfs.clean("/m")
    with pytest.raises(ReadOnlyRootError):
        vfs.clean("/ro")
    assert vfs.clean("/ro", dry_run=True) == []
    with pytest.raises(ValueError, match="older_than"):
        vfs.clean("/ro", older_than=-1, dry_run=True)


# -- backends whose locks lapse by themselves: Azure leases, Redis keys ------------------------


@pytest.mark.timeout(180)
def test_azure_a_dead_writers_lease_lapses(azurite_server: Any) -> None:
    spec = azure_spec(azurite_server, prefix=f"t{uuid.uuid4().hex[:10]}")
    vfs = VirtualFileSystem({"az": spec})
    vfs.write_bytes("/az/frame.bin", b"old")
    kill_a_writer(spec, "/az/frame.bin", root="az")
    with pytest.raises(FileBusyError, match="lease"):
        vfs.open("/az/frame.bin", "wb")  # the lease outlives its writer ...
    assert vfs.read_bytes("/az/frame.bin") == b"old"  # (its blocks were never committed)
    assert vfs.ls("/az") == ["/az/frame.bin"]
    write_when_free(vfs, "/az/frame.bin", b"new")  # ... for lease_duration (15 s) at most
    assert vfs.read_bytes("/az/frame.bin") == b"new"
    vfs.close()


@pytest.mark.timeout(120)
def test_redis_a_dead_writers_lock_key_expires(redis_server: Any) -> None:
    spec = redis_spec(redis_server, prefix=f"t{uuid.uuid4().hex[:10]}", lock_ttl=2)
    vfs = VirtualFileSystem({"r": spec})
    vfs.write_bytes("/r/frame.bin", b"old")
    kill_a_writer(spec, "/r/frame.bin", root="r")
    with pytest.raises(FileBusyError, match="lock key"):
        vfs.open("/r/frame.bin", "wb")  # the key outlives its writer ...
    assert vfs.read_bytes("/r/frame.bin") == b"old"
    assert vfs.ls("/r") == ["/r/frame.bin"]  # its temporary key is never listed (and expires)
    write_when_free(vfs, "/r/frame.bin", b"new")  # ... for lock_ttl (2 s) at most
    assert vfs.read_bytes("/r/frame.bin") == b"new"
    vfs.close()
