"""The PostgreSQL buffer against real servers: Debian's PostgreSQL 15 (native daily
partitions) and the same server with TimescaleDB (hypertables, compression, retention).

Migrations from empty and again, the COPY round trip of every table bit for bit, and each
layout's retention: TimescaleDB's own policy run by run_job, the service's partition drop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import asyncpg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from alphapulse import _core
from alphapulse.buffer import (
    MIGRATIONS,
    SCHEMA,
    TABLES,
    MigrationError,
    PostgresSink,
    migrate,
    partitions,
)
from alphapulse.buffer.market_data import PostgresMarketData
from alphapulse.buffer.read import literal
from alphapulse.buffer.schema import DAY_NS, LAKE_TABLE, Column, Table, create_table_sql, table
from alphapulse.eventlog import SCHEMA as EVENT_LOG_SCHEMA
from tests.buffer_data import batch, from_rows
from tests.pg_cluster import PostgresCluster, running
from tests.test_arrow import BOOK, TRADE
from tests.timescale_ext import REQUIRE_ENV as TIMESCALE_REQUIRE_ENV
from tests.timescale_ext import ensure_timescaledb

T = TypeVar("T")


def run(factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await factory()

    return asyncio.run(main())


@pytest.fixture(scope="module")
def timescale_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster(
        settings={"timescaledb.telemetry_level": "off"},
        shared_preload_libraries=["timescaledb"],
    )
    with running(cluster, TIMESCALE_REQUIRE_ENV, "TimescaleDB", ensure_timescaledb) as started:
        yield started


@pytest.fixture(params=["partitioned", "timescale"])
def buffer_db(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(layout, DSN of a fresh database on a server that has that layout)."""
    name = "postgres_cluster" if request.param == "partitioned" else "timescale_cluster"
    cluster: PostgresCluster = request.getfixturevalue(name)
    dsn = cluster.create_database()
    yield request.param, dsn
    cluster.drop_database(dsn)


async def _connect(dsn: str) -> Any:
    return await asyncpg.connect(dsn)


def test_migrations_from_empty_then_idempotent(buffer_db: tuple[str, str]) -> None:
    layout, dsn = buffer_db

    async def check() -> None:
        conn = await _connect(dsn)
        try:
            assert await migrate(conn) == (layout, len(MIGRATIONS))
            assert await migrate(conn) == (layout, 0)
            assert await migrate(conn, layout) == (layout, 0)  # type: ignore[arg-type]
            versions = await conn.fetch(
                f"SELECT version, layout FROM {SCHEMA}.schema_version ORDER BY version"
            )
            assert [(r[0], r[1]) for r in versions] == [(m.version, layout) for m in MIGRATIONS]
            for name in TABLES:
                cols = await conn.fetch(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                    SCHEMA,
                    name,
                )
                assert [r[0] for r in cols] == table(name).column_names
                index = await conn.fetchval(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2",
                    SCHEMA,
                    name,
                )
                keys = "venue, symbol, ts_recv" if table(name).has_symbol else "venue, ts_recv"
                assert index is not None and f"({keys})" in index
            kind = await conn.fetchval(
                "SELECT relkind::text FROM pg_class WHERE oid = $1::regclass", f"{SCHEMA}.trades"
            )
            assert kind == ("p" if layout == "partitioned" else "r")
            await conn.execute(
                f"INSERT INTO {SCHEMA}.schema_version (version, description, layout)"
                " VALUES (99, 'from a newer alphapulse', $1)",
                layout,
            )
            with pytest.raises(MigrationError, match="version 99, newer than this"):
                await migrate(conn)
            await conn.execute(f"DELETE FROM {SCHEMA}.schema_version WHERE version = 99")
            other = "timescale" if layout == "partitioned" else "partitioned"
            with pytest.raises(MigrationError, match=f"exists with layout {layout}"):
                await migrate(conn, other)  # type: ignore[arg-type]
        finally:
            await conn.close()

    run(check)


