"""Writer locks as lock files, for servers that have no lock a client can hold (SFTP, SMB).

The lock is a small file next to the target, created with an *exclusive create* (SFTP
``O_EXCL``, SMB ``FILE_CREATE``): of two processes, on any machines, exactly one creates it.
It holds who owns it and when it was last refreshed, so a busy error can say who is writing,
and so a lock left behind by a writer that died (a crashed process cannot remove it) is taken
over once it is older than ``timeout`` seconds. While held, a daemon thread rewrites the time
every ``timeout / 4`` seconds, so a write that takes longer than ``timeout`` keeps its lock;
only a writer that stopped refreshing (dead, or cut off from the server) loses it. The
takeover renames the stale lock to a unique name first, which only one contender can do, and
checks that what it renamed is the stale lock it read. The owner's clock dates the lock, so
clocks that disagree by more than a fraction of ``timeout`` weaken the stale rule (never the
exclusive create itself).

Works on any fsspec filesystem whose ``open(path, "xb")`` fails when the file exists.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from fsspec import AbstractFileSystem

from .._errors import FileBusyError
from .._paths import INTERNAL_PREFIX

__all__ = ["LockFile", "lock_path_for", "DEFAULT_LOCK_TIMEOUT"]

#: Seconds after which a lock file is considered left behind by a dead writer.
DEFAULT_LOCK_TIMEOUT = 3600.0


def lock_path_for(fs_path: str) -> str:
    """The lock file of ``fs_path``: a hidden sibling (the VFS never lists it)."""
    head, _, tail = fs_path.rpartition("/")
    return f"{head}/{INTERNAL_PREFIX}lock-{tail}"


def _owner() -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001  # no user name in some containers
        user = str(os.getuid())
    return {"user": user, "host": socket.gethostname(), "pid": os.getpid()}


class LockFile:
    """An exclusive lock file on a remote filesystem; ``acquire`` raises ``FileBusyError``.

    fs, path
        The filesystem and the lock file's path in it.
    logical
        The logical path being written (for messages).
    timeout
        Age in seconds after which another writer's lock is taken over.
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
        self._clock = clock
        self._token: str | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    # -- acquiring ------------------------------------------------------------------------
    def acquire(self) -> LockFile:
        """Create the lock file, taking over a stale one; else raise ``FileBusyError``."""
        for _ in range(3):
            token = uuid.uuid4().hex
            if self._create(token):
                self._token = token
                self._start_heartbeat()
                return self
            holder = self._read(self.path)
            if holder is None:
                continue  # released between our create and our read: try again
            if not self._stale(holder) or not self._take_over(holder):
                raise self._busy(holder)
        raise self._busy(self._read(self.path) or {})

    def _body(self, token: str) -> bytes:
        return json.dumps({**_owner(), "token": token, "time": self._clock()}).encode()

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

    def _age(self, holder: dict[str, Any]) -> float:
        when = holder.get("time")
        if not isinstance(when, (int, float)):
            try:
                when = self.fs.modified(self.path).timestamp()
            except Exception:  # noqa: BLE001  # no mtime: treat it as old
                when = 0.0
        return self._clock() - float(when)

    def _stale(self, holder: dict[str, Any]) -> bool:
        return self._age(holder) > self.timeout

    def _take_over(self, holder: dict[str, Any]) -> bool:
        """Move the stale lock aside; ``True`` if it was the one we judged stale."""
        aside = f"{self.path}.stale-{uuid.uuid4().hex[:12]}"
        try:
            self.fs.mv(self.path, aside)
        except FileNotFoundError:
            return True  # someone else removed it; try to create ours
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

    def _busy(self, holder: dict[str, Any]) -> FileBusyError:
        who = "another writer"
        if holder.get("user") or holder.get("host"):
            who = f"{holder.get('user', '?')}@{holder.get('host', '?')} (pid {holder.get('pid')})"
        since = ""
        if isinstance(holder.get("time"), (int, float)):
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder["time"]))
            since = f" since {stamp}"
        return FileBusyError(
            f"{self.logical} is open for writing by {who}{since} (lock file "
            f"{self.path.rsplit('/', 1)[-1]!r}; taken over after {self.timeout:g} s); "
            "try again when it is done"
        )

    # -- keeping it fresh -----------------------------------------------------------------
    def _start_heartbeat(self) -> None:
        if self.timeout <= 0:
            return
        interval = min(max(self.timeout / 4, 0.25), 300.0)
        self._stop.clear()
        self._heartbeat = threading.Thread(
            target=self._beat, args=(interval,), name=f"vfs-lock {self.logical}", daemon=True
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
