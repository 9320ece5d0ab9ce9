"""The Rust book against the Python reference, and Kraken's checksum from its docs."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alphapulse import _core
from alphapulse.book import ASK, BID, PyOrderBook, kraken_checksum

# Kraken's documentation example (see ../shared/recordings/README.md).
DOCS_ASKS = [f"0.{5005 + 5 * i:05d}" for i in range(10)]
DOCS_BIDS = [f"0.0{p}" for p in (5000, 4995, 4990, 4980, 4975, 4970, 4965, 4960, 4955, 4950)]
DOCS_QTY = "0.00000500"
DOCS_CHECKSUM = 974947235


def test_docs_checksum_from_strings() -> None:
    asks = [(p, DOCS_QTY) for p in DOCS_ASKS]
    bids = [(p, DOCS_QTY) for p in DOCS_BIDS]
    assert kraken_checksum(asks, bids) == DOCS_CHECKSUM
    assert _core.kraken_checksum(asks, bids) == DOCS_CHECKSUM


@pytest.mark.parametrize("book_type", [_core.OrderBook, PyOrderBook])
def test_docs_checksum_from_books(book_type: type[_core.OrderBook] | type[PyOrderBook]) -> None:
    book = book_type()
    for p in DOCS_ASKS:
        book.apply(ASK, _core.parse_fixed(p, 5), _core.parse_fixed(DOCS_QTY, 8))
    for p in DOCS_BIDS:
        book.apply(BID, _core.parse_fixed(p, 5), _core.parse_fixed(DOCS_QTY, 8))
    assert book.kraken_checksum() == DOCS_CHECKSUM
    book.apply(BID, _core.parse_fixed("0.04950", 5), 0)
    assert book.kraken_checksum() != DOCS_CHECKSUM


def test_fixed_point_round_trip() -> None:
    assert _core.parse_fixed("0.000022900", 9) == 22900
    assert _core.format_fixed(22900, 9) == "0.000022900"
    with pytest.raises(ValueError, match="precision"):
        _core.parse_fixed("1.234", 2)
    with pytest.raises(ValueError):
        _core.parse_fixed("1e5", 2)


# A delta: side, price (near a mid of 10_000), size (0 deletes).
deltas = st.lists(
    st.tuples(
        st.sampled_from([BID, ASK]),
        st.integers(min_value=9_900, max_value=10_100),
        st.one_of(st.just(0), st.integers(min_value=1, max_value=10**12)),
    ),
    max_size=400,
)


@settings(max_examples=300, deadline=None)
@given(deltas, st.one_of(st.none(), st.integers(min_value=1, max_value=30)))
def test_rust_book_equals_python_book(
    stream: list[tuple[int, int, int]], depth: int | None
) -> None:
    rust, ref = _core.OrderBook(depth), PyOrderBook(depth)
    for side, price, size in stream:
        assert rust.apply(side, price, size) == ref.apply(side, price, size)
        assert rust.bbo() == ref.bbo()
    assert rust.bids() == ref.bids()
    assert rust.asks() == ref.asks()
    assert rust.top(10) == ref.top(10)
    assert rust.is_crossed() == ref.is_crossed()
    assert rust.kraken_checksum() == ref.kraken_checksum()
    assert len(rust) == len(ref)


@settings(max_examples=200, deadline=None)
@given(deltas, deltas)
def test_deltas_reproduce_a_later_snapshot(
    before: list[tuple[int, int, int]], after: list[tuple[int, int, int]]
) -> None:
    """Snapshot at t0 + deltas from t0 to t1 == snapshot at t1 (the venue's own state)."""
    venue = PyOrderBook()
    for side, price, size in before:
        venue.apply(side, price, size)
    client = _core.OrderBook()
    for price, size in venue.bids():
        client.apply(BID, price, size)
    for price, size in venue.asks():
        client.apply(ASK, price, size)
    for side, price, size in after:
        venue.apply(side, price, size)
        client.apply(side, price, size)
    assert client.bids() == venue.bids()
    assert client.asks() == venue.asks()


@settings(max_examples=100, deadline=None)
@given(deltas)
def test_apply_arrow_equals_one_by_one(stream: list[tuple[int, int, int]]) -> None:
    one, bulk = _core.OrderBook(), _core.OrderBook()
    for side, price, size in stream:
        one.apply(side, price, size)
    batch = pa.record_batch(
        {
            "side": pa.array([d[0] for d in stream], pa.uint8()),
            "price_raw": pa.array([d[1] for d in stream], pa.int64()),
            "size_raw": pa.array([d[2] for d in stream], pa.int64()),
        }
    )
    assert bulk.apply_arrow(batch) == len(stream)
    assert bulk.bids() == one.bids() and bulk.asks() == one.asks()


def test_apply_arrow_reads_the_book_deltas_table() -> None:
    engine = _core.Engine("kraken_v1")
    engine.feed(b'[1,{"as":[["5.0","1.0","1.0"]],"bs":[["4.0","2.0","1.0"]]},"book-10","A/B"]', 1)
    engine.feed(b'[1,{"b":[["4.5","3.0","2.0"]]},"book-10","A/B"]', 2)
    book = _core.OrderBook()
    book.apply_arrow(engine.take()["book_deltas"])
    assert book.bids() == engine.book("A/B").bids() == [(45, 30), (40, 20)]
    assert book.asks() == [(50, 10)]


def test_apply_arrow_rejects_bad_input() -> None:
    book = _core.OrderBook()
    with pytest.raises(TypeError):
        book.apply_arrow([1, 2, 3])
    with pytest.raises(ValueError, match="price_raw"):
        book.apply_arrow(pa.record_batch({"side": pa.array([0], pa.uint8())}))
    with pytest.raises(ValueError, match="side"):
        book.apply(7, 1, 1)


def test_core_implementation_is_selectable() -> None:
    code = "from alphapulse.book import OrderBook; print(OrderBook.__name__)"
    for choice, expected in (("python", "PyOrderBook"), ("rust", "OrderBook")):
        env = {**os.environ, "ALPHAPULSE_CORE": choice}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == expected
    bad = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "ALPHAPULSE_CORE": "fortran"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "ALPHAPULSE_CORE" in bad.stderr


# --- Arrow input is checked: both books, the same errors --------------------------------

BOOKS = [_core.OrderBook, PyOrderBook]


def arrow_batch(
    sides: list[Any],
    prices: list[int | None],
    sizes: list[int | None],
    side_type: pa.DataType | None = None,
    actions: list[str | None] | None = None,
    names: tuple[str, str] = ("price_raw", "size_raw"),
) -> pa.RecordBatch:
    columns: dict[str, pa.Array] = {}
    if actions is not None:
        columns["action"] = pa.array(actions, pa.string())
    columns["side"] = pa.array(sides, side_type or pa.uint8())
    columns[names[0]] = pa.array(prices, pa.int64())
    columns[names[1]] = pa.array(sizes, pa.int64())
    return pa.record_batch(columns)


BAD_BATCHES = [
    (arrow_batch([0, 7], [1, 2], [1, 1]), "column 'side' row 1: 7 is not 0 (bid) or 1 (ask)"),
    (
        arrow_batch([0, -1], [1, 2], [1, 1], pa.int8()),
        "column 'side' row 1: -1 is not 0 (bid) or 1 (ask)",
    ),
    (arrow_batch([0, None], [1, 2], [1, 1]), "column 'side' row 1: null"),
    (
        arrow_batch(["bid", "buy"], [1, 2], [1, 1], pa.string()),
        "column 'side' row 1: 'buy' is not 'bid' or 'ask'",
    ),
    (arrow_batch([False, None], [1, 2], [1, 1], pa.bool_()), "column 'side' row 1: null"),
    (arrow_batch([0, 1], [1, None], [1, 1]), "column 'price_raw' row 1: null"),
    (arrow_batch([0, 1], [1, 2], [1, None]), "column 'size_raw' row 1: null"),
    (
        arrow_batch([0, 1], [1, 2], [1, -3], names=("price", "size")),
        "column 'size' row 1: negative size -3",
    ),
    (arrow_batch([0, 1], [1, 2], [1, 1], actions=["set", None]), "column 'action' row 1: null"),
    (
        arrow_batch([0, 1], [1, 2], [1, 1], actions=["set", "delete"]),
        "column 'action' row 1: 'delete' is not 'clear' or 'set'",
    ),
    (
        pa.record_batch({"side": pa.array([0], pa.uint8()), "price_raw": [1], "size_raw": [1.5]}),
        "needs an int64 column size_raw",
    ),
    (
        pa.record_batch({"side": pa.array([0.5]), "price_raw": [1], "size_raw": [1]}),
        "side column must be uint8, int8, bool or string",
    ),
    (
        pa.record_batch(
            {"action": [1], "side": pa.array([0], pa.uint8()), "price_raw": [1], "size_raw": [1]}
        ),
        "action column must be strings",
    ),
]


@pytest.mark.parametrize("book_type", BOOKS)
@pytest.mark.parametrize(("batch", "message"), BAD_BATCHES)
def test_apply_arrow_names_the_bad_column_and_row_and_applies_nothing(
    book_type: type[_core.OrderBook] | type[PyOrderBook], batch: pa.RecordBatch, message: str
) -> None:
    book = book_type()
    book.apply(BID, 5, 5)
    with pytest.raises(ValueError) as error:
        book.apply_arrow(batch)
    assert str(error.value) == message
    assert (book.bids(), book.asks()) == ([(5, 5)], [])


@pytest.mark.parametrize("book_type", BOOKS)
@pytest.mark.parametrize("string_type", [pa.string(), pa.large_string(), pa.string_view()])
def test_apply_arrow_reads_every_string_layout_and_clear(
    book_type: type[_core.OrderBook] | type[PyOrderBook], string_type: pa.DataType
) -> None:
    book = book_type()
    batch = pa.record_batch(
        {
            "action": pa.array(["set", "clear", "set", "set"], string_type),
            "side": pa.array(["bid", None, "ask", "bid"], string_type),
            "price_raw": pa.array([1, None, 3, 2], pa.int64()),
            "size_raw": pa.array([1, None, 1, 0], pa.int64()),
        }
    )
    assert book.apply_arrow(batch) == 4
    assert (book.bids(), book.asks()) == ([], [(3, 1)])


@pytest.mark.parametrize("book_type", BOOKS)
def test_negative_size_is_an_error(book_type: type[_core.OrderBook] | type[PyOrderBook]) -> None:
    with pytest.raises(ValueError, match="negative"):
        book_type().apply(BID, 1, -1)


SIDE_TYPES: dict[str, tuple[pa.DataType, list[Any]]] = {
    "uint8": (pa.uint8(), [0, 1, 7]),
    "int8": (pa.int8(), [0, 1, -1]),
    "bool": (pa.bool_(), [False, True, True]),
    "string": (pa.string(), ["bid", "ask", "buy"]),
}
# One row corrupted, or none: (row, column, how).
corruption = st.none() | st.tuples(
    st.integers(0, 59),
    st.sampled_from(["action", "side", "price", "size"]),
    st.sampled_from(["null", "bad"]),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["set"] * 9 + ["clear"]),
            st.sampled_from([0, 1]),
            st.integers(9_900, 10_100),
            st.one_of(st.just(0), st.integers(1, 10**9)),
        ),
        max_size=60,
    ),
    st.sampled_from(sorted(SIDE_TYPES)),
    st.booleans(),
    corruption,
)
def test_apply_arrow_rust_equals_python(
    rows: list[tuple[str, int, int, int]],
    side_name: str,
    with_action: bool,
    corrupt: tuple[int, str, str] | None,
) -> None:
    side_type, side_values = SIDE_TYPES[side_name]
    columns: dict[str, list[Any]] = {
        "action": [r[0] for r in rows],
        "side": [side_values[r[1]] for r in rows],
        "price": [r[2] for r in rows],
        "size": [r[3] for r in rows],
    }
    if corrupt is not None and rows:
        row, column, how = corrupt
        row %= len(rows)
        bad = {"action": "delete", "side": side_values[2], "price": -5, "size": -5}[column]
        columns[column][row] = None if how == "null" else bad
    batch = arrow_batch(
        columns["side"],
        columns["price"],
        columns["size"],
        side_type,
        columns["action"] if with_action else None,
    )
    rust, ref = _core.OrderBook(), PyOrderBook()
    outcomes: list[tuple[str, int | str]] = []
    for book in (rust, ref):
        book.apply(ASK, 10_050, 3)
        try:
            outcomes.append(("applied", book.apply_arrow(batch)))
        except ValueError as error:
            outcomes.append(("error", str(error)))
    assert outcomes[0] == outcomes[1]
    assert rust.bids() == ref.bids() and rust.asks() == ref.asks()
