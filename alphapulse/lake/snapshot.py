"""A consistent view of one table: its committed files and a live writer's uncommitted tail.

Readers (the DuckDB session, ``scan``, ``read_table``) see each row exactly once while a
writer commits and a compaction replaces files, because of these rules:

- Every file name ends in its *token*: ``part-<time>-<token>.parquet``. A writer's tail
  segment for a partition buffer carries the token its file will have
  (``_tail/<table>/venue=<v>/date=<d>/<token>.arrows``, see ``lake/tail.py``), so a
  segment whose token is committed is skipped: the file has its rows. Tail segments are
  listed *before* the files, so a commit between the two listings is seen as a file, and
  a commit after both leaves the segment (deleted only seconds after its commit) to be
  read. A segment gone when read was committed since: the snapshot is taken again.
- There is a tail only while the writer that owns ``_tail`` lives (``_tail/_owner.json``
  names its process); what a crashed writer left is ignored.
- A compacted file's token starts with ``c`` and a ledger ``_compaction-<token>.json``
  beside it, written before it, names the files it replaces (``{"replaces": [names]}``).
  Those files are left out if they are still listed; their tokens count as committed,
  and so do those a replaced compacted file's own ledger names, while it is kept.
- A file listed but gone when read (a compaction deleted it) means the snapshot is stale:
  take another (``snapshot`` is cheap; the session retries once).

``generation(root)`` changes whenever a writer commits or a compaction swaps files, so a
reader can keep its file list until it does.

So a snapshot holds every row committed or published before it began, each once; rows
arriving while it is taken may or may not be in it.
"""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from alphapulse import _core
from alphapulse.eventlog import SCHEMA as EVENTS_SCHEMA
from alphapulse.lake.layout import LakeError, check_table_name
from alphapulse.lake.tail import SEGMENT_SUFFIX, SegmentReader, read_owner, tail_root

#: Replaced (by rename) on every commit and compaction; holds a random number.
GENERATION: Final = "_alphapulse_lake.gen"
LEDGER_PREFIX: Final = "_compaction-"
COMPACTED_PREFIX: Final = "c"
#: Times a snapshot is retaken when a tail segment vanished between listing and reading.
ATTEMPTS: Final = 5


@dataclass(frozen=True)
class TableSnapshot:
    """What a reader should read of ``table``: ``files`` then ``tail``, each row once."""

    table: str
    #: Committed files, ledger-filtered, sorted by partition then name (time order).
    files: list[Path]
    #: Rows a live writer holds but has not committed (memory-mapped), in the table's
    #: schema; None without a live writer, or for a table with no schema known anywhere.
    tail: pa.Table | None = None


def token_of(name: str) -> str | None:
    """``part-HHMMSS.nnnnnnnnn-<token>.parquet`` -> ``<token>``."""
    if not (name.startswith("part-") and name.endswith(".parquet")):
        return None
    stem = name[: -len(".parquet")]
    _, sep, token = stem.rpartition("-")
    return token if sep and token else None


def ledger_name(token: str) -> str:
    return f"{LEDGER_PREFIX}{token}.json"


def generation(root: Path) -> tuple[int, int] | None:
    """A token that changes when files are committed or swapped (None: never bumped)."""
    try:
        with (root / GENERATION).open("rb") as f:
            mtime, text = os.fstat(f.fileno()).st_mtime_ns, f.read(64)
    except FileNotFoundError:
        return None
    try:
        return (mtime, int(text, 16))
    except ValueError:
        return (mtime, 0)


