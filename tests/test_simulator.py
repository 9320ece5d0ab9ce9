"""The simulated exchange, held to its own ground truth through the Rust core.

Each test starts a ``SimulatedExchange`` on loopback, connects with the ``websockets`` client,
subscribes as the venue documents, feeds every frame to ``_core.Engine`` and compares the
engine's books and trades with ``ex.book()`` / ``ex.truth()``. No mocks: real sockets, real
HTTP for the REST snapshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import orjson
import pytest
import websockets
from aiolimiter import AsyncLimiter
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from alphapulse import _core
from alphapulse.book import kraken_checksum
from alphapulse.simulator import SimulatedExchange
from alphapulse.simulator.binance import Binance as BinanceVenue
from alphapulse.simulator.coinbase import Coinbase as CoinbaseVenue
from alphapulse.simulator.encoding import fixed
from alphapulse.simulator.faults import FaultPlan
from alphapulse.simulator.kraken_v2 import checksum
from alphapulse.simulator.server import ws_frames
from alphapulse.simulator.weights import WeightLimit
from alphapulse.venues import Binance, Coinbase, Kraken
from tests.conftest import take_rows

Level = tuple[int, int]


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))


def connect(url: str, **kwargs: Any) -> ws_connect:
    return ws_connect(url, max_size=None, compression=None, **kwargs)


async def send(ws: ClientConnection, *messages: dict[str, Any]) -> None:
    for m in messages:
        await ws.send(orjson.dumps(m).decode())


async def pump(ws: ClientConnection, feed: Callable[[bytes], None], seconds: float) -> int:
    """Feed every frame that arrives in the next ``seconds``."""
    frames = 0
    end = time.monotonic() + seconds
    with contextlib.suppress(TimeoutError):
        while (left := end - time.monotonic()) > 0:
            feed(await asyncio.wait_for(ws.recv(decode=False), left))
            frames += 1
    return frames


async def drain(ws: ClientConnection, feed: Callable[[bytes], None], quiet: float = 0.3) -> int:
    """Feed frames until none arrives for ``quiet`` seconds."""
    frames = 0
    with contextlib.suppress(TimeoutError):
        while True:
            feed(await asyncio.wait_for(ws.recv(decode=False), quiet))
            frames += 1
    return frames


async def collect(
    ex: SimulatedExchange, ws: ClientConnection, engine: _core.Engine, seconds: float
) -> int:
    """Run the market for ``seconds``, stop it, and feed everything the client got."""

    def feed(frame: bytes) -> None:
        engine.feed(frame, time.time_ns())

    frames = await pump(ws, feed, seconds)
    ex.pause()
    return frames + await drain(ws, feed)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.005)


async def http_get(url: str) -> bytes:
    def get() -> bytes:
        with urllib.request.urlopen(url, timeout=5) as response:
            body: bytes = response.read()
            return body

    return await asyncio.to_thread(get)


def precisions(engine: _core.Engine, symbol: str) -> tuple[int, int]:
    for venue_symbol, _, price, size in engine.instruments():
        if venue_symbol == symbol:
            assert price is not None and size is not None
            return price, size
    raise AssertionError(f"{symbol} unknown to the engine")


def scaled(
    ex: SimulatedExchange, engine: _core.Engine, symbol: str, levels: list[Level]
) -> list[Level]:
    """The exchange's levels at the engine's precision."""
    spec = ex.spec(symbol)
    price, size = precisions(engine, symbol)
    pf, sf = 10 ** (price - spec.price_decimals), 10 ** (size - spec.size_decimals)
    return [(p * pf, s * sf) for p, s in levels]


def assert_book(ex: SimulatedExchange, engine: _core.Engine, symbol: str, depth: int) -> None:
    bids, asks = ex.book(symbol, depth)
    got_bids, got_asks = engine.top(symbol, depth)
    assert got_bids == scaled(ex, engine, symbol, bids)
    assert got_asks == scaled(ex, engine, symbol, asks)
    assert len(got_bids) == min(depth, len(ex.book(symbol)[0]))


def assert_trades(
    ex: SimulatedExchange, engine: _core.Engine, rows: list[dict[str, Any]], symbol: str
) -> int:
    """The client's trades are exactly the truth's, from the first one it saw; the count."""
    got = sorted(
        (r["trade_id"], r["price_raw"], r["size_raw"], r["aggressor"])
        for r in rows
        if r["symbol"] == symbol
    )
    assert got, f"no trades for {symbol}"
    spec = ex.spec(symbol)
    price, size = precisions(engine, symbol)
    pf, sf = 10 ** (price - spec.price_decimals), 10 ** (size - spec.size_decimals)
    stocks = got[0][3] == "unknown"
    want = [
        (t.trade_id, t.price * pf, t.size * sf, "unknown" if stocks else t.aggressor)
        for t in ex.truth(symbol).trades
        if t.trade_id >= got[0][0]
    ]
    assert got == want
    return len(got)


def assert_clean(engine: _core.Engine, symbols: list[str]) -> dict[str, dict[str, int]]:
    assert engine.rejects == 0
    assert engine.out_of_sync() == []
    stats = engine.stats()
    for symbol in symbols:
        s = stats[f"{engine.venue}:{symbol}"]
        assert s["gaps"] == 0 and s["checksums_failed"] == 0 and s["crossed"] == 0, s
        assert s["book_updates"] > 50, s
        assert engine.is_synced(symbol)
    return stats


# Kraken WS v2

KRAKEN = ["BTC/USD", "ETH/USD"]


def kraken_subscribe(symbols: list[str], depth: int = 10) -> list[dict[str, Any]]:
    return [
        {"method": "subscribe", "params": {"channel": "instrument", "snapshot": True}},
        {
            "method": "subscribe",
            "params": {"channel": "book", "symbol": symbols, "depth": depth, "snapshot": True},
            "req_id": 1,
        },
        {"method": "subscribe", "params": {"channel": "trade", "symbol": symbols}},
        {"method": "subscribe", "params": {"channel": "ticker", "symbol": symbols}},
    ]


@pytest.mark.parametrize("depth", [10, 25])
def test_kraken_books_checksums_and_trades(depth: int) -> None:
    async def main() -> None:
        async with (
            SimulatedExchange("kraken", KRAKEN, seed=1, rate=3000) as ex,
            connect(ex.ws_url) as ws,
        ):
            assert ex.ws_url.endswith("/v2")
            engine = _core.Engine("kraken")
            await send(ws, *kraken_subscribe(KRAKEN, depth))
            await collect(ex, ws, engine, 1.0)
            stats = assert_clean(engine, KRAKEN)
            rows = take_rows(engine)
            for symbol in KRAKEN:
                s = stats[f"kraken:{symbol}"]
                assert s["checksums_verified"] == s["book_updates"] + 1  # and the snapshot's
                assert s["quotes"] > 0
                assert_book(ex, engine, symbol, depth)
                assert_trades(ex, engine, rows["trades"], symbol)
            assert precisions(engine, "BTC/USD") == (1, 8)
            assert {s["kind"] for s in rows["statuses"]} >= {"venue", "subscribed", "heartbeat"}

    run(main())


def test_kraken_checksum_follows_the_documented_rule() -> None:
    """Our CRC from mantissas equals Kraken's rule over decimal strings."""
    asks = [(5005 + 5 * i, 500 + i) for i in range(12)]
    bids = [(5000 - 5 * i, 70000 * i + 3) for i in range(12)]
    strings = [[(fixed(p, 5), fixed(s, 8)) for p, s in side] for side in (asks, bids)]
    assert checksum(asks, bids) == kraken_checksum(strings[0], strings[1])
    docs = [(5005 + 5 * i, 500) for i in range(10)]
    doc_bids = [(p, 500) for p in (5000, 4995, 4990, 4980, 4975, 4970, 4965, 4960, 4955, 4950)]
    assert checksum(docs, doc_bids) == 974_947_235


