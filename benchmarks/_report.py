"""Helpers shared by the benchmarks: timing, sizes, memory, and the report.

The report is a markdown table of ``figure | ours | anchor | ratio | target`` and one JSON
line holding the same figures and the machine they were measured on.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "Figure",
    "best_of",
    "format_size",
    "json_line",
    "machine",
    "markdown_table",
    "rst_table",
    "paired_ratio",
    "parse_size",
    "peak_rss_growth",
    "print_report",
    "timed_fresh",
]

MiB = 1 << 20
GiB = 1 << 30
_SIZE = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(i?B)?\s*\Z", re.I)


@dataclass
class Figure:
    """One measured figure and its anchor.

    ``ratio`` is ``ours / anchor``. The target is either a minimum ratio (``min_ratio``), a
    minimum value of ours (``min_value``) or a maximum value of ours (``max_value``).
    """

    name: str
    ours: float
    anchor: float | None
    unit: str
    target: str = ""
    min_ratio: float | None = None
    min_value: float | None = None
    max_value: float | None = None
    #: The median of per-round ratios (see :func:`paired_ratio`), where measured.
    paired: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.anchor in (None, 0):
            return None
        return self.ours / self.anchor  # type: ignore[operator]

    @property
    def met(self) -> bool | None:
        """Whether the target is met (``None`` when the figure has no target).

        A ratio target is judged on the paired ratio when there is one (it is the robust
        estimate on a noisy machine), else on the ratio of the best-of figures.
        """
        checks = []
        judged = self.paired if self.paired is not None else self.ratio
        if self.min_ratio is not None and judged is not None:
            checks.append(judged >= self.min_ratio)
        if self.min_value is not None:
            checks.append(self.ours >= self.min_value)
        if self.max_value is not None:
            checks.append(self.ours <= self.max_value)
        return all(checks) if checks else None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = self.ratio
        out["met"] = self.met
        return out


def parse_size(text: str | int) -> int:
    """``"1GiB"``, ``"64M"``, ``"512k"`` or a number of bytes, as bytes (powers of 1024)."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (use e.g. 1GiB, 64MiB, 4096)")
    number, unit = float(match.group(1)), match.group(2).upper()
    return int(number * 1024 ** " KMGT".index(unit or " "))


def format_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def best_of(
    repeats: int, *timed: Callable[[], float | None], runs: list[list[float]] | None = None
) -> list[float]:
    """Run each callable ``repeats`` times, alternating between them; best time of each.

    A callable returns its own elapsed time (to leave set-up out of it) or ``None`` to be
    timed whole. The order is reversed every other round (A B, B A, A B, ...), so no callable
    always runs first (on this machine's disk the second 1 GiB write of a round is often
    the slower one, whichever it is). With ``runs`` (a list), every round's times are
    appended to it, one list per round, in the callables' order.
    """
    best = [float("inf")] * len(timed)
    for round_number in range(repeats):
        times = [0.0] * len(timed)
        order = range(len(timed)) if round_number % 2 == 0 else reversed(range(len(timed)))
        for i in order:
            start = time.perf_counter()
            elapsed = timed[i]()
            if elapsed is None:
                elapsed = time.perf_counter() - start
            best[i] = min(best[i], elapsed)
            times[i] = elapsed
        if runs is not None:
            runs.append(times)
    return best


def paired_ratio(runs: list[list[float]]) -> float:
    """The median over rounds of ``time[1] / time[0]``: ours over the anchor's speed.

    ``runs`` holds ``[our time, anchor time]`` per round. Each round's two runs are back to
    back, so they share the machine's state; the median of their ratios is robust where the
    best-of figures are at the mercy of a noisy disk or busy neighbours.
    """
    return statistics.median(anchor / ours for ours, anchor in runs)


def _status_kib(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field_name} in /proc/self/status")


def peak_rss_growth(fn: Callable[[], Any]) -> float:
    """Peak resident memory growth of this process while ``fn`` runs, in bytes.

    Resets the high-water mark (``VmHWM``) with ``echo 5 > /proc/self/clear_refs``, so the
    peak is the one ``fn`` caused, not an earlier one.
    """
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    fn()
    return max(0, _status_kib("VmHWM") - before) * 1024.0


def timed_fresh(target: str, action: Callable[[], Any]) -> float:
    """Seconds ``action`` takes to write ``target`` anew: the old target is removed and
    earlier writes are flushed (``os.sync``) before the clock starts."""
    if os.path.exists(target):
        os.remove(target)
    os.sync()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count(),
        "argv": " ".join(sys.argv[1:]),
    }


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "B":
        return format_size(value)
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "MiB/s":
        return f"{value:,.0f} MiB/s"
    return f"{value:,.3g} {unit}".strip()


def _ratio_cell(fig: Figure) -> str:
    if fig.ratio is None:
        return "–"
    if fig.paired is None:
        return f"{fig.ratio:.2f}×"
    return f"{fig.ratio:.2f}× (paired {fig.paired:.2f}×)"


def markdown_table(figures: Iterable[Figure]) -> str:
    """The figures as a markdown table (``met`` is shown next to the target)."""
    rows = [
        "| figure | ours | anchor | ratio | target |",
        "|---|---:|---:|---:|---|",
    ]
    for fig in figures:
        ratio = _ratio_cell(fig)
        verdict = {True: " ✓", False: " ✗", None: ""}[fig.met]
        rows.append(
            f"| {fig.name} | {_fmt(fig.ours, fig.unit)} | {_fmt(fig.anchor, fig.unit)} "
            f"| {ratio} | {fig.target}{verdict} |"
        )
    return "\n".join(rows)


def rst_table(figures: Iterable[Figure]) -> str:
    """The figures as a reST ``list-table`` (for the docs' performance page)."""
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - figure",
        "     - ours",
        "     - anchor",
        "     - ratio",
        "     - target",
    ]
    for fig in figures:
        ratio = _ratio_cell(fig)
        verdict = {True: " ✓", False: " ✗", None: ""}[fig.met]
        name = fig.name.replace("`", "``")  # markdown code spans as reST literals
        cells = [name, _fmt(fig.ours, fig.unit), _fmt(fig.anchor, fig.unit), ratio]
        cells.append(f"{fig.target}{verdict}")
        lines.append(f"   * - {cells[0]}")
        lines.extend(f"     - {cell}" for cell in cells[1:])
    return "\n".join(lines)


def json_line(figures: Iterable[Figure], **extra: Any) -> str:
    """One JSON line: the machine, then every figure with its ratio and verdict."""
    payload = {"machine": machine(), **extra, "figures": [f.as_dict() for f in figures]}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def print_report(figures: list[Figure]) -> int:
    """Print the markdown table and the JSON line (a benchmark module run on its own);
    returns the exit status, 0."""
    print(markdown_table(figures))
    print(json_line(figures))
    return 0


def rate_figure(
    name: str,
    repeats: int,
    n: int,
    ours: Callable[[], Any],
    anchor: Callable[[], Any],
    target: str = "",
    min_ratio: float | None = None,
    *,
    unit: str = "/s",
) -> Figure:
    """A rate figure (``n`` items per second) of ``ours`` beside ``anchor``: best of
    ``repeats`` paired rounds, with the paired ratio."""
    runs: list[list[float]] = []
    t_ours, t_anchor = best_of(repeats, ours, anchor, runs=runs)
    return Figure(
        name,
        n / t_ours,
        n / t_anchor,
        unit,
        target=target,
        min_ratio=min_ratio,
        paired=paired_ratio(runs),
        notes={"frames": n},
    )
