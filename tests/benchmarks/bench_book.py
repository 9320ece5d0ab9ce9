"""The L2 book called from Python, against bmoscon's ``order_book`` and NautilusTrader.

Each measurement starts from a fresh 1,000-level-a-side book (built untimed) and replays the
same delta stream (``frames.delta_stream``), so deletes always hit a level. Per-call figures
time a loop of ``CALLS`` calls with ``time.perf_counter_ns`` and subtract the same loop with
the call left out, so they are the call alone: argument passing, the work and the result.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from order_book import OrderBook as PeerBook

from alphapulse._core import OrderBook
from tests.benchmarks.frames import Delta, delta_stream
from tests.benchmarks.measure import Figure, Row, self_timed, timed

CALLS = 100_000
#: order_book re-sorts a side's keys on the first read after a change: ~tens of us a call.
PEER_SORTING_CALLS = 3_000
TOP_READS = 50_000
BULK_DELTAS = 200_000


def arrow_batch(deltas: list[Delta]) -> pa.RecordBatch:
    sides, prices, sizes = zip(*deltas, strict=True)
    return pa.record_batch(
        {
            "side": pa.array(sides, pa.uint8()),
            "price_raw": pa.array(prices, pa.int64()),
            "size_raw": pa.array(sizes, pa.int64()),
        }
    )


class Books:
    """Fresh books at the snapshot's state, ours and the peer's."""

    def __init__(self, snapshot: list[Delta]) -> None:
        self.snapshot = snapshot
        self.batch = arrow_batch(snapshot)

    def ours(self) -> OrderBook:
        book = OrderBook()
        book.apply_arrow(self.batch)
        return book

    def peer(self, max_depth: int | None = None) -> Any:
        book = PeerBook() if max_depth is None else PeerBook(max_depth=max_depth)
        sides = (book.bids, book.asks)
        for side, price, size in self.snapshot:
            sides[side][price] = size
        book.bids.index(0)  # sort once, as a book that has been read is
        book.asks.index(0)
        return book


def _loop_apply(deltas: list[Delta], apply: Callable[[int, int, int], object] | None) -> int:
    start = time.perf_counter_ns()
    if apply is None:
        for _side, _price, _size in deltas:
            pass
    else:
        for side, price, size in deltas:
            apply(side, price, size)
    return time.perf_counter_ns() - start


def _loop_peer(deltas: list[Delta], book: Any, read_bbo: bool, call: bool = True) -> int:
    """order_book's documented use: ``bids[price] = size``, ``del``, ``bids.index(0)``."""
    bids, asks = book.bids, book.asks
    bid_at, ask_at = bids.index, asks.index
    start = time.perf_counter_ns()
    for side, price, size in deltas:
        levels = asks if side else bids
        if not call:
            pass
        elif size:
            levels[price] = size
        else:
            del levels[price]
        if read_bbo and call:
            bid_at(0)
            ask_at(0)
    return time.perf_counter_ns() - start


def per_call(books: Books, deltas: list[Delta]) -> list[Row]:
    baseline = Figure.per_item(self_timed(lambda: _loop_apply(deltas, None)), len(deltas)).median
    peer_base = Figure.per_item(
        self_timed(lambda: _loop_peer(deltas, books.peer(), False, call=False)), len(deltas)
    ).median

    def ours(method: str) -> Figure:
        samples = self_timed(lambda: _loop_apply(deltas, getattr(books.ours(), method)))
        return Figure.per_item(samples, len(deltas), baseline * len(deltas))

    def peer(stream: list[Delta], read_bbo: bool) -> Figure:
        samples = self_timed(lambda: _loop_peer(stream, books.peer(), read_bbo))
        return Figure.per_item(samples, len(stream), peer_base * len(stream))

    note = f"loop overhead subtracted: ours {baseline:.0f} ns, order_book {peer_base:.0f} ns"
    short = deltas[:PEER_SORTING_CALLS]
    return [
        Row(
            "book.apply (1 call) ns",
            ours("apply"),
            250,
            peer(deltas, False),
            "order_book",
            note=note,
        ),
        Row(
            "book.apply_bbo (apply + best bid/ask) ns",
            ours("apply_bbo"),
            400,
            peer(short, True),
            "order_book",
            note="peer: set/del then bids.index(0), asks.index(0), which re-sorts the side",
        ),
    ]


