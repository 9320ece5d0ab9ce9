"""Where things live in a lake, what marks a lake and its files, and how files become durable.

Shared by the writer and the reader: the path of a partition, the names of committed and
temporary files, the version marker at the root and the metadata every file carries.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Any, Final

import orjson
import pyarrow as pa

#: The lake format this code writes, and the versions it can read.
FORMAT: Final = "alphapulse.lake"
SCHEMA_VERSION: Final = 1
READABLE_VERSIONS: Final = frozenset({1})

#: The version marker at the lake root, and the lock a writer holds on the lake.
MARKER: Final = "_alphapulse_lake.json"
LOCK: Final = "_alphapulse_lake.lock"

#: Parquet key-value metadata on every file.
VERSION_KEY: Final = b"alphapulse.schema_version"
TABLE_KEY: Final = b"alphapulse.table"

#: Committed files are ``part-*.parquet``; a file being written is ``.part-*.parquet.tmp``,
#: which no reader lists (pyarrow skips dot-files, and neither glob ends in ``.parquet``).
PART_GLOB: Final = "part-*.parquet"
TEMP_GLOB: Final = ".part-*.parquet.tmp"

NS_PER_DAY: Final = 86_400 * 10**9
EPOCH: Final = date(1970, 1, 1)

#: Table names and venues become path segments: keep them to plain tokens, so a partition
#: path never needs escaping and reads the same in pyarrow, DuckDB and a shell.
_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_VENUE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


class LakeError(Exception):
    """Something about the lake itself is wrong (as opposed to the data written to it)."""


class LakeVersionError(LakeError):
    """A lake or file written in a format version this code does not understand."""


class LakeLockedError(LakeError):
    """Another writer holds the lake."""


class LakeStorageError(LakeError):
    """The file system refused a commit (disk full, read-only, permissions). ``path`` is
    the directory that could not be written; the rows stay buffered, committed files are
    untouched, and the message is one line meant for an operator."""

    def __init__(self, path: Path, cause: OSError) -> None:
        # pyarrow's errors carry the errno but a long strerror: the plain one reads better.
        reason = os.strerror(cause.errno) if cause.errno else str(cause)
        super().__init__(f"cannot write to {path}: {reason}")
        self.path = path


class LakeWriterError(LakeError):
    """The background writer failed; its cause is chained. Rows it had not written are lost
    from memory (``stats()["rows_lost"]`` counts them): replay the raw capture for them."""


def check_table_name(table: str) -> str:
    if not _TABLE_NAME.match(table):
        raise ValueError(f"table name {table!r} is not a lowercase identifier")
    return table


def check_venue(venue: str) -> str:
    if not _VENUE_NAME.match(venue):
        raise ValueError(f"venue {venue!r} cannot name a partition (letters, digits, _ . -)")
    return venue


def partition_dir(root: Path, table: str, venue: str, day: date) -> Path:
    """``<root>/<table>/venue=<venue>/date=<YYYY-MM-DD>``."""
    return root / table / f"venue={venue}" / f"date={day.isoformat()}"


def part_name(first_ts_recv: int, token: str) -> str:
    """``part-<time of day of the first row>-<token>.parquet``: lists in time order."""
    in_day = first_ts_recv % NS_PER_DAY
    seconds, nanos = divmod(in_day, 10**9)
    hours, rest = divmod(seconds, 3600)
    return f"part-{hours:02d}{rest // 60:02d}{rest % 60:02d}.{nanos:09d}-{token}.parquet"


def temp_name(final_name: str) -> str:
    return f".{final_name}.tmp"


def parse_partition(path: Path) -> tuple[str, date] | None:
    """The venue and date of a file ``…/venue=<v>/date=<d>/part-….parquet``, else None."""
    venue_dir, date_dir = path.parent.parent.name, path.parent.name
    if not (venue_dir.startswith("venue=") and date_dir.startswith("date=")):
        return None
    try:
        return venue_dir[len("venue=") :], date.fromisoformat(date_dir[len("date=") :])
    except ValueError:
        return None


def file_metadata(table: str) -> dict[bytes, bytes]:
    return {VERSION_KEY: str(SCHEMA_VERSION).encode(), TABLE_KEY: table.encode()}


def check_file_metadata(path: Path, metadata: dict[bytes, bytes] | None) -> None:
    """Raise LakeVersionError unless ``metadata`` names a schema version we can read."""
    raw = (metadata or {}).get(VERSION_KEY)
    if raw is None:
        raise LakeVersionError(f"{path}: no {VERSION_KEY.decode()} metadata (not a lake file)")
    try:
        version = int(raw)
    except ValueError:
        version = None
    if version not in READABLE_VERSIONS:
        raise LakeVersionError(
            f"{path}: schema version {raw.decode(errors='replace')!r} is not one this "
            f"AlphaPulse reads ({sorted(READABLE_VERSIONS)}); upgrade alphapulse"
        )


def read_marker(root: Path) -> dict[str, Any] | None:
    """The lake's version marker, checked; None where there is none."""
    path = root / MARKER
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        marker = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise LakeVersionError(f"{path}: unreadable lake marker ({exc})") from None
    if not isinstance(marker, dict) or marker.get("format") != FORMAT:
        raise LakeVersionError(f"{path}: not an {FORMAT} marker: {marker!r}")
    version = marker.get("schema_version")
    if type(version) is not int or version < 1:
        # No AlphaPulse writes this: a damaged or hand-made marker, not a newer lake.
        raise LakeVersionError(
            f"{path}: unreadable lake marker (schema_version {version!r}): restore it "
            f'(this AlphaPulse writes {{"format": "{FORMAT}", "schema_version": {SCHEMA_VERSION}}})'
        )
    if version not in READABLE_VERSIONS:
        raise LakeVersionError(
            f"{path}: lake schema version {version!r} is not one this AlphaPulse reads "
            f"({sorted(READABLE_VERSIONS)}); upgrade alphapulse"
        )
    return marker


def write_marker(root: Path) -> None:
    """Write the version marker atomically (temp file, fsync, rename, fsync the root)."""
    body = orjson.dumps({"format": FORMAT, "schema_version": SCHEMA_VERSION})
    temp = root / f".{MARKER}.tmp"
    with temp.open("wb") as f:
        f.write(body + b"\n")
        f.flush()
        os.fsync(f.fileno())
    temp.replace(root / MARKER)
    fsync_dir(root)


def fsync_file(path: Path) -> None:
    """Flush a closed file's data to disk (Linux flushes dirty pages whatever the fd mode)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make the directory's entries (a rename, a new file or subdirectory) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path) -> None:
    """``mkdir -p`` that also makes each new directory's entry durable in its parent."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for new in reversed(missing):
        new.mkdir(exist_ok=True)
        fsync_dir(new.parent)


def as_table(data: object) -> pa.Table:
    """Any Arrow tabular object as a pyarrow Table, without copying.

    Accepts pyarrow tables and record batches, and anything exporting the Arrow PyCapsule
    interface (``__arrow_c_stream__`` or ``__arrow_c_array__``): EventBatch, polars, DuckDB.
    """
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    if hasattr(data, "__arrow_c_array__"):
        return pa.Table.from_batches([pa.record_batch(data)])
    raise TypeError(f"expected Arrow tabular data, got {type(data).__name__}")
