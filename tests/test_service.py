"""The collector service end to end: the simulator on loopback WebSockets → service → lake.

The simulator runs with ``rate=0`` and is stepped explicitly, so each test knows exactly
what the venue emitted (its ground truth) and can require the lake to hold exactly that.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from alphapulse import _core
from alphapulse.lake import AsyncLakeWriter, LakeWriter, read_table
from alphapulse.service import CollectorService
from alphapulse.simulator import FaultPlan, SimulatedExchange
from alphapulse.venues import VENUES

SYMBOLS = {
    "kraken": ["BTC/USD", "ETH/USD"],
    "coinbase": ["BTC-USD", "ETH-USD"],
    "binance": ["BTCUSDT", "ETHUSDT"],
}


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)


async def quiet(counter: Callable[[], int], seconds: float = 0.5) -> None:
    """Wait until ``counter`` has not moved for ``seconds``."""
    last, since = counter(), time.monotonic()
    while time.monotonic() - since < seconds:
        await asyncio.sleep(0.05)
        now = counter()
        if now != last:
            last, since = now, time.monotonic()


def value(raw: int, precision: int) -> Fraction:
    return Fraction(raw, 10**precision)


async def collect(
    venue: str,
    lake: Path,
    *,
    steps: int,
    faults: FaultPlan | None = None,
) -> tuple[CollectorService, SimulatedExchange]:
    exchange = SimulatedExchange(venue, SYMBOLS[venue], seed=11, rate=0, faults=faults)
    await exchange.start()
    urls = {"ws": exchange.ws_url, "rest": exchange.rest_url}
    sink = AsyncLakeWriter(LakeWriter(lake, roll_seconds=0.5))
    # A test cannot wait out the real stall limit.
    stall = 2.5 if faults is not None and faults.stall_after is not None else None
    service = CollectorService(
        [VENUES[venue](SYMBOLS[venue], urls=urls, stall_seconds=stall)], sink, drain_seconds=0.05
    )
    rt = service.runtimes[venue]
    await service.start()
    try:
        await until(lambda: all(_synced(service, venue, s) for s in SYMBOLS[venue]))
        for _ in range(steps // 50):
            exchange.advance(50)
            await asyncio.sleep(0.01)
        exchange.flush()
        # Everything the venue sent has arrived, and every book is back in sync.
        await quiet(lambda: rt.engine.frames)
        if faults is not None and faults.stall_after is not None:
            # Silence is not the end: the watchdog must notice and reconnect.
            await until(lambda: service.events.counts.get("stall", 0) >= 1)
            await until(lambda: service.events.counts.get("connect", 0) >= 2)
            await asyncio.sleep(1.0)
        await until(lambda: not rt.engine.out_of_sync(), timeout=20)
        await quiet(lambda: rt.engine.frames)
    finally:
        await service.stop()
        await exchange.stop()
    return service, exchange


def _synced(service: CollectorService, venue: str, symbol: str) -> bool:
    try:
        return service.runtimes[venue].engine.is_synced(symbol)
    except KeyError:
        return False


def lake_trades(lake: Path, venue: str, symbol: str) -> list[tuple[int, Fraction, Fraction, str]]:
    t = read_table(lake, "trades", venue=venue)
    t = t.filter(pc.equal(t.column("symbol"), symbol))
    rows = zip(
        t.column("trade_id").to_pylist(),
        t.column("price_raw").to_pylist(),
        t.column("price_precision").to_pylist(),
        t.column("size_raw").to_pylist(),
        t.column("size_precision").to_pylist(),
        t.column("aggressor").to_pylist(),
        strict=True,
    )
    return sorted((i, value(p, pp), value(s, sp), a) for i, p, pp, s, sp, a in rows)


@pytest.mark.parametrize("venue", ["kraken", "coinbase", "binance"])
def test_lake_holds_exactly_what_the_venue_emitted(venue: str, tmp_path: Path) -> None:
    service, exchange = asyncio.run(collect(venue, tmp_path, steps=600))
    summary = service.summary()["venues"][venue]
    assert summary["rejects"] == 0 and summary["gaps"] == 0
    assert summary["checksums_failed"] == 0 and summary["out_of_sync"] == []
    for symbol in SYMBOLS[venue]:
        truth = exchange.truth(symbol)
        expected = sorted(
            (
                t.trade_id,
                value(t.price, truth.price_decimals),
                value(t.size, truth.size_decimals),
                t.aggressor,
            )
            for t in truth.trades
        )
        assert len(expected) > 10
        assert lake_trades(tmp_path, venue, symbol) == expected
        # The book the service kept is the venue's book.
        engine = service.runtimes[venue].engine
        bids, asks = engine.top(symbol, 10)
        precision = {s: (p, q) for s, _, p, q in engine.instruments()}[symbol]
        venue_bids, venue_asks = exchange.book(symbol, 10)
        scale = (truth.price_decimals, truth.size_decimals)

        def norm(
            levels: list[tuple[int, int]], pr: tuple[int | None, int | None]
        ) -> list[tuple[Fraction, Fraction]]:
            return [(value(p, pr[0] or 0), value(s, pr[1] or 0)) for p, s in levels]

        assert norm(bids, precision) == norm(venue_bids, scale)
        assert norm(asks, precision) == norm(venue_asks, scale)
    events = read_table(tmp_path, "events")
    kinds = set(events.column("kind").to_pylist())
    assert {"service_start", "connect", "subscribe", "service_stop"} <= kinds
    # Metrics, in the service's own prometheus registry.
    from prometheus_client import generate_latest

    text = generate_latest(service.metrics.registry).decode()
    sample = service.metrics.registry.get_sample_value
    assert sample("alphapulse_frames_total", {"venue": venue}) == engine.frames
    assert (sample("alphapulse_wire_to_book_seconds_count") or 0) == engine.frames
    assert (sample("alphapulse_lake_bytes_written") or 0) > 0
    for name in ("alphapulse_rss_bytes", "alphapulse_sink_queue_depth", "alphapulse_rejects"):
        assert name in text


def test_book_deltas_replay_to_the_venue_book(tmp_path: Path) -> None:
    """Binance: the lake's book_deltas rebuild the venue's book exactly."""
    service, exchange = asyncio.run(collect("binance", tmp_path, steps=400))
    deltas = read_table(tmp_path, "book_deltas", venue="binance")
    for symbol in SYMBOLS["binance"]:
        mine = deltas.filter(pc.equal(deltas.column("symbol"), symbol))
        book = _core.OrderBook()
        book.apply_arrow(pa.record_batch(mine.combine_chunks().to_batches()[0]))
        engine_book = service.runtimes["binance"].engine.book(symbol)
        assert book.bids() == engine_book.bids() and book.asks() == engine_book.asks()
        assert len(book) > 20
        # Both 8-decimal on the wire; the simulator keeps its own precision.
        truth = exchange.truth(symbol)
        venue_bids, _ = exchange.book(symbol)
        shift = 10 ** (8 - truth.price_decimals)
        assert [p for p, _ in book.bids()] == [p * shift for p, _ in venue_bids]


@pytest.mark.parametrize(
    ("venue", "plan", "expect"),
    [
        ("kraken", FaultPlan(skip_every=37), "checksum_failed"),
        ("coinbase", FaultPlan(skip_every=37), "gap"),
        ("binance", FaultPlan(skip_every=37), "gap"),
        ("binance", FaultPlan(corrupt_every=29), "reject"),
        ("kraken", FaultPlan(drop_after=120), "disconnect"),
        ("coinbase", FaultPlan(duplicate_every=23), "duplicate"),
        ("binance", FaultPlan(duplicate_every=23), "duplicate"),
        ("binance", FaultPlan(unknown_every=31), "reject"),
        ("coinbase", FaultPlan(stall_after=100, stall_seconds=6), "stall"),
    ],
)
def test_faults_are_detected_and_recovered(
    venue: str, plan: FaultPlan, expect: str, tmp_path: Path
) -> None:
    service, exchange = asyncio.run(collect(venue, tmp_path, steps=500, faults=plan))
    counts = service.events.counts
    assert counts.get(expect, 0) >= 1, counts
    summary = service.summary()["venues"][venue]
    assert summary["out_of_sync"] == []  # every book came back
    if expect in ("gap", "checksum_failed", "disconnect"):
        assert counts.get("resync", 0) + counts.get("connect", 0) >= 2
    if expect == "duplicate":  # dropped: the lake has every trade exactly once
        for symbol in SYMBOLS[venue]:
            truth = exchange.truth(symbol)
            assert [t[0] for t in lake_trades(tmp_path, venue, symbol)] == sorted(
                t.trade_id for t in truth.trades
            )
    if expect == "reject":
        rejects = read_table(tmp_path, "rejects", venue=venue)
        assert rejects.num_rows == summary["rejects"] >= 1  # kept for inspection
    # After recovery the service's books equal the venue's.
    engine = service.runtimes[venue].engine
    for symbol in SYMBOLS[venue]:
        truth = exchange.truth(symbol)
        precision = {s: (p, q) for s, _, p, q in engine.instruments()}[symbol]
        bids, _ = engine.top(symbol, 5)
        venue_bids, _ = exchange.book(symbol, 5)
        assert [value(p, precision[0] or 0) for p, _ in bids] == [
            value(p, truth.price_decimals) for p, _ in venue_bids
        ]


def collect_command(lake: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "alphapulse",
        "collect",
        "--simulated",
        "--lake",
        str(lake),
        *args,
    ]


def test_collect_command_on_the_simulator(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    out = subprocess.run(
        collect_command(lake, "--duration", "3", "--rate", "300"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "f/s" in out.stderr  # the live status line
    assert set(read_table(lake, "trades").column("venue").unique().to_pylist()) == {
        "kraken",
        "coinbase",
        "binance",
        "alpaca",  # stocks and their news come with the defaults
    }
    assert read_table(lake, "news").num_rows > 0
    assert read_table(lake, "book_deltas").num_rows > 100
    assert not (lake / "_status.json").exists()


@pytest.mark.parametrize(
    ("venue", "plan"),
    [("binance", FaultPlan(drop_after=150)), ("kraken", FaultPlan(skip_every=41))],
)
def test_replaying_the_capture_reproduces_the_lake(
    venue: str, plan: FaultPlan, tmp_path: Path
) -> None:
    """Capture a session (with a fault to recover from), replay it into a second lake."""
    from alphapulse.replay import replay

    live, again = tmp_path / "live", tmp_path / "again"
    capture = tmp_path / "session.capture.zst"

    async def session() -> None:
        exchange = SimulatedExchange(venue, SYMBOLS[venue], seed=5, rate=0, faults=plan)
        await exchange.start()
        urls = {"ws": exchange.ws_url, "rest": exchange.rest_url}
        service = CollectorService(
            [VENUES[venue](SYMBOLS[venue], urls=urls)],
            AsyncLakeWriter(LakeWriter(live)),
            capture=capture,
            drain_seconds=0.05,
        )
        engine = service.runtimes[venue].engine
        await service.start()
        try:
            await until(lambda: all(_synced(service, venue, s) for s in SYMBOLS[venue]))
            for _ in range(10):
                exchange.advance(50)
                await asyncio.sleep(0.02)
            await quiet(lambda: engine.frames)
            await until(lambda: not engine.out_of_sync(), timeout=20)
            await quiet(lambda: engine.frames)
        finally:
            await service.stop()
            await exchange.stop()

    asyncio.run(session())
    with LakeWriter(again) as writer:

        def write(_: str, batches: dict[str, _core.EventBatch]) -> None:
            for table, batch in batches.items():
                writer.write(table, batch)

        report = replay(capture, on_events=write)
    assert report.frames > 100
    for table in ("trades", "book_deltas", "rejects"):
        a, b = read_table(live, table), read_table(again, table)
        assert a.num_rows == b.num_rows, table
        assert a.equals(b), table
    assert read_table(live, "book_deltas").num_rows > 100


def test_a_quiet_instrument_is_reported_not_reconnected(tmp_path: Path) -> None:
    """Coinbase heartbeats keep the connection alive while no market data moves."""

    async def session() -> CollectorService:
        exchange = SimulatedExchange("coinbase", ["BTC-USD"], seed=3, rate=0)
        await exchange.start()
        service = CollectorService(
            [VENUES["coinbase"](["BTC-USD"], urls={"ws": exchange.ws_url})],
            AsyncLakeWriter(LakeWriter(tmp_path)),
            drain_seconds=0.05,
            quiet_seconds=1.0,
        )
        await service.start()
        try:
            await until(lambda: service.events.counts.get("channel_quiet", 0) >= 1, timeout=10)
            exchange.advance(20)
            await until(lambda: service.events.counts.get("channel_active", 0) >= 1, timeout=10)
        finally:
            await service.stop()
            await exchange.stop()
        return service

    service = asyncio.run(session())
    assert service.events.counts["connect"] == 1  # never reconnected for it
    assert "stall" not in service.events.counts


def test_status_of_a_running_collector(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    collector = subprocess.Popen(
        collect_command(lake, "--duration", "8"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        out = None
        while time.monotonic() < deadline:
            out = subprocess.run(
                [sys.executable, "-m", "alphapulse", "status", "--lake", str(lake)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if out.returncode == 0 and "binance" in out.stdout:
                break
            time.sleep(0.5)
        assert out is not None and out.returncode == 0, out
        assert f"collector pid {collector.pid}" in out.stdout
        assert "kraken" in out.stdout and "frames" in out.stdout
    finally:
        assert collector.wait(timeout=60) == 0
    gone = subprocess.run(
        [sys.executable, "-m", "alphapulse", "status", "--lake", str(lake)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gone.returncode == 1 and "no collector is running" in gone.stderr


class SlowSink:
    """A lake on a slow disk: every put takes a while; rows are kept to check nothing is lost."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.tables: dict[str, list[pa.RecordBatch]] = {}

    async def put(self, table: str, batch: object) -> None:
        await asyncio.sleep(self.delay)
        self.tables.setdefault(table, []).append(pa.record_batch(batch))

    async def close(self) -> None:
        return None

    def stats(self) -> dict[str, int]:
        return {"tables": len(self.tables)}


