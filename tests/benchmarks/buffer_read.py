"""Reading one symbol-hour back from the PostgreSQL buffer as Arrow.

    python -m tests.benchmarks.buffer_read [--quick]

A private PostgreSQL 15 (tests/pg_cluster.py) and, when it can be installed, TimescaleDB
(a second server) hold an hour of trades of four symbols in the buffer's indexed
``trades`` table (``--quick``: fewer rows); the figures are rows/s reading one symbol's
hour, the median of several runs, all in one run:

- ours: ``PostgresMarketData.trades(..., arrow=True)``: the symbol-minutes' Arrow segments
  (``segments.fetch``) through ADBC, the lake's types, ``ts_recv`` order; and, under it,
  the bare ``segments.fetch`` and the rows' read (``read.fetch``: ADBC's binary COPY of the
  rows into Arrow), which a range without segments takes;
- peer: asyncpg ``fetch`` of the same query (a Python Record per row), the usual way.

The hour is written as a collector writes it, a second at a time (3,600 writes of the four
symbols), and the minutes' segments merged as the collector's feed merges them.

Target: >= 2M rows/s for ours.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import numpy as np
import pyarrow as pa

from alphapulse.buffer import PostgresSink, read, segments
from alphapulse.buffer.market_data import PostgresMarketData
from alphapulse.buffer.schema import table
from tests.buffer_data import MARKET_WORDS, batch
from tests.pg_cluster import PostgresCluster, PostgresUnavailableError
from tests.timescale_ext import ensure_timescaledb

TARGET = 2_000_000
HOUR_NS = 3600 * 1_000_000_000
SYMBOLS = ("BTC/USD", "ETH/USD", "SOL/USD", "XBT/USD")


def hour_of_trades(rows_per_symbol: int, start_ns: int) -> pa.Table:
    """Four symbols' trades spread over one hour, one venue, in time order."""
    trades = table("trades")
    rows = rows_per_symbol * len(SYMBOLS)
    data = batch(trades, rows, seed=3, words=MARKET_WORDS)
    ts = start_ns + np.arange(rows, dtype=np.int64) * (HOUR_NS // rows)
    ts_type = trades.arrow.field("ts_recv").type
    data = data.set_column(
        data.schema.get_field_index("ts_recv"), "ts_recv", pa.array(ts).cast(ts_type)
    )
    symbols = pa.array(np.array(SYMBOLS)[np.arange(rows) % len(SYMBOLS)])
    data = data.set_column(data.schema.get_field_index("symbol"), "symbol", symbols)
    return data.set_column(
        data.schema.get_field_index("venue"), "venue", pa.array(["kraken"] * rows)
    )


def median_rate(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    rates, rows = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        rows = fn()
        rates.append(rows / (time.perf_counter() - start))
    return statistics.median(rates), rows


def measure(
    dsn: str, layout: str, rows_per_symbol: int, repeat: int
) -> list[tuple[str, str, int, float]]:
    start = time.time_ns() - 2 * HOUR_NS
    data = hour_of_trades(rows_per_symbol, start)

    async def load() -> None:
        async with PostgresSink(dsn) as sink:
            second = data.num_rows // 3600
            for i in range(0, data.num_rows, second):
                await sink.write("trades", data.slice(i, second))
            await sink.compact()
            await sink._conn.execute("ANALYZE alphapulse_buffer.trades")
            await sink._conn.execute("ANALYZE alphapulse_buffer.segments")

    asyncio.run(load())
    lo, hi = start, start + HOUR_NS
    figures = []
    with PostgresMarketData(dsn) as md:

        def ours() -> int:
            return int(md.trades("kraken:BTC/USD", lo, hi, arrow=True).num_rows)

        def bare() -> int:
            got = segments.fetch(md.conn, "trades", "kraken", "BTC/USD", lo, hi)
            assert got is not None
            return int(got.num_rows)

        def row_read() -> int:
            where = "venue = $1 AND symbol = $2 AND ts_recv >= $3 AND ts_recv < $4"
            got = read.fetch(md.conn, "trades", where, ["kraken", "BTC/USD", lo, hi])
            return int(got.num_rows)

        for name, fn in (
            ("MarketData.trades, Arrow (ours)", ours),
            ("segments.fetch (ADBC)", bare),
            ("rows: read.fetch (ADBC)", row_read),
        ):
            rate, rows = median_rate(fn, repeat)
            figures.append((layout, name, rows, rate))

    async def peer_rows() -> int:
        conn: Any = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch(
                "SELECT * FROM alphapulse_buffer.trades WHERE venue = $1 AND symbol = $2"
                " AND ts_recv >= $3 AND ts_recv < $4 ORDER BY ts_recv",
                "kraken",
                "BTC/USD",
                lo,
                hi,
            )
        finally:
            await conn.close()
        return len(rows)

    rate, rows = median_rate(lambda: asyncio.run(peer_rows()), repeat)
    figures.append((layout, "asyncpg fetch, Records (peer)", rows, rate))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows and runs")
    args = parser.parse_args(argv)
    rows_per_symbol, repeat = (100_000, 3) if args.quick else (1_000_000, 5)
    with PostgresCluster() as cluster:
        figures = measure(cluster.create_database(), "partitioned", rows_per_symbol, repeat)
    try:
        ensure_timescaledb()
        with PostgresCluster(
            settings={"timescaledb.telemetry_level": "off"},
            shared_preload_libraries=["timescaledb"],
        ) as cluster:
            figures += measure(cluster.create_database(), "timescale", rows_per_symbol, repeat)
    except PostgresUnavailableError as exc:
        print(f"no TimescaleDB figures: {exc}")
    print(f"one symbol-hour of trades ({rows_per_symbol:,} rows of {len(SYMBOLS)} symbols' hour)")
    print(f"{'layout':<12} {'method':<34} {'rows':>9} {'rows/s (median)':>16}")
    for layout, name, n, rate in figures:
        print(f"{layout:<12} {name:<34} {n:>9} {rate:>16,.0f}")
    ours = [r for _, name, _, r in figures if name.endswith("(ours)")]
    print(f"target: >= {TARGET:,} rows/s: {'met' if min(ours) >= TARGET else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
