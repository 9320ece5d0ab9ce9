"""The ``bars`` macro against a polars computation over the same rows: OHLCV, VWAP and
trade count for any interval, open and close in the lake's order (``ts_recv``, then the
trades of one message in their order)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import alphapulse
from alphapulse.lake import read_table
from alphapulse.query import QueryError, Session
from tests.query_lakes import write_trades_lake

COLUMNS = [
    "venue",
    "symbol",
    "instrument",
    "ts",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "vwap",
    "trades",
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bars")
    write_trades_lake(root, days=2, rows_per_day=6_000, batches=5)
    return root


@pytest.fixture(scope="module")
def session(lake: Path) -> Session:
    return alphapulse.connect(lake)


@pytest.fixture(scope="module")
def rows(lake: Path) -> pl.DataFrame:
    """Every trade in the lake's order: ts_recv, ties in file order (read_table is stable)."""
    frame = pl.from_arrow(read_table(lake, "trades"))
    assert isinstance(frame, pl.DataFrame)
    return frame


def expected_bars(rows: pl.DataFrame, every_ns: int) -> pl.DataFrame:
    bucket = pl.col("ts_recv").dt.epoch("ns") // every_ns
    return (
        rows.with_columns(bucket.alias("bucket"))
        .group_by("instrument", "bucket", maintain_order=True)
        .agg(
            pl.col("venue").first(),
            pl.col("symbol").first(),
            pl.col("price").first().alias("open"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
            pl.col("price").last().alias("close"),
            pl.col("size").sum().alias("volume"),
            ((pl.col("price") * pl.col("size")).sum() / pl.col("size").sum()).alias("vwap"),
            pl.len().cast(pl.Int64).alias("trades"),
        )
        .with_columns((pl.col("bucket") * every_ns).cast(pl.Datetime("ns", "UTC")).alias("ts"))
        .sort("instrument", "ts")
        .select(COLUMNS)
    )


def assert_bars_equal(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert got.columns == COLUMNS
    exact = [c for c in COLUMNS if c not in ("volume", "vwap")]
    assert_frame_equal(got.select(exact), expected.select(exact))
    # Sums of doubles in another order: equal to the last few bits.
    assert_frame_equal(
        got.select("volume", "vwap"),
        expected.select("volume", "vwap"),
        check_exact=False,
        rel_tol=1e-12,
        abs_tol=0,
    )


@pytest.mark.parametrize(
    ("every", "every_ns"),
    [
        ("250ms", 250 * 10**6),
        ("1m", 60 * 10**9),
        ("7m", 7 * 60 * 10**9),  # buckets that straddle midnight, so span partitions
        ("1h", 3600 * 10**9),
        ("1d", 86_400 * 10**9),
    ],
)
def test_bars_match_polars(session: Session, rows: pl.DataFrame, every: str, every_ns: int) -> None:
    got = session.query(f"select * from bars('{every}')")
    expected = expected_bars(rows, every_ns)
    assert got.height == expected.height > 0
    assert_bars_equal(got, expected)


def test_open_and_close_follow_the_message_order(session: Session, rows: pl.DataFrame) -> None:
    """Buckets whose first or last trade shares its ts_recv with another trade of another
    price: the arbitrary pick arg_min(price, ts_recv) would make would differ."""
    every_ns = 60 * 10**9
    ties = (
        rows.with_columns((pl.col("ts_recv").dt.epoch("ns") // every_ns).alias("bucket"))
        .filter(pl.col("ts_recv") == pl.col("ts_recv").max().over("instrument", "bucket"))
        .group_by("instrument", "bucket")
        .agg(pl.col("price").n_unique().alias("prices"))
        .filter(pl.col("prices") > 1)
    )
    assert ties.height > 20  # the data has the case
    got = session.query("select * from bars('1m')")
    assert_bars_equal(got, expected_bars(rows, every_ns))


def test_filters_select_venue_symbol_and_time(session: Session, rows: pl.DataFrame) -> None:
    start = datetime(2026, 3, 2, 18, 30, tzinfo=UTC)
    stop = datetime(2026, 3, 3, 2, 15, tzinfo=UTC)
    got = session.query(
        "select * from bars('1m', venue := 'kraken', symbol := 'ETH-USD', start := ?, stop := ?)",
        [start, stop],
    )
    mine = rows.filter(
        (pl.col("venue") == "kraken")
        & (pl.col("symbol") == "ETH-USD")
        & (pl.col("ts_recv") >= start)
        & (pl.col("ts_recv") < stop)
    )
    assert got["instrument"].unique().to_list() == ["ETH-USD@kraken"]
    assert_bars_equal(got, expected_bars(mine, 60 * 10**9))
    # Text instants are UTC; a start alone keeps everything after it.
    after = session.query("select sum(trades) n from bars('1h', start := '2026-03-03 12:00')")
    assert (
        after["n"][0]
        == rows.filter(pl.col("ts_recv") >= datetime(2026, 3, 3, 12, tzinfo=UTC)).height
    )


@pytest.mark.parametrize(
    ("every", "expected"),
    [
        ("fast", "Could not convert string 'fast' to INTERVAL"),
        ("1 month", "bars: 1 month has months or years, which have no fixed length"),
        ("0s", "bars: 0s is not a positive interval"),
        ("-1m", "bars: -1m is not a positive interval"),
    ],
)
def test_a_bad_interval_is_one_line(session: Session, every: str, expected: str) -> None:
    with pytest.raises(QueryError) as caught:
        session.query(f"select * from bars('{every}')")
    assert "\n" not in str(caught.value) and expected in str(caught.value)
