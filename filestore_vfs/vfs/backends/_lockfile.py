"""Writer locks as lock files, for servers that have no lock a client can hold (SFTP, SMB),
and the names of the hidden files next to a target (lock files, temporary files).

The lock is a small file next to the target, created with an *exclusive create* (SFTP
``O_EXCL``, SMB ``FILE_CREATE``): of two processes, on any machines, exactly one creates it.
It holds who owns it (user, host, pid and what identifies that process: its start time, the
host's boot id and pid namespace), when it was last refreshed and how often it is refreshed
(``beat``), so a busy error can say who is writing, and so a lock left behind by a writer
that died (a crashed process cannot remove it) is taken over:

* **at once** when its owner is provably gone: the lock was made on this host (same host
  name, same boot id, same pid namespace) and its pid no longer exists, or now names a
  process that started at another time (the pid was reused); or the lock names this host
  but a previous boot, and was last refreshed before this boot;
* otherwise once it has not been refreshed for :data:`STALE_BEATS` heartbeat intervals
  (three refreshes missed in a row, and one interval of grace for a slow link or a busy
  machine). While held, a daemon thread rewrites the time every
  :func:`heartbeat_interval` seconds (``lock_timeout / 4``, at least 0.25 s and at most
  30 s), so a lock of a writer that still runs is never taken over, however long it writes;
  only a writer that stopped refreshing (dead, or cut off from the server) loses it. With the
  default ``lock_timeout`` of 3600 s that is 2 minutes after the last refresh;
* a lock that does not say how often it is refreshed (unreadable, half-written, or made by
  an older version) is taken over once it is older than ``lock_timeout``.

The takeover renames the stale lock to a unique name first, which only one contender can
do, and checks that what it renamed is the stale lock it read. The owner's clock dates the
lock, so clocks that disagree by more than a fraction of the stale age (2 minutes by
default) weaken the heartbeat rule (never the exclusive create itself, nor the rule for a
dead owner on the same host).

A lock also owns the temporary siblings of its target (``.~vfs-tmp-<12 hex>-<name>``): every
writer holds the lock for its whole life, so while we hold it no other sibling can belong to
a live writer. Taking over a dead writer's lock therefore removes its temporary files.

Internal names never push a legal name past ``NAME_MAX`` (255 bytes): a target name longer
than :data:`TAIL_MAX` bytes is carried cut at a character boundary, with ``~`` and 16 hex
digits of its SHA-256 appended (:func:`internal_tail`), so different long names do not share
a lock, and the lock name stays the same for the same target.

Works on any fsspec filesystem whose ``open(path, "xb")`` fails when the file exists.
"""

from __future__ import annotations

import errno
import functools
import getpass
import hashlib
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from fsspec import AbstractFileSystem

from .._errors import FileBusyError
from .._paths import INTERNAL_PREFIX

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "LockFile",
    "STALE_BEATS",
    "heartbeat_interval",
    "internal_tail",
    "lock_name",
    "lock_path_for",
    "owner_gone",
    "parse_internal",
    "temp_name",
]

#: Seconds after which a lock file that does not say how often it is refreshed is stale.
DEFAULT_LOCK_TIMEOUT = 3600.0
#: A lock not refreshed for this many heartbeat intervals is stale (3 missed, 1 of grace).
STALE_BEATS = 4
#: Bounds of the heartbeat interval (seconds).
MIN_BEAT, MAX_BEAT = 0.25, 30.0

#: The longest file name most filesystems (ext4, XFS, Samba's, OpenSSH's) store, in bytes.
NAME_MAX = 255
#: The longest prefix an internal name puts before the target's name (``.~vfs-tmp-<12 hex>-``).
_PREFIX_BYTES = len(f"{INTERNAL_PREFIX}tmp-{'0' * 12}-")
#: Bytes of a target's name that internal names carry unchanged.
TAIL_MAX = NAME_MAX - _PREFIX_BYTES
_HASH_HEX = 16
_TOKENED = re.compile(re.escape(INTERNAL_PREFIX) + r"(tmp|old)-[0-9a-f]{12}-(.+)\Z", re.DOTALL)
_LOCK = re.compile(re.escape(INTERNAL_PREFIX) + r"lock-(.+)\Z", re.DOTALL)


# -- internal names -------------------------------------------------------------------------
def _cut_utf8(raw: bytes, limit: int) -> str:
    """The longest prefix of the UTF-8 ``raw`` of at most ``limit`` bytes, as text (never
    half a character)."""
    end = min(len(raw), limit)
    i = end
    while i > 0 and end - i < 3 and raw[i - 1] & 0xC0 == 0x80:
        i -= 1  # back over continuation bytes to the character's first byte
    if i > 0 and raw[i - 1] >= 0xC0:
        lead = raw[i - 1]
        need = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        if end - (i - 1) < need:
            end = i - 1
    return raw[:end].decode("utf-8", "surrogateescape")


