"""The Rust book against the Python reference, and Kraken's checksum from its docs."""

from __future__ import annotations

import os
import subprocess
import sys

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
