"""Binance spot WebSocket streams and REST depth snapshots, as the simulator speaks them.

```json
{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1767312000123,"s":"BTCUSDT",
 "U":1000001,"u":1000003,"b":[["64999.90000000","0.02130000"]],"a":[]}}
```

URLs: ``/ws/<stream>[/<stream>…]`` (raw payloads), ``/stream?streams=<a>/<b>`` (combined:
``{"stream":…,"data":…}``), and ``/ws`` or ``/stream`` alone, then the ``SUBSCRIBE`` /
``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` / ``SET_PROPERTY combined`` methods. Streams:
``<symbol>@depth`` and ``@depth@100ms`` (every step is its own diff, ``U``..``u`` one update
id per changed level), ``@trade``, ``@aggTrade`` (each fill is one aggregate trade, so its
``a`` is the trade id), ``@bookTicker`` (on every best bid/offer change) and ``@kline_<i>``
(each second while the candle has trades). Decimals are written with 8 places, as Binance does.

Connections end as on Binance: after ``max_connection_seconds`` (24 hours there; None here
unless a test sets it), and :meth:`Binance.announce_shutdown` sends every client the
``serverShutdown`` event and closes its connection ``shutdown_grace_seconds`` later.

REST on the same port: ``GET /api/v3/depth?symbol=X&limit=N`` (``lastUpdateId`` is the last
update id already sent on the streams, so Binance's sync rules hold), ``/api/v3/exchangeInfo``,
``/api/v3/ping`` and ``/api/v3/time``, each charged its request weight against one limit for
every client (``alphapulse.simulator.weights``: 429, then 418, ``X-MBX-USED-WEIGHT-1M``).
A connection listens to at most 1,024 streams; a ``SUBSCRIBE`` past that is refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.datastructures import Headers

from alphapulse.simulator.encoding import fixed
from alphapulse.simulator.instruments import crypto_spec, split_concatenated
from alphapulse.simulator.market import ASK, BID, InstrumentSpec, Step
from alphapulse.simulator.server import Connection, HttpAnswer, Session, Venue
from alphapulse.simulator.state import Bar, SymbolState
from alphapulse.simulator.weights import WeightLimit

if TYPE_CHECKING:
    from alphapulse.simulator.exchange import SimulatedExchange

if TYPE_CHECKING:
    from alphapulse.simulator.exchange import SimulatedExchange

DECIMALS = 8
KLINE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DEPTH_LIMIT = 5000
STREAM_KINDS = ("depth", "depth@100ms", "depth@1000ms", "trade", "aggTrade", "bookTicker")
#: Streams one connection can listen to (Binance WebSocket Streams, "WebSocket Limits").
MAX_STREAMS = 1024
#: REQUEST_WEIGHT a minute per IP, as exchangeInfo reports it.
WEIGHT_LIMIT = 6000
#: Depth's weight by limit: (most levels, weight). Kept apart from the venue module's table
#: on purpose, so that a wrong table there fails against the simulator.
DEPTH_WEIGHTS = ((100, 5), (500, 25), (1000, 50), (MAX_DEPTH_LIMIT, 250))

Query = Mapping[str, str]
Answer = tuple[int, object]


def depth_weight(limit: int) -> int:
    """``GET /api/v3/depth``'s weight for ``limit`` levels."""
    return next(w for most, w in DEPTH_WEIGHTS if limit <= most)


def kline_interval_ns(name: str) -> int | None:
    """``1m`` → 60 s in ns; None if not a Binance kline interval."""
    count, unit = name[:-1], name[-1:]
    if not count.isdigit() or unit not in KLINE_UNITS:
        return None
    return int(count) * KLINE_UNITS[unit] * 1_000_000_000


