"""Parquet lake writes against pyarrow doing the same work, and where the difference goes.

The input is 1M real ``trades`` rows (Binance trade frames through the engine) in 10k-row
record batches. Ours is ``LakeWriter`` with its defaults, timed from the first ``write`` to
the end of ``close`` (opening the lake is setup): checks, partitioning, buffering, the
ts_recv order check, Parquet, fsync and the atomic rename. The peer gets the lake's own
settings (zstd at its default level, 128Ki-row groups, statistics, page checksums, ts_recv
as the sorting column, delta-encoded timestamps and ids, dictionaries elsewhere) and its
durability (temp file, fsync, rename, directory fsync): the same file from the same batches
(``same_layout`` checks that the two files agree). pyarrow's defaults (snappy, a row group
per batch, no fsync) run beside them as a reference only.

``stages`` repeats LakeWriter's steps one by one with the lake's own functions, in the same
rounds, so that a gap between LakeWriter and the peer can be put on a step.

    .venv/bin/python -m tests.benchmarks.bench_lake
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import sys
import tempfile
from collections import defaultdict
from itertools import accumulate, count
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from alphapulse import _core
from alphapulse.lake import AsyncLakeWriter, LakeWriter, layout, writer
from tests.benchmarks.frames import START_NS, binance_trades
from tests.benchmarks.measure import FULL, Figure, Plan, Row, Timing, interleaved, stopwatch, timing

ROWS = 1_000_000
BATCH_ROWS = 10_000
TARGET = 3e6

WORK = {
    "ours (lake)": "LakeWriter.write per 10k-row batch, then close(): schema check/cast, "
    "venue/date split, buffer, concat, ts_recv order check, Parquet, fsync, rename, dir fsync",
    "pyarrow lake settings": "Table.from_batches + pq.write_table with the lake's options "
    "(zstd, 128Ki-row groups, page checksums, sorting column, delta/dictionary encodings, "
    "statistics), temp file, fsync, rename, dir fsync",
    "pyarrow defaults": "pq.ParquetWriter streaming the batches with defaults (snappy, a row "
    "group per batch, dictionaries everywhere), no fsync: reference only",
}


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

    def new(self) -> Path:
        path = self.base / str(next(self._ids))
        path.mkdir()
        return path

    def cleanup(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


def lake_options(schema: pa.Schema) -> dict[str, Any]:
    """``pq.write_table`` options as ``LakeWriter._commit`` passes them (``same_layout``
    fails loudly if the lake's change and these do not follow)."""
    delta = writer.delta_encoded(schema)
    return {
        "compression": "zstd",
        "row_group_size": writer.ROW_GROUP_ROWS,
        "use_dictionary": [n for n in schema.names if n not in delta],
        "column_encoding": dict.fromkeys(delta, "DELTA_BINARY_PACKED"),
        "write_page_checksum": True,
        "sorting_columns": [pq.SortingColumn(schema.get_field_index("ts_recv"))],
    }


def durable_write(table: pa.Table, directory: Path) -> Path:
    """The peer: the lake's Parquet options, then the lake's commit protocol."""
    final = directory / "trades.parquet"
    temp = directory / ".trades.parquet.tmp"
    pq.write_table(table, temp, **lake_options(table.schema))
    layout.fsync_file(temp)
    temp.rename(final)
    layout.fsync_dir(directory)
    return final


class Stages:
    """LakeWriter's steps timed one by one (per step, one entry per repetition)."""

    def __init__(self, batches: list[pa.RecordBatch]) -> None:
        self.batches = batches
        self.times: dict[str, list[Timing]] = defaultdict(list)

    def run(self, directory: Path) -> Timing:
        total = stopwatch()
        lap = stopwatch()
        spent: dict[str, Timing] = defaultdict(lambda: Timing(0, 0))

        def step(name: str) -> None:
            nonlocal lap
            wall, cpu = lap()
            spent[name] = Timing(spent[name].wall + wall, spent[name].cpu + cpu)
            lap = stopwatch()

        parts: list[pa.Table] = []
        for batch in self.batches:
            table = writer.checked_table("trades", batch)
            step("schema check/cast (checked_table)")
            split = writer.split_partitions(table)
            parts.extend(part for _venue, _day, part in split)
            step("venue/date split (split_partitions)")
        # A new lake's first file creates its partition's directories, each made durable in
        # its parent; a running lake does this once per venue and day.
        directory = layout.partition_dir(directory, "trades", split[0][0], split[0][1])
        layout.make_dirs(directory)
        step("partition directories (make_dirs, 3 dir fsyncs)")
        table = pa.concat_tables(parts)
        step("concat_tables")
        table = writer.sorted_by_ts_recv(table)
        step("ts_recv order check (sorted_by_ts_recv)")
        metadata = {**(table.schema.metadata or {}), **layout.file_metadata("trades")}
        table = table.replace_schema_metadata(metadata)
        temp = directory / ".part.parquet.tmp"
        pq.write_table(table, temp, **lake_options(table.schema))
        step("Parquet encode + write (pq.write_table)")
        layout.fsync_file(temp)
        temp.rename(directory / "part.parquet")
        layout.fsync_dir(directory)
        step("fsync + rename + dir fsync")
        for name, each in spent.items():
            self.times[name].append(each)
        return total()


def same_layout(ours: Path, peer: Path) -> None:
    """The two files were written with the same settings: else the comparison is void."""

    def shape(path: Path) -> list[object]:
        meta = pq.ParquetFile(path).metadata
        groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
        columns = [
            (c.path_in_schema, c.compression, sorted(c.encodings), c.is_stats_set)
            for g in groups[:1]
            for c in (g.column(j) for j in range(g.num_columns))
        ]
        return [[g.num_rows for g in groups], [g.sorting_columns for g in groups], columns]

    if shape(ours) != shape(peer):
        raise AssertionError(f"lake and peer files differ:\n{shape(ours)}\n{shape(peer)}")


def run(plan: Plan = FULL) -> list[Row]:
    rows_n = plan.size(ROWS, least=BATCH_ROWS)
    print(
        f"Parquet lake writes ({rows_n:,} trades in {BATCH_ROWS:,}-row batches), interleaved, "
        f"{plan.repeats} rounds"
    )
    batches = trade_batches(rows_n)
    scratch = Scratch()
    stages = Stages(batches)

    def lake(lake_writer: LakeWriter) -> None:
        for batch in batches:
            lake_writer.write("trades", batch)
        lake_writer.close()

    async def produce(root: Path) -> None:
        async with AsyncLakeWriter(LakeWriter(root), max_queue=8) as lake:
            for batch in batches:
                await lake.put("trades", batch)

    def defaults(path: Path) -> None:
        with pq.ParquetWriter(path / "trades.parquet", batches[0].schema) as out:
            for batch in batches:
                out.write_batch(batch)

    try:
        times = interleaved(
            {
                "ours": timing(lake, lambda: LakeWriter(scratch.new())),
                "async": timing(lambda root: asyncio.run(produce(root)), scratch.new),
                "lake settings": timing(
                    lambda d: durable_write(pa.Table.from_batches(batches), d), scratch.new
                ),
                "defaults": timing(defaults, scratch.new),
                "stages": lambda: stages.run(scratch.new()),
            },
            plan.repeats,
        )
        ours_file = next(scratch.base.glob("*/trades/*/*/part-*.parquet"))
        peer_file = durable_write(pa.Table.from_batches(batches), scratch.new())
        same_layout(ours_file, peer_file)
        mb = [path.stat().st_size / 1e6 for path in (ours_file, peer_file)]
        sizes = f"files: ours {mb[0]:.1f} MB, pyarrow {mb[1]:.1f} MB"
    finally:
        scratch.cleanup()
    ours = Figure.rate(times["ours"], rows_n)
    rows = [
        Row(
            "lake write rows/s (LakeWriter)",
            ours,
            TARGET,
            Figure.rate(times["lake settings"], rows_n),
            "pyarrow lake settings",
            note=sizes,
        ),
        Row(
            "lake write rows/s (AsyncLakeWriter, from asyncio)",
            Figure.rate(times["async"], rows_n),
            TARGET,
            Figure.rate(times["lake settings"], rows_n),
            "pyarrow lake settings",
        ),
        Row(
            "lake write rows/s (LakeWriter)",
            ours,
            peer=Figure.rate(times["defaults"], rows_n),
            peer_name="pyarrow defaults",
        ),
    ]
    for row in rows:
        print(row.report())
    print(breakdown(stages, times))
    return rows


def breakdown(stages: Stages, times: dict[str, list[Timing]]) -> str:
    """Median ms of each of LakeWriter's steps, against LakeWriter's and the peer's totals."""

    def line(name: str, each: list[Timing]) -> str:
        wall = statistics.median(t.wall for t in each) / 1e6
        cpu = statistics.median(t.cpu for t in each) / 1e6
        return f"    {name:<48} {wall:8.1f} {cpu:8.1f}"

    return "\n".join(
        [
            "  where LakeWriter's time goes (its steps one by one; median ms, wall and CPU):",
            *(line(name, each) for name, each in stages.times.items()),
            line("sum of the steps", times["stages"]),
            line("LakeWriter, whole", times["ours"]),
            line("pyarrow with the lake settings, whole", times["lake settings"]),
        ]
    )


if __name__ == "__main__":
    run()
    sys.exit(0)
