"""Binance spot (and Binance.US): combined streams plus REST depth snapshots.

Diff depth streams are synchronised with ``GET /api/v3/depth`` by update id (the core applies
Binance's rules). A book is resynced by fetching a fresh snapshot while its diffs keep
buffering; snapshots are charged against the venue's request-weight budget.
"""

from __future__ import annotations

from alphapulse.venues.base import Connection, Resync, Venue

WS_URL = "wss://stream.binance.com:9443"
REST_URL = "https://api.binance.com"
US_WS_URL = "wss://stream.binance.us:9443"
US_REST_URL = "https://api.binance.us"
SNAPSHOT_LIMIT = 1000
#: Request weight of a depth snapshot with limit 501-1000 (Binance spot API).
SNAPSHOT_WEIGHT = 50
#: Binance cuts a connection at 24 hours; the collector replaces it ten minutes before.
MAX_LIFETIME_SECONDS = 23 * 3600 + 50 * 60
STREAMS = {"book": "depth@100ms", "trades": "trade", "ticker": "bookTicker", "bars": "kline_1m"}


class Binance(Venue):
    name = "binance"
    protocol = "binance"
    weight_per_minute = 6000
    default_ws, default_rest = WS_URL, REST_URL

    def connections(self) -> list[Connection]:
        streams = "/".join(
            f"{s.lower()}@{STREAMS[c]}" for s in self.symbols for c in self.channels if c in STREAMS
        )
        url = f"{self.url('ws', self.default_ws)}/stream?streams={streams}"
        # Binance sends no heartbeat messages: a quiet symbol is silent, not dead. Liveness
        # comes from WebSocket pings (20 s), so the data-silence limit is long.
        return [
            Connection(
                self.name,
                url,
                self.protocol,
                (),
                stall_seconds=300.0,
                max_lifetime_seconds=MAX_LIFETIME_SECONDS,
            )
        ]

    def snapshot_url(self, venue_symbol: str) -> str:
        rest = self.url("rest", self.default_rest)
        return f"{rest}/api/v3/depth?symbol={venue_symbol}&limit={SNAPSHOT_LIMIT}"

    def initial_snapshots(self) -> list[Resync]:
        """One snapshot per book, fetched after the stream opened, as Binance documents."""
        if "book" not in self.channels:
            return []
        return [self.resync(s) for s in self.symbols]

    def resync(self, venue_symbol: str) -> Resync:
        return Resync(snapshot_url=self.snapshot_url(venue_symbol), weight=SNAPSHOT_WEIGHT)


class BinanceUS(Binance):
    name = "binance_us"
    protocol = "binance_us"
    weight_per_minute = 1200
    default_ws, default_rest = US_WS_URL, US_REST_URL