def internal_tail(name: str) -> str:
    """A target's name as the names of its lock and temporary files carry it.

    Unchanged up to :data:`TAIL_MAX` (232) UTF-8 bytes; a longer name is cut at a character
    boundary and ends in ``~`` and 16 hex digits of the SHA-256 of the whole name, so every
    internal name fits in 255 bytes and two long names that share a beginning differ.
    """
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= TAIL_MAX:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:_HASH_HEX]
    return f"{_cut_utf8(raw, TAIL_MAX - 1 - _HASH_HEX)}~{digest}"


def lock_name(name: str) -> str:
    """The lock file's name of a target named ``name`` (the same for the same target)."""
    return f"{INTERNAL_PREFIX}lock-{internal_tail(name)}"


def temp_name(name: str, token: str | None = None) -> str:
    """A fresh temporary file's name of a target named ``name`` (``token``: 12 hex digits)."""
    return f"{INTERNAL_PREFIX}tmp-{token or uuid.uuid4().hex[:12]}-{internal_tail(name)}"


def _aside_name(tail: str) -> str:
    """The unique name a lock is renamed to while it is taken over."""
    return f"{INTERNAL_PREFIX}old-{uuid.uuid4().hex[:12]}-{tail}"


def parse_internal(name: str) -> tuple[str, str] | None:
    """``(kind, tail)`` of an internal file's name: ``kind`` is ``tmp`` (a writer's
    temporary file), ``lock``, ``old`` (a lock being taken over) or ``other`` (an internal
    name of another form: tail ``""``); ``tail`` is :func:`internal_tail` of the target's
    name. ``None`` for a name that is not internal."""
    if not name.startswith(INTERNAL_PREFIX):
        return None
    match = _TOKENED.match(name)
    if match:
        return match.group(1), match.group(2)
    match = _LOCK.match(name)
    if match:
        return "lock", match.group(1)
    return "other", ""


def lock_path_for(fs_path: str) -> str:
    """The lock file of ``fs_path``: a hidden sibling (the VFS never lists it)."""
    head, _, tail = fs_path.rpartition("/")
    return f"{head}/{lock_name(tail)}"


def heartbeat_interval(timeout: float) -> float:
    """Seconds between two refreshes of a held lock of ``lock_timeout`` ``timeout``."""
    return min(max(timeout / 4, MIN_BEAT), MAX_BEAT)


# -- who owns a lock ------------------------------------------------------------------------
def _read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """The state and start time (clock ticks since boot) of process ``pid``, from
    ``/proc/<pid>/stat`` (fields 3 and 22); ``None`` where there is no ``/proc``."""
    stat = _read_text(f"/proc/{pid}/stat")
    if not stat:
        return None
    try:
        fields = stat.rsplit(")", 1)[1].split()
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def _start_time(pid: int) -> int | None:
    stat = _proc_stat(pid)
    return stat[1] if stat else None


@functools.lru_cache(maxsize=1)
def _machine() -> dict[str, Any]:
    """What identifies this host's current boot and this process's pid namespace."""
    try:
        pidns: str | None = os.readlink("/proc/self/ns/pid")
    except OSError:
        pidns = None
    btime = None
    for line in (_read_text("/proc/stat") or "").splitlines():
        if line.startswith("btime "):
            btime = float(line.split()[1])
    return {"boot": _read_text("/proc/sys/kernel/random/boot_id"), "pidns": pidns, "btime": btime}


def _owner() -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001  # no user name in some containers
        user = str(os.getuid())
    machine = _machine()
    pid = os.getpid()
    return {
        "user": user,
        "host": socket.gethostname(),
        "pid": pid,
        "start": _start_time(pid),
        "boot": machine["boot"],
        "pidns": machine["pidns"],
    }


