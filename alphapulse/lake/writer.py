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
import pyarrow.parquet as pq

from alphapulse.lake.layout import (
    LOCK,
    MARKER,
    TEMP_GLOB,
    LakeLockedError,
    LakeStorageError,
    check_table_name,
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
from alphapulse.lake.rows import checked_table as checked_table
from alphapulse.lake.rows import delta_encoded as delta_encoded
from alphapulse.lake.rows import first_ts_ns as first_ts_ns
from alphapulse.lake.rows import sorted_by_ts_recv as sorted_by_ts_recv
from alphapulse.lake.rows import split_partitions as split_partitions
from alphapulse.lake.snapshot import COMPACTED_PREFIX, GENERATION, bump_generation
from alphapulse.lake.tail import Segment, TailPublisher, remove_tail

log = logging.getLogger(__name__)

#: ``on_commit(path, table, rows)``: called after a file is durable under its final name.
OnCommit = Callable[[Path, str, int], None]
#: ``journal_marks(seq)``: a file's metadata saying it holds journal records up to ``seq``.
JournalMarks = Callable[[int], dict[bytes, bytes]]

MiB = 1 << 20
#: DuckDB parallelises a scan by row group and writes ~122,880 rows per group itself.
ROW_GROUP_ROWS = 128 * 1024


def new_token() -> str:
    """A buffer's token: 12 hex digits, never starting with the compacted files' ``c``
    (a reader looks for a ledger beside every file whose token does)."""
    token = uuid.uuid4().hex[:12]
    while token.startswith(COMPACTED_PREFIX):
        token = uuid.uuid4().hex[:12]
    return token


@dataclass
class _Buffer:
    """Rows waiting for one partition's next file."""

    schema: pa.Schema
    #: Names the buffer's file and, before that, its tail segment (see lake/tail.py).
    token: str = field(default_factory=new_token)
    segment: Segment | None = None
    since: float = field(default_factory=time.monotonic)
    parts: list[pa.Table] = field(default_factory=list)
    rows: int = 0
    nbytes: int = 0
    #: The crash journal's seqs of the first and last rows buffered (see alphapulse.journal).
    first_seq: int | None = None
    last_seq: int | None = None


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

    A commit the file system refuses raises LakeStorageError naming the directory. After
    every commit the lake's generation file is replaced, so that readers that cache file
    lists know to list again.

    With ``publish_tail=True`` the rows buffered are also published for readers as they
    arrive (``tail.TailPublisher``); failures to do so are counted in
    ``stats()["tail_errors"]`` and never fail or delay a commit.

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
        publish_tail: bool = False,
        journal_marks: JournalMarks | None = None,
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
        self.journal_marks = journal_marks
        self._last_journal_seq: int | None = None
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
        #: A commit whose generation bump failed: readers are told on the next tick.
        self._unannounced = False

        make_dirs(self.root)
        has_marker = read_marker(self.root) is not None  # a newer lake fails before any change
        self._lock = _lock(self.root / LOCK)
        try:
            if not has_marker:
                write_marker(self.root)
            self.orphans_removed = self._remove_orphans()
            # Holding the lock, any _tail is a dead writer's: gone before it misleads.
            self.tail = (
                TailPublisher(self.root, reserve_bytes=max_buffer_bytes) if publish_tail else None
            )
            if self.tail is None:
                remove_tail(self.root)
        except BaseException:
            self._lock.close()
            raise

    # -- writing ------------------------------------------------------------------------

    def write(self, table: str, data: object, journal_seq: int | None = None) -> None:
        """Buffer the rows of ``data`` (an EventBatch, Arrow table or record batch).

        ``journal_seq``: the crash journal's seq of this batch (seqs increase from one call
        to the next); each file then records the last seq it holds (``journal_marks``)."""
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
                if self.tail is not None:
                    buffer.segment = self.tail.open(table, venue, day, buffer.token, part.schema)
            buffer.parts.append(part)
            if journal_seq is not None:
                if buffer.first_seq is None:
                    buffer.first_seq = journal_seq
                buffer.last_seq = journal_seq
            if self.tail is not None:
                self.tail.append(buffer.segment, part)
            buffer.rows += part.num_rows
            buffer.nbytes += part.nbytes
            self._rows_buffered += part.num_rows
            self._bytes_buffered += part.nbytes
            if buffer.rows >= self.roll_rows or buffer.nbytes >= self.roll_bytes:
                self._commit(key)
        if journal_seq is not None:
            self._last_journal_seq = journal_seq
        while self._buffers and self.bytes_buffered > self.max_buffer_bytes:
            self._commit(max(self._buffers, key=lambda k: self._buffers[k].nbytes))
        self.commit_due()

    def commit_due(self, now: float | None = None) -> int:
        """Commit every buffer whose oldest row is ``roll_seconds`` old; returns the files."""
        now = time.monotonic() if now is None else now
        due = [k for k, b in self._buffers.items() if now - b.since >= self.roll_seconds]
        for key in due:
            self._commit(key)
        if self._unannounced:
            self._announce()
        if self.tail is not None and not self._unannounced:
            # Until readers are told of a commit, its segment is where they find its rows.
            self.tail.sweep(now)
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
            if self.tail is not None:
                # Rows a failed flush kept are not the lake's and no writer holds them now.
                for buffer in self._buffers.values():
                    self.tail.stop(buffer.segment)
                self.tail.close()
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
    def journal_low_water(self) -> int | None:
        """Journal records up to this seq are all in committed files (None before a seq came).
        Read it on the writer's thread (as ``on_commit`` is): other threads see buffers move."""
        pending = [b.first_seq for b in self._buffers.values() if b.first_seq is not None]
        if pending:
            return min(pending) - 1
        return self._last_journal_seq

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
            "tail_errors": 0 if self.tail is None else self.tail.errors,
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
        if self.journal_marks is not None and buffer.last_seq is not None:
            metadata.update(self.journal_marks(buffer.last_seq))
        table = table.replace_schema_metadata(metadata)

        directory = partition_dir(self.root, name, venue, day)
        final = directory / part_name(first_ts_ns(table), buffer.token)
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
        if self.tail is not None:
            self.tail.retire(buffer.segment)
        self._announce()
        if self.on_commit is not None:
            self.on_commit(final, name, table.num_rows)

    def _announce(self) -> None:
        """Replace the generation file: readers caching file lists list again."""
        try:
            bump_generation(self.root)
            self._unannounced = False
        except OSError:
            # The file is durable; readers only learn of it late. Retried by commit_due.
            self._unannounced = True

    def _remove_orphans(self) -> int:
        """Delete temp files a crashed writer left (readers never list them)."""
        orphans = [
            *self.root.glob(f"*/venue=*/date=*/{TEMP_GLOB}"),
            *self.root.glob(f".{MARKER}.tmp"),
            *self.root.glob(f".{GENERATION}.*.tmp"),
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
