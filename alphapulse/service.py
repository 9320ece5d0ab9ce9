"""The collector service: sources → Rust engines → sinks, with resync and an event log.

It runs inside an already running asyncio loop (a Jupyter server's, or the CLI's) and keeps
no global state: ``await service.start()`` … ``await service.stop()``. Per venue it owns one
engine (normalizer + books) fed by that venue's WebSocket sources. A drain task hands the
engines' events to the sink as Arrow batches, turns integrity statuses into events and
resyncs only the instruments that need it (Binance: a fresh REST snapshot within the request
weight budget; Kraken, Coinbase, Alpaca: resubscribe that symbol), while the others flow on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from alphapulse import _core
from alphapulse.capture import CaptureWriter
from alphapulse.eventlog import EventLog
from alphapulse.lake import LakeError
from alphapulse.metrics import CollectorMetrics
from alphapulse.sources import Backoff, ConnectionIds, WebSocketSource
from alphapulse.venues.base import Resync, Venue

log = logging.getLogger("alphapulse.service")

#: Engine statuses that are also service events.
INTEGRITY_KINDS = ("gap", "checksum_failed", "resync_needed", "synced", "crossed", "duplicate")


class BatchSink(Protocol):
    """Where events go: the Parquet lake (``alphapulse.lake``) or a test's list."""

    async def put(self, table: str, batch: Any) -> None: ...
    async def close(self) -> None: ...
    def stats(self) -> dict[str, Any]: ...


@dataclass
class ResyncState:
    since: float
    started: float | None = None
    attempts: int = 0


@dataclass
class VenueRuntime:
    venue: Venue
    engine: _core.Engine
    sources: list[WebSocketSource] = field(default_factory=list)
    resyncs: dict[str, ResyncState] = field(default_factory=dict)
    resync_count: int = 0
    last_conn: dict[str, int] = field(default_factory=dict)
    #: Per instrument: (messages seen, when that count last moved, reported quiet).
    activity: dict[str, tuple[int, float, bool]] = field(default_factory=dict)


