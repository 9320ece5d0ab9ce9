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
        schema = _read_schema(table, path)
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
    try:
        result = dataset.to_table(columns=needed, filter=condition)
    except (OSError, pa.ArrowException) as e:
        # Damage inside a page shows only now; pyarrow's message may not name the file.
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise LakeError(f"{table}: reading {len(chosen)} lake file(s) failed: {first}") from e
    result = result.sort_by([("ts_recv", "ascending")])
    return result if columns is None else result.select(columns)


def damage_of(path: Path) -> str | None:
    """Why ``path`` is not a readable Parquet file (None when its footer reads): a file
    cut short or emptied by a crash or a disk. Only the footer is read, so this is for the
    failure path, after DuckDB or pyarrow refused a list of files."""
    try:
        pq.read_metadata(path)
    except FileNotFoundError:
        return None  # gone under a compaction: not damage
    except (OSError, pa.ArrowException) as e:
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return None


#: Files whose ends ``check_ends`` found whole: a lake file's name always means the same
#: bytes, so each is read once per process (13 us a file). Bounded: cleared when full.
_WHOLE: set[Path] = set()
_WHOLE_MAX = 200_000


def check_ends(table: str, files: Iterable[Path]) -> None:
    """LakeError naming the first of ``files`` not ending in Parquet's magic bytes (cut
    short or emptied): four bytes a file not checked before, for readers that would
    otherwise fail later (a lazy scan) without naming the file."""
    if len(_WHOLE) > _WHOLE_MAX:
        _WHOLE.clear()
    for path in files:
        if path in _WHOLE:
            continue
        size = 0
        try:
            with path.open("rb") as f:
                size = f.seek(0, os.SEEK_END)
                if size >= 12:
                    f.seek(-4, os.SEEK_END)
                    if f.read(4) == b"PAR1":
                        _WHOLE.add(path)
                        continue
        except FileNotFoundError:
            continue
        reason = damage_of(path) or f"{size} bytes, no Parquet footer"
        raise LakeError(damage_message(table, path, reason))


def damaged_files(files: Iterable[Path]) -> list[tuple[Path, str]]:
    """The files of ``files`` whose footers do not read, each with the reason."""
    found = []
    for path in files:
        reason = damage_of(path)
        if reason is not None:
            found.append((path, reason))
    return found


def damage_message(table: str, path: Path, reason: str) -> str:
    """The one line that names a damaged file and says what to do."""
    return (
        f"{table}: damaged lake file {path} ({reason}): move it out of the lake or "
        "restore it, then query again"
    )


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


def _read_schema(table: str, path: Path) -> pa.Schema:
    try:
        return pq.read_schema(path)
    except (OSError, pa.ArrowException) as e:
        reason = damage_of(path) or str(e).splitlines()[0]
        raise LakeError(damage_message(table, path, reason)) from None


def _empty(table: str, every: list[Path], columns: list[str] | None) -> pa.Table:
    if every:
        schema = _read_schema(table, every[0])
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
