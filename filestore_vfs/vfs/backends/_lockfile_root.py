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
from ._fsspec import DirectoryRoot
from ._lockfile import DEFAULT_LOCK_TIMEOUT, LockFile
from ._network import FsspecNetworkRoot

__all__ = ["LockFileRoot"]


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
        #: lock files of ours whose release failed on a lost connection (see _LostLock)
        self._unreleased: set[str] = set()
        self._unreleased_guard = threading.Lock()

    def _where(self) -> str:
        return f"{self.hostname}:{self.port}"

    def cross_process_lock(self, rel: str) -> LockFile:
        return _LostLock(self, self._lock_path(rel), self.logical(rel), timeout=self.lock_timeout)

    def open_write(self, rel: str, mode: str, release: Callable[[], None]) -> AtomicWriteFile:
        """The shared writer, whose errors at ``write`` and ``close()`` (a dropped or frozen
        connection) are translated like every other operation's: they name the logical path."""
        writer = super().open_write(rel, mode, release)
        logical = self.logical(rel)
        return writer.guarded_by(lambda: self.translate(logical))

    # -- the connection -------------------------------------------------------------------
    @property
    def fs(self) -> AbstractFileSystem:
        """The filesystem; on a new connection, our lock files left by a lost one go first."""
        fs = super().fs
        if self._unreleased:
            self._remove_unreleased(fs)
        return fs

    def _remove_unreleased(self, fs: AbstractFileSystem) -> None:
        """Remove the lock files this process could not release (its connection was lost):
        each only if it still names this host and process (nobody took it over meanwhile)."""
        with self._unreleased_guard:
            paths, self._unreleased = self._unreleased, set()
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
                with self._unreleased_guard:
                    self._unreleased.add(path)

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
            with self._root._unreleased_guard:
                self._root._unreleased.add(self.path)