def test_a_slow_sink_pushes_back_instead_of_buffering(tmp_path: Path) -> None:
    async def session() -> tuple[CollectorService, SimulatedExchange, int]:
        exchange = SimulatedExchange("binance", SYMBOLS["binance"], seed=2, rate=0)
        await exchange.start()
        urls = {"ws": exchange.ws_url, "rest": exchange.rest_url}
        service = CollectorService(
            [VENUES["binance"](SYMBOLS["binance"], urls=urls)],
            SlowSink(0.05),
            drain_seconds=0.01,
            max_pending_events=300,
        )
        engine = service.runtimes["binance"].engine
        high_water = 0
        await service.start()
        try:
            await until(lambda: all(_synced(service, "binance", s) for s in SYMBOLS["binance"]))
            for _ in range(20):
                exchange.advance(100)
                for _ in range(5):
                    await asyncio.sleep(0.01)
                    high_water = max(high_water, engine.pending_events)
            await quiet(lambda: engine.frames, seconds=1.0)
        finally:
            await service.stop()
            await exchange.stop()
        return service, exchange, high_water

    service, exchange, high_water = asyncio.run(session())
    assert service.backpressure_count >= 1
    assert service.events.counts["backpressure"] == service.backpressure_count
    # Reading stopped near the bound: at most one more frame's events got in.
    assert high_water < 300 + 100
    sink = service.sink
    assert isinstance(sink, SlowSink)
    trades = pa.Table.from_batches(sink.tables["trades"])
    assert trades.num_rows == sum(len(exchange.truth(s).trades) for s in SYMBOLS["binance"])


