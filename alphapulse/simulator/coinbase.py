"""Coinbase Advanced Trade WebSocket (``wss://advanced-trade-ws.coinbase.com``), as the
simulator speaks it.

```json
{"channel":"l2_data","client_id":"","timestamp":"2026-01-02T00:00:00.123456789Z",
 "sequence_num":14,"events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"bid",
 "event_time":"2026-01-02T00:00:00.123456Z","price_level":"64999.9","new_quantity":"0.0213"}]}]}
```

One subscribe message per channel (``{"type":"subscribe","product_ids":[…],"channel":…}``),
each answered by the channel's snapshots and then a ``subscriptions`` message listing the
connection's subscriptions. Channels: ``level2`` (full depth, written ``l2_data``),
``market_trades`` (a snapshot of the last 100 trades, newest first, then updates; ``side`` is
the *maker's*), ``ticker`` (on trades), ``candles`` (the 5-minute candle, each second) and
``heartbeats`` (each second, with a ``heartbeat_counter``). ``sequence_num`` is one counter for
every message of the connection. REST: ``GET /api/v3/brokerage/market/products``.

Unauthenticated messages (no ``jwt``) are limited to 8 a second per IP, as Coinbase documents;
every client of the exchange shares one IP (loopback), so they share one allowance (a bucket
of 8 that refills at 8 a second). A message over it is answered with an ``error`` and the
connection is closed (1008, policy violation). JWTs are not verified.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from websockets.datastructures import Headers

from alphapulse.simulator.encoding import TimeText, trimmed
from alphapulse.simulator.instruments import crypto_spec, split_pair
from alphapulse.simulator.market import ASK, BID, InstrumentSpec, Step
from alphapulse.simulator.server import Connection, HttpAnswer, Session, Venue
from alphapulse.simulator.state import Bar, SymbolState

if TYPE_CHECKING:
    from alphapulse.simulator.exchange import SimulatedExchange

CHANNELS = ("level2", "market_trades", "ticker", "candles", "heartbeats")
TRADE_SNAPSHOT = 100
CANDLE_NS = 300_000_000_000
_SIDES = {"buy": BID, "sell": ASK}
#: Unauthenticated messages a second per IP (Advanced Trade WebSocket rate limits).
RATE_LIMIT = 8
_SIDE_NAMES = ("bid", "offer")


class Coinbase(Venue):
    name = "coinbase"
    text = staticmethod(trimmed)

    def __init__(self, exchange: SimulatedExchange) -> None:
        super().__init__(exchange)
        self._allowance = float(RATE_LIMIT)
        self._refilled = time.monotonic()
        #: Messages refused for the rate (every connection: they share one IP).
        self.rate_limited = 0

    def take_message(self) -> bool:
        """Whether one more unauthenticated message is within the per-IP rate."""
        now = time.monotonic()
        elapsed, self._refilled = now - self._refilled, now
        self._allowance = min(float(RATE_LIMIT), self._allowance + elapsed * RATE_LIMIT)
        if self._allowance < 1.0:
            self.rate_limited += 1
            return False
        self._allowance -= 1.0
        return True

    def spec(self, symbol: str) -> InstrumentSpec:
        return crypto_spec(*split_pair(symbol, "-"))

    def session(self, conn: Connection, path: str, headers: Headers) -> Session:
        return CoinbaseSession(self, conn)

    def http(self, path: str, query: Mapping[str, str]) -> HttpAnswer | None:
        if path.rstrip("/") not in ("/api/v3/brokerage/market/products", "/products"):
            return None
        return 200, {"products": [self.product(s) for s in self.exchange.states]}

    def product(self, state: SymbolState) -> dict[str, Any]:
        spec, model = state.spec, state.model
        price = trimmed(state.last, spec.price_decimals)
        return {
            "product_id": state.symbol,
            "price": price,
            "base_increment": trimmed(1, spec.size_decimals),
            "quote_increment": trimmed(model.tick, spec.price_decimals),
            "price_increment": trimmed(model.tick, spec.price_decimals),
            "base_min_size": trimmed(model.lot, spec.size_decimals),
            "base_currency_id": spec.base,
            "quote_currency_id": spec.quote,
            "status": "online",
            "product_type": "SPOT",
            "trading_disabled": False,
        }


@dataclass(slots=True)
class _Subscription:
    level2: bool = False
    market_trades: bool = False
    ticker: bool = False
    candles: bool = False
    candle_sent: int = -1

    def any(self) -> bool:
        return self.level2 or self.market_trades or self.ticker or self.candles


class CoinbaseSession(Session):
    venue: Coinbase

    def __init__(self, venue: Coinbase, conn: Connection) -> None:
        super().__init__(venue, conn)
        self._closing: asyncio.Task[None] | None = None
        self.sequence = 0
        self.subs: dict[str, _Subscription] = {}
        self.heartbeats: list[str] | None = None
        self.heartbeat_counter = 0
        self.started = time.monotonic()
        self.time = TimeText()

    def _message(self, channel: str, events: str, ts: int) -> bytes:
        seq = self.sequence
        self.sequence = seq + 1
        return (
            f'{{"channel":"{channel}","client_id":"","timestamp":"{self.time.nanos(ts)}",'
            f'"sequence_num":{seq},"events":{events}}}'
        ).encode()

    def received(self, message: bytes) -> None:
        ts = time.time_ns()
        if self._closing is not None:
            return
        try:
            request = orjson.loads(message)
        except ValueError:
            request = None
        signed = isinstance(request, dict) and "jwt" in request
        if not signed and not self.venue.take_message():
            self._error("rate limit exceeded: 8 unauthenticated messages a second per IP")
            # Runs after the error frame is written (the caller flushes before it awaits).
            self._closing = asyncio.get_running_loop().create_task(
                self.conn.ws.close(1008, "rate limit exceeded")
            )
            return
        if not isinstance(request, dict):
            self._error("malformed JSON")
            return
        kind, channel = request.get("type"), request.get("channel")
        products = request.get("product_ids") or []
        if kind not in ("subscribe", "unsubscribe"):
            self._error(f"unknown message type {kind!r}")
            return
        if channel not in CHANNELS:
            self._error(f"Failed to subscribe: unknown channel {channel!r}")
            return
        if not isinstance(products, list):
            self._error("product_ids must be a list")
            return
        states = [self.exchange.find(str(p)) for p in products]
        missing = [p for p, s in zip(products, states, strict=True) if s is None]
        if missing:
            self._error(f"Failed to subscribe: unknown product_ids {missing}")
            return
        on = kind == "subscribe"
        if channel == "heartbeats":
            self.heartbeats = [str(p) for p in products] if on else None
        for state in states:
            assert state is not None
            self._set(state, str(channel), on, ts)
        self.conn.send_control(
            self._message("subscriptions", self._subscriptions(), ts),
        )

    def _error(self, message: str) -> None:
        self.conn.send_control(orjson.dumps({"type": "error", "message": message}))

    def _subscriptions(self) -> str:
        listed: dict[str, list[str]] = {}
        for channel in CHANNELS[:-1]:
            products = [s for s, sub in self.subs.items() if getattr(sub, channel)]
            if products:
                listed[channel] = products
        if self.heartbeats is not None:
            listed["heartbeats"] = self.heartbeats
        return orjson.dumps([{"subscriptions": listed}]).decode()

    def _set(self, state: SymbolState, channel: str, on: bool, ts: int) -> None:
        if channel == "heartbeats":
            return
        sub = self.subs.get(state.symbol)
        if sub is None:
            if not on:
                return
            sub = self.subs[state.symbol] = _Subscription()
            self.listen(state)
        setattr(sub, channel, on)
        if on and channel == "level2":
            self.out.append(self._l2_snapshot(state, ts))
        elif on and channel == "market_trades":
            self.out.append(self._trades_snapshot(state, ts))
        elif on and channel == "ticker":
            self.out.append(self._ticker(state, "snapshot", ts))
        elif on and channel == "candles":
            state.bars_of(CANDLE_NS)
        if not sub.any():
            del self.subs[state.symbol]
            self.unlisten(state)

    def _l2_snapshot(self, state: SymbolState, ts: int) -> bytes:
        bids, asks = state.book()
        event_time = self.time.micros(ts)
        updates = ",".join(
            self._level(side, p, s, event_time, state)
            for side, levels in (("bid", bids), ("offer", asks))
            for p, s in levels
        )
        events = f'[{{"type":"snapshot","product_id":"{state.symbol}","updates":[{updates}]}}]'
        return self._message("l2_data", events, ts)

    @staticmethod
    def _level(side: str, price: int, size: int, event_time: str, state: SymbolState) -> str:
        return (
            f'{{"side":"{side}","event_time":"{event_time}",'
            f'"price_level":"{state.price_text[price]}",'
            f'"new_quantity":"{state.size_text[size]}"}}'
        )

    def _trade(
        self, state: SymbolState, trade_id: int, aggressor: int, price: int, size: int, ts: int
    ) -> str:
        # Coinbase reports the maker's side: a buyer lifting the offer prints "SELL".
        maker = "SELL" if aggressor == BID else "BUY"
        return (
            f'{{"product_id":"{state.symbol}","trade_id":"{trade_id}",'
            f'"price":"{state.price_text[price]}",'
            f'"size":"{state.size_text[size]}",'
            f'"time":"{self.time.micros(ts)}","side":"{maker}"}}'
        )

    def _trades_snapshot(self, state: SymbolState, ts: int) -> bytes:
        recent = state.truth.recent_trades(TRADE_SNAPSHOT)[::-1]
        trades = ",".join(
            self._trade(state, t.trade_id, _SIDES[t.aggressor], t.price, t.size, t.ts)
            for t in recent
        )
        return self._message("market_trades", f'[{{"type":"snapshot","trades":[{trades}]}}]', ts)

    def _ticker(self, state: SymbolState, kind: str, ts: int) -> bytes:
        spec, model = state.spec, state.model
        prices, sizes = state.price_text, state.size_text
        bid, ask = model.best(BID), model.best(ASK)
        pct = 100 * (state.last - state.open) / state.open if state.open else 0.0
        low, high = prices[state.low], prices[state.high]
        ticker = (
            f'{{"type":"ticker","product_id":"{state.symbol}","price":"{prices[state.last]}",'
            f'"volume_24_h":"{trimmed(state.volume, spec.size_decimals)}",'
            f'"low_24_h":"{low}","high_24_h":"{high}","low_52_w":"{low}","high_52_w":"{high}",'
            f'"price_percent_chg_24_h":"{pct:.14f}",'
            f'"best_bid":"{prices[bid]}","best_ask":"{prices[ask]}",'
            f'"best_bid_quantity":"{sizes[model.book[BID][bid]]}",'
            f'"best_ask_quantity":"{sizes[model.book[ASK][ask]]}"}}'
        )
        return self._message("ticker", f'[{{"type":"{kind}","tickers":[{ticker}]}}]', ts)

    def step(self, state: SymbolState, step: Step, ts: int) -> None:
        sub = self.subs[state.symbol]
        out = self.out
        if sub.level2 and step.changes:
            event_time = self.time.micros(ts)
            updates = ",".join(
                self._level(_SIDE_NAMES[side], p, s, event_time, state)
                for side, p, s in step.changes
            )
            out.append(
                self._message(
                    "l2_data",
                    f'[{{"type":"update","product_id":"{state.symbol}","updates":[{updates}]}}]',
                    ts,
                )
            )
        if step.trades:
            if sub.market_trades:
                first = state.trade_id - len(step.trades) + 1
                trades = ",".join(
                    self._trade(state, first + i, t.aggressor, t.price, t.size, ts)
                    for i, t in enumerate(step.trades)
                )
                out.append(
                    self._message("market_trades", f'[{{"type":"update","trades":[{trades}]}}]', ts)
                )
            if sub.ticker:
                out.append(self._ticker(state, "update", ts))

    def second(self, ts: int) -> None:
        for symbol, sub in self.subs.items():
            if sub.candles:
                bars = self.exchange.state(symbol).bars_of(CANDLE_NS)
                bars.roll(ts)
                if (candle := bars.current) is not None:
                    self.out.append(self._candle(symbol, candle, ts))
        if self.heartbeats is not None:
            self.heartbeat_counter += 1
            self.conn.send_control(
                self._message(
                    "heartbeats",
                    f'[{{"current_time":"{_go_time(ts, self.started)}",'
                    f'"heartbeat_counter":{self.heartbeat_counter}}}]',
                    ts,
                )
            )

    def _candle(self, symbol: str, bar: Bar, ts: int) -> bytes:
        spec = self.exchange.state(symbol).spec
        pd, sd = spec.price_decimals, spec.size_decimals
        candle = (
            f'{{"start":"{bar.start // 1_000_000_000}","high":"{trimmed(bar.high, pd)}",'
            f'"low":"{trimmed(bar.low, pd)}","open":"{trimmed(bar.open, pd)}",'
            f'"close":"{trimmed(bar.close, pd)}","volume":"{trimmed(bar.volume, sd)}",'
            f'"product_id":"{symbol}"}}'
        )
        return self._message("candles", f'[{{"type":"update","candles":[{candle}]}}]', ts)

    def unknown(self) -> bytes:
        # No sequence_num: an unknown message must not also look like a lost one.
        return b'{"type":"simulator_unknown","channel":"simulator_unknown","events":[]}'


def _go_time(ts: int, started: float) -> str:
    """Coinbase's heartbeat clock: Go's ``time.Time`` text, with its monotonic reading."""
    seconds, nanos = divmod(ts, 1_000_000_000)
    wall = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{wall}.{nanos:09d} +0000 UTC m=+{time.monotonic() - started:.9f}"
