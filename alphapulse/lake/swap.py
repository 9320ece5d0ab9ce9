"""The steps of one compaction swap, and the repair of a swap a crash interrupted.

``Merge.run`` is ``read``, ``write_ledger``, ``write_file``, ``publish``, ``retire``; after
each, the directory is in a state every reader reads right (``snapshot``'s rules) and that
``settle`` repairs, so the steps are separate methods that tests stop between.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson
import pyarrow as pa

from alphapulse.lake.layout import NS_PER_DAY, LakeStorageError, fsync_dir, fsync_file, part_name
from alphapulse.lake.merge import (
    PartFile,
    carried_metadata,
    compacted_token,
    first_ts_ns,
    read_files,
    sort_order,
    write_sorted,
)
from alphapulse.lake.snapshot import (
    LEDGER_PREFIX,
    bump_generation,
    ledger_name,
    token_of,
)

log = logging.getLogger(__name__)

#: Temp files of a swap (the merged file, a ledger being written). Not the writer's
#: ``.part-*.tmp``: a writer opening the lake deletes those, and would cut a merge short.
TEMP_PREFIX: Final = ".compacting-"
#: Merges publish from several threads; a bump's temp file is named after the process.
_BUMPING = threading.Lock()
#: How long a ledger outlives the files it replaced.
LEDGER_KEEP_NS: Final = NS_PER_DAY


@dataclass
class Merge:
    """One group of files of a partition becoming one compacted file."""

    root: Path
    table: str
    directory: Path
    files: list[PartFile]
    token: str = field(default_factory=compacted_token)
    #: The step under way (or last done): read, ledger, file, publish, retire, done.
    stage: str = "read"
    name: str = ""
    rows: int = 0
    size: int = 0
    _data: pa.Table | None = None
    _order: pa.Array | None = None
    _carried: dict[bytes, bytes] = field(default_factory=dict)

    @property
    def ledger(self) -> Path:
        return self.directory / ledger_name(self.token)

    @property
    def temp(self) -> Path:
        return self.directory / f"{TEMP_PREFIX}{self.name}.tmp"

    def run(self, now_ns: int | None = None) -> None:
        self.read()
        self.write_ledger(now_ns)
        self.write_file()
        self.publish()
        self.retire()

    def read(self) -> None:
        self.stage = "read"
        data = read_files(self.files)
        self._carried = carried_metadata(self.files)
        self._order = sort_order(data)
        if self._order is not None:
            # One copy, made once: the files' chunks go as it is made (see write_sorted).
            data = data.combine_chunks()
        self._data = data
        self.rows = data.num_rows
        self.name = part_name(first_ts_ns(data), self.token)

    def write_ledger(self, now_ns: int | None = None) -> None:
        """The ledger, durable before the file it describes can exist."""
        self.stage = "ledger"
        body = {
            # Also the files the compacted files replaced did: their tokens stay committed
            # for the live tail's rule while this file is listed (see ``snapshot``).
            "replaces": _replaces(self.directory, self.files),
            "file": self.name,
            "rows": self.rows,
            "created_ns": time.time_ns() if now_ns is None else now_ns,
        }
        temp = self.directory / f"{TEMP_PREFIX}{self.ledger.name}.tmp"
        self._storage(lambda: _write_durably(temp, orjson.dumps(body), self.ledger))

    def write_file(self) -> None:
        self.stage = "file"
        assert self._data is not None, "read() first"
        data, order = self._data, self._order

        def write() -> None:
            write_sorted(data, order, self.temp, self.table, self._carried)
            fsync_file(self.temp)

        try:
            self._storage(write)
        except BaseException:
            for leftover in (self.temp, self.ledger):  # settle() would, on the next run
                with contextlib.suppress(OSError):
                    leftover.unlink(missing_ok=True)
            raise
        self._data = self._order = None  # the memory goes before the next merge's
        self.size = self.temp.stat().st_size

    def publish(self) -> None:
        """The rename: readers switch from the replaced files to this one."""
        self.stage = "publish"
        final = self.directory / self.name

        def rename() -> None:
            self.temp.replace(final)
            fsync_dir(self.directory)

        self._storage(rename)
        with _BUMPING:
            bump_generation(self.root)

    def retire(self) -> None:
        self.stage = "retire"
        for f in self.files:
            f.path.unlink(missing_ok=True)
        self._storage(lambda: fsync_dir(self.directory))
        self.stage = "done"

    def _storage(self, step: Any) -> None:
        try:
            step()
        except OSError as exc:
            raise LakeStorageError(self.directory, exc) from exc


def _write_durably(temp: Path, body: bytes, final: Path) -> None:
    with temp.open("wb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    temp.replace(final)
    fsync_dir(final.parent)


def read_ledger(path: Path) -> dict[str, Any] | None:
    """A ledger's fields, checked; None if it is not one (logged: it was never ours)."""
    try:
        ledger: Any = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except orjson.JSONDecodeError:
        log.warning("lake: %s is not a compaction ledger (not JSON); left as it is", path)
        return None
    replaces = ledger.get("replaces") if isinstance(ledger, dict) else None
    if not (
        isinstance(replaces, list)
        and all(isinstance(n, str) for n in replaces)
        and isinstance(ledger.get("file"), str)
    ):
        log.warning("lake: %s is not a compaction ledger; left as it is", path)
        return None
    checked: dict[str, Any] = ledger
    return checked


def _replaces(directory: Path, files: list[PartFile]) -> list[str]:
    names = [f.path.name for f in files]
    for f in files:
        token = token_of(f.path.name)
        if f.compacted and token and (ledger := read_ledger(directory / ledger_name(token))):
            names.extend(n for n in ledger["replaces"] if n not in names)
    return names


def settle(directory: Path, now_ns: int) -> tuple[int, int]:
    """Finish or undo what an interrupted compaction left in ``directory``.

    Returns (leftovers removed, ledgers expired). The compaction lock must be held.
    """
    repaired = expired = 0
    for entry in list(os.scandir(directory)):
        if entry.name.startswith(TEMP_PREFIX):
            Path(entry.path).unlink(missing_ok=True)
            repaired += 1
    ledgers = {p: read_ledger(p) for p in sorted(directory.glob(f"{LEDGER_PREFIX}*.json"))}
    live = {p: ledger for p, ledger in ledgers.items() if ledger is not None}
    # Files first: a ledger whose file arrived has the last word on what it replaced.
    for ledger in live.values():
        if (directory / ledger["file"]).exists():
            for name in ledger["replaces"]:
                if (directory / name).exists():
                    (directory / name).unlink()
                    repaired += 1
    for path, ledger in live.items():
        if not (directory / ledger["file"]).exists():
            # Never renamed into place (or merged again since): the ledger hides nothing.
            path.unlink()
            repaired += 1
        elif now_ns - _created_ns(ledger) >= LEDGER_KEEP_NS:
            path.unlink()
            expired += 1
    if repaired or expired:
        fsync_dir(directory)
    return repaired, expired


def _created_ns(ledger: dict[str, Any]) -> int:
    created = ledger.get("created_ns")
    return created if type(created) is int else 0
