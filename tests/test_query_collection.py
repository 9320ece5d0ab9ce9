"""The query layer over a real simulated collection: ``book_top`` rebuilds the collector's
own books, and both MarketData implementations give equal answers to every method."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

import alphapulse
from alphapulse.buffer import PostgresSink
from alphapulse.buffer.market_data import PostgresMarketData
from alphapulse.buffer.schema import LAKE_TABLE
from alphapulse.lake import read_table
from alphapulse.lake import tables as lake_tables
from alphapulse.query import LakeMarketData, MarketData, MemoryMarketData, Session
from tests.pg_cluster import PostgresCluster
from tests.test_service import SYMBOLS, collect

VENUES = ("kraken", "coinbase", "binance")
Levels = tuple[list[tuple[int, int]], list[tuple[int, int]]]


@pytest.fixture(scope="module")
def collected(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, dict[str, Levels]]]:
    """A lake from three venues, and each engine's final top 10 levels per symbol."""
    lake = tmp_path_factory.mktemp("collected")
    books = {}
    for venue in VENUES:
        # Long enough for Kraken's book to push levels out of its depth and back.
        service, _ = asyncio.run(collect(venue, lake, steps=2000))
        engine = service.runtimes[venue].engine
        books[venue] = {s: engine.top(s, 10) for s in SYMBOLS[venue]}
    return lake, books


@pytest.fixture(scope="module")
def session(collected: tuple[Path, dict[str, dict[str, Levels]]]) -> Session:
    return alphapulse.connect(collected[0])


def last_delta_ns(session: Session, venue: str) -> int:
    frame = session.query(
        "select epoch_ns(max(ts_recv)) t from book_deltas where venue = ?", [venue]
    )
    return int(frame["t"][0])


def levels(book: pl.DataFrame, side: str) -> list[tuple[int, int]]:
    mine = book.filter(pl.col("side") == side).sort("level")
    assert mine["level"].to_list() == list(range(1, mine.height + 1))
    return list(zip(mine["price_raw"].to_list(), mine["size_raw"].to_list(), strict=True))


@pytest.mark.parametrize("venue", VENUES)
def test_book_top_is_the_collectors_book(
    collected: tuple[Path, dict[str, dict[str, Levels]]], session: Session, venue: str
) -> None:
    at = last_delta_ns(session, venue)
    for symbol, (bids, asks) in collected[1][venue].items():
        book = session.book_top(venue, symbol, at, 10)
        assert len(bids) == len(asks) == 10
        assert levels(book, "bid") == bids
        assert levels(book, "ask") == asks
        # The SQL macro answers the same, at the same instant.
        in_sql = session.query(
            "select * from book_top(?, ?, make_timestamp_ns(?)::timestamptz_ns, 10)",
            [venue, symbol, at],
        )
        assert_frame_equal(in_sql, book)
        # Prices and sizes are the mantissas scaled by the instrument's precision.
        for column in ("price", "size"):
            scale = (book[column] / book[f"{column}_raw"]).log10().round(9).unique()
            assert scale.len() == 1 and scale[0] == round(scale[0]) <= 0


def test_book_top_before_any_snapshot_is_empty(session: Session) -> None:
    first = session.query("select epoch_ns(min(ts_recv)) t from book_deltas")["t"][0]
    assert session.book_top("kraken", "BTC/USD", int(first) - 1, 5).is_empty()


@pytest.fixture(scope="module")
def implementations(
    collected: tuple[Path, dict[str, dict[str, Levels]]], session: Session
) -> tuple[MarketData, MarketData]:
    lake = collected[0]
    memory = MemoryMarketData({t: read_table(lake, t) for t in lake_tables(lake)})
    return LakeMarketData(session), memory


INSTRUMENTS = ["kraken:BTC/USD", "kraken:ETH/USD", "coinbase:BTC-USD", "binance:ETHUSDT"]


def assert_same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.schema == b.schema
    assert_frame_equal(a, b, check_exact=False, rel_tol=1e-12, abs_tol=0)


def test_both_implementations_agree(
    session: Session, implementations: tuple[MarketData, MarketData]
) -> None:
    lake, memory = implementations
    span = session.query(
        "select epoch_ns(min(ts_recv)) lo, epoch_ns(max(ts_recv)) hi from trades"
    ).row(0)
    lo, hi = int(span[0]), int(span[1])
    middle = (lo + hi) // 2
    for instrument in INSTRUMENTS:
        everything = lake.trades(instrument)
        assert everything.height > 10
        assert_same(everything, memory.trades(instrument))
        assert_same(lake.trades(instrument, middle, hi), memory.trades(instrument, middle, hi))
        for interval in ("10ms", "250ms", "1s"):
            got = lake.bars(instrument, interval)
            assert got["trades"].sum() == everything.height
            assert_same(got, memory.bars(instrument, interval))
        assert_same(lake.bars(instrument, "5ms", middle), memory.bars(instrument, "5ms", middle))
        for at in (middle, hi):
            assert_same(lake.book(instrument, at, depth=5), memory.book(instrument, at, depth=5))
    assert lake.events().height > 5
    assert_same(lake.events(), memory.events())
    assert_same(lake.events("connect"), memory.events("connect"))
    assert_same(lake.events(None, middle), memory.events(None, middle))
    assert_same(lake.news(["BTC"]), memory.news(["BTC"]))


