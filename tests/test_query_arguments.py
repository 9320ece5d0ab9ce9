"""Arguments of the wrong type or a range that ends before it starts: one line that says
what is expected, from the Python APIs and from the SQL macros alike."""

from __future__ import annotations

from pathlib import Path

import pytest

import alphapulse
from alphapulse.query import QueryError, Session
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


def one_line(error: BaseException) -> str:
    text = str(error)
    assert text and "\n" not in text
    return text


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
