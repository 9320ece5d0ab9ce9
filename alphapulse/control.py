"""The collector's control endpoint and live channel: one Unix socket per running collector.

Every ``alphapulse collect`` (standalone, or the child the Jupyter server supervises) listens
on a Unix socket that only its user can open (a 0700 directory, a 0600 socket), named in its
status file (``alphapulse.control_client.find_control`` reads it). The protocol is JSON
lines: a request ``{"id": 1, "op": "status"}`` gets ``{"id": 1, "ok": true, "result": …}``
or ``{"id": 1, "ok": false, "error": "one line"}``. Operations:

``status``            the collector's summary (the status file's content, current)
``instruments``       per venue: symbol, canonical id, precisions, whether its book is in sync
``book_top``          ``instrument`` ("kraken:BTC/USD"), ``depth``: the venue's exact decimals
``stop_venue``        ``venue``: close its connections until ``start_venue`` (an event each)
``start_venue``       ``venue``
``metrics``           the collector's Prometheus text
``subscribe``         ``trades`` (instruments), ``books`` ({instrument: depth}), ``news``
                      (bool); replaces the connection's subscription, then the collector
                      pushes ``{"push": "update", "dropped": n, "items": [...]}`` lines

The live channel never slows the collector: ``publish`` only appends to each subscriber's
bounded buffers (the oldest trades go first, counted in ``dropped``; a book is its latest
top), and each subscriber's own task writes them out, waiting for its reader as long as it
likes while its buffers keep coalescing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import stat
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from prometheus_client import generate_latest

from alphapulse import _core

if TYPE_CHECKING:
    from alphapulse.service import CollectorService

log = logging.getLogger("alphapulse.control")

#: How often a subscriber's buffers are written out (seconds): a chart's 30+ updates/s.
FLUSH_SECONDS = 0.025
#: How often the service drains its engines while someone listens live (seconds): trades
#: reach the channel with a drain, and the lake's 0.2 s would cap a chart at 5 updates/s.
LIVE_DRAIN_SECONDS = 0.025
#: Trades kept per subscribed instrument between two writes; past it the oldest go.
MAX_TRADES = 5_000
MAX_NEWS = 200
MAX_DEPTH = 1_000
#: A request line longer than this is refused (and the connection closed).
MAX_LINE = 1 << 16


class ControlRequestError(Exception):
    """A request the collector refuses: its message goes back to the caller."""


def control_socket_path(lake: Path) -> Path:
    """Where the collector of ``lake`` listens: short (a socket path has ~100 bytes), private
    to the user, one per lake."""
    digest = hashlib.sha256(str(lake.resolve()).encode()).hexdigest()[:16]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "alphapulse" if runtime else Path(f"/tmp/alphapulse-{os.getuid()}")
    return base / f"collector-{digest}.sock"


def parse_instrument(text: object) -> tuple[str, str]:
    """``"kraken:BTC/USD"`` → ``("kraken", "BTC/USD")``; ControlRequestError otherwise."""
    if not isinstance(text, str) or ":" not in text:
        raise ControlRequestError(f"instrument must be 'venue:symbol', not {text!r}")
    venue, symbol = text.split(":", 1)
    if not venue or not symbol:
        raise ControlRequestError(f"instrument must be 'venue:symbol', not {text!r}")
    return venue, symbol


class Subscriber:
    """One live connection's interests and its bounded buffers."""

    def __init__(self) -> None:
        self.trades: set[tuple[str, str]] = set()
        self.books: dict[tuple[str, str], int] = {}
        self.news = False
        self.pending_trades: dict[str, deque[dict[str, Any]]] = {}
        self.pending_news: deque[dict[str, Any]] = deque(maxlen=MAX_NEWS)
        self.dropped = 0
        self.wake = asyncio.Event()

    def add_trades(self, key: str, rows: list[dict[str, Any]]) -> None:
        queue = self.pending_trades.setdefault(key, deque(maxlen=MAX_TRADES))
        overflow = len(queue) + len(rows) - MAX_TRADES
        if overflow > 0:
            self.dropped += overflow
        queue.extend(rows)

    def take(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for key, queue in self.pending_trades.items():
            if queue:
                items.append({"channel": "trades", "instrument": key, "rows": list(queue)})
                queue.clear()
        if self.pending_news:
            items.append({"channel": "news", "rows": list(self.pending_news)})
            self.pending_news.clear()
        return items


def _ms(column: pa.ChunkedArray | pa.Array) -> list[float | None]:
    return [None if v is None else v / 1e6 for v in column.cast(pa.int64()).to_pylist()]


def trade_rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """A trades batch as the stream's rows: display floats, ``time`` the venue's (else ours)
    and ``recv`` ours, which bars are bucketed by (as the lake's ``bars()`` macro does)."""
    ts_event, ts_recv = _ms(batch.column("ts_event")), _ms(batch.column("ts_recv"))
    prices = batch.column("price").to_pylist()
    sizes = batch.column("size").to_pylist()
    sides = batch.column("aggressor").to_pylist()
    return [
        {"time": e if e is not None else r, "recv": r, "price": p, "size": s, "side": side}
        for e, r, p, s, side in zip(ts_event, ts_recv, prices, sizes, sides, strict=True)
    ]


def news_rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    ts_event, ts_recv = _ms(batch.column("ts_event")), _ms(batch.column("ts_recv"))
    columns = ["id", "headline", "symbols", "source", "url"]
    rows: list[dict[str, Any]] = batch.select(columns).to_pylist()
    for row, e, r in zip(rows, ts_event, ts_recv, strict=True):
        row["time"] = e if e is not None else r
    return rows


def _synced(engine: _core.Engine, symbol: str) -> bool | None:
    """Whether the book is the venue's; None for an instrument without a book."""
    try:
        return engine.is_synced(symbol)
    except (KeyError, ValueError):
        return None


class ControlServer:
    """The socket server of one collector service; ``info`` is merged into ``status``."""

    def __init__(
        self, service: CollectorService, path: Path, info: dict[str, Any] | None = None
    ) -> None:
        self.service = service
        self.path = path
        self.info = info or {}
        self.subscribers: set[Subscriber] = set()
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()
        #: The service's own drain interval, restored when the last live reader leaves.
        self._lake_drain: float | None = None

    async def start(self) -> None:
        directory = self.path.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise OSError(f"{directory} is not a directory of this user's")
        directory.chmod(0o700)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a crashed collector's (one alive holds the status file)
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.path), limit=MAX_LINE
        )
        self.path.chmod(0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            for task in list(self._connections):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None
        self.service.on_batch = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # --- connections -----------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        subscriber: Subscriber | None = None
        pusher: asyncio.Task[None] | None = None
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    await self._reply(writer, None, error="request line too long")
                    return
                if not line:
                    return
                request_id: object = None
                try:
                    request = orjson.loads(line)
                    if not isinstance(request, dict):
                        raise ControlRequestError("a request is a JSON object")
                    request_id = request.get("id")
                    if request.get("op") == "subscribe":
                        if subscriber is None:
                            subscriber = Subscriber()
                            self.subscribers.add(subscriber)
                            pusher = asyncio.create_task(self._push(subscriber, writer))
                        result = self._subscribe(subscriber, request)
                    else:
                        result = await self._handle(request)
                except (ControlRequestError, orjson.JSONDecodeError, KeyError) as e:
                    message = str(e) if not isinstance(e, KeyError) else f"unknown {e}"
                    await self._reply(writer, request_id, error=message)
                    continue
                await self._reply(writer, request_id, result=result)
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            if subscriber is not None:
                self.subscribers.discard(subscriber)
                self._update_hook()
            if pusher is not None:
                pusher.cancel()
            writer.close()
            self._connections.discard(task)

    async def _reply(
        self,
        writer: asyncio.StreamWriter,
        request_id: object,
        *,
        result: Any = None,
        error: str = "",
    ) -> None:
        if error:
            message: dict[str, Any] = {"id": request_id, "ok": False, "error": error}
        else:
            message = {"id": request_id, "ok": True, "result": result}
        writer.write(orjson.dumps(message, default=str) + b"\n")
        await writer.drain()

    async def _handle(self, request: dict[str, Any]) -> Any:
        op = request.get("op")
        service = self.service
        if op == "status":
            return {"pid": os.getpid(), "ts": time.time(), **self.info, **service.summary()}
        if op == "instruments":
            return self._instruments()
        if op == "book_top":
            return self._book_top(request.get("instrument"), request.get("depth", 10))
        if op in ("stop_venue", "start_venue"):
            venue = request.get("venue")
            if venue not in service.runtimes:
                raise ControlRequestError(f"no venue {venue!r}: {', '.join(service.runtimes)}")
            if op == "stop_venue":
                changed = await service.stop_venue(venue, by="control")
            else:
                changed = service.start_venue(venue, by="control")
            state = "stopped" if venue in service.stopped_venues else "running"
            return {"venue": venue, "state": state, "changed": changed}
        if op == "metrics":
            return generate_latest(service.metrics.registry).decode()
        raise ControlRequestError(f"unknown op {op!r}")

    def _instruments(self) -> list[dict[str, Any]]:
        out = []
        for name, rt in self.service.runtimes.items():
            for c in rt.connections.values():
                if c.connection.protocol.endswith("_news"):
                    continue  # stories, not instruments
                known = {row[0]: row for row in c.engine.instruments()}
                for symbol in c.symbols:
                    _, canonical, pp, sp = known.get(symbol, (symbol, None, None, None))
                    out.append(
                        {
                            "instrument": f"{name}:{symbol}",
                            "venue": name,
                            "symbol": symbol,
                            "id": canonical,
                            "connection": c.name,
                            "price_precision": pp,
                            "size_precision": sp,
                            "synced": _synced(c.engine, symbol),
                        }
                    )
        return out

    def _book_top(self, instrument: object, depth: object) -> dict[str, Any]:
        venue, symbol = parse_instrument(instrument)
        if not isinstance(depth, int) or isinstance(depth, bool) or not 0 < depth <= MAX_DEPTH:
            raise ControlRequestError(f"depth must be an integer from 1 to {MAX_DEPTH}")
        rt = self.service.runtimes.get(venue)
        if rt is None:
            raise ControlRequestError(f"no venue {venue!r}")
        try:
            engine = rt.engine_for(symbol)
        except KeyError:
            raise ControlRequestError(f"{venue} collects no {symbol!r}") from None
        precisions = {row[0]: (row[2], row[3]) for row in engine.instruments()}
        pp, sp = precisions.get(symbol, (None, None))
        synced = _synced(engine, symbol)
        if pp is None or sp is None:
            return {"instrument": instrument, "synced": synced, "bids": [], "asks": []}
        bids, asks = engine.top(symbol, depth)

        def levels(side: list[tuple[int, int]]) -> list[list[str]]:
            return [[_core.format_fixed(p, pp), _core.format_fixed(s, sp)] for p, s in side]

        return {
            "instrument": instrument,
            "synced": synced,
            "ts": time.time_ns(),
            "bids": levels(bids),
            "asks": levels(asks),
        }

    # --- the live channel ------------------------------------------------------------------

    def _subscribe(self, subscriber: Subscriber, request: dict[str, Any]) -> dict[str, Any]:
        trades = request.get("trades", [])
        books = request.get("books", {})
        if not isinstance(trades, list) or not isinstance(books, dict):
            raise ControlRequestError("trades is a list and books an object {instrument: depth}")
        subscriber.trades = {parse_instrument(i) for i in trades}
        parsed: dict[tuple[str, str], int] = {}
        for instrument, depth in books.items():
            if not isinstance(depth, int) or not 0 < depth <= MAX_DEPTH:
                raise ControlRequestError(f"depth must be an integer from 1 to {MAX_DEPTH}")
            parsed[parse_instrument(instrument)] = depth
        subscriber.books = parsed
        subscriber.news = bool(request.get("news", False))
        self._update_hook()
        return {"trades": len(subscriber.trades), "books": len(parsed), "news": subscriber.news}

    def _update_hook(self) -> None:
        # The service converts batches for the channel only while someone listens.
        wanted = any(s.trades or s.news for s in self.subscribers)
        self.service.on_batch = self.publish if wanted else None
        if self._lake_drain is None:
            self._lake_drain = self.service.drain_seconds
        self.service.drain_seconds = LIVE_DRAIN_SECONDS if wanted else self._lake_drain

    def publish(self, venue: str, table: str, batch: pa.RecordBatch) -> None:
        """A batch the service handed to the sink: queue what each subscriber wants."""
        if table == "news":
            if any(s.news for s in self.subscribers):
                rows = news_rows(batch)
                for s in self.subscribers:
                    if s.news:
                        s.pending_news.extend(rows)
                        s.wake.set()
            return
        wanted = {sym for s in self.subscribers for v, sym in s.trades if v == venue}
        if not wanted or table != "trades":
            return
        # Arrow kernels, not a Python pass over every row: this runs with every drain.
        symbols = batch.column("symbol")
        present = set(pc.unique(symbols).to_pylist())
        for symbol in wanted & present:
            rows = trade_rows(batch.filter(pc.equal(symbols, symbol)))
            key = f"{venue}:{symbol}"
            for s in self.subscribers:
                if (venue, symbol) in s.trades:
                    s.add_trades(key, rows)
                    s.wake.set()  # out with this drain, not a timer later

    async def _push(self, subscriber: Subscriber, writer: asyncio.StreamWriter) -> None:
        books: dict[str, dict[str, Any]] = {}
        while True:
            # New trades wake it at once; books are looked at every FLUSH_SECONDS anyway.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscriber.wake.wait(), FLUSH_SECONDS)
            subscriber.wake.clear()
            items = subscriber.take()
            for (venue, symbol), depth in subscriber.books.items():
                key = f"{venue}:{symbol}"
                with contextlib.suppress(ControlRequestError):
                    top = self._book_top(key, depth)
                    book = {
                        "channel": "book",
                        "instrument": key,
                        "time": top.get("ts", time.time_ns()) / 1e6,
                        "synced": top["synced"],
                        "bids": [[float(p), float(s)] for p, s in top["bids"]],
                        "asks": [[float(p), float(s)] for p, s in top["asks"]],
                    }
                    if (
                        books.get(key, {}).get("bids") != book["bids"]
                        or books.get(key, {}).get("asks") != book["asks"]
                    ):
                        books[key] = book
                        items.append(book)
            if not items:
                continue
            dropped, subscriber.dropped = subscriber.dropped, 0
            line = {"push": "update", "dropped": dropped, "items": items}
            try:
                writer.write(orjson.dumps(line) + b"\n")
                await writer.drain()  # a slow reader waits here; publish() keeps coalescing
            except ConnectionError:
                return  # the reader went away: its connection's task cleans up
