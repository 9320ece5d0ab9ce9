"""Compaction rows/s on the generated lake, against DuckDB sorting the same partitions.

Every repetition compacts a fresh copy of the lake (the copy is setup, not timed): ours is
``alphapulse.lake.compact.compact(copy, older_than=0, grace=0)`` (ledger, merge sorted by
symbol and ts_recv, checksummed reads, fsyncs, swap, deletion of the replaced files; no
grace wait, which only spares readers a retry). The peer is DuckDB doing the merge alone:
per partition, ``COPY (select * from read_parquet(files) order by symbol, ts_recv) TO
file (zstd, 128Ki-row groups)``, no durability, the originals left in place.

The last copy compacted by ours is kept beside the lake it came from
(``<lake>-compacted``) for the bars comparisons on a compacted lake; a run without the
compaction section reuses it, or compacts a copy once, untimed, when there is none.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from itertools import count
from pathlib import Path

import duckdb

from tests.benchmarks.measure import Figure, Plan, Row, interleaved, timing

TARGET = 3e6

WORK = {
    "ours (compact)": "alphapulse.lake.compact.compact(copy of the lake, older_than=0, "
    "grace=0): checksummed reads, stable sort by symbol, ts_recv, lake encodings, ledger, "
    "fsync, swap, deletion",
    "duckdb COPY sorted": "per partition COPY (select * from read_parquet(its files) order "
    "by symbol, ts_recv) TO one file (zstd, 128Ki-row groups); no fsync, nothing deleted",
}


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def lake_rows(lake: Path) -> int:
    glob = f"{lake}/trades/*/*/*.parquet"
    with duckdb.connect() as con:
        row = con.execute(f"select count(*) from read_parquet('{glob}')").fetchone()
    assert row is not None
    return int(row[0])


def duckdb_sorted_copy(lake: Path, out: Path) -> None:
    """The peer: each partition's files as one sorted file, by DuckDB."""
    with duckdb.connect() as con:
        for directory in sorted(lake.glob("trades/venue=*/date=*")):
            target = out / directory.relative_to(lake) / "sorted.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            con.execute(
                f"copy (select * from read_parquet('{directory}/*.parquet') "
                f"order by symbol, ts_recv) to '{target}' "
                "(format parquet, compression zstd, row_group_size 131072)"
            )


def compacted_path(raw: Path) -> Path:
    return raw.with_name(raw.name + "-compacted")


def keep(lake: Path, raw: Path) -> Path:
    """``lake`` (compacted) as the kept compacted copy of ``raw``."""
    kept = compacted_path(raw)
    remove(kept)
    return lake.rename(kept)


def compacted_lake(raw: Path, scratch: Path) -> Path | None:
    """The kept compacted copy of ``raw``, made now if there is none (None: compaction is
    not merged)."""
    kept = compacted_path(raw)
    if kept.exists():
        return kept
    try:
        from alphapulse.lake.compact import compact
    except ImportError:
        return None
    copy = scratch / "to-compact"
    shutil.copytree(raw, copy)
    compact(copy, older_than=timedelta(0), grace=0)
    return keep(copy, raw)


def run(raw: Path, scratch: Path, plan: Plan) -> list[Row]:
    """The compaction rows; the last copy ours compacted is kept (``compacted_path``)."""
    try:
        from alphapulse.lake.compact import compact
    except ImportError:
        print("  compaction rows/s: not measured: compaction not merged")
        return []
    rows_n = lake_rows(raw)
    ids = count()
    copies: list[Path] = []
    #: The copy ours compacted last, kept for the bars comparisons.
    compacted: list[Path] = [scratch / "none"]

    def fresh_copy() -> Path:
        path = scratch / f"copy-{next(ids)}"
        shutil.copytree(raw, path)
        copies.append(path)
        for old in copies[:-2]:  # keep the disk use at two lakes (and a peer's output)
            if old != compacted[-1]:
                remove(old)
            remove(old.with_name(old.name + "-duckdb"))
        return path

    def ours(lake: Path) -> None:
        report = compact(lake, older_than=timedelta(0), grace=0)
        if report.rows != rows_n or report.problems:
            raise AssertionError(f"compaction merged {report.rows} of {rows_n}: {report}")
        if compacted[-1] != lake:
            remove(compacted[-1])
        compacted[-1] = lake

    def peer(lake: Path) -> None:
        duckdb_sorted_copy(lake, lake.with_name(lake.name + "-duckdb"))

    repeats = max(2, plan.repeats // 3)
    times = interleaved(
        {"ours": timing(ours, fresh_copy), "peer": timing(peer, fresh_copy)}, repeats
    )
    kept = keep(compacted[-1], raw)
    for path in copies:
        remove(path)
        remove(path.with_name(path.name + "-duckdb"))
    files = len(list(kept.glob("trades/*/*/*.parquet")))
    row = Row(
        f"compaction rows/s, {rows_n / 1e6:g}M trades",
        Figure.rate(times["ours"], rows_n),
        TARGET,
        Figure.rate(times["peer"], rows_n),
        "duckdb COPY sorted",
        note=f"{len(list(raw.glob('trades/*/*/*.parquet')))} files -> {files}; "
        "each repetition on a fresh copy of the lake",
    )
    print(row.report(), flush=True)
    return [row]