class WeightBudget:
    """A venue's REST request weight per rolling minute (Binance: 6000, Binance.US: 1200)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._spent: list[tuple[float, int]] = []

    async def spend(self, weight: int) -> None:
        while True:
            now = time.monotonic()
            self._spent = [(t, w) for t, w in self._spent if now - t < 60.0]
            if sum(w for _, w in self._spent) + weight <= self.per_minute:
                self._spent.append((now, weight))
                return
            await asyncio.sleep(60.0 - (now - self._spent[0][0]))


def _pending_of(engine: _core.Engine) -> Callable[[], float]:
    return lambda: float(engine.pending_events)


def fetch(url: str, timeout: float = 10.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
        return body


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
        fetcher: Callable[[str], bytes] = fetch,
    ) -> None:
        self.sink = sink
        self.metrics = CollectorMetrics()
        self.events = EventLog()
        self.ids = ConnectionIds()
        self.capture = CaptureWriter(capture) if capture is not None else None
        self.runtimes = {v.name: VenueRuntime(v, _core.Engine(v.protocol)) for v in venues}
        self.metrics.queue_depth.set_function(lambda: float(sink.stats().get("queue_depth", 0)))
        self.metrics.bytes_written.set_function(lambda: float(sink.stats().get("bytes_written", 0)))
        for name, rt in self.runtimes.items():
            self.metrics.pending.labels(name).set_function(_pending_of(rt.engine))
        self.drain_seconds = drain_seconds
        self.resync_grace = resync_grace_seconds
        self.resync_timeout = resync_timeout_seconds
        self.snapshot_delay = snapshot_delay_seconds
        self.quiet_seconds = quiet_seconds
        #: Events an engine may hold before the sources stop reading (bounds memory).
        self.max_pending_events = max_pending_events
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.backpressure_count = 0
        self.drain_failures = 0
        #: Rows taken from the engines that the sink refused (see drain_failed events).
        self.rows_lost = 0
        #: Why the last commit at stop failed, if it did.
        self.stop_error: Exception | None = None
        self._last_watch = 0.0
        self._last_drain_error = ""
        self.status_path = status_path
        self._fetch = fetcher
        self._budgets = {
            v.name: WeightBudget(v.weight_per_minute) for v in venues if v.weight_per_minute
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        self.started_at = 0.0
        self.rejects_seen = 0

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
                urls=[c.url for c in rt.venue.connections()],
            )
        for rt in self.runtimes.values():
            for connection in rt.venue.connections():
                if rt.venue.stall_seconds is not None:
                    connection = replace(connection, stall_seconds=rt.venue.stall_seconds)
                source = WebSocketSource(
                    connection,
                    self,
                    self.events,
                    self.ids,
                    venue=rt.venue.name,
                    capture=self.capture,
                    backoff=Backoff(),
                    flowing=self.flowing,
                )
                rt.sources.append(source)
                self._spawn(source.run())
        self._spawn(self._drain_loop())

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:  # a task must never take the service down silently
                log.exception("collector task failed")
                self.events.append("task_failed")

        self._tasks.append(asyncio.create_task(guarded()))

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
        sources = [s for rt in self.runtimes.values() for s in rt.sources]
        for failed in await asyncio.gather(*(s.stop() for s in sources), return_exceptions=True):
            if isinstance(failed, Exception):
                log.warning("collector stop: a source did not close cleanly: %s", failed)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
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

    # --- frames (FrameSink) ------------------------------------------------------------------

    def on_open(self, source: WebSocketSource, conn_id: int) -> None:
        rt = self.runtimes[source.venue]
        rt.engine.connected(conn_id)
        rt.last_conn[source.connection.name] = conn_id
        self.metrics.connects.labels(source.venue).inc()
        if plans := rt.venue.initial_snapshots():
            self._spawn(self._initial_snapshots(rt, plans))

    async def _initial_snapshots(self, rt: VenueRuntime, plans: list[Resync]) -> None:
        # Let the stream's first diffs arrive (the core buffers them), then fetch.
        await asyncio.sleep(self.snapshot_delay)
        for plan in plans:
            await self._snapshot(rt, plan)

    def on_frame(self, source: WebSocketSource, conn_id: int, data: bytes, ts_ns: int) -> None:
        engine = self.runtimes[source.venue].engine
        engine.feed(data, ts_ns, conn_id)
        if engine.pending_events > self.max_pending_events and self.flowing.is_set():
            # The sink is behind: stop reading until a drain catches up (backpressure).
            self.flowing.clear()
            self.backpressure_count += 1
            self.events.append("backpressure", source.venue, pending=engine.pending_events)
        self.metrics.frames.labels(source.venue).inc()
        self.metrics.wire_to_book.observe((time.time_ns() - ts_ns) / 1e9)

    def on_close(self, source: WebSocketSource, conn_id: int, reason: str) -> None:
        self.metrics.disconnects.labels(source.venue).inc()
        if not self._running:
            return  # shutting down: the books end as they were
        # Until the next snapshot, the books this connection fed are not the venue's.
        self.runtimes[source.venue].engine.disconnected(time.time_ns(), reason)

    # --- draining and resync -----------------------------------------------------------------

    async def _drain_loop(self) -> None:
        while True:
            await asyncio.sleep(self.drain_seconds)
            try:
                await self.drain()
                await self._resync_due()
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
        for rt in self.runtimes.values():
            if not any(s.connected for s in rt.sources):
                continue
            for key, s in rt.engine.stats().items():
                symbol = key.split(":", 1)[1]
                seen = s["trades"] + s["quotes"] + s["book_updates"] + s["snapshots"]
                count, since, reported = rt.activity.get(symbol, (-1, now, False))
                if seen != count:
                    if reported:
                        self.events.append("channel_active", rt.venue.name, symbol)
                    rt.activity[symbol] = (seen, now, False)
                elif not reported and now - since > self.quiet_seconds:
                    self.events.append(
                        "channel_quiet", rt.venue.name, symbol, silent_s=round(now - since, 1)
                    )
                    rt.activity[symbol] = (count, since, True)

    async def drain(self) -> None:
        """Hand every pending event to the sink (waiting while it is full), then let the
        sources read again."""
        for name, rt in self.runtimes.items():
            if not rt.engine.pending_events:
                continue
            batches = rt.engine.take()
            self._log_integrity(name, batches)
            pending = [(t, b) for t, b in batches.items() if len(b)]
            for i, (table, batch) in enumerate(pending):
                try:
                    await self.sink.put(table, batch)
                except Exception:
                    # Counted, never silent: these rows are only in the capture now.
                    self.rows_lost += sum(len(b) for _, b in pending[i:])
                    raise
                self.metrics.events.labels(name, table).inc(len(batch))
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

    def _log_integrity(self, venue: str, batches: dict[str, _core.EventBatch]) -> None:
        statuses = pa.record_batch(batches["statuses"])
        if statuses.num_rows:
            mask = pc.is_in(statuses.column("kind"), pa.array(INTEGRITY_KINDS))
            for row in statuses.filter(mask).select(["kind", "symbol", "message"]).to_pylist():
                self.events.append(row["kind"], venue, row["symbol"], message=row["message"])
                self.metrics.integrity.labels(venue, row["kind"]).inc()
        rejects = pa.record_batch(batches["rejects"])
        if rejects.num_rows:
            self.rejects_seen += rejects.num_rows
            self.metrics.rejects.labels(venue).inc(rejects.num_rows)
            reasons = rejects.column("reason").to_pylist()
            self.events.append("reject", venue, count=rejects.num_rows, first_reason=reasons[0])

    async def _resync_due(self) -> None:
        now = time.monotonic()
        for rt in self.runtimes.values():
            broken = set(rt.engine.out_of_sync())
            for symbol in list(rt.resyncs):
                if symbol not in broken:
                    state = rt.resyncs.pop(symbol)
                    if state.started is not None:
                        self.events.append(
                            "resync_done",
                            rt.venue.name,
                            symbol,
                            seconds=round(now - state.started, 3),
                        )
            for symbol in broken:
                state = rt.resyncs.setdefault(symbol, ResyncState(since=now))
                waited = now - (state.started or state.since)
                due = self.resync_grace if state.started is None else self.resync_timeout
                if waited >= due:
                    state.started = now
                    state.attempts += 1
                    rt.resync_count += 1
                    self._spawn(self._resync(rt, symbol, state.attempts))

    async def _resync(self, rt: VenueRuntime, symbol: str, attempt: int) -> None:
        plan: Resync = rt.venue.resync(symbol)
        self.events.append(
            "resync",
            rt.venue.name,
            symbol,
            attempt=attempt,
            method="snapshot" if plan.snapshot_url else "resubscribe",
        )
        self.metrics.resyncs.labels(rt.venue.name).inc()
        if plan.snapshot_url is not None and not await self._snapshot(rt, plan):
            return
        for message in plan.messages:
            for source in rt.sources:
                if source.connected and await source.send(message):
                    break

    async def _snapshot(self, rt: VenueRuntime, plan: Resync) -> bool:
        """Fetch a REST snapshot within the venue's weight budget and feed it."""
        assert plan.snapshot_url is not None
        budget = self._budgets.get(rt.venue.name)
        if budget is not None:
            await budget.spend(plan.weight)
        try:
            body = await asyncio.to_thread(self._fetch, plan.snapshot_url)
        except OSError as e:
            self.events.append(
                "snapshot_failed", rt.venue.name, url=plan.snapshot_url, error=str(e)
            )
            return False
        ts = time.time_ns()
        if self.capture is not None:
            self.capture.http(
                f"{rt.venue.name}-rest", rt.venue.protocol, plan.snapshot_url, body, ts
            )
        rt.engine.feed_http(plan.snapshot_url, body, ts)
        self.events.append("snapshot", rt.venue.name, url=plan.snapshot_url, bytes=len(body))
        return True

    # --- status --------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        venues = {}
        for name, rt in self.runtimes.items():
            stats = rt.engine.stats()
            venues[name] = {
                "frames": rt.engine.frames,
                "rejects": rt.engine.rejects,
                "connects": sum(s.connects for s in rt.sources),
                "connected": sum(s.connected for s in rt.sources),
                "bytes": sum(s.bytes for s in rt.sources),
                "gaps": rt.engine.connection_gaps + sum(s["gaps"] for s in stats.values()),
                "checksums_failed": sum(s["checksums_failed"] for s in stats.values()),
                "resyncs": rt.resync_count,
                "out_of_sync": rt.engine.out_of_sync(),
            }
        p99 = self.metrics.wire_to_book_quantile(0.99)
        return {
            "uptime_s": round(time.time() - self.started_at, 3),
            "rows_lost": self.rows_lost,
            "wire_to_book_p99_us": None if p99 is None else p99 * 1e6,
            "venues": venues,
            "sink": self.sink.stats(),
            "events": dict(self.events.counts),
        }

    def _write_status(self) -> None:
        if self.status_path is None:
            return
        status = {"pid": os.getpid(), "ts": time.time(), **self.summary()}
        tmp = self.status_path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(status))
        tmp.replace(self.status_path)
