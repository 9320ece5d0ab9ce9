"""Lakes for the query tests, written by the real LakeWriter: trades with the ties a venue
makes (the trades of one message share their ``ts_recv``), several venues, days, files per
partition and row groups per file."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa

from alphapulse import _core
from alphapulse.lake import LakeWriter
from alphapulse.lake.snapshot import bump_generation

NS_PER_DAY = 86_400 * 10**9
DAY0 = datetime(2026, 3, 2, tzinfo=UTC)
DAY0_NS = int(DAY0.timestamp()) * 10**9
TRADES_SCHEMA = pa.schema(_core.event_schema("trades"))


def trades(
    venue: str, symbols: list[str], start_ns: int, span_ns: int, n: int, seed: int
) -> pa.Table:
    """``n`` trades between ``start_ns`` and ``start_ns + span_ns``, in ts_recv order, a
    third of them sharing the ts_recv of the trade before (one message, several trades)."""
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(start_ns, start_ns + span_ns, n))
    same_message = rng.random(n) < 0.35
    same_message[0] = False
    for i in np.flatnonzero(same_message):
        ts[i] = ts[i - 1]
    symbol = rng.choice(symbols, n)
    price_raw = rng.integers(10_000, 20_000, n)
    size_raw = rng.integers(1, 5_000, n)
    stamps = pa.array(ts, pa.timestamp("ns", tz="UTC"))
    columns = {
        "ts_event": stamps,
        "ts_recv": stamps,
        "venue": pa.array([venue] * n),
        "instrument": pa.array([f"{s}@{venue}" for s in symbol]),
        "symbol": pa.array(symbol.tolist()),
        "price": pa.array(price_raw / 100),
        "size": pa.array(size_raw / 1000),
        "aggressor": pa.array(np.where(rng.random(n) < 0.5, "buy", "sell").tolist()),
        "trade_id": pa.array(np.arange(n), pa.uint64()),
        "price_raw": pa.array(price_raw, pa.int64()),
        "size_raw": pa.array(size_raw, pa.int64()),
        "price_precision": pa.array(np.full(n, 2), pa.uint8()),
        "size_precision": pa.array(np.full(n, 3), pa.uint8()),
    }
    return pa.table(columns, schema=TRADES_SCHEMA)


def message_batches(rows: pa.Table, count: int) -> list[pa.Table]:
    """``rows`` cut in about ``count`` batches, never inside a message (as the collector
    writes: one venue message's events go to the lake together)."""
    ts = rows.column("ts_recv").cast(pa.int64()).to_numpy()
    cuts = [0]
    for i in range(1, count):
        cut = i * len(ts) // count
        while 0 < cut < len(ts) and ts[cut] == ts[cut - 1]:
            cut += 1
        cuts.append(cut)
    cuts.append(len(ts))
    return [rows.slice(a, b - a) for a, b in pairwise(cuts) if b > a]


def write_trades_lake(
    root: Path,
    *,
    venues: tuple[str, ...] = ("kraken", "coinbase", "binance"),
    days: int = 3,
    rows_per_day: int = 6_000,
    batches: int = 4,
    row_group_rows: int = 500,
) -> pa.Table:
    """Trades for every venue and day, each partition written in ``batches`` files of
    several row groups; returns every row written, in the order written."""
    written = []
    with LakeWriter(root, roll_rows=10**9, row_group_rows=row_group_rows) as writer:
        for day in range(days):
            for v, venue in enumerate(venues):
                rows = trades(
                    venue,
                    ["BTC-USD", "ETH-USD"],
                    DAY0_NS + day * NS_PER_DAY,
                    NS_PER_DAY,
                    rows_per_day,
                    seed=day * 10 + v,
                )
                for batch in message_batches(rows, batches):
                    writer.write("trades", batch)
                    writer.flush()  # one file per batch: buckets span files
                written.append(rows)
    bump_generation(root)
    return pa.concat_tables(written)
