"""Venue runtimes against the simulator: one engine per connection, supervised sources,
venue refusals as events and problems, make-before-break replacement of a connection."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from alphapulse.lake import AsyncLakeWriter, LakeWriter
from alphapulse.service import CollectorService
from alphapulse.simulator import SimulatedExchange
from alphapulse.simulator.alpaca import Alpaca as SimulatedAlpaca
from alphapulse.venues.alpaca import Alpaca
from alphapulse.venues.base import Connection, Resync
from alphapulse.venues.binance import Binance
from alphapulse.venues.kraken import Kraken
from tests.test_service import quiet, until

KEY, SECRET = "PKRUNTIME", "runtime-secret-9c1"
ALPACA_SYMBOLS = ["AAPL", "BTC/USD", "ETH/USD"]


def alpaca_service(exchange: SimulatedExchange, lake: Path, **options: object) -> CollectorService:
    venue = Alpaca(
        ALPACA_SYMBOLS,
        channels=("trades", "ticker", "book", "news"),
        urls={"ws": exchange.ws_url},
        **options,  # type: ignore[arg-type]
    )
    return CollectorService([venue], AsyncLakeWriter(LakeWriter(lake)), drain_seconds=0.05)


def simulated_alpaca(exchange: SimulatedExchange) -> SimulatedAlpaca:
    venue = exchange.venue
    assert isinstance(venue, SimulatedAlpaca)
    return venue


@pytest.fixture
def alpaca_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPACA_API_KEY", KEY)
    monkeypatch.setenv("ALPACA_API_SECRET", SECRET)


def test_alpaca_connections_each_own_their_engine(tmp_path: Path, alpaca_keys: None) -> None:
    """Stocks, crypto and news: losing crypto touches neither of the others, and a crypto
    book's resync goes on the crypto socket (not on the first one connected)."""

    async def session() -> CollectorService:
        exchange = SimulatedExchange(
            "alpaca", ALPACA_SYMBOLS, seed=6, rate=0, credentials=(KEY, SECRET), news_seconds=1
        )
        await exchange.start()
        service = alpaca_service(exchange, tmp_path)
        rt = service.runtimes["alpaca"]
        assert set(rt.connections) == {"alpaca-stocks", "alpaca-crypto", "alpaca-news"}
        await service.start()
        try:
            await until(lambda: rt.is_synced("BTC/USD") and rt.is_synced("ETH/USD"))
            await until(lambda: rt.connections["alpaca-news"].engine.frames >= 3)
            simulated_alpaca(exchange).drop_feed("crypto")
            await until(lambda: rt.connections["alpaca-crypto"].sources[0].connects >= 2)
            await until(lambda: rt.is_synced("BTC/USD") and rt.is_synced("ETH/USD"))
            # A book found wrong is resubscribed on the socket that carries it.
            crypto = rt.connections["alpaca-crypto"].engine
            crypto.invalidate("ETH/USD", time.time_ns(), "test")
            await until(lambda: service.events.counts.get("resync_done", 0) >= 1)
            exchange.advance(200)
            await quiet(lambda: rt.frames)
            assert service.summary()["venues"]["alpaca"]["connected"] == 3
        finally:
            await service.stop()
            await exchange.stop()
        return service

    service = asyncio.run(session())
    rt = service.runtimes["alpaca"]
    connects = {name: c.sources[0].connects for name, c in rt.connections.items()}
    assert connects == {"alpaca-stocks": 1, "alpaca-crypto": 2, "alpaca-news": 1}
    assert rt.engine_for("AAPL").stats()["alpaca:AAPL"]["trades"] > 0
    assert rt.connections["alpaca-stocks"].engine.out_of_sync() == []
    summary = service.summary()["venues"]["alpaca"]
    assert summary["out_of_sync"] == []
    assert summary["errors"] == 0 and summary["delivered"] > 0
    assert service.problems() == []


class TwoSocketKraken(Kraken):
    """Kraken with one connection per symbol, as a venue with several sockets has."""

    def connections(self) -> list[Connection]:
        from dataclasses import replace

        out = []
        for i, symbol in enumerate(self.symbols):
            (one,) = Kraken([symbol], urls=self.urls).connections()
            out.append(replace(one, name=f"kraken-{i}", symbols=(symbol,)))
        return out


