"""``DepthChart``: a book's cumulative bid and ask size against price.

    >>> from alphapulse.widgets import DepthChart
    >>> chart = DepthChart(bids=[[99.5, 2.0], [100.0, 1.0]], asks=[(100.5, 3.0)])
    >>> chart.bids, chart.asks
    ([[100.0, 1.0], [99.5, 2.0]], [[100.5, 3.0]])

The levels are sent as they are, best first; the front end accumulates them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import traitlets

from alphapulse.widgets.chart_data import find_column, to_table
from alphapulse.widgets.live_chart import LiveChart, Theme, chart_options

#: [price, size]
Level = list[float]


def levels(data: object, side: str) -> list[Level]:
    """``[[price, size], ...]`` best first (bids descending, asks ascending), from pairs,
    a list of dicts or a frame with price and size columns; empty and non-finite levels
    are left out."""
    if data is None:
        return []
    if _is_pairs(data):
        pairs = [(float(p), float(s)) for p, s in data]  # type: ignore[attr-defined]
    else:
        table = to_table(data)
        price, size = find_column(table, ("price",)), find_column(table, ("size", "quantity"))
        if price is None or size is None:
            raise ValueError(
                f"DepthChart: {side}s need price and size columns "
                f"(the data has columns {', '.join(table.column_names)})"
            )
        prices = pc.cast(table.column(price), pa.float64()).to_pylist()
        sizes = pc.cast(table.column(size), pa.float64()).to_pylist()
        pairs = [
            (p, s) for p, s in zip(prices, sizes, strict=True) if p is not None and s is not None
        ]
    kept = [[p, s] for p, s in pairs if math.isfinite(p) and math.isfinite(s) and s > 0]
    kept.sort(key=lambda level: level[0], reverse=side == "bid")
    return kept


def book_levels(bids: object, asks: object) -> tuple[list[Level], list[Level]]:
    """Bids and asks; a book frame alone (``book_top``'s: side, level, price, size) is
    split by its side column."""
    if asks is None and bids is not None and not _is_pairs(bids):
        table = to_table(bids)
        side = find_column(table, ("side",))
        if side is not None:
            column = pc.utf8_lower(pc.cast(table.column(side), pa.string()))
            is_bid = pc.is_in(column, pa.array(["bid", "bids", "buy"]))
            asks_only = table.filter(pc.invert(is_bid))
            return levels(table.filter(is_bid), "bid"), levels(asks_only, "ask")
    return levels(bids, "bid"), levels(asks, "ask")


def _is_pairs(data: object) -> bool:
    return (
        isinstance(data, Sequence)
        and not isinstance(data, str | bytes)
        and all(
            isinstance(level, Sequence) and not isinstance(level, str) and len(level) == 2
            for level in data
        )
    )


class DepthChart(LiveChart):
    """Cumulative depth of a book: ``DepthChart(bids, asks)`` with levels as [price, size]
    pairs or frames with price and size columns, or ``DepthChart(book)`` with a
    ``book_top`` result (its side column splits it)."""

    kind = traitlets.Unicode("depth", read_only=True).tag(sync=True)
    #: [[price, size], ...], best first.
    bids = traitlets.List(traitlets.List()).tag(sync=True)
    asks = traitlets.List(traitlets.List()).tag(sync=True)

    def __init__(
        self,
        bids: object = None,
        asks: object = None,
        *,
        height: int = 300,
        title: str | None = None,
        theme: Theme = "auto",
        **kwargs: Any,
    ) -> None:
        options = chart_options("DepthChart", height=height, title=title, theme=theme, volume=False)
        bid_levels, ask_levels = book_levels(bids, asks)
        super().__init__(bids=bid_levels, asks=ask_levels, options=options, **kwargs)

    def update(self, bids: object = None, asks: object = None) -> None:
        """A new book (both sides in one message): the chart redraws on its next frame."""
        bid_levels, ask_levels = book_levels(bids, asks)
        with self.hold_sync():
            self.bids = bid_levels
            self.asks = ask_levels

    def live(
        self, instrument: str, depth: int = 50, *, lake: str | Path | None = None
    ) -> DepthChart:
        """Streams ``instrument``'s book ('<venue>:<venue symbol>'), ``depth`` levels a
        side. Returns the chart, so that ``DepthChart().live(...)`` displays it."""
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"live(): depth is a number of levels, 1 or more, not {depth!r}")
        self._set_live({"instrument": instrument, "depth": depth}, lake)
        return self
