"""How big the lake is and when it last committed a file, from its directories alone.

The dashboard asks every few seconds, beside a collector that commits a file per partition
a minute (and a compaction that replaces many by few), on a lake that may hold many
thousand files: committed files never change, so each is ``stat``-ed once, when first seen,
and a scan after that lists the directories and looks up the new names only.

The lake's data files are ``<table>/venue=<v>/date=<d>/part-*.parquet``; the live writer's
uncommitted tail (``_tail/``), the marker, the lock and compaction ledgers are not counted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from alphapulse.lake.layout import PART_GLOB

_PREFIX, _SUFFIX = PART_GLOB.split("*")


@dataclass(frozen=True)
class Commit:
    """A committed data file: the newest one is the lake's last commit."""

    path: Path
    table: str
    venue: str
    bytes: int
    mtime: float


@dataclass(frozen=True)
class LakeUsage:
    bytes: int
    files: int
    last_commit: Commit | None


class LakeUsageScanner:
    """Scans ``root``; keeps what it learnt of each file for the next scan."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._known: dict[str, Commit] = {}

    def scan(self) -> LakeUsage:
        seen: dict[str, Commit] = {}
        for directory, table, venue in self._partitions():
            try:
                entries = list(os.scandir(directory))
            except (FileNotFoundError, NotADirectoryError):
                continue  # a partition compacted away meanwhile
            for entry in entries:
                name = entry.name
                if not (name.startswith(_PREFIX) and name.endswith(_SUFFIX)):
                    continue
                known = self._known.get(entry.path)
                if known is None:
                    try:
                        info = entry.stat()
                    except FileNotFoundError:
                        continue  # replaced by a compaction between listing and stat
                    known = Commit(Path(entry.path), table, venue, info.st_size, info.st_mtime)
                seen[entry.path] = known
        self._known = seen
        last = max(seen.values(), key=lambda c: c.mtime, default=None)
        return LakeUsage(sum(c.bytes for c in seen.values()), len(seen), last)

    def _partitions(self) -> list[tuple[str, str, str]]:
        """(directory, table, venue) of every ``<table>/venue=*/date=*``."""
        out = []
        for table in _subdirs(str(self.root)):
            if table.name.startswith((".", "_")):
                continue
            for venue in _subdirs(table.path):
                if not venue.name.startswith("venue="):
                    continue
                for day in _subdirs(venue.path):
                    if day.name.startswith("date="):
                        out.append((day.path, table.name, venue.name.removeprefix("venue=")))
        return out


def _subdirs(path: str) -> list[os.DirEntry[str]]:
    try:
        return [e for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []
