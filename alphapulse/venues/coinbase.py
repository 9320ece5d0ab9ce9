"""Coinbase Advanced Trade WebSocket (``wss://advanced-trade-ws.coinbase.com``).

One subscribe message per channel. ``heartbeats`` keeps quiet products' connections alive
and gives a counter to check. ``sequence_num`` counts every message of the connection, so a
gap puts every book on it out of sync; each is resynced by resubscribing its ``level2``.
Market data needs no credentials.
"""

from __future__ import annotations

import orjson

from alphapulse.venues.base import Connection, Resync, Venue

DEFAULT_URL = "wss://advanced-trade-ws.coinbase.com"
CHANNELS = {"book": "level2", "trades": "market_trades", "ticker": "ticker", "bars": "candles"}


def _message(kind: str, channel: str, products: list[str]) -> str:
    return orjson.dumps({"type": kind, "product_ids": products, "channel": channel}).decode()


class Coinbase(Venue):
    name = "coinbase"
    protocol = "coinbase"

    def connections(self) -> list[Connection]:
        messages = [_message("subscribe", "heartbeats", self.symbols)]
        messages += [
            _message("subscribe", CHANNELS[c], self.symbols) for c in self.channels if c in CHANNELS
        ]
        return [Connection("coinbase", self.url("ws", DEFAULT_URL), self.protocol, tuple(messages))]

    def resync(self, venue_symbol: str) -> Resync:
        return Resync(
            messages=(
                _message("unsubscribe", "level2", [venue_symbol]),
                _message("subscribe", "level2", [venue_symbol]),
            )
        )
