"""Kraken WebSocket v2 (``wss://ws.kraken.com/v2``), as the simulator speaks it.

```json
{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":64999.9,
 "qty":0.0213}],"asks":[],"checksum":2114181697,"timestamp":"2026-01-02T00:00:00.123456Z"}]}
```

Channels: ``book`` (depth 10, 25, 100, 500 or 1000; snapshot, then updates each carrying the
CRC32 of the top 10 levels a side), ``trade``, ``ticker`` (on trades, or on every best bid/offer
change with ``event_trigger: "bbo"``), ``instrument`` (every pair's ``price_precision`` and
``qty_precision``, which the checksum is computed at), ``heartbeat`` (each second once
subscribed) and ``status`` (on connect). Methods: ``subscribe``, ``unsubscribe``, ``ping``.

Numbers are JSON numbers with trailing zeros trimmed, as Kraken writes them, so a client
needs the instrument channel to know the precision of the checksum's strings. The book is
the top ``depth`` levels: a level pushed below the depth is not deleted on the wire (the
client trims), a deleted one is, and the level that moves up into view is sent with it.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import orjson
from websockets.datastructures import Headers

from alphapulse.simulator.encoding import TimeText, number
from alphapulse.simulator.instruments import crypto_spec, split_pair
from alphapulse.simulator.market import ASK, BID, InstrumentSpec, Step
from alphapulse.simulator.server import Connection, Session, Venue
from alphapulse.simulator.state import SymbolState

DEPTHS = (10, 25, 100, 500, 1000)
#: What publishes a ticker update: every trade (the default) or every best bid/offer change.
EVENT_TRIGGERS = ("bbo", "trades")
TRADE_SNAPSHOT = 50


def checksum(asks: Iterable[tuple[int, int]], bids: Iterable[tuple[int, int]]) -> int:
    """Kraken's CRC32 over the top 10 asks then bids (best first), from mantissas."""
    return zlib.crc32(_crc_text(bids), zlib.crc32(_crc_text(asks)))


def _crc_text(levels: Iterable[tuple[int, int]]) -> bytes:
    """One side's part of the checksum's input: its top 10 levels, price then size.

    A mantissa at the pair's precision printed as an integer is the decimal string with the
    ``.`` removed and leading zeros stripped, which is what Kraken hashes.
    """
    return "".join([f"{p}{s}" for p, s in islice(levels, 10)]).encode()


@dataclass(slots=True)
class _Subscription:
    """One symbol's channels on one connection."""

    depth: int = 0
    #: The book as the client has it: the top ``depth`` levels a side, best first.
    window: list[dict[int, int]] = field(default_factory=lambda: [{}, {}])
    #: Each side's top 10 as the checksum hashes it (recomputed when the side changes).
    crc_text: list[bytes] = field(default_factory=lambda: [b"", b""])
    trade: bool = False
    ticker: bool = False
    ticker_bbo: bool = False
    bbo: tuple[int, int, int, int] | None = None


class KrakenV2(Venue):
    name = "kraken"
    ws_path = "/v2"
    text = staticmethod(number)

    def spec(self, symbol: str) -> InstrumentSpec:
        return crypto_spec(*split_pair(symbol, "/"))

    def session(self, conn: Connection, path: str, headers: Headers) -> Session:
        return KrakenSession(self, conn)


