"""What a lake holds, from its directories and Parquet footers alone (no data is read).

``info(root)`` gives, per table: partitions, files (compacted ones among them), rows,
bytes on disk and the first and last ``ts_recv`` (row-group statistics); and for the lake:
its schema version and the rows a live writer holds uncommitted (the tail).
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from alphapulse.lake.layout import MARKER, LakeError, check_file_metadata, read_marker
from alphapulse.lake.merge import is_compacted
from alphapulse.lake.snapshot import TableSnapshot, snapshot

#: Where a live writer publishes its uncommitted rows (``lake/tail.py``).
TAIL_DIR = "_tail"
TABLE_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
#: Snapshots taken of a table whose files a compaction swapped while it was being read.
ATTEMPTS = 3


@dataclass(frozen=True)
class TableInfo:
    name: str
    partitions: int
    files: int
    compacted_files: int
    rows: int
    bytes: int
    #: Nanoseconds since the epoch; None when no file has statistics for ts_recv.
    first_ts_recv: int | None
    last_ts_recv: int | None
    #: Rows a live writer holds for the table, not yet committed; None: no live writer.
    tail_rows: int | None
    #: Files whose footers do not read (cut short, emptied), each "<path> (<reason>)";
    #: their rows are not counted.
    damaged: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LakeInfo:
    root: Path
    schema_version: int
    tables: list[TableInfo]

    @property
    def live_writer(self) -> bool:
        return any(t.tail_rows is not None for t in self.tables)

    def to_json(self) -> dict[str, Any]:
        tables = []
        for t in self.tables:
            row = asdict(t)
            row["first_ts_recv"] = iso_ns(t.first_ts_recv)
            row["last_ts_recv"] = iso_ns(t.last_ts_recv)
            tables.append(row)
        return {
            "lake": str(self.root),
            "schema_version": self.schema_version,
            "live_writer": self.live_writer,
            "tables": tables,
        }


def lake_tables(root: Path) -> list[str]:
    """The table directories of the lake at ``root``; LakeError where there is no lake,
    LakeVersionError for a lake this code cannot read."""
    if not root.is_dir():
        hint = "" if root.exists() else " (give the lake directory: --lake or $ALPHAPULSE_LAKE)"
        raise LakeError(f"no lake at {root}{hint}")
    if read_marker(root) is None:
        raise LakeError(f"{root}: not a lake (no {MARKER})")
    return sorted(
        d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith((".", "_"))
    )


def info(root: str | os.PathLike[str]) -> LakeInfo:
    base = Path(root)
    names = sorted({*lake_tables(base), *_tail_tables(base)})
    marker = read_marker(base) or {}
    return LakeInfo(base, int(marker.get("schema_version", 0)), [_table(base, n) for n in names])


def _tail_tables(base: Path) -> list[str]:
    """Tables a live writer publishes rows of (``<lake>/_tail/<table>``), committed or not."""
    try:
        entries = list(os.scandir(base / TAIL_DIR))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [e.name for e in entries if e.is_dir() and TABLE_NAME.match(e.name)]


def _table(base: Path, name: str) -> TableInfo:
    for attempt in range(ATTEMPTS):
        snap = snapshot(base, name)
        try:
            return _summary(snap)
        except FileNotFoundError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _summary(snap: TableSnapshot) -> TableInfo:
    rows = size = 0
    first: int | None = None
    last: int | None = None
    damaged: list[str] = []
    for path in snap.files:
        try:
            meta = pq.read_metadata(path)
        except FileNotFoundError:
            raise
        except (OSError, pa.ArrowException) as e:
            damaged.append(f"{path} ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
            continue
        check_file_metadata(path, meta.metadata)
        rows += meta.num_rows
        size += path.stat().st_size
        lo, hi = _ts_range(meta)
        if lo is not None:
            first = lo if first is None else min(first, lo)
        if hi is not None:
            last = hi if last is None else max(last, hi)
    return TableInfo(
        name=snap.table,
        partitions=len({p.parent for p in snap.files}),
        files=len(snap.files),
        compacted_files=sum(is_compacted(p.name) for p in snap.files),
        rows=rows,
        bytes=size,
        first_ts_recv=first,
        last_ts_recv=last,
        tail_rows=None if snap.tail is None else snap.tail.num_rows,
        damaged=damaged,
    )


def _ts_range(meta: pq.FileMetaData) -> tuple[int | None, int | None]:
    """ts_recv's min and max over the row groups' statistics (raw: int64 nanoseconds)."""
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if "ts_recv" not in names:
        return None, None
    column = names.index("ts_recv")
    lo: int | None = None
    hi: int | None = None
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(column).statistics
        if stats is None or not stats.has_min_max:
            return None, None  # a group without statistics: the range is not known
        lo = stats.min_raw if lo is None else min(lo, stats.min_raw)
        hi = stats.max_raw if hi is None else max(hi, stats.max_raw)
    return lo, hi


def iso_ns(ns: int | None) -> str | None:
    """``2026-01-02T03:04:05.123456789Z``: nanoseconds, which datetime cannot hold."""
    if ns is None:
        return None
    seconds, nanos = divmod(ns, 10**9)
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


__all__ = ["LakeInfo", "TableInfo", "info", "iso_ns", "lake_tables"]
