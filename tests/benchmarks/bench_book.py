"""The L2 book called from Python, against bmoscon's ``order_book`` and NautilusTrader.

Each measurement starts from a fresh 1,000-level-a-side book (built untimed) and replays the
same delta stream (``frames.delta_stream``), so deletes always hit a level. Per-call figures
time a loop of ``CALLS`` calls and subtract the same loop with the call left out, measured in
the same rounds, so they are the call alone: argument passing, the work and the result.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from order_book import OrderBook as PeerBook

from alphapulse._core import OrderBook
from tests.benchmarks.frames import Delta, delta_stream
from tests.benchmarks.measure import FULL, Figure, Plan, Row, Timing, interleaved, stopwatch, timing

CALLS = 100_000
#: order_book re-sorts a side's keys on the first read after a change: ~tens of us a call.
PEER_SORTING_CALLS = 3_000
TOP_READS = 50_000
BULK_DELTAS = 200_000

WORK = {
    "ours (book)": "alphapulse OrderBook (1,000 levels a side): apply / apply_bbo / top(10) "
    "per call from Python; apply_arrow of one record batch",
    "order_book": "bmoscon order_book: bids[price] = size / del bids[price], same deltas",
    "order_book bbo": "the same, then bids.index(0) and asks.index(0) (re-sorts the side); "
    "3,000 calls, as each costs tens of us",
    "order_book top": "a max_depth=10 order_book's bids.to_list() + asks.to_list()",
    "nautilus": "nautilus_trader OrderBook(L2_MBP).apply_deltas on one OrderBookDeltas of the "
    "same deltas (built untimed)",
}


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


def _loop_apply(deltas: list[Delta], apply: Callable[[int, int, int], object] | None) -> Timing:
    elapsed = stopwatch()
    if apply is None:
        for _side, _price, _size in deltas:
            pass
    else:
        for side, price, size in deltas:
            apply(side, price, size)
    return elapsed()


def _loop_peer(deltas: list[Delta], book: Any, read_bbo: bool, call: bool = True) -> Timing:
    """order_book's documented use: ``bids[price] = size``, ``del``, ``bids.index(0)``."""
    bids, asks = book.bids, book.asks
    bid_at, ask_at = bids.index, asks.index
    elapsed = stopwatch()
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
    return elapsed()


def per_call(books: Books, deltas: list[Delta], plan: Plan) -> list[Row]:
    """Each call and its loop without the call (the baseline), all in the same rounds."""
    short = deltas[:PEER_SORTING_CALLS]
    times = interleaved(
        {
            "loop": lambda: _loop_apply(deltas, None),
            "peer loop": lambda: _loop_peer(deltas, books.peer(), False, call=False),
            "apply": lambda: _loop_apply(deltas, books.ours().apply),
            "apply_bbo": lambda: _loop_apply(deltas, books.ours().apply_bbo),
            "peer apply": lambda: _loop_peer(deltas, books.peer(), False),
            "peer apply_bbo": lambda: _loop_peer(short, books.peer(), True),
        },
        plan.repeats,
    )
    loop = Figure.per_item(times["loop"], len(deltas))
    peer_loop = Figure.per_item(times["peer loop"], len(deltas))

    def ours(name: str) -> Figure:
        return Figure.per_item(times[name], len(deltas), loop)

    note = (
        f"loop overhead subtracted: ours {loop.median:.0f} ns, order_book {peer_loop.median:.0f} ns"
    )
    return [
        Row(
            "book.apply (1 call) ns",
            ours("apply"),
            250,
            Figure.per_item(times["peer apply"], len(deltas), peer_loop),
            "order_book",
            note=note,
        ),
        Row(
            "book.apply_bbo (apply + best bid/ask) ns",
            ours("apply_bbo"),
            400,
            Figure.per_item(times["peer apply_bbo"], len(short), peer_loop),
            "order_book bbo",
        ),
    ]


def _loop_top(n: int, top: Callable[[int], object] | None) -> Timing:
    elapsed = stopwatch()
    if top is None:
        for _ in range(n):
            pass
    else:
        for _ in range(n):
            top(10)
    return elapsed()


def _loop_peer_top(n: int, book: Any) -> Timing:
    bids, asks = book.bids.to_list, book.asks.to_list
    elapsed = stopwatch()
    for _ in range(n):
        bids()
        asks()
    return elapsed()


def top_read(books: Books, plan: Plan) -> Row:
    n = plan.size(TOP_READS)
    # order_book's best case: a max_depth=10 view, listed with to_list() a side.
    peer_book = books.peer(max_depth=10)
    times = interleaved(
        {
            "loop": lambda: _loop_top(n, None),
            "ours": lambda: _loop_top(n, books.ours().top),
            "peer": lambda: _loop_peer_top(n, peer_book),
        },
        plan.repeats,
    )
    loop = Figure.per_item(times["loop"], n)
    return Row(
        "book.top(10) read ns",
        Figure.per_item(times["ours"], n, loop),
        2_000,
        Figure.per_item(times["peer"], n, loop),
        "order_book top",
    )


def _nautilus(
    snapshot: list[Delta], deltas: list[Delta]
) -> tuple[Callable[[], Timing] | None, str]:
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

    return timing(lambda book: book.apply_deltas(stream), fresh), ""


def bulk(plan: Plan) -> Row:
    snapshot, deltas = delta_stream(plan.size(BULK_DELTAS), seed=11)
    books = Books(snapshot)
    batch = arrow_batch(deltas)
    sides = {"ours": timing(lambda book: book.apply_arrow(batch), books.ours)}
    nautilus, why = _nautilus(snapshot, deltas)
    if nautilus is not None:
        sides["nautilus"] = nautilus
    times = interleaved(sides, plan.repeats)
    return Row(
        "book.apply_arrow bulk deltas/s",
        Figure.rate(times["ours"], len(deltas)),
        20e6,
        Figure.rate(times["nautilus"], len(deltas)) if "nautilus" in times else None,
        "nautilus",
        note=why or f"{len(deltas):,} deltas in one record batch / one OrderBookDeltas",
    )


def run(plan: Plan = FULL) -> list[Row]:
    print(
        "Book from Python (1,000 levels a side; deltas near the touch, ~13% deletes), "
        f"interleaved, {plan.repeats} rounds"
    )
    snapshot, deltas = delta_stream(plan.size(CALLS), seed=10)
    books = Books(snapshot)
    rows = [*per_call(books, deltas, plan), top_read(books, plan), bulk(plan)]
    for row in rows:
        print(row.report())
    return rows
