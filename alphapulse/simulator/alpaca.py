"""Alpaca market data v2 streams, as the simulator speaks them: stocks (``/v2/{feed}``),
crypto (``/v1beta3/crypto/us``) and news (``/v1beta1/news``).

```json
[{"T":"t","S":"BTC/USD","p":64999.9,"s":0.0213,"t":"2026-01-02T00:00:00.123456789Z",
  "i":100042,"tks":"B"}]
```

On connect the server says ``[{"T":"success","msg":"connected"}]``; the client authenticates
with ``{"action":"auth","key":…,"secret":…}`` (or the ``APCA-API-KEY-ID`` /
``APCA-API-SECRET-KEY`` headers) and gets ``authenticated`` or
``{"T":"error","code":402,"msg":"auth failed"}``; then ``subscribe`` / ``unsubscribe`` with
lists per channel (``"*"`` for every symbol), answered with the whole subscription. Frames
are arrays: a step's trades, its quote when the best bid/offer changed, and (crypto) its
orderbook changes, in one frame. Stock trades carry exchange and conditions, crypto trades
the taker side ``tks``. Minute bars (``bar_seconds``) close with their interval;
``updatedBars``, ``dailyBars``, ``statuses`` and the like are accepted and stay silent. The
news stream sends an item every ``news_seconds``. Numbers are JSON numbers, trimmed.

The rules of the real service that a client must survive are enforced: data flows only
after authentication (a subscribe before it gets ``401 not authenticated``), wrong keys get
``402 auth failed`` (the connection stays open for another try), a client that does not
authenticate within ``auth_timeout`` seconds gets ``404 auth timeout``, more than
``connection_limit`` authenticated connections with one key to one endpoint get ``406
connection limit exceeded``, and the SIP feed without ``sip_entitled`` gets ``409
insufficient subscription``; these three close the connection. As on Alpaca, no
heartbeats: a quiet feed is silent.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING, Any

import orjson
from websockets.datastructures import Headers

from alphapulse.simulator.encoding import TimeText, trimmed
from alphapulse.simulator.instruments import crypto_spec, split_pair, stock_spec
from alphapulse.simulator.market import ASK, BID, InstrumentSpec, Step
from alphapulse.simulator.server import Connection, Session, Venue
from alphapulse.simulator.state import Bar, SymbolState

if TYPE_CHECKING:
    from alphapulse.simulator.exchange import SimulatedExchange

STOCK_CHANNELS = (
    "trades",
    "quotes",
    "bars",
    "updatedBars",
    "dailyBars",
    "statuses",
    "lulds",
    "corrections",
    "cancelErrors",
)
CRYPTO_CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "orderbooks")
NEWS_CHANNELS = ("news",)

_HEADLINES = (
    "{name} shares move as traders weigh guidance",
    "Analyst raises {name} price target",
    "{name} announces buyback program",
    "Options activity picks up in {name}",
    "{name} volume surges in early trading",
)


def _feed(path: str) -> str | None:
    """``stocks``, ``crypto`` or ``news`` for a stream path; None for an unknown one."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    if len(parts) == 2 and parts[0] == "v2":
        return "stocks"
    if len(parts) == 3 and parts[:2] == ["v1beta3", "crypto"]:
        return "crypto"
    if parts == ["v1beta1", "news"]:
        return "news"
    return None


