"""``book_top`` on a lake written with known deltas: the last snapshot before the instant,
found across days, then every delta after it; Kraken's depth trimming; SQL and Python
answer alike."""

from __future__ import annotations

import pyarrow as pa
import pytest

import alphapulse
from alphapulse import _core
from alphapulse.lake import LakeWriter
from alphapulse.lake.snapshot import bump_generation
from alphapulse.query import Session
from tests.query_lakes import DAY0_NS, NS_PER_DAY

HOUR = 3600 * 10**9
SCHEMA = pa.schema(_core.event_schema("book_deltas"))
SNAPSHOT, LAST = 1, 2

#: (ts_recv, action, side, price_raw, size_raw, flags)
Delta = tuple[int, str, str, int, int, int]


def snapshot(ts: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> list[Delta]:
    rows: list[Delta] = [(ts, "clear", "bid", 0, 0, SNAPSHOT)]
    rows += [(ts, "set", "bid", p, q, SNAPSHOT) for p, q in bids]
    rows += [(ts, "set", "ask", p, q, SNAPSHOT) for p, q in asks]
    last = rows[-1]
    rows[-1] = (*last[:5], SNAPSHOT | LAST)
    return rows


def deltas_table(venue: str, symbol: str, rows: list[Delta]) -> pa.Table:
    n = len(rows)
    ts = pa.array([r[0] for r in rows], pa.timestamp("ns", tz="UTC"))
    return pa.table(
        {
            "ts_event": ts,
            "ts_recv": ts,
            "venue": [venue] * n,
            "instrument": [f"BTC-USD@{venue}"] * n,
            "symbol": [symbol] * n,
            "action": [r[1] for r in rows],
            "side": [r[2] for r in rows],
            "price": [r[3] / 10 for r in rows],
            "size": [r[4] / 1000 for r in rows],
            "sequence": pa.array([0] * n, pa.uint64()),
            "flags": pa.array([r[5] for r in rows], pa.uint8()),
            "price_raw": pa.array([r[3] for r in rows], pa.int64()),
            "size_raw": pa.array([r[4] for r in rows], pa.int64()),
            "price_precision": pa.array([1] * n, pa.uint8()),
            "size_precision": pa.array([3] * n, pa.uint8()),
        },
        schema=SCHEMA,
    )


DAY1, DAY2, DAY3 = DAY0_NS, DAY0_NS + NS_PER_DAY, DAY0_NS + 2 * NS_PER_DAY
HISTORY: list[Delta] = [
    *snapshot(DAY1 + 10 * HOUR, [(1000, 5), (999, 7), (998, 9)], [(1001, 4), (1002, 6)]),
    (DAY1 + 11 * HOUR, "set", "bid", 1000, 8, LAST),  # size change
    # One message of two deltas at one instant: order matters (set, then delete).
    (DAY2 + 9 * HOUR, "set", "ask", 1003, 1, 0),
    (DAY2 + 9 * HOUR, "set", "ask", 1003, 0, LAST),
    (DAY2 + 9 * HOUR + 1, "set", "bid", 999, 0, LAST),  # delete a level
    *snapshot(DAY3 + 12 * HOUR, [(990, 1)], [(995, 2)]),
    (DAY3 + 13 * HOUR, "set", "ask", 994, 3, LAST),
]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    root = tmp_path_factory.mktemp("book")
    with LakeWriter(root) as writer:
        for venue in ("coinbase", "kraken"):
            symbol = "BTC-USD" if venue == "coinbase" else "BTC/USD"
            # A file per day, as the collector would leave them.
            for day in (DAY1, DAY2, DAY3):
                rows = [r for r in HISTORY if day <= r[0] < day + NS_PER_DAY]
                writer.write("book_deltas", deltas_table(venue, symbol, rows))
                writer.flush()
        trimmed = [
            *snapshot(DAY1 + HOUR, [(100, 1), (99, 1)], [(103, 1), (104, 1)]),
            (DAY1 + 2 * HOUR, "set", "bid", 101, 1, LAST),  # pushes 99 out of a depth of 2
            (DAY1 + 3 * HOUR, "set", "bid", 101, 0, LAST),  # and leaves again
        ]
        for venue, symbol in (("kraken", "ETH/USD"), ("coinbase", "ETH-USD")):
            writer.write("book_deltas", deltas_table(venue, symbol, trimmed))
        writer.flush()
    bump_generation(root)
    return alphapulse.connect(root)


def levels(session: Session, venue: str, symbol: str, at: int) -> tuple[list[tuple[int, int]], ...]:
    book = session.book_top(venue, symbol, at, 10)
    sides = []
    for side in ("bid", "ask"):
        mine = book.filter(book["side"] == side)
        sides.append(
            list(zip(mine["price_raw"].to_list(), mine["size_raw"].to_list(), strict=True))
        )
    return tuple(sides)


def test_before_the_first_snapshot_the_book_is_empty(session: Session) -> None:
    assert session.book_top("coinbase", "BTC-USD", DAY1 + 9 * HOUR, 5).is_empty()


def test_deltas_of_later_days_apply_to_an_earlier_snapshot(session: Session) -> None:
    assert levels(session, "coinbase", "BTC-USD", DAY1 + 10 * HOUR) == (
        [(1000, 5), (999, 7), (998, 9)],
        [(1001, 4), (1002, 6)],
    )
    assert levels(session, "coinbase", "BTC-USD", DAY2 + 20 * HOUR) == (
        [(1000, 8), (998, 9)],
        [(1001, 4), (1002, 6)],
    )
    # At the instant of a message: all of it (set then delete), nothing after.
    assert levels(session, "coinbase", "BTC-USD", DAY2 + 9 * HOUR) == (
        [(1000, 8), (999, 7), (998, 9)],
        [(1001, 4), (1002, 6)],
    )


def test_a_later_snapshot_replaces_the_book(session: Session) -> None:
    assert levels(session, "coinbase", "BTC-USD", DAY3 + 12 * HOUR) == ([(990, 1)], [(995, 2)])
    assert levels(session, "coinbase", "BTC-USD", DAY3 + 20 * HOUR) == (
        [(990, 1)],
        [(994, 3), (995, 2)],
    )


def test_kraken_books_keep_the_snapshot_depth(session: Session) -> None:
    """A level pushed out of Kraken's depth is gone (Kraken sends no delete for it): when a
    better level leaves, it does not come back. Elsewhere the book keeps every level."""
    pushed = DAY1 + 2 * HOUR
    assert levels(session, "kraken", "ETH/USD", pushed)[0] == [(101, 1), (100, 1)]
    assert levels(session, "coinbase", "ETH-USD", pushed)[0] == [(101, 1), (100, 1), (99, 1)]
    later = DAY1 + 5 * HOUR
    assert levels(session, "kraken", "ETH/USD", later) == ([(100, 1)], [(103, 1), (104, 1)])
    assert levels(session, "coinbase", "ETH-USD", later)[0] == [(100, 1), (99, 1)]


def test_sql_and_python_agree(session: Session) -> None:
    at = DAY2 + 20 * HOUR
    in_sql = session.query(
        "select * from book_top('coinbase', 'BTC-USD', make_timestamp_ns(?)::timestamptz_ns, 2)",
        [at],
    )
    assert in_sql.equals(session.book_top("coinbase", "BTC-USD", at, 2))
    assert in_sql["level"].to_list() == [1, 2, 1, 2]
    assert in_sql["price"].to_list() == [100.0, 99.8, 100.1, 100.2]