def test_arrow_results_have_the_same_schema(implementations: tuple[MarketData, MarketData]) -> None:
    lake, memory = implementations
    for a, b in [
        (lake.trades("kraken:BTC/USD", arrow=True), memory.trades("kraken:BTC/USD", arrow=True)),
        (
            lake.bars("kraken:BTC/USD", "1s", arrow=True),
            memory.bars("kraken:BTC/USD", "1s", arrow=True),
        ),
        (
            lake.book("kraken:BTC/USD", 2**62, arrow=True),
            memory.book("kraken:BTC/USD", 2**62, arrow=True),
        ),
        (lake.events(arrow=True), memory.events(arrow=True)),
        (lake.news(arrow=True), memory.news(arrow=True)),
    ]:
        assert isinstance(a, pa.Table) and isinstance(b, pa.Table)
        assert a.schema == b.schema
        assert a.num_rows == b.num_rows


@pytest.mark.parametrize(
    "instrument", ["krakenBTC/USD", ":BTC/USD", "kraken:", " kraken:BTC/USD", ""]
)
def test_a_bad_instrument_is_one_line(
    implementations: tuple[MarketData, MarketData], instrument: str
) -> None:
    for md in implementations:
        with pytest.raises(ValueError, match="is not venue:symbol") as caught:
            md.trades(instrument)
        assert "\n" not in str(caught.value)


def test_a_bad_interval_is_one_line(implementations: tuple[MarketData, MarketData]) -> None:
    for md in implementations:
        with pytest.raises(ValueError, match="'1 fortnight' is not a number and a unit"):
            md.bars("kraken:BTC/USD", "1 fortnight")


def test_memory_data_from_any_arrow_stream(session: Session) -> None:
    """A DuckDB result (an Arrow stream, like the core's EventBatch) serves as a table."""
    relation = session.sql("select * exclude (date) from trades order by ts_recv")
    assert relation is not None
    memory = MemoryMarketData({"trades": relation})
    assert_same(memory.trades("binance:ETHUSDT"), LakeMarketData(session).trades("binance:ETHUSDT"))
    with pytest.raises(ValueError, match="no table 'trade'"):
        MemoryMarketData({"trade": relation})


@pytest.mark.parametrize(
    "every", ["250ms", "1s", "90 seconds", "1m", "3 mins", "2 hours", "1d", "1w", "10us"]
)
def test_intervals_read_as_duckdb_reads_them(session: Session, every: str) -> None:
    """MarketData's intervals (parsed in Python for the in-memory side) mean what the bars
    macro (DuckDB) makes of the same text."""
    from alphapulse.query.results import interval_ns

    duckdb_ns = session.query("select epoch_us(cast(? as interval)) * 1000 ns", [every])
    assert interval_ns(every) == duckdb_ns["ns"][0]
    lake = LakeMarketData(session)
    direct = session.query("select * from bars(?, venue := 'kraken', symbol := 'BTC/USD')", [every])
    assert_same(lake.bars("kraken:BTC/USD", every), direct)


@pytest.fixture(scope="module")
def buffer_market_data(
    collected: tuple[Path, dict[str, dict[str, Levels]]], postgres_cluster: PostgresCluster
) -> Iterator[PostgresMarketData]:
    """The same collection in the PostgreSQL buffer (COPYed from the lake's tables)."""
    lake = collected[0]
    dsn = postgres_cluster.create_database("collected")

    async def load() -> None:
        async with PostgresSink(dsn) as sink:
            for name, lake_table in LAKE_TABLE.items():
                if lake_table in lake_tables(lake):
                    await sink.write(name, read_table(lake, lake_table))

    asyncio.run(load())
    with PostgresMarketData(dsn) as md:
        yield md
    postgres_cluster.drop_database(dsn)


def test_the_buffer_answers_as_the_lake_does(
    session: Session,
    implementations: tuple[MarketData, MarketData],
    buffer_market_data: PostgresMarketData,
) -> None:
    lake, buffer = implementations[0], buffer_market_data
    span = session.query(
        "select epoch_ns(min(ts_recv)) lo, epoch_ns(max(ts_recv)) hi from trades"
    ).row(0)
    lo, hi = int(span[0]), int(span[1])
    middle = (lo + hi) // 2
    for instrument in INSTRUMENTS:
        assert_same(buffer.trades(instrument), lake.trades(instrument))
        assert_same(buffer.trades(instrument, middle, hi), lake.trades(instrument, middle, hi))
        assert_same(buffer.bars(instrument, "250ms"), lake.bars(instrument, "250ms"))
        for at in (middle, hi):
            assert_same(buffer.book(instrument, at, depth=5), lake.book(instrument, at, depth=5))
        assert_same(buffer.book(instrument, lo - 1), lake.book(instrument, lo - 1))
    first_delta = session.query("select epoch_ns(min(ts_recv)) t from book_deltas")["t"][0]
    assert buffer.book("kraken:BTC/USD", int(first_delta) - 1).is_empty()
    assert_same(buffer.events(), lake.events())
    assert_same(buffer.events("connect", middle), lake.events("connect", middle))
    assert_same(buffer.news(["BTC"]), lake.news(["BTC"]))
    a, b = buffer.trades("kraken:BTC/USD", arrow=True), lake.trades("kraken:BTC/USD", arrow=True)
    assert a.schema == b.schema and a.equals(b)
