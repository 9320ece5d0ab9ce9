"""Repeated timing, median/best figures and the rows of the summary table.

The machine is small and noisy, so every figure is measured ``REPEATS`` times with the
garbage collector off, and quoted as the median with the best run beside it.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

REPEATS = 9

T = TypeVar("T")


def timed(run: Callable[[T], object], setup: Callable[[], T], repeats: int = REPEATS) -> list[int]:
    """Nanoseconds of ``run(setup())``, ``repeats`` times; ``setup`` is not timed."""
    out = []
    for _ in range(repeats):
        state = setup()
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter_ns()
            run(state)
            out.append(time.perf_counter_ns() - start)
        finally:
            gc.enable()
    return out


def self_timed(run: Callable[[], int], repeats: int = REPEATS) -> list[int]:
    """``repeats`` results of ``run``, which times its own loop and returns nanoseconds."""
    out = []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            out.append(run())
        finally:
            gc.enable()
    return out


@dataclass(frozen=True)
class Figure:
    """One quantity from repeated runs: the median and the best run."""

    median: float
    best: float
    unit: str  # "/s", "ns" or "MB"

    @property
    def higher_is_better(self) -> bool:
        return self.unit == "/s"

    @classmethod
    def rate(cls, times_ns: list[int], count: int) -> Figure:
        """Items per second."""
        rates = [count * 1e9 / t for t in times_ns]
        return cls(statistics.median(rates), max(rates), "/s")

    @classmethod
    def per_item(cls, times_ns: list[int], count: int, baseline_ns: float = 0.0) -> Figure:
        """Nanoseconds per item, less ``baseline_ns`` (the same loop without the call)."""
        each = [(t - baseline_ns) / count for t in times_ns]
        return cls(statistics.median(each), min(each), "ns")

    @classmethod
    def once(cls, value: float, unit: str) -> Figure:
        return cls(value, value, unit)

    def __str__(self) -> str:
        if self.median == self.best:
            return fmt(self.median, self.unit)
        return f"{fmt(self.median, self.unit)} (best {fmt(self.best, self.unit)})"


def fmt(value: float, unit: str) -> str:
    if unit == "/s":
        if value >= 1e6:
            return f"{value / 1e6:.2f}M/s"
        return f"{value / 1e3:.0f}k/s"
    if unit == "ns":
        return f"{value / 1e3:.2f} us" if value >= 10_000 else f"{value:.0f} ns"
    return f"{value:.1f} {unit}"


@dataclass(frozen=True)
class Row:
    """One line of the summary: our figure against its target and the peer's, same run."""

    metric: str
    ours: Figure
    target: float | None = None
    peer: Figure | None = None
    peer_name: str = ""
    #: A second target: at least this many times better than the peer.
    min_ratio: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """How many times better than the peer (medians; > 1 means we win)."""
        if self.peer is None or self.peer.median <= 0 or self.ours.median <= 0:
            return None
        if self.ours.higher_is_better:
            return self.ours.median / self.peer.median
        return self.peer.median / self.ours.median

    @property
    def status(self) -> str:
        if self.target is None and self.min_ratio is None:
            return "info"
        missed = []
        if self.target is not None:
            better = self.ours.higher_is_better
            ok = self.ours.median >= self.target if better else self.ours.median <= self.target
            if not ok:
                missed.append("target")
        if self.min_ratio is not None and (self.ratio is None or self.ratio < self.min_ratio):
            missed.append("ratio")
        return f"MISS ({', '.join(missed)})" if missed else "PASS"

    def target_text(self) -> str:
        parts = []
        if self.target is not None:
            sign = ">=" if self.ours.higher_is_better else "<="
            parts.append(f"{sign} {fmt(self.target, self.ours.unit)}")
        if self.min_ratio is not None:
            parts.append(f">= {self.min_ratio:g}x peer")
        return ", ".join(parts) or "-"

    def peer_text(self) -> str:
        if self.peer is None:
            return f"{self.peer_name} (skipped)" if self.peer_name else "-"
        return f"{fmt(self.peer.median, self.peer.unit)} {self.peer_name}"

    def ratio_text(self) -> str:
        return "-" if self.ratio is None else f"{self.ratio:.1f}x"

    def report(self) -> str:
        """The line a benchmark prints as it finishes."""
        line = f"  {self.metric}: {self.ours}  target {self.target_text()}  peer {self.peer_text()}"
        if self.peer is not None:
            line += f" [{self.peer}]  ratio {self.ratio_text()}"
        line += f"  {self.status}"
        return line + (f"\n    {self.note}" if self.note else "")


def table(rows: list[Row]) -> str:
    """The summary as a fixed-width text table."""
    header = ("metric", "ours (median)", "target", "peer (median)", "ratio", "")
    cells = [
        (
            r.metric,
            fmt(r.ours.median, r.ours.unit),
            r.target_text(),
            r.peer_text(),
            r.ratio_text(),
            r.status,
        )
        for r in rows
    ]
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(len(header))]

    def line(c: tuple[str, ...]) -> str:
        return "  ".join(str(v).ljust(w) for v, w in zip(c, widths, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(c) for c in cells)])
