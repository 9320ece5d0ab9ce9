"""The live tail: a writer's uncommitted rows, published as Arrow IPC streams for readers.

A LakeWriter made with ``publish_tail=True`` (the collector's) keeps, beside each partition
buffer, a *segment* holding the same rows::

    <lake>/_tail/_owner.json                                  {"pid", "started_ns", ...}
    <lake>/_tail/<table>/venue=<v>/date=<d>/<token>.arrows     Arrow IPC stream

``token`` is the one the buffer's file will carry (``part-<time>-<token>.parquet``), so a
reader skips a segment whose token is committed (see ``snapshot``). Every part the buffer
receives is appended to its segment as one record batch, written straight to the file (no
user-space buffer), so a reader that maps the file sees every whole batch written before.

The rules that keep readers right:

- A segment is only ever appended to, then deleted; never truncated or rewritten. Readers
  map it into memory, and a mapping of a file that shrank would fault.
- After its file is committed, a segment stays ``grace_seconds`` more: a reader that listed
  it just before the commit, and the files just before too, can still read it.
- The owner file names the writer's process. Readers trust ``_tail`` only while it lives,
  so what a crash leaves is ignored, and the next writer removes it before it publishes.
- Publishing is best effort. A write the file system refuses (disk full) is counted in
  ``errors``, logged once, and that buffer publishes no more; the lake's commits never
  wait on or fail for the tail. Its rows are then readable once committed.
- The tail never takes the room the commits need: the segments live on the lake's disk,
  so a buffer is published only while that disk keeps ``reserve_bytes`` free (the writer
  passes what it may buffer at most, an upper bound on the files its buffers become).
  Below it, buffers stop publishing as on a failure; new ones publish again once there
  is room.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections import deque
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

import orjson
import pyarrow as pa

log = logging.getLogger(__name__)

TAIL_DIR: Final = "_tail"
OWNER: Final = "_owner.json"
SEGMENT_SUFFIX: Final = ".arrows"
#: How long a committed buffer's segment outlives its commit. A reader needs it for the
#: moment between listing the segments and reading them: milliseconds, with a margin for
#: a machine under load (a reader that takes longer finds it gone and lists again).
GRACE_SECONDS: Final = 5.0


def tail_root(root: Path) -> Path:
    return root / TAIL_DIR


def segment_path(root: Path, table: str, venue: str, day: date, token: str) -> Path:
    return (
        tail_root(root)
        / table
        / f"venue={venue}"
        / f"date={day.isoformat()}"
        / (token + SEGMENT_SUFFIX)
    )


def process_start(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (Linux), else None.

    Fixed for the life of a process and different for a later one that reuses its pid:
    with the pid it names one process, where the pid alone may name a stranger.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from its end.
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])  # field 22, starttime
    except (IndexError, ValueError):
        return None


def remove_tail(root: Path) -> None:
    """Delete ``_tail`` and all in it, the owner file first so readers stop trusting it."""
    directory = tail_root(root)
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        (directory / OWNER).unlink()
    shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Segment:
    """One partition buffer's published rows; ``stream`` is None once it stops."""

    path: Path
    stream: pa.ipc.RecordBatchStreamWriter | None = None
    sink: pa.NativeFile | None = None


