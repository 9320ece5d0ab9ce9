"""The simulated exchange: one market per symbol, served on loopback in a venue's protocol.

>>> import asyncio
>>> async def main() -> tuple[bool, bool]:
...     async with SimulatedExchange("binance", ["BTCUSDT"], rate=0) as ex:
...         ex.advance(100)
...         return len(ex.truth("BTCUSDT").changes) > 0, ex.port > 0
>>> asyncio.run(main())
(True, True)

A market clock steps the symbols' models at ``rate`` steps a second (a step is one order:
an add, a cancel, or a market order that trades; each subscribed client gets about one book
frame per step, plus trade frames). Every client of the exchange sees the same market, and
the exchange keeps what it emitted: :meth:`SimulatedExchange.truth` (every trade and book
change, with the ids the venue put on the wire) and :meth:`SimulatedExchange.book`, for tests
to hold a client's books and trades against.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from alphapulse.simulator.alpaca import Alpaca
from alphapulse.simulator.binance import Binance
from alphapulse.simulator.coinbase import Coinbase
from alphapulse.simulator.faults import FaultPlan
from alphapulse.simulator.kraken_v2 import KrakenV2
from alphapulse.simulator.market import InstrumentSpec, MarketModel
from alphapulse.simulator.server import WRITE_LIMIT, Connection, HttpAnswer, Venue
from alphapulse.simulator.state import Level, SymbolState, Truth

#: The most market time the clock catches up after falling behind (seconds); older market
#: time is skipped, so a rate the machine cannot reach runs as fast as it can.
MAX_LAG = 0.05
#: The most steps between two yields to the event loop (client messages, REST, pings).
MAX_BATCH = 2048
#: A client that has not read its buffered frames for this long is disconnected, as a venue
#: drops a slow consumer (until then the market waits for it).
SLOW_CLIENT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class ExchangeStats:
    steps: int
    #: Frames and bytes written to clients (acks and snapshots included).
    frames: int
    bytes: int
    connections: int
    #: Connections accepted since start.
    accepted: int
    seconds: float


#: Venues the simulator speaks, and the protocol class of each.
VENUES: dict[str, type[Venue]] = {
    "kraken": KrakenV2,
    "coinbase": Coinbase,
    "binance": Binance,
    "alpaca": Alpaca,
}


class SimulatedExchange:
    """A venue on loopback: WebSocket market data (and REST where the venue has it).

    ``rate`` is market steps per second across all symbols (0: the market only moves on
    :meth:`advance`). ``faults`` applies to the connections it names (the first by default).
    ``credentials`` are the Alpaca key and secret the exchange accepts (any, if None);
    ``bar_seconds`` is Alpaca's bar interval and ``news_seconds`` its news period.
    ``truth_limit`` bounds the steps kept per symbol for :meth:`truth`.
    """

    def __init__(
        self,
        venue: str,
        symbols: Sequence[str],
        *,
        seed: int = 0,
        rate: float = 1000.0,
        faults: FaultPlan | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: tuple[str, str] | None = None,
        bar_seconds: float = 60.0,
        news_seconds: float = 5.0,
        truth_limit: int | None = 250_000,
    ) -> None:
        if not symbols:
            raise ValueError("no symbols")
        self.venue_name = venue
        self.seed = seed
        self.rate = float(rate)
        self.faults = faults
        self.host = host
        self.port = port
        self.credentials = credentials
        self.bar_seconds = bar_seconds
        self.news_seconds = news_seconds
        if venue not in VENUES:
            raise ValueError(f"unknown venue {venue!r}; expected one of {', '.join(VENUES)}")
        self.venue = VENUES[venue](self)
        rng = random.Random(seed)
        self._states: dict[str, SymbolState] = {}
        for i, symbol in enumerate(symbols):
            spec = self.venue.spec(symbol)
            model = MarketModel(spec, random.Random(rng.random()))
            self._states[symbol] = SymbolState(symbol, spec, model, i, truth_limit, self.venue.text)
        self.states = list(self._states.values())
        self._rng = random.Random(rng.random())
        self._server: Server | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._paused = False
        self._connections: list[Connection] = []
        self._accepted = 0
        self._steps = 0
        self._frames_closed = 0
        self._bytes_closed = 0
        self._started = 0.0

    # Lifecycle

    async def start(self) -> None:
        """Listen (inside the running loop) and start the market clock."""
        if self._server is not None:
            raise RuntimeError("already started")
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            compression=None,
            max_size=1 << 20,
            close_timeout=2.0,
            write_limit=WRITE_LIMIT,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._started = time.monotonic()
        self._clock_task = asyncio.create_task(self._clock(), name=f"simulator {self.venue_name}")

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._clock_task is not None:
            self._clock_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock_task
            self._clock_task = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> SimulatedExchange:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def ws_url(self) -> str:
        """The WebSocket URL, with the venue's path (Kraken's ``/v2``)."""
        return f"ws://{self.host}:{self.port}{self.venue.ws_path}"

    @property
    def rest_url(self) -> str:
        """REST on the same port (Binance depth and exchangeInfo, Coinbase products)."""
        return f"http://{self.host}:{self.port}"

    # Ground truth

    def state(self, symbol: str) -> SymbolState:
        try:
            return self._states[symbol]
        except KeyError:
            raise KeyError(f"{symbol!r} is not listed; symbols: {list(self._states)}") from None

    def find(self, symbol: str) -> SymbolState | None:
        return self._states.get(symbol)

    @property
    def symbols(self) -> list[str]:
        return list(self._states)

    def spec(self, symbol: str) -> InstrumentSpec:
        return self.state(symbol).spec

    def truth(self, symbol: str) -> Truth:
        """Every trade and book change emitted for ``symbol`` (at the spec's precision)."""
        return self.state(symbol).truth

    def book(self, symbol: str, depth: int | None = None) -> tuple[list[Level], list[Level]]:
        """The exchange's current book, ``(bids, asks)`` best first, like ``Engine.top``."""
        return self.state(symbol).book(depth)

    @property
    def news(self) -> list[dict[str, Any]]:
        """News items sent, oldest first (Alpaca's news stream)."""
        return self.venue.news

    def stats(self) -> ExchangeStats:
        conns = self._connections
        return ExchangeStats(
            steps=self._steps,
            frames=self._frames_closed + sum(c.frames for c in conns),
            bytes=self._bytes_closed + sum(c.bytes for c in conns),
            connections=len(conns),
            accepted=self._accepted,
            seconds=time.monotonic() - self._started if self._started else 0.0,
        )

    # Market

    def pause(self) -> None:
        """Stop the market clock (heartbeats go on); frames already produced are written."""
        self._paused = True
        self.flush()

    def resume(self) -> None:
        self._paused = False
        self._wake.set()

    def advance(self, steps: int) -> None:
        """Run ``steps`` market steps now and write their frames."""
        self._advance(steps, time.time_ns())
        self.flush()

    def flush(self) -> None:
        """Write the frames produced so far (the clock does this on every tick)."""
        if self._connections:
            now = asyncio.get_running_loop().time()
            for conn in list(self._connections):
                conn.flush(now)

    async def drop_connections(self) -> None:
        """Abort every client connection (as a venue restart would)."""
        for conn in list(self._connections):
            conn.abort()
        await asyncio.sleep(0)

    def _advance(self, n: int, ts: int) -> None:
        states = self.states
        count = len(states)
        pick = self._rng.random
        for _ in range(n):
            state = states[int(pick() * count)]
            step = state.model.step()
            state.record(step, ts)
            for session in state.sessions:
                session.step(state, step, ts)
        self._steps += n

    async def _clock(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        done = 0
        next_second = start + 1.0
        while True:
            now = loop.time()
            if self._paused or self.rate <= 0:
                start, done = now, 0
            else:
                due = int((now - start) * self.rate) - done
                lag = max(1, int(self.rate * MAX_LAG))
                if due > lag:  # behind: the missed market time is skipped, not replayed
                    done += due - lag
                    due = lag
                due = min(due, MAX_BATCH)
                if due > 0:
                    self._advance(due, time.time_ns())
                    done += due
            if now >= next_second:
                ts = time.time_ns()
                self.venue.second(ts)
                for conn in list(self._connections):
                    if conn.session is not None:
                        conn.session.second(ts)
                next_second = max(next_second + 1.0, now + 0.5)
            behind = [c for c in list(self._connections) if c.flush(now)]
            for conn in behind:
                try:
                    await asyncio.wait_for(conn.drain(), SLOW_CLIENT_SECONDS)
                except TimeoutError:
                    conn.abort()
                except (ConnectionClosed, OSError):
                    pass
            wake = next_second
            if not self._paused and self.rate > 0:
                wake = min(wake, start + (done + 1) / self.rate)
            for conn in self._connections:
                release = conn.next_release
                if release is not None:
                    wake = min(wake, release)
            delay = wake - loop.time()
            if delay <= 0:
                await asyncio.sleep(0)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    # Connections

    async def _handle(self, ws: ServerConnection) -> None:
        index = self._accepted
        self._accepted += 1
        plan = self.faults if self.faults is not None and self.faults.applies_to(index) else None
        conn = Connection(index, ws, plan)
        request = ws.request
        assert request is not None  # the handshake is done
        session = self.venue.session(conn, request.path, request.headers)
        self._connections.append(conn)
        loop = asyncio.get_running_loop()
        try:
            session.opened()
            conn.flush(loop.time())
            while True:
                message = await ws.recv(decode=False)
                session.received(message)
                conn.flush(loop.time())
        except ConnectionClosed:
            pass
        finally:
            session.closed()
            self._connections.remove(conn)
            self._frames_closed += conn.frames
            self._bytes_closed += conn.bytes

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """Plain HTTP requests (no ``Upgrade``) are the venue's REST API."""
        path, _, query = request.path.partition("?")
        if "websocket" in request.headers.get("Upgrade", "").lower():
            if self.venue.accepts(request.path):
                return None
            answer: HttpAnswer | None = (404, {"error": f"no stream at {path}"})
        else:
            answer = self.venue.http(path, dict(parse_qsl(query)))
        if answer is None:
            answer = (404, {"error": f"no route {path}"})
        status, data = answer[0], orjson.dumps(answer[1])
        headers = Headers(
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(data))),
                ("Connection", "close"),
            ]
        )
        if len(answer) == 3:
            headers.update(answer[2])
        return Response(status, http.HTTPStatus(status).phrase, headers, data)
