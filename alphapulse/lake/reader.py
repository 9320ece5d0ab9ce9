"""Reading the lake back: one table, pruned by venue and time, every file's version checked."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from alphapulse import _core
from alphapulse.lake.layout import (
    EPOCH,
    NS_PER_DAY,
    LakeError,
    check_file_metadata,
    check_table_name,
    parse_partition,
    read_marker,
)
from alphapulse.lake.snapshot import committed_files

#: A point in time: an aware datetime (a naive one is read as UTC), a date (its midnight
#: UTC) or integer nanoseconds since the epoch.
Instant = datetime | date | int

#: How the partition directories read as columns; matches what DuckDB infers.
PARTITIONING = ds.partitioning(
    pa.schema([("venue", pa.string()), ("date", pa.date32())]), flavor="hive"
)


def tables(root: str | os.PathLike[str]) -> list[str]:
    """The tables that have at least one committed file, sorted."""
    base = Path(root)
    if not base.is_dir():
        return []
    read_marker(base)
    return sorted(
        d.name
        for d in base.iterdir()
        if d.is_dir() and not d.name.startswith((".", "_")) and _files(d)
    )


def read_table(
    root: str | os.PathLike[str],
    table: str,
    *,
    venue: str | Iterable[str] | None = None,
    start: Instant | None = None,
    end: Instant | None = None,
    columns: list[str] | None = None,
) -> pa.Table:
    """Rows of ``table`` with ``start <= ts_recv < end``, in ts_recv order (stable).

    ``venue`` keeps one venue or several. Partitions outside the venues and dates asked for
    are never opened; every file that is read must carry a schema version this code
    understands (LakeVersionError names the file otherwise). The columns are the table's
    own, as written (``venue`` included); ``date`` is a directory only. Files whose schemas
    differ (a column added later) are read with their schemas unified, missing values null.
    A known event table with no rows in range reads as an empty table of its schema.
    """
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"no lake at {base}")
    read_marker(base)
    check_table_name(table)
    lo = None if start is None else _ns(start)
    hi = None if end is None else _ns(end)
    venues = None if venue is None else {venue} if isinstance(venue, str) else set(venue)

    every = _files(base / table)
    chosen = [p for p in every if _wanted(p, venues, lo, hi)]
    if not chosen:
        return _empty(table, every, columns)
    schemas = []
    for path in chosen:
        schema = pq.read_schema(path)
        check_file_metadata(path, schema.metadata)
        schemas.append(schema)
    schema = pa.unify_schemas(schemas)
    dataset = ds.dataset(
        [str(p) for p in chosen],
        schema=schema,
        format=ds.ParquetFileFormat(
            default_fragment_scan_options=ds.ParquetFragmentScanOptions(
                page_checksum_verification=True
            )
        ),
        partitioning=PARTITIONING,
        partition_base_dir=str(base / table),
    )
    ts_type = schema.field("ts_recv").type
    condition = None
    if lo is not None:
        condition = ds.field("ts_recv") >= pa.scalar(lo, pa.int64()).cast(ts_type)
    if hi is not None:
        before = ds.field("ts_recv") < pa.scalar(hi, pa.int64()).cast(ts_type)
        condition = before if condition is None else condition & before
    needed = None if columns is None else list(dict.fromkeys([*columns, "ts_recv"]))
    result = dataset.to_table(columns=needed, filter=condition)
    result = result.sort_by([("ts_recv", "ascending")])
    return result if columns is None else result.select(columns)


def _files(table_dir: Path) -> list[Path]:
    """Committed files of one table; temp files of a writer at work never match, and the
    files a compaction has replaced are left out (``snapshot.committed_files``)."""
    out: list[Path] = []
    for directory in sorted(table_dir.glob("venue=*/date=*")):
        out.extend(committed_files(directory)[0])
    return out


def _wanted(path: Path, venues: set[str] | None, lo: int | None, hi: int | None) -> bool:
    partition = parse_partition(path)
    if partition is None:
        return False
    venue, day = partition
    if venues is not None and venue not in venues:
        return False
    day_start = _ns(day)
    day_end = day_start + NS_PER_DAY
    return (lo is None or day_end > lo) and (hi is None or day_start < hi)


def _empty(table: str, every: list[Path], columns: list[str] | None) -> pa.Table:
    if every:
        schema = pq.read_schema(every[0])
        check_file_metadata(every[0], schema.metadata)
    elif table in _core.TABLES:
        schema = pa.schema(_core.event_schema(table))
    else:
        raise LakeError(f"the lake has no table {table!r}")
    empty = schema.empty_table()
    return empty if columns is None else empty.select(columns)


def _ns(instant: Instant) -> int:
    if isinstance(instant, int):
        return instant
    if not isinstance(instant, datetime):
        return (instant - EPOCH).days * NS_PER_DAY
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    delta = instant - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta // timedelta(microseconds=1)) * 1000
