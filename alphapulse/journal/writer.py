"""The crash journal: append without waiting for the disk, fsync in groups, replay, trim."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path

from alphapulse.journal.format import (
    HEADER_SIZE,
    JournalError,
    Record,
    encode_payload,
    list_segments,
    new_journal_id,
    read_segment,
    record_bytes,
    segment_header,
    segment_name,
    truncate,
)
from alphapulse.lake.rows import split_partitions

log = logging.getLogger(__name__)

LOCK_NAME = "LOCK"

#: (table, venue, day): the lake's partition, the unit a lake file commits.
PartitionKey = tuple[str, str, date]


class JournalStorageError(JournalError):
    """The file system refused the journal (disk full, read-only, permissions): one line."""

    def __init__(self, directory: Path, cause: OSError) -> None:
        reason = os.strerror(cause.errno) if cause.errno else str(cause)
        super().__init__(f"cannot write the journal in {directory}: {reason}")
        self.directory = directory


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """A write-ahead journal of batches in ``directory`` (created if missing).

    ``append(table, batch)`` writes the record to the page cache and returns its sequence
    number at once; a background thread fsyncs at most every ``sync_interval`` seconds, and
    a record is durable (survives a power loss, not only a kill -9) once ``durable_seq`` has
    reached it. So the writer never waits on the disk per record, and at most the last
    ``sync_interval`` seconds of appends (plus one fsync's duration) can be lost.

    Opening recovers: each segment is read up to its first damaged record (a torn or corrupt
    tail after a crash), which is truncated away and counted in ``recovery``; new records go
    into a new segment. ``replay`` yields what the lake has not committed, ``trim`` deletes
    segments the lake has. Appends are thread-safe; one process owns a journal at a time.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        sync_interval: float = 1.0,
        segment_bytes: int = 64 << 20,
        compression: str | None = None,
    ) -> None:
        if sync_interval <= 0 or segment_bytes < HEADER_SIZE:
            raise ValueError("sync_interval must be positive and segment_bytes a usable size")
        self.directory = Path(directory)
        self.sync_interval = sync_interval
        self.segment_bytes = segment_bytes
        self.compression = compression
        self.fsyncs = 0
        self.bytes_appended = 0
        self.records_appended = 0
        #: What opening found: records kept, damaged segments, bytes truncated, and why.
        self.recovery: dict[str, object] = {}
        self._lock = threading.Lock()  # appends and the segment they go to
        self._sync_lock = threading.Lock()  # one fsync round at a time
        self._wake = threading.Condition()
        self._error: OSError | None = None
        self._closed = False
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._owner = _own(self.directory / LOCK_NAME)
        except OSError as exc:
            raise JournalStorageError(self.directory, exc) from exc
        try:
            self.journal_id, last_seq = self._recover()
            self._recovered_upto = last_seq
            self._next_seq = last_seq + 1
            self._written_seq = last_seq
            self._durable_seq = last_seq
            self._fd = -1
            self._size = 0
            self._retiring: list[int] = []
            self._new_segment = False
            self._open_segment()
        except BaseException as exc:
            os.close(self._owner)
            if isinstance(exc, OSError):
                raise JournalStorageError(self.directory, exc) from exc
            raise
        self._thread = threading.Thread(target=self._run, name="alphapulse-journal", daemon=True)
        self._thread.start()

    # -- recovery -------------------------------------------------------------------------

    def _recover(self) -> tuple[bytes, int]:
        journal_id: bytes | None = None
        last_seq = kept = damaged = cut = 0
        reasons: list[str] = []
        for first, path in list_segments(self.directory):
            scan, _ = read_segment(path, decode=False)
            # A segment's name says every seq before it was used: seqs never go back.
            last_seq = max(last_seq, first - 1)
            if scan.journal_id is not None:
                if journal_id is not None and scan.journal_id != journal_id:
                    raise JournalError(f"{path} belongs to another journal")
                journal_id = scan.journal_id
            if scan.damage is not None:
                damaged += 1
                cut += scan.damaged_bytes
                reasons.append(f"{path.name}: {scan.damage}")
                log.warning("journal %s: %s; truncated", path, scan.damage)
                if scan.journal_id is None:
                    path.unlink()
                else:
                    truncate(path, scan.valid_end)
            if scan.records == 0 and path.exists():
                path.unlink()  # nothing in it (a restart that appended nothing): in the way
            kept += scan.records
            last_seq = max(last_seq, scan.last_seq)
        self.recovery = {
            "records": kept,
            "damaged_segments": damaged,
            "bytes_truncated": cut,
            "damage": reasons,
        }
        return journal_id or new_journal_id(), last_seq

    @property
    def recovered_upto(self) -> int:
        """The last sequence number found on opening: ``replay`` covers records up to it."""
        return self._recovered_upto

    def replay(
        self, watermark: int = 0, committed: Mapping[PartitionKey, int] | None = None
    ) -> Iterator[Record]:
        """Yield the recovered records the lake has not committed, oldest first.

        ``watermark``: every record with ``seq <= watermark`` is committed. ``committed``,
        when given, maps a lake partition to the highest seq its committed files hold (a
        record's batch can span venues and days, each a partition committed on its own): a
        record is then split by partition and each part yielded only above its partition's
        mark (or ``watermark`` for partitions not in it), so a part is never yielded twice.
        """
        for _, path in list_segments(self.directory):
            for record in read_segment(path, after_seq=watermark)[1]:
                if record.seq > self._recovered_upto:
                    return
                if committed is None:
                    yield record
                    continue
                for venue, day, part in split_partitions(record.batch):
                    if record.seq > committed.get((record.table, venue, day), watermark):
                        yield Record(record.seq, record.table, part)

    def trim(self, upto_seq: int) -> int:
        """Delete the segments whose records all have ``seq <= upto_seq``; never the one being
        written. Returns how many were deleted."""
        with self._lock:
            segments = list_segments(self.directory)
            active = self._segment_first
        removed = 0
        for (first, path), (next_first, _) in itertools.pairwise(segments):
            if first >= active or next_first - 1 > upto_seq:
                break
            path.unlink()
            removed += 1
        if removed:
            _fsync_dir(self.directory)
        return removed

    # -- appending ------------------------------------------------------------------------

    def append(self, table: str, batch: object) -> int:
        """Journal ``batch`` (any Arrow tabular object) for ``table``; returns its seq.

        Does not wait for the disk; raises JournalStorageError when the file system refuses
        the write (the record is then not in the journal)."""
        payload, crc = encode_payload(table, batch, self.compression)  # outside the lock
        with self._lock:
            self._check_usable()
            seq = self._next_seq
            data = record_bytes(seq, payload, crc)
            try:
                if self._size + len(data) > self.segment_bytes and self._size > HEADER_SIZE:
                    self._roll()
                _write_all(self._fd, data)
            except OSError as exc:
                # A partial record would hide every later one from recovery: cut it off.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._size)
                raise JournalStorageError(self.directory, exc) from exc
            self._size += len(data)
            self._next_seq = seq + 1
            self._written_seq = seq
            self.bytes_appended += len(data)
            self.records_appended += 1
        return seq

    @property
    def durable_seq(self) -> int:
        """Every record with a seq up to this one has been fsynced."""
        return self._durable_seq

    @property
    def last_seq(self) -> int:
        """The last seq appended (durable or not)."""
        return self._written_seq

    def sync(self) -> int:
        """fsync now (the writer's thread does this every ``sync_interval``); returns the
        durable seq."""
        with self._sync_lock:
            with self._lock:
                target = self._written_seq
                fds = [*self._retiring, self._fd]
                retired, self._retiring = self._retiring, []
                new_segment, self._new_segment = self._new_segment, False
            if target > self._durable_seq or new_segment:
                for fd in fds:
                    os.fsync(fd)
                self.fsyncs += len(fds)
                if new_segment:
                    _fsync_dir(self.directory)
                self._durable_seq = max(self._durable_seq, target)
            for fd in retired:
                os.close(fd)
        return self._durable_seq

    def wait_durable(self, seq: int, timeout: float | None = None) -> bool:
        """Wait until ``seq`` is durable; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._wake:
            while self._durable_seq < seq:
                self._check_usable()
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._wake.wait(left)
        return True

    def stats(self) -> dict[str, int]:
        return {
            "last_seq": self._written_seq,
            "durable_seq": self._durable_seq,
            "records_appended": self.records_appended,
            "bytes_appended": self.bytes_appended,
            "fsyncs": self.fsyncs,
        }

    def close(self) -> None:
        """Sync what was appended, stop the thread, close the files. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with self._wake:
            self._wake.notify_all()
        self._thread.join()
        try:
            if self._error is None:
                self.sync()
        finally:
            with self._lock:
                for fd in [*self._retiring, self._fd, self._owner]:
                    with contextlib.suppress(OSError):
                        os.close(fd)
                self._retiring = []
        if self._error is not None:
            raise JournalStorageError(self.directory, self._error) from self._error

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._error is not None:
            raise JournalStorageError(self.directory, self._error) from self._error
        if self._closed:
            raise ValueError("append to a closed Journal")

    def _open_segment(self) -> None:
        """Start the segment that the next record goes to (called holding ``_lock``)."""
        path = self.directory / segment_name(self._next_seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            _write_all(fd, segment_header(self.journal_id))
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        self._fd = fd
        self._size = HEADER_SIZE
        self._segment_first = self._next_seq
        self._new_segment = True

    def _roll(self) -> None:
        old = self._fd
        self._open_segment()
        self._retiring.append(old)  # the sync thread fsyncs and closes it

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._closed:
                    self._wake.wait(self.sync_interval)
                if self._closed:
                    return
            try:
                self.sync()
            except OSError as exc:
                log.error("journal %s: fsync failed: %s", self.directory, exc)
                self._error = exc
                return
            finally:
                with self._wake:
                    self._wake.notify_all()


def _own(path: Path) -> int:
    """Hold an exclusive lock on ``path`` while the returned descriptor is open: two
    writers would both recover the same tail and hand out the same seqs."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalError(f"another process has the journal at {path.parent} open") from None
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
