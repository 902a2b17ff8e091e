"""Writer locking: one writer per logical path.

Two layers. Within a process a registry of held keys always applies, whatever the backend.
Across processes, roots that can lock (local directories here; SFTP/SMB/Redis/Azure in their
own modules) add a lock of their own; :class:`FlockLock` is the one for local files.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Hashable

from ._errors import FileBusyError

__all__ = ["FlockLock", "Lease", "acquire_in_process"]

_held: set[Hashable] = set()
_held_lock = threading.Lock()


def acquire_in_process(key: Hashable, logical: str) -> Callable[[], None]:
    """Mark ``key`` as being written; return the function that releases it."""
    with _held_lock:
        if key in _held:
            raise FileBusyError(
                f"{logical} is already open for writing in this process; "
                "close the first writer before opening another"
            )
        _held.add(key)

    def release() -> None:
        with _held_lock:
            _held.discard(key)

    return release


class FlockLock:
    """An exclusive, non-blocking ``flock`` on a lock file that lives while it is held.

    The lock file is unlinked before it is unlocked; a process that opened the old file
    and locks it after that sees a different inode at the path and tries again, so two
    processes never both believe they hold the lock.
    """

    def __init__(self, path: str, logical: str) -> None:
        self.path = path
        self.logical = logical
        self._fd: int | None = None

    def acquire(self, *, blocking: bool = False) -> FlockLock:
        flags = fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, flags)
            except BlockingIOError:
                os.close(fd)
                raise FileBusyError(
                    f"{self.logical} is open for writing by another process "
                    f"(lock file {os.path.basename(self.path)!r}); try again when it is done"
                ) from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return self
            os.close(fd)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None


class Lease:
    """What a writer holds: the in-process mark and, where available, a cross-process lock."""

    def __init__(self, release_in_process: Callable[[], None], lock: FlockLock | None) -> None:
        self._release_in_process: Callable[[], None] | None = release_in_process
        self._lock = lock

    def release(self) -> None:
        """Release both locks; safe to call twice."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self._release_in_process is not None:
            self._release_in_process()
            self._release_in_process = None
