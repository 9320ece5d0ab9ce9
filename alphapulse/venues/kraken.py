"""Kraken WebSocket v2 (``wss://ws.kraken.com/v2``).

Subscriptions are per channel; the ``instrument`` channel comes first so that every pair's
price and quantity precision is known before its book (checksums depend on it). A book is
resynced by unsubscribing and resubscribing that one symbol, which sends a fresh snapshot.
"""

from __future__ import annotations

import orjson

from alphapulse.venues.base import Connection, Resync, Venue

DEFAULT_URL = "wss://ws.kraken.com/v2"
DEFAULT_DEPTH = 10


def _message(method: str, params: dict[str, object]) -> str:
    return orjson.dumps({"method": method, "params": params}).decode()


class Kraken(Venue):
    name = "kraken"
    protocol = "kraken"

    def _book(self, method: str, symbols: list[str]) -> str:
        params: dict[str, object] = {
            "channel": "book",
            "symbol": symbols,
            "depth": self.depth or DEFAULT_DEPTH,
        }
        if method == "subscribe":
            params["snapshot"] = True
        return _message(method, params)

    def connections(self) -> list[Connection]:
        messages = [_message("subscribe", {"channel": "instrument", "snapshot": True})]
        if "book" in self.channels:
            messages.append(self._book("subscribe", self.symbols))
        if "trades" in self.channels:
            messages.append(
                _message(
                    "subscribe", {"channel": "trade", "symbol": self.symbols, "snapshot": False}
                )
            )
        if "ticker" in self.channels:
            messages.append(_message("subscribe", {"channel": "ticker", "symbol": self.symbols}))
        return [Connection("kraken", self.url("ws", DEFAULT_URL), self.protocol, tuple(messages))]

    def resync(self, venue_symbol: str) -> Resync:
        return Resync(
            messages=(
                self._book("unsubscribe", [venue_symbol]),
                self._book("subscribe", [venue_symbol]),
            )
        )
