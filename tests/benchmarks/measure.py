"""Interleaved repetitions, their spread, and the rows of the summary tables.

The machine is small and shared, so noise comes in bursts. If all of our repetitions ran
before all of the peer's, one burst would land on one side only and the ratio would be
noise. So every side of a comparison runs once per round, rounds alternate which side goes
first (AB, BA, AB, …: neither side always runs after the other's garbage or on its warm
cache), every repetition is a fresh timing of a fresh setup, and a figure keeps all its
repetitions: the tables quote the median with min-max and the interquartile range, and
the ratio of medians with the range of the per-round (paired) ratios.

Each repetition also records the CPU time the process spent (``time.process_time_ns``, all
threads). On a shared machine a repetition that was descheduled is slow on the wall clock
but not in CPU time, so for CPU-bound work the CPU-time ratio is the steadier of the two;
for work that waits (fsync, sockets) only the wall clock tells.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Plan:
    """How much to measure: repetitions per side and a scale on the full input sizes."""

    repeats: int = 9
    scale: float = 1.0

    def size(self, full: int, least: int = 100) -> int:
        return max(least, int(full * self.scale))


FULL = Plan()
#: A few seconds in all: to see that the harness works, not to quote figures.
QUICK = Plan(repeats=3, scale=0.01)


class Timing(NamedTuple):
    """One repetition: wall-clock and CPU nanoseconds."""

    wall: int
    cpu: int


def stopwatch() -> Callable[[], Timing]:
    """Started now; call the result for the time elapsed since."""
    cpu, wall = time.process_time_ns(), time.perf_counter_ns()
    return lambda: Timing(time.perf_counter_ns() - wall, time.process_time_ns() - cpu)


def timing(run: Callable[[T], object], setup: Callable[[], T]) -> Callable[[], Timing]:
    """One repetition: ``run(setup())``, ``setup`` not timed."""

    def once() -> Timing:
        state = setup()
        elapsed = stopwatch()
        run(state)
        return elapsed()

    return once


def interleaved(sides: dict[str, Callable[[], Timing]], repeats: int) -> dict[str, list[Timing]]:
    """Nanoseconds of each side, ``repeats`` rounds of one repetition a side.

    Round ``r`` starts with side ``r mod k``. The garbage collector is off during each
    repetition, and its young generations are collected between them, so that no side pays
    for another's garbage. Everything alive at the start (the inputs) is collected once and
    frozen (``gc.freeze``), so that no collection walks every frame and delta again.
    """
    names = list(sides)
    out: dict[str, list[Timing]] = {name: [] for name in names}
    gc.collect()
    gc.freeze()
    try:
        for r in range(repeats):
            start = r % len(names)
            for name in names[start:] + names[:start]:
                gc.collect(1)
                gc.disable()
                try:
                    out[name].append(sides[name]())
                finally:
                    gc.enable()
    finally:
        gc.unfreeze()
    return out


@dataclass(frozen=True)
class Figure:
    """One quantity, every repetition kept in the order the rounds ran."""

    values: tuple[float, ...]
    unit: str  # "/s", "ns", "us", "ms" or "MB"
    #: The same quantity from CPU time, when it was measured.
    cpu: tuple[float, ...] = ()

    @property
    def higher_is_better(self) -> bool:
        return self.unit == "/s"

    @classmethod
    def rate(cls, times: list[Timing], count: int) -> Figure:
        """Items per second."""
        return cls(
            tuple(count * 1e9 / t.wall for t in times),
            "/s",
            tuple(count * 1e9 / max(t.cpu, 1) for t in times),
        )

    @classmethod
    def per_item(cls, times: list[Timing], count: int, baseline: Figure | None = None) -> Figure:
        """Nanoseconds per item, less ``baseline``'s median (the loop without the call)."""
        wall = 0.0 if baseline is None else baseline.median
        cpu = 0.0 if baseline is None or not baseline.cpu else statistics.median(baseline.cpu)
        return cls(
            tuple(t.wall / count - wall for t in times),
            "ns",
            tuple(t.cpu / count - cpu for t in times),
        )

    @classmethod
    def of(cls, values: list[float], unit: str) -> Figure:
        return cls(tuple(values), unit)

    @classmethod
    def once(cls, value: float, unit: str) -> Figure:
        """A single measurement (no spread to report)."""
        return cls((value,), unit)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def lo(self) -> float:
        return min(self.values)

    @property
    def hi(self) -> float:
        return max(self.values)

    def iqr(self) -> tuple[float, float]:
        if self.n < 2:
            return self.lo, self.hi
        q1, _, q3 = statistics.quantiles(self.values, n=4, method="inclusive")
        return q1, q3

    def spread(self) -> str:
        """``min-max`` of the repetitions."""
        return "-" if self.n < 2 else f"{fmt(self.lo, self.unit)}..{fmt(self.hi, self.unit)}"

    def __str__(self) -> str:
        if self.n < 2:
            return fmt(self.median, self.unit)
        q1, q3 = self.iqr()
        cpu = f", in CPU time {fmt(statistics.median(self.cpu), self.unit)}" if self.cpu else ""
        return (
            f"{fmt(self.median, self.unit)} (min-max {self.spread()}, "
            f"IQR {fmt(q1, self.unit)}..{fmt(q3, self.unit)}, n={self.n}{cpu})"
        )


