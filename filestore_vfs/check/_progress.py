"""Progress reporting shared by ``check`` (frames) and ``migrate`` (bytes).

Same convention as the VFS transfers: ``None``, ``True`` (a tqdm bar on stderr) or a callable
``(done, total, name)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["ProgressArg", "Reporter"]

ProgressArg = bool | Callable[[int, int | None, str], Any] | None


class Reporter:
    """Counts ``done`` towards ``total`` and tells the bar or the callable."""

    def __init__(self, progress: ProgressArg, total: int | None, unit: str, desc: str) -> None:
        self.done = 0
        self.total = total
        self._callable = progress if callable(progress) else None
        self._bar: Any = None
        if progress is True:
            from tqdm.auto import tqdm

            scale = unit == "B"
            self._bar = tqdm(
                total=total, unit=unit, unit_scale=scale, unit_divisor=1024, desc=desc, leave=False
            )

    def advance(self, n: int, name: str = "") -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self._callable is not None:
            self._callable(self.done, self.total, name)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