def test_kraken_resubscribe_sends_a_fresh_snapshot() -> None:
    async def main() -> None:
        async with (
            SimulatedExchange("kraken", KRAKEN, seed=2, rate=2000) as ex,
            connect(ex.ws_url) as ws,
        ):
            engine = _core.Engine("kraken")
            await send(ws, *kraken_subscribe(KRAKEN)[:2])
            await pump(ws, lambda f: engine.feed(f, time.time_ns()), 0.3)
            book = {"channel": "book", "symbol": ["BTC/USD"], "depth": 10}
            await send(
                ws,
                {"method": "unsubscribe", "params": book},
                {"method": "subscribe", "params": book},
                {"method": "ping", "req_id": 7},
            )
            await collect(ex, ws, engine, 0.3)
            assert_clean(engine, KRAKEN)
            stats = engine.stats()
            assert stats["kraken:BTC/USD"]["snapshots"] == 2
            assert stats["kraken:ETH/USD"]["snapshots"] == 1
            assert_book(ex, engine, "BTC/USD", 10)

    run(main())


def test_kraken_errors() -> None:
    async def main() -> None:
        async with SimulatedExchange("kraken", KRAKEN, rate=0) as ex, connect(ex.ws_url) as ws:
            await ws.recv()  # status
            await send(
                ws,
                {"method": "subscribe", "params": {"channel": "book", "symbol": ["XX/YY"]}},
                {"method": "subscribe", "params": {"channel": "nope", "symbol": ["BTC/USD"]}},
                {
                    "method": "subscribe",
                    "params": {"channel": "book", "depth": 7, "symbol": KRAKEN},
                },
            )
            replies = [orjson.loads(await ws.recv()) for _ in range(3)]
            assert [r["success"] for r in replies] == [False, False, False]
            assert "XX/YY" in replies[0]["error"]
            # Only the documented integers: 10.0 and "10" are refused like 7 (with the
            # request's req_id, as every reply), and so is an unknown ticker trigger.
            for i, depth in enumerate((10.0, "10")):
                book = {"channel": "book", "depth": depth, "symbol": KRAKEN}
                await send(ws, {"method": "subscribe", "params": book, "req_id": 40 + i})
                reply = orjson.loads(await ws.recv())
                assert reply["success"] is False and reply["req_id"] == 40 + i, reply
                assert "depth" in reply["error"] and reply["method"] == "subscribe"
            ticker = {"channel": "ticker", "symbol": KRAKEN, "event_trigger": "sometimes"}
            await send(ws, {"method": "subscribe", "params": ticker})
            reply = orjson.loads(await ws.recv())
            assert reply["success"] is False and "event_trigger" in reply["error"]

    run(main())


