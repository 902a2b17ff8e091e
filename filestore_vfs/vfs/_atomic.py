"""File objects that make writes atomic: the data lands in full on close, or not at all."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import IO, Any

from ._errors import VFSError

__all__ = ["AtomicWriteFile", "AtomicTextFile"]


class AtomicWriteFile(io.BufferedIOBase):
    """A binary writer over a temporary object, committed to its final name on ``close``.

    Leaving a ``with`` block by an exception, calling :meth:`abort`, or dropping the file
    without closing it discards the temporary object and leaves the old content in place.
    """

    def __init__(
        self,
        raw: IO[bytes],
        *,
        name: str,
        commit: Callable[[], None],
        discard: Callable[[], None],
        release: Callable[[], None],
    ) -> None:
        super().__init__()
        self._raw = raw
        self.name = name
        self.mode = "wb"
        self._commit = commit
        self._discard = discard
        self._release = release
        self.write = raw.write  # type: ignore[method-assign]  # no wrapper on the hot path
        self._guard: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext
        self._failed: BaseException | None = None
        self._closing = False  # the raw file is closed (or failed to close): nothing to flush

    def guarded_by(self, guard: Callable[[], AbstractContextManager[Any]]) -> AtomicWriteFile:
        """Run every ``write``, ``close`` and ``abort`` inside ``guard()`` (a root's error
        translation, so an error at ``close()`` names the logical path); returns ``self``.

        A write that failed (a dropped connection) may have left part of its data in the
        temporary object, so ``close()`` after it discards the write instead of committing.
        """
        raw_write = self._raw.write

        def write(data: Any) -> int:
            try:
                with guard():
                    return raw_write(data)
            except Exception as exc:
                self._failed = exc
                raise

        self._guard = guard
        self.write = write  # type: ignore[method-assign]
        return self

    def writable(self) -> bool:
        return True

    # Local roots write to a real file opened read-write, so libraries that write by
    # seeking and reading back (h5py, tifffile) can write through the VFS directly.
    def readable(self) -> bool:
        return getattr(self._raw, "readable", lambda: False)()

    def read(self, size: int | None = -1) -> bytes:
        return self._raw.read(-1 if size is None else size)

    def readinto(self, buffer: Any) -> int:
        return self._raw.readinto(buffer)  # type: ignore[attr-defined]

    def truncate(self, size: int | None = None) -> int:
        return self._raw.truncate(size)

    def seekable(self) -> bool:
        return self._raw.seekable()

    def fileno(self) -> int:
        return self._raw.fileno()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def flush(self) -> None:
        if not self._closing and not self._raw.closed:
            self._raw.flush()

    def close(self) -> None:
        """Finish the write: the new content replaces the old in one step."""
        if self.closed:
            return
        if self._failed is not None:
            with contextlib.suppress(Exception):  # the failed write is the error to report
                self.abort()
            failed = self._failed
            if isinstance(failed, VFSError):
                raise failed  # ours already names the path and says what was kept
            builtin = isinstance(failed, OSError) and type(failed).__module__ == "builtins"
            raise (type(failed) if builtin else OSError)(
                getattr(failed, "errno", None),
                f"a write to {self.name} failed ({failed}), so nothing was committed",
                self.name,
            ) from failed
        # each step in its own guard: a lost connection is noticed (and dropped) by the root
        # before the discard and the release, which then use a new one or fail at once
        self._closing = True
        try:
            with self._guard():
                self._raw.close()
            with self._guard():
                self._commit()
        except BaseException:
            self._discard_quietly()
            raise
        finally:
            self._release()
            super().close()

    def abort(self) -> None:
        """Give up the write: the temporary object is removed, the old content stays."""
        if self.closed:
            return
        self._closing = True
        try:
            with self._guard():
                self._raw.close()
        finally:
            self._discard_quietly()
            self._release()
            super().close()

    def _discard_quietly(self) -> None:
        try:
            self._discard()
        except Exception:  # noqa: BLE001  # the first error is the one to report
            pass

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self) -> None:
        if not self.closed:
            warnings.warn(
                f"unclosed writer of {self.name} was discarded; close it (or use `with`) "
                "to keep what was written",
                ResourceWarning,
                stacklevel=2,
            )
            self.abort()


class AtomicTextFile(io.TextIOWrapper):
    """Text mode over :class:`AtomicWriteFile`, with the same abort-on-exception rule."""

    buffer: AtomicWriteFile  # type: ignore[assignment]

    def abort(self) -> None:
        self.buffer.abort()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.buffer.abort()
        else:
            self.close()

    def __del__(self) -> None:
        if not self.buffer.closed:
            self.buffer.__del__()
