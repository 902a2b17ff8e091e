"""``LockFileRoot``: a directory on a file server that has no lock a client can hold (SFTP, SMB).

What such a root shares: writes go to a hidden temporary sibling that the server renames over
the target in one step (:class:`~._fsspec.DirectoryRoot`; the filesystem's ``mv`` must
replace), missing parent directories are made when ``mkdir`` allows, and a lock file next to
the target (:class:`~._lockfile.LockFile`) keeps writers in other processes and on other
machines out. Every error of a writer, at ``write`` and at ``close()`` too, names the logical
path; a lock that could not be removed because the connection was lost is removed on the
next connection, if it is still ours. A subclass sets up the connection (:meth:`_make_fs`),
maps the server's errors (:meth:`map_error`) and says which errors mean a lost connection
(:meth:`_connection_lost`).
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from fsspec import AbstractFileSystem

from .._atomic import AtomicWriteFile
from .._root import Entry
from ._fsspec import DirectoryRoot
from ._lockfile import DEFAULT_LOCK_TIMEOUT, LockFile
from ._network import FsspecNetworkRoot

__all__ = ["LockFileRoot"]

#: Lock files of this process whose release failed on a lost connection, by server
#: (``(class, host, port)``): any root of this process on that server removes them when it
#: next connects, if they still name this process.
_UNRELEASED: dict[tuple[str, str, int], set[str]] = {}
_UNRELEASED_GUARD = threading.Lock()


class LockFileRoot(FsspecNetworkRoot, DirectoryRoot):
    """Base of the server roots whose writers are kept apart by lock files.

    lock_timeout
        Seconds after which a writer's lock file is considered stale and taken over.
    """

    hostname: str
    port: int

    def __init__(self, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT, **common: Any) -> None:
        super().__init__(**common)
        self.lock_timeout = float(lock_timeout)

    def _where(self) -> str:
        return f"{self.hostname}:{self.port}"

    def cross_process_lock(self, rel: str) -> LockFile:
        if _UNRELEASED.get(self._server()):  # another root of ours lost its connection
            self._remove_unreleased(self.fs)
        return _LostLock(self, self._lock_path(rel), self.logical(rel), timeout=self.lock_timeout)

    def open_write(self, rel: str, mode: str, release: Callable[[], None]) -> AtomicWriteFile:
        """The shared writer, whose errors at ``write`` and ``close()`` (a dropped or frozen
        connection) are translated like every other operation's: they name the logical path."""
        writer = super().open_write(rel, mode, release)
        logical = self.logical(rel)
        return writer.guarded_by(lambda: self.translate(logical))

    def ls(self, rel: str) -> list[Entry]:
        """The entries; symlinks the listing shows (entries marked ``link``: SFTP; Samba
        shows none) are judged by :meth:`judge_links`: left out if they lead out of the root
        or to the directory itself or an ancestor (a walk through those would not end)."""
        entries = super().ls(rel)
        links = {e["name"].rsplit("/", 1)[-1]: e for e in entries if e.pop("link", False)}
        if not links:
            return entries
        verdicts = self.judge_links(rel, list(links))
        for name, entry in links.items():
            verdict = verdicts.get(name)
            if verdict is None:
                entries.remove(entry)
            else:
                entry.update(verdict)
        return entries

    def judge_links(self, rel: str, names: list[str]) -> dict[str, dict[str, Any] | None]:
        """``None`` (leave out) or the type and size of what each link in ``rel`` leads to."""
        return dict.fromkeys(names)  # a backend that shows links judges them

    # -- the connection -------------------------------------------------------------------
    @property
    def fs(self) -> AbstractFileSystem:
        """The filesystem; on a new connection, our lock files left by a lost one go first."""
        fresh = self._fs is None
        fs = super().fs
        if fresh and _UNRELEASED.get(self._server()):
            self._remove_unreleased(fs)
        return fs

    def _server(self) -> tuple[str, str, int]:
        return (type(self).__name__, str(self.hostname).lower(), int(self.port))

    def _remember_unreleased(self, path: str) -> None:
        with _UNRELEASED_GUARD:
            _UNRELEASED.setdefault(self._server(), set()).add(path)

    def _remove_unreleased(self, fs: AbstractFileSystem) -> None:
        """Remove the lock files this process could not release (its connection was lost):
        each only if it still names this host and process (nobody took it over meanwhile)."""
        with _UNRELEASED_GUARD:
            paths = _UNRELEASED.pop(self._server(), set())
        for path in paths:
            try:
                holder = json.loads(fs.cat_file(path))
                if holder.get("host") == socket.gethostname() and holder.get("pid") == os.getpid():
                    fs.rm_file(path)
            except FileNotFoundError:
                pass
            except ValueError:
                pass  # not a lock of ours (half-written by someone else): the stale rules judge it
            except Exception:  # noqa: BLE001  # lost again: try on the next connection
                self._remember_unreleased(path)

    def close(self) -> None:
        self._forget_connection()

    def _forget_connection(self) -> None:
        """Drop the filesystem: the next use connects again (sshfs closes the old connection
        when it is collected; smbclient keeps its pooled one)."""
        self._fs = None

    def _connection_lost(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the server dropped the connection (the subclass's errors)."""
        return isinstance(exc, ConnectionError)

    def is_transient(self, exc: BaseException) -> bool:
        if self._connection_lost(exc):
            self._forget_connection()  # the next attempt opens a new connection
            return True
        return super().is_transient(exc)


class _LostLock(LockFile):
    """A :class:`LockFile` whose release, when the root's connection was lost meanwhile (so
    the removal could not reach the server), is done again on the root's next connection.

    A writer cut off by a killed server thus leaves no lock that blocks this process once the
    server is back; other processes judge the left-over lock by :class:`LockFile`'s rules.
    """

    def __init__(self, root: LockFileRoot, path: str, logical: str, **options: Any) -> None:
        super().__init__(root.fs, path, logical, **options)
        self._root = root

    def release(self) -> None:
        held = self.held
        super().release()
        if held and self._root._fs is not self.fs:  # the connection was dropped meanwhile
            self._root._remember_unreleased(self.path)
