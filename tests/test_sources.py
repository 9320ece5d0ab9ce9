"""WebSocket sources against real loopback servers: reconnects, stalls, capture, secrets."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from websockets.asyncio.server import ServerConnection, serve

from alphapulse.capture import CaptureWriter, read_capture
from alphapulse.eventlog import EventLog
from alphapulse.sources import Backoff, ConnectionIds, WebSocketSource
from alphapulse.venues.base import Connection


class Recorder:
    def __init__(self) -> None:
        self.opened: list[int] = []
        self.frames: list[tuple[int, bytes]] = []
        self.closed: list[str] = []

    def on_open(self, source: WebSocketSource, conn_id: int) -> None:
        self.opened.append(conn_id)

    def on_frame(self, source: WebSocketSource, conn_id: int, data: bytes, ts_ns: int) -> None:
        assert ts_ns > 0
        self.frames.append((conn_id, data))

    def on_close(self, source: WebSocketSource, conn_id: int, reason: str) -> None:
        self.closed.append(reason)


def test_backoff_is_capped_full_jitter() -> None:
    backoff = Backoff(base=0.5, cap=4.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(12)]
    bounds = [min(4.0, 0.5 * 2**i) for i in range(12)]
    assert all(0 <= d <= b for d, b in zip(delays, bounds, strict=True))
    assert max(delays[6:]) <= 4.0 and len(set(delays)) == 12
    backoff.reset()
    assert backoff.next_delay() <= 0.5


Handler = Callable[[ServerConnection], Awaitable[None]]


async def _run_against(
    handler: Handler,
    until: Callable[[Recorder], bool],
    tmp_path: Path,
    *,
    auth: tuple[str, ...] = (),
    stall_seconds: float = 15.0,
    private: bool = False,
) -> tuple[Recorder, EventLog, WebSocketSource]:
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        conn = Connection(
            "test",
            f"ws://127.0.0.1:{port}",
            "kraken",
            ("subscribe-me",),
            auth=auth,
            stall_seconds=stall_seconds,
        )
        recorder, events = Recorder(), EventLog()
        capture = CaptureWriter(tmp_path / "c.capture.zst")
        source = WebSocketSource(
            conn,
            recorder,
            events,
            ConnectionIds(),
            venue="test",
            capture=capture,
            backoff=Backoff(base=0.01, cap=0.05),
            private=private,
        )
        task = asyncio.create_task(source.run())
        for _ in range(200):
            await asyncio.sleep(0.05)
            if until(recorder):
                break
        await source.stop()
        await asyncio.wait_for(task, 5)
        capture.close()
        return recorder, events, source


def test_reconnects_after_the_server_closes(tmp_path: Path) -> None:
    received: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        received.append(str(await ws.recv()))  # the auth message
        received.append(str(await ws.recv()))  # the subscription
        for i in range(3):
            await ws.send(f'{{"n":{i}}}')
        await ws.close()

    recorder, events, source = asyncio.run(
        _run_against(handler, lambda r: len(r.opened) >= 3, tmp_path, auth=("top-secret-auth",))
    )
    assert recorder.opened[:3] == [1, 2, 3]  # a new connection number each time
    assert [f for c, f in recorder.frames if c == 1] == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    assert received[:2] == ["top-secret-auth", "subscribe-me"]
    assert events.counts["connect"] >= 3 and events.counts["reconnect_scheduled"] >= 2
    assert source.frames >= 9
    records = list(read_capture(tmp_path / "c.capture.zst"))
    # On a connection that authenticates, no sent message is captured: a venue may sign any.
    assert [r.data for r in records if r.kind == "send"] == []
    assert all(b"top-secret" not in r.data for r in records)  # auth never captured
    assert sum(r.kind == "recv" for r in records) == len(recorder.frames)


def test_nothing_sent_is_captured_for_a_venue_with_credentials(tmp_path: Path) -> None:
    """Messages built by a venue with keys may carry them (Coinbase signs each one): not even
    the subscription is captured."""

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send('{"n":1}')
        await ws.wait_closed()

    asyncio.run(_run_against(handler, lambda r: len(r.frames) >= 1, tmp_path, private=True))
    records = list(read_capture(tmp_path / "c.capture.zst"))
    assert [r.kind for r in records if r.kind in ("recv", "send")] == ["recv"]


def test_a_silent_connection_is_closed_and_reopened(tmp_path: Path) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send('{"hello":1}')
        await ws.wait_closed()  # silent, but the socket stays open

    recorder, events, _ = asyncio.run(
        _run_against(handler, lambda r: len(r.opened) >= 2, tmp_path, stall_seconds=0.3)
    )
    assert events.counts.get("stall", 0) >= 1
    assert len(recorder.opened) >= 2 and recorder.closed


def test_unreachable_venue_is_retried(tmp_path: Path) -> None:
    async def go() -> EventLog:
        conn = Connection("nowhere", "ws://127.0.0.1:9", "kraken", ())
        events = EventLog()
        source = WebSocketSource(
            conn,
            Recorder(),
            events,
            ConnectionIds(),
            venue="x",
            backoff=Backoff(base=0.01, cap=0.02),
        )
        task = asyncio.create_task(source.run())
        await asyncio.sleep(0.3)
        await source.stop()
        await asyncio.wait_for(task, 5)
        return events

    events = asyncio.run(go())
    assert events.counts["connect_failed"] >= 2
    assert "connect" not in events.counts


def test_sends_are_paced_to_the_venue_limit(tmp_path: Path) -> None:
    """A venue that accepts 4 messages a second gets 8 subscriptions over at least a second
    (the first 4 at once, then one each quarter second)."""
    from aiolimiter import AsyncLimiter

    arrivals: list[float] = []

    async def handler(ws: ServerConnection) -> None:
        async for _ in ws:
            arrivals.append(time.monotonic())

    async def go() -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            subscribe = tuple(f"sub-{i}" for i in range(8))
            conn = Connection("paced", f"ws://127.0.0.1:{port}", "kraken", subscribe)
            source = WebSocketSource(
                conn, Recorder(), EventLog(), ConnectionIds(), venue="x", limiter=AsyncLimiter(4, 1)
            )
            task = asyncio.create_task(source.run())
            deadline = time.monotonic() + 30
            while len(arrivals) < 8 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await source.stop()
            await asyncio.wait_for(task, 5)

    asyncio.run(go())
    assert len(arrivals) == 8
    assert arrivals[-1] - arrivals[0] >= 0.9


def test_no_silence_limit_means_no_stall(tmp_path: Path) -> None:
    """``stall_seconds=None`` (Alpaca): a silent connection stays open."""

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send('{"hello":1}')
        await ws.wait_closed()

    async def go() -> tuple[EventLog, WebSocketSource]:
        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            conn = Connection(
                "quiet", f"ws://127.0.0.1:{port}", "kraken", ("sub",), stall_seconds=None
            )
            events = EventLog()
            source = WebSocketSource(conn, Recorder(), events, ConnectionIds(), venue="x")
            task = asyncio.create_task(source.run())
            await asyncio.sleep(2.0)
            connected = source.connected
            await source.stop()
            await asyncio.wait_for(task, 5)
            assert connected
            return events, source

    events, source = asyncio.run(go())
    assert "stall" not in events.counts and source.connects == 1
