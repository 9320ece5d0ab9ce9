"""Binance spot (and Binance.US): combined streams plus REST depth snapshots.

Diff depth streams are synchronised with ``GET /api/v3/depth`` by update id (the core applies
Binance's rules). A book is resynced by fetching a fresh snapshot while its diffs keep
buffering; snapshots go through :class:`~alphapulse.rest.RestClient`, which keeps to the
venue's request weight a minute per IP and backs off on 429/418.

A connection listens to at most 1,024 streams (Binance WebSocket Streams, "WebSocket
Limits"), so more streams are spread over several connections, a symbol's streams kept
together. Streams go in the URL (``/stream?streams=…``) while it stays short; a longer list
is subscribed with ``SUBSCRIBE`` messages on ``/stream``, which the runtime paces below the
5 incoming messages a second a connection may send.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from alphapulse.rest import RestClient
from alphapulse.venues.base import Connection, Resync, SnapshotFetcher, Venue

WS_URL = "wss://stream.binance.com:9443"
REST_URL = "https://api.binance.com"
US_WS_URL = "wss://stream.binance.us:9443"
US_REST_URL = "https://api.binance.us"
SNAPSHOT_LIMIT = 1000
#: Binance cuts a connection at 24 hours; the collector replaces it ten minutes before.
MAX_LIFETIME_SECONDS = 23 * 3600 + 50 * 60
STREAMS = {"book": "depth@100ms", "trades": "trade", "ticker": "bookTicker", "bars": "kline_1m"}
#: Streams one connection can listen to.
MAX_STREAMS = 1024
#: The longest URL we put streams in (request lines past 8 KiB are commonly refused).
MAX_URL = 4000
#: Streams per SUBSCRIBE message (a frame of a few KiB).
STREAMS_PER_MESSAGE = 200
#: ``GET /api/v3/depth`` request weight by limit: (most levels, weight), Binance spot API.
DEPTH_WEIGHTS = ((100, 5), (500, 25), (1000, 50), (5000, 250))
#: Binance.US weighs the same endpoint five times lighter (Binance.US REST API, "Order Book").
US_DEPTH_WEIGHTS = ((100, 1), (500, 5), (1000, 10), (5000, 50))
#: What Binance's REST API accepts as a symbol ("legal range is '^[A-Z0-9-_.]{1,20}$'").
#: Symbols also go into the stream URL, where "/" separates streams and "&" ends the query.
SYMBOL = re.compile(r"[A-Z0-9_.-]{1,20}")


class Binance(Venue):
    name = "binance"
    protocol = "binance"
    weight_per_minute = 6000
    #: Below the 5 incoming messages a second a connection may send (pings count too).
    messages_per_second = 4.0
    default_ws, default_rest = WS_URL, REST_URL
    depth_weights = DEPTH_WEIGHTS

    def __init__(self, symbols: list[str], **kwargs: Any) -> None:
        for s in symbols:
            if not SYMBOL.fullmatch(s):
                hint = f" (Binance spells it {s.replace('/', '').upper()!r})" if s.isascii() else ""
                raise ValueError(
                    f"{self.name}: {s[:40]!r} is not a Binance symbol: upper-case letters and "
                    f"digits, like BTCUSDT{hint}"
                )
        super().__init__(symbols, **kwargs)

    def _symbol_groups(self) -> dict[str, list[str]]:
        """Each connection's name and symbols: at most MAX_STREAMS streams a connection."""
        kinds = sum(c in STREAMS for c in self.channels)
        if not kinds:
            return {}
        per_connection = MAX_STREAMS // kinds
        groups = [
            self.symbols[i : i + per_connection]
            for i in range(0, len(self.symbols), per_connection)
        ]
        return {self.name if i == 0 else f"{self.name}-{i + 1}": g for i, g in enumerate(groups)}

    def connections(self) -> list[Connection]:
        base = self.url("ws", self.default_ws)
        kinds = [STREAMS[c] for c in self.channels if c in STREAMS]
        out = []
        for name, symbols in self._symbol_groups().items():
            streams = [f"{s.lower()}@{kind}" for s in symbols for kind in kinds]
            url = f"{base}/stream?streams={'/'.join(streams)}"
            subscribe: tuple[str, ...] = ()
            if len(url) > MAX_URL:
                url = f"{base}/stream"
                subscribe = tuple(
                    orjson.dumps(
                        {
                            "method": "SUBSCRIBE",
                            "params": streams[j : j + STREAMS_PER_MESSAGE],
                            "id": j // STREAMS_PER_MESSAGE + 1,
                        }
                    ).decode()
                    for j in range(0, len(streams), STREAMS_PER_MESSAGE)
                )
            # Binance sends no heartbeat messages: a quiet symbol is silent, not dead.
            # Liveness comes from WebSocket pings (20 s), so the data-silence limit is long.
            out.append(
                Connection(
                    name,
                    url,
                    self.protocol,
                    subscribe,
                    stall_seconds=300.0,
                    symbols=tuple(symbols),
                    max_lifetime_seconds=MAX_LIFETIME_SECONDS,
                )
            )
        return out

    def snapshot_weight(self, limit: int = SNAPSHOT_LIMIT) -> int:
        return next(w for most, w in self.depth_weights if limit <= most)

    def snapshot_url(self, venue_symbol: str) -> str:
        rest = self.url("rest", self.default_rest)
        return f"{rest}/api/v3/depth?symbol={venue_symbol}&limit={SNAPSHOT_LIMIT}"

    def initial_snapshots(self, connection: str | None = None) -> list[Resync]:
        """One snapshot per book, fetched after the stream opened, as Binance documents;
        only the books of ``connection`` (a name) when one is given."""
        if "book" not in self.channels:
            return []
        groups = self._symbol_groups()
        symbols = self.symbols if connection is None else groups.get(connection, [])
        return [self.resync(s) for s in symbols]

    def resync(self, venue_symbol: str) -> Resync:
        return Resync(snapshot_url=self.snapshot_url(venue_symbol), weight=self.snapshot_weight())

    def make_fetcher(self) -> SnapshotFetcher | None:
        return RestClient(self.weight_per_minute)


class BinanceUS(Binance):
    name = "binance_us"
    protocol = "binance_us"
    weight_per_minute = 1200
    default_ws, default_rest = US_WS_URL, US_REST_URL
    depth_weights = US_DEPTH_WEIGHTS
