"""The collector service: the one place where the stages meet.

It runs inside an already running asyncio loop (a Jupyter server's, or the CLI's) and keeps
no global state: ``await service.start()`` … ``await service.stop()``. Each venue is a
:class:`~alphapulse.runtime.VenueRuntime` (its connections, each with its own engine, its
resyncs and its activity watch). The service ties them to the sink, the event log, the
status file and the metrics: a drain task hands the engines' events to the sink as Arrow
batches, turns integrity statuses and venue errors into events, starts the resyncs that are
due and replaces connections that the venue is about to close. :meth:`problems` says what
should fail a run (a venue that refused us or delivered nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

import orjson
import pyarrow as pa

from alphapulse import _core
from alphapulse.capture import CaptureWriter
from alphapulse.eventlog import EventLog
from alphapulse.lake import LakeError
from alphapulse.metrics import CollectorMetrics
from alphapulse.pausewatch import PauseWatch
from alphapulse.runtime import ConnectionRuntime, VenueRuntime
from alphapulse.sources import ConnectionIds
from alphapulse.venues.base import Venue

log = logging.getLogger("alphapulse.service")

#: Engine statuses that are also service events.
INTEGRITY_KINDS = ("gap", "checksum_failed", "resync_needed", "synced", "crossed", "duplicate")
#: Tables of market data: their rows count as delivered.
DATA_TABLES = ("trades", "quotes", "book_deltas", "bars", "news")
#: Tables the live channel publishes (``on_batch``).
LIVE_TABLES = ("trades", "news")
#: The core's status (kind ``venue``) for Binance's notice that it will close the connection.
SERVER_SHUTDOWN = "serverShutdown"


class BatchSink(Protocol):
    """Where events go: the Parquet lake (``alphapulse.lake``) or a test's list."""

    async def put(self, table: str, batch: Any) -> None: ...
    async def close(self) -> None: ...
    def stats(self) -> dict[str, Any]: ...


def _pending_of(rt: VenueRuntime) -> Callable[[], float]:
    return lambda: float(sum(e.pending_events for e in rt.engines))


