"""Frame sources: a WebSocket connection kept open against disconnects and stalls.

A :class:`WebSocketSource` connects, authenticates, subscribes and reads frames, handing each
to its sink with the receive time. While its ``flowing`` event is cleared it stops reading,
so a consumer that falls behind slows the venue down through TCP instead of buffering.
When the connection closes, errors or goes silent for longer than its stall limit, it
reconnects with exponential backoff and full jitter (capped), and subscribes again. Every
(re)connection gets a new connection number, which the Rust core uses to restart its
per-connection sequence checks. Frames and sent messages can be captured raw;
authentication messages never are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from alphapulse.capture import CaptureWriter
from alphapulse.eventlog import EventLog
from alphapulse.venues.base import Connection

log = logging.getLogger("alphapulse.sources")

#: Largest frame accepted (Coinbase and Kraken snapshots of deep books run to megabytes).
MAX_FRAME_BYTES = 64 << 20
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
        self._ws: ClientConnection | None = None
        self._stopping = asyncio.Event()
        self.conn_id = 0
        self.connects = 0
        self.frames = 0
        self.bytes = 0
        self.last_frame = 0.0

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def _capture_conn(self) -> str:
        return f"{self.connection.name}#{self.conn_id}"

    async def send(self, text: str) -> bool:
        """Send a (non-secret) message on the live connection; False when there is none."""
        ws = self._ws
        if ws is None:
            return False
        await ws.send(text)
        if self._capture is not None:
            self._capture.send(self._capture_conn(), text)
        return True

    async def stop(self) -> None:
        self._stopping.set()
        if self._ws is not None:
            await self._ws.close()

    async def run(self) -> None:
        """Keep the connection open until :meth:`stop`."""
        while not self._stopping.is_set():
            reason = await self._session()
            if self._stopping.is_set():
                break
            delay = self._backoff.next_delay()
            self._events.append(
                "reconnect_scheduled",
                self.venue,
                delay_s=round(delay, 3),
                reason=reason,
                connection=self.connection.name,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)

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
        self.last_frame = time.monotonic()
        self._events.append(
            "connect", self.venue, connection=c.name, conn_id=self.conn_id, url=c.url
        )
        if self._capture is not None:
            self._capture.connect(self._capture_conn(), c.protocol, c.url)
        self._sink.on_open(self, self.conn_id)
        watchdog = asyncio.create_task(self._watch_stall(ws))
        reason = "closed"
        try:
            for message in c.auth() if callable(c.auth) else c.auth:
                await ws.send(message)  # secrets: neither captured nor logged
            for message in c.subscribe:
                await self.send(message)
            self._events.append(
                "subscribe", self.venue, connection=c.name, messages=len(c.subscribe)
            )
            first = True
            while True:
                if self._flowing is not None and not self._flowing.is_set():
                    await self._flowing.wait()
                data = await ws.recv(decode=False)
                ts = time.time_ns()
                self.last_frame = time.monotonic()
                if first:
                    self._backoff.reset()
                    first = False
                payload = data if isinstance(data, bytes) else bytes(data)
                self.frames += 1
                self.bytes += len(payload)
                if self._capture is not None:
                    self._capture.recv(self._capture_conn(), payload, ts)
                self._sink.on_frame(self, self.conn_id, payload, ts)
        except ConnectionClosed as e:
            reason = f"closed: {e.rcvd.code if e.rcvd else 'no close frame'}"
        except OSError as e:
            reason = f"error: {e}"
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

    async def _watch_stall(self, ws: ClientConnection) -> None:
        """Close a connection that has been silent too long (heartbeats count as traffic)."""
        limit = self.connection.stall_seconds
        while True:
            await asyncio.sleep(min(1.0, limit / 4))
            silent = time.monotonic() - self.last_frame
            if silent > limit:
                self._events.append(
                    "stall", self.venue, connection=self.connection.name, silent_s=round(silent, 3)
                )
                await ws.close(code=1001, reason="stalled")
                return
