"""Parquet lake write throughput against pyarrow's own ParquetWriter, same batches, same run.

The input is 1M real ``trades`` rows (Binance trade frames through the engine) in 10k-row
record batches. Ours is ``LakeWriter`` with its defaults, timed from the first ``write`` to
the end of ``close``: partitioning, buffering, the ts_recv order check, zstd, 128Ki-row
groups, fsync and the atomic rename. The peer streams the same batches into one file with
``pyarrow.parquet.ParquetWriter`` (one row group per batch, as streaming writes do), with
zstd like ours and with pyarrow's default (snappy), and does not fsync.

    .venv/bin/python -m tests.benchmarks.bench_lake
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sys
import tempfile
from itertools import accumulate, count
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from alphapulse import _core
from alphapulse.lake import AsyncLakeWriter, LakeWriter
from tests.benchmarks.frames import START_NS, binance_trades
from tests.benchmarks.measure import Figure, Row, timed

ROWS = 1_000_000
BATCH_ROWS = 10_000
TARGET = 3e6


def trade_batches(rows: int = ROWS) -> list[pa.RecordBatch]:
    """``rows`` trades from the Binance engine as 10k-row record batches.

    Receive times are jittered (exponential gaps, 20 us on average) so that the timestamp
    columns compress like real ones, not like a perfect arithmetic sequence.
    """
    frames = binance_trades(rows).frames
    rng = random.Random(3)
    ts_recv = list(accumulate((int(rng.expovariate(1 / 20_000)) for _ in frames), initial=START_NS))
    engine = _core.Engine("binance")
    engine.feed_many(frames, ts_recv[1:])
    trades = pa.table(engine.take()["trades"]).combine_chunks()
    assert trades.num_rows == rows, trades.num_rows
    batches: list[pa.RecordBatch] = trades.to_batches(max_chunksize=BATCH_ROWS)
    return batches


class Scratch:
    """Fresh directories under one temporary root, removed by ``cleanup``."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="bench_lake_"))
        self._ids = count()
        self.last = self.base

    def new(self) -> Path:
        path = self.base / str(next(self._ids))
        path.mkdir()
        self.last = path
        return path

    def last_size_mb(self) -> float:
        """Bytes the last run left on disk, in MB."""
        return sum(p.stat().st_size for p in self.last.rglob("*.parquet")) / 1e6

    def cleanup(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


def lake_rate(batches: list[pa.RecordBatch], scratch: Scratch) -> Figure:
    def run(writer: LakeWriter) -> None:
        for batch in batches:
            writer.write("trades", batch)
        writer.close()

    return Figure.rate(timed(run, lambda: LakeWriter(scratch.new())), ROWS)


def async_lake_rate(batches: list[pa.RecordBatch], scratch: Scratch) -> Figure:
    async def produce(root: Path) -> None:
        async with AsyncLakeWriter(LakeWriter(root), max_queue=8) as lake:
            for batch in batches:
                await lake.put("trades", batch)

    return Figure.rate(timed(lambda root: asyncio.run(produce(root)), scratch.new), ROWS)


def pyarrow_rate(
    batches: list[pa.RecordBatch], scratch: Scratch, compression: str | None
) -> Figure:
    def run(path: Path) -> None:
        options = {} if compression is None else {"compression": compression}
        with pq.ParquetWriter(path, batches[0].schema, **options) as writer:
            for batch in batches:
                writer.write_batch(batch)

    return Figure.rate(timed(run, lambda: scratch.new() / "trades.parquet"), ROWS)


def run() -> list[Row]:
    print(f"Parquet lake writes ({ROWS:,} trades in {BATCH_ROWS:,}-row batches)")
    batches = trade_batches()
    scratch = Scratch()
    try:
        ours = lake_rate(batches, scratch)
        ours_mb = scratch.last_size_mb()
        zstd = pyarrow_rate(batches, scratch, "zstd")
        zstd_mb = scratch.last_size_mb()
        snappy = pyarrow_rate(batches, scratch, None)
        rows = [
            Row(
                "lake write rows/s (LakeWriter)",
                ours,
                TARGET,
                zstd,
                "pyarrow zstd",
                note=f"files: ours {ours_mb:.1f} MB, pyarrow zstd {zstd_mb:.1f} MB, snappy "
                f"{scratch.last_size_mb():.1f} MB (delta-encoded timestamps and ids)",
            ),
            Row("lake write rows/s vs pyarrow defaults", ours, peer=snappy, peer_name="pyarrow"),
            Row(
                "lake write rows/s (AsyncLakeWriter, from asyncio)",
                async_lake_rate(batches, scratch),
                TARGET,
                zstd,
                "pyarrow zstd",
            ),
        ]
    finally:
        scratch.cleanup()
    for row in rows:
        print(row.report())
    return rows


if __name__ == "__main__":
    run()
    sys.exit(0)
