"""What every simulated venue shares: a connection that writes frames, and the interface a
venue protocol implements (sessions for WebSocket clients, REST routes).

Frames are written straight to the transport as unmasked WebSocket text frames, many per
``write``: the per-message path of ``websockets`` costs several microseconds a frame, the
header here a dictionary lookup. ``websockets`` still owns the connection (handshake, pings,
the close handshake, flow control); frames are only written while it is open.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.protocol import State

from alphapulse.simulator.encoding import fixed
from alphapulse.simulator.faults import FaultPlan, FaultState, Queued
from alphapulse.simulator.market import InstrumentSpec, Step

if TYPE_CHECKING:
    from alphapulse.simulator.exchange import SimulatedExchange
    from alphapulse.simulator.state import SymbolState

#: Bytes buffered for one client before the market waits for it to read (backpressure).
WRITE_LIMIT = 4 << 20

_TEXT_HEADERS = [bytes((0x81, n)) for n in range(126)]


def ws_frames(payloads: list[bytes]) -> bytes:
    """Payloads as consecutive unmasked, unfragmented text frames (RFC 6455 §5.2)."""
    parts: list[bytes] = []
    append = parts.append
    headers = _TEXT_HEADERS
    for p in payloads:
        n = len(p)
        if n < 126:
            append(headers[n])
        elif n < 65536:
            append(b"\x81\x7e" + n.to_bytes(2, "big"))
        else:
            append(b"\x81\x7f" + n.to_bytes(8, "big"))
        append(p)
    return b"".join(parts)


class Session:
    """One client connection's protocol state; each venue module subclasses it.

    ``step`` is called for every market step of each symbol the session registered with
    (``SymbolState.sessions``): it appends market-data frames to ``self.out``.
    """

    def __init__(self, venue: Venue, conn: Connection) -> None:
        self.venue = venue
        self.exchange = venue.exchange
        self.conn = conn
        self.out = conn.out
        conn.session = self

    def opened(self) -> None:
        """The handshake completed: greet the client."""

    def received(self, message: bytes) -> None:
        """A frame from the client."""

    def step(self, state: SymbolState, step: Step, ts: int) -> None:
        """A market step of a symbol this session listens to."""

    def second(self, ts: int) -> None:
        """Once a second: heartbeats, bars."""

    def unknown(self) -> bytes:
        """A message of a type the venue's clients do not know (fault injection)."""
        return b'{"type":"simulator_unknown"}'

    def listen(self, state: SymbolState) -> None:
        if self not in state.sessions:
            state.sessions.append(self)

    def unlisten(self, state: SymbolState) -> None:
        if self in state.sessions:
            state.sessions.remove(self)

    def closed(self) -> None:
        for state in self.exchange.states:
            self.unlisten(state)


class Connection:
    """One WebSocket client: queued frames, their faults, and the writes."""

    def __init__(self, index: int, ws: ServerConnection, plan: FaultPlan | None) -> None:
        self.index = index
        self.ws = ws
        self.transport = ws.transport
        #: Frames produced since the last flush, in order.
        self.out: list[bytes] = []
        #: Indexes in ``out`` of frames that are not market data (never faulted).
        self._control: list[int] = []
        self.faults = FaultState(plan, index, self._unknown) if plan is not None else None
        self._held: deque[Queued] = deque()
        self.session: Session | None = None
        self.frames = 0
        self.bytes = 0
        self.aborted = False

    def send(self, payload: bytes) -> None:
        """A market-data frame."""
        self.out.append(payload)

    def send_control(self, payload: bytes) -> None:
        """An ack, heartbeat or status frame: never faulted."""
        if self.faults is not None:
            self._control.append(len(self.out))
        self.out.append(payload)

    def _unknown(self) -> bytes:
        return self.session.unknown() if self.session is not None else b"{}"

    @property
    def next_release(self) -> float | None:
        """When the first held frame is due (loop time), if any is held."""
        return self._held[0][0] if self._held else None

    def flush(self, now: float) -> bool:
        """Write what is due; True when the client is behind (the caller should drain)."""
        out = self.out
        if out:
            if self.faults is None:
                self._write(out)
            else:
                self._held.extend(self.faults.apply(out, set(self._control), now))
                self._control.clear()
            out.clear()
        if self._held:
            self._release(now)
        return self.transport.get_write_buffer_size() > WRITE_LIMIT

    def _release(self, now: float) -> None:
        held = self._held
        due: list[bytes] = []
        while held and held[0][0] <= now:
            payload = held.popleft()[1]
            if payload is None:
                self._write(due)
                self.abort()
                return
            due.append(payload)
        self._write(due)

    def _write(self, payloads: list[bytes]) -> None:
        if not payloads or self.aborted or self.ws.protocol.state is not State.OPEN:
            return
        data = ws_frames(payloads)
        self.transport.write(data)
        self.frames += len(payloads)
        self.bytes += len(data)

    def abort(self) -> None:
        """Close the TCP connection without a close frame."""
        self.aborted = True
        self._held.clear()
        self.transport.abort()

    async def drain(self) -> None:
        await self.ws.drain()


#: A REST answer: HTTP status, a JSON-serializable body and, optionally, headers to add
#: (Binance's used weight and Retry-After).
HttpAnswer = tuple[int, object] | tuple[int, object, Mapping[str, str]]


class Venue:
    """A venue's protocol on the simulated exchange; one subclass per venue module."""

    name: ClassVar[str]
    #: Appended to ``ws://host:port`` for ``SimulatedExchange.ws_url``.
    ws_path: ClassVar[str] = ""

    def __init__(self, exchange: SimulatedExchange) -> None:
        self.exchange = exchange
        #: News items sent (Alpaca), oldest first.
        self.news: list[dict[str, Any]] = []

    @staticmethod
    def text(mantissa: int, decimals: int) -> str:
        """A price or size as the venue writes it (cached per symbol in ``SymbolState``)."""
        return fixed(mantissa, decimals)

    def accepts(self, path: str) -> bool:
        """Whether a WebSocket handshake for ``path`` is answered (else 404)."""
        return True

    def spec(self, symbol: str) -> InstrumentSpec:
        """The market model spec for a venue symbol; ValueError if the venue cannot list it."""
        raise NotImplementedError

    def session(self, conn: Connection, path: str, headers: Headers) -> Session:
        raise NotImplementedError

    def http(self, path: str, query: Mapping[str, str]) -> HttpAnswer | None:
        """A REST request (GET); None for an unknown path."""
        return None

    def second(self, ts: int) -> None:
        """Once a second, before the sessions' ``second``: venue-wide work (news)."""
