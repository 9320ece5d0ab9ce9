"""The monitoring wall (``voila_apps/monitor.ipynb``): the collectors' health, live.

    from alphapulse.dashboards import monitor
    monitor(lake=None, instruments=["kraken:BTC/USD", "coinbase:BTC-USD"])

From top to bottom: the collector (pid, uptime, frames/s over every venue, the wire-to-book
p99); one row per venue (state, frames/s, trades/s, lag p99, gaps, resyncs, rejects,
out-of-sync instruments: ``monitor_model``); the lake's size and last commit; the audit
events as the collector writes them; and live 1 s candles of the instruments chosen in a
list.

The figures come from the collector's control endpoint, polled every ``period`` (0.1 s)
from the kernel, and its live channel (the trades: their rate and lag, which move with
every push even while a busy collector is slow to answer a status); they are redrawn at
most once a ``period`` whatever arrives (``Coalescer``). Each live block is one HTML widget,
replaced whole, so a redraw is one message to the page. The charts stream by themselves
(from the server's stream where there is one, else through the kernel).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Final

import ipywidgets as w  # type: ignore[import-untyped]

from alphapulse.dashboards.feed import (
    Coalescer,
    CollectorFeed,
    FeedListener,
    kernel_loop,
    poll_in_thread,
)
from alphapulse.dashboards.lake_usage import LakeUsage, LakeUsageScanner
from alphapulse.dashboards.markup import (
    STYLE,
    ago,
    clock,
    esc,
    number,
    size,
    table,
)
from alphapulse.dashboards.monitor_model import MonitorModel, Timeline, VenueRow
from alphapulse.dashboards.running import register, resolve_lake
from alphapulse.server.lakeread import LakeReader
from alphapulse.widgets import CandlestickChart

#: Live candles at once, at most (each is a socket and a redraw a second).
MAX_CHARTS: Final = 4
#: Events the timeline shows.
EVENTS_SHOWN: Final = 40
LAKE_SCAN_SECONDS: Final = 2.0
EVENTS_SECONDS: Final = 1.0
VENUE_HEADERS: Final = (
    "venue",
    "state",
    "frames/s",
    "frames",
    "trades/s",
    "lag p99",
    "gaps",
    "resyncs",
    "rejects",
    "out of sync",
)
DOT: Final = " \u00b7 "
_STATE_CLASS: Final = {"running": "ap-ok", "stopped": "ap-warn", "down": "ap-bad"}


class MonitorDashboard(FeedListener):
    def __init__(
        self,
        lake: str | Path | None = None,
        instruments: list[str] | tuple[str, ...] = ("kraken:BTC/USD", "coinbase:BTC-USD"),
        *,
        period: float = 0.1,
        interval: str = "1s",
    ) -> None:
        self.lake = resolve_lake(lake)
        self.interval = interval
        self.model = MonitorModel()
        self.timeline = Timeline()
        self.usage: LakeUsage | None = None
        self.connection = "looking for the collector"
        self.events_error = ""
        self.charts: dict[str, CandlestickChart] = {}
        self._listing = False  # the selector's options are being replaced: not a choice
        self._scanner = LakeUsageScanner(self.lake)
        self._reader = LakeReader(self.lake)

        self.service = w.HTML(_dom_classes=["ap-service"])
        self.venues = w.HTML(_dom_classes=["ap-venues-box"])
        self.lake_line = w.HTML(_dom_classes=["ap-lake"])
        self.events = w.HTML(_dom_classes=["ap-events"])
        self.show_commits = w.Checkbox(False, description="file commits", indent=False)
        self.show_commits.observe(lambda _: self._render_events(), "value")
        wanted = [i for i in instruments if ":" in i]
        self.selector = w.SelectMultiple(
            options=wanted, value=wanted[:MAX_CHARTS], rows=6, description="Instruments"
        )
        self.selector.observe(self._chosen, "value")
        self.chart_box = w.VBox(layout=w.Layout(width="100%"))
        events_column = w.VBox(
            [
                w.HBox(
                    [w.HTML("<h3>Events</h3>"), self.show_commits],
                    layout=w.Layout(align_items="center", grid_gap="16px"),
                ),
                self.events,
            ],
            layout=w.Layout(width="46%", padding="0 12px 0 0"),
        )
        charts_column = w.VBox(
            [w.HTML("<h3>Live candles</h3>"), self.selector, self.chart_box],
            layout=w.Layout(width="54%"),
        )
        self.widget = w.VBox(
            [
                w.HTML(STYLE + "<h2>AlphaPulse \u00b7 collectors</h2>"),
                self.service,
                self.venues,
                self.lake_line,
                w.HBox([events_column, charts_column], layout=w.Layout(width="100%")),
            ],
            _dom_classes=["alphapulse-dashboard", "alphapulse-monitor"],
        )

        self.feed = CollectorFeed(self.lake, self, period=period, trades=True)
        self.live = Coalescer(self._render_live, period)
        self._tasks: list[asyncio.Task[None]] = []
        self._render_live()
        self._render_events()
        self._show_charts()

    # -- running ------------------------------------------------------------------------

    def start(self) -> MonitorDashboard:
        loop = kernel_loop()
        self.feed.start()
        self.live.start()
        scan = poll_in_thread(LAKE_SCAN_SECONDS, self._scanner.scan, self._lake_scanned, _quiet)
        events = poll_in_thread(
            EVENTS_SECONDS, self._read_events, self._events_read, self._no_events
        )
        self._tasks = [loop.create_task(scan), loop.create_task(events)]
        return self

    def close(self) -> None:
        self.feed.stop()
        self.live.stop()
        for task in self._tasks:
            task.cancel()
        for chart in self.charts.values():
            chart.close()
        self.charts.clear()
        self._reader.close()

    # -- what the feed says -------------------------------------------------------------

    def on_state(self, connected: bool, message: str) -> None:
        self.connection = message
        if not connected:
            self.model.forget()
        self.live.changed()

    def on_instruments(self, instruments: list[dict[str, Any]]) -> None:
        names = list(dict.fromkeys(str(i["instrument"]) for i in instruments))
        chosen = [i for i in self.selector.value if i in names]
        if not chosen:
            chosen = names[:2]
        if list(self.selector.options) != names:
            self._listing = True
            try:  # one message to the page: the collector's instruments, the same chosen
                with self.selector.hold_sync():
                    self.selector.options = names
                    self.selector.value = tuple(chosen)
            finally:
                self._listing = False
            self._show_charts()

    def on_status(self, status: dict[str, Any]) -> None:
        self.model.apply_status(status)
        self.live.changed()

    def on_trades(self, instrument: str, rows: list[dict[str, Any]]) -> None:
        self.model.add_trades(instrument, rows)
        self.live.changed()  # trades/s and lag move with every push, between two statuses

    def _lake_scanned(self, usage: LakeUsage) -> None:
        self.usage = usage
        self.live.changed()

    def _read_events(self) -> list[dict[str, Any]]:
        if self.timeline.since < 0:
            return self._reader.events(0, 0, tail=self.timeline.events.maxlen or 300)
        return self._reader.events(self.timeline.since, 500)

    def _events_read(self, rows: list[dict[str, Any]]) -> None:
        had_error, self.events_error = self.events_error, ""
        if self.timeline.add(rows) or had_error:
            self._render_events()

    def _no_events(self, error: Exception) -> None:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        if message != self.events_error:
            self.events_error = message
            self._render_events()

    # -- drawing ------------------------------------------------------------------------

    def _render_live(self) -> None:
        self.service.value = self._service_html()
        self.venues.value = venues_html(self.model.rows())
        self.lake_line.value = self._lake_html()

    def _service_html(self) -> str:
        status = self.model.status
        if status is None:
            return f'<div class="ap-line ap-bad">{esc(self.connection)}</div>'
        p99 = status.get("wire_to_book_p99_us")
        parts = [
            f"collector pid {esc(status.get('pid', '?'))}",
            f"up {ago(float(status.get('uptime_s', 0))).removesuffix(' ago')}",
            f'<span class="ap-total">{number(self.model.total_rate())} frames/s</span>',
            "wire-to-book p99 " + ("\u2013" if p99 is None else f"\u2264 {p99:,.0f} \u00b5s"),
        ]
        if status.get("rows_lost"):
            parts.append(f'<span class="ap-bad">{number(status["rows_lost"])} rows lost</span>')
        return f'<div class="ap-line">{DOT.join(parts)}</div>'

    def _lake_html(self) -> str:
        text = f"Lake {esc(self.lake)}: "
        usage = self.usage
        if usage is None:
            text += "looking\u2026"
        elif usage.last_commit is None:
            text += "no file committed yet"
        else:
            last = usage.last_commit
            text += (
                f'<span class="ap-size">{size(usage.bytes)}</span> in {number(usage.files)} files'
                f" \u00b7 last commit {clock(last.mtime)} ({esc(last.table)}, {esc(last.venue)}, "
                f"{size(last.bytes)}) {ago(time.time() - last.mtime)}"
            )
        sink = (self.model.status or {}).get("sink") or {}
        if sink.get("rows_buffered") is not None:
            text += f" \u00b7 {number(sink['rows_buffered'])} rows not committed yet"
        return f'<div class="ap-line">{text}</div>'

    def _render_events(self) -> None:
        if self.events_error:
            self.events.value = f'<div class="ap-bad">{esc(self.events_error)}</div>'
            return
        lines = self.timeline.newest(EVENTS_SHOWN, commits=self.show_commits.value)
        if not lines:
            self.events.value = '<div class="ap-line">No events yet.</div>'
            return
        rows = [
            [
                clock(e.ts_s),
                esc(e.kind),
                esc(e.venue),
                esc(e.instrument),
                f'<td class="ap-text" title="{esc(e.detail)}">{esc(e.detail)}</td>',
            ]
            for e in lines
        ]
        headers = ["time", "event", "venue", "instrument", "detail"]
        self.events.value = table(headers, rows, "events")

    def _chosen(self, _change: object) -> None:
        if not self._listing:
            self._show_charts()

    def _show_charts(self) -> None:
        chosen = list(self.selector.value)[:MAX_CHARTS]
        for name in [n for n in self.charts if n not in chosen]:
            self.charts.pop(name).close()
        for name in chosen:
            if name not in self.charts:
                chart = CandlestickChart(title=f"{name} {self.interval}", height=260)
                self.charts[name] = chart.live(name, self.interval)
        self.chart_box.children = [self.charts[n] for n in chosen]


def venues_html(rows: list[VenueRow]) -> str:
    """The venue table; each live cell has a class (``ap-fps``, ``ap-lag``...) the browser
    tests and the benchmark read."""
    if not rows:
        return table(VENUE_HEADERS, [], "venues")
    body = []
    for r in rows:
        state = f'<td class="ap-state {_STATE_CLASS.get(r.state, "ap-warn")}">{esc(r.state)}</td>'
        sync = ", ".join(r.out_of_sync) if r.out_of_sync else "none"
        body.append(
            [
                f'<td class="ap-venue">{esc(r.venue)}</td>',
                state,
                f'<td class="ap-fps">{number(r.frames_per_s, 1)}</td>',
                f'<td class="ap-frames">{number(r.frames)}</td>',
                f'<td class="ap-trades">{number(r.trades_per_s)}</td>',
                f'<td class="ap-lag">{_lag(r.lag_p99_ms)}</td>',
                _count(r.gaps, "ap-gaps"),
                _count(r.resyncs, "ap-resyncs"),
                _count(r.rejects, "ap-rejects"),
                f'<td class="ap-sync {"ap-bad" if r.out_of_sync else ""}">{esc(sync)}</td>',
            ]
        )
    return table(VENUE_HEADERS, body, "venues")


def _lag(ms: float | None) -> str:
    return "\u2013" if ms is None else f"{ms:,.1f} ms"


def _count(n: int, name: str) -> str:
    return f'<td class="{name}{" ap-warn" if n else ""}">{number(n)}</td>'


def _quiet(_error: Exception) -> None:
    """A lake scan that failed (a directory gone mid-scan): the next one will do."""


def monitor(
    lake: str | Path | None = None,
    instruments: list[str] | tuple[str, ...] = ("kraken:BTC/USD", "coinbase:BTC-USD"),
    *,
    period: float = 0.1,
) -> w.VBox:
    """The monitoring dashboard's widget, running (a previous one of this kernel stops)."""
    dashboard = MonitorDashboard(lake, instruments, period=period).start()
    register("monitor", dashboard)
    return dashboard.widget
