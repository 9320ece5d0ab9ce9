"""Live items for charts and panels: what the server's stream and a kernel relay send.

The collector's live channel (``alphapulse.control``) gives trades, book tops and news; this
module turns them into the stream's items (see the README's "The stream" section): bars of
any interval from 1 s built from the trades as they arrive, after a history of the lake's
own ``bars()`` so that a chart starts full. The Jupyter server's stream
(``alphapulse.server.stream``) and a widget's kernel relay (``live_items``) share it, so a
chart draws the same thing whichever path feeds it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alphapulse.control import parse_instrument

#: Bars a subscription starts with (from the lake).
HISTORY_BARS = 500
_INTERVAL = re.compile(r"^(\d+)(s|m|h|d)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class LiveSpecError(ValueError):
    """A subscription that cannot be served, in one line."""


def parse_interval(text: object) -> int:
    """``"1s"``, ``"5m"``, ``"1h"`` → seconds (1 s or more)."""
    match = _INTERVAL.match(text) if isinstance(text, str) else None
    if match is None or int(match[1]) == 0:
        raise LiveSpecError(f"interval must be like 1s, 5s, 1m, 1h (1 s or more), not {text!r}")
    return int(match[1]) * _SECONDS[match[2]]


class BarBuilder:
    """OHLCV bars of one instrument and interval, from trades in arrival order."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.bars: dict[int, dict[str, float]] = {}

    def add(self, rows: list[dict[str, Any]]) -> list[dict[str, float]]:
        """Fold ``rows`` (the stream's trade rows) in; the bars they changed, oldest first."""
        changed: dict[int, dict[str, float]] = {}
        for row in rows:
            start = int(row.get("recv", row["time"]) // 1000) // self.seconds * self.seconds
            price, size = row["price"], row["size"]
            bar = self.bars.get(start)
            if bar is None:
                bar = {"time": start, "open": price, "high": price, "low": price}
                bar.update(close=price, volume=0.0)
                self.bars[start] = bar
            else:
                bar["high"] = max(bar["high"], price)
                bar["low"] = min(bar["low"], price)
                bar["close"] = price
            bar["volume"] += size
            changed[start] = bar
        while len(self.bars) > 4:  # only the newest can still change
            del self.bars[min(self.bars)]
        return [dict(changed[t]) for t in sorted(changed)]


def history_query(
    instrument: str, seconds: int, limit: int = HISTORY_BARS
) -> tuple[str, dict[str, Any]]:
    """The SQL (and its parameters) of ``instrument``'s last ``limit`` bars, oldest first."""
    venue, symbol = parse_instrument(instrument)
    sql = (
        "select * from (select epoch(ts)::bigint as time, open, high, low, close, volume "
        "from bars(to_seconds($every::bigint), venue := $venue, symbol := $symbol) "
        "order by ts desc limit $limit) order by time"
    )
    return sql, {"every": seconds, "venue": venue, "symbol": symbol, "limit": limit}


def history_bars(lake: Path, instrument: str, seconds: int, limit: int = HISTORY_BARS) -> list[Any]:
    """The last ``limit`` bars of ``instrument`` in the lake (blocking: run it in a thread)."""
    from alphapulse.query.session import connect

    sql, params = history_query(instrument, seconds, limit)
    if not lake.exists():
        return []
    with connect(lake) as session:
        rows: list[Any] = session.arrow(sql, params).to_pylist()
    return rows


def spec_key(spec: dict[str, Any]) -> tuple[str, str, str, int]:
    """A subscribe message's identity: (channel, instrument, interval, depth); checked."""
    channel = spec.get("channel")
    if channel in ("status", "news"):
        return channel, "", "", 0
    if channel not in ("trades", "book", "bars"):
        raise LiveSpecError(f"channel must be trades, book, bars, status or news, not {channel!r}")
    instrument = spec.get("instrument")
    parse_instrument(instrument)
    assert isinstance(instrument, str)
    if channel == "bars":
        interval = spec.get("interval", "1s")
        parse_interval(interval)
        return channel, instrument, str(interval), 0
    if channel == "book":
        depth = spec.get("depth", 10)
        if not isinstance(depth, int) or isinstance(depth, bool) or not 0 < depth <= 1000:
            raise LiveSpecError(f"depth must be an integer from 1 to 1000, not {depth!r}")
        return channel, instrument, "", depth
    return channel, instrument, "", 0


async def live_items(
    lake: Path | None, specs: list[dict[str, Any]]
) -> AsyncIterator[list[dict[str, Any]]]:
    """The stream's items for ``specs`` (subscribe messages; ``status`` is the server
    stream's only), read from the collector of ``lake`` (the default lake when None) through
    its live channel: for a kernel that has no server stream to use. Ends when the
    collector goes away."""
    from alphapulse.control_client import ControlClient, ControlUnavailableError, find_control
    from alphapulse.query.session import default_lake

    lake = lake or default_lake()
    keys = [spec_key(s) for s in specs]
    path = find_control(lake)
    if path is None:
        raise ControlUnavailableError(f"no collector is running on {lake}")
    loop = asyncio.get_running_loop()
    builders: dict[tuple[str, str], BarBuilder] = {}
    history: list[dict[str, Any]] = []
    for channel, instrument, interval, _ in keys:
        if channel == "bars":
            seconds = parse_interval(interval)
            builders[(instrument, interval)] = BarBuilder(seconds)
            bars = await loop.run_in_executor(None, history_bars, lake, instrument, seconds)
            history.append(
                {"channel": "bars", "instrument": instrument, "interval": interval}
                | {"history": True, "bars": bars}
            )
    if history:
        yield history
    trades = sorted({i for c, i, _, _ in keys if c in ("trades", "bars")})
    books = {i: d for c, i, _, d in keys if c == "book"}
    news = any(c == "news" for c, *_ in keys)
    wants_trades = {i for c, i, _, _ in keys if c == "trades"}
    async with ControlClient(path) as client:
        await client.subscribe(trades=trades, books=books, news=news)
        async for update in client.updates():
            items: list[dict[str, Any]] = []
            for item in update["items"]:
                if item["channel"] == "trades":
                    for (instrument, interval), builder in builders.items():
                        if instrument == item["instrument"]:
                            bars = builder.add(item["rows"])
                            items.append(
                                {"channel": "bars", "instrument": instrument}
                                | {"interval": interval, "history": False, "bars": bars}
                            )
                    if item["instrument"] not in wants_trades:
                        continue
                items.append(item)
            if items:
                yield items
