"""The asyncio face of the lake: a bounded queue in front of one writer thread.

The event loop never does Parquet I/O. ``await put(...)`` hands a batch to the queue and
returns at once while there is room; when the disk falls behind and the queue is full, it
waits, so the producer slows to the disk's pace instead of growing memory or dropping rows.
How often and how long producers waited is counted (``blocked_count``, ``blocked_seconds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

from alphapulse.lake.layout import LakeStorageError, LakeWriterError, check_table_name
from alphapulse.lake.rows import checked_table
from alphapulse.lake.writer import LakeWriter

log = logging.getLogger(__name__)


@dataclass
class _Control:
    """A flush or close request, answered through ``done`` by the writer thread."""

    kind: Literal["flush", "close"]
    done: Future[None] = field(default_factory=Future)


_Item = tuple[str, pa.Table, int | None] | _Control


class AsyncLakeWriter:
    """Runs ``writer`` in its own thread behind a queue of at most ``max_queue`` batches
    and ``max_queue_bytes`` bytes of Arrow data (one batch larger than that still goes
    through, alone: a batch is never split or refused for its size).

    Memory is bounded by the queue's bytes plus the writer's own buffers (its roll sizes
    and ``max_buffer_bytes``); counting batches alone is no bound, since a producer that
    fell behind hands over batches of any size. Use from one event loop::

        async with AsyncLakeWriter(LakeWriter("data/lake"), max_queue=8) as lake:
            for name, batch in engine.take().items():
                await lake.put(name, batch)

    The wrapper owns ``writer`` from then on, and must be closed (or used with ``async
    with``): its thread is a daemon, and rows still buffered when the process exits are not
    written. If the writer fails (disk full, permissions), ``put``, ``flush`` and ``close`` raise
    LakeWriterError with the cause chained; batches still queued then are counted in
    ``stats()["rows_lost"]``, never dropped silently. ``on_error(exc)`` is then called once,
    from the writer's thread, so that an owner can stop its producers at once rather than
    at their next ``put``.
    """

    def __init__(
        self,
        writer: LakeWriter,
        *,
        max_queue: int = 8,
        max_queue_bytes: int = 64 << 20,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        if max_queue < 1 or max_queue_bytes < 1:
            raise ValueError("max_queue and max_queue_bytes must be at least 1")
        self.writer = writer
        self.max_queue = max_queue
        self.max_queue_bytes = max_queue_bytes
        self.on_error = on_error
        self._queue_bytes = 0
        self.blocked_count = 0
        self.blocked_seconds = 0.0
        self.queue_high_water = 0
        # Every row handed over (including any the writer held already), for rows_lost.
        self._rows_accepted = writer.rows_written + writer.rows_buffered
        self._close_request: Future[None] | None = None
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._space = asyncio.Event()
        self._waiting = 0
        # Age-based rolls need a clock even when no batch arrives.
        self._tick = min(1.0, max(0.01, writer.roll_seconds / 4))
        self._thread = threading.Thread(target=self._run, name="alphapulse-lake", daemon=True)
        self._thread.start()

    # -- the event loop's side ------------------------------------------------------------

    async def put(self, table: str, batch: object, journal_seq: int | None = None) -> None:
        """Queue ``batch`` for ``table``; waits while the queue is full. ``journal_seq``: see
        ``LakeWriter.write``.

        The batch is checked here (ValueError for a missing venue/ts_recv), so bad input
        fails in the producer. Empty batches are ignored.
        """
        check_table_name(table)
        rows = checked_table(table, batch)
        if rows.num_rows == 0:
            return
        loop = self._bind_loop()
        blocked_at: float | None = None
        try:
            while True:
                with self._cond:
                    self._check_usable()
                    if self._has_room(rows.nbytes):
                        self._queue.append((table, rows, journal_seq))
                        self._queue_bytes += rows.nbytes
                        self._rows_accepted += rows.num_rows
                        self.queue_high_water = max(self.queue_high_water, len(self._queue))
                        self._cond.notify()
                        return
                    self._space.clear()
                    self._waiting += 1
                if blocked_at is None:
                    blocked_at = loop.time()
                    self.blocked_count += 1
                try:
                    await self._space.wait()
                finally:
                    with self._cond:
                        self._waiting -= 1
        finally:
            if blocked_at is not None:
                self.blocked_seconds += loop.time() - blocked_at

    async def flush(self) -> None:
        """Wait until everything queued so far is in committed files."""
        await asyncio.wrap_future(self._control("flush"))

    async def close(self) -> None:
        """Write everything queued, commit every buffer, stop the thread. Idempotent.

        After a failure it waits for the thread's last attempt to save the buffered rows,
        so that ``rows_lost`` is final when it raises.
        """
        if self._error is not None:
            await asyncio.to_thread(self._thread.join)
        if self._close_request is None:
            self._close_request = self._control("close")
        await asyncio.wrap_future(self._close_request)

    async def __aenter__(self) -> AsyncLakeWriter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def stats(self) -> dict[str, int | float]:
        """The writer's counters with the queue's; safe to call at any time."""
        return {
            **self.writer.stats(),
            "queue_depth": len(self._queue),
            "queue_high_water": self.queue_high_water,
            "max_queue": self.max_queue,
            "queue_bytes": self._queue_bytes,
            "blocked_count": self.blocked_count,
            "blocked_seconds": self.blocked_seconds,
            "rows_lost": self.rows_lost,
        }

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("an AsyncLakeWriter is used from one event loop only")
        return loop

    @property
    def error(self) -> BaseException | None:
        """What made the writer fail (a LakeStorageError when the disk refused), or None."""
        return self._error

    def _has_room(self, nbytes: int) -> bool:
        if len(self._queue) >= self.max_queue:
            return False
        return self._queue_bytes == 0 or self._queue_bytes + nbytes <= self.max_queue_bytes

    def _check_usable(self) -> None:
        if self._error is not None:
            raise LakeWriterError(f"lake writer failed: {self._error!r}") from self._error
        if self._closing:
            raise ValueError("put to a closed AsyncLakeWriter")

    def _control(self, kind: Literal["flush", "close"]) -> Future[None]:
        control = _Control(kind)
        with self._cond:
            self._check_usable()
            if kind == "close":
                self._closing = True
            self._queue.append(control)  # requests do not count against the bound
            self._cond.notify()
        return control.done

    # -- the writer thread ----------------------------------------------------------------

    def _next(self) -> _Item | None:
        """The next item, or None after a quiet tick."""
        with self._cond:
            if not self._queue:
                self._cond.wait(self._tick)
            if not self._queue:
                return None
            item = self._queue.popleft()
            if not isinstance(item, _Control):
                self._queue_bytes -= item[1].nbytes
            if self._waiting:
                self._wake_producers()
            return item

    def _wake_producers(self) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                self._loop.call_soon_threadsafe(self._space.set)

    def _run(self) -> None:
        item: _Item | None = None
        try:
            while True:
                item = self._next()
                if item is None:
                    self.writer.commit_due()
                elif isinstance(item, _Control):
                    if item.kind == "flush":
                        self.writer.flush()
                    else:
                        self.writer.close()
                    item.done.set_result(None)
                    if item.kind == "close":
                        return
                else:
                    self.writer.write(*item)
        except BaseException as exc:
            self._fail(exc, item)

    def _fail(self, exc: BaseException, current: _Item | None) -> None:
        if isinstance(exc, LakeStorageError):
            log.error("lake writer stopped: %s", exc)  # an operator's problem, not a bug
        else:
            log.error("lake writer failed", exc_info=exc)
        with self._cond:
            self._error = exc
            pending = [current, *self._queue]
            self._queue.clear()
            self._queue_bytes = 0
            self._wake_producers()
        try:
            self.writer.close()  # save what is buffered if the disk allows; release the lake
        except LakeStorageError as again:
            log.error("lake writer: could not commit the buffered rows either: %s", again)
        except BaseException:
            log.exception("lake writer: could not commit the buffered rows either")
        error = LakeWriterError(f"lake writer failed: {exc!r}")
        error.__cause__ = exc
        for item in pending:
            if isinstance(item, _Control) and not item.done.done():
                item.done.set_exception(error)
        if self.on_error is not None:
            try:
                self.on_error(exc)
            except Exception:
                log.exception("lake writer: on_error failed")

    @property
    def rows_lost(self) -> int:
        """Rows handed to a writer that has failed and that no committed file holds."""
        if self._error is None:
            return 0
        return self._rows_accepted - self.writer.rows_written
