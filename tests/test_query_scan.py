"""``alphapulse.scan``: a polars LazyFrame over the same snapshot as the session's views."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

import alphapulse
from alphapulse.lake import LakeError
from alphapulse.query import Session
from tests.query_lakes import write_trades_lake

KEY = ["venue", "ts_recv", "trade_id"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scan")
    write_trades_lake(root, days=3, rows_per_day=3_000, batches=3)
    return root


@pytest.fixture(scope="module")
def session(lake: Path) -> Session:
    return alphapulse.connect(lake)


def test_scan_holds_what_the_view_holds(lake: Path, session: Session) -> None:
    frame = alphapulse.scan("trades", lake=lake).collect()
    assert frame.schema["venue"] == pl.String and frame.schema["date"] == pl.Date
    view = session.query("select * from trades")
    assert frame.columns == view.columns
    assert frame.sort(KEY).equals(view.sort(KEY))


def test_filters_prune_partitions_and_rows(lake: Path, session: Session) -> None:
    start = datetime(2026, 3, 3, 10, tzinfo=UTC)
    end = datetime(2026, 3, 3, 11, 30, tzinfo=UTC)
    frame = alphapulse.scan("trades", venue="kraken", start=start, end=end, lake=lake)
    plan = frame.explain()
    # Only that venue's files of that day are scanned; the time bounds go into the scan.
    paths = re.findall(r"/venue=([^/]+)/date=([0-9-]+)/", plan)
    assert paths and set(paths) == {("kraken", "2026-03-03")}
    assert re.search(r"SCAN \[.*, \.\.\. 2 other sources\]", plan)
    assert "ts_recv" in plan.split("SELECTION:")[1]
    expected = session.query(
        "select * from trades where venue = 'kraken' and ts_recv >= ? and ts_recv < ?",
        [start, end],
    )
    got = frame.collect()
    assert got.height == expected.height > 0
    assert got.sort(KEY).equals(expected.sort(KEY))
    several = alphapulse.scan("trades", venue=["kraken", "binance"], lake=lake).collect()
    assert several["venue"].unique().sort().to_list() == ["binance", "kraken"]


def test_an_end_at_midnight_leaves_the_next_day_alone(lake: Path) -> None:
    plan = alphapulse.scan("trades", start="2026-03-03", end="2026-03-04", lake=lake).explain()
    assert set(re.findall(r"/date=([0-9-]+)/", plan)) == {"2026-03-03"}


def test_a_table_without_files_is_empty_with_its_schema(lake: Path) -> None:
    events = alphapulse.scan("events", lake=lake).collect()
    assert events.is_empty()
    assert events.columns == ["ts_recv", "seq", "kind", "venue", "instrument", "detail", "date"]
    assert alphapulse.scan("venue_bars", lake=lake).collect().is_empty()


def test_bad_tables_and_lakes_are_one_line(lake: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^no table 'trade': one of trades, quotes"):
        alphapulse.scan("trade", lake=lake)
    with pytest.raises(LakeError, match="no lake at"):
        alphapulse.scan("trades", lake=tmp_path / "missing")