def test_kraken_ticker_on_every_best_bid_offer_change() -> None:
    """The venue module's ticker subscription gets an update per BBO change, not per trade."""

    async def main() -> None:
        async with (
            SimulatedExchange("kraken", ["BTC/USD"], seed=9, rate=0) as ex,
            connect(ex.ws_url) as ws,
        ):
            (conn,) = Kraken(["BTC/USD"], channels=("ticker",)).connections()
            for message in conn.subscribe:
                await ws.send(message)
            changes = trades = 0
            top = ex.book("BTC/USD", 1)
            await drain(ws, lambda f: None)  # acks, instrument and ticker snapshots
            for _ in range(300):
                before = len(ex.truth("BTC/USD").trades)
                ex.advance(1)
                trades += len(ex.truth("BTC/USD").trades) > before
                changes += ex.book("BTC/USD", 1) != top
                top = ex.book("BTC/USD", 1)
            frames: list[dict[str, Any]] = []
            await drain(ws, lambda f: frames.append(orjson.loads(f)))
            updates = [f for f in frames if f.get("channel") == "ticker"]
            assert all(f["type"] == "update" for f in updates)
            assert len(updates) == changes > trades

    run(main())


# Coinbase Advanced Trade

COINBASE = ["BTC-USD", "ETH-USD"]


