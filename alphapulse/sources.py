"""Frame sources: a WebSocket connection kept open against disconnects and stalls.

A :class:`WebSocketSource` connects, authenticates, subscribes and reads frames, handing each
to its sink with the receive time. While its ``flowing`` event is cleared it stops reading,
so a consumer that falls behind slows the venue down through TCP instead of buffering.
When the connection closes, errors or goes silent for longer than its stall limit, it
reconnects with exponential backoff and full jitter (capped), and subscribes again. Every
(re)connection gets a new connection number, which the Rust core uses to restart its
per-connection sequence checks. Frames and sent messages can be captured raw;
authentication messages never are, and on a connection that authenticates no sent message
is (a venue may sign any of them).

A connection whose venue needs a handshake (``Connection.ready``) waits for its
acknowledgement before subscribing; a reply that no reconnect would fix (bad keys, no
entitlement) raises :class:`FatalVenueError` and ends the source for good (``fatal``).
A source started with ``hold=True`` keeps its frames until :meth:`WebSocketSource.release`:
the collector opens a replacement connection that way and closes the old one only once the
new one delivers (make-before-break).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from aiolimiter import AsyncLimiter
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from alphapulse.capture import CaptureWriter
from alphapulse.eventlog import EventLog
from alphapulse.pausewatch import PauseWatch
from alphapulse.venues.base import Connection, FatalVenueError

log = logging.getLogger("alphapulse.sources")

#: Largest frame accepted (Coinbase and Kraken snapshots of deep books run to megabytes).
MAX_FRAME_BYTES = 64 << 20
#: How long a venue may take to acknowledge authentication (Alpaca's own limit is 10 s).
HANDSHAKE_SECONDS = 15.0
#: How long a close waits for the venue's close frame before dropping the connection. The
#: venue's reply queues behind every frame it sent before, which a collector that fell
#: behind has not read: waiting for it (websockets' default, 10 s) made stops take 20 s.
CLOSE_TIMEOUT_SECONDS = 1.0


@dataclass
class Backoff:
    """Exponential backoff with full jitter: ``uniform(0, min(cap, base * 2**attempt))``."""

    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        delay = self.rng.uniform(0.0, min(self.cap, self.base * 2**self.attempt))
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


class FrameSink(Protocol):
    def on_open(self, source: WebSocketSource, conn_id: int) -> None: ...
    def on_frame(self, source: WebSocketSource, conn_id: int, data: bytes, ts_ns: int) -> None: ...
    def on_close(self, source: WebSocketSource, conn_id: int, reason: str) -> None: ...


class ConnectionIds:
    """Connection numbers, unique per service (one counter shared by its sources)."""

    def __init__(self) -> None:
        self._next = 0

    def new(self) -> int:
        self._next += 1
        return self._next


class WebSocketSource:
    def __init__(
        self,
        connection: Connection,
        sink: FrameSink,
        events: EventLog,
        ids: ConnectionIds,
        *,
        venue: str,
        capture: CaptureWriter | None = None,
        backoff: Backoff | None = None,
        flowing: asyncio.Event | None = None,
        limiter: AsyncLimiter | None = None,
        pause: PauseWatch | None = None,
        hold: bool = False,
        private: bool = False,
    ) -> None:
        self.connection = connection
        self.venue = venue
        self._sink = sink
        self._events = events
        self._ids = ids
        self._capture = capture
        self._backoff = backoff or Backoff()
        # Cleared by the consumer when it falls behind: reading pauses, TCP pushes back.
        self._flowing = flowing
        self._limiter = limiter
        self._pause = pause
        # A venue that authenticates may put credentials in any message (Coinbase signs each
        # subscription and resync): nothing sent on such a connection is captured.
        self._private = private or bool(connection.auth)
        self._held: list[tuple[bytes, int]] | None = [] if hold else None
        self._ws: ClientConnection | None = None
        self._stopping = asyncio.Event()
        self.conn_id = 0
        self.connects = 0
        self.frames = 0
        self.bytes = 0
        self.last_frame = 0.0
        self._fresh = False
        #: When the current connection opened (monotonic), for the venue's lifetime limit.
        self.opened_at = 0.0
        #: Set once the venue refused the connection for good; the source has ended.
        self.fatal: FatalVenueError | None = None

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def holding(self) -> bool:
        return self._held is not None

    def _capture_conn(self) -> str:
        return f"{self.connection.name}#{self.conn_id}"

    async def _send(self, ws: ClientConnection, text: str, *, secret: bool) -> None:
        if self._limiter is not None:
            await self._limiter.acquire()
        await ws.send(text)
        if self._capture is not None and not secret and not self._private:
            self._capture.send(self._capture_conn(), text)

    async def send(self, text: str) -> bool:
        """Send a message on the live connection, paced; False when there is none."""
        ws = self._ws
        if ws is None:
            return False
        await self._send(ws, text, secret=False)
        return True

    def release(self) -> None:
        """Hand the frames held so far to the sink, and every later one as it arrives."""
        held, self._held = self._held, None
        for payload, ts in held or ():
            self._sink.on_frame(self, self.conn_id, payload, ts)

    def retire(self) -> None:
        """No reconnect after the current connection closes."""
        self._stopping.set()

    async def stop(self) -> None:
        self._stopping.set()
        if self._ws is not None:
            await self._ws.close()

    async def run(self) -> None:
        """Keep the connection open until :meth:`stop` or a fatal refusal."""
        while not self._stopping.is_set():
            reason = await self._session()
            if self._stopping.is_set() or self.fatal is not None:
                break
            delay = self._backoff.next_delay()
            self._events.append(
                "reconnect_scheduled",
                self.venue,
                delay_s=round(delay, 3),
                reason=reason,
                connection=self.connection.name,
            )
            await self.wait_stopped(delay)

    async def wait_stopped(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    def backoff_delay(self) -> float:
        return self._backoff.next_delay()

    async def _session(self) -> str:
        c = self.connection
        try:
            ws = await connect(
                c.url,
                max_size=MAX_FRAME_BYTES,
                open_timeout=10,
                ping_interval=20,
                ping_timeout=20,
                close_timeout=CLOSE_TIMEOUT_SECONDS,
                compression=None,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as e:
            self._events.append("connect_failed", self.venue, connection=c.name, error=str(e))
            return f"connect failed: {e}"
        self.conn_id = self._ids.new()
        self.connects += 1
        self._ws = ws
        self.last_frame = self.opened_at = time.monotonic()
        self._events.append(
            "connect", self.venue, connection=c.name, conn_id=self.conn_id, url=c.url
        )
        if self._capture is not None:
            self._capture.connect(self._capture_conn(), c.protocol, c.url)
        self._sink.on_open(self, self.conn_id)
        watchdog = asyncio.create_task(self._watch_stall(ws))
        reason = "closed"
        try:
            try:
                for message in c.auth() if callable(c.auth) else c.auth:
                    await self._send(ws, message, secret=True)  # neither captured nor logged
            except ConnectionClosed:
                if c.ready is None:
                    raise
                # Closed at once: what the venue said before closing tells why (its frames
                # are still there to read), e.g. Alpaca's 404 auth timeout.
            if c.ready is not None:
                await asyncio.wait_for(self._handshake(ws, c.ready), HANDSHAKE_SECONDS)
            # Past the handshake, the venue's first frame resets the backoff (a venue that
            # greets and then refuses must not get a fast reconnect loop).
            self._fresh = True
            for message in c.subscribe:
                await self._send(ws, message, secret=False)
            self._events.append(
                "subscribe", self.venue, connection=c.name, messages=len(c.subscribe)
            )
            while True:
                if self._flowing is not None and not self._flowing.is_set():
                    await self._flowing.wait()
                self._received(await ws.recv(decode=False))
        except ConnectionClosed as e:
            reason = f"closed: {e.rcvd.code if e.rcvd else 'no close frame'}"
        except OSError as e:
            reason = f"error: {e}"
        except TimeoutError:
            reason = "handshake timeout"
        except FatalVenueError as e:
            self.fatal = e
            reason = f"refused: {e.message}"
        finally:
            watchdog.cancel()
            self._ws = None
            with contextlib.suppress(Exception):
                await ws.close()
            if self._capture is not None:
                self._capture.disconnect(self._capture_conn(), reason)
            self._events.append(
                "disconnect", self.venue, connection=c.name, conn_id=self.conn_id, reason=reason
            )
            self._sink.on_close(self, self.conn_id, reason)
        return reason

    async def _handshake(self, ws: ClientConnection, ready: Callable[[bytes], bool]) -> None:
        """Read (and pass on) frames until the venue acknowledges; its refusals raise."""
        while True:
            if self._received(await ws.recv(decode=False), ready):
                return

    def _received(self, data: str | bytes, ready: Callable[[bytes], bool] | None = None) -> bool:
        """Capture and pass on one frame; with ``ready``, its verdict on the frame (a refusal
        raises before the frame reaches the sink, so it is reported once, as the refusal)."""
        ts = time.time_ns()
        self.last_frame = time.monotonic()
        if self._fresh:  # the venue serves us: the next reconnect starts from a short delay
            self._backoff.reset()
            self._fresh = False
        payload = data if isinstance(data, bytes) else data.encode()
        self.frames += 1
        self.bytes += len(payload)
        if self._capture is not None:
            self._capture.recv(self._capture_conn(), payload, ts)
        verdict = ready(payload) if ready is not None else True
        if self._held is not None:
            self._held.append((payload, ts))
        else:
            self._sink.on_frame(self, self.conn_id, payload, ts)
        return verdict

    async def _watch_stall(self, ws: ClientConnection) -> None:
        """Close a connection that has been silent too long (heartbeats count as traffic);
        a pause of the collector's own process is not the venue's silence."""
        limit = self.connection.stall_seconds
        if limit is None:
            return  # no data-silence limit: WebSocket pings tell a dead connection
        while True:
            await asyncio.sleep(min(1.0, limit / 4))
            now = time.monotonic()
            since = self.last_frame
            if self._pause is not None:
                self._pause.check()
                since = self._pause.since(since)
            silent = now - since
            if silent > limit:
                self._events.append(
                    "stall", self.venue, connection=self.connection.name, silent_s=round(silent, 3)
                )
                await ws.close(code=1001, reason="stalled")
                return
