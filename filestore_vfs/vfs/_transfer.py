"""Streaming copies with progress: the one loop every transfer goes through.

``progress`` is ``None``, ``True`` (a tqdm bar on stderr) or a callable
``(done_bytes, total_bytes, name)`` called after every chunk. Between two real files the
copy uses ``os.sendfile`` (no bytes pass through Python); otherwise it reuses one buffer, so
memory stays flat whatever the file size.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, Any

__all__ = ["Progress", "ProgressTo", "copy_stream", "CHUNK"]

CHUNK = 8 << 20
Progress = bool | Callable[[int, int | None, str], Any] | None


class _Reporter:
    def __init__(self, progress: Progress, total: int | None, name: str) -> None:
        self._call: Callable[[int], Any] | None = None
        self._bar: Any = None
        if progress is True:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name)
            self._call = self._bar.update
            self._absolute = False
        elif callable(progress):
            self._call = lambda done: progress(done, total, name)
            self._absolute = True
        self.done = 0

    def add(self, n: int) -> None:
        self.done += n
        if self._call is not None:
            self._call(self.done if self._absolute else n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class ProgressTo:
    """``progress`` fed with absolute byte counts (a transport's own transfer reports them);
    a context manager that closes the bar."""

    def __init__(self, progress: Progress, total: int | None, name: str) -> None:
        self._args = (progress, total, name)
        self._reporter: _Reporter | None = None  # no bar until a byte arrives

    def __call__(self, done: int) -> None:
        if self._reporter is None:
            self._reporter = _Reporter(*self._args)
        if done > self._reporter.done:
            self._reporter.add(done - self._reporter.done)

    def __enter__(self) -> ProgressTo:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._reporter is not None:
            self._reporter.close()


def _fileno(f: IO[bytes]) -> int | None:
    try:
        return f.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def copy_stream(
    src: IO[bytes],
    dst: IO[bytes],
    *,
    total: int | None = None,
    progress: Progress = None,
    name: str = "",
) -> int:
    """Copy ``src`` to ``dst`` from their current positions; return the bytes copied."""
    reporter = _Reporter(progress, total, name)
    try:
        in_fd, out_fd = _fileno(src), _fileno(dst)
        if in_fd is not None and out_fd is not None and hasattr(os, "sendfile"):
            _sendfile(in_fd, out_fd, src, dst, reporter)
        else:
            _buffered(src, dst, reporter)
        return reporter.done
    finally:
        reporter.close()


def _sendfile(in_fd: int, out_fd: int, src: IO[bytes], dst: IO[bytes], rep: _Reporter) -> None:
    dst.flush()
    offset = src.tell()
    while True:
        sent = os.sendfile(out_fd, in_fd, offset, CHUNK)
        if sent == 0:
            break
        offset += sent
        rep.add(sent)
    src.seek(offset)


def _buffered(src: IO[bytes], dst: IO[bytes], rep: _Reporter) -> None:
    readinto = getattr(src, "readinto", None)
    if readinto is None:
        while chunk := src.read(CHUNK):
            dst.write(chunk)
            rep.add(len(chunk))
        return
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while n := readinto(buf):
        dst.write(view[:n])
        rep.add(n)