def test_coinbase_books_sequence_and_trades() -> None:
    async def main() -> None:
        async with SimulatedExchange("coinbase", COINBASE, seed=3, rate=3000) as ex:
            engine = _core.Engine("coinbase")
            url = f"{ex.rest_url}/api/v3/brokerage/market/products"
            engine.feed_http(url, await http_get(url), time.time_ns())
            async with connect(ex.ws_url) as ws:
                for channel in ("heartbeats", "level2", "market_trades", "ticker", "candles"):
                    await send(
                        ws, {"type": "subscribe", "product_ids": COINBASE, "channel": channel}
                    )
                await collect(ex, ws, engine, 1.2)
            assert engine.connection_gaps == 0
            stats = assert_clean(engine, COINBASE)
            rows = take_rows(engine)
            for symbol in COINBASE:
                # Full depth: the whole book matches.
                assert_book(ex, engine, symbol, 1000)
                assert_trades(ex, engine, rows["trades"], symbol)
                assert stats[f"coinbase:{symbol}"]["quotes"] > 0
            assert precisions(engine, "ETH-USD") == (2, 8)
            heartbeats = [s for s in rows["statuses"] if s["kind"] == "heartbeat"]
            assert len(heartbeats) >= 1
            assert {b["interval"] for b in rows["bars"]} == {300_000_000_000}  # 5-min candles

    run(main())


def test_coinbase_resubscribe_level2() -> None:
    async def main() -> None:
        async with (
            SimulatedExchange("coinbase", COINBASE, seed=4, rate=2000) as ex,
            connect(ex.ws_url) as ws,
        ):
            engine = _core.Engine("coinbase")
            level2 = {"product_ids": ["ETH-USD"], "channel": "level2"}
            await send(ws, {"type": "subscribe", **level2})
            await pump(ws, lambda f: engine.feed(f, time.time_ns()), 0.3)
            await send(ws, {"type": "unsubscribe", **level2}, {"type": "subscribe", **level2})
            await collect(ex, ws, engine, 0.3)
            assert engine.stats()["coinbase:ETH-USD"]["snapshots"] == 2
            assert_clean(engine, ["ETH-USD"])
            assert_book(ex, engine, "ETH-USD", 1000)

    run(main())


def test_coinbase_closes_a_connection_over_the_message_rate() -> None:
    """The old resync, an unsubscribe + subscribe per product at once: 16 messages for 8
    products, over Coinbase's 8 unauthenticated messages a second per IP."""

    async def main() -> None:
        products = [f"C{i}-USD" for i in range(8)]
        async with (
            SimulatedExchange("coinbase", products, rate=0) as ex,
            connect(ex.ws_url) as ws,
        ):
            for product in products:
                level2 = {"product_ids": [product], "channel": "level2"}
                await send(ws, {"type": "unsubscribe", **level2}, {"type": "subscribe", **level2})
            frames: list[dict[str, Any]] = []
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                while True:
                    frames.append(orjson.loads(await asyncio.wait_for(ws.recv(), 10)))
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
            errors = [f for f in frames if f.get("type") == "error"]
            assert len(errors) == 1 and "rate limit" in errors[0]["message"], errors
            assert isinstance(ex.venue, CoinbaseVenue) and ex.venue.rate_limited == 1

    run(main())