def test_version_4s_events_become_the_event_log(buffer_db: tuple[str, str]) -> None:
    """A buffer made before version 5 held the venues' raw statuses in ``events``: migrating
    it makes ``events`` the collector's event log, in the buffer's layout."""
    layout, dsn = buffer_db

    async def check() -> None:
        conn = await _connect(dsn)
        try:
            await migrate(conn)
            # Back to version 4: events as it was (the core's statuses).
            statuses = pa.schema(_core.event_schema("statuses"))
            old = Table(
                "events", statuses, tuple(Column(f.name, f.type, f.nullable) for f in statuses)
            )
            await conn.execute(f"DROP TABLE {SCHEMA}.events")
            await conn.execute(create_table_sql(old, partitioned=layout == "partitioned"))
            await conn.execute(f"DELETE FROM {SCHEMA}.schema_version WHERE version = 5")
            assert await migrate(conn) == (layout, 1)
            cols = await conn.fetch(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = $1 AND table_name = 'events' ORDER BY ordinal_position",
                SCHEMA,
            )
            assert [r[0] for r in cols] == EVENT_LOG_SCHEMA.names
            if layout == "timescale":
                hyper = await conn.fetchval(
                    "SELECT count(*) FROM timescaledb_information.hypertables"
                    " WHERE hypertable_schema = $1 AND hypertable_name = 'events'",
                    SCHEMA,
                )
                assert hyper == 1
        finally:
            await conn.close()

    run(check)


def test_timescale_layout_needs_the_extension(postgres_database: str) -> None:
    async def check() -> None:
        conn = await _connect(postgres_database)
        try:
            with pytest.raises(MigrationError, match="shared_preload_libraries"):
                await migrate(conn, "timescale")
            assert await conn.fetchval("SELECT to_regclass($1)", f"{SCHEMA}.trades") is None
        finally:
            await conn.close()

    run(check)


@pytest.mark.parametrize("method", ["arrow", "records"])
def test_copy_round_trip_is_exact(buffer_db: tuple[str, str], method: str) -> None:
    layout, dsn = buffer_db
    expected = {
        name: batch(table(name), 3000 if name != "news" else 200, seed=i)
        for i, name in enumerate(TABLES)
    }

    async def check() -> None:
        async with PostgresSink(dsn, method=method, chunk_rows=700) as sink:  # type: ignore[arg-type]
            assert sink.layout == layout
            for name, data in expected.items():
                half = data.num_rows // 2
                assert await sink.write(name, data.slice(0, half)) == half
                sink.add(name, data.slice(half))
            assert await sink.flush() == sum(
                d.num_rows - d.num_rows // 2 for d in expected.values()
            )
            assert sink.pending_rows() == 0
        conn = await _connect(dsn)
        try:
            for name, data in expected.items():
                rows = await conn.fetch(f"SELECT * FROM {SCHEMA}.{name} ORDER BY ts_recv")
                got = from_rows(table(name), rows)
                assert got.equals(data.sort_by("ts_recv")), name
        finally:
            await conn.close()

    run(check)


def test_a_batch_that_does_not_fit_is_a_one_line_error(postgres_database: str) -> None:
    data = batch(table("trades"), 10)

    async def check() -> None:
        async with PostgresSink(postgres_database) as sink:
            with pytest.raises(ValueError, match=r"lacks column.*price_raw") as missing:
                await sink.write("trades", data.drop_columns(["price_raw"]))
            words = data.set_column(data.column_names.index("price"), "price", pa.array(["x"] * 10))
            with pytest.raises(ValueError, match="does not fit") as wrong:
                await sink.write("trades", words)
            with pytest.raises(KeyError, match="no buffer table"):
                await sink.write("orders", data)
            for exc in (missing.value, wrong.value):
                assert "\n" not in str(exc)
            assert await sink.write("trades", data) == 10

    run(check)


