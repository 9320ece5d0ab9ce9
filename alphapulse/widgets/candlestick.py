"""``CandlestickChart``: OHLCV candles with volume, more series, markers and price lines.

    >>> from alphapulse.widgets import CandlestickChart
    >>> chart = CandlestickChart([{"time": 60, "open": 1, "high": 2, "low": 1, "close": 2}])
    >>> chart.series[0]["data"]
    [{'time': 60, 'open': 1, 'high': 2, 'low': 1, 'close': 2}]

``update(row)`` sends only the row (``{"type": "rows", ...}``), never the whole series;
the row is also kept in ``series``, so a page reloaded later draws it too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import traitlets

from alphapulse.widgets.chart_data import row_table, to_table
from alphapulse.widgets.live_chart import LiveChart, Theme, chart_options
from alphapulse.widgets.series_rows import (
    SERIES_KINDS,
    apply_row,
    bar_rows,
    marker_rows,
    point_rows,
)

#: The candles' series: the first, where update() rows and live bars go by default.
PRICE: Final = "price"
_INTERVAL: Final = re.compile(r"^[1-9][0-9]*(s|m|h|d)$")


class CandlestickChart(LiveChart):
    """Candles (with a volume histogram) of a bars frame: polars, pandas, pyarrow, a DuckDB
    relation or a ``%%duckdb`` result, with a time column (time, ts, bucket, timestamp,
    ts_recv, ts_event or date: timestamps, dates or epoch numbers) and open, high, low,
    close and optionally volume. ``data=None`` makes an empty chart, to go ``live()``."""

    kind = traitlets.Unicode("candlestick", read_only=True).tag(sync=True)
    #: [{name, kind, color, pane, data: [rows]}]; the first is the candles ("price").
    series = traitlets.List(traitlets.Dict()).tag(sync=True)
    #: [{time, position, shape, color, text[, price]}], drawn on the candles.
    markers = traitlets.List(traitlets.Dict()).tag(sync=True)
    #: [{price, title, color}]
    price_lines = traitlets.List(traitlets.Dict()).tag(sync=True)

    def __init__(
        self,
        data: object = None,
        *,
        height: int = 400,
        title: str | None = None,
        volume: bool = True,
        theme: Theme = "auto",
        **kwargs: Any,
    ) -> None:
        options = chart_options(
            "CandlestickChart", height=height, title=title, theme=theme, volume=volume
        )
        price = _series(PRICE, "candlestick", None, 0, bar_rows(to_table(data), "CandlestickChart"))
        super().__init__(series=[price], options=options, **kwargs)

    # -- series ---------------------------------------------------------------------------

    def add_series(
        self,
        name: str,
        data: object,
        kind: str = "line",
        color: str | None = None,
        *,
        pane: int = 0,
    ) -> None:
        """Another series: a line (a moving average, a VWAP), a histogram (on a scale of
        its own at the bottom) or candles. ``pane`` 1, 2...: a pane below the candles, for
        values in other units. A series of the same name is replaced."""
        if name == PRICE:
            raise ValueError("add_series: 'price' is the candles; give another name")
        if kind not in SERIES_KINDS:
            raise ValueError(f"add_series: kind is one of {', '.join(SERIES_KINDS)}, not {kind!r}")
        if not isinstance(pane, int) or pane < 0:
            raise ValueError(f"add_series: pane is 0 (the candles') or more, not {pane!r}")
        where = f"add_series({name!r})"
        table = to_table(data)
        data_rows = (
            bar_rows(table, where) if kind == "candlestick" else point_rows(table, name, where)
        )
        kept = [s for s in self.series if s["name"] != name]
        self.series = [*kept, _series(name, kind, color, pane, data_rows)]

    def update(self, row: object, *, series: str = PRICE) -> None:
        """One bar (a dict, or a frame of rows, oldest first) into ``series``: the last
        bar when its time is the last one's, a new bar when later; an older one is ignored
        (as the chart would refuse it). Only the rows are sent to the page."""
        target = self._series(series)
        where = f"update(series={series!r})"
        table = row_table(row)
        new = (
            bar_rows(table, where)
            if target["kind"] == "candlestick"
            else point_rows(table, series, where)
        )
        accepted = [r for r in new if apply_row(target["data"], r)]
        if accepted:
            self.send({"type": "rows", "series": series, "rows": accepted})

    def _series(self, name: str) -> dict[str, Any]:
        for spec in self.series:
            if spec["name"] == name:
                found: dict[str, Any] = spec
                return found
        names = ", ".join(repr(s["name"]) for s in self.series)
        raise KeyError(f"no series {name!r}; the chart has {names}")

    # -- markers and price lines ------------------------------------------------------------

    def set_markers(self, markers: object) -> None:
        """Markers on the candles, replacing any: a list of ``{time, position, shape,
        color, text}`` or a frame (trades: their side picks an arrow up or down). Each sits
        on the candle that holds its time. None or [] removes them."""
        self.markers = [] if markers is None else marker_rows(markers)

    def add_price_line(self, price: float, title: str = "", color: str | None = None) -> None:
        """A horizontal line at ``price`` (a level, an entry, a stop)."""
        if isinstance(price, bool) or not isinstance(price, int | float):
            raise TypeError(f"add_price_line: price is a number, not {price!r}")
        self.price_lines = [
            *self.price_lines,
            {"price": float(price), "title": str(title), "color": color},
        ]

    def clear_price_lines(self) -> None:
        self.price_lines = []

    # -- live -------------------------------------------------------------------------------

    def live(
        self,
        instrument: str,
        interval: str = "1s",
        depth: int | None = None,
        *,
        lake: str | Path | None = None,
    ) -> CandlestickChart:
        """Streams ``instrument`` ('<venue>:<venue symbol>', e.g. 'kraken:BTC/USD') as
        ``interval`` bars (1s, 5s, 1m, 1h...): recent bars from the lake, then the live
        ones. ``depth``: also the book, whose best bid and ask are drawn as price lines.
        Returns the chart, so that ``CandlestickChart().live(...)`` displays it."""
        if not isinstance(interval, str) or not _INTERVAL.match(interval):
            raise ValueError(f"live(): interval is like '1s', '5s', '1m', '1h', not {interval!r}")
        if depth is not None and (not isinstance(depth, int) or depth < 1):
            raise ValueError(f"live(): depth is a number of levels, 1 or more, not {depth!r}")
        self._set_live({"instrument": instrument, "interval": interval, "depth": depth}, lake)
        return self


def _series(
    name: str, kind: str, color: str | None, pane: int, data: list[dict[str, Any]]
) -> dict[str, Any]:
    return {"name": name, "kind": kind, "color": color, "pane": pane, "data": data}