def test_a_disconnect_touches_only_the_books_of_its_connection(tmp_path: Path) -> None:
    from alphapulse.simulator import FaultPlan

    symbols = ["BTC/USD", "ETH/USD"]

    async def session() -> CollectorService:
        exchange = SimulatedExchange(
            "kraken", symbols, seed=4, rate=0, faults=FaultPlan(drop_after=40)
        )
        await exchange.start()
        venue = TwoSocketKraken(symbols, urls={"ws": exchange.ws_url})
        service = CollectorService([venue], AsyncLakeWriter(LakeWriter(tmp_path)))
        rt = service.runtimes["kraken"]
        await service.start()
        try:
            await until(lambda: all(rt.is_synced(s) for s in symbols))
            for _ in range(20):
                exchange.advance(20)
                await asyncio.sleep(0.02)
            await until(lambda: service.events.counts.get("disconnect", 0) >= 1)
            await until(lambda: all(rt.is_synced(s) for s in symbols), timeout=20)
            await quiet(lambda: rt.frames)
        finally:
            await service.stop()
            await exchange.stop()
        return service

    service = asyncio.run(session())
    rt = service.runtimes["kraken"]
    (dropped,) = [c for c in rt.connections.values() if c.sources[0].connects == 2]
    (kept,) = [c for c in rt.connections.values() if c.sources[0].connects == 1]
    synced = [e for e in _events(tmp_path) if e["kind"] == "synced"]
    per_symbol = {s: sum(e["instrument"] == s for e in synced) for s in symbols}
    assert per_symbol == {dropped.symbols[0]: 2, kept.symbols[0]: 1}


