"""Arguments of the wrong type or a range that ends before it starts: one line that says
what is expected, from the Python APIs and from the SQL macros alike."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import alphapulse
from alphapulse.query import LakeMarketData, MemoryMarketData, QueryError, Session
from tests.query_lakes import write_trades_lake

LATE, EARLY = "2026-03-03", "2026-03-02"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("arguments")
    write_trades_lake(root, venues=("kraken",), days=2, rows_per_day=300)
    return root


@pytest.fixture(scope="module")
def session(lake: Path) -> Session:
    return alphapulse.connect(lake)


def bad(value: object) -> Any:
    """``value`` past the type checker: these tests pass what the signatures forbid."""
    return value


def one_line(error: BaseException) -> str:
    text = str(error)
    assert text and "\n" not in text
    return text


CASES: list[tuple[str, Callable[[Session, Path], object], type[Exception], str]] = [
    (
        "scan venue",
        lambda s, lake: alphapulse.scan("trades", venue=bad(5), lake=lake),
        TypeError,
        "venue must be a venue's name or a list of them, not 5",
    ),
    (
        "bars interval",
        lambda s, lake: LakeMarketData(s).bars("kraken:BTC/USD", bad(5)),
        TypeError,
        "interval must be text such as '1m'",
    ),
    (
        "book_top depth str",
        lambda s, lake: s.book_top("kraken", "BTC/USD", EARLY, depth=bad("5")),
        TypeError,
        "depth must be a whole number of levels (an int, 1 or more), not '5'",
    ),
    (
        "book_top depth float",
        lambda s, lake: s.book_top("kraken", "BTC/USD", EARLY, depth=bad(2.5)),
        TypeError,
        "not 2.5",
    ),
    (
        "book depth",
        lambda s, lake: LakeMarketData(s).book("kraken:BTC/USD", EARLY, depth=bad(2.5)),
        TypeError,
        "not 2.5",
    ),
    (
        "connect",
        lambda s, lake: alphapulse.connect(bad(5)),
        TypeError,
        "lake must be a directory path (str or Path) or None, not 5",
    ),
    (
        "LakeMarketData",
        lambda s, lake: LakeMarketData(bad(5)),
        TypeError,
        "LakeMarketData takes a session",
    ),
    (
        "MemoryMarketData",
        lambda s, lake: MemoryMarketData(bad([1, 2])),
        TypeError,
        "MemoryMarketData takes a dict of tables by name",
    ),
    (
        "params",
        lambda s, lake: s.query("select $v", bad(5)),
        TypeError,
        "params must be a list (for ? placeholders) or a dict (for $name), not 5",
    ),
    ("query", lambda s, lake: s.query(bad(5)), TypeError, "query must be SQL text"),
    (
        "scan range",
        lambda s, lake: alphapulse.scan("trades", start=LATE, end=EARLY, lake=lake),
        ValueError,
        f"start '{LATE}' is after end '{EARLY}': give start <= end",
    ),
    (
        "trades range",
        lambda s, lake: LakeMarketData(s).trades("kraken:BTC/USD", LATE, EARLY),
        ValueError,
        "is after end",
    ),
    (
        "bars range",
        lambda s, lake: LakeMarketData(s).bars("kraken:BTC/USD", "1m", LATE, EARLY),
        ValueError,
        "is after end",
    ),
    (
        "memory range",
        lambda s, lake: MemoryMarketData({}).events(None, LATE, EARLY),
        ValueError,
        "is after end",
    ),
]


@pytest.mark.parametrize(("api", "bad"), [(c[0], c) for c in CASES], ids=[c[0] for c in CASES])
def test_bad_arguments_say_what_is_expected(
    session: Session, lake: Path, api: str, bad: tuple[str, Callable[..., object], type, str]
) -> None:
    _, call, kind, message = bad
    with pytest.raises(kind) as caught:
        call(session, lake)
    assert message in one_line(caught.value), api


def test_an_empty_range_is_no_rows_not_an_error(session: Session) -> None:
    assert LakeMarketData(session).trades("kraken:BTC/USD", EARLY, EARLY).height == 0


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("select * from bars(NULL)", "bars: every is NULL: give an interval such as '1m'"),
        ("select * from bars(5)", "bars: every must be text such as '1m' or an INTERVAL"),
        ("select * from bars('1ns')", "DuckDB intervals stop at microseconds; give 1us or more"),
        (
            f"select * from bars('1m', start := '{LATE}', stop := '{EARLY}')",
            f"bars: start {LATE} is after stop {EARLY}",
        ),
        (
            f"select * from book_top('kraken', 'BTC/USD', '{EARLY}', depth := 0)",
            "book_top: depth must be at least 1, not 0",
        ),
    ],
)
def test_bad_macro_arguments_are_clear(session: Session, sql: str, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        session.query(sql)
    text = one_line(caught.value)
    assert message in text and "Python exception" not in text


def test_the_macros_still_answer_good_arguments(session: Session) -> None:
    assert session.query("select * from bars('1us') limit 1").height == 1
    ranged = session.query(f"select * from bars('1h', start := '{EARLY}', stop := '{LATE}')")
    everything = session.query(f"select * from bars('1h') where ts < '{LATE}'")
    # In the same order, with the same bars (sums of floats may differ in the last bit).
    key = ["instrument", "ts", "trades", "open", "high", "low", "close"]
    assert ranged.select(key).equals(everything.select(key)) and ranged.height > 0