class TailPublisher:
    """Publishes a LakeWriter's buffers; one per writer, driven by the writer's thread.

    Created once the writer holds the lake's lock, so any ``_tail`` there is a dead
    writer's: it is removed, then the owner file written.
    """

    def __init__(
        self, root: Path, *, reserve_bytes: int = 0, grace_seconds: float = GRACE_SECONDS
    ) -> None:
        self.root = root
        self.reserve_bytes = reserve_bytes
        self.grace_seconds = grace_seconds
        self.errors = 0
        self._retired: deque[tuple[float, Path]] = deque()
        self._dirs: set[Path] = set()
        directory = tail_root(root)
        remove_tail(root)
        owner = {"pid": os.getpid(), "started_ns": time.time_ns()}
        if (start := process_start(os.getpid())) is not None:
            owner["process_start"] = start
        try:
            # What could not be removed may be a dead writer's rows: never vouch for them.
            directory.mkdir()
            temp = directory / f".{OWNER}.tmp"
            temp.write_bytes(orjson.dumps(owner))
            temp.replace(directory / OWNER)  # readers never see half an owner
        except OSError as exc:
            self._failed(directory, exc)
            self.enabled = False
        else:
            self.enabled = True

    def open(
        self, table: str, venue: str, day: date, token: str, schema: pa.Schema
    ) -> Segment | None:
        """A new segment for the buffer that will be committed under ``token``."""
        if not self.enabled:
            return None
        path = segment_path(self.root, table, venue, day, token)
        if not self._room(tail_root(self.root), 0):
            self._failed(path, "the lake's disk is nearly full")
            return None
        segment = Segment(path)
        try:
            if path.parent not in self._dirs:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._dirs.add(path.parent)
            segment.sink = pa.OSFile(str(path), "wb")  # unbuffered: each write is a syscall
            segment.stream = pa.ipc.new_stream(segment.sink, schema)
        except (OSError, pa.ArrowException) as exc:
            self._stop(segment, exc)
        return segment

    def append(self, segment: Segment | None, part: pa.Table) -> None:
        """Add ``part`` to the segment as one record batch, visible to readers on return."""
        if segment is None or segment.stream is None or part.num_rows == 0:
            return
        if not self._room(segment.path.parent, part.nbytes):
            self._stop(segment, "the lake's disk is nearly full")
            return
        batches = part.to_batches()
        batch = batches[0] if len(batches) == 1 else pa.concat_batches(batches)
        try:
            segment.stream.write_batch(batch)
        except (OSError, pa.ArrowException) as exc:
            self._stop(segment, exc)

    def retire(self, segment: Segment | None, now: float | None = None) -> None:
        """The segment's rows are committed: close it and delete it after the grace."""
        if segment is None:
            return
        self._close(segment)
        now = time.monotonic() if now is None else now
        self._retired.append((now + self.grace_seconds, segment.path))

    def sweep(self, now: float | None = None) -> None:
        """Delete the retired segments whose grace has passed."""
        now = time.monotonic() if now is None else now
        while self._retired and self._retired[0][0] <= now:
            _, path = self._retired.popleft()
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)

    def close(self) -> None:
        """The writer is done (its buffers committed): remove ``_tail`` entirely."""
        self._retired.clear()
        self.enabled = False
        remove_tail(self.root)

    def stop(self, segment: Segment | None) -> None:
        """Close a segment without retiring it (the writer is going away)."""
        if segment is not None:
            self._close(segment)

    def _close(self, segment: Segment) -> None:
        stream, sink = segment.stream, segment.sink
        segment.stream = segment.sink = None
        with contextlib.suppress(OSError, pa.ArrowException):
            if stream is not None:
                stream.close()
        with contextlib.suppress(OSError, pa.ArrowException):
            if sink is not None:
                sink.close()

    def _room(self, directory: Path, nbytes: int) -> bool:
        """Whether ``nbytes`` more leave ``reserve_bytes`` free on ``directory``'s disk."""
        if self.reserve_bytes <= 0:
            return True
        try:
            st = os.statvfs(directory)
        except OSError:
            return True  # the write itself will tell
        return st.f_bavail * st.f_frsize - nbytes >= self.reserve_bytes

    def _stop(self, segment: Segment, why: Exception | str) -> None:
        self._close(segment)
        self._failed(segment.path, why)

    def _failed(self, path: Path, why: Exception | str) -> None:
        self.errors += 1
        if self.errors == 1:  # a full disk fails every write: one line, not one per batch
            if not isinstance(why, str):
                errno = getattr(why, "errno", None)
                why = os.strerror(errno) if errno else str(why)
            log.warning(
                "lake tail: cannot publish %s (%s); uncommitted rows of this buffer are not "
                "readable until committed (further failures only counted)",
                path,
                why,
            )


class SegmentReader:
    """Reads one segment as it grows, memory-mapped (no copy).

    Each ``read`` maps the file again and parses only the messages past the last whole
    one it read: the segment is only ever appended to. A message cut short (being written)
    ends a read and is read whole next time. A segment gone raises FileNotFoundError.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.schema: pa.Schema | None = None
        self.batches: list[pa.RecordBatch] = []
        self.offset = 0  # where the first message not yet read begins

    def read(self) -> pa.Table:
        """Every whole batch so far; a table without columns before the schema is whole."""
        if self.path.stat().st_size > self.offset:
            self._read_more()
        if self.schema is None:
            return pa.table({})
        return pa.Table.from_batches(self.batches, self.schema)

    def _read_more(self) -> None:
        source = pa.memory_map(str(self.path))
        source.seek(self.offset)
        messages = pa.ipc.MessageReader.open_stream(source)
        while True:
            try:
                message = messages.read_next_message()
                if self.schema is None:
                    self.schema = pa.ipc.read_schema(message)
                else:
                    self.batches.append(pa.ipc.read_record_batch(message, self.schema))
            except StopIteration:  # the end of the file, or of a closed stream
                return
            except (pa.ArrowInvalid, OSError):  # the message being written
                return
            self.offset = source.tell()


def read_segment(path: Path) -> pa.Table:
    """A segment's whole record batches (see ``SegmentReader``)."""
    return SegmentReader(path).read()


def read_owner(root: Path) -> dict[str, Any] | None:
    """The owner file of a live writer's ``_tail``; None without one or when it is dead."""
    try:
        owner = orjson.loads((tail_root(root) / OWNER).read_bytes())
    except (FileNotFoundError, NotADirectoryError, orjson.JSONDecodeError):
        return None
    if not isinstance(owner, dict) or type(owner.get("pid")) is not int:
        return None
    return owner if _alive(owner["pid"], owner.get("process_start")) else None


def _alive(pid: int, started: object) -> bool:
    if pid <= 0:  # kill(0) and kill(-1) would signal groups, not one process
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        pass  # another user's process: it exists
    # A dead writer's pid may have been given to another process since.
    return not isinstance(started, int) or process_start(pid) in (None, started)