class CollectorService:
    def __init__(
        self,
        venues: list[Venue],
        sink: BatchSink,
        *,
        capture: Path | None = None,
        drain_seconds: float = 0.2,
        resync_grace_seconds: float = 1.0,
        resync_timeout_seconds: float = 10.0,
        snapshot_delay_seconds: float = 0.5,
        quiet_seconds: float = 60.0,
        max_pending_events: int = 500_000,
        status_path: Path | None = None,
        first_event_seq: int = 0,
    ) -> None:
        self.sink = sink
        self.metrics = CollectorMetrics()
        self.events = EventLog(first_seq=first_event_seq)
        self.ids = ConnectionIds()
        self.capture = CaptureWriter(capture) if capture is not None else None
        self.pause = PauseWatch(self._paused)
        self.drain_seconds = drain_seconds
        self.resync_grace = resync_grace_seconds
        self.resync_timeout = resync_timeout_seconds
        self.snapshot_delay = snapshot_delay_seconds
        self.quiet_seconds = quiet_seconds
        #: Events an engine may hold before the sources stop reading (bounds memory).
        self.max_pending_events = max_pending_events
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.runtimes = {v.name: VenueRuntime(v, self) for v in venues}
        self.metrics.queue_depth.set_function(lambda: float(sink.stats().get("queue_depth", 0)))
        self.metrics.bytes_written.set_function(lambda: float(sink.stats().get("bytes_written", 0)))
        for name, rt in self.runtimes.items():
            self.metrics.pending.labels(name).set_function(_pending_of(rt))
        self.backpressure_count = 0
        self.drain_failures = 0
        #: Rows taken from the engines that the sink refused (see drain_failed events).
        self.rows_lost = 0
        #: Why the last commit at stop failed, if it did.
        self.stop_error: Exception | None = None
        self._last_watch = 0.0
        self._last_drain_error = ""
        self.status_path = status_path
        #: Running tasks and their coroutines (one cancelled before it ran must be closed);
        #: a task leaves when it is done, or every resync, snapshot and handover of a long
        #: collection would stay here.
        self._tasks: dict[asyncio.Task[None], Coroutine[Any, Any, None]] = {}
        self._running = False
        self.started_at = 0.0
        self.rejects_seen = 0
        #: Venues stopped on request (``stop_venue``): their books wait for a ``start_venue``.
        self.stopped_venues: set[str] = set()
        #: Called with each batch of market data handed to the sink (the live channel's
        #: publisher, ``alphapulse.control``): it must only queue, never wait.
        self.on_batch: Callable[[str, str, pa.RecordBatch], None] | None = None

    @property
    def running(self) -> bool:
        return self._running

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._running:
            raise RuntimeError("collector already running")
        self._running = True
        self.started_at = time.time()
        self.events.append("service_start", pid=os.getpid())
        for name, rt in self.runtimes.items():
            self.events.append(
                "config",
                name,
                symbols=rt.venue.symbols,
                channels=list(rt.venue.channels),
                urls=[c.connection.url for c in rt.connections.values()],
            )
        for rt in self.runtimes.values():
            rt.start()
        self.spawn(self._drain_loop())
        self.spawn(self.pause.run())

    async def stop_venue(self, name: str, *, by: str = "request") -> bool:
        """Close ``name``'s connections and keep them closed (its books go out of sync
        until ``start_venue``); False if it was already stopped. KeyError for a venue the
        service does not collect."""
        rt = self.runtimes[name]
        if name in self.stopped_venues:
            return False
        self.stopped_venues.add(name)
        await rt.stop()
        for c in rt.connections.values():
            c.engine.disconnected(time.time_ns(), "stopped")
        self.events.append("venue_stopped", name, by=by)
        return True

    def start_venue(self, name: str, *, by: str = "request") -> bool:
        """Open a stopped venue's connections again (each resyncs its books); False if it
        was running."""
        rt = self.runtimes[name]
        if name not in self.stopped_venues:
            return False
        self.stopped_venues.discard(name)
        rt.start()
        self.events.append("venue_started", name, by=by)
        return True

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a task must never take the service down silently
                log.exception("collector task failed")
                self.events.append(
                    "task_failed",
                    task=getattr(coro, "__qualname__", "?"),
                    error=f"{type(e).__name__}: {e}",
                )

        task = asyncio.create_task(guarded())
        self._tasks[task] = coro
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    @property
    def tasks(self) -> int:
        """Tasks spawned and not yet done."""
        return len(self._tasks)

    async def stop(self) -> None:
        """Close the connections, hand the engines' last events to the sink and close it.

        The sources close together, not one after another: each waits for its venue's
        close handshake. A sink that fails here (disk full) does not stop the rest of the
        shutdown; its rows are counted in ``rows_lost`` and the error is kept in
        ``stop_error``.
        """
        if not self._running:
            return
        self._running = False
        await asyncio.gather(*(rt.stop() for rt in self.runtimes.values()))
        tasks = list(self._tasks.items())
        for task, _ in tasks:
            task.cancel()
        for task, coro in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
            coro.close()  # one cancelled before it ever ran was never awaited
        self._tasks.clear()
        try:
            await self.drain()
            self.events.append("service_stop", **self.summary())
            # Commit everything, then the file_committed events of that commit with the
            # sink's last commit (the only file whose own event cannot be in the lake).
            flush = getattr(self.sink, "flush", None)
            if flush is not None:
                await flush()
            await self._drain_events()
            await self.sink.close()
        except Exception as e:
            self.stop_error = e
            self.rows_lost += len(self.events)
            log.error("collector stop: the sink failed: %s", e)
        finally:
            if self.capture is not None:
                self.capture.close()

    # --- frames ------------------------------------------------------------------------------

    def fed(self, venue: str, pending: int, ts_ns: int) -> None:
        """A frame went into one of ``venue``'s engines, which now holds ``pending`` events."""
        if pending > self.max_pending_events and self.flowing.is_set():
            # The sink is behind: stop reading until a drain catches up (backpressure).
            self.flowing.clear()
            self.backpressure_count += 1
            self.events.append("backpressure", venue, pending=pending)
        self.metrics.frames.labels(venue).inc()
        self.metrics.wire_to_book.observe((time.time_ns() - ts_ns) / 1e9)

    def _paused(self, seconds: float) -> None:
        # Not the venues' silence: the watchdogs measure from now on (PauseWatch.since).
        self.events.append("process_paused", seconds=round(seconds, 3))

    # --- draining and resync -----------------------------------------------------------------

    async def _drain_loop(self) -> None:
        # A fixed cadence, not a fixed pause: a round that took 15 ms of a 25 ms period
        # (the live channel's, at 10k frames/s) would otherwise make it 40 ms.
        started = time.monotonic()
        while True:
            started = max(started + self.drain_seconds, time.monotonic())
            await asyncio.sleep(started - time.monotonic())
            try:
                await self.drain()
                now = time.monotonic()
                for rt in self.runtimes.values():
                    rt.resync_due(now)
                    rt.watch_lifetimes(now)
                self._watch_channels()
                self._write_status()
                self._last_drain_error = ""
            except Exception as e:  # one bad round must not stop collection
                error = f"{type(e).__name__}: {e}"
                if error == self._last_drain_error:
                    pass  # the same failure every 0.2 s: the events count it, the log has it
                elif isinstance(e, LakeError | OSError):  # the disk's fault: one line is enough
                    log.error("drain failed: %s", e)
                else:
                    log.exception("drain failed")
                self._last_drain_error = error
                self.drain_failures += 1
                self.events.append("drain_failed", error=error)
                self.flowing.set()

    def _watch_channels(self) -> None:
        """A quiet instrument on a live connection is reported, not reconnected: markets
        go quiet, connections that carry heartbeats are not dead for it."""
        now = time.monotonic()
        if now - self._last_watch < 1.0:
            return
        self._last_watch = now
        self.pause.check()
        for rt in self.runtimes.values():
            for c in rt.connections.values():
                if c.connected:
                    self._watch_connection(rt.name, c, now)

    def _watch_connection(self, venue: str, c: ConnectionRuntime, now: float) -> None:
        for key, s in c.engine.stats().items():
            symbol = key.split(":", 1)[1]
            seen = s["trades"] + s["quotes"] + s["book_updates"] + s["snapshots"]
            count, since, reported = c.activity.get(symbol, (-1, now, False))
            if seen != count:
                if reported:
                    self.events.append("channel_active", venue, symbol)
                c.activity[symbol] = (seen, now, False)
            elif not reported and now - self.pause.since(since) > self.quiet_seconds:
                silent = round(now - self.pause.since(since), 1)
                self.events.append("channel_quiet", venue, symbol, silent_s=silent)
                c.activity[symbol] = (count, since, True)

    async def drain(self) -> None:
        """Hand every pending event to the sink (waiting while it is full), then let the
        sources read again."""
        # The log first: a connect event reaches the lake before the data it opened, even
        # when that data fills a partition by size within this very drain.
        await self._drain_events()
        for name, rt in self.runtimes.items():
            for c in rt.connections.values():
                if not c.engine.pending_events:
                    continue
                batches = c.engine.take()
                self._log_integrity(rt, c, batches)
                pending = [(t, b) for t, b in batches.items() if len(b)]
                for i, (table, batch) in enumerate(pending):
                    try:
                        await self.sink.put(table, batch)
                    except Exception:
                        # Counted, never silent: these rows are only in the capture now.
                        self.rows_lost += sum(len(b) for _, b in pending[i:])
                        raise
                    self.metrics.events.labels(name, table).inc(len(batch))
                    if self.on_batch is not None and table in LIVE_TABLES:
                        self.on_batch(name, table, pa.record_batch(batch))
        await self._drain_events()
        self.flowing.set()

    async def _drain_events(self) -> None:
        if len(self.events):
            batch = self.events.drain()
            try:
                await self.sink.put("events", batch)
            except Exception:
                self.rows_lost += batch.num_rows
                raise

    def _log_integrity(
        self, rt: VenueRuntime, c: ConnectionRuntime, batches: dict[str, _core.EventBatch]
    ) -> None:
        venue = rt.name
        rt.delivered += sum(len(batches[t]) for t in DATA_TABLES if t in batches)
        statuses = pa.record_batch(batches["statuses"])
        if statuses.num_rows:
            handover = time.monotonic() < c.quiet_duplicates_until
            for row in statuses.select(["kind", "symbol", "message"]).to_pylist():
                kind, message = row["kind"], row["message"] or ""
                if kind in INTEGRITY_KINDS:
                    if kind == "duplicate" and handover:
                        c.handover_duplicates += 1  # the overlap of two sockets, not a fault
                        continue
                    self.events.append(kind, venue, row["symbol"], message=message)
                    self.metrics.integrity.labels(venue, kind).inc()
                elif kind == "venue_error":
                    rt.problem(rt.venue.error_kind(message), message, connection=c.name)
                elif kind == "venue" and message == SERVER_SHUTDOWN:
                    rt.spawn_rotation(c, SERVER_SHUTDOWN)
        rejects = pa.record_batch(batches["rejects"])
        if rejects.num_rows:
            self.rejects_seen += rejects.num_rows
            self.metrics.rejects.labels(venue).inc(rejects.num_rows)
            reasons = rejects.column("reason").to_pylist()
            self.events.append("reject", venue, count=rejects.num_rows, first_reason=reasons[0])

    # --- status --------------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """What should fail a run, one line each: a venue that refused authentication or a
        subscription, stopped a connection, answered with errors, or delivered no data (the
        last is only meaningful once the run has had time to receive some)."""
        out = []
        for name, rt in self.runtimes.items():
            for c in rt.connections.values():
                if c.fatal is not None:
                    out.append(f"{name}: {c.name} stopped: {c.fatal.kind} ({c.fatal.message})")
            for kind, (count, message) in sorted(rt.problems.items()):
                out.append(f"{name}: {kind} x{count} (last: {message})")
            if rt.delivered <= rt.snapshot_rows:
                out.append(f"{name}: delivered no data")
        return out

    def summary(self) -> dict[str, Any]:
        venues = {name: rt.summary() for name, rt in self.runtimes.items()}
        for name, v in venues.items():
            v["state"] = "stopped" if name in self.stopped_venues else "running"
        p99 = self.metrics.wire_to_book_quantile(0.99)
        return {
            "uptime_s": round(time.time() - self.started_at, 3),
            "rows_lost": self.rows_lost,
            "wire_to_book_p99_us": None if p99 is None else p99 * 1e6,
            "venues": venues,
            "sink": self.sink.stats(),
            "events": dict(self.events.counts),
            "problems": self.problems(),
        }

    def _write_status(self) -> None:
        if self.status_path is None:
            return
        status = {"pid": os.getpid(), "ts": time.time(), **self.summary()}
        tmp = self.status_path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(status))
        tmp.replace(self.status_path)
