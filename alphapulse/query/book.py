"""``book_top``: the book of one instrument at an instant, rebuilt from the lake.

The rows are chosen in SQL: the last snapshot at or before ``at`` (a ``clear`` row with
flag 1, "part of a snapshot"), then every delta from it up to ``at``, in the order the
collector applied them: ``ts_recv``, then file, then position in the file (the deltas of
one venue message share their ``ts_recv``). The live tail's rows come after the files'.
The core's ``OrderBook.apply_arrow`` replays them (a ``clear`` empties the book, so rows
of the same instant before the snapshot do no harm).

The selection runs on a DuckDB connection of its own: ``book_top`` is also a SQL function
of the session, and a query cannot run another query on its own connection.
"""

from __future__ import annotations

import numbers
import threading
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from alphapulse import _core
from alphapulse.lake.layout import EPOCH, NS_PER_DAY, parse_partition
from alphapulse.query.views import file_list

if TYPE_CHECKING:
    from alphapulse.query.session import Session

#: What ``book_top`` returns: the best ``depth`` levels a side, bids first, level 1 best.
BOOK_SCHEMA: Final = pa.schema(
    [
        pa.field("side", pa.string(), nullable=False),
        pa.field("level", pa.int32(), nullable=False),
        pa.field("price", pa.float64(), nullable=False),
        pa.field("size", pa.float64(), nullable=False),
        pa.field("price_raw", pa.int64(), nullable=False),
        pa.field("size_raw", pa.int64(), nullable=False),
    ]
)

_REPLAY_COLUMNS: Final = "action, side, price_raw, size_raw, flags, price_precision, size_precision"

#: Venues whose books the client trims to the subscribed depth after every update (the
#: venue sends no deletes for levels pushed out; the engine trims them as Kraken requires).
#: A replay trims the same way, to the depth of the snapshot it starts from.
TRIMMED_VENUES: Final = frozenset({"kraken"})


