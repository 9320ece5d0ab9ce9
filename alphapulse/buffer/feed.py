"""The collector's feed into the buffer: batches offered without waiting, COPYed by a task.

The lake is the source of truth; the buffer is a copy of its last days that many readers
can share. So the database never slows the collector down: ``offer`` queues a batch and
returns. A task of its own COPYs the queue into PostgreSQL (``PostgresSink``). When the
database is down or slower than the market, the queue holds up to ``max_bytes`` and then
drops its oldest batches, remembering for each table the ``ts_recv`` range it dropped (a
*gap*). Once the database takes writes again and the queue is empty, the feed catches up:
it has the lake commit what it buffers (``lake_flush``), then, in one transaction per
table, deletes the gap's range from the buffer and copies that range from the lake. The
buffer then holds exactly the lake's rows again, each once.

A collector killed with rows still queued, or whose journal replays rows into the lake on
its next start, would leave the buffer short of them: so the feed keeps its state in the
lake, ``_buffer_feed.json`` (replaced atomically on every change): per table the newest
``ts_recv`` it has written and the gaps it owes. A start owes, per table, everything from
``RESTART_MARGIN`` before the newest row written to the start itself, and the gaps a stop
left; the first catch-up pays them. A connection lost while up owes the same margin: a
server that crashed may have lost its last acknowledged commits (``synchronous_commit =
off`` acknowledges them before their WAL is written).

Everything is visible: ``buffer_down`` (with the reason, its password masked),
``buffer_up``, ``buffer_dropping`` (the first drop of an outage), ``buffer_caught_up``
and ``buffer_write_failed`` events through ``on_event``, and ``stats()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import asyncpg
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from alphapulse.buffer.migrations import Layout
from alphapulse.buffer.schema import LAKE_TABLE
from alphapulse.buffer.sink import PostgresSink
from alphapulse.dsn import mask, password_of
from alphapulse.lake.layout import check_table_name
from alphapulse.lake.rows import checked_table

log = logging.getLogger(__name__)

#: The lake's table -> the buffer's table that mirrors it.
BUFFER_TABLE = {lake: buffer for buffer, lake in LAKE_TABLE.items()}
#: What the queue holds at most while the database is down or slow.
MAX_BYTES = 64 << 20
#: Reconnection backoff: from the first to the last, doubling.
RETRY_SECONDS = (0.5, 30.0)
#: A catch-up waits this long after the last drop, so rows received before the drop that
#: were still on their way (the next drain) are in the lake before the range is copied.
CATCH_UP_DELAY = 1.0
#: A start catches up from this long before the newest row the buffer had: batches of
#: several connections reach the feed out of ``ts_recv`` order by up to a drain or two.
RESTART_MARGIN_NS = 10 * 1_000_000_000
#: The feed's state in the lake directory (see the module docstring).
STATE_FILE = "_buffer_feed.json"
#: A catch-up copies a range from the lake this much at a time (one transaction each), so
#: that an outage of hours never becomes one read of hours of rows.
SLICE_NS = 60 * 1_000_000_000
#: The partitioned layout's upkeep (drop expired days, make the next ones) this often.
MAINTAIN_SECONDS = 3600.0
#: The minutes over since are merged into one segment each this often (``sink.compact``):
#: a minute's many small writes become one segment for its readers.
COMPACT_SECONDS = 10.0

#: Errors that mean the connection is gone or unusable: reconnect and retry the batch.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    # "cannot switch to state …; another operation is in progress": a connection left
    # mid-operation by an earlier failure.
    asyncpg.exceptions._base.InternalClientError,
)

EventHook = Callable[..., None]


@dataclass
class Gap:
    """``ts_recv`` nanoseconds of rows of one table and venue the buffer may lack: the
    range to copy back from the lake."""

    lo: int
    hi: int
    rows: int


#: (buffer table, venue): the unit of what the feed owes and catches up.
GapKey = tuple[str, str]


def _ts_range(batch: pa.Table) -> tuple[int, int]:
    bounds = pc.min_max(batch.column("ts_recv").cast(pa.int64()))
    return int(bounds["min"].as_py()), int(bounds["max"].as_py())


def _by_venue(batch: pa.Table) -> list[tuple[str, int, int, int]]:
    """``(venue, lo, hi, rows)`` of each venue's rows in ``batch``."""
    venues = batch.column("venue")
    if pc.count_distinct(venues).as_py() == 1:
        return [(str(venues[0].as_py()), *_ts_range(batch), batch.num_rows)]
    out = []
    for venue in pc.unique(venues).to_pylist():
        part = batch.filter(pc.equal(venues, venue))
        out.append((str(venue), *_ts_range(part), part.num_rows))
    return out