class Alpaca(Venue):
    name = "alpaca"
    text = staticmethod(trimmed)

    def __init__(self, exchange: SimulatedExchange) -> None:
        super().__init__(exchange)
        self._rng = random.Random(f"alpaca news {exchange.seed}")
        self._next_news = 0
        self._news_id = 24_000_000
        self.news_sessions: list[AlpacaSession] = []
        self.sessions: list[AlpacaSession] = []
        self.time = TimeText()
        #: Per symbol, the first bar start whose bar holds every trade of its interval: the
        #: exchange keeps bars only from the first subscription on, so the bar then in
        #: progress misses the trades before it and is never sent.
        self.bars_from: dict[str, int] = {}
        #: Authenticated connections per key and endpoint (None: any number).
        self.connection_limit: int | None = None
        #: Whether the keys may use the SIP feed (``/v2/sip``).
        self.sip_entitled = True
        #: Seconds a client has to authenticate (None: forever; 0: it is always too late).
        self.auth_timeout: float | None = None

    def accepts(self, path: str) -> bool:
        return _feed(path) is not None

    def spec(self, symbol: str) -> InstrumentSpec:
        if "/" in symbol:
            return crypto_spec(*split_pair(symbol, "/"))
        return stock_spec(symbol)

    def session(self, conn: Connection, path: str, headers: Headers) -> Session:
        return AlpacaSession(self, conn, _feed(path) or "stocks", headers, path.split("?")[0])

    def drop_feed(self, feed: str) -> None:
        """Abort the connections to one feed (``stocks``, ``crypto`` or ``news``)."""
        for session in list(self.sessions):
            if session.feed == feed:
                session.conn.abort()

    def second(self, ts: int) -> None:
        if ts < self._next_news:
            return
        self._next_news = ts + int(max(self.exchange.news_seconds, 1.0) * 1e9)
        state = self._rng.choice(self.exchange.states)
        self._news_id += 1
        name = state.spec.base
        stamp = self.time.seconds(ts)
        item: dict[str, Any] = {
            "T": "n",
            "id": self._news_id,
            "headline": self._rng.choice(_HEADLINES).format(name=name),
            "summary": f"Simulated news about {name}.",
            "author": "AlphaPulse Simulator",
            "created_at": stamp,
            "updated_at": stamp,
            "url": f"https://example.com/news/{self._news_id}",
            "content": f"<p>Simulated news about {name} \u2014 for tests.</p>",
            "symbols": [state.symbol.replace("/", "")],
            "source": "simulator",
        }
        self.news.append(item)
        frame = orjson.dumps([item])
        for session in self.news_sessions:
            if session.wants_news(item["symbols"]):
                session.out.append(frame)

    def credentials_ok(self, key: object, secret: object) -> bool:
        expected = self.exchange.credentials
        if expected is None:
            return bool(key) and bool(secret)
        return (key, secret) == expected


