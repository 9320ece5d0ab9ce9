"""The monitoring dashboard's figures, from what the collector says about itself.

``MonitorModel`` is fed the collector's ``status`` (its control endpoint's answer, polled a
few times a second) and the trades of its live channel, and gives one row per venue:

- *state*: ``running``, ``stopped`` (by a stop command), ``down`` (running, no connection)
- *frames/s*: the frame counter's rise over the last second of statuses, by the collector's
  own clock (``ts``), so a late answer does not make a burst
- *trades/s*: the live channel's trades of the venue received in the last second
- *lag p99*: the venue's time to ours (a trade's ``recv`` minus its ``time``) over the last
  ten seconds of trades, nearest rank; the collector's wire-to-book p99, the time from a
  frame's receipt to its book, is service-wide and shown once above the table
- *gaps, resyncs, rejects, out of sync* as the collector counts them

It is plain Python (no widgets, no I/O), so the tests feed it statuses and trades by hand.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

#: Seconds of statuses a frame rate is taken over.
RATE_WINDOW: Final = 1.0
#: Seconds of trades a lag percentile is taken over, and the samples kept a venue at most.
LAG_WINDOW: Final = 10.0
LAG_SAMPLES: Final = 20_000


@dataclass(frozen=True)
class VenueRow:
    venue: str
    state: str
    frames: int
    frames_per_s: float | None
    trades_per_s: float | None
    lag_p99_ms: float | None
    gaps: int
    resyncs: int
    rejects: int
    out_of_sync: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        return self.state == "running" and not self.out_of_sync


class FrameRates:
    """Each venue's frames/s over the last ``window`` seconds of status snapshots."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self._samples: deque[tuple[float, dict[str, int]]] = deque()

    def add(self, ts: float, frames: Mapping[str, int]) -> None:
        if self._samples:
            last_ts, last = self._samples[-1]
            if ts <= last_ts:
                return  # the same status twice, or a clock that stepped back
            if any(frames.get(v, 0) < n for v, n in last.items()):
                self._samples.clear()  # a restarted collector counts from 0 again
        self._samples.append((ts, dict(frames)))
        # Keep one sample at or before the window's start, so the span covers the window.
        while len(self._samples) > 2 and self._samples[1][0] <= ts - self.window:
            self._samples.popleft()

    def rates(self) -> dict[str, float | None]:
        if len(self._samples) < 2:
            return {v: None for v in (self._samples[-1][1] if self._samples else {})}
        (t0, first), (t1, last) = self._samples[0], self._samples[-1]
        return {v: (n - first.get(v, 0)) / (t1 - t0) for v, n in last.items()}


