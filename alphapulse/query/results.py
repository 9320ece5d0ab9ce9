"""What every MarketData implementation shares: the arguments checked (instruments,
intervals, instants), the results given their columns and types, polars or Arrow.

An implementation subclasses ``Results`` and answers ``_trades``, ``_book``, ``_bars``,
``_news`` and ``_events`` with polars frames (``_book`` with an Arrow table).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Final, Literal, overload

import polars as pl
import pyarrow as pa

from alphapulse.query.book import check_depth, instant_range, to_ns
from alphapulse.query.macros import BARS_SCHEMA
from alphapulse.query.views import lake_schema

Instant = datetime | date | int | str
Interval = str | timedelta

_UNITS: Final = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "sec": 10**9,
    "second": 10**9,
    "m": 60 * 10**9,
    "min": 60 * 10**9,
    "minute": 60 * 10**9,
    "h": 3600 * 10**9,
    "hour": 3600 * 10**9,
    "d": 86_400 * 10**9,
    "day": 86_400 * 10**9,
    "w": 7 * 86_400 * 10**9,
    "week": 7 * 86_400 * 10**9,
}
_INTERVAL = re.compile(r"\s*(\d+)\s*([a-z]+)\s*\Z")


def interval_ns(interval: Interval) -> int:
    """``'1m'``, ``'250ms'``, ``'1h'``, ``'1d'``, ``'90 seconds'`` or a timedelta, in ns."""
    if isinstance(interval, timedelta):
        ns = interval // timedelta(microseconds=1) * 1000
    elif not isinstance(interval, str):
        raise TypeError(
            f"interval must be text such as '1m', '250ms', '1h' or a timedelta, not {interval!r}"
        )
    else:
        found = _INTERVAL.match(interval.lower())
        name = "" if found is None else found.group(2)
        # "ms" is a unit; "minutes" is "minute" and a plural s.
        unit = _UNITS.get(name) or _UNITS.get(name.removesuffix("s") if len(name) > 2 else "")
        if found is None or unit is None:
            raise ValueError(
                f"interval {interval!r} is not a number and a unit (ns, us, ms, s, m, h, d, w): "
                "'1m', '250ms', '1h'"
            )
        ns = int(found.group(1)) * unit
    if ns <= 0:
        raise ValueError(f"interval {interval!r} must be positive")
    return ns


def split_instrument(instrument: str) -> tuple[str, str]:
    """``'kraken:BTC/USD'`` -> ``('kraken', 'BTC/USD')``; ValueError otherwise."""
    venue, sep, symbol = instrument.partition(":") if isinstance(instrument, str) else ("", "", "")
    if not (sep and venue and symbol) or venue.strip() != venue or symbol.strip() != symbol:
        raise ValueError(
            f"instrument {instrument!r} is not venue:symbol (e.g. kraken:BTC/USD, binance:BTCUSDT)"
        )
    return venue, symbol


class Results:
    """The public methods of both implementations: arguments checked, results typed.
    Subclasses answer ``_trades`` etc. with polars frames."""

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
    def trades(
        self,
        instrument: str,
        start: Instant | None = None,
        end: Instant | None = None,
        *,
        arrow: bool = False,
    ) -> pl.DataFrame | pa.Table:
        venue, symbol = split_instrument(instrument)
        lo, hi = instant_range(start, end)
        schema = lake_schema("trades")
        if arrow:  # an implementation that reads Arrow gives it as it is, not via polars
            table = self._trades_table(venue, symbol, lo, hi)
            if table is not None:
                return table.select(schema.names).cast(_nullable(schema))
        return _out(self._trades(venue, symbol, lo, hi), schema, arrow)

    def _trades_table(
        self, venue: str, symbol: str, lo: int | None, hi: int | None
    ) -> pa.Table | None:
        """The trades as an Arrow table in the lake's types, where the implementation
        reads them so (else None: ``_trades`` answers)."""
        return None

    @overload
    def book(
        self, instrument: str, at: Instant, depth: int = 10, *, arrow: Literal[False] = False
    ) -> pl.DataFrame: ...
    @overload
    def book(
        self, instrument: str, at: Instant, depth: int = 10, *, arrow: Literal[True]
    ) -> pa.Table: ...
    def book(
        self, instrument: str, at: Instant, depth: int = 10, *, arrow: bool = False
    ) -> pl.DataFrame | pa.Table:
        venue, symbol = split_instrument(instrument)
        table = self._book(venue, symbol, to_ns(at), check_depth(depth))
        return table if arrow else polars_frame(table)

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
    def bars(
        self,
        instrument: str,
        interval: Interval,
        start: Instant | None = None,
        end: Instant | None = None,
        *,
        arrow: bool = False,
    ) -> pl.DataFrame | pa.Table:
        venue, symbol = split_instrument(instrument)
        every = interval_ns(interval)
        frame = self._bars(venue, symbol, every, *instant_range(start, end))
        return _out(frame, BARS_SCHEMA, arrow)

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
    def news(
        self,
        symbols: str | Iterable[str] | None = None,
        start: Instant | None = None,
        end: Instant | None = None,
        *,
        arrow: bool = False,
    ) -> pl.DataFrame | pa.Table:
        wanted = (
            None if symbols is None else [symbols] if isinstance(symbols, str) else list(symbols)
        )
        frame = self._news(wanted, *instant_range(start, end))
        return _out(frame, lake_schema("news"), arrow)

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
    def events(
        self,
        kind: str | None = None,
        start: Instant | None = None,
        end: Instant | None = None,
        *,
        arrow: bool = False,
    ) -> pl.DataFrame | pa.Table:
        frame = self._events(kind, *instant_range(start, end))
        return _out(frame, lake_schema("events"), arrow)

    # -- what implementations provide -------------------------------------------------------

    def _trades(self, venue: str, symbol: str, lo: int | None, hi: int | None) -> pl.DataFrame:
        raise NotImplementedError

    def _book(self, venue: str, symbol: str, at_ns: int, depth: int) -> pa.Table:
        raise NotImplementedError

    def _bars(
        self, venue: str, symbol: str, every_ns: int, lo: int | None, hi: int | None
    ) -> pl.DataFrame:
        raise NotImplementedError

    def _news(self, symbols: list[str] | None, lo: int | None, hi: int | None) -> pl.DataFrame:
        raise NotImplementedError

    def _events(self, kind: str | None, lo: int | None, hi: int | None) -> pl.DataFrame:
        raise NotImplementedError


def polars_frame(table: pa.Table) -> pl.DataFrame:
    """``table`` as a polars DataFrame."""
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _out(frame: pl.DataFrame, schema: pa.Schema, arrow: bool) -> pl.DataFrame | pa.Table:
    """The frame with the schema's columns and types; as Arrow, exactly ``schema``."""
    frame = frame.select(schema.names)
    if not arrow:
        return frame.cast(polars_frame(schema.empty_table()).schema)
    return frame.to_arrow().cast(_nullable(schema))


def _nullable(schema: pa.Schema) -> pa.Schema:
    # Results are computed columns: nullability is not part of the interface.
    return pa.schema([f.with_nullable(True) for f in schema])
