"""``PostgresMarketData``: the ``MarketData`` interface answered from the PostgreSQL buffer.

The same five methods, columns and types as ``LakeMarketData`` (``alphapulse.query``), read
through ADBC as Arrow: one symbol's trades and book deltas from the columnar segments
(``segments.fetch``; the rows, ``read.fetch``, where segments do not cover the range),
news and events from the rows, all in the lake's types; bars are computed from the trades
as ``MemoryMarketData`` does; a book is replayed from the last snapshot before the instant,
as the lake's ``book_top`` does. The buffer holds the last seven days.
"""

from __future__ import annotations

import logging
from typing import Any

import polars as pl
import pyarrow as pa

from alphapulse.buffer import read, segments
from alphapulse.query.book import replay_from_snapshot
from alphapulse.query.market_data import MemoryMarketData
from alphapulse.query.results import Results, polars_frame

log = logging.getLogger(__name__)


class PostgresMarketData(Results):
    """MarketData over the buffer at ``dsn`` (one ADBC connection, closed by ``close``)."""

    def __init__(self, dsn: str) -> None:
        if not isinstance(dsn, str):
            raise TypeError(f"PostgresMarketData takes a DSN string, not {dsn!r:.80}")
        self.conn = read.connect(dsn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> PostgresMarketData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fetch(self, name: str, where: list[str], params: list[Any]) -> pa.Table:
        return read.fetch(self.conn, name, " AND ".join(where) or "true", params)

    @staticmethod
    def _range(where: list[str], params: list[Any], lo: int | None, hi: int | None) -> None:
        if lo is not None:
            params.append(lo)
            where.append(f"ts_recv >= ${len(params)}")
        if hi is not None:
            params.append(hi)
            where.append(f"ts_recv < ${len(params)}")

    def _trades_table(self, venue: str, symbol: str, lo: int | None, hi: int | None) -> pa.Table:
        return self._symbol_rows("trades", venue, symbol, lo, hi)

    def _symbol_rows(
        self, name: str, venue: str, symbol: str, lo: int | None, hi: int | None
    ) -> pa.Table:
        """One symbol's rows of ``name`` in ``[lo, hi)``: from the segments where they
        cover the range, else from the rows."""
        try:
            fast = segments.fetch(self.conn, name, venue, symbol, lo, hi)
        except (ValueError, pa.ArrowInvalid) as exc:  # a damaged or foreign segment
            log.warning("reading %s from the rows: a segment cannot be read: %s", name, exc)
            fast = None
        if fast is not None:
            return fast
        where, params = ["venue = $1", "symbol = $2"], [venue, symbol]
        self._range(where, params, lo, hi)
        return self._fetch(name, where, params)

    def _trades(self, venue: str, symbol: str, lo: int | None, hi: int | None) -> pl.DataFrame:
        return polars_frame(self._trades_table(venue, symbol, lo, hi))

    def _book(self, venue: str, symbol: str, at_ns: int, depth: int) -> pa.Table:
        with self.conn.cursor() as cursor:  # the last snapshot's start (clear, flag 1)
            cursor.execute(
                "SELECT max(ts_recv) FROM alphapulse_buffer.book_deltas WHERE venue = $1"
                " AND symbol = $2 AND ts_recv <= $3 AND action = 'clear' AND flags & 1 <> 0",
                [venue, symbol, at_ns],
            )
            row = cursor.fetchone()
        since = row[0] if row else None
        if since is None:
            deltas = self._fetch("book_deltas", ["false"], [])
        else:
            deltas = self._symbol_rows("book_deltas", venue, symbol, since, at_ns + 1)
        return replay_from_snapshot(deltas, depth, venue)

    def _bars(
        self, venue: str, symbol: str, every_ns: int, lo: int | None, hi: int | None
    ) -> pl.DataFrame:
        trades = self._trades_table(venue, symbol, lo, hi)
        return MemoryMarketData({"trades": trades})._bars(venue, symbol, every_ns, lo, hi)

    def _news(self, symbols: list[str] | None, lo: int | None, hi: int | None) -> pl.DataFrame:
        return self._rows("news", "symbols && {}::text[]", symbols, lo, hi)

    def _events(self, kind: str | None, lo: int | None, hi: int | None) -> pl.DataFrame:
        return self._rows("events", "kind = {}", kind, lo, hi)

    def _rows(
        self, name: str, condition: str, value: object, lo: int | None, hi: int | None
    ) -> pl.DataFrame:
        """Rows of ``name`` in ``[lo, hi)`` meeting ``condition`` (its ``{}`` the value's
        placeholder) unless ``value`` is None."""
        where: list[str] = []
        params: list[Any] = []
        if value is not None:
            params.append(value)
            where.append(condition.format(f"${len(params)}"))
        self._range(where, params, lo, hi)
        return polars_frame(self._fetch(name, where, params))