class FlakyKraken(Kraken):
    """A venue whose auth callable breaks once (a bug, a keyring that is not ready yet)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.calls = 0

    def _auth(self) -> tuple[str, ...]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("keyring locked")
        return ()

    def connections(self) -> list[Connection]:
        from dataclasses import replace

        return [replace(c, auth=self._auth) for c in super().connections()]


def test_a_source_that_dies_is_reported_and_restarted(tmp_path: Path) -> None:
    async def session() -> CollectorService:
        exchange = SimulatedExchange("kraken", ["BTC/USD"], seed=1, rate=0)
        await exchange.start()
        venue = FlakyKraken(["BTC/USD"], urls={"ws": exchange.ws_url})
        service = CollectorService([venue], AsyncLakeWriter(LakeWriter(tmp_path)))
        rt = service.runtimes["kraken"]
        await service.start()
        try:
            await until(lambda: rt.is_synced("BTC/USD"), timeout=40)
        finally:
            await service.stop()
            await exchange.stop()
        return service

    service = asyncio.run(session())
    failures = [e for e in _events(tmp_path) if e["kind"] == "task_failed"]
    assert len(failures) == 1
    assert failures[0]["venue"] == "kraken"
    assert failures[0]["detail"]["connection"] == "kraken"
    assert failures[0]["detail"]["error"] == "RuntimeError: keyring locked"
    assert service.summary()["venues"]["kraken"]["task_failures"] == 1


def _events(lake: Path) -> list[dict[str, Any]]:
    import orjson

    from alphapulse.lake import read_table

    rows = read_table(lake, "events").select(["kind", "venue", "instrument", "detail"]).to_pylist()
    return [{**r, "detail": orjson.loads(r["detail"])} for r in rows]


class MisspeltAlpaca(Alpaca):
    """Asks the stocks feed for orderbooks, which only crypto has: Alpaca answers 410."""

    def connections(self) -> list[Connection]:
        from dataclasses import replace

        bad = '{"action":"subscribe","orderbooks":["AAPL"]}'
        return [replace(c, subscribe=(*c.subscribe, bad)) for c in super().connections()]


def test_refusals_and_silence_are_problems(tmp_path: Path, alpaca_keys: None) -> None:
    """A refused subscription becomes an event and a counter, and a venue that delivered
    nothing is a problem the collect command fails on."""

    async def session() -> CollectorService:
        # The exchange lists MSFT only: the AAPL subscription is accepted and stays silent.
        exchange = SimulatedExchange("alpaca", ["MSFT"], seed=2, rate=0, credentials=(KEY, SECRET))
        await exchange.start()
        venue = MisspeltAlpaca(["AAPL"], channels=("trades",), urls={"ws": exchange.ws_url})
        service = CollectorService([venue], AsyncLakeWriter(LakeWriter(tmp_path)))
        await service.start()
        try:
            await until(lambda: service.events.counts.get("subscription_refused", 0) >= 1)
            exchange.advance(100)
            await quiet(lambda: service.runtimes["alpaca"].frames)
        finally:
            await service.stop()
            await exchange.stop()
        return service

    service = asyncio.run(session())
    summary = service.summary()["venues"]["alpaca"]
    assert summary["refused"] == 1 and summary["errors"] == 1 and summary["delivered"] == 0
    refused = [e for e in _events(tmp_path) if e["kind"] == "subscription_refused"]
    assert refused[0]["detail"]["connection"] == "alpaca-stocks"
    assert "410" in refused[0]["detail"]["message"]
    problems = service.problems()
    assert any("subscription_refused" in p and "410" in p for p in problems), problems
    assert "alpaca: delivered no data" in problems
    assert service.summary()["problems"] == problems


def test_a_stream_silent_after_its_snapshot_delivered_nothing(tmp_path: Path) -> None:
    """A REST snapshot's rows are not the venue's stream: a Binance socket that sends
    nothing while the snapshot fills the book has still delivered no data."""

    async def session() -> CollectorService:
        exchange = SimulatedExchange("binance", ["BTCUSDT"], seed=3, rate=0)  # no market
        await exchange.start()
        venue = Binance(["BTCUSDT"], urls={"ws": exchange.ws_url, "rest": exchange.rest_url})
        service = CollectorService([venue], AsyncLakeWriter(LakeWriter(tmp_path)))
        await service.start()
        try:
            await until(lambda: service.events.counts.get("snapshot", 0) >= 1)
            await until(lambda: service.runtimes["binance"].delivered > 0)
        finally:
            await service.stop()
            await exchange.stop()
        return service

    service = asyncio.run(session())
    rt = service.runtimes["binance"]
    assert 0 < rt.delivered <= rt.snapshot_rows  # the snapshot's rows (and its status)
    assert "binance: delivered no data" in service.problems()


@pytest.mark.parametrize(
    ("setup", "kind", "message"),
    [
        ({"credentials": (KEY, "another-secret")}, "auth_failed", "402 auth failed"),
        ({"auth_timeout": 0.0}, "auth_failed", "404 auth timeout"),
        ({"feed": "sip", "sip_entitled": False}, "subscription_refused", "409 insufficient"),
    ],
)
def test_alpaca_refusals_stop_the_connection(
    setup: dict[str, Any], kind: str, message: str, tmp_path: Path, alpaca_keys: None
) -> None:
    async def session() -> CollectorService:
        exchange = SimulatedExchange(
            "alpaca", ["AAPL"], rate=0, credentials=setup.get("credentials", (KEY, SECRET))
        )
        simulated = simulated_alpaca(exchange)
        simulated.auth_timeout = setup.get("auth_timeout")
        simulated.sip_entitled = setup.get("sip_entitled", True)
        await exchange.start()
        venue = Alpaca(
            ["AAPL"],
            channels=("trades",),
            urls={"ws": exchange.ws_url},
            feed=setup.get("feed", "iex"),
        )
        service = CollectorService([venue], AsyncLakeWriter(LakeWriter(tmp_path)))
        await service.start()
        try:
            await until(lambda: service.events.counts.get("connection_stopped", 0) >= 1)
            await asyncio.sleep(1.0)  # long enough for a reconnect loop to show
        finally:
            await service.stop()
            await exchange.stop()
        return service

    service = asyncio.run(session())
    rt = service.runtimes["alpaca"]
    assert rt.connections["alpaca-stocks"].sources[0].connects == 1
    assert "reconnect_scheduled" not in service.events.counts
    assert service.summary()["venues"]["alpaca"]["stopped"]["alpaca-stocks"].startswith(message)
    events = [e for e in _events(tmp_path) if e["kind"] == kind]
    assert len(events) == 1 and events[0]["detail"]["message"].startswith(message)
    assert "subscribe" not in service.events.counts  # nothing subscribed before the ack
    assert any(message in p for p in service.problems())


def test_a_second_alpaca_connection_beyond_the_limit_is_refused(
    tmp_path: Path, alpaca_keys: None
) -> None:
    async def session() -> tuple[CollectorService, CollectorService]:
        exchange = SimulatedExchange("alpaca", ["AAPL"], rate=0, credentials=(KEY, SECRET))
        simulated_alpaca(exchange).connection_limit = 1
        await exchange.start()
        first = alpaca_service(exchange, tmp_path / "first")
        await first.start()
        await until(lambda: first.events.counts.get("subscribe", 0) >= 3)
        second = alpaca_service(exchange, tmp_path / "second")
        await second.start()
        try:
            await until(lambda: second.events.counts.get("connection_stopped", 0) >= 3)
            exchange.advance(100)
            await quiet(lambda: first.runtimes["alpaca"].frames)
        finally:
            await second.stop()
            await first.stop()
            await exchange.stop()
        return first, second

    first, second = asyncio.run(session())
    assert first.problems() == [] and first.runtimes["alpaca"].delivered > 0
    stopped = second.summary()["venues"]["alpaca"]["stopped"]
    assert set(stopped) == {"alpaca-stocks", "alpaca-crypto", "alpaca-news"}
    assert all(m.startswith("406 connection limit exceeded") for m in stopped.values())


def test_alpaca_connections_have_no_silence_limit(alpaca_keys: None) -> None:
    """Alpaca sends no heartbeats: a quiet feed is silent, not stalled."""
    venue = Alpaca(["AAPL", "BTC/USD"], channels=("trades", "book", "news"))
    connections = venue.connections()
    assert len(connections) == 3
    assert all(c.stall_seconds is None and c.ready is not None for c in connections)
    assert Alpaca(["AAPL"], feed="sip").connections()[0].url.endswith("/v2/sip")
    with pytest.raises(ValueError, match="feed"):
        Alpaca(["AAPL"], feed="otc")


def test_the_simulated_alpaca_sends_data_only_after_auth() -> None:
    from websockets.asyncio.client import connect

    async def talk() -> list[bytes]:
        async with SimulatedExchange("alpaca", ["AAPL"], rate=0) as exchange:
            replies = []
            async with connect(exchange.ws_url + "/v2/iex") as ws:
                replies.append(await ws.recv(decode=False))
                await ws.send('{"action":"subscribe","trades":["AAPL"]}')
                replies.append(await ws.recv(decode=False))
                exchange.advance(50)
                with pytest.raises(TimeoutError):  # nothing subscribed: no data
                    await asyncio.wait_for(ws.recv(), 0.3)
            return replies

    assert asyncio.run(talk()) == [
        b'[{"T":"success","msg":"connected"}]',
        b'[{"T":"error","code":401,"msg":"not authenticated"}]',
    ]


class CountingKraken(Kraken):
    """Kraken paced at 20 messages a second, recording its resync rounds."""

    messages_per_second = 20.0

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.rounds: list[list[str]] = []

    def resync_many(self, symbols: list[str]) -> list[Resync]:
        self.rounds.append(list(symbols))
        return super().resync_many(symbols)


def test_one_resync_round_per_connection_holds_all_its_symbols(tmp_path: Path) -> None:
    symbols = ["BTC/USD", "ETH/USD"]

    async def session() -> CollectorService:
        exchange = SimulatedExchange("kraken", symbols, seed=3, rate=0)
        await exchange.start()
        venue = CountingKraken(symbols, urls={"ws": exchange.ws_url})
        service = CollectorService([venue], AsyncLakeWriter(LakeWriter(tmp_path)))
        rt = service.runtimes["kraken"]
        assert rt.limiter is not None and rt.limiter.max_rate == 20.0
        await service.start()
        try:
            await until(lambda: all(rt.is_synced(s) for s in symbols))
            for symbol in symbols:  # found wrong in the same round
                rt.engine.invalidate(symbol, time.time_ns(), "test")
            await until(lambda: service.events.counts.get("resync_done", 0) >= 2)
        finally:
            await service.stop()
            await exchange.stop()
        return service

    service = asyncio.run(session())
    venue = service.runtimes["kraken"].venue
    assert isinstance(venue, CountingKraken)
    assert venue.rounds == [symbols]