class Binance(Venue):
    name = "binance"
    #: Connections are closed once this old (seconds; Binance: 24 hours). None: never.
    max_connection_seconds: float | None = None
    #: Between the ``serverShutdown`` notice and the close (seconds).
    shutdown_grace_seconds: float = 5.0

    def __init__(self, exchange: SimulatedExchange) -> None:
        super().__init__(exchange)
        self.sessions: list[BinanceSession] = []
        #: One request-weight limit for every client: they share loopback's IP.
        self.weights = WeightLimit(WEIGHT_LIMIT)

    def announce_shutdown(self) -> None:
        """Tell every client the server is about to shut down, then close their connections."""
        for session in list(self.sessions):
            session.shutdown()

    @staticmethod
    def text(mantissa: int, decimals: int) -> str:
        return _decimal(mantissa, decimals)

    def spec(self, symbol: str) -> InstrumentSpec:
        return crypto_spec(*split_concatenated(symbol))

    def accepts(self, path: str) -> bool:
        route = urlsplit(path).path.rstrip("/")
        return route in ("/ws", "/stream") or route.startswith("/ws/")

    def session(self, conn: Connection, path: str, headers: Headers) -> Session:
        url = urlsplit(path)
        combined = url.path.rstrip("/") == "/stream"
        streams: list[str] = []
        if combined:
            for value in parse_qs(url.query).get("streams", []):
                streams += [s for s in value.split("/") if s]
        elif url.path.startswith("/ws/"):
            streams = [s for s in url.path[len("/ws/") :].split("/") if s]
        return BinanceSession(self, conn, combined, streams)

    def http(self, path: str, query: Mapping[str, str]) -> HttpAnswer | None:
        route = self._routes.get(path.rstrip("/"))
        if route is None:
            return None
        weight, handler = route
        refused = self.weights.charge(weight(query))
        if refused is not None:
            return refused
        status, body = handler(query)
        return status, body, self.weights.used_header()

    @property
    def _routes(self) -> dict[str, tuple[Callable[[Query], int], Callable[[Query], Answer]]]:
        """Path → (request weight, handler), weights as the Binance spot API gives them."""
        return {
            "/api/v3/depth": (lambda q: depth_weight(_limit(q) or 100), self._depth),
            "/api/v3/exchangeInfo": (lambda q: 20, self._exchange_info),
            "/api/v3/ping": (lambda q: 1, lambda q: (200, {})),
            "/api/v3/time": (
                lambda q: 1,
                lambda q: (200, {"serverTime": time.time_ns() // 1_000_000}),
            ),
        }

    def _depth(self, query: Query) -> Answer:
        symbol = query.get("symbol", "").upper()
        if not symbol:
            return 400, {
                "code": -1102,
                "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            }
        state = self.exchange.find(symbol)
        if state is None:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        try:
            limit = min(int(query.get("limit", "100")), MAX_DEPTH_LIMIT)
        except ValueError:
            return 400, {"code": -1100, "msg": "Illegal characters found in parameter 'limit'."}
        bids, asks = state.book(limit)
        prices, sizes = state.price_text, state.size_text
        return 200, {
            "lastUpdateId": state.update_id,
            "bids": [[prices[p], sizes[s]] for p, s in bids],
            "asks": [[prices[p], sizes[s]] for p, s in asks],
        }

    def _exchange_info(self, query: Query) -> Answer:
        wanted: set[str] | None = None
        if "symbol" in query:
            wanted = {query["symbol"].upper()}
        elif "symbols" in query:
            try:
                wanted = {str(s).upper() for s in orjson.loads(query["symbols"])}
            except ValueError:
                return 400, {"code": -1100, "msg": "Illegal characters found in 'symbols'."}
        states = [s for s in self.exchange.states if wanted is None or s.symbol in wanted]
        if wanted is not None and len(states) != len(wanted):
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        return 200, {
            "timezone": "UTC",
            "serverTime": time.time_ns() // 1_000_000,
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": self.weights.limit,
                }
            ],
            "exchangeFilters": [],
            "symbols": [self._symbol_info(s) for s in states],
        }

    def _symbol_info(self, state: SymbolState) -> dict[str, Any]:
        spec, model = state.spec, state.model
        return {
            "symbol": state.symbol,
            "status": "TRADING",
            "baseAsset": spec.base,
            "baseAssetPrecision": 8,
            "quoteAsset": spec.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
            "isSpotTradingAllowed": True,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": _decimal(model.tick, spec.price_decimals),
                    "maxPrice": "1000000.00000000",
                    "tickSize": _decimal(model.tick, spec.price_decimals),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": _decimal(model.lot, spec.size_decimals),
                    "maxQty": "9000.00000000",
                    "stepSize": _decimal(model.lot, spec.size_decimals),
                },
            ],
            "permissions": ["SPOT"],
        }


def _limit(query: Mapping[str, str]) -> int | None:
    """The ``limit`` parameter, at most 5000 as Binance caps it; None when absent or bad."""
    text = query.get("limit", "")
    return min(int(text), MAX_DEPTH_LIMIT) if text.isdigit() else None


def _decimal(mantissa: int, decimals: int) -> str:
    """At Binance's 8 places."""
    return fixed(mantissa * 10 ** (DECIMALS - decimals), DECIMALS)


@dataclass(slots=True)
class _Streams:
    """One symbol's streams on one connection, by the names the client used."""

    depth: list[str] = field(default_factory=list)
    trade: str = ""
    agg_trade: str = ""
    book_ticker: str = ""
    bbo: tuple[int, int, int, int] | None = None
    #: kline stream name → (interval ns, start of the last closed candle sent).
    klines: dict[str, list[int]] = field(default_factory=dict)

    def any(self) -> bool:
        return bool(self.depth or self.trade or self.agg_trade or self.book_ticker or self.klines)


