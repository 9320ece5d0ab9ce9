"""The news screen (``voila_apps/news.ipynb``): stories as they arrive, and a story's chart.

    from alphapulse.dashboards import news
    news(lake=None, symbol="")

A symbol list filters the stories (those naming it); choosing a story shows it (time,
symbols, source, summary, link) and its symbol's candles around its time from the lake,
the story's bar marked and a price line at its close (``news_model``). The chart is for the
filter's symbol when one is chosen, else the story's first symbol that is collected.

Stories: the lake's newest at start (and every ``LAKE_SECONDS`` again, which also fills in
what arrived while the collector was away), then the collector's live channel as they come.
The list is redrawn at most every ``RENDER_SECONDS`` and keeps the chosen story chosen.
"""

from __future__ import annotations

import asyncio
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
from alphapulse.dashboards.markup import STYLE, clock, esc, stamp
from alphapulse.dashboards.news_model import (
    STORY_COLOR,
    Stories,
    Story,
    StoryChart,
    pick_instrument,
    story_chart,
)
from alphapulse.dashboards.running import register, resolve_lake
from alphapulse.server.lakeread import LakeReader
from alphapulse.widgets import CandlestickChart

LAKE_SECONDS: Final = 10.0
RENDER_SECONDS: Final = 0.25
#: Stories the list shows.
LISTED: Final = 150
ALL: Final = ""


class NewsDashboard(FeedListener):
    def __init__(self, lake: str | Path | None = None, symbol: str = ALL) -> None:
        self.lake = resolve_lake(lake)
        self.stories = Stories()
        self.instruments: list[str] = []
        self.connection = "looking for the collector"
        self.chart: CandlestickChart | None = None
        self._choosing = 0  # the latest choice: a slower, older chart is not shown over it
        self._listing = False  # the list is being redrawn: its changes are not choices
        self._reader = LakeReader(self.lake)

        self.symbol = w.Dropdown(
            options=[("All symbols", ALL)] + ([(symbol, symbol)] if symbol else []),
            value=symbol,
            description="Symbol",
        )
        self.symbol.observe(lambda _: self._filter_changed(), "value")
        self.line = w.HTML(_dom_classes=["ap-news-line"])
        self.listing = w.Select(
            options=[], rows=22, layout=w.Layout(width="100%"), _dom_classes=["ap-stories"]
        )
        self.listing.observe(self._chosen, "value")
        self.story = w.HTML(
            '<div class="ap-line">Choose a story to see its symbol\'s price around it.</div>',
            _dom_classes=["ap-story"],
        )
        self.chart_box = w.VBox(layout=w.Layout(width="100%"))
        self.widget = w.VBox(
            [
                w.HTML(STYLE + "<h2>AlphaPulse \u00b7 news</h2>"),
                w.HBox([self.symbol, self.line]),
                w.HBox(
                    [
                        w.VBox([self.listing], layout=w.Layout(width="44%", padding="0 12px 0 0")),
                        w.VBox([self.story, self.chart_box], layout=w.Layout(width="56%")),
                    ],
                    layout=w.Layout(width="100%"),
                ),
            ],
            _dom_classes=["alphapulse-dashboard", "alphapulse-news"],
        )
        self.feed = CollectorFeed(self.lake, self, period=0, news=True)
        self.render = Coalescer(self._render, RENDER_SECONDS)
        self._tasks: list[asyncio.Task[None]] = []
        self._render()

    def start(self) -> NewsDashboard:
        loop = kernel_loop()
        self.feed.start()
        self.render.start()
        read = self._read_lake
        self._tasks = [loop.create_task(poll_in_thread(LAKE_SECONDS, read, self._add, _quiet))]
        return self

    def close(self) -> None:
        self.feed.stop()
        self.render.stop()
        for task in self._tasks:
            task.cancel()
        if self.chart is not None:
            self.chart.close()
        self._reader.close()

    # -- stories ------------------------------------------------------------------------

    def on_state(self, connected: bool, message: str) -> None:
        self.connection = "live" if connected else message
        self.render.changed()

    def on_instruments(self, instruments: list[dict[str, Any]]) -> None:
        self.instruments = list(dict.fromkeys(str(i["instrument"]) for i in instruments))

    def on_news(self, rows: list[dict[str, Any]]) -> None:
        self._add(rows)

    def _read_lake(self) -> list[dict[str, Any]]:
        return self._reader.news(None, self.stories.keep)

    def _add(self, rows: list[dict[str, Any]]) -> None:
        if self.stories.merge(rows):
            self.render.changed()

    def _filter_changed(self) -> None:
        if self._listing:
            return
        self.render.changed()
        story = self.stories.get(self.listing.value) if self.listing.value is not None else None
        if story is not None:
            self.choose(story)  # the chart follows the filter's symbol

    # -- drawing ------------------------------------------------------------------------

    def _render(self) -> None:
        current = self.symbol.value or ALL
        symbols = sorted({*self.stories.symbols(), *([current] if current else [])})
        wanted = [("All symbols", ALL), *((s, s) for s in symbols)]
        if list(self.symbol.options) != wanted:
            self._listing = True
            try:  # new symbols listed, the chosen one kept
                with self.symbol.hold_sync():
                    self.symbol.options = wanted
                    self.symbol.value = current
            finally:
                self._listing = False
        shown = self.stories.naming(self.symbol.value or ALL)[:LISTED]
        options = [(_label(s), s.id) for s in shown]
        chosen = self.listing.value if any(s.id == self.listing.value for s in shown) else None
        if list(self.listing.options) != options:
            self._listing = True
            try:  # one message to the page: the new options with the same story chosen
                with self.listing.hold_sync():
                    self.listing.options = options
                    self.listing.value = chosen
            finally:
                self._listing = False
        filtered = f" naming {self.symbol.value}" if self.symbol.value else ""
        state = "" if self.connection == "live" else ' class="ap-warn"'
        self.line.value = (
            f'<div class="ap-line"><span class="ap-count">{len(shown)}</span> stories{filtered}'
            f" \u00b7 <span{state}>{esc(self.connection)}</span></div>"
        )

    def _chosen(self, change: dict[str, Any]) -> None:
        if self._listing or change["new"] is None:
            return
        story = self.stories.get(int(change["new"]))
        if story is not None:
            self.choose(story)

    def choose(self, story: Story) -> None:
        """Shows ``story`` and starts drawing its chart (the lake is read in a thread)."""
        self._choosing += 1
        ticket = self._choosing
        symbol = self.symbol.value or next(
            (s for s in story.symbols if pick_instrument(self.instruments, s)), ""
        )
        instrument = pick_instrument(self.instruments, symbol) if symbol else None
        self.story.value = _story_html(story, instrument, symbol)
        if instrument is None:
            self._set_chart(None)
            return
        loop = kernel_loop()
        work = loop.run_in_executor(None, story_chart, self.lake, instrument, story.time_s)
        work.add_done_callback(lambda done: self._chart_ready(ticket, story, done))

    def _chart_ready(self, ticket: int, story: Story, done: asyncio.Future[StoryChart]) -> None:
        if ticket != self._choosing or done.cancelled():
            return
        error = done.exception()
        if error is not None:
            line = str(error).splitlines()[0] if str(error) else type(error).__name__
            self.story.value += f'<div class="ap-bad">No chart: {esc(line)}</div>'
            self._set_chart(None)
            return
        found = done.result()
        if not found.bars:
            self.story.value += (
                f'<div class="ap-line">No trades of {esc(found.instrument)} in the lake around '
                "this story yet.</div>"
            )
            self._set_chart(None)
            return
        chart = CandlestickChart(
            found.bars, title=f"{found.instrument} {found.interval}, the story marked", height=340
        )
        chart.set_markers([found.marker_for(story.headline)])
        if found.price is not None:
            chart.add_price_line(found.price, "at the story", STORY_COLOR)
        self._set_chart(chart)

    def _set_chart(self, chart: CandlestickChart | None) -> None:
        if self.chart is not None:
            self.chart.close()
        self.chart = chart
        self.chart_box.children = [chart] if chart is not None else []


