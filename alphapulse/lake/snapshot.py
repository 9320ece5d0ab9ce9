"""A consistent view of one table: its committed files and a live writer's uncommitted tail.

Readers (the DuckDB session, ``scan``, ``read_table``) see each row exactly once while a
writer commits and a compaction replaces files, because of three rules:

- Every file name ends in its *token*: ``part-<time>-<token>.parquet``. A writer's tail
  segment for a partition buffer carries the token its file will have
  (``_tail/<table>/venue=<v>/date=<d>/<token>.arrows``), so a segment whose token is
  committed is skipped: the file has its rows. Tail segments are listed *before* the
  files, so a commit between the two listings is seen as a file.
- A compacted file's token starts with ``c`` and a ledger ``_compaction-<token>.json``
  beside it, written before it, names the files it replaces (``{"replaces": [names]}``).
  Those files are left out if they are still listed; their tokens count as committed.
- A file listed but gone when read (a compaction deleted it) means the snapshot is stale:
  take another (``snapshot`` is cheap; the session retries once).

``generation(root)`` changes whenever a writer commits or a compaction swaps files, so a
reader can keep its file list until it does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

import orjson
import pyarrow as pa

from alphapulse.lake.layout import check_table_name

#: Rewritten (by rename: a new inode) on every commit and compaction.
GENERATION: Final = "_alphapulse_lake.gen"
LEDGER_PREFIX: Final = "_compaction-"
COMPACTED_PREFIX: Final = "c"


@dataclass(frozen=True)
class TableSnapshot:
    """What a reader should read of ``table``: ``files`` then ``tail``, each row once."""

    table: str
    #: Committed files, ledger-filtered, sorted by partition then name (time order).
    files: list[Path]
    #: Rows a live writer holds but has not committed; None without a live writer.
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
        st = (root / GENERATION).stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns)


def bump_generation(root: Path) -> None:
    """Tell readers the file set changed. Not fsynced: it is a hint, not data."""
    temp = root / f".{GENERATION}.{os.getpid()}.tmp"
    temp.write_bytes(b"")
    temp.replace(root / GENERATION)


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
        for d in sorted(os.scandir(v.path), key=lambda e: e.name):
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
    names = set()
    compacted = []
    try:
        for entry in os.scandir(directory):
            token = token_of(entry.name)
            if token is None:
                continue
            names.add(entry.name)
            if token.startswith(COMPACTED_PREFIX):
                compacted.append(token)
    except FileNotFoundError:
        return [], set()
    tokens = set()
    for token in compacted:
        for old in _replaced(directory, token):
            names.discard(old)
            if (t := token_of(old)) is not None:
                tokens.add(t)
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
    files: list[Path] = []
    for _, _, directory in partitions(base, table, venues, days):
        found, _ = committed_files(directory)
        files.extend(found)
    return TableSnapshot(table, files)


class LakeWatcher:
    """Snapshots of a lake's tables for a long-lived reader (the DuckDB session).

    File lists are kept while ``generation`` is unchanged; the live tail is read afresh
    on every snapshot. ``changed()`` is cheap (a stat or two): the session asks it before
    every query.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._generation: tuple[int, int] | None = None
        self._files: dict[str, list[Path]] = {}

    def changed(self) -> bool:
        """True if a snapshot taken now could differ from the last one."""
        current = generation(self.root)
        return current is None or current != self._generation

    def snapshot(self, table: str) -> TableSnapshot:
        current = generation(self.root)
        if current is None or current != self._generation:
            self._files.clear()
            self._generation = current
        files = self._files.get(table)
        if files is None:
            files = self._files[table] = snapshot(self.root, table).files
        return TableSnapshot(table, list(files))
