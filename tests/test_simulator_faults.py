"""Fault injection on the simulated exchange: what each fault does to a client, seen
through the Rust core (the helpers are test_simulator's)."""

from __future__ import annotations

import time

import pytest
from websockets.exceptions import ConnectionClosedError

from alphapulse import _core
from alphapulse.simulator import FaultPlan, SimulatedExchange
from tests.conftest import take_rows
from tests.test_simulator import (
    COINBASE,
    KRAKEN,
    assert_book,
    assert_clean,
    binance_snapshots,
    collect,
    connect,
    drain,
    kraken_subscribe,
    pump,
    run,
    send,
    until,
)


def test_skip_breaks_kraken_checksums_and_a_reconnect_recovers() -> None:
    async def main() -> None:
        faults = FaultPlan(skip_every=40)
        async with SimulatedExchange("kraken", KRAKEN, seed=9, rate=2000, faults=faults) as ex:
            engine = _core.Engine("kraken")
            async with connect(ex.ws_url) as ws:
                await send(ws, *kraken_subscribe(KRAKEN))
                await collect(ex, ws, engine, 0.6)
            stats = engine.stats()
            assert sum(s["checksums_failed"] for s in stats.values()) > 0
            assert engine.out_of_sync()
            ex.resume()
            fresh = _core.Engine("kraken")  # the plan only hits connection 0
            async with connect(ex.ws_url) as ws:
                await send(ws, *kraken_subscribe(KRAKEN))
                await collect(ex, ws, fresh, 0.6)
            assert_clean(fresh, KRAKEN)

    run(main())


