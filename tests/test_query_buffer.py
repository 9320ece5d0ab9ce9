"""The query layer over the lake and the PostgreSQL buffer: where no collector runs on this
machine, the views' tail is the buffer's rows past the lake's last commit, each row once."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pyarrow as pa
import pytest

import alphapulse
from alphapulse.buffer import PostgresSink
from alphapulse.lake import LakeWriter
from alphapulse.query import LakeMarketData, QueryError
from tests.lake_crash_child import trade_rows


def to_buffer(dsn: str, *batches: pa.Table) -> None:
    async def write() -> None:
        async with PostgresSink(dsn) as sink:
            for batch in batches:
                await sink.write("trades", batch)

    asyncio.run(write())


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """Kraken's trades 0..999 committed; no collector running."""
    with LakeWriter(tmp_path / "lake") as writer:
        writer.write("trades", trade_rows(0, 1_000, "kraken"))
    return tmp_path / "lake"


def counts(session: alphapulse.Session) -> dict[str, tuple[int, int]]:
    rows = session.query(
        "select venue, count(*) n, count(distinct trade_id) d from trades group by venue"
    ).rows()
    return {venue: (n, d) for venue, n, d in rows}


def test_the_views_reach_past_the_lake_through_the_buffer_each_row_once(
    lake: Path, postgres_database: str
) -> None:
    # The buffer overlaps the lake (900..999), goes on (..1499), and has a venue the lake
    # has no file of.
    to_buffer(postgres_database, trade_rows(900, 600, "kraken"), trade_rows(0, 100, "coinbase"))
    with alphapulse.connect(lake, buffer=postgres_database) as session:
        assert counts(session) == {"kraken": (1_500, 1_500), "coinbase": (100, 100)}
        trades = LakeMarketData(session).trades("kraken:BTC-USD")
        assert trades["trade_id"].to_list() == list(range(1_500))  # in order, seam unseen
        to_buffer(postgres_database, trade_rows(1_500, 50, "kraken"))
        time.sleep(1.1)  # the buffer is asked at most every second
        assert counts(session)["kraken"] == (1_550, 1_550)
    with alphapulse.connect(lake, buffer=False) as session:
        assert counts(session) == {"kraken": (1_000, 1_000)}


def test_a_buffer_that_cannot_be_read_leaves_the_lake_serving(
    lake: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dsn = "postgresql://reader:s3cret-pw@127.0.0.1:1/market"
    with caplog.at_level(logging.WARNING), alphapulse.connect(lake, buffer=dsn) as session:
        assert counts(session) == {"kraken": (1_000, 1_000)}
        assert counts(session) == {"kraken": (1_000, 1_000)}
    warnings = [r.getMessage() for r in caplog.records if "buffer cannot be read" in r.getMessage()]
    assert len(warnings) == 1 and "s3cret-pw" not in warnings[0]


def test_the_buffer_comes_from_the_environment(
    lake: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    to_buffer(postgres_database, trade_rows(1_000, 10, "kraken"))
    monkeypatch.setenv("ALPHAPULSE_PG_DSN", postgres_database)
    with alphapulse.connect(lake) as session:
        assert counts(session) == {"kraken": (1_010, 1_010)}


def test_a_damaged_lake_file_with_a_buffer_is_the_views_error_not_the_sessions(
    lake: Path, postgres_database: str
) -> None:
    (path,) = lake.glob("trades/venue=*/date=*/part-*.parquet")
    path.write_bytes(path.read_bytes()[:100])  # cut short: its footer is gone
    with alphapulse.connect(lake, buffer=postgres_database) as session:  # opens
        with pytest.raises(QueryError, match="part-"):
            session.query("select count(*) from trades")
        assert session.query("select count(*) n from events")["n"][0] >= 0