def test_alpaca_end_to_end_keeps_secrets_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, secret = "PKTEST123", "do-not-leak-7f3a9"
    monkeypatch.setenv("ALPACA_API_KEY", key)
    monkeypatch.setenv("ALPACA_API_SECRET", secret)
    symbols = ["AAPL", "BTC/USD"]
    capture = tmp_path / "alpaca.capture.zst"
    lake = tmp_path / "lake"

    async def session() -> tuple[CollectorService, SimulatedExchange]:
        exchange = SimulatedExchange("alpaca", symbols, seed=4, rate=0, credentials=(key, secret))
        await exchange.start()
        monkeypatch.setenv("ALPACA_BASE_URL", exchange.ws_url)
        service = CollectorService(
            [VENUES["alpaca"](symbols, channels=("trades", "ticker", "book"))],
            AsyncLakeWriter(LakeWriter(lake)),
            capture=capture,
            drain_seconds=0.05,
        )
        rt = service.runtimes["alpaca"]
        await service.start()
        try:
            await until(lambda: rt.frames >= 4)
            await asyncio.sleep(0.3)
            for _ in range(6):
                exchange.advance(50)
                await asyncio.sleep(0.02)
            await quiet(lambda: rt.frames)
        finally:
            await service.stop()
            await exchange.stop()
        return service, exchange

    service, exchange = asyncio.run(session())
    assert service.summary()["venues"]["alpaca"]["rejects"] == 0
    for symbol in symbols:
        truth = exchange.truth(symbol)
        got = lake_trades(lake, "alpaca", symbol)
        assert sorted(t[1:3] for t in got) == sorted(
            (value(t.price, truth.price_decimals), value(t.size, truth.size_decimals))
            for t in truth.trades
        )
        assert len(got) > 5
    # The secret reached the exchange, and nothing else: not the capture, lake or events.
    from alphapulse.capture import read_capture
    from alphapulse.lake import tables

    captured = b"".join(r.data for r in read_capture(capture))
    assert b"PKTEST123" not in captured and secret.encode() not in captured
    for name in tables(lake):
        table = read_table(lake, name)
        for column in table.columns:
            if pa.types.is_string(column.type) or pa.types.is_binary(column.type):
                values = [v for v in column.to_pylist() if v is not None]
                as_text = [v if isinstance(v, str) else v.decode(errors="replace") for v in values]
                assert not any(secret in v for v in as_text), name


