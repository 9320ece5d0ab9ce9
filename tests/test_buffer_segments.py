"""The buffer's columnar segments against real servers (both layouts): every read from them
equals the same read of the rows, after writes, merges and catch-ups; a buffer with rows
from before the segments existed is read from its rows where segments do not cover it."""

from __future__ import annotations

import random
import time
from typing import Any

import asyncpg
import numpy as np
import pyarrow as pa
import pytest

from alphapulse.buffer import PostgresSink, copy, migrations, partitions, read, segments
from alphapulse.buffer.market_data import PostgresMarketData
from alphapulse.buffer.schema import SCHEMA, TABLES, table
from tests.buffer_data import MARKET_WORDS, batch
from tests.test_buffer_pg import buffer_db, run, timescale_cluster  # noqa: F401 (fixtures)

TRADES = table("trades")
RESULT = pa.schema([f.with_nullable(True) for f in TRADES.arrow])  # MarketData's results
MINUTE = segments.BUCKET_NS
START = (time.time_ns() // MINUTE - 30) * MINUTE  # half an hour ago, on a minute


def trades(rows: int, start_ns: int, step_ns: int, seed: int) -> pa.Table:
    """``rows`` trades of three venues and six symbols from ``start_ns``, two rows sharing
    each ``ts_recv`` (one message's trades), ``step_ns`` apart."""
    data = batch(TRADES, rows, seed=seed, start_ns=start_ns, words=MARKET_WORDS)
    ts = start_ns + (np.arange(rows, dtype=np.int64) // 2) * step_ns
    i = data.schema.get_field_index("ts_recv")
    field = TRADES.arrow.field("ts_recv")
    return data.set_column(i, field, pa.array(ts).cast(field.type))


def rows_read(conn: Any, venue: str, symbol: str, lo: int | None, hi: int | None) -> pa.Table:
    where = ["venue = $1", "symbol = $2"]
    params: list[object] = [venue, symbol]
    if lo is not None:
        where.append(f"ts_recv >= ${len(params) + 1}")
        params.append(lo)
    if hi is not None:
        where.append(f"ts_recv < ${len(params) + 1}")
        params.append(hi)
    return read.fetch(conn, "trades", " AND ".join(where), params)


def windows(seed: int, span_ns: int) -> list[tuple[str, str, int | None, int | None]]:
    rng = random.Random(seed)
    out: list[tuple[str, str, int | None, int | None]] = []
    for _ in range(25):
        lo = START + rng.randrange(-MINUTE, span_ns)
        hi = lo + rng.choice([1, 997, MINUTE // 3, MINUTE, 3 * MINUTE, span_ns])
        out.append((rng.choice(["kraken", "coinbase"]), rng.choice(MARKET_WORDS), lo, hi))
    out += [("kraken", "BTC/USD", None, None), ("coinbase", "buy", START + MINUTE, None)]
    return [*out, ("binance", "ETH/USD", None, START + 2 * MINUTE), ("nowhere", "X", None, None)]


def same_reads(dsn: str, span_ns: int, seed: int, exact_order: bool = True) -> int:
    """Every window's segment read equals its rows read; the rows compared."""
    compared = 0
    conn = read.connect(dsn)
    try:
        for venue, symbol, lo, hi in windows(seed, span_ns):
            fast = segments.fetch(conn, "trades", venue, symbol, lo, hi)
            slow = rows_read(conn, venue, symbol, lo, hi)
            if venue == "nowhere":  # never written: no coverage, and no rows
                assert fast is None and slow.num_rows == 0
                continue
            assert fast is not None, "a buffer made at version 6 has segments for all of it"
            if not exact_order:  # after deletes the rows' physical order is not write order
                keys = [("ts_recv", "ascending"), ("trade_id", "ascending")]
                fast, slow = fast.sort_by(keys), slow.sort_by(keys)
            assert fast.schema == TRADES.arrow
            assert fast.equals(slow), (venue, symbol, lo, hi)
            compared += slow.num_rows
    finally:
        conn.close()
    return compared


async def segment_counts(conn: Any) -> dict[tuple[str, str, str, int], int]:
    found = await conn.fetch(
        f"SELECT tbl, venue, symbol, ts_recv, count(*) FROM {segments.QUALIFIED}"
        " GROUP BY 1, 2, 3, 4"
    )
    return {(r[0], r[1], r[2], r[3]): r[4] for r in found}


def test_segments_read_as_the_rows_after_writes_merges_and_catch_ups(
    buffer_db: tuple[str, str],  # noqa: F811
) -> None:
    _, dsn = buffer_db
    span = 5 * MINUTE
    first = trades(6_000, START, span // 3_000, seed=1)
    # a second writer's rows in the same minutes, sharing instants with the first's
    second = trades(2_000, START + MINUTE // 2, span // 1_000, seed=2)
    shuffled = trades(1_000, START, span // 500, seed=3)
    shuffled = shuffled.take(pa.array(np.random.default_rng(4).permutation(1_000)))
    small = [trades(20, START + i * MINUTE // 7, 10**6, seed=10 + i) for i in range(30)]

    async def write() -> None:
        async with PostgresSink(dsn) as sink:
            for data in (first, second, shuffled, *small):
                await sink.write("trades", data)
            counts = await segment_counts(sink._conn)
            assert max(counts.values()) > 3  # many writes into one minute: many segments
            total = await sink._conn.fetchval(f"SELECT sum(n) FROM {segments.QUALIFIED}")
            assert total == 9_600

    run(write)
    assert same_reads(dsn, span, seed=1) > 1_000

    async def compact() -> None:
        async with PostgresSink(dsn) as sink:
            # a new sink (a restart, a reconnect) merges what the last one left unmerged
            assert await sink.compact(now_ns=START + 100 * MINUTE) > 0
            assert set((await segment_counts(sink._conn)).values()) == {1}
            assert await sink.compact(now_ns=START + 100 * MINUTE) == 0
            more = trades(400, START + 2 * MINUTE, 10**7, seed=5)
            for piece in (more.slice(0, 200), more.slice(200)):
                await sink.write("trades", piece)
            await sink.write("trades", trades(10, START + 2 * MINUTE, 10**6, seed=6))
            # the minute is not over by the grace yet: left alone
            assert await sink.compact(now_ns=START + 3 * MINUTE) == 0
            merged = await sink.compact(now_ns=START + 100 * MINUTE)
            assert merged >= 1
            counts = await segment_counts(sink._conn)
            minute = (START + 2 * MINUTE) // MINUTE * MINUTE
            mine = {k: n for k, n in counts.items() if k[3] == minute}
            assert mine and all(n == 1 for n in mine.values()), mine
            assert await sink.compact(now_ns=START + 100 * MINUTE) == 0  # done once

    run(compact)
    assert same_reads(dsn, span, seed=2) > 1_000

    # A catch-up: kraken's rows of a range replaced by the lake's (here, other rows)
    lo, hi = START + MINUTE + 12_345, START + 3 * MINUTE - 1
    lake = trades(300, lo, (hi - lo) // 150, seed=7)
    venue = TRADES.arrow.field("venue")
    lake = lake.set_column(lake.schema.get_field_index("venue"), venue, pa.array(["kraken"] * 300))

    async def catch_up() -> None:
        async with PostgresSink(dsn) as sink:
            assert await sink.replace_range("trades", "kraken", lo, hi, lake) == 300

    run(catch_up)
    assert same_reads(dsn, span, seed=3, exact_order=False) > 1_000
    conn = read.connect(dsn)
    try:
        for symbol in MARKET_WORDS:
            got = segments.fetch(conn, "trades", "kraken", symbol, lo, hi + 1)
            assert got is not None
            expected = lake.filter(pa.compute.equal(lake["symbol"], symbol))
            assert got.sort_by("trade_id").equals(expected.sort_by("trade_id").cast(TRADES.arrow))
    finally:
        conn.close()


def test_rows_from_before_the_segments_are_read_from_the_rows(
    buffer_db: tuple[str, str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    layout, dsn = buffer_db
    old = trades(500, START, 10**8, seed=8)  # 25 s of rows written by an older AlphaPulse
    new = trades(500, START + MINUTE, 10**8, seed=9)

    async def before() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            with monkeypatch.context() as patch:
                patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:5])
                assert await migrations.migrate(conn, layout) == (layout, 5)  # type: ignore[arg-type]
            if layout == "partitioned":
                days = {partitions.day_of_ns(START)}
                await partitions.ensure_partitions(conn, days, tables=TABLES)
            b = copy.conform(old, TRADES)
            await conn.copy_records_to_table(
                "trades", records=copy.records(b), columns=TRADES.column_names, schema_name=SCHEMA
            )
        finally:
            await conn.close()
        async with PostgresSink(dsn) as sink:  # migrates to 6: coverage from the newest row
            await sink.write("trades", new)

    # A collector of another venue still on the older AlphaPulse: rows, no segments.
    late = trades(300, START + 2 * MINUTE, 10**8, seed=17)
    late = late.set_column(
        late.schema.get_field_index("venue"),
        TRADES.arrow.field("venue"),
        pa.array(["alpaca"] * 300),
    )

    async def older_collector() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            b = copy.conform(late, TRADES)
            await conn.copy_records_to_table(
                "trades", records=copy.records(b), columns=TRADES.column_names, schema_name=SCHEMA
            )
        finally:
            await conn.close()

    run(before)
    run(older_collector)
    everything = pa.concat_tables([old, new, late]).cast(TRADES.arrow)
    with PostgresMarketData(dsn) as md:
        for venue in ("kraken", "coinbase", "binance", "alpaca"):
            mine = everything.filter(pa.compute.equal(everything["venue"], venue))
            olds = old.filter(pa.compute.equal(old["venue"], venue))["ts_recv"]
            since = segments.covered_from(md.conn, "trades", venue)
            if venue == "alpaca":  # no sink of version 6 wrote it: no coverage
                assert since is None
            else:  # from just after the venue's newest row an older AlphaPulse wrote
                newest = int(np.max(np.asarray(olds.cast(pa.int64()))))
                assert since == newest + 1
            for symbol in ("BTC/USD", "sell"):
                want = mine.filter(pa.compute.equal(mine["symbol"], symbol)).sort_by("ts_recv")
                assert want.num_rows > 0
                got = md.trades(f"{venue}:{symbol}", arrow=True)  # from the rows
                assert got.equals(want.cast(RESULT)), (venue, symbol)
                assert segments.fetch(md.conn, "trades", venue, symbol, None, None) is None
                if since is None:
                    assert segments.fetch(md.conn, "trades", venue, symbol, START, None) is None
                    continue
                fast = segments.fetch(md.conn, "trades", venue, symbol, since, None)
                ts = want["ts_recv"].cast(pa.int64())
                assert fast is not None and fast.equals(
                    want.filter(pa.compute.greater_equal(ts, since))
                )
                # a range that starts in the covered part comes from the segments alone
                got = md.trades(f"{venue}:{symbol}", since, arrow=True)
                assert got.equals(fast.cast(RESULT))


def test_a_covered_read_comes_from_the_segments(buffer_db: tuple[str, str]) -> None:  # noqa: F811
    _, dsn = buffer_db
    data = trades(2_000, START, 10**8, seed=11)

    async def write_then_drop_rows() -> None:
        async with PostgresSink(dsn) as sink:
            await sink.write("trades", data)
            # the rows go; the segments alone answer (the readers' path is the segments)
            await sink._conn.execute(f"DELETE FROM {TRADES.qualified}")

    run(write_then_drop_rows)
    with PostgresMarketData(dsn) as md:
        got = md.trades("kraken:BTC/USD", START, START + 10 * MINUTE, arrow=True)
        mask = pa.compute.and_(
            pa.compute.equal(data["venue"], "kraken"), pa.compute.equal(data["symbol"], "BTC/USD")
        )
        assert got.num_rows > 0 and got.equals(data.filter(mask).cast(RESULT))


def test_segment_storage_is_uncompressed_out_of_line(buffer_db: tuple[str, str]) -> None:  # noqa: F811
    _, dsn = buffer_db

    async def check() -> None:
        async with PostgresSink(dsn) as sink:
            await sink.write("trades", trades(100, START, 10**8, seed=12))
            storage = await sink._conn.fetch(
                "SELECT c.relname, a.attstorage::text FROM pg_class c"
                " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'data'"
                " WHERE c.oid = $1::regclass OR c.oid IN"
                " (SELECT inhrelid FROM pg_inherits WHERE inhparent = $1::regclass)",
                f"{SCHEMA}.segments",
            )
            assert len(storage) >= 2  # the table and the partition or chunk holding the rows
            assert {r[1] for r in storage} == {"e"}, storage

    run(check)


def test_a_segment_of_another_schema_is_a_clear_error() -> None:
    other = pa.table({"ts_recv": pa.array([1], pa.int64())})
    with pytest.raises(ValueError, match="another schema"):
        segments.decode_stream(TRADES, segments.encode_stream(other))
    with pytest.raises(pa.ArrowInvalid):
        segments.decode_stream(TRADES, b"not an arrow stream")
    rows = copy.conform(trades(3, START, 1, seed=15), TRADES)
    nameless = rows.set_column(
        rows.schema.get_field_index("symbol"), "symbol", pa.array(["BTC/USD", None, "X"])
    )
    with pytest.raises(ValueError, match="without a venue, symbol or ts_recv"):
        segments.build(TRADES, nameless)


def test_build_groups_by_venue_symbol_minute_in_write_order() -> None:
    data = copy.conform(trades(3_000, START, 10**8, seed=13), TRADES)
    parts = segments.build(TRADES, data)
    assert sum(p.n for p in parts) == 3_000
    assert len({p.key for p in parts}) == len(parts)  # one segment a key (rows < MAX_ROWS)
    for p in parts:
        rows = segments.decode_stream(TRADES, p.data)
        assert set(rows["venue"].to_pylist()) == {p.venue}
        assert set(rows["symbol"].to_pylist()) == {p.symbol}
        ns = np.asarray(rows["ts_recv"].cast(pa.int64()))
        assert p.bucket <= ns.min() == p.ts_lo and ns.max() == p.ts_hi < p.bucket + MINUTE
        ids = rows["trade_id"].to_pylist()
        mask = pa.compute.and_(
            pa.compute.equal(data["venue"], p.venue), pa.compute.equal(data["symbol"], p.symbol)
        )
        same = data.filter(mask).to_pylist()
        expected = [
            r["trade_id"] for r in same if p.bucket <= _ns(r["ts_recv"]) < p.bucket + MINUTE
        ]
        assert ids == expected  # in the batch's order
    # a minute of one symbol with more rows than a segment holds: several, in order
    rows = 2 * segments.MAX_ROWS + 5
    big = trades(rows, START, 1, seed=14)
    for name, value in (("venue", "kraken"), ("symbol", "BTC/USD")):
        field = TRADES.arrow.field(name)
        big = big.set_column(big.schema.get_field_index(name), field, pa.array([value] * rows))
    pieces = segments.build(TRADES, copy.conform(big, TRADES))
    assert [p.n for p in pieces] == [segments.MAX_ROWS, segments.MAX_ROWS, 5]
    assert len({p.key for p in pieces}) == 1
    decoded = pa.concat_tables(segments.decode_stream(TRADES, p.data) for p in pieces)
    assert decoded.equals(big.cast(TRADES.arrow))


def _ns(value: Any) -> int:
    return int(pa.scalar(value, TRADES.arrow.field("ts_recv").type).cast(pa.int64()).as_py())


def test_a_damaged_segment_is_read_from_the_rows_with_a_warning(
    buffer_db: tuple[str, str],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, dsn = buffer_db
    data = trades(1_000, START, 10**8, seed=16)

    async def write_then_damage() -> None:
        async with PostgresSink(dsn) as sink:
            await sink.write("trades", data)
            await sink._conn.execute(
                f"UPDATE {segments.QUALIFIED} SET data = 'damaged'::bytea"
                " WHERE ctid = (SELECT min(ctid) FROM alphapulse_buffer.segments"
                " WHERE venue = 'kraken' AND symbol = 'BTC/USD')"
            )

    run(write_then_damage)
    mask = pa.compute.and_(
        pa.compute.equal(data["venue"], "kraken"), pa.compute.equal(data["symbol"], "BTC/USD")
    )
    with caplog.at_level("WARNING"), PostgresMarketData(dsn) as md:
        got = md.trades("kraken:BTC/USD", START, START + 10 * MINUTE, arrow=True)
    assert got.num_rows > 0 and got.equals(data.filter(mask).cast(RESULT))
    assert "a segment cannot be read" in caplog.text


def test_unreadable_segments_send_their_venue_to_the_rows_and_lose_nothing(
    buffer_db: tuple[str, str],  # noqa: F811
) -> None:
    _, dsn = buffer_db
    first, second = trades(600, START, 10**8, seed=18), trades(600, START, 10**8, seed=19)
    lo, hi = START + 10 * 10**9, START + 20 * 10**9

    async def damage(venue: str, conn: Any) -> None:
        await conn.execute(
            f"UPDATE {segments.QUALIFIED} SET data = 'damaged'::bytea WHERE venue = $1", venue
        )

    async def scenario() -> int:
        async with PostgresSink(dsn) as sink:
            await sink.write("trades", first)
            await sink.write("trades", second)  # two segments a (venue, symbol, minute)
            await damage("kraken", sink._conn)
            assert await sink.compact(now_ns=START + 100 * MINUTE) > 0  # no exception
            await damage("coinbase", sink._conn)
            # a catch-up over coinbase's damaged segments: the lake's rows (here the same)
            conn = read.connect(dsn)
            try:
                where = "venue = $1 AND ts_recv BETWEEN $2 AND $3"
                lake = read.fetch(conn, "trades", where, ["coinbase", lo, hi])
            finally:
                conn.close()
            assert lake.num_rows > 0
            assert await sink.replace_range("trades", "coinbase", lo, hi, lake) == lake.num_rows
            return sink.segments_unreadable

    unreadable = run(scenario)
    assert unreadable >= 2
    both = pa.concat_tables([first, second]).cast(TRADES.arrow)
    with PostgresMarketData(dsn) as md:
        for venue in ("kraken", "coinbase", "binance"):
            since = segments.covered_from(md.conn, "trades", venue)
            assert since is not None
            assert (since > START) == (venue != "binance")  # the damaged venues: rows
            for symbol in MARKET_WORDS:
                got = md.trades(f"{venue}:{symbol}", START, arrow=True)
                mask = pa.compute.and_(
                    pa.compute.equal(both["venue"], venue),
                    pa.compute.equal(both["symbol"], symbol),
                )
                want = both.filter(mask)
                keys = [("ts_recv", "ascending"), ("trade_id", "ascending")]
                assert got.sort_by(keys).equals(want.sort_by(keys).cast(RESULT)), venue
