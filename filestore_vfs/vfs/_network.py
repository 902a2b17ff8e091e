"""What every network root shares: timeouts, bounded retries, reads that survive a dropped link.

A read that fails with a transient error (connection reset, timeout) is retried with
exponential backoff, reopening the remote file at the offset already read, so a long
download resumes instead of starting over. Writes are never retried blindly: a failed write
is discarded (the old object stays) and the error is raised.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import IO, Any, ClassVar

from ._root import Root

__all__ = ["NetworkRoot", "ResilientReader", "TRANSIENT_ERRORS"]

#: Errors worth a retry on any backend; a root adds its own in :attr:`NetworkRoot.transient`.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, EOFError)


class NetworkRoot(Root):
    """Base of the roots that talk to a server.

    timeout
        Seconds to wait for the server on any one operation.
    retries
        How many times a read is retried after a transient error (0: never).
    retry_backoff
        The first retry's delay in seconds; it doubles on every retry.
    """

    #: Backend exception types that mean "try again" (besides :data:`TRANSIENT_ERRORS`).
    transient: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        retry_backoff: float = 0.25,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.retry_backoff = float(retry_backoff)

    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
            return False
        return isinstance(exc, TRANSIENT_ERRORS + self.transient)

    def retrying(self, call: Callable[[], Any]) -> Any:
        """Run ``call``; retry it on transient errors, at most :attr:`retries` times."""
        for attempt in range(self.retries + 1):
            try:
                return call()
            except Exception as exc:
                if attempt == self.retries or not self.is_transient(exc):
                    raise
                time.sleep(self.retry_backoff * 2**attempt)
        raise AssertionError("unreachable")

    def open_remote(self, rel: str, offset: int) -> IO[bytes]:
        """Open ``rel`` for reading at ``offset``; :meth:`open_read` retries through this."""
        f = self.fs.open(self.fs_path(rel), "rb")
        if offset:
            f.seek(offset)
        return f

    def open_read(self, rel: str) -> IO[bytes]:
        if self.isdir(rel):
            raise IsADirectoryError(21, "is a directory")
        return ResilientReader(self, rel)


class ResilientReader(io.RawIOBase):
    """A seekable reader that reopens the remote file where it was after a transient error."""

    def __init__(self, root: NetworkRoot, rel: str) -> None:
        super().__init__()
        self._root = root
        self._rel = rel
        self._pos = 0
        self.name = root.logical(rel)
        self._file: IO[bytes] | None = root.retrying(lambda: root.open_remote(rel, 0))

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = self._current().seek(offset, whence)
        return self._pos

    def _current(self) -> IO[bytes]:
        if self._file is None:
            self._file = self._root.open_remote(self._rel, self._pos)
        return self._file

    def _reopen_after(self, exc: BaseException) -> None:
        try:
            if self._file is not None:
                self._file.close()
        except Exception:  # noqa: BLE001  # the link is already broken
            pass
        self._file = None

    def _attempt(self, call: Callable[[IO[bytes]], Any]) -> Any:
        def once() -> Any:
            try:
                return call(self._current())
            except Exception as exc:
                if self._root.is_transient(exc):
                    self._reopen_after(exc)
                raise

        return self._root.retrying(once)

    def read(self, size: int = -1) -> bytes:
        data = self._attempt(lambda f: f.read(size))
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        super().close()