def test_coinbase_gap_on_many_products_resyncs_within_the_rate() -> None:
    """A sequence gap breaks all 20 books of the connection; the venue module resyncs them
    in two messages, paced as the runtime paces them, and every book gets a new snapshot."""

    async def main() -> None:
        products = [f"C{i}-USD" for i in range(20)]
        venue = Coinbase(products, channels=("book",))
        assert venue.messages_per_second is not None
        # One message every 1/messages_per_second, no burst: how the runtime should pace.
        limiter = AsyncLimiter(1, 1 / venue.messages_per_second)
        sent = 0

        async def paced(messages: tuple[str, ...]) -> None:
            nonlocal sent
            for message in messages:
                async with limiter:
                    await ws.send(message)
                    sent += 1

        plan = FaultPlan(skip_every=70)  # 20 snapshots, then the 50th update is lost
        async with (
            SimulatedExchange("coinbase", products, seed=12, rate=0, faults=plan) as ex,
            connect(ex.ws_url) as ws,
        ):
            engine = _core.Engine("coinbase")

            def feed(frame: bytes) -> None:
                engine.feed(frame, time.time_ns())

            (conn,) = venue.connections()
            await paced(conn.subscribe)
            await drain(ws, feed)
            ex.advance(65)
            await drain(ws, feed)
            assert engine.connection_gaps == 1
            broken = engine.out_of_sync()
            assert sorted(broken) == sorted(products)
            sent = 0
            for resync in venue.resync_many(broken):
                await paced(resync.messages)
            await drain(ws, feed)
            assert sent == 2
            assert engine.out_of_sync() == []
            stats = engine.stats()
            assert {stats[f"coinbase:{p}"]["snapshots"] for p in products} == {2}
            assert isinstance(ex.venue, CoinbaseVenue) and ex.venue.rate_limited == 0

    run(main())


# Binance spot


async def binance_snapshots(
    ex: SimulatedExchange, engine: _core.Engine, symbols: list[str]
) -> None:
    for symbol in symbols:
        url = f"{ex.rest_url}/api/v3/depth?symbol={symbol}&limit=1000"
        engine.feed_http(url, await http_get(url), time.time_ns())


BINANCE = ["BTCUSDT", "ETHUSDT"]


def test_binance_combined_streams_and_rest_sync() -> None:
    async def main() -> None:
        async with SimulatedExchange("binance", BINANCE, seed=5, rate=3000) as ex:
            engine = _core.Engine("binance")
            info = f"{ex.rest_url}/api/v3/exchangeInfo"
            engine.feed_http(info, await http_get(info), time.time_ns())
            kinds = ("depth@100ms", "trade", "bookTicker", "kline_1s")
            streams = "/".join(f"{s.lower()}@{k}" for s in BINANCE for k in kinds)
            async with connect(f"{ex.ws_url}/stream?streams={streams}") as ws:
                # Diffs buffer in the engine until their snapshot arrives.
                await pump(ws, lambda f: engine.feed(f, time.time_ns()), 0.2)
                await binance_snapshots(ex, engine, BINANCE)
                await collect(ex, ws, engine, 1.0)
            stats = assert_clean(engine, BINANCE)
            rows = take_rows(engine)
            for symbol in BINANCE:
                assert_book(ex, engine, symbol, 1000)
                assert_trades(ex, engine, rows["trades"], symbol)
                assert stats[f"binance:{symbol}"]["quotes"] > 0
            assert engine.instruments()[0][1] == "BTC-USDT@binance"
            assert {b["interval"] for b in rows["bars"]} == {1_000_000_000}

    run(main())


def test_binance_subscribe_method_and_rest_errors() -> None:
    async def main() -> None:
        async with SimulatedExchange("binance", BINANCE, seed=6, rate=2000) as ex:
            engine = _core.Engine("binance")
            async with connect(f"{ex.ws_url}/ws") as ws:
                params = ["ethusdt@depth", "ethusdt@aggTrade"]
                await send(ws, {"method": "SUBSCRIBE", "params": params, "id": 1})
                assert orjson.loads(await ws.recv()) == {"result": None, "id": 1}
                await send(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 2})
                while b'"id":2' not in (reply := await ws.recv(decode=False)):
                    engine.feed(reply, time.time_ns())  # market data goes on meanwhile
                assert orjson.loads(reply) == {"result": params, "id": 2}
                await binance_snapshots(ex, engine, ["ETHUSDT"])
                await collect(ex, ws, engine, 0.6)
            assert_clean(engine, ["ETHUSDT"])
            assert_book(ex, engine, "ETHUSDT", 1000)
            assert_trades(ex, engine, take_rows(engine)["trades"], "ETHUSDT")
            with pytest.raises(urllib.error.HTTPError) as error:
                await http_get(f"{ex.rest_url}/api/v3/depth?symbol=NOPEUSDT")
            assert error.value.code == 400
            error.value.close()
            with pytest.raises(websockets.exceptions.InvalidStatus):
                async with connect(f"{ex.ws_url}/nowhere"):
                    pass

    run(main())