def _loop_top(n: int, top: Callable[[int], object] | None) -> int:
    start = time.perf_counter_ns()
    if top is None:
        for _ in range(n):
            pass
    else:
        for _ in range(n):
            top(10)
    return time.perf_counter_ns() - start


def _loop_peer_top(n: int, book: Any) -> int:
    bids, asks = book.bids.to_list, book.asks.to_list
    start = time.perf_counter_ns()
    for _ in range(n):
        bids()
        asks()
    return time.perf_counter_ns() - start


def top_read(books: Books) -> Row:
    n = TOP_READS
    baseline = Figure.per_item(self_timed(lambda: _loop_top(n, None)), n).median * n
    ours = Figure.per_item(self_timed(lambda: _loop_top(n, books.ours().top)), n, baseline)
    # order_book's best case: a max_depth=10 view, listed with to_list() a side.
    peer_book = books.peer(max_depth=10)
    peer = Figure.per_item(self_timed(lambda: _loop_peer_top(n, peer_book)), n, baseline)
    return Row(
        "book.top(10) read ns",
        ours,
        2_000,
        peer,
        "order_book",
        note="peer: a max_depth=10 book's bids.to_list() + asks.to_list()",
    )


def _nautilus(snapshot: list[Delta], deltas: list[Delta]) -> tuple[Figure | None, str]:
    """NautilusTrader's ``OrderBook.apply_deltas`` (L2_MBP) over the same stream."""
    try:
        book_mod = importlib.import_module("nautilus_trader.model.book")
        data = importlib.import_module("nautilus_trader.model.data")
        enums = importlib.import_module("nautilus_trader.model.enums")
        ids = importlib.import_module("nautilus_trader.model.identifiers")
        objects = importlib.import_module("nautilus_trader.model.objects")
    except ImportError as e:
        return None, f"nautilus_trader not importable ({e}); pip install nautilus_trader"
    iid = ids.InstrumentId.from_str("BTCUSDT.BINANCE")
    sides = (enums.OrderSide.BUY, enums.OrderSide.SELL)
    action = enums.BookAction
    levels: tuple[set[int], set[int]] = (set(), set())

    def delta(side: int, price: int, size: int) -> Any:
        if size == 0:
            kind = action.DELETE
            levels[side].discard(price)
        else:
            kind = action.UPDATE if price in levels[side] else action.ADD
            levels[side].add(price)
        order = data.BookOrder(
            sides[side], objects.Price(price / 100, 2), objects.Quantity(size / 1e8, 8), 0
        )
        return data.OrderBookDelta(iid, kind, order, 0, 0, 0, 0)

    start = data.OrderBookDeltas(iid, [delta(*d) for d in snapshot])
    stream = data.OrderBookDeltas(iid, [delta(*d) for d in deltas])

    def fresh() -> Any:
        book = book_mod.OrderBook(iid, enums.BookType.L2_MBP)
        book.apply_deltas(start)
        return book

    times = timed(lambda book: book.apply_deltas(stream), fresh)
    return Figure.rate(times, len(deltas)), ""


def bulk() -> Row:
    snapshot, deltas = delta_stream(BULK_DELTAS, seed=11)
    books = Books(snapshot)
    batch = arrow_batch(deltas)
    ours = Figure.rate(timed(lambda book: book.apply_arrow(batch), books.ours), len(deltas))
    peer, why = _nautilus(snapshot, deltas)
    return Row(
        "book.apply_arrow bulk deltas/s",
        ours,
        20e6,
        peer,
        "nautilus apply_deltas",
        note=why or f"{len(deltas):,} deltas in one record batch / one OrderBookDeltas",
    )


def run() -> list[Row]:
    print("Book from Python (1,000 levels a side; deltas near the touch, ~13% deletes)")
    snapshot, deltas = delta_stream(CALLS, seed=10)
    books = Books(snapshot)
    rows = [*per_call(books, deltas), top_read(books), bulk()]
    for row in rows:
        print(row.report())
    return rows
