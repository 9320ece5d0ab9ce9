"""The crash journal's cost: appends alone, and lake writes with and without the journal.

The input is 1M ``trades`` rows (the lake crash test's generator, the engine's schema) in
batches of ``BATCH_ROWS``. Measured, in interleaved rounds (median of ``ROUNDS``):

- ``journal``: ``Journal.append`` of every batch, then ``close`` (the last group fsync);
- ``lake``: ``LakeWriter.write`` of every batch, then ``close`` (Parquet, fsync, rename);
- ``lake + journal``: both, the journal first, as the collector would do it;
- ``fsync per record`` (a few hundred records only): what group commit avoids.

The journal's cost on end-to-end throughput is ``lake + journal`` against ``lake``; the
issue's target is at most 10%. Journal directories sit beside the lake, on the same disk.

    .venv/bin/python -m tests.benchmarks.journal_bench
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from alphapulse.journal import Journal
from alphapulse.journal.format import encode
from alphapulse.lake import LakeWriter
from tests.lake_crash_child import trade_rows

ROWS = 1_000_000
ROUNDS = 3
PER_RECORD_FSYNCS = 300


def batches(batch_rows: int) -> list[pa.Table]:
    return [trade_rows(i, batch_rows, "kraken") for i in range(0, ROWS, batch_rows)]


def journal_only(base: Path, data: list[pa.Table]) -> None:
    with Journal(base / "_journal") as journal:
        for batch in data:
            journal.append("trades", batch)


def lake_only(base: Path, data: list[pa.Table]) -> None:
    with LakeWriter(base / "lake") as lake:
        for batch in data:
            lake.write("trades", batch)


def lake_and_journal(base: Path, data: list[pa.Table]) -> None:
    with Journal(base / "_journal") as journal, LakeWriter(base / "lake") as lake:
        for batch in data:
            journal.append("trades", batch)
            lake.write("trades", batch)


def fsync_per_record(base: Path, data: list[pa.Table]) -> float:
    """Seconds per record when every append waits for its own fsync (the naive journal)."""
    (base / "naive").mkdir()
    fd = os.open(base / "naive" / "log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        started = time.perf_counter()
        for seq, batch in enumerate(data[:PER_RECORD_FSYNCS], 1):
            os.write(fd, encode(seq, "trades", batch, None))
            os.fsync(fd)
        return (time.perf_counter() - started) / PER_RECORD_FSYNCS
    finally:
        os.close(fd)


def timed(run: Callable[[Path, list[pa.Table]], None], data: list[pa.Table]) -> float:
    base = Path(tempfile.mkdtemp(prefix="journal-bench-", dir=os.environ.get("BENCH_DIR")))
    try:
        started = time.perf_counter()
        run(base, data)
        return time.perf_counter() - started
    finally:
        shutil.rmtree(base)


def main() -> None:
    for batch_rows in (1_000, 10_000):
        data = batches(batch_rows)
        mb = sum(b.nbytes for b in data) / 1e6
        cases = {"journal": journal_only, "lake": lake_only, "lake + journal": lake_and_journal}
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(ROUNDS):
            for name, run in cases.items():
                times[name].append(timed(run, data))
        median = {name: statistics.median(t) for name, t in times.items()}
        print(f"\n{ROWS:,} trade rows in {len(data):,} batches of {batch_rows:,} ({mb:.0f} MB)")
        for name, seconds in median.items():
            print(
                f"  {name:<16} {seconds:6.3f} s  {len(data) / seconds:9,.0f} batches/s"
                f"  {mb / seconds:7.0f} MB/s  {ROWS / seconds / 1e6:5.2f} M rows/s"
            )
        cost = median["lake + journal"] / median["lake"] - 1
        extra = (median["lake + journal"] - median["lake"]) / ROWS * 1e6
        print(f"  journal's cost on the lake write: {cost:+.1%}, {extra:.2f} us per row")
        base = Path(tempfile.mkdtemp(prefix="journal-bench-", dir=os.environ.get("BENCH_DIR")))
        try:
            per = fsync_per_record(base, data)
        finally:
            shutil.rmtree(base)
        print(f"  fsync per record (naive):  {1 / per:9,.0f} batches/s ({per * 1e3:.2f} ms each)")


if __name__ == "__main__":
    main()
