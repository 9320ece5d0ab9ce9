"""COPY into the PostgreSQL buffer: rows/s of the sink's binary COPY built from Arrow
columns, asyncpg's ``copy_records_to_table`` from the same Arrow batch (its rows made as
Python tuples), and asyncpg ``executemany`` of an INSERT (the peer) — all in one run, into a
table without indexes and into the buffer's indexed ``trades`` table: partitioned on plain
PostgreSQL, and a hypertable on TimescaleDB when it can be installed (a second server).

    python -m tests.benchmarks.buffer_copy [--quick]

A private PostgreSQL 15 (tests/pg_cluster.py; fsync off, as every test cluster: a COPY's
WAL is flushed once at its commit, so this hides little), one connection, trades batches as
the collector makes them (every column filled, short symbols: ~135 bytes a row encoded).
Each figure times the whole path from the Arrow batch to the committed COPY, encoding
included; the best of a few runs. Into ``trades`` the sink also writes the rows' Arrow
segments (``segments.py``) in the same transaction: that figure includes them.
Targets: >= 500k rows/s into the unindexed table, >= 150k into the indexed one.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from alphapulse.buffer import SCHEMA, Layout, PostgresSink, copy, segments
from alphapulse.buffer.schema import quote, table
from tests.buffer_data import MARKET_WORDS, batch
from tests.pg_cluster import PostgresCluster, PostgresUnavailableError
from tests.timescale_ext import ensure_timescaledb

TARGET_PLAIN = 500_000
TARGET_INDEXED = 150_000
PLAIN = f"{quote(SCHEMA)}.bench_plain"


async def _timed(
    run: Callable[[], Awaitable[Any]], repeat: int, reset: Callable[[], Awaitable[Any]]
) -> float:
    best = float("inf")
    for _ in range(repeat):
        await reset()
        start = time.perf_counter()
        await run()
        best = min(best, time.perf_counter() - start)
    return best


async def measure(
    dsn: str, layout: Layout, rows: int, peer_rows: int, repeat: int
) -> list[tuple[str, str, int, float]]:
    trades = table("trades")
    data = batch(trades, rows, seed=1, words=MARKET_WORDS)
    peer_data = data.slice(0, peer_rows)
    figures: list[tuple[str, str, int, float]] = []
    targets = [(f"indexed ({layout})", trades.qualified)]
    if layout == "partitioned":
        targets.insert(0, ("unindexed", PLAIN))
    async with PostgresSink(dsn, layout=layout) as arrow_sink:
        records_sink = PostgresSink(dsn, method="records")
        await records_sink.start()
        conn = arrow_sink._conn
        await conn.execute(f"CREATE TABLE {PLAIN} (LIKE {trades.qualified})")
        await arrow_sink.write("trades", data.slice(0, 1))  # the day's partition, made once
        cols = ", ".join(quote(c) for c in trades.column_names)
        marks = ", ".join(f"${i + 1}" for i in range(len(trades.columns)))
        peer_records = copy.records(copy.conform(peer_data, trades))

        for target, qualified in targets:

            async def reset(q: str = qualified) -> None:
                # the sink writes the rows' segments too (schema version 6)
                also = "" if q == PLAIN else f", {segments.QUALIFIED}"
                await conn.execute(f"TRUNCATE {q}{also}")

            async def ours(q: str = qualified) -> None:
                if q == PLAIN:  # the sink's own path, pointed at the bench table
                    await conn.copy_to_table(
                        "bench_plain",
                        source=arrow_sink._stream(copy.conform(data, trades), trades),
                        columns=copy.column_order(trades),
                        schema_name=SCHEMA,
                        format="binary",
                    )
                else:
                    await arrow_sink.write("trades", data)

            async def records(q: str = qualified) -> None:
                name = "bench_plain" if q == PLAIN else "trades"
                await records_sink._conn.copy_records_to_table(
                    name,
                    records=copy.records(copy.conform(data, trades)),
                    columns=trades.column_names,
                    schema_name=SCHEMA,
                )

            async def peer(q: str = qualified) -> None:
                await conn.executemany(f"INSERT INTO {q} ({cols}) VALUES ({marks})", peer_records)

            for name, fn, n in (
                ("COPY binary from Arrow (ours)", ours, rows),
                ("copy_records_to_table", records, rows),
                ("executemany INSERT (peer)", peer, peer_rows),
            ):
                seconds = await _timed(fn, repeat, reset)
                figures.append((target, name, n, n / seconds))
        await conn.execute(f"DROP TABLE {PLAIN}")
        await records_sink.close()
    if layout == "timescale":
        return figures
    start = time.perf_counter()
    conformed = copy.conform(data, trades)
    encoded = sum(len(p) for p in copy.chunks(conformed, trades, 65_536))
    figures.append(("(no database)", "encode only", rows, rows / (time.perf_counter() - start)))
    print(f"encoded {encoded / rows:.0f} bytes/row")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows and runs (~1 min)")
    args = parser.parse_args(argv)
    rows, peer_rows, repeat = (200_000, 50_000, 2) if args.quick else (1_000_000, 200_000, 3)
    with PostgresCluster() as cluster:
        dsn = cluster.create_database()
        figures = asyncio.run(measure(dsn, "partitioned", rows, peer_rows, repeat))
    try:
        ensure_timescaledb()
        with PostgresCluster(
            settings={"timescaledb.telemetry_level": "off"},
            shared_preload_libraries=["timescaledb"],
        ) as cluster:
            dsn = cluster.create_database()
            figures += asyncio.run(measure(dsn, "timescale", rows, peer_rows, repeat))
    except PostgresUnavailableError as exc:
        print(f"no TimescaleDB figures: {exc}")
    print(f"{'table':<22} {'method':<32} {'rows':>9} {'rows/s':>11}")
    for target, name, n, rate in figures:
        print(f"{target:<22} {name:<32} {n:>9} {rate:>11,.0f}")
    ours = {t: r for t, name, _, r in figures if name.endswith("(ours)")}
    indexed = [r for t, r in ours.items() if t.startswith("indexed")]
    ok = ours["unindexed"] >= TARGET_PLAIN and min(indexed) >= TARGET_INDEXED
    print(
        f"targets: >= {TARGET_PLAIN:,} rows/s unindexed, >= {TARGET_INDEXED:,} indexed:"
        f" {'met' if ok else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