def test_binance_rest_charges_weight_then_429_then_418() -> None:
    """Weight per IP in fixed windows, reported on every answer; over it, 429 with
    Retry-After; asking again before then earns a ban (418, Retry-After until its end)."""

    async def main() -> None:
        async with (
            SimulatedExchange("binance", BINANCE, rate=0) as ex,
            httpx.AsyncClient() as client,
        ):
            assert isinstance(ex.venue, BinanceVenue)
            info = await client.get(f"{ex.rest_url}/api/v3/exchangeInfo")
            assert info.headers["X-MBX-USED-WEIGHT-1M"] == "20"
            assert info.json()["rateLimits"][0]["limit"] == 6000
            # An hour's window: no roll while the test runs.
            weights = ex.venue.weights = WeightLimit(60, interval=3600.0)
            url = f"{ex.rest_url}/api/v3/depth?symbol=BTCUSDT&limit=500"
            answers = [await client.get(url) for _ in range(5)]
            assert [a.status_code for a in answers] == [200, 200, 429, 429, 418]
            assert [a.headers["X-MBX-USED-WEIGHT-1M"] for a in answers] == ["25", "50"] + ["50"] * 3
            assert answers[2].json()["code"] == -1003 and "Retry-After" in answers[2].headers
            assert int(answers[4].headers["Retry-After"]) >= 2 * 3600 - 5
            assert "banned" in answers[4].json()["msg"] and weights.banned == 1
            light = await client.get(f"{ex.rest_url}/api/v3/ping")
            assert light.status_code == 418  # banned means every endpoint

    run(main())


def test_binance_refuses_more_than_1024_streams_on_a_connection() -> None:
    async def main() -> None:
        async with (
            SimulatedExchange("binance", BINANCE, rate=0) as ex,
            connect(f"{ex.ws_url}/stream") as ws,
        ):
            streams = [f"s{i}usdt@trade" for i in range(1025)]
            await send(ws, {"method": "SUBSCRIBE", "params": streams, "id": 1})
            refused = orjson.loads(await ws.recv())
            assert refused["id"] == 1 and refused["error"]["code"] == 2
            assert "1024" in refused["error"]["msg"]
            await send(ws, {"method": "SUBSCRIBE", "params": streams[:1024], "id": 2})
            assert orjson.loads(await ws.recv()) == {"result": None, "id": 2}
            await send(ws, {"method": "SUBSCRIBE", "params": streams[1000:], "id": 3})
            assert "error" in orjson.loads(await ws.recv())
            await send(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 4})
            assert len(orjson.loads(await ws.recv())["result"]) == 1024

    run(main())


def test_binance_venue_spreads_many_symbols_over_connections() -> None:
    """1,100 symbols with two streams each: three connections the simulator accepts."""

    async def main() -> None:
        symbols = [f"S{i}USDT" for i in range(1100)] + BINANCE
        async with SimulatedExchange("binance", BINANCE, seed=21, rate=500) as ex:
            venue = Binance(symbols, urls={"ws": ex.ws_url})
            conns = venue.connections()
            assert len(conns) == 3
            listed: list[str] = []
            for conn in conns:
                async with connect(conn.url) as ws:
                    for message in conn.subscribe:
                        await ws.send(message)
                    await send(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 99})
                    while b'"id":99' not in (reply := await ws.recv(decode=False)):
                        assert b'"error"' not in reply, reply
                    listed += orjson.loads(reply)["result"]
            assert sorted(listed) == sorted(
                f"{s.lower()}@{kind}" for s in symbols for kind in ("depth@100ms", "trade")
            )

    run(main())


