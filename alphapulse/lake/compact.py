"""Lake compaction: a partition's many small files merged into few large sorted ones.

The collector commits a file per partition every minute: thousands a day. ``compact``
merges, per partition (table/venue/date), the committed files older than ``older_than``
into files of at most ``max_rows_per_file`` rows (and ``max_bytes_per_file`` of data),
sorted by ``(symbol, ts_recv)`` (``ts_recv`` where a table has no symbol), stably: rows
with equal keys keep their order, as the deltas of one book message must.

A merge swaps files so that a reader sees each row exactly once at every moment (the
rules readers follow are in ``snapshot``):

1. the ledger ``_compaction-c<token>.json`` naming the files replaced is written, fsynced;
2. the merged file is written as a temp, fsynced, renamed to
   ``part-<time of its earliest row>-c<token>.parquet``, the directory fsynced, and the
   lake's generation bumped: from now on readers read it and skip the replaced files;
3. the replaced files are deleted, the directory fsynced.

A crash between any two steps is repaired by the next run before it merges anything: a
ledger whose file never arrived is removed (the replaced files are still the truth), and
replaced files still present are deleted. Ledgers stay a day after their replaced files
are gone, for readers that listed a directory before the deletion.

Idempotent: a merged file is never merged with the compacted file before it, and a group
of one file is left alone, so a second run over the same files changes nothing. Safe
beside a running writer, which only adds files: compaction takes only files older than
``older_than``, never temp files, never the live tail. One compaction at a time holds
``_alphapulse_compact.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

from alphapulse.lake.info import lake_tables
from alphapulse.lake.layout import LakeError, LakeLockedError, check_table_name
from alphapulse.lake.merge import PartFile, is_compacted, part_file
from alphapulse.lake.snapshot import committed_files, partitions
from alphapulse.lake.swap import LEDGER_KEEP_NS, Merge, settle

log = logging.getLogger(__name__)

COMPACT_LOCK: Final = "_alphapulse_compact.lock"
DEFAULT_OLDER_THAN: Final = timedelta(hours=1)
#: 8 row groups (about 17 MB of trades). A day of a busy venue's book deltas makes
#: several such files; the bound keeps a merge's memory at about twice its rows in Arrow
#: (the files' chunks and their one contiguous copy; measured: 430 MB for 1Mi trades
#: rows read from minute files) whatever a partition holds.
MAX_ROWS_PER_FILE: Final = 1024 * 1024
#: Uncompressed, as the footers count it: wide rows (news) reach this before the rows.
MAX_BYTES_PER_FILE: Final = 256 << 20
#: Seconds between a swap and the deletion of the files it replaced: a reader that listed
#: them just before is spared a retry (see ``_Retirements``).
RETIRE_GRACE: Final = 2.0
#: Merges run side by side (pyarrow works outside the GIL); each holds one group.
WORKERS: Final = 2

__all__ = [
    "COMPACT_LOCK",
    "LEDGER_KEEP_NS",
    "CompactionLockedError",
    "CompactionReport",
    "compact",
    "plan_partition",
]


class CompactionLockedError(LakeLockedError):
    """Another compaction holds the lake."""


@dataclass
class CompactionReport:
    files_in: int = 0
    files_out: int = 0
    rows: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    seconds: float = 0.0
    #: Partitions in which files were merged.
    partitions: int = 0
    #: Leftovers of an interrupted compaction removed (replaced files, ledgers, temps).
    repaired: int = 0
    #: Ledgers removed a day after their replaced files were gone.
    ledgers_expired: int = 0
    #: Groups left as they were, each with why (a file that cannot be read).
    problems: list[str] = field(default_factory=list)
    #: Seconds spent at the end waiting out the grace before deleting replaced files; not
    #: in ``seconds`` (nor in rows/s), which time the merging.
    grace_wait_seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rows_per_second": round(self.rows_per_second)}

    def _add(self, merge: Merge) -> None:
        self.files_in += len(merge.files)
        self.files_out += 1
        self.rows += merge.rows
        self.bytes_before += sum(f.size for f in merge.files)
        self.bytes_after += merge.size


def compact(
    root: str | os.PathLike[str],
    *,
    older_than: timedelta = DEFAULT_OLDER_THAN,
    tables: Iterable[str] | None = None,
    now: datetime | None = None,
    max_rows_per_file: int = MAX_ROWS_PER_FILE,
    max_bytes_per_file: int = MAX_BYTES_PER_FILE,
    workers: int = WORKERS,
    grace: float = RETIRE_GRACE,
    stop: Callable[[], bool] | None = None,
) -> CompactionReport:
    """Compact the lake at ``root`` (see the module docstring); ``tables``: all by default.

    ``now`` is the time files' ages and ledgers' are measured from (default: the clock).
    Replaced files are deleted ``grace`` seconds after their swap (the run waits for the
    last). ``stop`` is asked before each merge; when it says True the rest is left for next time.
    Raises LakeError (no lake, a newer version, an unknown table), CompactionLockedError,
    LakeStorageError (the disk refused the new file: the partition is left as it was).
    """
    if older_than < timedelta(0):
        raise ValueError("older_than must not be negative")
    if grace < 0:
        raise ValueError("grace must not be negative")
    if min(max_rows_per_file, max_bytes_per_file, workers) < 1:
        raise ValueError("max_rows_per_file, max_bytes_per_file and workers must be positive")
    base = Path(root)
    chosen = _tables(base, tables)
    started = time.perf_counter()
    now_ns = time.time_ns() if now is None else _ns(now)
    cutoff_ns = now_ns - older_than // timedelta(microseconds=1) * 1000
    report = CompactionReport()
    with _compactor_lock(base):
        merges: list[Merge] = []
        for table in chosen:
            for _, _, directory in partitions(base, table):
                repaired, expired = settle(directory, now_ns)
                report.repaired += repaired
                report.ledgers_expired += expired
                try:
                    groups = plan_partition(
                        directory, cutoff_ns, max_rows_per_file, max_bytes_per_file
                    )
                except (OSError, pa.ArrowException) as exc:
                    if isinstance(exc, FileNotFoundError):
                        raise
                    # A file whose footer does not read (cut short, emptied): the
                    # partition is left as it was, as for a group that fails to read.
                    report.problems.append(f"{directory}: {_reason(exc)}")
                    continue
                for group in groups:
                    merges.append(Merge(base, table, directory, group))
        done = _run(merges, workers, now_ns, stop, report, grace)
    report.partitions = len({m.directory for m in done})
    report.seconds = time.perf_counter() - started - report.grace_wait_seconds
    return report


def plan_partition(
    directory: Path, cutoff_ns: int, max_rows: int, max_bytes: int
) -> list[list[PartFile]]:
    """The groups of files to merge in one partition directory, in name (time) order.

    Files modified after ``cutoff_ns`` are a writer's recent work and stay out. A group
    closes before a compacted file (which only ever starts one: merging it with its
    predecessor would undo the previous run's bound, and a second run would never settle),
    before a file of another schema, and where it would pass ``max_rows`` or ``max_bytes``.
    Groups of one file are dropped: there is nothing to merge.
    """
    files, _ = committed_files(directory)
    old = []
    for path in files:
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime_ns <= cutoff_ns:
                old.append(path)
    # Footers are read only where a merge is possible: a compacted lake costs one listing.
    if len(old) < 2 or all(is_compacted(p.name) for p in old):
        return []
    groups: list[list[PartFile]] = []
    current: list[PartFile] = []
    rows = data_bytes = 0
    for f in map(part_file, old):
        if current and (
            f.compacted
            or f.schema != current[0].schema
            or rows + f.rows > max_rows
            or data_bytes + f.data_bytes > max_bytes
        ):
            groups.append(current)
            current, rows, data_bytes = [], 0, 0
        current.append(f)
        rows += f.rows
        data_bytes += f.data_bytes
    groups.append(current)
    return [g for g in groups if len(g) > 1]


def _run(
    merges: list[Merge],
    workers: int,
    now_ns: int,
    stop: Callable[[], bool] | None,
    report: CompactionReport,
    grace: float,
) -> list[Merge]:
    """Run the merges, ``workers`` at a time; a group that cannot be read is a problem
    reported, not a failure of the others. A storage error stops the run."""
    done: list[Merge] = []
    lock = threading.Lock()
    failed = threading.Event()
    retiring = _Retirements(grace)

    def one(merge: Merge) -> None:
        retiring.retire_due()
        if failed.is_set() or (stop is not None and stop()):
            return
        try:
            merge.read()
            merge.write_ledger(now_ns)
            merge.write_file()
            merge.publish()
        except (OSError, pa.ArrowException) as exc:
            if merge.stage != "read":
                failed.set()
                raise
            with lock:
                report.problems.append(f"{merge.files[0].path.parent}: {_reason(exc)}")
            return
        retiring.add(merge)
        with lock:
            report._add(merge)
            done.append(merge)

    try:
        if workers == 1 or len(merges) < 2:
            for merge in merges:
                one(merge)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="compact") as pool:
                for future in [pool.submit(one, m) for m in merges]:
                    future.result()
    finally:
        waiting = time.perf_counter()
        retiring.retire_all()
        report.grace_wait_seconds = time.perf_counter() - waiting
    return done


class _Retirements:
    """Replaced files are deleted ``grace`` seconds after the swap that hid them.

    Readers skip them from the swap on (the ledger), so the wait only spares a reader that
    listed the directory just before the swap a file vanishing under it (and its retry).
    """

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._lock = threading.Lock()
        self._due: deque[tuple[float, Merge]] = deque()

    def add(self, merge: Merge) -> None:
        with self._lock:
            self._due.append((time.monotonic() + self.grace, merge))

    def retire_due(self) -> None:
        while True:
            with self._lock:
                if not self._due or self._due[0][0] > time.monotonic():
                    return
                _, merge = self._due.popleft()
            merge.retire()

    def retire_all(self) -> None:
        while self._due:
            time.sleep(max(0.0, self._due[0][0] - time.monotonic()))
            self.retire_due()


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _tables(base: Path, tables: Iterable[str] | None) -> list[str]:
    present = lake_tables(base)
    if tables is None:
        return present
    chosen = list(dict.fromkeys(tables))
    for name in chosen:
        try:
            check_table_name(name)
        except ValueError as exc:
            raise LakeError(str(exc)) from None
        if name not in present:
            raise LakeError(
                f"the lake at {base} has no table {name!r} (it has: {', '.join(present) or 'none'})"
            )
    return chosen


@contextlib.contextmanager
def _compactor_lock(base: Path) -> Iterator[None]:
    with (base / COMPACT_LOCK).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CompactionLockedError(
                f"another compaction is running on {base} (it holds {COMPACT_LOCK}); "
                "wait for it to finish"
            ) from None
        yield


def _ns(instant: datetime) -> int:
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000
