"""The collector's feed into the PostgreSQL buffer: a real server stopped and started under
it mid-stream, the lake beside it as the source of truth.

What must hold: ``offer`` never waits; while the database is down the feed queues up to
its bound and then drops its oldest batches as gaps; once it is back it catches the gaps up
from the lake, so the buffer ends with exactly the lake's rows, each once; every step is an
event and a figure in ``stats()``.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from alphapulse.buffer import PostgresSink, read, segments
from alphapulse.buffer import feed as feed_module
from alphapulse.buffer.feed import BufferFeed, FedSink
from alphapulse.collect import read_status
from alphapulse.lake import AsyncLakeWriter, LakeWriter, read_table
from tests.conftest import REQUIRE_POSTGRES_ENV
from tests.lake_crash_child import trade_rows as crash_child_rows
from tests.pg_cluster import PostgresCluster, running
from tests.sim_thread import ExchangeThread, collect, wait_for_status, write_config

BATCH = 500
#: The rows' times start a minute ago: the buffer keeps seven days, and its upkeep drops
#: older partitions as soon as the feed is idle.
START_NS = time.time_ns() - 60 * 1_000_000_000


def trade_rows(first_id: int, rows: int, venue: str) -> pa.Table:
    """``lake_crash_child``'s trades, one a millisecond from ``START_NS``."""
    table = crash_child_rows(first_id, rows, venue)
    ts = pa.array(range(first_id, first_id + rows), pa.int64())
    ts = pc.add(pc.multiply(ts, 1_000_000), START_NS).cast(pa.timestamp("ns", "UTC"))
    for column in ("ts_event", "ts_recv"):
        table = table.set_column(table.schema.get_field_index(column), column, ts)
    return table


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A server of this test's own: it is stopped and started under the feed."""
    with running(PostgresCluster(), REQUIRE_POSTGRES_ENV, "PostgreSQL") as cluster:
        yield cluster


def segment_ids(dsn: str, venue: str = "kraken") -> list[int]:
    """The trade ids the buffer's segments hold (what its readers get), sorted."""
    conn = read.connect(dsn)
    try:
        rows = segments.fetch(conn, "trades", venue, "BTC-USD", None, None)
    finally:
        conn.close()
    assert rows is not None
    return sorted(rows.column("trade_id").to_pylist())


async def buffer_ids(dsn: str, venue: str = "kraken") -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT trade_id FROM alphapulse_buffer.trades WHERE venue = $1", venue
        )
    finally:
        await conn.close()
    return sorted(r["trade_id"] for r in rows)


async def another_collectors_rows(dsn: str, rows: pa.Table) -> None:
    async with PostgresSink(dsn) as sink:
        await sink.write("trades", rows)