def day_of(ns: int) -> date:
    """The UTC date of an instant in epoch nanoseconds."""
    return date.fromordinal(EPOCH.toordinal() + ns // NS_PER_DAY)


class BookReader:
    """Selects and replays book deltas; one per session (its connection is private)."""

    def __init__(self) -> None:
        self._con = duckdb.connect()
        self._con.execute("set TimeZone = 'UTC'")  # instants given as UTC nanoseconds
        self._lock = threading.Lock()

    def close(self) -> None:
        self._con.close()

    def book_top(
        self,
        files: Sequence[Path],
        tail: pa.Table | None,
        venue: str,
        symbol: str,
        at_ns: int,
        depth: int,
    ) -> pa.Table:
        depth = check_depth(depth)
        day = day_of(at_ns)
        mine = [f for f in files if (p := parse_partition(f)) and p[0] == venue and p[1] <= day]
        tail_rows = _tail_rows(tail, venue, symbol, at_ns)
        with self._lock:
            start = self._snapshot_ns(mine, tail_rows, symbol, at_ns)
            if start is None:
                return BOOK_SCHEMA.empty_table()
            rows = self._rows(mine, tail_rows, symbol, start, at_ns)
        return replay_from_snapshot(rows, depth, venue)

    def _snapshot_ns(
        self, files: Sequence[Path], tail: pa.Table | None, symbol: str, at_ns: int
    ) -> int | None:
        """``ts_recv`` of the last snapshot at or before ``at_ns``, None if there is none.

        Searched a day at a time from ``at_ns`` backwards: the last snapshot is usually
        hours old, and a lake holds months of book deltas."""
        found = None
        if tail is not None:
            starts = tail.filter(
                pc.and_(
                    pc.equal(tail.column("action"), "clear"),
                    pc.not_equal(pc.bit_wise_and(tail.column("flags"), 1), 0),
                )
            )
            if starts.num_rows:
                found = pc.max(starts.column("ts_recv").cast(pa.int64())).as_py()
        by_day: dict[date, list[Path]] = {}
        for f in files:
            if (partition := parse_partition(f)) is not None:
                by_day.setdefault(partition[1], []).append(f)
        for day in sorted(by_day, reverse=True):
            if found is not None and day < day_of(found):
                break  # earlier days hold earlier snapshots
            rows = self._con.execute(
                f"select max(epoch_ns(ts_recv)) from read_parquet({file_list(by_day[day])}) "
                "where symbol = ? and action = 'clear' and flags & 1 = 1 "
                "and ts_recv <= make_timestamp_ns(?)::timestamptz_ns",
                [symbol, at_ns],
            ).fetchall()
            if rows and rows[0][0] is not None:
                found = max(int(rows[0][0]), found or 0)
                break
        return found

    def _rows(
        self,
        files: Sequence[Path],
        tail: pa.Table | None,
        symbol: str,
        start_ns: int,
        at_ns: int,
    ) -> pa.Table:
        first_day = day_of(start_ns)
        recent = [f for f in files if (p := parse_partition(f)) and p[1] >= first_day]
        parts = []
        if recent:
            parts.append(
                self._con.sql(
                    f"select {_REPLAY_COLUMNS} from read_parquet({file_list(recent)}, "
                    "filename = true, file_row_number = true) "
                    "where symbol = ? and ts_recv >= make_timestamp_ns(?)::timestamptz_ns "
                    "and ts_recv <= make_timestamp_ns(?)::timestamptz_ns "
                    "order by ts_recv, filename, file_row_number",
                    params=[symbol, start_ns, at_ns],
                ).to_arrow_table()
            )
        if tail is not None:
            ts = tail.column("ts_recv").cast(pa.int64())
            parts.append(
                tail.filter(pc.greater_equal(ts, start_ns)).select(_REPLAY_COLUMNS.split(", "))
            )
        return pa.concat_tables(parts, promote_options="permissive")


def _tail_rows(tail: pa.Table | None, venue: str, symbol: str, at_ns: int) -> pa.Table | None:
    if tail is None or not tail.num_rows:
        return None
    ts = tail.column("ts_recv").cast(pa.int64())
    keep = pc.and_(
        pc.and_(pc.equal(tail.column("venue"), venue), pc.equal(tail.column("symbol"), symbol)),
        pc.less_equal(ts, at_ns),
    )
    rows = tail.filter(keep)
    # Stable: the tail is in arrival order, ties keep it.
    return rows.sort_by([("ts_recv", "ascending")]) if rows.num_rows else None


def replay_from_snapshot(rows: pa.Table, depth: int, venue: str) -> pa.Table:
    """The best ``depth`` levels a side after ``rows`` (one instrument's deltas up to the
    instant, in order), replayed from the last snapshot; an empty book without one."""
    starts = pc.and_(
        pc.equal(rows.column("action"), "clear"),
        pc.not_equal(pc.bit_wise_and(rows.column("flags"), 1), 0),
    )
    positions = pc.indices_nonzero(starts)
    if not len(positions):
        return BOOK_SCHEMA.empty_table()
    rows = rows.slice(positions[-1].as_py())
    book = _core.OrderBook(snapshot_depth(rows) if venue in TRIMMED_VENUES else None)
    for batch in rows.select(["action", "side", "price_raw", "size_raw"]).to_batches():
        book.apply_arrow(batch)
    price_precision = rows.column("price_precision")[-1].as_py() or 0
    size_precision = rows.column("size_precision")[-1].as_py() or 0
    bids, asks = book.top(depth)
    out: dict[str, list[Any]] = {name: [] for name in BOOK_SCHEMA.names}
    for side, levels in (("bid", bids), ("ask", asks)):
        for level, (price, size) in enumerate(levels, start=1):
            out["side"].append(side)
            out["level"].append(level)
            out["price"].append(price / 10**price_precision)
            out["size"].append(size / 10**size_precision)
            out["price_raw"].append(price)
            out["size_raw"].append(size)
    return pa.table(out, schema=BOOK_SCHEMA)


def snapshot_depth(rows: pa.Table) -> int | None:
    """Levels a side in the snapshot ``rows`` starts with (its clear, then the rows flagged
    part of the snapshot): the depth the venue was subscribed at."""
    flags = rows.column("flags").to_numpy()
    in_snapshot = int(np.argmin(flags & 1)) if not (flags & 1).all() else len(flags)
    sides = rows.column("side").slice(1, max(in_snapshot - 1, 0))
    counts = pc.value_counts(sides).to_pylist()
    return max((c["counts"] for c in counts), default=0) or None


def to_ns(at: datetime | date | int | str) -> int:
    """An instant as epoch nanoseconds (naive datetimes and strings are UTC)."""
    from alphapulse.lake.reader import _ns

    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            raise ValueError(
                f"{at!r} is not an instant: give an ISO 8601 time ('2026-03-03 10:00', "
                "'2026-03-03T10:00:00Z'), a datetime, a date or epoch nanoseconds"
            ) from None
    if isinstance(at, numbers.Integral) and not isinstance(at, bool):
        return int(at)  # numpy's integers too
    if not isinstance(at, datetime | date):
        raise TypeError(f"an instant is a datetime, a date, an int or a str, not {at!r}")
    return _ns(at)


def instant_range(
    start: datetime | date | int | str | None, end: datetime | date | int | str | None
) -> tuple[int | None, int | None]:
    """``start`` and ``end`` as epoch nanoseconds (None: open); ValueError when the range
    ends before it starts (it would silently select nothing)."""
    lo = None if start is None else to_ns(start)
    hi = None if end is None else to_ns(end)
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"start {start!r} is after end {end!r}: give start <= end")
    return lo, hi


def check_depth(depth: object) -> int:
    """``depth`` as levels a side: TypeError for a non-integer, ValueError below 1."""
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral):
        raise TypeError(
            f"depth must be a whole number of levels (an int, 1 or more), not {depth!r}"
        )
    if depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    return int(depth)


def install_book_top(session: Session) -> None:
    """Register ``_alphapulse_book_top(venue, symbol, at_ns, depth)``: the levels as a
    list of structs, which the ``book_top`` table macro unnests."""
    struct = duckdb.struct_type(
        {
            "side": "VARCHAR",
            "level": "INTEGER",
            "price": "DOUBLE",
            "size": "DOUBLE",
            "price_raw": "BIGINT",
            "size_raw": "BIGINT",
        }
    )

    def levels(venue: str, symbol: str, at_ns: int, depth: int) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = session.book_top_arrow(
            venue, symbol, at_ns, depth
        ).to_pylist()
        return result

    session.con.create_function(
        "_alphapulse_book_top",
        levels,
        ["VARCHAR", "VARCHAR", "BIGINT", "INTEGER"],
        duckdb.list_type(struct),
        side_effects=True,
    )
