"""Event batches for the buffer's tests and benchmark: every column of a lake table filled
with values that a lossy path would change (nanoseconds, uint64 above 2^63, nulls, UTF-8,
empty and long lists), and the buffer's rows read back as Arrow in the lake's types."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyarrow as pa

from alphapulse.buffer.schema import DAY_NS, Table

WORDS = ["BTC/USD", "ETH/USD", "SOL/USD", "été ☃", "", "a" * 300]
# What a collector's trades carry (the benchmark's rows): short symbols and sides.
MARKET_WORDS = ["BTC/USD", "ETH/USD", "SOL/USD", "XBT/USD", "buy", "sell"]


def batch(
    t: Table,
    rows: int,
    seed: int = 0,
    start_ns: int | None = None,
    words: list[str] = WORDS,
) -> pa.Table:
    """``rows`` rows of table ``t``; ts_recv distinct and increasing from ``start_ns``;
    text drawn from ``words`` (by default with the awkward ones: empty, long, non-ASCII)."""
    rng = np.random.default_rng(seed)
    start = start_ns if start_ns is not None else time.time_ns() - DAY_NS // 48
    arrays: list[pa.Array] = []
    for col in t.columns:
        kind = col.arrow
        if col.name == "ts_recv":
            values: Any = start + np.arange(rows, dtype=np.int64) * 997 + 1
            arr = pa.array(values, pa.int64()).cast(kind)
        elif col.name in ("venue",):
            arr = pa.array(rng.choice(["kraken", "coinbase", "binance"], rows), kind)
        elif pa.types.is_timestamp(kind) or pa.types.is_duration(kind):
            arr = pa.array(start + rng.integers(-(10**12), 10**12, rows), pa.int64()).cast(kind)
        elif pa.types.is_string(kind):
            arr = pa.array(rng.choice(words, rows), kind)
        elif pa.types.is_list(kind):
            arr = pa.array(
                [list(rng.choice(words, int(n))) for n in rng.integers(0, 4, rows)], kind
            )
        elif pa.types.is_floating(kind):
            arr = pa.array(rng.standard_normal(rows) * 1e4, kind)
        elif pa.types.is_boolean(kind):
            arr = pa.array(rng.integers(0, 2, rows).astype(bool), kind)
        elif kind == pa.uint64():
            arr = pa.array(rng.integers(0, 2**64 - 1, rows, dtype=np.uint64, endpoint=True), kind)
        elif kind == pa.uint8():
            arr = pa.array(rng.integers(0, 256, rows, dtype=np.uint8), kind)
        elif kind == pa.int64():
            arr = pa.array(rng.integers(-(2**63), 2**63 - 1, rows, dtype=np.int64), kind)
        else:
            raise TypeError(f"no test values for {kind}")
        if col.nullable and rows:
            mask = rng.random(rows) < 0.2
            arr = pa.array(arr.to_pylist(), kind, mask=mask)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=t.arrow)


def from_rows(t: Table, rows: list[Any]) -> pa.Table:
    """asyncpg records of ``t`` back in the lake's Arrow types."""
    arrays = []
    for col in t.columns:
        values = [r[col.name] for r in rows]
        kind = col.arrow
        if pa.types.is_timestamp(kind) or pa.types.is_duration(kind) or kind == pa.uint64():
            arr = pa.array(values, pa.int64()).cast(kind, safe=False)
        else:
            arr = pa.array(values, kind)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=t.arrow)
