"""MarketData on small known tables: what each method selects (symbols, kinds, time
bounds: start inclusive, end exclusive), the same from the lake and from memory."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from alphapulse import _core
from alphapulse.eventlog import SCHEMA as EVENTS_SCHEMA
from alphapulse.lake import LakeWriter
from alphapulse.lake.snapshot import bump_generation
from alphapulse.query import LakeMarketData, MarketData, MemoryMarketData
from tests.query_lakes import DAY0_NS, NS_PER_DAY, trades

SECOND = 10**9
NEWS_SCHEMA = pa.schema(_core.event_schema("news"))


def news() -> pa.Table:
    rows = [
        (DAY0_NS + 10 * SECOND, 1, ["AAPL"]),
        (DAY0_NS + 20 * SECOND, 2, ["BTC", "ETH"]),
        (DAY0_NS + 30 * SECOND, 3, []),
        (DAY0_NS + NS_PER_DAY + 5 * SECOND, 4, ["ETH"]),
    ]
    ts = pa.array([r[0] for r in rows], pa.timestamp("ns", tz="UTC"))
    n = len(rows)
    return pa.table(
        {
            "ts_event": ts,
            "ts_recv": ts,
            "venue": ["alpaca"] * n,
            "id": pa.array([r[1] for r in rows], pa.uint64()),
            "headline": [f"headline {r[1]}" for r in rows],
            "summary": [""] * n,
            "author": ["a"] * n,
            "source": ["s"] * n,
            "url": ["u"] * n,
            "content": [""] * n,
            "symbols": pa.array([r[2] for r in rows], pa.list_(pa.string())),
            "updated_at": ts,
        },
        schema=NEWS_SCHEMA,
    )


def events() -> pa.Table:
    rows = [
        (DAY0_NS + 1 * SECOND, 0, "service_start", "service"),
        (DAY0_NS + 2 * SECOND, 1, "connect", "kraken"),
        (DAY0_NS + 2 * SECOND, 2, "subscribe", "kraken"),
        (DAY0_NS + 9 * SECOND, 3, "connect", "kraken"),
    ]
    return pa.table(
        {
            "ts_recv": pa.array([r[0] for r in rows], pa.timestamp("ns", tz="UTC")),
            "seq": pa.array([r[1] for r in rows], pa.uint64()),
            "kind": [r[2] for r in rows],
            "venue": [r[3] for r in rows],
            "instrument": pa.array([None] * 4, pa.string()),
            "detail": ["{}"] * 4,
        },
        schema=EVENTS_SCHEMA,
    )


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return {
        "trades": trades("kraken", ["BTC/USD", "ETH/USD"], DAY0_NS, 60 * SECOND, 200, seed=4),
        "news": news(),
        "events": events(),
    }


@pytest.fixture(scope="module")
def both(tables: dict[str, pa.Table], tmp_path_factory: pytest.TempPathFactory) -> list[MarketData]:
    root: Path = tmp_path_factory.mktemp("md")
    with LakeWriter(root) as writer:
        for name, table in tables.items():
            writer.write(name, table)
    bump_generation(root)
    return [LakeMarketData(root), MemoryMarketData(tables)]


def test_news_by_symbol_and_time(both: list[MarketData]) -> None:
    for md in both:
        assert md.news("BTC")["id"].to_list() == [2]
        assert md.news(["ETH", "AAPL"])["id"].to_list() == [1, 2, 4]
        assert md.news()["id"].to_list() == [1, 2, 3, 4]
        assert md.news(None, DAY0_NS + 20 * SECOND, DAY0_NS + 30 * SECOND)["id"].to_list() == [2]
        assert md.news("ETH", DAY0_NS + NS_PER_DAY)["id"].to_list() == [4]
        assert md.news("DOGE").is_empty()
        assert md.news(arrow=True).schema.field("symbols").type == pa.list_(pa.string())


def test_events_by_kind_and_time(both: list[MarketData]) -> None:
    for md in both:
        assert md.events("connect")["seq"].to_list() == [1, 3]
        assert md.events(None, DAY0_NS + 2 * SECOND, DAY0_NS + 9 * SECOND)["seq"].to_list() == [
            1,
            2,
        ]
        assert md.events("nothing").is_empty()


def test_trades_bounds_and_order(both: list[MarketData], tables: dict[str, pa.Table]) -> None:
    rows = pl.from_arrow(tables["trades"])
    assert isinstance(rows, pl.DataFrame)
    mine = rows.filter(pl.col("symbol") == "ETH/USD")
    start, end = mine["ts_recv"][10], mine["ts_recv"][40]
    expected = mine.filter((pl.col("ts_recv") >= start) & (pl.col("ts_recv") < end))
    results = [md.trades("kraken:ETH/USD", start, end) for md in both]
    for got in results:
        assert got["trade_id"].to_list() == expected["trade_id"].to_list()
    assert_frame_equal(results[0], results[1])
    assert all(md.trades("kraken:DOGE/USD").is_empty() for md in both)
    assert all(md.trades("coinbase:ETH/USD").is_empty() for md in both)


def test_bad_instants_are_one_line(both: list[MarketData]) -> None:
    for md in both:
        with pytest.raises(ValueError, match=r"^'yesterday' is not an instant: give an ISO"):
            md.trades("kraken:ETH/USD", "yesterday")
        with pytest.raises(TypeError, match="an instant is a datetime, a date, an int or a str"):
            md.book("kraken:ETH/USD", 1.5)  # type: ignore[call-overload]