def owner_gone(holder: dict[str, Any]) -> str | None:
    """Why the process that made the lock ``holder`` provably no longer runs, else ``None``.

    Only a lock made on this host can be judged: the same host name, and the same boot id and
    pid namespace (so a container's pids are not looked up among the host's, nor a pid of a
    previous boot among this one's). Then the owner is gone if its pid does not exist, or
    exists but is a zombie or started at another time (a reused pid). A lock of a previous
    boot of this host is gone if it was last refreshed before this boot.
    """
    if holder.get("host") != socket.gethostname():
        return None
    machine = _machine()
    boot = holder.get("boot")
    if boot != machine["boot"]:
        when = holder.get("time")
        if (
            boot is not None
            and machine["boot"] is not None
            and machine["btime"] is not None
            and isinstance(when, (int, float))
            and when < machine["btime"]
        ):
            return "its host was restarted since"
        return None
    if holder.get("pidns") != machine["pidns"]:
        return None
    pid = holder.get("pid")
    if type(pid) is not int or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"its process {pid} has ended"
    except PermissionError:
        pass  # it exists (another user's)
    except OSError:
        return None
    stat = _proc_stat(pid)
    if stat is None:
        return None
    if stat[0] in ("Z", "X"):
        return f"its process {pid} has ended"
    start = holder.get("start")
    if type(start) is int and stat[1] != start:
        return f"its process {pid} has ended (the pid now names another process)"
    return None


