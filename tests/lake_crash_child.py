"""Writes trades into a lake as fast as it can until it is killed (test_lake's crash test).

    python -m tests.lake_crash_child ROOT RUN

Prints ``ready <orphans removed>`` once the lake is open, then ``<path> <rows>`` for each
committed file, flushed, from ``on_commit`` (after the rename and the directory fsync).
Every row follows the ``expected_*`` rules, so the parent can tell an intact file from a
damaged one, and trade ids are unique across runs, so it can tell a row written twice.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from alphapulse import _core
from alphapulse.lake import LakeWriter

#: Ten seconds before midnight UTC (2026-01-02): the partitions change date in every run.
START_NS = 1_767_311_990_000_000_000
#: Runs take their ids from ``run * ID_SPAN``; no run gets near that many rows.
ID_SPAN = 10_000_000
BATCH_ROWS = 4_000
ROLL_ROWS = 24_000
VENUES = ("kraken", "coinbase")


def expected_ts_recv(trade_id: int) -> int:
    return START_NS + (trade_id % ID_SPAN) * 1_000_000


def expected_price_raw(trade_id: int) -> int:
    return 3 * trade_id + 17


def trade_rows(first_id: int, rows: int, venue: str) -> pa.Table:
    """Trades with ids from ``first_id``, each row following the ``expected_*`` rules."""
    ids = pa.array(range(first_id, first_id + rows), pa.int64())
    offsets = pa.array(range(first_id % ID_SPAN, first_id % ID_SPAN + rows), pa.int64())
    ts = pc.add(pc.multiply(offsets, 1_000_000), START_NS).cast(pa.timestamp("ns", "UTC"))
    price_raw = pc.add(pc.multiply(ids, 3), 17)
    columns = {
        "ts_event": ts,
        "ts_recv": ts,
        "venue": pa.array([venue] * rows),
        "instrument": pa.array([f"BTC-USD@{venue}"] * rows),
        "symbol": pa.array(["BTC-USD"] * rows),
        "price": pc.divide(price_raw.cast(pa.float64()), 100.0),
        "size": pa.array([0.5] * rows),
        "aggressor": pa.array(["buy"] * rows),
        "trade_id": ids.cast(pa.uint64()),
        "price_raw": price_raw,
        "size_raw": pa.array([50] * rows, pa.int64()),
        "price_precision": pa.array([2] * rows, pa.uint8()),
        "size_precision": pa.array([2] * rows, pa.uint8()),
    }
    return pa.table(columns, schema=pa.schema(_core.event_schema("trades")))


def main(root: str, run: int) -> None:
    def committed(path: Path, table: str, rows: int) -> None:
        print(f"{path} {rows}", flush=True)

    writer = LakeWriter(root, roll_rows=ROLL_ROWS, roll_seconds=0.5, on_commit=committed)
    print(f"ready {writer.orphans_removed}", flush=True)
    next_id = run * ID_SPAN
    while True:
        for venue in VENUES:
            writer.write("trades", trade_rows(next_id, BATCH_ROWS, venue))
            next_id += BATCH_ROWS


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
