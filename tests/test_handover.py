"""Binance connections replaced before the venue cuts them (its 24-hour limit, its
``serverShutdown`` notice): make-before-break leaves no gap in the lake, and REST snapshots
are fetched once per connection, never while the socket is down."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from alphapulse import handover
from alphapulse.lake import AsyncLakeWriter, LakeWriter
from alphapulse.service import CollectorService
from alphapulse.simulator import SimulatedExchange
from alphapulse.simulator.binance import Binance as SimulatedBinance
from alphapulse.venues.base import Connection
from alphapulse.venues.binance import Binance
from tests.test_service import lake_trades, quiet, until

SYMBOLS = ["BTCUSDT", "ETHUSDT"]


class ShortLivedBinance(Binance):
    """Binance with connections the collector replaces after ``lifetime`` seconds."""

    def __init__(self, symbols: list[str], lifetime: float | None, **options: object) -> None:
        super().__init__(symbols, **options)
        self.lifetime = lifetime

    def connections(self) -> list[Connection]:
        return [replace(c, max_lifetime_seconds=self.lifetime) for c in super().connections()]


Scenario = Callable[[SimulatedExchange, CollectorService], Awaitable[None]]


async def _session(
    lake: Path,
    scenario: Scenario,
    *,
    lifetime: float | None = None,
    venue_limit: float | None = None,
    grace: float = 4.0,
) -> tuple[CollectorService, SimulatedExchange]:
    exchange = SimulatedExchange("binance", SYMBOLS, seed=21, rate=0)
    simulated = exchange.venue
    assert isinstance(simulated, SimulatedBinance)
    simulated.max_connection_seconds = venue_limit
    simulated.shutdown_grace_seconds = grace
    await exchange.start()
    urls = {"ws": exchange.ws_url, "rest": exchange.rest_url}
    service = CollectorService(
        [ShortLivedBinance(SYMBOLS, lifetime, urls=urls)],
        AsyncLakeWriter(LakeWriter(lake, roll_seconds=0.5)),
        drain_seconds=0.05,
    )
    rt = service.runtimes["binance"]
    await service.start()
    try:
        await until(lambda: all(rt.is_synced(s) for s in SYMBOLS))
        await scenario(exchange, service)
        await quiet(lambda: rt.frames)
        await until(lambda: not rt.out_of_sync(), timeout=20)
    finally:
        await service.stop()
        await exchange.stop()
    return service, exchange


async def _trade_for(exchange: SimulatedExchange, seconds: float) -> None:
    """The market moves all along, as it would while the connection is replaced."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        exchange.advance(10)
        await asyncio.sleep(0.05)


async def _trade_until_rotated(
    exchange: SimulatedExchange, service: CollectorService, timeout: float = 30.0
) -> None:
    """Keep the market moving until a replacement took over: a replacement proves itself by
    delivering frames, so a quiet market (a slow machine's timing) would never let it."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while service.events.counts.get("rotated", 0) < 1:
        if loop.time() > end:
            raise TimeoutError(f"no handover: {dict(service.events.counts)}")
        await _trade_for(exchange, 0.2)


def _assert_gapless(service: CollectorService, exchange: SimulatedExchange, lake: Path) -> None:
    summary = service.summary()["venues"]["binance"]
    assert summary["gaps"] == 0 and summary["resyncs"] == 0, summary
    for symbol in SYMBOLS:
        truth = sorted(t.trade_id for t in exchange.truth(symbol).trades)
        assert len(truth) > 50
        assert [t[0] for t in lake_trades(lake, "binance", symbol)] == truth
        bids, asks = service.runtimes["binance"].engine.top(symbol, 10)
        venue_bids, venue_asks = exchange.book(symbol, 10)
        assert len(bids) == len(venue_bids) and len(asks) == len(venue_asks)
    # One snapshot per book, at the start: the books were never lost on the way.
    assert service.events.counts["snapshot"] == len(SYMBOLS)
    assert "duplicate" not in service.events.counts


def test_a_connection_is_replaced_before_its_lifetime_ends(tmp_path: Path) -> None:
    async def scenario(exchange: SimulatedExchange, service: CollectorService) -> None:
        await _trade_for(exchange, 2.0)
        await _trade_until_rotated(exchange, service)
        await _trade_for(exchange, 2.0)

    # The venue would cut at 5 s; the collector replaces its connection at 2.5 s.
    service, exchange = asyncio.run(_session(tmp_path, scenario, lifetime=2.5, venue_limit=5.0))
    _assert_gapless(service, exchange, tmp_path)
    assert service.events.counts["connect"] >= 2
    assert exchange.stats().accepted == service.events.counts["connect"]


@pytest.mark.parametrize("handover_seconds", [1.0, 30.0])
def test_server_shutdown_is_met_with_a_new_connection_first(
    handover_seconds: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The venue closes the old connection 3 s after its notice: after the handover, or
    (a handover longer than that) in the middle of it, when the new socket takes over."""
    monkeypatch.setattr(handover, "HANDOVER_SECONDS", handover_seconds)

    async def scenario(exchange: SimulatedExchange, service: CollectorService) -> None:
        await _trade_for(exchange, 1.0)
        simulated = exchange.venue
        assert isinstance(simulated, SimulatedBinance)
        simulated.announce_shutdown()
        await _trade_until_rotated(exchange, service)
        await _trade_for(exchange, 5.0)  # past the venue's close of the old connection

    service, exchange = asyncio.run(_session(tmp_path, scenario, grace=3.0))
    _assert_gapless(service, exchange, tmp_path)
    assert service.events.counts["connect"] == 2
    # The notice is a status the runtime acts on, not a malformed frame.
    assert service.summary()["venues"]["binance"]["rejects"] == 0


def test_snapshots_once_per_connection_never_while_down(tmp_path: Path) -> None:
    async def scenario(exchange: SimulatedExchange, service: CollectorService) -> None:
        await _trade_for(exchange, 1.0)
        await exchange.stop()  # the venue is gone for longer than the resync grace
        await until(lambda: service.events.counts.get("connect_failed", 0) >= 2)
        await asyncio.sleep(2.0)
        await exchange.start()  # on the same port
        await until(lambda: service.events.counts.get("connect", 0) >= 2, timeout=40)
        await _trade_for(exchange, 3.0)

    service, _ = asyncio.run(_session(tmp_path, scenario))
    counts = service.events.counts
    assert counts["connect"] == 2
    # One per book and connection: none while the socket was down, none twice on its return.
    assert counts["snapshot"] == 2 * len(SYMBOLS), counts
    assert "snapshot_failed" not in counts and "snapshot_dropped" not in counts
