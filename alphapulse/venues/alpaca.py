"""Alpaca market data v2: stocks, crypto and news streams, authenticated by API key.

Keys come from ``ALPACA_API_KEY`` / ``ALPACA_API_SECRET`` (``ALPACA_BASE_URL`` overrides the
stream host). The auth message is sent first and is never captured or logged. Alpaca sends
no book sequence numbers; a crypto orderbook is resynced by resubscribing, which sends a
fresh reset.
"""

from __future__ import annotations

import os

import orjson

from alphapulse.venues.base import Connection, Credentials, Resync, Venue

DEFAULT_BASE = "wss://stream.data.alpaca.markets"
CHANNELS = {"trades": "trades", "ticker": "quotes", "bars": "bars", "book": "orderbooks"}


def _message(action: str, **lists: list[str]) -> str:
    return orjson.dumps({"action": action, **lists}).decode()


class Alpaca(Venue):
    name = "alpaca"
    protocol = "alpaca"

    def _base(self) -> str:
        return self.url("ws", os.environ.get("ALPACA_BASE_URL", DEFAULT_BASE)).rstrip("/")

    def _auth(self) -> tuple[str, ...]:
        creds = self.credentials or Credentials.from_env("ALPACA_API_KEY", "ALPACA_API_SECRET")
        if creds is None:
            raise ValueError("Alpaca needs ALPACA_API_KEY and ALPACA_API_SECRET in the environment")
        return (
            orjson.dumps({"action": "auth", "key": creds.key, "secret": creds.secret}).decode(),
        )

    def connections(self) -> list[Connection]:
        crypto = [s for s in self.symbols if "/" in s]
        stocks = [s for s in self.symbols if "/" not in s]
        out = []
        for name, path, symbols in (
            ("alpaca-stocks", "/v2/iex", stocks),
            ("alpaca-crypto", "/v1beta3/crypto/us", crypto),
        ):
            channels = {
                CHANNELS[c]: symbols
                for c in self.channels
                if c in CHANNELS and (c != "book" or path.startswith("/v1beta3"))
            }
            if symbols and channels:
                out.append(
                    Connection(
                        name,
                        self._base() + path,
                        self.protocol,
                        (_message("subscribe", **channels),),
                        auth=self._auth(),
                    )
                )
        if "news" in self.channels:
            out.append(
                Connection(
                    "alpaca-news",
                    self._base() + "/v1beta1/news",
                    self.protocol,
                    (_message("subscribe", news=["*"]),),
                    auth=self._auth(),
                    stall_seconds=120.0,
                )
            )
        return out

    def resync(self, venue_symbol: str) -> Resync:
        return Resync(
            messages=(
                _message("unsubscribe", orderbooks=[venue_symbol]),
                _message("subscribe", orderbooks=[venue_symbol]),
            )
        )
