"""The synchronous lake writer: buffers per partition, rolls files, commits them atomically."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from alphapulse import _core
from alphapulse.lake.layout import (
    LOCK,
    MARKER,
    TEMP_GLOB,
    LakeLockedError,
    LakeStorageError,
    as_table,
    check_table_name,
    check_venue,
    file_metadata,
    fsync_dir,
    fsync_file,
    make_dirs,
    part_name,
    partition_dir,
    read_marker,
    temp_name,
    write_marker,
)

log = logging.getLogger(__name__)

#: ``on_commit(path, table, rows)``: called after a file is durable under its final name.
OnCommit = Callable[[Path, str, int], None]

MiB = 1 << 20
#: DuckDB parallelises a scan by row group and writes ~122,880 rows per group itself.
ROW_GROUP_ROWS = 128 * 1024


def checked_table(name: str, data: object) -> pa.Table:
    """``data`` as a pyarrow Table that the lake can partition, or ValueError saying why.

    The rows of a known event table (``_core.TABLES``) arriving with the table's columns
    but other types, as from polars (``string_view``, every field nullable), are cast to
    the published schema, so that every file of a table has the same schema. Elsewhere,
    string and binary views and large variants become plain strings and binaries.
    """
    table = _conformed(name, as_table(data))
    schema = table.schema
    for column in ("ts_recv", "venue"):
        if schema.get_field_index(column) < 0:
            raise ValueError(
                f"a lake batch needs a {column!r} column (partitions are venue and the UTC "
                f"date of ts_recv); got columns {schema.names}"
            )
    if not pa.types.is_timestamp(schema.field("ts_recv").type):
        raise ValueError(f"ts_recv must be a timestamp, not {schema.field('ts_recv').type}")
    if not pa.types.is_string(schema.field("venue").type):
        raise ValueError(f"venue must be a string column, not {schema.field('venue').type}")
    for column in ("ts_recv", "venue"):
        if table.column(column).null_count:
            raise ValueError(f"{column} has nulls: such rows have no partition")
    return table


def _conformed(name: str, table: pa.Table) -> pa.Table:
    if name in _core.TABLES:
        published = pa.schema(_core.event_schema(name))
        if table.schema.names == published.names:
            if table.schema.equals(published):
                return table
            try:
                return table.cast(published)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                raise ValueError(f"rows do not fit the {name} schema: {exc}") from None
    plain = pa.schema([f.with_type(_PLAIN.get(f.type, f.type)) for f in table.schema])
    return table if plain.equals(table.schema) else table.cast(plain)


_PLAIN = {
    pa.string_view(): pa.string(),
    pa.large_string(): pa.string(),
    pa.binary_view(): pa.binary(),
    pa.large_binary(): pa.binary(),
}


def split_partitions(table: pa.Table) -> list[tuple[str, date, pa.Table]]:
    """``(venue, UTC date of ts_recv, rows)`` per partition, rows in their original order."""
    ts = table.column("ts_recv")
    # Drop the time zone first: a cast to date32 would otherwise use local time.
    days = pc.cast(pc.cast(ts, pa.timestamp(ts.type.unit)), pa.date32())
    venues = table.column("venue")
    day_range, venue_range = pc.min_max(days), pc.min_max(venues)
    if day_range["min"] == day_range["max"] and venue_range["min"] == venue_range["max"]:
        return [(check_venue(venue_range["min"].as_py()), day_range["min"].as_py(), table)]
    out = []
    for venue in pc.unique(venues).to_pylist():
        check_venue(venue)
        of_venue = pc.equal(venues, venue)
        for day in pc.unique(pc.filter(days, of_venue)).to_pylist():
            out.append((venue, day, table.filter(pc.and_(of_venue, pc.equal(days, day)))))
    return out


def sorted_by_ts_recv(table: pa.Table) -> pa.Table:
    """``table`` in ts_recv order; a stable sort, skipped when it is already in order."""
    ts = table.column("ts_recv")
    if len(ts) < 2 or pc.all(pc.less_equal(ts[:-1], ts[1:])).as_py():
        return table
    return table.take(pc.sort_indices(table, sort_keys=[("ts_recv", "ascending")]))


def delta_encoded(schema: pa.Schema) -> list[str]:
    """Columns stored DELTA_BINARY_PACKED rather than dictionary-encoded.

    Timestamps (sorted by ts_recv, so their deltas are small) and the uint64 counters of
    our tables (trade ids, sequence numbers) have nearly one value per row: a dictionary
    grows to its page limit and falls back, which cost twice the time and half again the
    size of delta encoding on the benchmark's trades. Everything else (venues, symbols,
    prices, precisions) repeats and keeps its dictionary.
    """
    return [
        f.name
        for f in schema
        if pa.types.is_timestamp(f.type)
        or pa.types.is_duration(f.type)
        or pa.types.is_uint64(f.type)
    ]


def first_ts_ns(table: pa.Table) -> int:
    value: int = table.column("ts_recv")[0].cast(pa.timestamp("ns")).value
    return value


@dataclass
class _Buffer:
    """Rows waiting for one partition's next file."""

    schema: pa.Schema
    since: float = field(default_factory=time.monotonic)
    parts: list[pa.Table] = field(default_factory=list)
    rows: int = 0
    nbytes: int = 0