class BufferFeed:
    """Feeds the lake's tables that the buffer mirrors into PostgreSQL at ``dsn``.

    ``lake_root`` and ``lake_flush`` (commit everything the lake writer holds) are what a
    catch-up copies from. ``on_event(kind, **detail)`` records what happens.
    """

    def __init__(
        self,
        dsn: str,
        lake_root: Path,
        lake_flush: Callable[[], Awaitable[None]],
        *,
        on_event: EventHook | None = None,
        max_bytes: int = MAX_BYTES,
        layout: Layout | Literal["auto"] = "auto",
        retry_seconds: tuple[float, float] = RETRY_SECONDS,
        catch_up_delay: float = CATCH_UP_DELAY,
    ) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.dsn = dsn
        self.lake_root = lake_root
        self.lake_flush = lake_flush
        self.on_event = on_event
        self.max_bytes = max_bytes
        self.layout = layout
        self.retry_seconds = retry_seconds
        self.catch_up_delay = catch_up_delay
        self.state: Literal["starting", "up", "down", "closed"] = "starting"
        self.rows_written = 0
        self.rows_dropped = 0
        self.rows_caught_up = 0
        self.rows_failed = 0
        self.reconnects = 0
        self.last_error = ""
        #: What the buffer may lack, per table and venue: ranges, oldest first.
        self.gaps: dict[GapKey, list[Gap]] = {}
        self._queue: deque[tuple[str, pa.Table]] = deque()
        self._queue_bytes = 0
        self._last_drop = 0.0
        self._dropping = False
        self._wake = asyncio.Event()
        self._sink: PostgresSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._password = password_of(dsn)
        self._maintained = 0.0
        self._compacted = time.monotonic()
        self._busy = False
        #: Per table and venue, the newest ts_recv written, or (before the first write)
        #: just before the first offered: what a restart or a lost connection owes from.
        self.written_hi: dict[GapKey, int] = {}
        self._state_path = lake_root / STATE_FILE
        self._database = hashlib.sha256(mask(dsn, self._password).encode()).hexdigest()[:16]
        self._restore(time.time_ns())

    # -- the collector's side ---------------------------------------------------------

    def offer(self, lake_table: str, batch: pa.Table) -> None:
        """Queue ``batch`` of the lake's ``lake_table`` (ignored unless the buffer mirrors
        it); never waits. Past ``max_bytes`` the oldest batches make way (a gap)."""
        name = BUFFER_TABLE.get(lake_table)
        if name is None or batch.num_rows == 0 or self.state == "closed":
            return
        first = [(v, lo) for v, lo, _, _ in _by_venue(batch) if (name, v) not in self.written_hi]
        for venue, lo in first:  # a crash before the first write still owes these rows
            self.written_hi[(name, venue)] = lo - 1
        if first:
            self._save()
        self._queue.append((name, batch))
        self._queue_bytes += batch.nbytes
        while self._queue_bytes > self.max_bytes and len(self._queue) > 1:
            self._drop(*self._queue.popleft())
        self._wake.set()

    def _drop(self, name: str, batch: pa.Table) -> None:
        self._queue_bytes -= batch.nbytes
        self._add_gap(name, batch)
        self.rows_dropped += batch.num_rows
        if not self._dropping:
            self._dropping = True
            self._event("buffer_dropping", queued_bytes=self._queue_bytes, state=self.state)

    def _add_gap(self, name: str, batch: pa.Table) -> None:
        for venue, lo, hi, rows in _by_venue(batch):
            self._owe((name, venue), lo, hi, rows)
        self._last_drop = time.monotonic()
        self._save()

    def _owe(self, key: GapKey, lo: int, hi: int, rows: int) -> None:
        """Add ``[lo, hi]`` to what ``key`` owes, merged with a range it touches or comes
        within ``SLICE_NS`` of (ranges stay as long as the outages they come from)."""
        ranges = self.gaps.setdefault(key, [])
        for gap in ranges:
            if lo <= gap.hi + SLICE_NS and hi >= gap.lo - SLICE_NS:
                gap.lo, gap.hi, gap.rows = min(gap.lo, lo), max(gap.hi, hi), gap.rows + rows
                break
        else:
            ranges.append(Gap(lo, hi, rows))
            ranges.sort(key=lambda g: g.lo)

    def start(self) -> None:
        """Start the task that writes (call inside the running loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="alphapulse buffer feed")

    async def close(self, timeout: float = 5.0) -> None:
        """Write what is queued and catch up the gaps if the database takes it within
        ``timeout``, then stop. Gaps left are in the feed's state: the next start pays them."""
        if self._task is not None and self.state == "up":
            deadline = time.monotonic() + timeout
            while (self._queue or self._busy or self.gaps) and self.state == "up":
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.02)
        self.state = "closed"
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        for name, batch in self._queue:  # never written: owed to the next start
            self._add_gap(name, batch)
        self._queue.clear()
        self._queue_bytes = 0
        await self._disconnect()

    def stats(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "rows_written": self.rows_written,
            "rows_dropped": self.rows_dropped,
            "rows_caught_up": self.rows_caught_up,
            "rows_failed": self.rows_failed,
            "queue_batches": len(self._queue),
            "queue_bytes": self._queue_bytes,
            "reconnects": self.reconnects,
            "gaps": self._gap_summary(),
            "last_error": self.last_error,
        }

    def _gap_summary(self) -> dict[str, dict[str, int]]:
        """Per table: ranges owed, rows dropped in them, and their span."""
        out: dict[str, dict[str, int]] = {}
        for (name, _), ranges in self.gaps.items():
            if not ranges:
                continue
            t = out.setdefault(name, {"ranges": 0, "rows": 0, "from_ns": ranges[0].lo, "to_ns": 0})
            t["ranges"] += len(ranges)
            t["rows"] += sum(g.rows for g in ranges)
            t["from_ns"] = min(t["from_ns"], ranges[0].lo)
            t["to_ns"] = max(t["to_ns"], max(g.hi for g in ranges))
        return out

    # -- the state a restart needs -----------------------------------------------------

    def _restore(self, now_ns: int) -> None:
        """The gaps a previous run of this lake left for this database, and the rows it may
        have had queued or that its journal replays: from its newest row to now."""
        try:
            state = orjson.loads(self._state_path.read_bytes())
            if state.get("database") != self._database:
                return  # another database's: this one's state is not known
            hi = {_key(k): int(v) for k, v in state.get("written_hi", {}).items()}
            gaps = {
                _key(k): [Gap(int(g[0]), int(g[1]), int(g[2])) for g in ranges]
                for k, ranges in state["gaps"].items()
            }
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("%s: unreadable (%s); starting without it", self._state_path, exc)
            return
        self.written_hi = hi
        self.gaps = gaps
        for key, newest in hi.items():
            if key[0] in LAKE_TABLE:
                self._owe(key, newest - RESTART_MARGIN_NS, now_ns, 0)

    def _save(self) -> None:
        state = {
            "database": self._database,
            "written_hi": {f"{t}/{v}": n for (t, v), n in self.written_hi.items()},
            "gaps": {
                f"{t}/{v}": [[g.lo, g.hi, g.rows] for g in ranges]
                for (t, v), ranges in self.gaps.items()
                if ranges
            },
        }
        tmp = self._state_path.with_name(STATE_FILE + ".tmp")
        try:
            tmp.write_bytes(orjson.dumps(state))
            tmp.replace(self._state_path)
        except OSError as exc:  # the lake's disk: the lake's own failure will say so
            log.warning("%s: cannot save the buffer feed's state: %s", self._state_path, exc)

    # -- the writer's task ------------------------------------------------------------

    async def _run(self) -> None:
        delay = self.retry_seconds[0]
        while True:
            if self._sink is None:
                try:
                    self._sink = await PostgresSink(self.dsn, layout=self.layout).start()
                except Exception as exc:  # down, refusing, or not a database we can use
                    self._down(exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.retry_seconds[1])
                    continue
                delay = self.retry_seconds[0]
                self._up()
            try:
                await self._pump(self._sink)
            except CONNECTION_ERRORS as exc:
                await self._disconnect()
                self._down(exc)
            except Exception as exc:  # never end silently: say why, start again
                log.exception("the buffer feed failed")
                self._error(exc)
                self._event("buffer_feed_failed", error=self.last_error)
                await self._disconnect()
                self._down(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_seconds[1])

    async def _pump(self, sink: PostgresSink) -> None:
        """Write the queue, catch up the gaps once it is empty, wait for more."""
        while True:
            while self._queue:
                name, batch = self._queue.popleft()
                self._queue_bytes -= batch.nbytes
                self._busy = True
                try:
                    self.rows_written += await sink.write(name, batch)
                    for venue, _, newest, _ in _by_venue(batch):
                        if newest > self.written_hi.get((name, venue), newest - 1):
                            self.written_hi[(name, venue)] = newest
                    self._save()
                except CONNECTION_ERRORS:
                    # Whether the COPY committed before the connection went is unknown: a
                    # retry could write it twice. Its range is caught up from the lake.
                    self._add_gap(name, batch)
                    raise
                except Exception as exc:  # this batch, not the connection: the lake has it
                    self._failed(name, batch, exc)
                    self._add_gap(name, batch)  # one more try, from the lake
                finally:
                    self._busy = False
                await self._maintain(sink)  # due or not: a queue never empty still gets it
            if self.gaps and time.monotonic() - self._last_drop >= self.catch_up_delay:
                await self._catch_up(sink)
                continue
            await self._maintain(sink)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.catch_up_delay)

    async def _catch_up(self, sink: PostgresSink) -> None:
        """Copy each owed range from the lake, a minute at a time, replacing what the buffer
        has of that table and venue there."""
        self._busy = True
        try:
            await self.lake_flush()
            for key, ranges in list(self.gaps.items()):
                while ranges:
                    gap = ranges[0]
                    written = await self._copy_back(sink, key, gap)
                    if written is not None:
                        self.rows_caught_up += written
                        self._event(
                            "buffer_caught_up",
                            table=key[0],
                            venue=key[1],
                            rows=written,
                            dropped=gap.rows,
                            from_ns=gap.lo,
                            to_ns=gap.hi,
                        )
                    ranges.pop(0)
                    self._save()
                del self.gaps[key]
            self._dropping = False
        finally:
            self._busy = False

    async def _copy_back(self, sink: PostgresSink, key: GapKey, gap: Gap) -> int | None:
        """``gap`` of ``key`` from the lake, slice by slice; rows written, None when the
        buffer or the lake refused it (an event says why; the lake still has the rows)."""
        from alphapulse.lake.reader import read_table

        name, venue = key
        written = 0
        for lo in range(gap.lo, gap.hi + 1, SLICE_NS):
            hi = min(lo + SLICE_NS - 1, gap.hi)
            try:
                rows = await asyncio.to_thread(
                    read_table, self.lake_root, LAKE_TABLE[name], venue=venue, start=lo, end=hi + 1
                )
                written += await sink.replace_range(name, venue, lo, hi, rows)
                gap.lo = hi + 1  # what is left, should the connection go now
            except CONNECTION_ERRORS:
                raise
            except Exception as exc:
                self.rows_failed += gap.rows
                self._error(exc)
                self._event(
                    "buffer_write_failed",
                    table=name,
                    venue=venue,
                    rows=gap.rows,
                    error=self.last_error,
                )
                return None
        return written

    async def _maintain(self, sink: PostgresSink) -> None:
        now = time.monotonic()
        if now - self._compacted >= COMPACT_SECONDS:
            self._compacted = now
            try:
                await sink.compact()
            except CONNECTION_ERRORS:
                raise
            except Exception as exc:  # the rows and the segments are still all there
                self._error(exc)
                self._event("buffer_compact_failed", error=self.last_error)
        if now - self._maintained >= MAINTAIN_SECONDS:
            self._maintained = now
            dropped = await sink.maintain()
            if dropped:
                self._event("buffer_partitions_dropped", partitions=dropped)

    async def _disconnect(self) -> None:
        sink, self._sink = self._sink, None
        if sink is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sink.close(), timeout=2.0)

    # -- what happens, told ------------------------------------------------------------

    def _up(self) -> None:
        previous, self.state = self.state, "up"
        if previous == "down":
            self.reconnects += 1
        self._event("buffer_up", layout=self._sink.layout if self._sink else None)

    def _down(self, exc: BaseException) -> None:
        self._error(exc)
        if self.state == "up":
            # A server that crashed may lose its last commits (synchronous_commit = off
            # acknowledges a commit before its WAL is written): the rows written last are
            # owed again, and the catch-up replaces them from the lake.
            for key, newest in self.written_hi.items():
                self._owe(key, newest - RESTART_MARGIN_NS, newest, 0)
            self._save()
        if self.state != "down":
            self.state = "down"
            log.warning("the PostgreSQL buffer is unavailable: %s", self.last_error)
            self._event("buffer_down", error=self.last_error, queued_bytes=self._queue_bytes)

    def _failed(self, name: str, batch: pa.Table, exc: BaseException) -> None:
        self._error(exc)
        self.rows_failed += batch.num_rows
        log.error("the buffer refused %d %s rows: %s", batch.num_rows, name, self.last_error)
        self._event("buffer_write_failed", table=name, rows=batch.num_rows, error=self.last_error)

    def _error(self, exc: BaseException) -> None:
        """The reason in one line (PostgreSQL's DETAIL and HINT lines, which can quote row
        values, left out), its password masked."""
        first = (f"{type(exc).__name__}: {exc}".strip().splitlines() or [""])[0]
        self.last_error = mask(first, self._password)

    def _event(self, kind: str, **detail: Any) -> None:
        if self.on_event is not None:
            self.on_event(kind, **detail)


def _key(text: str) -> GapKey:
    table, _, venue = str(text).partition("/")
    if not venue:
        raise ValueError(f"not a table/venue key: {text!r}")
    return table, venue


class FedSink:
    """A collector sink (the lake, journaled or not) that also offers each batch to the
    buffer's feed, after the lake has it. The feed never makes ``put`` wait."""

    def __init__(self, inner: Any, feed: BufferFeed) -> None:
        self.inner = inner
        self.feed = feed

    async def put(self, table: str, batch: object) -> None:
        rows = checked_table(check_table_name(table), batch)  # one conversion for both
        await self.inner.put(table, rows)
        self.feed.offer(table, rows)

    async def flush(self) -> None:
        await self.inner.flush()

    async def close(self) -> None:
        try:
            await self.feed.close()
        finally:
            await self.inner.close()

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.inner.stats()
        return {**stats, "buffer": self.feed.stats()}