def test_partitions_created_ahead_and_expired_dropped(postgres_database: str) -> None:
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    old_ns = (int(now.timestamp()) - 10 * 86_400) * 10**9
    kept_ns = (int(now.timestamp()) - 3 * 86_400) * 10**9

    def day(d: dt.date, name: str = "trades") -> str:
        return f"{name}_p{d:%Y%m%d}"

    def every(d: dt.date) -> list[str]:  # a batch's day is made for every table at once
        return sorted(day(d, name) for name in (*TABLES, "segments"))

    async def check() -> None:
        async with PostgresSink(postgres_database) as sink:
            conn = sink._conn
            ahead = await partitions.partitions(conn, "trades")
            assert ahead == [day(today + dt.timedelta(days=i)) for i in range(3)]
            await sink.write("trades", batch(table("trades"), 50, start_ns=old_ns))
            await sink.write("trades", batch(table("trades"), 40, start_ns=kept_ns))
            assert day(today - dt.timedelta(days=10)) in await partitions.partitions(conn, "trades")
            dropped = await sink.maintain(at=now)
            assert dropped == every(today - dt.timedelta(days=10))
            assert await conn.fetchval(f"SELECT count(*) FROM {SCHEMA}.trades") == 40
            # the segments of the dropped day went with it: the rest are the kept rows'
            assert await conn.fetchval(f"SELECT sum(n) FROM {SCHEMA}.segments") == 40
            assert await partitions.drop_expired(conn, at=now) == []
            # eight days on, the three-day-old rows go too; the days ahead stay
            later = await partitions.drop_expired(conn, at=now + dt.timedelta(days=5))
            assert later == every(today - dt.timedelta(days=3))
            assert await conn.fetchval(f"SELECT count(*) FROM {SCHEMA}.trades") == 0

    run(check)


def test_timescale_hypertables_compression_and_retention(
    timescale_cluster: PostgresCluster,
) -> None:
    dsn = timescale_cluster.create_database()
    now_ns = dt.datetime.now(dt.UTC).timestamp()

    async def check() -> None:
        async with PostgresSink(dsn) as sink:
            assert sink.layout == "timescale"
            conn = sink._conn
            hyper = await conn.fetch(
                "SELECT hypertable_name, compression_enabled"
                " FROM timescaledb_information.hypertables WHERE hypertable_schema = $1",
                SCHEMA,
            )
            assert {r[0]: r[1] for r in hyper} == {
                **{name: True for name in TABLES},
                "segments": False,  # Arrow's bytes: nothing for TimescaleDB to compress
            }
            dims = await conn.fetch(
                "SELECT hypertable_name, column_name, integer_interval"
                " FROM timescaledb_information.dimensions WHERE hypertable_schema = $1",
                SCHEMA,
            )
            assert {(r[1], r[2]) for r in dims} == {("ts_recv", DAY_NS)} and len(dims) == 7
            segments = await conn.fetch(
                "SELECT attname FROM timescaledb_information.compression_settings"
                " WHERE hypertable_name = 'trades' AND segmentby_column_index IS NOT NULL"
                " ORDER BY segmentby_column_index"
            )
            assert [r[0] for r in segments] == ["venue", "symbol"]
            jobs = await conn.fetch(
                "SELECT job_id, proc_name, hypertable_name, config,"
                " next_start > now() + interval '50 minutes'"
                " FROM timescaledb_information.jobs"
                " WHERE hypertable_schema = $1 OR proc_schema = $1",
                SCHEMA,
            )
            procs = sorted((r[2] or "", r[1]) for r in jobs)
            # one job drops every table's expired chunks together (rows and segments)
            assert procs == sorted(
                [(n, "policy_compression") for n in TABLES] + [("", "drop_expired")]
            )
            assert all(r[4] for r in jobs), "a policy would start at once and race the writers"
            old = batch(table("trades"), 500, start_ns=int(now_ns - 10 * 86_400) * 10**9)
            recent = batch(table("trades"), 300, start_ns=int(now_ns - 2 * 86_400) * 10**9)
            fresh = batch(table("trades"), 200)
            for data in (old, recent, fresh):
                await sink.write("trades", data)
            ids = {(r[2] or "", r[1]): r[0] for r in jobs}
            await conn.execute(f"CALL run_job({ids[('', 'drop_expired')]})")
            assert await conn.fetchval(f"SELECT count(*) FROM {SCHEMA}.trades") == 500
            assert await conn.fetchval(f"SELECT sum(n) FROM {SCHEMA}.segments") == 500
            await conn.execute(f"CALL run_job({ids[('trades', 'policy_compression')]})")
            compressed = await conn.fetchval(
                "SELECT count(*) FROM timescaledb_information.chunks"
                " WHERE hypertable_name = 'trades' AND is_compressed"
            )
            assert compressed == 1  # the two-day-old chunk; today's stays open
            rows = await conn.fetch(f"SELECT * FROM {SCHEMA}.trades ORDER BY ts_recv")
            assert from_rows(table("trades"), rows).equals(
                pa.concat_tables([recent, fresh]).sort_by("ts_recv")
            )

    try:
        run(check)
    finally:
        timescale_cluster.drop_database(dsn)