def bump_generation(root: Path) -> None:
    """Tell readers the file set changed. Not fsynced: it is a hint, not data.

    The file holds a random number: its inode and time alone could repeat (a freed inode
    is reused at once, and file times tick in milliseconds), and a reader would then keep
    a stale list. The temp name is unique too: a writer and a compaction may bump at once.
    """
    temp = root / f".{GENERATION}.{uuid.uuid4().hex}.tmp"
    try:
        temp.write_bytes(os.urandom(8).hex().encode())
        temp.replace(root / GENERATION)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def partitions(
    root: Path,
    table: str,
    venues: Iterable[str] | None = None,
    days: tuple[date | None, date | None] = (None, None),
) -> list[tuple[str, date, Path]]:
    """``(venue, date, directory)`` of the table's partitions, within ``days`` (inclusive)."""
    check_table_name(table)
    wanted = None if venues is None else set(venues)
    first, last = days
    out = []
    try:
        venue_dirs = sorted(os.scandir(root / table), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    for v in venue_dirs:
        if not (v.name.startswith("venue=") and v.is_dir()):
            continue
        venue = v.name[len("venue=") :]
        if wanted is not None and venue not in wanted:
            continue
        try:
            day_dirs = sorted(os.scandir(v.path), key=lambda e: e.name)
        except FileNotFoundError:  # removed since listed (a writer closing its tail)
            continue
        for d in day_dirs:
            if not (d.name.startswith("date=") and d.is_dir()):
                continue
            try:
                day = date.fromisoformat(d.name[len("date=") :])
            except ValueError:
                continue
            if (first is None or day >= first) and (last is None or day <= last):
                out.append((venue, day, Path(d.path)))
    return out


def committed_files(directory: Path) -> tuple[list[Path], set[str]]:
    """The files a reader should read in one partition directory, and every token they
    hold (their own, and those of the files compactions merged into them)."""
    listed: set[str] = set()
    # One readdir is no snapshot: a name created behind its cursor is missed, and one
    # deleted ahead of it too, so a compaction landing during a pass (its file renamed in,
    # then the files it replaces deleted) could hide both. The compacted file exists
    # throughout a second pass; the union, filtered by the ledgers, holds each row once.
    for _ in range(2):
        try:
            listed.update(os.listdir(directory))  # noqa: PTH208 (names, not Paths: fast)
        except FileNotFoundError:
            return [], set()
    names = {n for n in listed if token_of(n) is not None}
    compacted = {t for n in names if (t := token_of(n)) and t.startswith(COMPACTED_PREFIX)}
    tokens = set()
    # A compacted file may itself have been compacted again and deleted: its ledger (kept
    # a while) still names the first files, whose tail segments may not be gone yet.
    pending = sorted(compacted)
    while pending:
        token = pending.pop()
        for old in _replaced(directory, token):
            names.discard(old)
            t = token_of(old)
            if t is None or t in tokens:
                continue
            tokens.add(t)
            if t.startswith(COMPACTED_PREFIX):
                pending.append(t)
    for name in names:
        if (t := token_of(name)) is not None:
            tokens.add(t)
    return [directory / n for n in sorted(names)], tokens


def _replaced(directory: Path, token: str) -> list[str]:
    # A ledger removed long after its compaction: the files it names are long gone too.
    try:
        ledger = orjson.loads((directory / ledger_name(token)).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return []
    replaces = ledger.get("replaces") if isinstance(ledger, dict) else None
    return [n for n in replaces if isinstance(n, str)] if isinstance(replaces, list) else []


def snapshot(
    root: str | os.PathLike[str],
    table: str,
    *,
    venues: Iterable[str] | None = None,
    days: tuple[date | None, date | None] = (None, None),
) -> TableSnapshot:
    """The files (and live tail) to read for ``table``; see the module docstring."""
    base = Path(root)
    check_table_name(table)
    if isinstance(venues, str):  # one venue, not its letters
        venues = [venues]
    return _take(base, table, lambda: lake_files(base, table, venues, days), venues, days)


def lake_files(
    root: Path,
    table: str,
    venues: Iterable[str] | None = None,
    days: tuple[date | None, date | None] = (None, None),
) -> tuple[list[Path], set[str]]:
    """Every partition's ``committed_files``, joined: the files and the tokens they hold."""
    files: list[Path] = []
    tokens: set[str] = set()
    for _, _, directory in partitions(root, table, venues, days):
        found, held = committed_files(directory)
        files.extend(found)
        tokens |= held
    return files, tokens


def tail_segments(
    root: Path,
    table: str,
    venues: Iterable[str] | None = None,
    days: tuple[date | None, date | None] = (None, None),
) -> list[Path] | None:
    """The live writer's segments of ``table``; None when no live writer owns ``_tail``."""
    if read_owner(root) is None:
        return None
    segments: list[Path] = []
    for _, _, directory in partitions(tail_root(root), table, venues, days):
        try:
            names = sorted(os.listdir(directory))  # noqa: PTH208
        except FileNotFoundError:  # the writer closed: its rows are committed
            continue
        segments.extend(
            directory / n for n in names if n.endswith(SEGMENT_SUFFIX) and not n.startswith(".")
        )
    return segments


def _take(
    root: Path,
    table: str,
    list_files: Callable[[], tuple[list[Path], set[str]]],
    venues: Iterable[str] | None,
    days: tuple[date | None, date | None],
    readers: dict[Path, SegmentReader] | None = None,
) -> TableSnapshot:
    """Take a snapshot. ``readers`` keeps each segment's reader from one snapshot to the
    next, so that only what was appended since is read (the watcher's)."""
    venues = None if venues is None else list(venues)  # iterated once per attempt
    readers = {} if readers is None else readers
    for _ in range(ATTEMPTS):
        segments = tail_segments(root, table, venues, days)  # before the files: the seam
        files, tokens = list_files()
        if segments is None:
            readers.clear()
            return TableSnapshot(table, files)
        wanted = [p for p in segments if p.name[: -len(SEGMENT_SUFFIX)] not in tokens]
        for gone in readers.keys() - set(wanted):
            del readers[gone]  # committed, or deleted: never read again
        try:
            parts = [readers.setdefault(p, SegmentReader(p)).read() for p in wanted]
        except FileNotFoundError:
            continue  # a segment committed and deleted since listed: its file is there now
        return TableSnapshot(table, files, _joined(table, parts, files))
    raise LakeError(f"the live tail of {table!r} changed faster than it could be read; retry")


def _joined(table: str, parts: list[pa.Table], files: list[Path]) -> pa.Table | None:
    parts = [p for p in parts if p.num_columns]  # a segment without its schema yet
    if not parts:
        return _empty_tail(table, files)
    if len(parts) == 1:
        return parts[0]
    # Like read_table: a column one segment lacks reads as nulls there.
    return pa.concat_tables(parts, promote_options="default")


def _empty_tail(table: str, files: list[Path]) -> pa.Table | None:
    if table in _core.TABLES:
        return pa.schema(_core.event_schema(table)).empty_table()
    if table == "events":
        return EVENTS_SCHEMA.empty_table()
    for path in files[:1]:
        try:
            return pq.read_schema(path).remove_metadata().empty_table()
        except FileNotFoundError:
            pass  # compacted away since listed; the next snapshot will know
    return None


class LakeWatcher:
    """Snapshots of a lake's tables for a long-lived reader (the DuckDB session).

    File lists are kept while ``generation`` is unchanged; the live tail is read on every
    snapshot, each segment from where the last snapshot stopped reading it. ``changed()``
    is cheap (two small file reads and a signal 0): the session asks it before every query.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        # Per table: the generation its file list was made at, and the list. Per table, not
        # one for all: a session rebuilds its views one table after another, and a commit
        # landing between two of them leaves the first table's list older than the second's
        # (a single token would then say "unchanged" while that table misses the commit).
        # A lake without a generation file (no commit yet) is as stable as one with: every
        # writer and compaction writes it, so its first appearance is itself a change.
        self._files: dict[str, tuple[tuple[int, int] | None, tuple[list[Path], set[str]]]] = {}
        #: Per table: whether its last snapshot had a live tail.
        self._tails: dict[str, bool] = {}
        #: Per table, the readers of its live segments: each snapshot reads only the
        #: batches appended since the last (segments are append-only).
        self._readers: defaultdict[str, dict[Path, SegmentReader]] = defaultdict(dict)

    def changed(self) -> bool:
        """True if a snapshot taken now could differ from the last one: files committed
        or swapped, or a live writer whose tail moves (or that went away)."""
        current = generation(self.root)
        if not self._files or any(made != current for made, _ in self._files.values()):
            return True
        return any(self._tails.values()) or read_owner(self.root) is not None

    def snapshot(self, table: str) -> TableSnapshot:
        check_table_name(table)

        def listing() -> tuple[list[Path], set[str]]:
            # Called after the tail is listed, like snapshot()'s listing. A commit that
            # lands after this generation is read stays in its segment for seconds.
            current = generation(self.root)
            cached = self._files.get(table)
            if cached is None or cached[0] != current:
                cached = self._files[table] = (current, lake_files(self.root, table))
            return cached[1]

        taken = _take(self.root, table, listing, None, (None, None), self._readers[table])
        self._tails[table] = taken.tail is not None
        return TableSnapshot(table, list(taken.files), taken.tail)
