"""Events leave the core as Arrow: pyarrow, polars and DuckDB read them without a copy."""

from __future__ import annotations

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from alphapulse import _core

TRADE = b'[7,[["354.11000000","0.89594024","1618678142.557535","b","l",""]],"trade","XMR/USD"]'
BOOK = (
    b'[9,{"as":[["354.20000000","1.00000000","1618678142.1"]],'
    b'"bs":[["354.10000000","2.50000000","1618678142.2"]]},"book-10","XMR/USD"]'
)


def batches() -> dict[str, _core.EventBatch]:
    engine = _core.Engine("kraken_v1")
    engine.feed(TRADE, 1_618_678_142_600_000_000)
    engine.feed(BOOK, 1_618_678_142_700_000_000)
    engine.feed(b"not json", 1_618_678_142_800_000_000)
    return engine.take()


def test_every_table_matches_its_published_schema() -> None:
    taken = batches()
    assert list(taken) == _core.TABLES
    for name, batch in taken.items():
        assert batch.name == name
        assert pa.table(batch).schema == pa.schema(_core.event_schema(name))
        assert pa.schema(batch) == pa.schema(_core.event_schema(name))
    with pytest.raises(KeyError):
        _core.event_schema("nope")


def test_pyarrow_reads_array_and_stream() -> None:
    trades = batches()["trades"]
    table = pa.table(trades)  # via __arrow_c_stream__
    batch = pa.record_batch(trades)  # via __arrow_c_array__
    assert table.num_rows == batch.num_rows == 1
    row = table.to_pylist()[0]
    assert row["instrument"] == "XMR-USD@kraken" and row["symbol"] == "XMR/USD"
    assert row["price_raw"] == 35_411_000_000 and row["price_precision"] == 8
    assert row["price"] == pytest.approx(354.11)
    assert row["aggressor"] == "buy"
    assert row["trade_id"] is None
    assert table.column("ts_event").cast(pa.int64()).to_pylist() == [1_618_678_142_557_535_000]
    assert table.column("ts_recv").cast(pa.int64()).to_pylist() == [1_618_678_142_600_000_000]


def test_polars_reads_book_deltas() -> None:
    df = pl.DataFrame(batches()["book_deltas"])
    assert df.height == 3
    assert df["action"].to_list() == ["clear", "set", "set"]
    assert df["side"].to_list()[1:] == ["ask", "bid"]
    assert df["price_raw"].to_list()[1:] == [35_420_000_000, 35_410_000_000]
    assert df["flags"].to_list() == [1, 1, 3]
    assert df.schema["ts_event"] == pl.Datetime("ns", "UTC")


def test_duckdb_queries_batches() -> None:
    taken = batches()
    con = duckdb.connect()
    con.register("deltas", taken["book_deltas"])
    con.register("rejects", taken["rejects"])
    total = con.sql("select sum(size) from deltas where action = 'set'").fetchall()
    assert total == [(3.5,)]
    [(reason, raw)] = con.sql("select reason, raw from rejects").fetchall()
    assert "kraken v1" in reason and raw == b"not json"
    assert con.from_arrow(taken["trades"]).aggregate("count(*)").fetchall() == [(1,)]


def test_empty_tables_are_valid() -> None:
    engine = _core.Engine("binance")
    for name, batch in engine.take().items():
        assert pa.table(batch).num_rows == 0, name
        assert pl.DataFrame(batch).height == 0
