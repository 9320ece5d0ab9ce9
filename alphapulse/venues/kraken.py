"""Kraken WebSocket v2 (``wss://ws.kraken.com/v2``).

Subscriptions are per channel; the ``instrument`` channel comes first so that every pair's
price and quantity precision is known before its book (checksums depend on it). A book is
resynced by unsubscribing and resubscribing that one symbol, which sends a fresh snapshot.

The ``ticker`` channel is subscribed with ``event_trigger: "bbo"``: by default Kraken
publishes a ticker only on trades, so the quotes we record would miss every best bid/offer
change between two trades.
"""

from __future__ import annotations

from typing import Any

import orjson

from alphapulse.venues.base import Connection, Resync, Venue

DEFAULT_URL = "wss://ws.kraken.com/v2"
DEFAULT_DEPTH = 10
#: The book depths Kraken accepts (WS v2 ``book`` channel, ``depth``: "One of 10, 25, 100,
#: 500, 1000"); any other is refused with an error reply, and the book never arrives.
DEPTHS = (10, 25, 100, 500, 1000)


def _message(method: str, params: dict[str, object]) -> str:
    return orjson.dumps({"method": method, "params": params}).decode()


class Kraken(Venue):
    name = "kraken"
    protocol = "kraken"

    def __init__(self, symbols: list[str], **kwargs: Any) -> None:
        super().__init__(symbols, **kwargs)
        if self.depth is not None and self.depth not in DEPTHS:
            raise ValueError(
                f"kraken: book depth {self.depth} is not one Kraken offers; "
                f"use one of {', '.join(map(str, DEPTHS))}"
            )

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
            messages.append(
                _message(
                    "subscribe",
                    {"channel": "ticker", "symbol": self.symbols, "event_trigger": "bbo"},
                )
            )
        return [Connection("kraken", self.url("ws", DEFAULT_URL), self.protocol, tuple(messages))]

    def resync(self, venue_symbol: str) -> Resync:
        return self.resync_many([venue_symbol])[0]

    def resync_many(self, symbols: list[str]) -> list[Resync]:
        """Every broken book of the connection in one unsubscribe and one subscribe: the
        ``symbol`` list takes many pairs, and each gets its own fresh snapshot."""
        if not symbols:
            return []
        return [
            Resync(
                messages=(
                    self._book("unsubscribe", list(symbols)),
                    self._book("subscribe", list(symbols)),
                )
            )
        ]
