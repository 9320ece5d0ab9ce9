"""The live stream hub: one upstream subscription to the collector, many browser sockets.

Each browser socket is a :class:`StreamClient` with a bounded, coalescing buffer: trades
keep the newest ``MAX_TRADES`` per instrument (the oldest go, counted in ``dropped``), a
bar is its latest state, a book top and a status the latest only. Every ``flush_seconds``
the hub writes one message per client whose previous write has been taken by its socket;
a slow or stuck browser so gets fewer, newer updates, and never holds up the hub, the
collector or the other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

from alphapulse.control_client import ControlClient, ControlError, find_control
from alphapulse.live import BarBuilder, parse_interval, spec_key
from alphapulse.server.lakeread import LakeReader
from alphapulse.server.supervisor import CollectorSupervisor

log = logging.getLogger("alphapulse.server")

MAX_TRADES = 2_000
MAX_NEWS = 200
Key = tuple[str, str, str, int]
#: Sends one text message; returns a future done when the socket has taken it (tornado).
Send = Callable[[str], "asyncio.Future[None] | None"]


#: How long stopping the hub may wait for its tasks to end.
STOP_SECONDS = 2.0


class StreamClient:
    """One socket's subscriptions and its bounded buffer."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.keys: set[Key] = set()
        self.trades: dict[str, deque[dict[str, Any]]] = {}
        self.bars: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
        self.history: list[dict[str, Any]] = []
        self.books: dict[str, dict[str, Any]] = {}
        self.status: dict[str, Any] | None = None
        self.news: deque[dict[str, Any]] = deque(maxlen=MAX_NEWS)
        self.notices: list[dict[str, Any]] = []
        self.dropped = 0
        self.writing: asyncio.Future[None] | None = None
        self.sent = 0
        self.last_flush = 0.0
        self.scheduled: asyncio.TimerHandle | None = None

    def wants(self, channel: str, instrument: str = "") -> bool:
        return any(k[0] == channel and k[1] == instrument for k in self.keys)

    def offer_trades(self, instrument: str, rows: list[dict[str, Any]]) -> None:
        queue = self.trades.setdefault(instrument, deque(maxlen=MAX_TRADES))
        self.dropped += max(0, len(queue) + len(rows) - MAX_TRADES)
        queue.extend(rows)

    def offer_bars(self, instrument: str, interval: str, bars: list[dict[str, Any]]) -> None:
        pending = self.bars.setdefault((instrument, interval), {})
        for bar in bars:
            pending[bar["time"]] = bar

    def take(self) -> list[dict[str, Any]]:
        items = self.history
        self.history = []
        for (instrument, interval), bars in self.bars.items():
            if bars:
                ordered = [bars[t] for t in sorted(bars)]
                items.append(
                    {"channel": "bars", "instrument": instrument, "interval": interval}
                    | {"history": False, "bars": ordered}
                )
                bars.clear()
        for instrument, rows in self.trades.items():
            if rows:
                items.append({"channel": "trades", "instrument": instrument, "rows": list(rows)})
                rows.clear()
        items += self.books.values()
        self.books = {}
        if self.status is not None:
            items.append({"channel": "status", "status": self.status})
            self.status = None
        if self.news:
            items.append({"channel": "news", "rows": list(self.news)})
            self.news.clear()
        return items