def fmt(value: float, unit: str) -> str:
    if unit == "/s":
        if value >= 1e6:
            return f"{value / 1e6:.2f}M/s"
        return f"{value / 1e3:.0f}k/s" if value >= 1e4 else f"{value / 1e3:.1f}k/s"
    if unit == "ns":
        return f"{value / 1e3:.2f} us" if value >= 10_000 else f"{value:.0f} ns"
    if unit == "MB":
        return f"{value:.0f} MB" if value >= 100 else f"{value:.1f} MB"
    return f"{value:.0f} {unit}"


@dataclass(frozen=True)
class Row:
    """One comparison: our figure against its target and the peer's, from the same rounds."""

    metric: str
    ours: Figure
    target: float | None = None
    peer: Figure | None = None
    #: A label of the summary's "what each side does" legend (or a plain name).
    peer_name: str = ""
    #: A second target: at least this many times better than the peer.
    min_ratio: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """How many times better than the peer (medians; > 1 means we win)."""
        if self.peer is None:
            return None
        return _better(self.ours.median, self.peer.median, self.ours.higher_is_better)

    @property
    def cpu_ratio(self) -> float | None:
        """The ratio of medians in CPU time."""
        if self.peer is None or not self.ours.cpu or not self.peer.cpu:
            return None
        ours, peer = statistics.median(self.ours.cpu), statistics.median(self.peer.cpu)
        return _better(ours, peer, self.ours.higher_is_better)

    def paired(self) -> list[float]:
        """Per-round ratios: the two repetitions of a round ran back to back."""
        if self.peer is None or self.peer.n != self.ours.n:
            return []
        pairs = zip(self.ours.values, self.peer.values, strict=True)
        ratios = [_better(a, b, self.ours.higher_is_better) for a, b in pairs]
        return [r for r in ratios if r is not None]

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

    def ratio_text(self) -> str:
        return "-" if self.ratio is None else f"{self.ratio:.2f}x"

    def cpu_ratio_text(self) -> str:
        return "-" if self.cpu_ratio is None else f"{self.cpu_ratio:.2f}x"

    def paired_text(self) -> str:
        paired = self.paired()
        return f"{min(paired):.2f}..{max(paired):.2f}x" if len(paired) > 1 else "-"

    def report(self) -> str:
        """The lines a benchmark prints as it finishes."""
        lines = [f"  {self.metric}: {self.ours}  target {self.target_text()}  {self.status}"]
        if self.peer is not None:
            more = [f"per round {self.paired_text()}"] if self.paired() else []
            if self.cpu_ratio is not None:
                more.append(f"in CPU time {self.cpu_ratio_text()}")
            lines.append(
                f"    peer {self.peer_name}: {self.peer}; ratio of medians {self.ratio_text()}"
                + (f" ({'; '.join(more)})" if more else "")
            )
        elif self.peer_name:
            lines.append(f"    peer {self.peer_name}: skipped")
        if self.note:
            lines.append(f"    {self.note}")
        return "\n".join(lines)


def _better(ours: float, peer: float, higher_is_better: bool) -> float | None:
    if ours <= 0 or peer <= 0:
        return None
    return ours / peer if higher_is_better else peer / ours


def table(rows: list[Row]) -> str:
    """Rows as a fixed-width text table: medians, min-max, n, ratio of medians."""
    header: tuple[str, ...] = (
        "metric",
        "ours median",
        "ours min-max",
        "n",
        "ours CPU time",
        "peer",
        "peer median",
        "peer min-max",
        "ratio",
        "per round",
        "cpu ratio",
        "target",
        "status",
    )
    cells: list[tuple[str, ...]] = [
        (
            r.metric,
            fmt(r.ours.median, r.ours.unit),
            r.ours.spread(),
            str(r.ours.n),
            fmt(statistics.median(r.ours.cpu), r.ours.unit) if r.ours.cpu else "-",
            r.peer_name or "-",
            "-" if r.peer is None else fmt(r.peer.median, r.peer.unit),
            "-" if r.peer is None else r.peer.spread(),
            r.ratio_text(),
            r.paired_text(),
            r.cpu_ratio_text(),
            r.target_text(),
            r.status,
        )
        for r in rows
    ]
    # Columns no row fills (no peers, no CPU times, no spread) are left out.
    keep = [i for i in range(len(header)) if any(c[i] not in ("-", "") for c in cells)]
    header = tuple(header[i] for i in keep)
    cells = [tuple(c[i] for i in keep) for c in cells]
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]

    def line(c: tuple[str, ...]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(c) for c in cells)])