class BinanceSession(Session):
    venue: Binance

    def __init__(
        self, venue: Binance, conn: Connection, combined: bool, streams: list[str]
    ) -> None:
        super().__init__(venue, conn)
        self.combined = combined
        self.streams: list[str] = []
        self.subs: dict[str, _Streams] = {}
        self._initial = streams
        self.opened_at = time.monotonic()
        self._closing: asyncio.Task[None] | None = None
        self._shutdown: asyncio.TimerHandle | None = None
        venue.sessions.append(self)

    def opened(self) -> None:
        # No count check: 1,025 streams make a request line over the 8 KiB the server reads.
        for name in self._initial:
            self._add(name)

    def closed(self) -> None:
        super().closed()
        if self._shutdown is not None:
            self._shutdown.cancel()
        if self in self.venue.sessions:
            self.venue.sessions.remove(self)

    def shutdown(self) -> None:
        """The ``serverShutdown`` notice now, the close after the venue's grace period."""
        if self._shutdown is not None:
            return
        ms = time.time_ns() // 1_000_000
        self.conn.send_control(f'{{"e":"serverShutdown","E":{ms}}}'.encode())
        self.exchange.flush()
        loop = asyncio.get_running_loop()
        self._shutdown = loop.call_later(self.venue.shutdown_grace_seconds, self._close)

    def _close(self) -> None:
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self.conn.ws.close(1001))

    def _add(self, name: str) -> bool:
        symbol, _, kind = name.partition("@")
        if name in self.streams:
            return True
        kline = kind.startswith("kline_") and kline_interval_ns(kind[6:]) is not None
        if kind not in STREAM_KINDS and not kline:
            return False
        self.streams.append(name)
        state = self.exchange.find(symbol.upper())
        if state is None:
            return True  # Binance accepts any symbol; an unlisted one never sends.
        subs = self.subs.get(state.symbol)
        if subs is None:
            subs = self.subs[state.symbol] = _Streams()
            self.listen(state)
        if kind.startswith("depth"):
            subs.depth.append(name)
        elif kind == "trade":
            subs.trade = name
        elif kind == "aggTrade":
            subs.agg_trade = name
        elif kind == "bookTicker":
            subs.book_ticker = name
        else:
            interval = kline_interval_ns(kind[6:])
            assert interval is not None
            state.bars_of(interval)
            subs.klines[name] = [interval, -1]
        return True

    def _remove(self, name: str) -> None:
        if name not in self.streams:
            return
        self.streams.remove(name)
        state = self.exchange.find(name.partition("@")[0].upper())
        subs = self.subs.get(state.symbol) if state is not None else None
        if state is None or subs is None:
            return
        if name in subs.depth:
            subs.depth.remove(name)
        subs.klines.pop(name, None)
        for attr in ("trade", "agg_trade", "book_ticker"):
            if getattr(subs, attr) == name:
                setattr(subs, attr, "")
        if not subs.any():
            del self.subs[state.symbol]
            self.unlisten(state)

    def received(self, message: bytes) -> None:
        try:
            request = orjson.loads(message)
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError:
            self._reply({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
            return
        method, params, rid = request.get("method"), request.get("params"), request.get("id")
        if method in ("SUBSCRIBE", "UNSUBSCRIBE") and isinstance(params, list):
            if method == "SUBSCRIBE":
                new = {str(p) for p in params} - set(self.streams)
                if len(self.streams) + len(new) > MAX_STREAMS:
                    msg = f"Invalid request: a connection listens to at most {MAX_STREAMS} streams"
                    self._reply({"error": {"code": 2, "msg": msg}, "id": rid})
                    return
                bad = [p for p in params if not self._add(str(p))]
                if bad:
                    self._reply({"error": {"code": 2, "msg": f"Invalid streams {bad}"}, "id": rid})
                    return
            else:
                for p in params:
                    self._remove(str(p))
            self._reply({"result": None, "id": rid})
        elif method == "LIST_SUBSCRIPTIONS":
            self._reply({"result": self.streams, "id": rid})
        elif method == "SET_PROPERTY" and isinstance(params, list) and params[:1] == ["combined"]:
            self.combined = bool(params[1]) if len(params) > 1 else self.combined
            self._reply({"result": None, "id": rid})
        elif method == "GET_PROPERTY" and params == ["combined"]:
            self._reply({"result": self.combined, "id": rid})
        else:
            self._reply({"error": {"code": 2, "msg": f"Invalid request {method!r}"}, "id": rid})

    def _reply(self, message: dict[str, Any]) -> None:
        self.conn.send_control(orjson.dumps(message))

    def _emit(self, stream: str, data: str) -> None:
        if self.combined:
            self.out.append(f'{{"stream":"{stream}","data":{data}}}'.encode())
        else:
            self.out.append(data.encode())

    def step(self, state: SymbolState, step: Step, ts: int) -> None:
        subs = self.subs[state.symbol]
        ms = ts // 1_000_000
        symbol = state.symbol
        prices, sizes = state.price_text, state.size_text
        if subs.depth and step.changes:
            bids = ",".join(
                f'["{prices[p]}","{sizes[s]}"]' for side, p, s in step.changes if side == BID
            )
            asks = ",".join(
                f'["{prices[p]}","{sizes[s]}"]' for side, p, s in step.changes if side == ASK
            )
            first = state.update_id - len(step.changes) + 1
            data = (
                f'{{"e":"depthUpdate","E":{ms},"s":"{symbol}","U":{first},'
                f'"u":{state.update_id},"b":[{bids}],"a":[{asks}]}}'
            )
            for name in subs.depth:
                self._emit(name, data)
        if step.trades and (subs.trade or subs.agg_trade):
            trade_id = state.trade_id - len(step.trades)
            for t in step.trades:
                trade_id += 1
                maker = "true" if t.aggressor == ASK else "false"
                price, size = prices[t.price], sizes[t.size]
                if subs.trade:
                    self._emit(
                        subs.trade,
                        f'{{"e":"trade","E":{ms},"s":"{symbol}","t":{trade_id},"p":"{price}",'
                        f'"q":"{size}","T":{ms},"m":{maker},"M":true}}',
                    )
                if subs.agg_trade:
                    self._emit(
                        subs.agg_trade,
                        f'{{"e":"aggTrade","E":{ms},"s":"{symbol}","a":{trade_id},'
                        f'"p":"{price}","q":"{size}","f":{trade_id},"l":{trade_id},"T":{ms},'
                        f'"m":{maker},"M":true}}',
                    )
        if subs.book_ticker:
            model = state.model
            bid, ask = model.best(BID), model.best(ASK)
            bbo = (bid, model.book[BID][bid], ask, model.book[ASK][ask])
            if bbo != subs.bbo:
                subs.bbo = bbo
                self._emit(
                    subs.book_ticker,
                    f'{{"u":{state.update_id},"s":"{symbol}","b":"{prices[bid]}",'
                    f'"B":"{sizes[bbo[1]]}","a":"{prices[ask]}","A":"{sizes[bbo[3]]}"}}',
                )

    def second(self, ts: int) -> None:
        limit = self.venue.max_connection_seconds
        if limit is not None and time.monotonic() - self.opened_at >= limit:
            self._close()  # Binance's 24-hour mark
        for symbol, subs in self.subs.items():
            if not subs.klines:
                continue
            state = self.exchange.state(symbol)
            for name, sent in subs.klines.items():
                bars = state.bars_of(sent[0])
                bars.roll(ts)
                closed = bars.closed
                if closed is not None and closed.start > sent[1]:
                    sent[1] = closed.start
                    self._emit(name, self._kline(state, name, closed, ts, closed=True))
                if bars.current is not None:
                    self._emit(name, self._kline(state, name, bars.current, ts, closed=False))

    def _kline(self, state: SymbolState, name: str, bar: Bar, ts: int, closed: bool) -> str:
        pd, sd = state.spec.price_decimals, state.spec.size_decimals
        start_ms = bar.start // 1_000_000
        end_ms = (bar.start + bar.interval) // 1_000_000 - 1
        # price x size mantissas carry pd + sd decimals.
        shift = DECIMALS - pd - sd
        quote = bar.notional * 10**shift if shift >= 0 else bar.notional // 10**-shift
        quote_volume = fixed(quote, DECIMALS)
        return (
            f'{{"e":"kline","E":{ts // 1_000_000},"s":"{state.symbol}","k":{{"t":{start_ms},'
            f'"T":{end_ms},"s":"{state.symbol}","i":"{name.partition("@kline_")[2]}",'
            f'"f":{bar.first_trade_id},"L":{bar.last_trade_id},"o":"{_decimal(bar.open, pd)}",'
            f'"c":"{_decimal(bar.close, pd)}","h":"{_decimal(bar.high, pd)}",'
            f'"l":"{_decimal(bar.low, pd)}","v":"{_decimal(bar.volume, sd)}",'
            f'"n":{bar.trades},"x":{"true" if closed else "false"},"q":"{quote_volume}",'
            f'"V":"0.00000000","Q":"0.00000000","B":"0"}}}}'
        )

    def unknown(self) -> bytes:
        data = f'{{"e":"simulatorUnknown","E":{time.time_ns() // 1_000_000}}}'
        if self.combined:
            return f'{{"stream":"simulator@unknown","data":{data}}}'.encode()
        return data.encode()