async def until(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not reached in {seconds} s: {what}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_the_database_stopped_and_started_mid_stream_loses_nothing(
    tmp_path: Path, own_cluster: PostgresCluster, mode: str
) -> None:
    """``fast``: the server shut down under the feed; ``immediate``: the server crashed."""
    dsn = own_cluster.dsn()
    events: list[tuple[str, dict[str, Any]]] = []
    lake = AsyncLakeWriter(LakeWriter(tmp_path, roll_seconds=3600))  # commits on flush only
    feed = BufferFeed(
        dsn,
        tmp_path,
        lake.flush,
        on_event=lambda kind, **detail: events.append((kind, detail)),
        max_bytes=40 * trade_rows(0, BATCH, "kraken").nbytes,
        retry_seconds=(0.05, 0.5),
        catch_up_delay=0.3,
    )
    sink = FedSink(lake, feed)
    sent = 0

    async def send(batches: int) -> None:
        nonlocal sent
        for _ in range(batches):
            started = time.perf_counter()
            await sink.put("trades", trade_rows(sent, BATCH, "kraken"))
            assert time.perf_counter() - started < 0.5  # the database never holds us up
            sent += BATCH
            await asyncio.sleep(0.002)

    async def run() -> dict[str, Any]:
        feed.start()
        await send(20)
        await until(lambda: feed.rows_written == sent, 30, "the first rows in the buffer")
        own_cluster.halt(mode)
        await send(100)  # 2.5 times what the queue holds: the oldest are dropped
        await until(lambda: feed.state == "down", 10, "the feed sees the database down")
        own_cluster.resume()
        await send(20)
        await until(
            lambda: feed.state == "up" and not feed.gaps and not feed.stats()["queue_batches"],
            60,
            "caught up",
        )
        stats = feed.stats()
        await sink.close()
        return stats

    # Another collector's venue in the same buffer, over the same times: a catch-up of
    # ours must leave its rows alone.
    theirs = trade_rows(0, 60_000, "coinbase")
    asyncio.run(another_collectors_rows(dsn, theirs))
    stats = asyncio.run(run())
    lake_ids = sorted(read_table(tmp_path, "trades").column("trade_id").to_pylist())
    assert lake_ids == list(range(sent))  # the lake never missed a row
    assert asyncio.run(buffer_ids(dsn)) == lake_ids  # nor, in the end, the buffer
    assert segment_ids(dsn) == lake_ids  # its readers' segments hold the same rows
    assert asyncio.run(buffer_ids(dsn, "coinbase")) == list(range(60_000))
    assert segment_ids(dsn, "coinbase") == list(range(60_000))
    assert stats["rows_dropped"] > 0 and stats["rows_caught_up"] >= stats["rows_dropped"]
    assert stats["reconnects"] == 1 and stats["state"] == "up"
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "buffer_up"
    assert kinds.index("buffer_down") < kinds.index("buffer_dropping")
    assert kinds.count("buffer_up") == 2 and kinds[-1] == "buffer_caught_up"
    down = dict(events)["buffer_down"]
    assert own_cluster.password not in down["error"] and down["error"]


def test_the_feed_merges_a_minutes_many_small_writes_into_one_segment(
    tmp_path: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed_module, "COMPACT_SECONDS", 0.1)
    lake = AsyncLakeWriter(LakeWriter(tmp_path, roll_seconds=3600))
    feed = BufferFeed(postgres_database, tmp_path, lake.flush, catch_up_delay=0.1)
    sink = FedSink(lake, feed)

    async def count() -> int:
        conn = await asyncpg.connect(postgres_database)
        try:
            return int(await conn.fetchval(f"SELECT count(*) FROM {segments.QUALIFIED}"))
        finally:
            await conn.close()

    ts = trade_rows(0, 3_000, "kraken").column("ts_recv").cast(pa.int64()).to_pylist()
    minutes = len({t // segments.BUCKET_NS for t in ts})  # one, or two if 3 s span two

    async def run() -> int:
        feed.start()
        for first in range(0, 3_000, 100):  # 30 writes, 3 s of a minute that is over
            await sink.put("trades", trade_rows(first, 100, "kraken"))
            await until(lambda: feed.rows_written == first + 100, 10, "written")  # noqa: B023
        merged = 0
        deadline = time.monotonic() + 20
        while (merged := await count()) > minutes and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await sink.close()
        return merged

    assert asyncio.run(run()) == minutes
    assert segment_ids(postgres_database) == list(range(3_000))


def test_a_database_never_reached_costs_the_collector_nothing(tmp_path: Path) -> None:
    """No server at all: puts go through at once, the queue stays within its bound, the
    lake has every row, and the reason is an event with the password masked."""
    dsn = "postgresql://collector:s3cret-pw@127.0.0.1:1/market"
    events: list[tuple[str, dict[str, Any]]] = []
    lake = AsyncLakeWriter(LakeWriter(tmp_path))
    bound = 10 * trade_rows(0, BATCH, "kraken").nbytes
    feed = BufferFeed(
        dsn,
        tmp_path,
        lake.flush,
        on_event=lambda kind, **detail: events.append((kind, detail)),
        max_bytes=bound,
        retry_seconds=(0.05, 0.2),
    )
    sink = FedSink(lake, feed)

    async def run() -> dict[str, Any]:
        feed.start()
        for i in range(50):
            await sink.put("trades", trade_rows(i * BATCH, BATCH, "kraken"))
            assert feed.stats()["queue_bytes"] <= bound
        await until(lambda: feed.state == "down", 10, "down")
        stats = feed.stats()
        await sink.close()
        return stats

    stats = asyncio.run(run())
    assert len(read_table(tmp_path, "trades")) == 50 * BATCH
    assert stats["state"] == "down" and stats["rows_written"] == 0
    assert stats["rows_dropped"] == 40 * BATCH  # what did not fit in the queue
    assert stats["gaps"]["trades"]["rows"] == 40 * BATCH
    (down,) = [detail for kind, detail in events if kind == "buffer_down"]
    assert "s3cret-pw" not in down["error"] and "s3cret-pw" not in stats["last_error"]


def test_offering_tables_the_buffer_does_not_mirror_is_a_no_op(tmp_path: Path) -> None:
    feed = BufferFeed("postgresql://nobody@127.0.0.1:1/x", tmp_path, _nothing)
    feed.offer("rejects", trade_rows(0, 10, "kraken"))
    feed.offer("trades", trade_rows(0, 0, "kraken"))
    assert feed.stats()["queue_batches"] == 0


async def _nothing() -> None:
    return None


def test_a_restart_after_a_crash_catches_up_what_the_last_run_owed(
    tmp_path: Path, own_cluster: PostgresCluster
) -> None:
    """A run dies with batches queued for a database that was down, and its journal's
    replay puts rows into the lake that never reached any feed: the next run's feed
    catches both up from the lake, each row once."""
    dsn = own_cluster.dsn()
    sent = 0

    def batch() -> Any:
        nonlocal sent
        rows = trade_rows(sent, BATCH, "kraken")
        sent += BATCH
        return rows

    async def crashed_run() -> None:
        lake = AsyncLakeWriter(LakeWriter(tmp_path))
        feed = BufferFeed(dsn, tmp_path, lake.flush, retry_seconds=(0.05, 0.2))
        sink = FedSink(lake, feed)
        feed.start()
        for _ in range(10):
            await sink.put("trades", batch())
        await until(lambda: feed.rows_written == sent, 30, "written")
        own_cluster.halt()
        for _ in range(10):  # queued for a database that is down, then the "crash"
            await sink.put("trades", batch())
        await until(lambda: feed.state == "down", 10, "down")
        assert feed._task is not None
        feed._task.cancel()  # no close(): what a kill -9 leaves
        await lake.close()  # the lake has them (the journal's replay would see to it)

    asyncio.run(crashed_run())
    with LakeWriter(tmp_path) as lake:  # what a journal replay writes on the next start
        lake.write("trades", batch())
    own_cluster.resume()

    async def next_run() -> dict[str, Any]:
        lake = AsyncLakeWriter(LakeWriter(tmp_path))
        feed = BufferFeed(dsn, tmp_path, lake.flush, retry_seconds=(0.05, 0.2))
        assert feed.gaps  # owed from the state the crashed run left
        sink = FedSink(lake, feed)
        feed.start()
        for _ in range(5):
            await sink.put("trades", batch())
        await until(lambda: not feed.gaps and feed.rows_written == 5 * BATCH, 30, "caught up")
        stats = feed.stats()
        await sink.close()
        return stats

    stats = asyncio.run(next_run())
    lake_ids = sorted(read_table(tmp_path, "trades").column("trade_id").to_pylist())
    assert lake_ids == list(range(sent))
    assert asyncio.run(buffer_ids(dsn)) == lake_ids
    assert stats["rows_caught_up"] >= 11 * BATCH


def test_alphapulse_collect_fills_the_buffer_through_a_database_outage(
    tmp_path: Path,
    own_cluster: PostgresCluster,
    kraken: ExchangeThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real CLI with ``$ALPHAPULSE_PG_DSN``, its database stopped for a few seconds
    mid-stream: the collector runs on, and after a clean stop the buffer's trades are the
    lake's, each once; the outage is in the events."""
    dsn = own_cluster.dsn()
    monkeypatch.setenv("ALPHAPULSE_PG_DSN", dsn)
    lake, log = tmp_path / "lake", tmp_path / "collect.log"
    proc = collect(write_config(tmp_path / "alphapulse.toml", lake, kraken), log)
    try:
        wait_for_status(lake, proc, log)

        def buffer() -> dict[str, Any]:
            status = read_status(lake) or {}
            stats: dict[str, Any] = status.get("sink", {}).get("buffer", {})
            return stats

        deadline = time.monotonic() + 30
        while buffer().get("rows_written", 0) == 0:
            assert time.monotonic() < deadline, (buffer(), log.read_text()[-2000:])
            time.sleep(0.1)
        own_cluster.halt()
        time.sleep(3)
        assert buffer()["state"] == "down"
        own_cluster.resume()
        deadline = time.monotonic() + 60
        while buffer()["state"] != "up" or buffer()["gaps"]:
            assert time.monotonic() < deadline, buffer()
            time.sleep(0.1)
        time.sleep(1)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    assert code == 0, log.read_text()[-3000:]
    assert own_cluster.password not in log.read_text()  # no password in the log

    trades = read_table(lake, "trades", columns=["symbol", "trade_id"])
    lake_keys = sorted(
        zip(trades.column("symbol").to_pylist(), trades.column("trade_id").to_pylist(), strict=True)
    )

    async def buffer_keys() -> list[tuple[str, int]]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT symbol, trade_id FROM alphapulse_buffer.trades")
        finally:
            await conn.close()
        return sorted((r["symbol"], r["trade_id"]) for r in rows)

    assert len(lake_keys) > 100 and asyncio.run(buffer_keys()) == lake_keys
    events = read_table(lake, "events", columns=["kind", "detail"]).to_pylist()
    kinds = [e["kind"] for e in events]
    for kind in ("buffer_up", "buffer_down", "buffer_caught_up"):
        assert kind in kinds, kind
    assert not [e for e in events if own_cluster.password in (e["detail"] or "")]