def test_coinbase_with_a_cdp_key_signs_and_keeps_tokens_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from alphapulse.capture import read_capture

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    monkeypatch.setenv("COINBASE_API_KEY", "organizations/o/apiKeys/k")
    monkeypatch.setenv("COINBASE_API_SECRET", pem)
    capture = tmp_path / "cb.capture.zst"

    async def session() -> CollectorService:
        exchange = SimulatedExchange("coinbase", ["BTC-USD"], seed=9, rate=0)
        await exchange.start()
        service = CollectorService(
            [VENUES["coinbase"](["BTC-USD"], urls={"ws": exchange.ws_url})],
            AsyncLakeWriter(LakeWriter(tmp_path / "lake")),
            capture=capture,
            drain_seconds=0.05,
        )
        await service.start()
        try:
            await until(lambda: _synced(service, "coinbase", "BTC-USD"))
            exchange.advance(100)
            await quiet(lambda: service.runtimes["coinbase"].engine.frames)
        finally:
            await service.stop()
            await exchange.stop()
        return service

    service = asyncio.run(session())
    assert service.runtimes["coinbase"].engine.stats()["coinbase:BTC-USD"]["trades"] > 0
    captured = b"".join(r.data for r in read_capture(capture))
    assert b"jwt" not in captured and b"PRIVATE KEY" not in captured