@pytest.mark.parametrize(
    "plan",
    [FaultPlan(skip_every=100), FaultPlan(duplicate_every=100)],
    ids=["skip", "duplicate"],
)
def test_coinbase_sequence_reveals_skipped_and_repeated_frames(plan: FaultPlan) -> None:
    async def main() -> None:
        async with (
            SimulatedExchange("coinbase", COINBASE, seed=10, rate=2000, faults=plan) as ex,
            connect(ex.ws_url) as ws,
        ):
            engine = _core.Engine("coinbase")
            await send(ws, {"type": "subscribe", "product_ids": COINBASE, "channel": "level2"})
            frames = await collect(ex, ws, engine, 0.5)
            assert engine.rejects == 0
            noticed = [
                s for s in take_rows(engine)["statuses"] if s["kind"] in ("gap", "duplicate")
            ]
            # One per fault (frames counts the duplicates, and the subscriptions message).
            assert abs(len(noticed) - frames // 100) <= 1, (len(noticed), frames)
            if plan.skip_every:
                assert engine.connection_gaps == len(noticed)

    run(main())


def test_skip_shows_as_a_binance_update_id_gap() -> None:
    async def main() -> None:
        plan = FaultPlan(skip_every=50)
        async with (
            SimulatedExchange("binance", ["BTCUSDT"], seed=11, rate=2000, faults=plan) as ex,
            connect(f"{ex.ws_url}/ws/btcusdt@depth") as ws,
        ):
            engine = _core.Engine("binance")
            await binance_snapshots(ex, engine, ["BTCUSDT"])
            await collect(ex, ws, engine, 0.5)
            assert engine.stats()["binance:BTCUSDT"]["gaps"] > 0

    run(main())


def test_binance_resyncs_from_a_rest_snapshot_after_a_gap() -> None:
    """Stepped by hand (rate 0), so the lost diff is exactly the 100th."""

    async def main() -> None:
        plan = FaultPlan(skip_every=100)
        async with (
            SimulatedExchange("binance", ["BTCUSDT"], seed=15, rate=0, faults=plan) as ex,
            connect(f"{ex.ws_url}/ws/btcusdt@depth") as ws,
        ):
            engine = _core.Engine("binance")

            def feed(frame: bytes) -> None:
                engine.feed(frame, time.time_ns())

            await until(lambda: ex.stats().connections == 1)
            await binance_snapshots(ex, engine, ["BTCUSDT"])
            ex.advance(150)
            assert await drain(ws, feed) == 149
            assert engine.out_of_sync() == ["BTCUSDT"]
            await binance_snapshots(ex, engine, ["BTCUSDT"])
            ex.advance(40)
            assert await drain(ws, feed) == 40
            assert engine.out_of_sync() == [] and engine.is_synced("BTCUSDT")
            assert engine.stats()["binance:BTCUSDT"]["gaps"] == 1
            assert_book(ex, engine, "BTCUSDT", 1000)

    run(main())


def test_corrupt_and_unknown_frames_are_rejected_and_the_stream_goes_on() -> None:
    async def main() -> None:
        plan = FaultPlan(corrupt_every=25, unknown_every=30, seed=3)
        async with (
            SimulatedExchange("binance", ["BTCUSDT"], seed=12, rate=2000, faults=plan) as ex,
            connect(f"{ex.ws_url}/stream?streams=btcusdt@trade") as ws,
        ):
            engine = _core.Engine("binance")
            received: list[bytes] = []

            def feed(frame: bytes) -> None:
                received.append(frame)
                engine.feed(frame, time.time_ns())

            await pump(ws, feed, 0.5)
            ex.pause()
            await drain(ws, feed)
            corrupt = [f for f in received if b"\0" in f]
            unknown = [f for f in received if b"simulatorUnknown" in f]
            data = len(received) - len(unknown)  # the plan counts market-data frames
            assert len(corrupt) == data // 25 and len(unknown) == data // 30 > 0
            assert engine.rejects == len(corrupt) + len(unknown)
            assert len(take_rows(engine)["trades"]) == data - len(corrupt)

    run(main())


def test_drop_closes_the_connection_after_n_frames() -> None:
    async def main() -> None:
        plan = FaultPlan(drop_after=120)
        async with (
            SimulatedExchange("binance", ["BTCUSDT"], seed=13, rate=2000, faults=plan) as ex,
            connect(f"{ex.ws_url}/ws/btcusdt@depth") as ws,
        ):
            frames = 0
            with pytest.raises(ConnectionClosedError) as closed:
                while True:
                    await ws.recv()
                    frames += 1
            assert frames == 120
            assert closed.value.rcvd is None  # no close frame: the TCP connection was cut
            async with connect(f"{ex.ws_url}/ws/btcusdt@depth") as second:
                await second.recv()  # the next connection is not faulted

    run(main())


def test_stall_keeps_the_socket_open_and_delivers_late() -> None:
    async def main() -> None:
        plan = FaultPlan(stall_after=50, stall_seconds=0.6)
        async with (
            SimulatedExchange("binance", ["BTCUSDT"], seed=14, rate=1000, faults=plan) as ex,
            connect(f"{ex.ws_url}/ws/btcusdt@depth") as ws,
        ):
            engine = _core.Engine("binance")
            await binance_snapshots(ex, engine, ["BTCUSDT"])
            for _ in range(50):
                engine.feed(await ws.recv(decode=False), time.time_ns())
            start = time.monotonic()
            engine.feed(await ws.recv(decode=False), time.time_ns())
            assert time.monotonic() - start > 0.4
            await collect(ex, ws, engine, 0.2)
            assert_clean(engine, ["BTCUSDT"])  # nothing lost, only late
            assert_book(ex, engine, "BTCUSDT", 1000)

    run(main())


def test_delay_holds_frames_back() -> None:
    async def main() -> None:
        plan = FaultPlan(delay_every=1, delay_seconds=0.25)
        async with (
            SimulatedExchange("kraken", KRAKEN, rate=500, faults=plan) as ex,
            connect(ex.ws_url) as ws,
        ):
            await ws.recv()  # the status frame is not delayed
            await send(ws, *kraken_subscribe(["BTC/USD"])[1:3])
            start = time.monotonic()
            while b'"type":"update"' not in await ws.recv(decode=False):
                pass
            assert time.monotonic() - start > 0.2

    run(main())


def test_fault_plan_parse() -> None:
    plan = FaultPlan.parse("drop_after=10, stall_seconds=1.5,connections=all")
    assert plan == FaultPlan(drop_after=10, stall_seconds=1.5, connections=None)
    assert plan.applies_to(3) and not FaultPlan().applies_to(1)
    with pytest.raises(ValueError, match="bad fault"):
        FaultPlan.parse("explode=1")
