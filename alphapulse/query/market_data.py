"""``MarketData``: the one small interface research code reads market data through.

Instruments are ``venue:symbol`` with the venue's own symbol (``kraken:BTC/USD``,
``binance:BTCUSDT``). Times are instants (aware datetime, naive = UTC, date = its UTC
midnight, epoch nanoseconds, ISO string); ranges are ``start <= ts_recv < end``, either end
open when None. Results are polars DataFrames, or pyarrow Tables with ``arrow=True``, with
the same columns and types whichever implementation answers:

- ``trades``/``news``/``events``: the lake table's columns, in ``ts_recv`` order (rows of
  one venue message, which share ``ts_recv``, in their order);
- ``bars``: the ``bars()`` macro's columns (see ``BARS_SCHEMA``);
- ``book``: ``book_top``'s (see ``alphapulse.query.book.BOOK_SCHEMA``).

``LakeMarketData`` answers from a session (the lake and its live tail), ``MemoryMarketData``
from tables in memory (tests, backtests). Later implementations (PostgreSQL, remote) only
need the five methods.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Literal, Protocol, overload

import polars as pl
import pyarrow as pa

from alphapulse.lake.layout import as_table
from alphapulse.query.book import replay_from_snapshot
from alphapulse.query.macros import BARS_SCHEMA
from alphapulse.query.results import (
    Instant,
    Interval,
    Results,
    interval_ns,
    polars_frame,
    split_instrument,
)
from alphapulse.query.session import Session, connect
from alphapulse.query.views import VIEWS, lake_schema, sql_string

__all__ = [
    "BARS_SCHEMA",
    "Instant",
    "Interval",
    "LakeMarketData",
    "MarketData",
    "MemoryMarketData",
    "interval_ns",
    "split_instrument",
]


class MarketData(Protocol):
    """Trades, books, bars, news and events; polars by default, pyarrow with arrow=True."""

    @overload
    def trades(
        self,
        instrument: str,
        start: Instant | None = None,
        end: Instant | None = None,
        *,
        arrow: Literal[False] = False,
    ) -> pl.DataFrame: ...
    @overload
    def trades(
        self,
        instrument: str,
        start: Instant | None = None,
        end: Instant | None = None,
        *,
        arrow: Literal[True],
    ) -> pa.Table: ...
    @overload
    def book(
        self, instrument: str, at: Instant, depth: int = 10, *, arrow: Literal[False] = False
    ) -> pl.DataFrame: ...
    @overload
    def book(
        self, instrument: str, at: Instant, depth: int = 10, *, arrow: Literal[True]
    ) -> pa.Table: ...
    @overload
    def bars(
        self,
        instrument: str,
        interval: Interval,
        start: Instant | None = None,
        end: Instant | None = None,
        *,
        arrow: Literal[False] = False,
    ) -> pl.DataFrame: ...
    @overload
    def bars(
        self,
        instrument: str,
        interval: Interval,
        start: Instant | None = None,
        end: Instant | None = None,
        *,
        arrow: Literal[True],
    ) -> pa.Table: ...
    @overload
    def news(
        self,
        symbols: str | Iterable[str] | None = None,
        start: Instant | None = None,
        end: Instant | None = None,
        *,
        arrow: Literal[False] = False,
    ) -> pl.DataFrame: ...
    @overload
    def news(
        self,
        symbols: str | Iterable[str] | None = None,
        start: Instant | None = None,
        end: Instant | None = None,
        *,
        arrow: Literal[True],
    ) -> pa.Table: ...
    @overload
    def events(
        self,
        kind: str | None = None,
        start: Instant | None = None,
        end: Instant | None = None,
        *,
        arrow: Literal[False] = False,
    ) -> pl.DataFrame: ...
    @overload
    def events(
        self,
        kind: str | None = None,
        start: Instant | None = None,
        end: Instant | None = None,
        *,
        arrow: Literal[True],
    ) -> pa.Table: ...


class LakeMarketData(Results):
    """MarketData over a session (``alphapulse.connect()``): the lake and its live tail."""

    def __init__(self, source: Session | str | os.PathLike[str] | None = None) -> None:
        if not isinstance(source, Session | str | os.PathLike | type(None)):
            raise TypeError(
                "LakeMarketData takes a session (alphapulse.connect()), a lake path or None, "
                f"not {source!r}"
            )
        self.session = source if isinstance(source, Session) else connect(source)

    def _range(self, lo: int | None, hi: int | None) -> str:
        """SQL for ``lo <= ts_recv < hi`` and the dates between, so partitions prune."""
        where = []
        if lo is not None:
            where += [f"ts_recv >= {_ts(lo)}", f"date >= cast({_ts(lo)} as date)"]
        if hi is not None:
            where += [f"ts_recv < {_ts(hi)}", f"date <= cast({_ts(hi)} as date)"]
        return "".join(f" and {w}" for w in where)

    def _table(self, view: str, condition: str, lo: int | None, hi: int | None) -> pl.DataFrame:
        columns = ", ".join(lake_schema(VIEWS[view]).names)
        return self.session.query(
            f"select {columns} from _alphapulse_{view} where {condition}{self._range(lo, hi)} "
            "order by ts_recv, file_row_number"
        )

    def _trades(self, venue: str, symbol: str, lo: int | None, hi: int | None) -> pl.DataFrame:
        condition = f"venue = {sql_string(venue)} and symbol = {sql_string(symbol)}"
        return self._table("trades", condition, lo, hi)

    def _book(self, venue: str, symbol: str, at_ns: int, depth: int) -> pa.Table:
        self.session.refresh()
        return self.session.book_top_arrow(venue, symbol, at_ns, depth)

    def _bars(
        self, venue: str, symbol: str, every_ns: int, lo: int | None, hi: int | None
    ) -> pl.DataFrame:
        every = f"{every_ns // 1000} microseconds" if every_ns % 1000 == 0 else None
        if every is None:
            raise ValueError("bars from the lake come in whole microseconds")
        start = "NULL" if lo is None else _ts(lo)
        stop = "NULL" if hi is None else _ts(hi)
        return self.session.query(
            f"select * from bars({sql_string(every)}, venue := {sql_string(venue)}, "
            f"symbol := {sql_string(symbol)}, start := {start}, stop := {stop})"
        )

    def _news(self, symbols: list[str] | None, lo: int | None, hi: int | None) -> pl.DataFrame:
        condition = "true"
        if symbols is not None:
            wanted = ", ".join(sql_string(s) for s in symbols)
            condition = f"list_has_any(symbols, [{wanted}]::varchar[])"
        return self._table("news", condition, lo, hi)

    def _events(self, kind: str | None, lo: int | None, hi: int | None) -> pl.DataFrame:
        condition = "true" if kind is None else f"kind = {sql_string(kind)}"
        return self._table("events", condition, lo, hi)


def _ts(ns: int) -> str:
    return f"make_timestamp_ns({int(ns)})::timestamptz_ns"


class MemoryMarketData(Results):
    """MarketData over tables in memory: ``{"trades": ..., "book_deltas": ..., "news": ...,
    "events": ...}`` (pyarrow, polars or any Arrow stream such as an engine's EventBatch;
    the lake's columns, rows in arrival order). A missing table answers with no rows."""

    def __init__(self, tables: Mapping[str, object]) -> None:
        if not isinstance(tables, Mapping):
            raise TypeError(
                "MemoryMarketData takes a dict of tables by name, e.g. "
                f"{{'trades': arrow_or_polars_table}}, not {tables!r:.80}"
            )
        self.tables: dict[str, pl.DataFrame] = {}
        for name, data in tables.items():
            table = VIEWS.get(name, name)
            if table not in VIEWS.values():
                raise ValueError(f"no table {name!r}: one of {', '.join(VIEWS)}")
            # pyarrow, polars, or any Arrow stream (the core's EventBatch, DuckDB results).
            frame = data if isinstance(data, pl.DataFrame) else polars_frame(as_table(data))
            self.tables[table] = frame

    def _rows(self, table: str, lo: int | None, hi: int | None) -> pl.DataFrame:
        frame = self.tables.get(table)
        if frame is None:
            frame = polars_frame(lake_schema(table).empty_table())
        ts = pl.col("ts_recv").dt.epoch("ns")
        if lo is not None:
            frame = frame.filter(ts >= lo)
        if hi is not None:
            frame = frame.filter(ts < hi)
        # Stable: rows of one message keep their order.
        return frame.sort("ts_recv", maintain_order=True)

    def _trades(self, venue: str, symbol: str, lo: int | None, hi: int | None) -> pl.DataFrame:
        rows = self._rows("trades", lo, hi)
        return rows.filter((pl.col("venue") == venue) & (pl.col("symbol") == symbol))

    def _book(self, venue: str, symbol: str, at_ns: int, depth: int) -> pa.Table:
        deltas = self._rows("book_deltas", None, at_ns + 1)
        mine = deltas.filter((pl.col("venue") == venue) & (pl.col("symbol") == symbol))
        return replay_from_snapshot(mine.to_arrow(), depth, venue)

    def _bars(
        self, venue: str, symbol: str, every_ns: int, lo: int | None, hi: int | None
    ) -> pl.DataFrame:
        trades = self._trades(venue, symbol, lo, hi)
        bucket = pl.col("ts_recv").dt.epoch("ns") // every_ns
        return (
            trades.with_columns(bucket.alias("bucket"))
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
            .sort("instrument", "bucket")
            .with_columns((pl.col("bucket") * every_ns).cast(pl.Datetime("ns", "UTC")).alias("ts"))
        )

    def _news(self, symbols: list[str] | None, lo: int | None, hi: int | None) -> pl.DataFrame:
        rows = self._rows("news", lo, hi)
        if symbols is None:
            return rows
        return rows.filter(pl.col("symbols").list.eval(pl.element().is_in(symbols)).list.any())

    def _events(self, kind: str | None, lo: int | None, hi: int | None) -> pl.DataFrame:
        rows = self._rows("events", lo, hi)
        return rows if kind is None else rows.filter(pl.col("kind") == kind)
