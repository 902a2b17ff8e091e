"""``LockFileRoot``: a directory on a file server that has no lock a client can hold (SFTP, SMB).

What such a root shares: writes go to a hidden temporary sibling that the server renames over
the target in one step (:class:`~._fsspec.DirectoryRoot`; the filesystem's ``mv`` must
replace), missing parent directories are made when ``mkdir`` allows, and a lock file next to
the target (:class:`~._lockfile.LockFile`) keeps writers in other processes and on other
machines out. A subclass sets up the connection (:meth:`_make_fs`), maps the server's errors
(:meth:`map_error`) and says which errors mean a lost connection (:meth:`_connection_lost`).
"""

from __future__ import annotations

from typing import Any

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

    def _where(self) -> str:
        return f"{self.hostname}:{self.port}"

    def cross_process_lock(self, rel: str) -> LockFile:
        return LockFile(self.fs, self._lock_path(rel), self.logical(rel), timeout=self.lock_timeout)

    # -- the connection -------------------------------------------------------------------
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