class KrakenSession(Session):
    def __init__(self, venue: Venue, conn: Connection) -> None:
        super().__init__(venue, conn)
        self.subs: dict[str, _Subscription] = {}
        self.heartbeat = False
        self.time = TimeText()

    # Control

    def _control(self, message: dict[str, Any]) -> None:
        self.conn.send_control(orjson.dumps(message))

    def opened(self) -> None:
        self._control(
            {
                "channel": "status",
                "type": "update",
                "data": [
                    {
                        "version": "2.0.10",
                        "system": "online",
                        "api_version": "v2",
                        "connection_id": 1_000_000 + self.conn.index,
                    }
                ],
            }
        )

    def _reply(
        self, request: dict[str, Any], ts: int, result: dict[str, Any] | None, error: str = ""
    ) -> None:
        stamp = self.time.micros(ts)
        reply: dict[str, Any] = {"method": request.get("method")}
        if error:
            reply.update(error=error, success=False)
        elif result is not None:
            reply.update(result=result, success=True)
        reply.update(time_in=stamp, time_out=stamp)
        if "req_id" in request:
            reply["req_id"] = request["req_id"]
        self._control(reply)

    def received(self, message: bytes) -> None:
        ts = time.time_ns()
        try:
            request = orjson.loads(message)
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError:
            self._control({"error": "Invalid JSON", "success": False})
            return
        method = request.get("method")
        params = request.get("params") or {}
        if method == "ping":
            self._reply({**request, "method": "pong"}, ts, None)
            return
        if method not in ("subscribe", "unsubscribe") or not isinstance(params, dict):
            self._reply(request, ts, None, f"Method {method!r} not found")
            return
        channel = params.get("channel")
        handler = self._channels().get(str(channel))
        if handler is None:
            self._reply(request, ts, None, f"Channel {channel} not found")
            return
        handler(request, params, ts, method == "subscribe")

    def _channels(self) -> dict[str, Callable[[dict[str, Any], dict[str, Any], int, bool], None]]:
        return {
            "book": self._book,
            "trade": self._trade,
            "ticker": self._ticker,
            "instrument": self._instrument,
            "heartbeat": self._heartbeat,
        }

    def _symbols(
        self, request: dict[str, Any], params: dict[str, Any], ts: int
    ) -> list[SymbolState]:
        out: list[SymbolState] = []
        symbols = params.get("symbol")
        if not isinstance(symbols, list) or not symbols:
            self._reply(request, ts, None, "Missing symbol")
            return out
        for symbol in symbols:
            state = self.exchange.find(str(symbol))
            if state is None:
                reply_error = f"Currency pair not supported {symbol}"
                self._reply(request, ts, None, reply_error)
                continue
            out.append(state)
        return out

    def _sub(self, state: SymbolState) -> _Subscription:
        sub = self.subs.get(state.symbol)
        if sub is None:
            sub = self.subs[state.symbol] = _Subscription()
            self.listen(state)
        return sub

    def _drop_if_idle(self, state: SymbolState) -> None:
        sub = self.subs.get(state.symbol)
        if sub is not None and not (sub.depth or sub.trade or sub.ticker):
            del self.subs[state.symbol]
            self.unlisten(state)

    def _book(self, request: dict[str, Any], params: dict[str, Any], ts: int, on: bool) -> None:
        depth = params.get("depth", 10)
        # An integer, and one of the documented values: "10" or 10.0 are refused as well.
        if type(depth) is not int or depth not in DEPTHS:
            self._reply(request, ts, None, f"Invalid depth {depth!r}; one of {list(DEPTHS)}")
            return
        for state in self._symbols(request, params, ts):
            result: dict[str, Any] = {"channel": "book", "depth": depth, "symbol": state.symbol}
            if not on:
                self._reply(request, ts, result)
                if state.symbol in self.subs:
                    self.subs[state.symbol].depth = 0
                    self._drop_if_idle(state)
                continue
            snapshot = params.get("snapshot", True) is not False
            result["snapshot"] = snapshot
            self._reply(request, ts, result)
            self.heartbeat = True
            sub = self._sub(state)
            sub.depth = depth
            bids, asks = state.book(depth)
            sub.window = [dict(bids), dict(asks)]
            sub.crc_text = [_crc_text(bids), _crc_text(asks)]
            if snapshot:
                self.out.append(self._book_frame(state, "snapshot", bids, asks, ts))

    def _trade(self, request: dict[str, Any], params: dict[str, Any], ts: int, on: bool) -> None:
        for state in self._symbols(request, params, ts):
            result = {"channel": "trade", "symbol": state.symbol}
            self._reply(request, ts, {**result, "snapshot": params.get("snapshot") is True})
            if on:
                self.heartbeat = True
                self._sub(state).trade = True
                if params.get("snapshot") is True:
                    trades = state.truth.recent_trades(TRADE_SNAPSHOT)
                    data = ",".join(
                        self._trade_text(state, t.trade_id, t.aggressor, t.price, t.size, t.ts)
                        for t in trades
                    )
                    self.out.append(
                        f'{{"channel":"trade","type":"snapshot","data":[{data}]}}'.encode()
                    )
            elif state.symbol in self.subs:
                self.subs[state.symbol].trade = False
                self._drop_if_idle(state)

    def _ticker(self, request: dict[str, Any], params: dict[str, Any], ts: int, on: bool) -> None:
        trigger = params.get("event_trigger", "trades")
        if trigger not in EVENT_TRIGGERS:
            self._reply(request, ts, None, f"Invalid event_trigger {trigger!r}; one of bbo, trades")
            return
        bbo = trigger == "bbo"
        for state in self._symbols(request, params, ts):
            self._reply(request, ts, {"channel": "ticker", "symbol": state.symbol})
            if on:
                self.heartbeat = True
                sub = self._sub(state)
                sub.ticker, sub.ticker_bbo = True, bbo
                if params.get("snapshot", True) is not False:
                    self.out.append(self._ticker_frame(state, "snapshot", ts))
            elif state.symbol in self.subs:
                self.subs[state.symbol].ticker = False
                self._drop_if_idle(state)

    def _instrument(
        self, request: dict[str, Any], params: dict[str, Any], ts: int, on: bool
    ) -> None:
        self._reply(request, ts, {"channel": "instrument", "snapshot": True})
        if not on:
            return
        self.heartbeat = True
        assets = sorted({s.spec.base for s in self.exchange.states})
        pairs = [self._pair(state) for state in self.exchange.states]
        data = {
            "assets": [
                {"id": a, "status": "enabled", "precision": 10, "precision_display": 5}
                for a in assets
            ],
            "pairs": pairs,
        }
        self.out.append(orjson.dumps({"channel": "instrument", "type": "snapshot", "data": data}))

    def _pair(self, state: SymbolState) -> dict[str, Any]:
        spec = state.spec
        tick = state.model.tick
        lot = state.model.lot
        return {
            "symbol": state.symbol,
            "base": spec.base,
            "quote": spec.quote,
            "status": "online",
            "qty_precision": spec.size_decimals,
            "qty_increment": float(number(1, spec.size_decimals)),
            "price_precision": spec.price_decimals,
            "cost_precision": 5,
            "marginable": False,
            "has_index": True,
            "cost_min": 0.5,
            "tick_size": float(number(tick, spec.price_decimals)),
            "price_increment": float(number(tick, spec.price_decimals)),
            "qty_min": float(number(lot, spec.size_decimals)),
        }

    def _heartbeat(
        self, request: dict[str, Any], params: dict[str, Any], ts: int, on: bool
    ) -> None:
        self._reply(request, ts, {"channel": "heartbeat"})
        self.heartbeat = on

    def second(self, ts: int) -> None:
        if self.heartbeat:
            self.conn.send_control(b'{"channel":"heartbeat"}')

    def unknown(self) -> bytes:
        return b'{"channel":"simulator_unknown","type":"update","data":[]}'

    # Market data

    def step(self, state: SymbolState, step: Step, ts: int) -> None:
        sub = self.subs[state.symbol]
        if sub.depth:
            self._book_update(state, sub, step, ts)
        if step.trades and sub.trade:
            first = state.trade_id - len(step.trades) + 1
            data = ",".join(
                self._trade_text(
                    state, first + i, "buy" if t.aggressor == BID else "sell", t.price, t.size, ts
                )
                for i, t in enumerate(step.trades)
            )
            self.out.append(f'{{"channel":"trade","type":"update","data":[{data}]}}'.encode())
        if sub.ticker:
            if sub.ticker_bbo:
                model = state.model
                bid, ask = model.best(BID), model.best(ASK)
                bbo = (bid, model.book[BID][bid], ask, model.book[ASK][ask])
                if bbo != sub.bbo:
                    sub.bbo = bbo
                    self.out.append(self._ticker_frame(state, "update", ts))
            elif step.trades:
                self.out.append(self._ticker_frame(state, "update", ts))

    def _book_update(self, state: SymbolState, sub: _Subscription, step: Step, ts: int) -> None:
        model = state.model
        depth = sub.depth
        window = sub.window
        # A side untouched, or touched only below the depth, is unchanged for the client.
        touched = [False, False]
        for side, price, _ in step.changes:
            if not touched[side] and (price in window[side] or model.rank(side, price) < depth):
                touched[side] = True
        texts = ["", ""]
        prices, sizes_text = state.price_text, state.size_text
        for side in (BID, ASK):
            if not touched[side]:
                continue
            old = window[side]
            levels = model.top(side, depth)
            new = dict(levels)
            sizes = model.book[side]
            # Deletions first: the client trims to the depth after every level it applies,
            # so the level moving up into view must come after the one that left.
            parts = [
                f'{{"price":{prices[p]},"qty":0.0}}' for p in old if p not in new and p not in sizes
            ]
            parts += [
                f'{{"price":{prices[p]},"qty":{sizes_text[s]}}}'
                for p, s in levels
                if old.get(p) != s
            ]
            texts[side] = ",".join(parts)
            window[side] = new
            sub.crc_text[side] = _crc_text(levels)
        if not texts[BID] and not texts[ASK]:
            return
        crc = zlib.crc32(sub.crc_text[BID], zlib.crc32(sub.crc_text[ASK]))
        self.out.append(
            (
                f'{{"channel":"book","type":"update","data":[{{"symbol":"{state.symbol}",'
                f'"bids":[{texts[BID]}],"asks":[{texts[ASK]}],"checksum":{crc},'
                f'"timestamp":"{self.time.micros(ts)}"}}]}}'
            ).encode()
        )

    def _book_frame(
        self,
        state: SymbolState,
        kind: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        ts: int,
    ) -> bytes:
        prices, sizes = state.price_text, state.size_text

        def levels(side: list[tuple[int, int]]) -> str:
            return ",".join(f'{{"price":{prices[p]},"qty":{sizes[s]}}}' for p, s in side)

        return (
            f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{state.symbol}",'
            f'"bids":[{levels(bids)}],"asks":[{levels(asks)}],'
            f'"checksum":{checksum(asks, bids)},"timestamp":"{self.time.micros(ts)}"}}]}}'
        ).encode()

    def _trade_text(
        self, state: SymbolState, trade_id: int, side: str, price: int, size: int, ts: int
    ) -> str:
        return (
            f'{{"symbol":"{state.symbol}","side":"{side}",'
            f'"price":{state.price_text[price]},'
            f'"qty":{state.size_text[size]},"ord_type":"market",'
            f'"trade_id":{trade_id},"timestamp":"{self.time.micros(ts)}"}}'
        )

    def _ticker_frame(self, state: SymbolState, kind: str, ts: int) -> bytes:
        model = state.model
        pd, sd = state.spec.price_decimals, state.spec.size_decimals
        prices, sizes = state.price_text, state.size_text
        bid, ask = model.best(BID), model.best(ASK)
        vwap = state.notional // state.volume if state.volume else state.last
        change = state.last - state.open
        pct = round(100 * change / state.open, 2) if state.open else 0.0
        return (
            f'{{"channel":"ticker","type":"{kind}","data":[{{"symbol":"{state.symbol}",'
            f'"bid":{prices[bid]},"bid_qty":{sizes[model.book[BID][bid]]},'
            f'"ask":{prices[ask]},"ask_qty":{sizes[model.book[ASK][ask]]},'
            f'"last":{prices[state.last]},"volume":{number(state.volume, sd)},'
            f'"vwap":{number(vwap, pd)},"low":{prices[state.low]},'
            f'"high":{prices[state.high]},"change":{number(change, pd)},'
            f'"change_pct":{pct},"timestamp":"{self.time.micros(ts)}"}}]}}'
        ).encode()