class FlakySink(SlowSink):
    """Fails the first put (a full disk for a moment), then works."""

    def __init__(self) -> None:
        super().__init__(0.0)
        self.failed = False

    async def put(self, table: str, batch: object) -> None:
        if not self.failed:
            self.failed = True
            raise OSError("No space left on device")
        await super().put(table, batch)


def test_a_failing_sink_round_does_not_stop_collection() -> None:
    async def session() -> CollectorService:
        exchange = SimulatedExchange("kraken", ["BTC/USD"], seed=8, rate=0)
        await exchange.start()
        service = CollectorService(
            [VENUES["kraken"](["BTC/USD"], urls={"ws": exchange.ws_url})],
            FlakySink(),
            drain_seconds=0.05,
        )
        await service.start()
        try:
            await until(lambda: _synced(service, "kraken", "BTC/USD"))
            await until(lambda: service.drain_failures >= 1)
            exchange.advance(200)
            await quiet(lambda: service.runtimes["kraken"].engine.frames)
        finally:
            await service.stop()
            await exchange.stop()
        return service

    service = asyncio.run(session())
    sink = service.sink
    assert isinstance(sink, FlakySink)
    assert service.events.counts["drain_failed"] == 1
    assert service.rows_lost >= 1  # the refused round is counted, not silently gone
    assert service.summary()["rows_lost"] == service.rows_lost
    assert sum(b.num_rows for b in sink.tables["trades"]) > 0  # later rounds got through


def test_finished_tasks_are_let_go() -> None:
    """Every resync, snapshot and handover is a spawned task: a long collection spawns
    them without end, so the service keeps only those still running."""

    async def session() -> tuple[int, int, int, list[str]]:
        service = CollectorService([], FlakySink())
        done: list[str] = []

        async def job(name: str) -> None:
            await asyncio.sleep(0)
            done.append(name)

        async def failing() -> None:
            raise RuntimeError("boom")

        async def forever() -> None:
            await asyncio.Event().wait()

        for i in range(1000):
            service.spawn(job(f"job{i}"))
        service.spawn(failing())
        service.spawn(forever())
        spawned = service.tasks
        await until(lambda: len(done) == 1000)
        await asyncio.sleep(0)
        running = service.tasks
        # A task cancelled before it ever ran is closed at stop (no "never awaited").
        service._running = True
        service.spawn(job("late"))
        await service.stop()
        return spawned, running, service.tasks, done

    spawned, running, after, done = asyncio.run(session())
    assert spawned == 1002
    assert running == 1  # only the one still waiting
    assert after == 0
    assert "late" not in done
