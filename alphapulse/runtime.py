"""One venue at run time: its connections, each with its own engine, sources and resyncs.

A :class:`ConnectionRuntime` is one of the venue's connections (Alpaca: stocks, crypto and
news are three). It owns a Rust engine (normalizer + books) that only its frames feed, so a
disconnect puts only its own instruments out of sync and a resync goes on the socket that
carries the symbol. Its source task is supervised: a crash is reported with its cause and
the source restarted with backoff; a venue's refusal (bad keys, no entitlement) stops it.

A connection the venue is about to close (Binance's ``serverShutdown`` notice, its 24-hour
limit) is replaced make-before-break: see ``alphapulse.handover``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import httpx
from aiolimiter import AsyncLimiter

from alphapulse import _core, handover
from alphapulse.sources import Backoff, WebSocketSource
from alphapulse.venues.base import Connection, FatalVenueError, Resync, SnapshotFetcher, Venue

if TYPE_CHECKING:
    from alphapulse.service import CollectorService

log = logging.getLogger("alphapulse.runtime")


@dataclass
class ResyncState:
    since: float
    started: float | None = None
    attempts: int = 0


class ConnectionRuntime:
    def __init__(self, runtime: VenueRuntime, connection: Connection) -> None:
        self.connection = connection
        self.name = connection.name
        self.engine = _core.Engine(connection.protocol)
        self.symbols = connection.symbols or tuple(runtime.venue.symbols)
        self.source: WebSocketSource | None = None
        #: Sources replaced by a handover: their close does not disconnect the books.
        self.retiring: set[WebSocketSource] = set()
        self.rotating = False
        #: The replacement socket while one is being opened (see alphapulse.handover).
        self.standby: WebSocketSource | None = None
        self.quiet_duplicates_until = 0.0
        self.handover_duplicates = 0
        self.resyncs: dict[str, ResyncState] = {}
        #: Per instrument: (messages seen, when that count last moved, reported quiet).
        self.activity: dict[str, tuple[int, float, bool]] = {}
        self.sources: list[WebSocketSource] = []
        self.fatal: FatalVenueError | None = None

    @property
    def connected(self) -> bool:
        return self.source is not None and self.source.connected


class VenueRuntime:
    """A venue's connections, its send pacing and its REST snapshots; the frame sink of its
    sources (``alphapulse.sources.FrameSink``)."""

    def __init__(self, venue: Venue, host: CollectorService) -> None:
        self.venue = venue
        self.name = venue.name
        self.host = host
        self.connections: dict[str, ConnectionRuntime] = {}
        for connection in venue.connections():
            if venue.stall_seconds is not None:
                connection = replace(connection, stall_seconds=venue.stall_seconds)
            self.connections[connection.name] = ConnectionRuntime(self, connection)
        rate = venue.messages_per_second
        self.limiter = AsyncLimiter(rate, 1.0) if rate else None
        self._fetcher: SnapshotFetcher | None = None
        self.resync_count = 0
        self.task_failures = 0
        #: Problems by event kind (auth_failed, subscription_refused, venue_error): count and
        #: the last message.
        self.problems: dict[str, tuple[int, str]] = {}
        #: Rows of market data (trades, quotes, book updates, bars, news) taken so far.
        self.delivered = 0
        #: Events REST snapshots gave (their rows and statuses): not the venue's stream, so a
        #: stream that sends nothing after its snapshot has delivered nothing.
        self.snapshot_rows = 0

    # --- engines -------------------------------------------------------------------------------

    @property
    def engines(self) -> list[_core.Engine]:
        return [c.engine for c in self.connections.values()]

    @property
    def engine(self) -> _core.Engine:
        """The engine of a venue with one connection (tests, tools); see ``engine_for``."""
        engines = self.engines
        if len(engines) != 1:
            names = ", ".join(self.connections)
            raise ValueError(f"{self.name} has connections {names}: use engine_for(symbol)")
        return engines[0]

    def engine_for(self, symbol: str) -> _core.Engine:
        """The engine of the connection that carries ``symbol``."""
        for c in self.connections.values():
            if symbol in c.symbols:
                return c.engine
        raise KeyError(f"{self.name} carries no {symbol!r}")

    @property
    def frames(self) -> int:
        return sum(e.frames for e in self.engines)

    def out_of_sync(self) -> list[str]:
        return sorted(s for e in self.engines for s in e.out_of_sync())

    def is_synced(self, symbol: str) -> bool:
        """Whether ``symbol``'s book is the venue's (False before its first message)."""
        try:
            return self.engine_for(symbol).is_synced(symbol)
        except KeyError:
            return False

    # --- sources -------------------------------------------------------------------------------

    def start(self) -> None:
        for c in self.connections.values():
            c.source = self.source_for(c)

    def source_for(self, c: ConnectionRuntime, *, hold: bool = False) -> WebSocketSource:
        """A new (supervised, running) source for ``c``."""
        source = WebSocketSource(
            c.connection,
            self,
            self.host.events,
            self.host.ids,
            venue=self.name,
            capture=self.host.capture,
            backoff=Backoff(),
            flowing=self.host.flowing,
            limiter=self.limiter,
            pause=self.host.pause,
            hold=hold,
            private=self.venue.credentials is not None,
        )
        c.sources.append(source)
        self.host.spawn(self._supervise(c, source))
        return source

    async def _supervise(self, c: ConnectionRuntime, source: WebSocketSource) -> None:
        """Run a source until it is stopped or refused; a crash is reported and restarted."""
        while True:
            try:
                await source.run()
            except Exception as e:  # a bug or a broken callable must not end collection
                log.exception("source %s/%s failed", self.name, c.name)
                self.task_failures += 1
                delay = source.backoff_delay()
                self.host.events.append(
                    "task_failed",
                    self.name,
                    connection=c.name,
                    error=f"{type(e).__name__}: {e}",
                    restart_in_s=round(delay, 3),
                )
                await source.wait_stopped(delay)
                continue
            if source.fatal is not None and c.source is source:
                self._refused(c, source.fatal)
            return

    def _refused(self, c: ConnectionRuntime, error: FatalVenueError) -> None:
        c.fatal = error
        self.problem(error.kind, error.message, connection=c.name, fatal=True)
        self.host.events.append(
            "connection_stopped", self.name, connection=c.name, reason=str(error)
        )

    def problem(self, kind: str, message: str, **detail: Any) -> None:
        count, _ = self.problems.get(kind, (0, ""))
        self.problems[kind] = (count + 1, message)
        self.host.events.append(kind, self.name, message=message, **detail)

    async def stop(self) -> None:
        """Close every connection together (each waits for its venue's close handshake);
        one that fails to close does not keep the others open."""
        sources = [source for c in self.connections.values() for source in c.sources]
        for failed in await asyncio.gather(*(s.stop() for s in sources), return_exceptions=True):
            if isinstance(failed, Exception):
                log.warning("%s: a source did not close cleanly: %s", self.name, failed)
        if self._fetcher is not None:
            await self._fetcher.aclose()
            self._fetcher = None  # a start after a stop makes a new client

    # --- frames (FrameSink) ----------------------------------------------------------------------

    def _conn(self, source: WebSocketSource) -> ConnectionRuntime:
        return self.connections[source.connection.name]

    def on_open(self, source: WebSocketSource, conn_id: int) -> None:
        c = self._conn(source)
        self.host.metrics.connects.labels(self.name).inc()
        if source.holding:
            return  # a replacement: it joins the engine at the handover
        c.engine.connected(conn_id)
        now = time.monotonic()
        plans = self.venue.initial_snapshots(c.name)
        # The (re)subscription brings every book back: no resync before it had its chance,
        # and with REST snapshots none at all before those (not twice per reconnect).
        wait = self.host.snapshot_delay + self.host.resync_timeout if plans else 0.0
        c.resyncs = {s: ResyncState(since=now + wait) for s in c.symbols}
        if plans:
            self.host.spawn(self._initial_snapshots(c, source, plans))

    async def _initial_snapshots(
        self, c: ConnectionRuntime, source: WebSocketSource, plans: list[Resync]
    ) -> None:
        # Let the stream's first diffs arrive (the core buffers them), then fetch.
        await asyncio.sleep(self.host.snapshot_delay)
        for plan in plans:
            await self._snapshot(c, source, plan)

    def on_frame(self, source: WebSocketSource, conn_id: int, data: bytes, ts_ns: int) -> None:
        engine = self._conn(source).engine
        engine.feed(data, ts_ns, conn_id)
        self.host.fed(self.name, engine.pending_events, ts_ns)

    def on_close(self, source: WebSocketSource, conn_id: int, reason: str) -> None:
        self.host.metrics.disconnects.labels(self.name).inc()
        c = self._conn(source)
        if source in c.retiring:
            c.retiring.discard(source)
            return  # replaced: the new connection carries the books on
        if handover.take_over(self, c, source):
            return  # closed while its replacement was catching up: that one carries on
        if not self.host.running or source is not c.source:
            return  # shutting down (the books end as they were), or a replacement that failed
        # Until the next snapshot, the books this connection fed are not the venue's.
        c.engine.disconnected(time.time_ns(), reason)

    # --- resync --------------------------------------------------------------------------------

    def resync_due(self, now: float) -> None:
        for c in self.connections.values():
            broken = set(c.engine.out_of_sync())
            for symbol in list(c.resyncs):
                if symbol not in broken:
                    state = c.resyncs.pop(symbol)
                    if state.started is not None:
                        seconds = round(now - state.started, 3)
                        self.host.events.append("resync_done", self.name, symbol, seconds=seconds)
            if not c.connected or c.rotating:
                continue  # nothing to ask a socket that is down; its reconnect resyncs
            due: list[tuple[str, int]] = []
            for symbol in sorted(broken):
                state = c.resyncs.setdefault(symbol, ResyncState(since=now))
                waited = now - (state.started or state.since)
                limit = (
                    self.host.resync_grace if state.started is None else self.host.resync_timeout
                )
                if waited >= limit:
                    state.started = now
                    state.attempts += 1
                    due.append((symbol, state.attempts))
            if due:
                self.resync_count += len(due)
                self.host.spawn(self._resync(c, due))

    async def _resync(self, c: ConnectionRuntime, due: list[tuple[str, int]]) -> None:
        source = c.source
        if source is None:
            return
        plans = self.venue.resync_many([s for s, _ in due])
        method = "snapshot" if any(p.snapshot_url for p in plans) else "resubscribe"
        for symbol, attempt in due:
            self.host.events.append(
                "resync", self.name, symbol, attempt=attempt, method=method, connection=c.name
            )
        self.host.metrics.resyncs.labels(self.name).inc(len(due))
        for plan in plans:
            if plan.snapshot_url is not None and not await self._snapshot(c, source, plan):
                continue
            for message in plan.messages:
                await source.send(message)

    def fetcher(self) -> SnapshotFetcher:
        """The venue's REST client, made on first use (most venues never need one)."""
        if self._fetcher is None:
            self._fetcher = self.venue.make_fetcher()
            if self._fetcher is None:
                raise RuntimeError(f"{self.name} asks for REST snapshots but has no client")
        return self._fetcher

    async def _snapshot(self, c: ConnectionRuntime, source: WebSocketSource, plan: Resync) -> bool:
        """Fetch a REST snapshot and feed it, if the socket it belongs to is still up."""
        url = plan.snapshot_url
        conn_id = source.conn_id
        if url is None or not source.connected:
            return False
        try:
            body = await self.fetcher().get(url, plan.weight)
        except (OSError, httpx.HTTPError) as e:
            error = f"{type(e).__name__}: {e}"
            self.host.events.append("snapshot_failed", self.name, url=url, error=error)
            return False
        if not source.connected or source.conn_id != conn_id or c.source is not source:
            # The diffs it would join are gone; the reconnect fetches its own.
            self.host.events.append("snapshot_dropped", self.name, url=url)
            return False
        ts = time.time_ns()
        if self.host.capture is not None:
            self.host.capture.http(f"{self.name}-rest", self.venue.protocol, url, body, ts)
        before = c.engine.pending_events
        c.engine.feed_http(url, body, ts)
        self.snapshot_rows += max(0, c.engine.pending_events - before)
        self.host.events.append("snapshot", self.name, url=url, bytes=len(body))
        return True

    # --- replacing a connection ----------------------------------------------------------------

    def watch_lifetimes(self, now: float) -> None:
        """Replace every socket about to reach its venue's connection age limit."""
        for c in self.connections.values():
            limit = c.connection.max_lifetime_seconds
            source = c.source
            if (
                limit is not None
                and source is not None
                and source.connected
                and now - source.opened_at >= limit
            ):
                self.spawn_rotation(c, "max_lifetime")

    def spawn_rotation(self, c: ConnectionRuntime, reason: str) -> None:
        """Start replacing ``c``'s socket unless a replacement is already under way."""
        if not c.rotating:
            c.rotating = True
            self.host.spawn(handover.replace_socket(self, c, reason))

    # --- status --------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        gaps = checksums = 0
        for e in self.engines:
            stats = e.stats().values()
            gaps += e.connection_gaps + sum(s["gaps"] for s in stats)
            checksums += sum(s["checksums_failed"] for s in stats)
        sources = [s for c in self.connections.values() for s in c.sources]
        return {
            "frames": self.frames,
            "rejects": sum(e.rejects for e in self.engines),
            "connects": sum(s.connects for s in sources),
            "connected": sum(c.connected for c in self.connections.values()),
            "bytes": sum(s.bytes for s in sources),
            "gaps": gaps,
            "checksums_failed": checksums,
            "resyncs": self.resync_count,
            "out_of_sync": self.out_of_sync(),
            "delivered": self.delivered,
            "errors": sum(n for n, _ in self.problems.values()),
            "auth_failed": self.problems.get("auth_failed", (0, ""))[0],
            "refused": self.problems.get("subscription_refused", (0, ""))[0],
            "task_failures": self.task_failures,
            "stopped": {c.name: str(c.fatal) for c in self.connections.values() if c.fatal},
        }
