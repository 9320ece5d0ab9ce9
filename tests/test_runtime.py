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
from alphapulse.venues import VENUES
from alphapulse.venues.alpaca import Alpaca
from alphapulse.venues.base import Connection
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

    rows = read_table(lake, "events").select(["kind", "venue", "detail"]).to_pylist()
    return [{**r, "detail": orjson.loads(r["detail"])} for r in rows]


def test_venue_names_are_the_runtime_keys() -> None:
    assert set(VENUES) >= {"alpaca", "binance", "kraken", "coinbase"}
