"""``alphapulse.scan``: one lake table (and its live tail) as a polars LazyFrame.

The same snapshot as the session's views: the committed files named one by one, then the
tail's rows, each row once. Partitions outside ``venue`` and the days of ``start``/``end``
are never listed; the ``ts_recv`` bounds are filters polars pushes into the scan (row
groups skipped by their statistics).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date, datetime

import polars as pl
import pyarrow as pa

from alphapulse.lake.layout import NS_PER_DAY
from alphapulse.lake.reader import check_ends
from alphapulse.lake.snapshot import snapshot
from alphapulse.query.book import day_of, instant_range
from alphapulse.query.session import open_lake
from alphapulse.query.views import VIEWS, lake_schema

#: A point in time: an aware datetime (a naive one is UTC), a date (its midnight UTC),
#: epoch nanoseconds, or an ISO 8601 string.
Instant = datetime | date | int | str

HIVE_SCHEMA = {"venue": pl.String, "date": pl.Date}


def lake_table(name: str) -> str:
    """A view name or a lake table name as the lake table (``venue_bars`` is ``bars``)."""
    table = VIEWS.get(name, name)
    if table not in VIEWS.values():
        raise ValueError(f"no table {name!r}: one of {', '.join(VIEWS)}")
    return table


def scan(
    table: str,
    venue: str | Iterable[str] | None = None,
    start: Instant | None = None,
    end: Instant | None = None,
    lake: str | os.PathLike[str] | None = None,
) -> pl.LazyFrame:
    """Rows of ``table`` with ``start <= ts_recv < end`` from ``venue`` (one or several),
    with the partition columns ``venue`` (String) and ``date`` (Date)."""
    root = open_lake(lake)
    name = lake_table(table)
    venues = None if venue is None else [venue] if isinstance(venue, str) else _venues(venue)
    lo, hi = instant_range(start, end)
    days = (
        None if lo is None else day_of(lo),
        None if hi is None else day_of(hi - 1) if hi % NS_PER_DAY == 0 else day_of(hi),
    )
    snap = snapshot(root, name, venues=venues, days=days)
    frames = []
    if snap.files:
        # polars would fail only at collect(), without naming a damaged file.
        check_ends(name, snap.files)
        frames.append(
            pl.scan_parquet(
                [str(f) for f in snap.files], hive_partitioning=True, hive_schema=HIVE_SCHEMA
            )
        )
    if snap.tail is not None or not snap.files:
        rows = snap.tail if snap.tail is not None else lake_schema(name).empty_table()
        frames.append(_with_date(rows))
    frame = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
    if venues is not None:
        frame = frame.filter(pl.col("venue").is_in(venues))
    # Compared as datetimes (not as integers) so that polars prunes row groups with them.
    if lo is not None:
        frame = frame.filter(pl.col("ts_recv") >= _instant(lo))
    if hi is not None:
        frame = frame.filter(pl.col("ts_recv") < _instant(hi))
    return frame


def _venues(venue: object) -> list[str]:
    names = list(venue) if isinstance(venue, Iterable) else None
    if names is None or not all(isinstance(v, str) for v in names):
        raise TypeError(f"venue must be a venue's name or a list of them, not {venue!r}")
    return names


def _instant(ns: int) -> pl.Expr:
    return pl.lit(ns, dtype=pl.Int64).cast(pl.Datetime("ns", "UTC"))


def _with_date(rows: pa.Table) -> pl.LazyFrame:
    frame = pl.from_arrow(rows)
    assert isinstance(frame, pl.DataFrame)
    return frame.lazy().with_columns(pl.col("ts_recv").dt.date().alias("date"))