# Alpaca market data


def test_alpaca_crypto_orderbooks_and_trades() -> None:
    async def main() -> None:
        async with (
            SimulatedExchange("alpaca", ["BTC/USD", "AAPL"], seed=7, rate=2000) as ex,
            connect(f"{ex.ws_url}/v1beta3/crypto/us") as ws,
        ):
            assert orjson.loads(await ws.recv()) == [{"T": "success", "msg": "connected"}]
            await send(ws, {"action": "auth", "key": "k", "secret": "s"})
            assert orjson.loads(await ws.recv())[0]["msg"] == "authenticated"
            symbols = ["BTC/USD"]
            await send(
                ws,
                {"action": "subscribe", "trades": symbols, "quotes": symbols, "orderbooks": ["*"]},
            )
            subscription = orjson.loads(await ws.recv())[0]
            assert subscription["T"] == "subscription" and subscription["orderbooks"] == ["*"]
            engine = _core.Engine("alpaca")
            await collect(ex, ws, engine, 1.0)
            assert_clean(engine, symbols)
            assert_book(ex, engine, "BTC/USD", 1000)
            rows = take_rows(engine)
            assert_trades(ex, engine, rows["trades"], "BTC/USD")
            assert len(rows["quotes"]) > 0

    run(main())


def test_alpaca_stocks_trades_quotes_bars() -> None:
    async def main() -> None:
        async with (
            SimulatedExchange("alpaca", ["AAPL", "MSFT"], seed=8, rate=1000, bar_seconds=1.0) as ex,
            connect(
                f"{ex.ws_url}/v2/iex",
                additional_headers={"APCA-API-KEY-ID": "k", "APCA-API-SECRET-KEY": "s"},
            ) as ws,
        ):
            await ws.recv()
            assert orjson.loads(await ws.recv())[0]["msg"] == "authenticated"
            await send(
                ws, {"action": "subscribe", "trades": ["*"], "quotes": ["AAPL"], "bars": ["*"]}
            )
            await ws.recv()
            engine = _core.Engine("alpaca")
            # The first bar sent is the first whole second after subscribing: it closes up
            # to two seconds later and goes out on the next tick of the exchange's clock.
            end = time.monotonic() + 10.0
            while b'"T":"b"' not in (frame := await ws.recv(decode=False)):
                engine.feed(frame, time.time_ns())
                assert time.monotonic() < end, "no bar within 10 s"
            engine.feed(frame, time.time_ns())
            await collect(ex, ws, engine, 0.3)
            assert engine.rejects == 0
            rows = take_rows(engine)
            for symbol in ("AAPL", "MSFT"):
                assert_trades(ex, engine, rows["trades"], symbol)
            assert {q["symbol"] for q in rows["quotes"]} == {"AAPL"}
            bars = rows["bars"]
            assert bars and {b["interval"] for b in bars} == {60_000_000_000}
            for bar in bars:  # every closed bar holds the trades of its second
                trades = [
                    t
                    for t in ex.truth(bar["symbol"]).trades
                    if bar["ts_event"] <= t.ts < bar["ts_event"] + 1_000_000_000
                ]
                volume = sum(t.size for t in trades) * 10 ** (bar["size_precision"])
                assert bar["volume_raw"] == volume

    run(main())


def test_alpaca_news() -> None:
    async def main() -> None:
        async with (
            SimulatedExchange("alpaca", ["AAPL"], rate=100, news_seconds=1.0) as ex,
            connect(f"{ex.ws_url}/v1beta1/news") as ws,
        ):
            await ws.recv()
            await send(ws, {"action": "auth", "key": "k", "secret": "s"})
            await ws.recv()
            await send(ws, {"action": "subscribe", "news": ["*"]})
            assert orjson.loads(await ws.recv()) == [{"T": "subscription", "news": ["*"]}]
            engine = _core.Engine("alpaca_news")
            await collect(ex, ws, engine, 1.5)
            news = take_rows(engine)["news"]
            assert engine.rejects == 0 and news
            sent = {n["id"]: n for n in ex.news}
            for item in news:
                assert item["headline"] == sent[item["id"]]["headline"]
                assert item["symbols"] == ["AAPL"]

    run(main())