class StreamHub:
    def __init__(
        self,
        supervisor: CollectorSupervisor,
        lake_reader: LakeReader,
        *,
        flush_seconds: float = 0.1,
    ) -> None:
        self.supervisor = supervisor
        self.lake_reader = lake_reader
        self.lake = lake_reader.lake
        self.flush_seconds = flush_seconds
        self.clients: set[StreamClient] = set()
        self.builders: dict[tuple[str, str], BarBuilder] = {}
        self.messages_sent = 0
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._upstream()),
                asyncio.create_task(self._flush_loop()),
                asyncio.create_task(self._status_loop()),
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: the server's shutdown (and the collector's stop after it) must not
            # wait on a task stuck in a close.
            await asyncio.wait(self._tasks, timeout=STOP_SECONDS)
        self._tasks = []

    # --- clients -----------------------------------------------------------------------------

    def add(self, client: StreamClient) -> None:
        self.clients.add(client)

    def remove(self, client: StreamClient) -> None:
        self.clients.discard(client)
        if client.scheduled is not None:
            client.scheduled.cancel()
            client.scheduled = None
        self._changed.set()

    async def subscribe(self, client: StreamClient, spec: dict[str, Any]) -> None:
        key = spec_key(spec)  # LiveSpecError for a bad one
        channel, instrument, interval, _ = key
        if channel == "bars":
            seconds = parse_interval(interval)
            self.builders.setdefault((instrument, interval), BarBuilder(seconds))
            loop = asyncio.get_running_loop()
            read = self.lake_reader.bars
            bars = await loop.run_in_executor(None, read, instrument, seconds)
            live = self.builders[(instrument, interval)].bars
            merged = {b["time"]: b for b in bars} | {t: dict(b) for t, b in live.items()}
            client.history.append(
                {"channel": "bars", "instrument": instrument, "interval": interval}
                | {"history": True, "bars": [merged[t] for t in sorted(merged)]}
            )
        client.keys.add(key)
        client.notices.append({"type": "subscribed", **_describe(key)})
        self._changed.set()

    def unsubscribe(self, client: StreamClient, spec: dict[str, Any]) -> None:
        key = spec_key(spec)
        client.keys.discard(key)
        self._changed.set()

    # --- upstream ----------------------------------------------------------------------------

    def interests(self) -> tuple[list[str], dict[str, int], bool]:
        trades: set[str] = set()
        books: dict[str, int] = {}
        news = False
        for client in self.clients:
            for channel, instrument, _, depth in client.keys:
                if channel in ("trades", "bars"):
                    trades.add(instrument)
                elif channel == "book":
                    books[instrument] = max(depth, books.get(instrument, 0))
                elif channel == "news":
                    news = True
        return sorted(trades), books, news

    async def _upstream(self) -> None:
        """Keep one subscription to the collector with the union of the clients' interests;
        across collector restarts."""
        while True:
            path = find_control(self.lake)
            if path is None:
                await asyncio.sleep(0.5)
                continue
            try:
                async with ControlClient(path) as client:
                    reader = asyncio.create_task(self._read(client))
                    try:
                        while not reader.done():
                            # Cleared first: a change while the subscribe is in flight
                            # is then seen on the next round, not lost.
                            self._changed.clear()
                            trades, books, news = self.interests()
                            await client.subscribe(trades=trades, books=books, news=news)
                            changed = asyncio.create_task(self._changed.wait())
                            try:
                                await asyncio.wait({reader, changed}, return_when="FIRST_COMPLETED")
                            finally:
                                changed.cancel()
                    finally:
                        reader.cancel()
            except ControlError as e:
                log.info("stream: the collector's live channel: %s", e)
            await asyncio.sleep(0.5)

    async def _read(self, client: ControlClient) -> None:
        async for update in client.updates():
            for item in update["items"]:
                self.dispatch(item)
            # Forward at once to the sockets not written to within flush_seconds: a chart
            # then follows the collector's pace, not the sum of two timers.
            loop = asyncio.get_running_loop()
            now = time.monotonic()
            for c in list(self.clients):
                due = c.last_flush + self.flush_seconds
                if now >= due:
                    self.flush(c)
                elif c.scheduled is None:  # at its next slot: skipping would halve the rate
                    c.scheduled = loop.call_later(due - now, self._scheduled_flush, c)

    def dispatch(self, item: dict[str, Any]) -> None:
        channel = item["channel"]
        if channel == "trades":
            instrument = item["instrument"]
            for (inst, interval), builder in self.builders.items():
                if inst == instrument:
                    bars = builder.add(item["rows"])
                    for c in self.clients:
                        if ("bars", inst, interval, 0) in c.keys:
                            c.offer_bars(inst, interval, bars)
            for c in self.clients:
                if c.wants("trades", instrument):
                    c.offer_trades(instrument, item["rows"])
        elif channel == "book":
            for c in self.clients:
                if c.wants("book", item["instrument"]):
                    c.books[item["instrument"]] = item
        elif channel == "news":
            for c in self.clients:
                if c.wants("news"):
                    c.news.extend(item["rows"])

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            watchers = [c for c in self.clients if c.wants("status")]
            if not watchers:
                continue
            status: dict[str, Any] = {"supervisor": self.supervisor.info()}
            with contextlib.suppress(ControlError):
                status["collector"] = await self.supervisor.call("status")
            for c in watchers:
                c.status = status

    # --- writing -----------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            now = time.monotonic()
            for client in list(self.clients):
                if now - client.last_flush >= self.flush_seconds * 0.9:
                    self.flush(client)

    def _scheduled_flush(self, client: StreamClient) -> None:
        client.scheduled = None
        if client in self.clients:
            self.flush(client)

    def flush(self, client: StreamClient) -> None:
        if client.writing is not None and not client.writing.done():
            return  # its socket has not taken the last message: keep coalescing
        client.last_flush = time.monotonic()
        notices, client.notices = client.notices, []
        items = client.take()
        if not items and not notices:
            return
        dropped, client.dropped = client.dropped, 0
        messages = [orjson.dumps(n).decode() for n in notices]
        if items:
            update = {"type": "update", "dropped": dropped, "items": items}
            messages.append(orjson.dumps(update).decode())
        try:
            for message in messages:
                client.writing = client.send(message)
        except Exception as e:  # a closed socket: its handler removes it
            log.debug("stream: a client's socket refused a write: %s", e)
            self.remove(client)
            return
        client.sent += len(messages)
        self.messages_sent += len(messages)


def _describe(key: Key) -> dict[str, Any]:
    channel, instrument, interval, depth = key
    out: dict[str, Any] = {"channel": channel}
    if instrument:
        out["instrument"] = instrument
    if interval:
        out["interval"] = interval
    if depth:
        out["depth"] = depth
    return out
