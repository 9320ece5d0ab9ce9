"""Alpaca market data v2: stocks, crypto and news streams, authenticated by API key.

Keys come from ``ALPACA_API_KEY`` / ``ALPACA_API_SECRET`` (``ALPACA_BASE_URL`` overrides the
stream host). The auth message is sent first and is never captured or logged; subscriptions
wait for Alpaca's ``[{"T":"success","msg":"authenticated"}]``. Alpaca's refusals that no
reconnect fixes stop the connection: 402 auth failed, 404 auth timeout, 406 connection limit
exceeded (one connection per endpoint on most plans), 409 insufficient subscription (SIP
without the plan). Stocks come from the IEX feed unless ``feed="sip"``.

Alpaca sends no heartbeats: IEX at night, a thin symbol or the news stream are silent for
minutes, so these connections have no data-silence limit; WebSocket pings tell a dead one.
Alpaca sends no book sequence numbers; a crypto orderbook is resynced by resubscribing,
which sends a fresh reset.
"""

from __future__ import annotations

import os
import re
from typing import Any

import orjson

from alphapulse.venues.base import Connection, Credentials, FatalVenueError, Resync, Venue

DEFAULT_BASE = "wss://stream.data.alpaca.markets"
CHANNELS = {"trades": "trades", "ticker": "quotes", "bars": "bars", "book": "orderbooks"}
FEEDS = ("iex", "sip")
#: Error codes that end a connection for good, and the problem each is.
FATAL = {
    402: "auth_failed",
    404: "auth_failed",
    406: "venue_error",
    409: "subscription_refused",
}
#: Error codes after subscribing: 405 symbol limit exceeded, 410 invalid subscribe action.
REFUSALS = {401: "auth_failed", 402: "auth_failed", 405: "subscription_refused"}
REFUSALS.update({409: "subscription_refused", 410: "subscription_refused"})


def _message(action: str, **lists: list[str]) -> str:
    return orjson.dumps({"action": action, **lists}).decode()


def authenticated(frame: bytes) -> bool:
    """The handshake hook (``Connection.ready``): True on Alpaca's ``authenticated``."""
    try:
        messages = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return False
    for m in messages if isinstance(messages, list) else ():
        if not isinstance(m, dict):
            continue
        if m.get("T") == "success" and m.get("msg") == "authenticated":
            return True
        if m.get("T") == "error":
            code, text = m.get("code"), f"{m.get('code')} {m.get('msg')}"
            if code in FATAL:
                raise FatalVenueError(FATAL[code], text)
            raise ConnectionError(f"alpaca: {text}")  # worth another try, with backoff
    return False


class Alpaca(Venue):
    name = "alpaca"
    protocol = "alpaca"

    def __init__(self, symbols: list[str], *, feed: str = "iex", **options: Any) -> None:
        super().__init__(symbols, **options)
        if feed not in FEEDS:
            raise ValueError(f"alpaca feed {feed!r}; expected one of {', '.join(FEEDS)}")
        self.feed = feed

    def _base(self) -> str:
        return self.url("ws", os.environ.get("ALPACA_BASE_URL", DEFAULT_BASE)).rstrip("/")

    def _auth(self) -> tuple[str, ...]:
        creds = self.credentials or Credentials.from_env("ALPACA_API_KEY", "ALPACA_API_SECRET")
        if creds is None:  # at once, not as a refusal at every connect
            raise ValueError("Alpaca needs ALPACA_API_KEY and ALPACA_API_SECRET in the environment")
        return (
            orjson.dumps({"action": "auth", "key": creds.key, "secret": creds.secret}).decode(),
        )

    def _connection(self, name: str, path: str, subscribe: str, symbols: list[str]) -> Connection:
        return Connection(
            name,
            self._base() + path,
            self.protocol,
            (subscribe,),
            auth=self._auth(),
            stall_seconds=None,
            symbols=tuple(symbols),
            ready=authenticated,
        )

    def connections(self) -> list[Connection]:
        crypto = [s for s in self.symbols if "/" in s]
        stocks = [s for s in self.symbols if "/" not in s]
        out = []
        for name, path, symbols in (
            ("alpaca-stocks", f"/v2/{self.feed}", stocks),
            ("alpaca-crypto", "/v1beta3/crypto/us", crypto),
        ):
            channels = {
                CHANNELS[c]: symbols
                for c in self.channels
                if c in CHANNELS and (c != "book" or path.startswith("/v1beta3"))
            }
            if symbols and channels:
                out.append(self._connection(name, path, _message("subscribe", **channels), symbols))
        if "news" in self.channels:
            news = _message("subscribe", news=["*"])
            out.append(self._connection("alpaca-news", "/v1beta1/news", news, []))
        return out

    def resync(self, venue_symbol: str) -> Resync:
        return Resync(
            messages=(
                _message("unsubscribe", orderbooks=[venue_symbol]),
                _message("subscribe", orderbooks=[venue_symbol]),
            )
        )

    def error_kind(self, message: str) -> str:
        code = re.search(r"\d{3}", message)
        return REFUSALS.get(int(code.group()), "venue_error") if code else "venue_error"