class TradeWindow:
    """Per venue: (receive time, lag) of its recent trades, for their rate and lag p99."""

    def __init__(self, window: float = LAG_WINDOW, max_samples: int = LAG_SAMPLES) -> None:
        self.window_ms = window * 1000
        self.max_samples = max_samples
        self._trades: dict[str, deque[tuple[float, float]]] = {}
        #: The newest receive time seen (ms): the collector's clock, as its trades tell it.
        self.newest_ms = 0.0

    def add(self, venue: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Trade rows of the live channel: ``time`` the venue's, ``recv`` ours (ms)."""
        samples = self._trades.setdefault(venue, deque(maxlen=self.max_samples))
        for row in rows:
            recv, time = row.get("recv"), row.get("time")
            if isinstance(recv, int | float) and isinstance(time, int | float):
                samples.append((float(recv), float(recv) - float(time)))
                self.newest_ms = max(self.newest_ms, float(recv))

    def _recent(self, venue: str, now_ms: float, span_ms: float) -> list[float]:
        samples = self._trades.get(venue)
        if not samples:
            return []
        while samples and samples[0][0] < now_ms - self.window_ms:
            samples.popleft()
        # Filtered too: two instruments' trades of one venue may arrive a little out of order.
        return [lag for recv, lag in samples if recv >= now_ms - span_ms]

    def p99(self, venue: str, now_ms: float) -> float | None:
        lags = sorted(self._recent(venue, now_ms, self.window_ms))
        return lags[math.ceil(0.99 * len(lags)) - 1] if lags else None

    def per_second(self, venue: str, now_ms: float) -> float | None:
        """Trades received in the second up to ``now_ms``; None before any."""
        if venue not in self._trades:
            return None
        return float(len(self._recent(venue, now_ms, 1000.0)))


@dataclass
class MonitorModel:
    """The latest status, and the rates and lags derived from it and from the trades."""

    rates: FrameRates = field(default_factory=FrameRates)
    trades: TradeWindow = field(default_factory=TradeWindow)
    status: dict[str, Any] | None = None

    def apply_status(self, status: Mapping[str, Any]) -> None:
        venues = status.get("venues") or {}
        frames = {name: int(v.get("frames", 0)) for name, v in venues.items()}
        self.rates.add(float(status.get("ts", 0.0)), frames)
        self.status = dict(status)

    def add_trades(self, instrument: str, rows: Sequence[Mapping[str, Any]]) -> None:
        self.trades.add(instrument.split(":", 1)[0], rows)

    def forget(self) -> None:
        """The collector went away: nothing it said still holds."""
        self.status = None
        self.rates = FrameRates(self.rates.window)

    def rows(self) -> list[VenueRow]:
        if self.status is None:
            return []
        rates = self.rates.rates()
        # The collector's clock: its status's, or its newest trade's when that is later (a
        # status can come late from a busy collector; its trades keep coming).
        now_ms = max(float(self.status.get("ts", 0.0)) * 1000, self.trades.newest_ms)
        out = []
        for name, v in (self.status.get("venues") or {}).items():
            state = str(v.get("state", "running"))
            if state == "running" and not v.get("connected"):
                state = "down"
            out.append(
                VenueRow(
                    venue=name,
                    state=state,
                    frames=int(v.get("frames", 0)),
                    frames_per_s=rates.get(name),
                    trades_per_s=self.trades.per_second(name, now_ms),
                    lag_p99_ms=self.trades.p99(name, now_ms),
                    gaps=int(v.get("gaps", 0)),
                    resyncs=int(v.get("resyncs", 0)),
                    rejects=int(v.get("rejects", 0)),
                    out_of_sync=tuple(str(s) for s in v.get("out_of_sync") or ()),
                )
            )
        return out

    def total_rate(self) -> float | None:
        rates = [r for r in self.rates.rates().values() if r is not None]
        return sum(rates) if rates else None


@dataclass(frozen=True)
class EventLine:
    """One of the lake's audit events, as the timeline shows it."""

    seq: int
    ts_s: float
    kind: str
    venue: str
    instrument: str
    detail: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> EventLine:
        """A row of ``LakeReader.events`` (``detail`` parsed): short ``key=value`` text."""
        detail = row.get("detail")
        if isinstance(detail, Mapping):
            text = " ".join(f"{k}={_short(v)}" for k, v in detail.items())
        else:
            text = _short(detail)
        return cls(
            seq=int(row["seq"]),
            ts_s=int(row["ts_ns"]) / 1e9,
            kind=str(row["kind"]),
            venue=str(row.get("venue") or ""),
            instrument=str(row.get("instrument") or ""),
            detail=text[:160],
        )


def _short(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Timeline:
    """The newest events, each once, in ``seq`` order; ``since`` is what to ask for next."""

    def __init__(self, keep: int = 300) -> None:
        self.events: deque[EventLine] = deque(maxlen=keep)
        self.since = -1

    def add(self, rows: Sequence[Mapping[str, Any]]) -> bool:
        """Rows oldest first; whether any was new."""
        added = False
        for row in rows:
            line = EventLine.from_row(row)
            if line.seq > self.since:
                self.events.append(line)
                self.since = line.seq
                added = True
        return added

    def newest(self, n: int, *, commits: bool) -> list[EventLine]:
        """The newest ``n``, newest first; the lake's file commits (most of the log) only
        with ``commits``."""
        shown = [e for e in reversed(self.events) if commits or e.kind != "file_committed"]
        return shown[:n]
