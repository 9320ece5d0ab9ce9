"""AlphaPulse's Rust core: venue normalizers, L2 order books and Arrow export.

Prices and sizes cross this boundary as fixed-point integers ("mantissas") at the
instrument's precision: ``parse_fixed("0.05005", 5) == 5005``. Events leave as Arrow
tables (see ``event_schema`` and the README's schema section).

>>> from alphapulse import _core
>>> book = _core.OrderBook()
>>> book.apply(_core.BID, 5000, 500)
True
>>> book.best_bid()
(5000, 500)
"""

from typing import Any, Final, TypeAlias, final

from typing_extensions import CapsuleType

__all__ = [
    "ASK",
    "BID",
    "PROTOCOLS",
    "TABLES",
    "Engine",
    "EventBatch",
    "EventSchema",
    "OrderBook",
    "__version__",
    "event_schema",
    "format_fixed",
    "kraken_checksum",
    "parse_fixed",
]

BID: Final[int]
ASK: Final[int]
TABLES: Final[list[str]]
PROTOCOLS: Final[list[str]]
__version__: Final[str]

_Level: TypeAlias = tuple[int, int]

@final
class EventBatch:
    """One table of events; pyarrow, polars and DuckDB read it without a copy."""

    @property
    def name(self) -> str: ...
    @property
    def num_rows(self) -> int: ...
    def __len__(self) -> int: ...
    def __arrow_c_array__(
        self, requested_schema: object | None = None
    ) -> tuple[CapsuleType, CapsuleType]: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> CapsuleType: ...
    def __arrow_c_schema__(self) -> CapsuleType: ...

@final
class EventSchema:
    """The Arrow schema of one event table."""

    @property
    def name(self) -> str: ...
    def __arrow_c_schema__(self) -> CapsuleType: ...

def event_schema(name: str) -> EventSchema:
    """The Arrow schema of table ``name`` (one of ``TABLES``); KeyError otherwise."""

@final
class OrderBook:
    """An L2 book of fixed-point levels, best level first on every read.

    ``depth`` keeps at most that many levels a side (the worst are dropped), as Kraken
    requires after every update.
    """

    def __new__(cls, depth: int | None = None) -> OrderBook: ...
    @property
    def depth(self) -> int | None: ...
    @property
    def nbytes(self) -> int:
        """Bytes held by the levels."""
    def apply(self, side: int, price: int, size: int) -> bool:
        """Set ``price`` on ``side`` (BID/ASK) to ``size``; 0 removes the level.

        Returns False for a delete of a level that was not there. ValueError for a side
        other than BID/ASK or a negative size.
        """
    def apply_bbo(self, side: int, price: int, size: int) -> tuple[_Level | None, _Level | None]:
        """``apply`` then return ``(best_bid, best_ask)``."""
    def apply_arrow(self, batch: Any) -> int:
        """Apply every row of an Arrow record batch / struct array, or none of them.

        Columns: ``side`` (uint8/int8 0=bid 1=ask, bool is-ask, or "bid"/"ask" strings),
        ``price_raw`` and ``size_raw`` (int64; ``price``/``size`` where the raw ones are
        absent), optional ``action`` ("clear" empties the book, "set" sets a level; the
        other columns of a clear row are not read). Returns the number of rows.

        Every row is checked before the book changes. A null, a side other than those, an
        action other than clear/set or a negative size raises ValueError naming the column
        and row: ``"column 'side' row 3: 7 is not 0 (bid) or 1 (ask)"``,
        ``"column 'price_raw' row 0: null"``. TypeError for an object without
        ``__arrow_c_array__``.
        """
    def clear(self) -> None: ...
    def best_bid(self) -> _Level | None: ...
    def best_ask(self) -> _Level | None: ...
    def bbo(self) -> tuple[_Level | None, _Level | None]: ...
    def top(self, n: int = 10) -> tuple[list[_Level], list[_Level]]:
        """The best ``n`` levels a side: ``(bids, asks)``."""
    def bids(self) -> list[_Level]: ...
    def asks(self) -> list[_Level]: ...
    def is_crossed(self) -> bool: ...
    def kraken_checksum(self) -> int:
        """Kraken's CRC32 over the top 10 levels a side."""
    def shrink_to_fit(self) -> None: ...
    def __len__(self) -> int: ...