def test_two_services_migrating_at_once_both_succeed(buffer_db: tuple[str, str]) -> None:
    layout, dsn = buffer_db

    async def check() -> None:
        first, second = await _connect(dsn), await _connect(dsn)
        try:
            results = await asyncio.gather(migrate(first), migrate(second))
            assert sorted(applied for _, applied in results) == [0, len(MIGRATIONS)]
            assert {found for found, _ in results} == {layout}
        finally:
            await first.close()
            await second.close()

    run(check)


def test_the_cores_event_batches_go_in_as_they_come(postgres_database: str) -> None:
    """The collector's own EventBatch objects (Arrow through the PyCapsule interface),
    dated 2021: the sink makes that day's partitions itself."""
    engine = _core.Engine("kraken_v1")
    engine.feed(TRADE, 1_618_678_142_600_000_000)
    engine.feed(BOOK, 1_618_678_142_700_000_000)
    taken = engine.take()
    buffer_name = {lake: name for name, lake in LAKE_TABLE.items()}

    async def check() -> None:
        async with PostgresSink(postgres_database) as sink:
            for lake_name, events in taken.items():
                if lake_name in buffer_name and len(events):
                    assert await sink.write(buffer_name[lake_name], events) == len(events)
            conn = sink._conn
            for lake_name, events in taken.items():
                if lake_name not in buffer_name:
                    continue
                name = buffer_name[lake_name]
                rows = await conn.fetch(f"SELECT * FROM {SCHEMA}.{name} ORDER BY ts_recv")
                assert from_rows(table(name), rows).equals(pa.table(events)), name
            assert sink.rows_written["trades"] == 1 and sink.rows_written["book_deltas"] == 3
            assert "trades_p20210417" in await partitions.partitions(conn, "trades")

    run(check)


HOSTILE = ["O'Brien", "back\\slash", "'; DROP TABLE alphapulse_buffer.trades; --", "$1", "☃/USD"]


def test_reads_quote_any_symbol_and_find_exactly_its_rows(postgres_database: str) -> None:
    """Reads write their conditions' values as literals (COPY takes no parameters): symbols
    made to break quoting find their own rows and nothing else."""
    trades = table("trades")
    data = batch(trades, len(HOSTILE) * 20, seed=4)
    symbols = pa.array([HOSTILE[i % len(HOSTILE)] for i in range(data.num_rows)])
    data = data.set_column(data.schema.get_field_index("symbol"), "symbol", symbols)
    data = data.set_column(
        data.schema.get_field_index("venue"), "venue", pa.array(["kraken"] * data.num_rows)
    )
    run(lambda: _write(postgres_database, data))
    with PostgresMarketData(postgres_database) as md:
        for symbol in HOSTILE:
            got = md.trades(f"kraken:{symbol}", arrow=True)
            want = data.filter(pc.equal(data.column("symbol"), symbol))
            assert got.num_rows == 20 and got.to_pylist() == want.to_pylist(), symbol
        with pytest.raises(ValueError, match="NUL"):
            md.trades("kraken:a\x00b")
        assert md.trades("kraken:BTC/USD").is_empty()
    with pytest.raises(TypeError):
        literal(True)


async def _write(dsn: str, data: pa.Table) -> None:
    async with PostgresSink(dsn) as sink:
        await sink.write("trades", data)