_Key = tuple[str, str, date]  # (table, venue, date)


class LakeWriter:
    """Writes event tables into the lake at ``root``; see the package docstring.

    A partition's buffer becomes a file when it holds ``roll_rows`` rows or ``roll_bytes``
    bytes (Arrow, in memory), when its oldest row has waited ``roll_seconds`` (checked on
    every ``write`` and by ``commit_due``), on ``flush`` and on ``close``. When all buffers
    together pass ``max_buffer_bytes``, the largest is committed early. One ``write`` larger
    than ``roll_rows`` becomes one file.

    ``lead_table`` (the collector's ``events``) is the audit trail of the data: before
    another table's file is committed, each of the lead table's partition buffers is
    committed first when that partition (a venue's events, or the service's own, on a day)
    has no file yet or when its rows are ``lead_seconds`` old. So a session's first data
    file never lands without the events that say where it came from, every venue's config
    and connect as well as service_start (a kill -9 right after it keeps both), and the
    trail is never more than ``lead_seconds`` behind a data file, without a small events
    file beside every data file.

    A commit the file system refuses raises LakeStorageError naming the directory.

    Not thread-safe: one thread drives a writer (``AsyncLakeWriter`` runs one in its thread).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        roll_rows: int = 1_000_000,
        roll_bytes: int = 128 * MiB,
        roll_seconds: float = 300.0,
        max_buffer_bytes: int = 512 * MiB,
        row_group_rows: int = ROW_GROUP_ROWS,
        on_commit: OnCommit | None = None,
        lead_table: str | None = None,
        lead_seconds: float = 5.0,
    ) -> None:
        if min(roll_rows, roll_bytes, max_buffer_bytes, row_group_rows) < 1 or roll_seconds < 0:
            raise ValueError("roll sizes must be positive and roll_seconds not negative")
        self.root = Path(root)
        self.roll_rows = roll_rows
        self.roll_bytes = roll_bytes
        self.roll_seconds = roll_seconds
        self.max_buffer_bytes = max_buffer_bytes
        self.row_group_rows = row_group_rows
        self.on_commit = on_commit
        self.lead_table = lead_table
        self.lead_seconds = lead_seconds
        #: The lead table's partitions that have a file (their first rows never wait).
        self._lead_committed: set[_Key] = set()
        self.rows_written = 0
        self.files_committed = 0
        self.bytes_written = 0
        self._buffers: dict[_Key, _Buffer] = {}
        # Kept as running totals so that another thread may read stats() at any time.
        self._rows_buffered = 0
        self._bytes_buffered = 0
        self._dirs: set[Path] = set()
        self._closed = False

        make_dirs(self.root)
        has_marker = read_marker(self.root) is not None  # a newer lake fails before any change
        self._lock = _lock(self.root / LOCK)
        try:
            if not has_marker:
                write_marker(self.root)
            self.orphans_removed = self._remove_orphans()
        except BaseException:
            self._lock.close()
            raise

    # -- writing ------------------------------------------------------------------------

    def write(self, table: str, data: object) -> None:
        """Buffer the rows of ``data`` (an EventBatch, Arrow table or record batch)."""
        if self._closed:
            raise ValueError("write to a closed LakeWriter")
        check_table_name(table)
        rows = checked_table(table, data)
        if rows.num_rows == 0:
            return
        for venue, day, part in split_partitions(rows):
            key = (table, venue, day)
            buffer = self._buffers.get(key)
            if buffer is not None and not buffer.schema.equals(part.schema):
                self._commit(key)  # a new schema starts a new file
                buffer = None
            if buffer is None:
                buffer = self._buffers[key] = _Buffer(part.schema)
            buffer.parts.append(part)
            buffer.rows += part.num_rows
            buffer.nbytes += part.nbytes
            self._rows_buffered += part.num_rows
            self._bytes_buffered += part.nbytes
            if buffer.rows >= self.roll_rows or buffer.nbytes >= self.roll_bytes:
                self._commit(key)
        while self._buffers and self.bytes_buffered > self.max_buffer_bytes:
            self._commit(max(self._buffers, key=lambda k: self._buffers[k].nbytes))
        self.commit_due()

    def commit_due(self, now: float | None = None) -> int:
        """Commit every buffer whose oldest row is ``roll_seconds`` old; returns the files."""
        now = time.monotonic() if now is None else now
        due = [k for k, b in self._buffers.items() if now - b.since >= self.roll_seconds]
        for key in due:
            self._commit(key)
        return len(due)

    def flush(self) -> int:
        """Commit every buffer, the lead table's first; returns the number of files."""
        keys = sorted(self._buffers, key=lambda k: k[0] != self.lead_table)
        for key in keys:
            self._commit(key)
        return len(keys)

    def close(self) -> None:
        """Flush, then release the lake. Idempotent."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._lock.close()

    def __enter__(self) -> LakeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state --------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def rows_buffered(self) -> int:
        return self._rows_buffered

    @property
    def bytes_buffered(self) -> int:
        return self._bytes_buffered

    def stats(self) -> dict[str, int]:
        return {
            "rows_written": self.rows_written,
            "files_committed": self.files_committed,
            "bytes_written": self.bytes_written,
            "orphans_removed": self.orphans_removed,
            "rows_buffered": self.rows_buffered,
            "bytes_buffered": self.bytes_buffered,
        }

    # -- files --------------------------------------------------------------------------

    def _commit(self, key: _Key) -> None:
        if key[0] != self.lead_table:
            self._commit_lead()
        if key in self._buffers:  # a lead buffer may have gone first, just above
            self._commit_one(key)

    def _commit_lead(self) -> None:
        """Commit the lead table's buffers before a data file (see the class docstring)."""
        if self.lead_table is None:
            return
        now = time.monotonic()
        for key in [k for k in self._buffers if k[0] == self.lead_table]:
            # Decided per partition: one flag for the table let the service's partition,
            # committed first, hold back every venue's config and connect events.
            if key not in self._lead_committed or now - self._buffers[key].since >= (
                self.lead_seconds
            ):
                self._commit_one(key)

    def _commit_one(self, key: _Key) -> None:
        """Write one buffer as a file: temp name, fsync, rename, fsync the directory.

        The buffer is dropped only once its file is durable, so a failed write (disk full)
        raises with the rows still buffered for the next attempt.
        """
        name, venue, day = key
        buffer = self._buffers[key]
        table = sorted_by_ts_recv(pa.concat_tables(buffer.parts))
        metadata = {**(table.schema.metadata or {}), **file_metadata(name)}
        table = table.replace_schema_metadata(metadata)

        directory = partition_dir(self.root, name, venue, day)
        final = directory / part_name(first_ts_ns(table), uuid.uuid4().hex[:12])
        temp = directory / temp_name(final.name)
        try:
            if directory not in self._dirs:
                make_dirs(directory)
                self._dirs.add(directory)
            delta = delta_encoded(table.schema)
            pq.write_table(
                table,
                temp,
                compression="zstd",
                row_group_size=self.row_group_rows,
                use_dictionary=[n for n in table.schema.names if n not in delta],
                column_encoding=dict.fromkeys(delta, "DELTA_BINARY_PACKED"),
                write_page_checksum=True,  # the reader verifies them: bit rot fails loudly
                sorting_columns=[pq.SortingColumn(table.schema.get_field_index("ts_recv"))],
            )
            fsync_file(temp)
            temp.replace(final)
            fsync_dir(directory)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise LakeStorageError(directory, exc) from exc
            raise
        if name == self.lead_table:
            self._lead_committed.add(key)
        del self._buffers[key]
        self._rows_buffered -= buffer.rows
        self._bytes_buffered -= buffer.nbytes
        self.rows_written += table.num_rows
        self.files_committed += 1
        self.bytes_written += final.stat().st_size
        if self.on_commit is not None:
            self.on_commit(final, name, table.num_rows)

    def _remove_orphans(self) -> int:
        """Delete temp files a crashed writer left (readers never list them)."""
        orphans = [
            *self.root.glob(f"*/venue=*/date=*/{TEMP_GLOB}"),
            *self.root.glob(f".{MARKER}.tmp"),
        ]
        for path in orphans:
            path.unlink(missing_ok=True)
        for directory in {p.parent for p in orphans}:
            fsync_dir(directory)
        if orphans:
            log.warning("lake %s: removed %d orphan temp file(s)", self.root, len(orphans))
        return len(orphans)


def _lock(path: Path) -> IO[Any]:
    """Hold an exclusive lock on ``path`` while the returned file is open."""
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise LakeLockedError(f"another writer holds the lake at {path.parent}") from None
    return handle