@final
class Engine:
    """One venue protocol: normalizer, instruments, books and integrity checks.

    ``protocol`` is one of ``PROTOCOLS``: coinbase, kraken (WS v2), kraken_v1, binance,
    binance_us, alpaca, alpaca_news.

    A frame is normalized whole or not at all: a frame with anything malformed becomes one
    row of ``rejects`` and changes nothing else (no events, no instrument, no precision
    learnt from its values). Malformed includes a negative price (unless declared with
    ``allow_negative_prices``), a negative size (a book size of 0 deletes the level), a
    trade size of 0, and a venue time that is present but unreadable or negative (an
    absent one is a null ``ts_event``).

    Duplicate trades are dropped (a ``duplicate`` status each) with memory bounded per
    instrument: where a venue numbers trades upwards, the 4096 ids below the highest seen
    are told apart exactly (an id further below restarts the window: a reset count); on
    Alpaca the last 4096 to 8192 trades are remembered by id, time, price and size.

    Statuses the collector acts on, ``kind`` and ``message``:

    - ``venue_error``: the venue refused or failed a request. ``message`` is
      ``"<code>: <text>"``: the venue's numeric code where it sends one (Alpaca
      ``"402: auth failed"``, also 401, 406, 409; Binance ``"2: Invalid request"``), else
      the request or message that failed (Kraken v2 ``"subscribe: <error>"``, Kraken v1
      ``"subscriptionStatus: <errorMessage>"`` or ``"error: <errorMessage>"``, Coinbase
      ``"error: <message>"``). ``<text>`` is the venue's own, verbatim.
    - ``venue`` with message ``"serverShutdown"``: Binance will close the connection soon
      (``ts_event`` is its announcement time); reconnect.
    - ``gap``, ``checksum_failed``, ``resync_needed``, ``synced``, ``crossed``,
      ``duplicate``: integrity, with what was expected and what came.
    """

    def __new__(cls, protocol: str) -> Engine: ...
    @property
    def venue(self) -> str: ...
    @property
    def frames(self) -> int: ...
    @property
    def rejects(self) -> int: ...
    @property
    def pending_events(self) -> int: ...
    def feed(self, data: bytes, ts_recv: int, conn: int = 0) -> None:
        """Normalize one frame received at ``ts_recv`` (Unix ns) on connection ``conn``."""
    def feed_many(self, frames: list[bytes], ts_recv: list[int], conn: int = 0) -> None:
        """Normalize many frames; the GIL is released meanwhile."""
    def feed_http(self, url: str, body: bytes, ts_recv: int) -> None:
        """A REST response: depth snapshots and reference data."""
    def connected(self, conn: int) -> None:
        """Connection ``conn`` was (re)opened: its sequence counters start over."""
    def disconnected(self, ts_recv: int, reason: str = "") -> None:
        """A connection closed: every synced book awaits its next snapshot."""
    def define(
        self,
        symbol: str,
        base: str | None = None,
        quote: str | None = None,
        price_precision: int | None = None,
        size_precision: int | None = None,
        book_depth: int | None = None,
    ) -> str:
        """Register reference data for ``symbol``; returns its canonical id."""
    def allow_negative_prices(self, symbol: str) -> str:
        """Declare that ``symbol`` (venue symbol) trades below zero: its negative prices
        are normalized instead of rejected (sizes still never negative). Registers the
        symbol if it is new; returns its canonical id."""
    def take(self) -> dict[str, EventBatch]:
        """Everything normalized since the last call, one batch per table."""
    def discard(self) -> None:
        """Drop pending events (books and counters stay)."""
    def stats(self) -> dict[str, dict[str, int]]:
        """Counters per instrument, keyed ``<venue>:<venue symbol>``."""
    @property
    def connection_gaps(self) -> int:
        """Sequence gaps that concern a whole connection (Coinbase ``sequence_num``)."""
    def instruments(self) -> list[tuple[str, str, int | None, int | None]]:
        """``(venue symbol, canonical id, price precision, size precision)`` each."""
    def out_of_sync(self) -> list[str]:
        """Venue symbols whose book failed a check and needs a resync."""
    def is_synced(self, symbol: str) -> bool: ...
    def invalidate(self, symbol: str, ts_recv: int, reason: str) -> None: ...
    def book(self, symbol: str) -> OrderBook:
        """A copy of ``symbol``'s book."""
    def top(self, symbol: str, n: int = 10) -> tuple[list[_Level], list[_Level]]: ...

def kraken_checksum(asks: list[tuple[str, str]], bids: list[tuple[str, str]]) -> int:
    """Kraken's CRC32 from decimal strings ``[(price, qty)]``, best first."""

def parse_fixed(text: str, precision: int) -> int:
    """``"0.05005"`` at precision 5 → 5005; ValueError on bad input or lost digits."""

def format_fixed(mantissa: int, precision: int) -> str:
    """5005 at precision 5 → ``"0.05005"``."""