def _label(story: Story) -> str:
    return f"{clock(story.time_s)}  {' '.join(story.symbols):<6}  {story.headline}"


def _story_html(story: Story, instrument: str | None, symbol: str) -> str:
    link = ""
    if story.url.startswith(("https://", "http://")):
        link = f' \u00b7 <a href="{esc(story.url)}" target="_blank" rel="noopener">link</a>'
    chart = (
        f"{esc(instrument)} around the story"
        if instrument is not None
        else f"no collected instrument trades {esc(symbol or ', '.join(story.symbols))}"
    )
    summary = f"<p>{esc(story.summary)}</p>" if story.summary else ""
    return (
        f'<div class="ap-story-detail" data-story="{story.id}" data-symbol="{esc(symbol)}">'
        f"<h3>{esc(story.headline)}</h3>"
        f'<div class="ap-line">{stamp(story.time_s)} \u00b7 {esc(", ".join(story.symbols))}'
        f" \u00b7 {esc(story.source)}{link}</div>{summary}"
        f'<div class="ap-line">{chart}</div></div>'
    )


def _quiet(_error: Exception) -> None:
    """The lake not readable yet (no commit): the live channel brings the stories."""


def news(lake: str | Path | None = None, symbol: str = ALL) -> w.VBox:
    """The news dashboard's widget, running (a previous one of this kernel stops)."""
    dashboard = NewsDashboard(lake, symbol).start()
    register("news", dashboard)
    return dashboard.widget