class AlpacaSession(Session):
    venue: Alpaca

    def __init__(
        self, venue: Alpaca, conn: Connection, feed: str, headers: Headers, endpoint: str
    ) -> None:
        super().__init__(venue, conn)
        self.feed = feed
        self.endpoint = endpoint
        self.key: object = None
        self.opened_at = time.monotonic()
        self._closing: asyncio.Task[None] | None = None
        venue.sessions.append(self)
        self.channels = {
            "stocks": STOCK_CHANNELS,
            "crypto": CRYPTO_CHANNELS,
            "news": NEWS_CHANNELS,
        }[feed]
        self.subs: dict[str, list[str]] = {c: [] for c in self.channels}
        self.authenticated = False
        self._header_auth = (headers.get("APCA-API-KEY-ID"), headers.get("APCA-API-SECRET-KEY"))
        self.time = TimeText()
        self._bbo: dict[str, tuple[int, int, int, int]] = {}
        self._bar_sent: dict[str, int] = {}

    def _control(self, *messages: dict[str, Any]) -> None:
        self.conn.send_control(orjson.dumps(list(messages)))

    def _error(self, code: int, msg: str) -> None:
        self._control({"T": "error", "code": code, "msg": msg})

    def _refuse(self, code: int, msg: str) -> None:
        """An error that ends the connection: sent, then closed (after the frame is written)."""
        self._error(code, msg)
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self.conn.ws.close(1008, msg))

    def opened(self) -> None:
        self._control({"T": "success", "msg": "connected"})
        if self.venue.auth_timeout is not None and self.venue.auth_timeout <= 0:
            self._refuse(404, "auth timeout")
            return
        key, secret = self._header_auth
        if key is not None or secret is not None:
            self._auth(key, secret)

    def _auth(self, key: object, secret: object) -> None:
        venue = self.venue
        if self._closing is not None:
            return
        if self.authenticated:
            self._error(403, "already authenticated")
        elif not venue.credentials_ok(key, secret):
            self._error(402, "auth failed")  # the client may try again
        elif self.endpoint.rstrip("/").endswith("/sip") and not venue.sip_entitled:
            self._refuse(409, "insufficient subscription")
        elif venue.connection_limit is not None and venue.connection_limit <= sum(
            s.authenticated and s.key == key and s.endpoint == self.endpoint for s in venue.sessions
        ):
            self._refuse(406, "connection limit exceeded")
        else:
            self.authenticated = True
            self.key = key
            self._control({"T": "success", "msg": "authenticated"})

    def received(self, message: bytes) -> None:
        try:
            request = orjson.loads(message)
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError:
            self._error(400, "invalid syntax")
            return
        action = request.get("action")
        if action == "auth":
            self._auth(request.get("key"), request.get("secret"))
            return
        if action not in ("subscribe", "unsubscribe"):
            self._error(400, "invalid syntax")
            return
        if not self.authenticated:
            self._error(401, "not authenticated")
            return
        unknown = [k for k in request if k != "action" and k not in self.channels]
        if unknown:
            self._error(410, "invalid subscribe action for this feed")
            return
        for channel in self.channels:
            symbols = request.get(channel) or []
            if not isinstance(symbols, list):
                self._error(400, "invalid syntax")
                return
            current = self.subs[channel]
            for symbol in map(str, symbols):
                if action == "subscribe" and symbol not in current:
                    current.append(symbol)
                    self._subscribed(channel, symbol)
                elif action == "unsubscribe" and symbol in current:
                    current.remove(symbol)
        self._relisten()
        self._control({"T": "subscription", **self.subs})
        if action == "subscribe":
            for symbol in request.get("orderbooks") or []:
                self._orderbook_reset(str(symbol))

    def _states(self, symbol: str) -> list[SymbolState]:
        """The symbol's states on this feed (``*``: all of them)."""
        crypto = self.feed == "crypto"
        if symbol == "*":
            return [s for s in self.exchange.states if ("/" in s.symbol) == crypto]
        state = self.exchange.find(symbol)
        return [state] if state is not None and ("/" in symbol) == crypto else []

    def _wants(self, channel: str, symbol: str) -> bool:
        listed = self.subs.get(channel)
        return listed is not None and ("*" in listed or symbol in listed)

    def wants_news(self, symbols: list[str]) -> bool:
        listed = self.subs["news"]
        return "*" in listed or any(s in listed for s in symbols)

    def _subscribed(self, channel: str, symbol: str) -> None:
        if channel == "bars":
            interval = int(self.exchange.bar_seconds * 1e9)
            now = time.time_ns()
            for state in self._states(symbol):
                if interval not in state.bars:
                    self.venue.bars_from[state.symbol] = now - now % interval + interval
                state.bars_of(interval)

    def _relisten(self) -> None:
        if self.feed == "news":
            if self.subs["news"] and self not in self.venue.news_sessions:
                self.venue.news_sessions.append(self)
            elif not self.subs["news"] and self in self.venue.news_sessions:
                self.venue.news_sessions.remove(self)
            return
        for state in self._states("*"):
            if any(self._wants(c, state.symbol) for c in ("trades", "quotes", "orderbooks")):
                self.listen(state)
            else:
                self.unlisten(state)

    def closed(self) -> None:
        super().closed()
        if self in self.venue.news_sessions:
            self.venue.news_sessions.remove(self)
        if self in self.venue.sessions:
            self.venue.sessions.remove(self)

    def _orderbook_reset(self, symbol: str) -> None:
        ts = time.time_ns()
        for state in self._states(symbol):
            bids, asks = state.book()
            book = self._orderbook(state, bids, asks, self.time.nanos(ts), reset=True)
            self.out.append(f"[{book}]".encode())

    @staticmethod
    def _orderbook(
        state: SymbolState,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        stamp: str,
        reset: bool = False,
    ) -> str:
        prices, sizes = state.price_text, state.size_text

        def levels(side: list[tuple[int, int]]) -> str:
            return ",".join(f'{{"p":{prices[p]},"s":{sizes[s]}}}' for p, s in side)

        flag = ',"r":true' if reset else ""
        return (
            f'{{"T":"o","S":"{state.symbol}","t":"{stamp}","b":[{levels(bids)}],'
            f'"a":[{levels(asks)}]{flag}}}'
        )

    def step(self, state: SymbolState, step: Step, ts: int) -> None:
        symbol = state.symbol
        prices, sizes = state.price_text, state.size_text
        stamp = self.time.nanos(ts)
        messages: list[str] = []
        if step.trades and self._wants("trades", symbol):
            trade_id = state.trade_id - len(step.trades)
            for t in step.trades:
                trade_id += 1
                price, size = prices[t.price], sizes[t.size]
                if self.feed == "crypto":
                    taker = "B" if t.aggressor == BID else "S"
                    messages.append(
                        f'{{"T":"t","S":"{symbol}","p":{price},"s":{size},"t":"{stamp}",'
                        f'"i":{trade_id},"tks":"{taker}"}}'
                    )
                else:
                    messages.append(
                        f'{{"T":"t","i":{trade_id},"S":"{symbol}","x":"V","p":{price},'
                        f'"s":{size},"t":"{stamp}","c":["@"],"z":"C"}}'
                    )
        if self._wants("quotes", symbol):
            model = state.model
            bid, ask = model.best(BID), model.best(ASK)
            bbo = (bid, model.book[BID][bid], ask, model.book[ASK][ask])
            if bbo != self._bbo.get(symbol):
                self._bbo[symbol] = bbo
                quote = (
                    f'"bp":{prices[bid]},"bs":{sizes[bbo[1]]},'
                    f'"ap":{prices[ask]},"as":{sizes[bbo[3]]},"t":"{stamp}"'
                )
                if self.feed == "crypto":
                    messages.append(f'{{"T":"q","S":"{symbol}",{quote}}}')
                else:
                    messages.append(
                        f'{{"T":"q","S":"{symbol}","bx":"V","ax":"V",{quote},"c":["R"],"z":"C"}}'
                    )
        if step.changes and self.feed == "crypto" and self._wants("orderbooks", symbol):
            bids = [(p, s) for side, p, s in step.changes if side == BID]
            asks = [(p, s) for side, p, s in step.changes if side == ASK]
            messages.append(self._orderbook(state, bids, asks, stamp))
        if messages:
            self.out.append(f"[{','.join(messages)}]".encode())

    def second(self, ts: int) -> None:
        timeout = self.venue.auth_timeout
        if (
            timeout is not None
            and not self.authenticated
            and self._closing is None
            and time.monotonic() - self.opened_at >= timeout
        ):
            self._refuse(404, "auth timeout")
        if not self.subs.get("bars"):
            return
        interval = int(self.exchange.bar_seconds * 1e9)
        frames: list[str] = []
        for state in self._states("*"):
            if not self._wants("bars", state.symbol):
                continue
            bars = state.bars_of(interval)
            bars.roll(ts)
            closed = bars.closed
            if closed is None or closed.start < self.venue.bars_from.get(state.symbol, 0):
                continue
            if closed.start > self._bar_sent.get(state.symbol, -1):
                self._bar_sent[state.symbol] = closed.start
                frames.append(self._bar(state, closed))
        if frames:
            self.out.append(f"[{','.join(frames)}]".encode())

    def _bar(self, state: SymbolState, bar: Bar) -> str:
        pd, sd = state.spec.price_decimals, state.spec.size_decimals
        vwap = bar.notional / bar.volume / 10**pd if bar.volume else 0.0
        return (
            f'{{"T":"b","S":"{state.symbol}","o":{trimmed(bar.open, pd)},'
            f'"h":{trimmed(bar.high, pd)},"l":{trimmed(bar.low, pd)},'
            f'"c":{trimmed(bar.close, pd)},"v":{trimmed(bar.volume, sd)},'
            f'"t":"{self.time.seconds(bar.start)}","n":{bar.trades},"vw":{vwap:.6f}}}'
        )

    def unknown(self) -> bytes:
        return b'[{"T":"simulator_unknown","S":"SIM"}]'