class LockFile:
    """An exclusive lock file on a remote filesystem; ``acquire`` raises ``FileBusyError``.

    fs, path
        The filesystem and the lock file's path in it (named by :func:`lock_path_for`).
    logical
        The logical path being written (for messages).
    timeout
        ``lock_timeout``: sets the heartbeat interval (:func:`heartbeat_interval`), and the age
        after which a lock that does not say how often it is refreshed is taken over; 0 takes
        over any other writer's lock.
    """

    def __init__(
        self,
        fs: AbstractFileSystem,
        path: str,
        logical: str,
        *,
        timeout: float = DEFAULT_LOCK_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fs = fs
        self.path = path
        self.logical = logical
        self.timeout = float(timeout)
        self.beat = heartbeat_interval(self.timeout)
        self._clock = clock
        self._token: str | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        #: Why the lock we took over was stale (``None``: it was free).
        self.took_over: str | None = None
        #: The dead writer's temporary files removed when we took its lock over.
        self.reclaimed: list[str] = []

    @property
    def _directory(self) -> str:
        return self.path.rpartition("/")[0]

    @property
    def _tail(self) -> str:
        """:func:`internal_tail` of the target's name, as the lock's name carries it."""
        name = self.path.rpartition("/")[2]
        parsed = parse_internal(name)
        return parsed[1] if parsed and parsed[0] == "lock" else internal_tail(name)

    # -- acquiring ------------------------------------------------------------------------
    def acquire(self) -> LockFile:
        """Create the lock file, taking over a stale one; else raise ``FileBusyError``."""
        for _ in range(3):
            token = uuid.uuid4().hex
            if self._create(token):
                self._token = token
                self._start_heartbeat()
                if self.took_over is not None:
                    self.reclaimed = self.reclaim_temps()
                return self
            holder = self._read(self.path)
            if holder is None:
                continue  # released between our create and our read: try again
            why = self.stale(holder)
            if why is None or not self._take_over(holder):
                raise self._busy(holder)
            self.took_over = why
        raise self._busy(self._read(self.path) or {})

    def probe(self) -> dict[str, Any] | None:
        """The holder of a live lock, or ``None`` if the lock is free or stale (changes
        nothing)."""
        holder = self._read(self.path)
        if holder is None or self.stale(holder) is not None:
            return None
        return holder

    def _body(self, token: str) -> bytes:
        body = {**_owner(), "token": token, "time": self._clock(), "beat": self.beat}
        return json.dumps(body).encode()

    def _create(self, token: str) -> bool:
        body = self._body(token)
        try:
            with self.fs.open(self.path, "xb") as f:
                f.write(body)
        except FileExistsError:
            return False
        except Exception:
            # SFTP v3 answers an exclusive create of an existing file with a generic
            # SSH_FX_FAILURE: the lock exists if the file does.
            if self.fs.exists(self.path):
                return False
            raise
        return True

    def _read(self, path: str) -> dict[str, Any] | None:
        for attempt in range(4):
            try:
                data = self.fs.cat_file(path)
                break
            except FileNotFoundError:
                return None
            except Exception:  # noqa: BLE001  # being rewritten (an SMB sharing violation)
                if attempt == 3:
                    return {}  # unreadable: judged by its mtime
                time.sleep(0.05 * (attempt + 1))
        try:
            holder = json.loads(data)
            return holder if isinstance(holder, dict) else {}
        except ValueError:
            return {}  # half-written by a writer that died while creating it: stale by mtime

    def _age(self, holder: dict[str, Any], path: str | None = None) -> float:
        when = holder.get("time")
        if not isinstance(when, (int, float)):
            try:
                when = self.fs.modified(path or self.path).timestamp()
            except Exception:  # noqa: BLE001  # no mtime: treat it as old
                when = 0.0
        return self._clock() - float(when)

    def stale(self, holder: dict[str, Any], path: str | None = None) -> str | None:
        """Why the lock ``holder`` (read from ``path``, default ours) may be taken over, or
        ``None`` while its owner may still be writing."""
        gone = owner_gone(holder)
        if gone is not None:
            return gone
        age = self._age(holder, path)
        beat = holder.get("beat")
        if isinstance(beat, (int, float)) and not isinstance(beat, bool) and beat > 0:
            limit = min(self.timeout, STALE_BEATS * float(beat))
            if age > limit:
                return f"it was last refreshed {age:.1f} s ago, every {beat:g} s before"
            return None
        if age > self.timeout:
            return f"it is {age:.1f} s old (lock_timeout {self.timeout:g} s)"
        return None

    def _take_over(self, holder: dict[str, Any]) -> bool:
        """Move the stale lock aside; ``True`` if it was the one we judged stale."""
        aside = f"{self._directory}/{_aside_name(self._tail)}"
        try:
            self.fs.mv(self.path, aside)
        except OSError as exc:  # SMB's "not found" is an OSError with ENOENT
            if isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOENT:
                return True  # someone else removed it; try to create ours
            raise
        moved = self._read(aside) or {}
        if moved.get("token") == holder.get("token"):
            self._remove_quietly(aside)
            return True
        # We moved a fresh lock that replaced the stale one meanwhile: put it back.
        try:
            self.fs.mv(aside, self.path)
        except OSError:
            self._remove_quietly(aside)
        return False

    def reclaim_temps(self) -> list[str]:
        """Remove the temporary files of our target (call only while holding the lock: then
        none belongs to a live writer); returns their paths."""
        removed = []
        try:
            names = self.fs.ls(self._directory, detail=False)
        except Exception:  # noqa: BLE001  # the directory went away: nothing to reclaim
            return removed
        for path in names:
            parsed = parse_internal(str(path).rstrip("/").rpartition("/")[2])
            if parsed == ("tmp", self._tail):
                try:
                    self.fs.rm_file(path)
                    removed.append(str(path))
                except Exception:  # noqa: BLE001  # gone already, or still open on the
                    pass  # server (SMB): best effort; `filestore-vfs clean` tries again
        return removed

    def _busy(self, holder: dict[str, Any]) -> FileBusyError:
        who = "another writer"
        if holder.get("user") or holder.get("host"):
            who = f"{holder.get('user', '?')}@{holder.get('host', '?')} (pid {holder.get('pid')})"
        since = ""
        if isinstance(holder.get("time"), (int, float)):
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder["time"]))
            since = f", last refreshed {stamp}"
        beat = holder.get("beat")
        if isinstance(beat, (int, float)) and beat > 0:
            after = min(self.timeout, STALE_BEATS * float(beat))
            rule = f"taken over if not refreshed for {after:g} s, or at once if its process ends"
        else:
            rule = f"taken over after {self.timeout:g} s"
        return FileBusyError(
            f"{self.logical} is open for writing by {who}{since} (lock file "
            f"{self.path.rsplit('/', 1)[-1]!r}; {rule}); try again when it is done"
        )

    # -- keeping it fresh -----------------------------------------------------------------
    def _start_heartbeat(self) -> None:
        if self.timeout <= 0:
            return
        self._stop.clear()
        self._heartbeat = threading.Thread(
            target=self._beat, args=(self.beat,), name=f"vfs-lock {self.logical}", daemon=True
        )
        self._heartbeat.start()

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            token = self._token
            if token is None:
                return
            try:
                holder = self._read(self.path)
                if holder is None or holder.get("token") not in (token, None):
                    return  # taken over (we were cut off too long): nothing left to refresh
                with self.fs.open(self.path, "wb") as f:
                    f.write(self._body(token))
            except Exception:  # noqa: BLE001  # a dead link: the lock goes stale, as it should
                pass

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._heartbeat is not None and self._heartbeat is not threading.current_thread():
            self._heartbeat.join(timeout=30)
        self._heartbeat = None

    # -- releasing ------------------------------------------------------------------------
    def release(self) -> None:
        """Remove the lock file if it is still ours (a taken-over lock is left alone)."""
        if self._token is None:
            return
        self._stop_heartbeat()
        token, self._token = self._token, None
        try:
            holder = self._read(self.path)
            if holder is not None and holder.get("token") == token:
                self.fs.rm_file(self.path)
        except Exception:  # noqa: BLE001  # a dead link: the lock goes stale and is taken over
            pass

    @property
    def held(self) -> bool:
        return self._token is not None

    def _remove_quietly(self, path: str) -> None:
        try:
            self.fs.rm_file(path)
        except Exception:  # noqa: BLE001
            pass