def test_alpaca_rejects_bad_credentials() -> None:
    async def main() -> None:
        async with (
            SimulatedExchange("alpaca", ["AAPL"], rate=0, credentials=("key", "secret")) as ex,
            connect(f"{ex.ws_url}/v2/sip") as ws,
        ):
            await ws.recv()
            await send(ws, {"action": "subscribe", "trades": ["AAPL"]})
            assert orjson.loads(await ws.recv())[0]["code"] == 401
            await send(ws, {"action": "auth", "key": "key", "secret": "wrong"})
            error = orjson.loads(await ws.recv())
            assert error == [{"T": "error", "code": 402, "msg": "auth failed"}]
            engine = _core.Engine("alpaca")
            engine.feed(orjson.dumps(error), time.time_ns())
            statuses = take_rows(engine)["statuses"]
            assert statuses[0]["kind"] == "venue_error" and "402" in statuses[0]["message"]
            await send(ws, {"action": "auth", "key": "key", "secret": "secret"})
            assert orjson.loads(await ws.recv())[0]["msg"] == "authenticated"

    run(main())


# Pieces


def test_ws_frames_lengths() -> None:
    for n in (0, 125, 126, 65535, 65536):
        frame = ws_frames([b"x" * n])
        assert frame[0] == 0x81
        header = 2 if n < 126 else 4 if n < 65536 else 10
        assert len(frame) == header + n
        length = frame[1] if n < 126 else int.from_bytes(frame[2:header], "big")
        assert length == n


def test_unknown_venue_and_symbols() -> None:
    with pytest.raises(ValueError, match="unknown venue"):
        SimulatedExchange("mtgox", ["BTC/USD"])
    with pytest.raises(ValueError, match="pair"):
        SimulatedExchange("kraken", ["BTCUSD"])


def test_same_seed_same_market() -> None:
    async def main() -> list[tuple[int, int, int, str]]:
        async with SimulatedExchange("kraken", KRAKEN, seed=42, rate=0) as ex:
            ex.advance(500)
            truth = ex.truth("BTC/USD")
            assert truth.recent_trades(7) == truth.trades[-7:]
            return [(t.trade_id, t.price, t.size, t.aggressor) for t in truth.trades]

    results: list[list[tuple[int, int, int, str]]] = []

    async def twice() -> None:
        results.append(await main())
        results.append(await main())

    run(twice())
    assert results[0] == results[1] and len(results[0]) > 10


def test_cli_serves_until_interrupted() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "alphapulse.simulator.cli", "--venue", "binance", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith("simulating binance BTCUSDT, ETHUSDT")
        ws_url = lines[1].split()[1]

        async def main() -> None:
            async with connect(f"{ws_url}/ws/btcusdt@trade") as ws:
                assert b'"e":"trade"' in await ws.recv(decode=False)

        run(main())
    finally:
        proc.send_signal(2)
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "stopped" in out


def test_text_caches_stay_small_while_prices_wander() -> None:
    """A symbol's price cache met some 30k new prices a minute in a 12k frames/s
    collection: it must start over at ``CACHE_LIMIT`` (a few hundred KiB), not grow to
    megabytes a symbol, and still format every price right."""
    from alphapulse.simulator.encoding import CACHE_LIMIT, TextCache, fixed

    assert CACHE_LIMIT <= 8192
    cache = TextCache(lambda m: fixed(m, 2))
    for m in range(6_500_000, 6_500_000 + 10 * CACHE_LIMIT, 7):
        assert cache[m] == fixed(m, 2)
        assert len(cache) <= CACHE_LIMIT
