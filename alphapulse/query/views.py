"""The SQL behind each view: a table's snapshot (committed files, live tail) as one relation.

Files are named one by one (never a glob): the snapshot decided which files hold which
rows, and a glob would also pick up a file committed since, whose rows the tail still
holds (a row twice), or miss a compacted file's replacement. The tail is a ``TailRows``
registered once on the connection, whose rows each refresh replaces; ``date`` is added to
them as the lake's directories give it (the UTC date of ``ts_recv``).

Each view comes in two: ``_alphapulse_<view>`` with each row's ``file_row_number`` (the
macros order a message's rows by it) and ``<view>`` without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa

from alphapulse import _core
from alphapulse.eventlog import SCHEMA as EVENTS_SCHEMA
from alphapulse.lake.layout import NS_PER_DAY

#: view name -> lake table. The lake's ``bars`` (bars the venues publish) is
#: ``venue_bars``: ``bars`` is the macro that makes bars from trades.
VIEWS: Final = {
    "trades": "trades",
    "quotes": "quotes",
    "book_deltas": "book_deltas",
    "venue_bars": "bars",
    "news": "news",
    "events": "events",
    "statuses": "statuses",
    "rejects": "rejects",
}

#: Partition columns as typed everywhere (DuckDB, pyarrow, polars).
HIVE_TYPES: Final = "{'venue': VARCHAR, 'date': DATE}"


def lake_schema(table: str) -> pa.Schema:
    """The schema of a lake table's files (without the ``date`` partition column)."""
    if table == "events":
        return EVENTS_SCHEMA
    return pa.schema(_core.event_schema(table))


#: Each row's position in its file (in the tail: in the tail), which orders the rows of one
#: message (they share ``ts_recv``). Only the ``_alphapulse_<view>`` views carry it.
ROW_NUMBER: Final = "file_row_number"


def with_partition_columns(rows: pa.Table) -> pa.Table:
    """``rows`` plus the ``date`` their partition directory would give them (ts_recv's UTC
    date), and their row numbers."""
    ts = rows.column("ts_recv").cast(pa.int64()).to_numpy()
    # Integer days: pyarrow's cast of a zoned timestamp to date32 is 15 times slower.
    day = pa.array((ts // NS_PER_DAY).astype(np.int32)).view(pa.date32())
    rows = rows.append_column(pa.field("date", pa.date32(), nullable=False), day)
    numbers = pa.array(np.arange(rows.num_rows, dtype=np.int64))
    return rows.append_column(pa.field(ROW_NUMBER, pa.int64(), nullable=False), numbers)


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def file_list(files: Sequence[Path]) -> str:
    return "[" + ", ".join(sql_string(str(f)) for f in files) + "]"


def read_parquet(files: Sequence[Path]) -> str:
    """``read_parquet([...])`` with the lake's typed hive columns and row numbers."""
    return (
        f"read_parquet({file_list(files)}, hive_partitioning = true, "
        f"hive_types = {HIVE_TYPES}, file_row_number = true)"
    )


def tail_name(view: str) -> str:
    return f"_alphapulse_tail_{view}"


def ordered_name(view: str) -> str:
    """The view with ``file_row_number``, which the macros order rows by."""
    return f"_alphapulse_{view}"


class TailRows:
    """A view's live tail as DuckDB scans it: registered once, its rows swapped in place.

    DuckDB asks for the Arrow stream each time a query scans it, so setting ``rows`` is
    all a refresh does (registering a new table costs a millisecond a view). Without a
    live writer the rows are an empty table of the view's schema, which is also the
    view's whole content when the table has no files.
    """

    def __init__(self, view: str) -> None:
        self.schema = with_partition_columns(lake_schema(VIEWS[view]).empty_table()).schema
        self.rows: pa.Table = self.schema.empty_table()

    def set(self, tail: pa.Table | None) -> None:
        """The tail's rows (None: no live writer), ~0.5 ms for 300k rows."""
        if tail is None or not tail.num_rows:
            if self.rows.num_rows:
                self.rows = self.schema.empty_table()
            return
        self.rows = with_partition_columns(tail).cast(self.schema)

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self.rows.__arrow_c_stream__(requested_schema)

    def __arrow_c_schema__(self) -> object:
        return self.schema.__arrow_c_schema__()


def view_sql(view: str, files: Sequence[Path]) -> list[str]:
    """The statements that define ``view`` over ``files`` UNION ALL BY NAME its tail
    (``TailRows`` registered as ``tail_name(view)``)."""
    tail = f"select * from {tail_name(view)}"
    body = f"select * from {read_parquet(files)}\nunion all by name\n{tail}" if files else tail
    inner = ordered_name(view)
    return [
        f"create or replace temp view {inner} as\n{body}",
        f"create or replace temp view {view} as select * exclude ({ROW_NUMBER}) from {inner}",
    ]


def damaged_view_sql(view: str, message: str) -> list[str]:
    """Statements that define ``view`` with its columns but failing with ``message`` when
    queried (a file of it is damaged). The scalar subquery runs even when no row would."""
    failing = f"select * from {tail_name(view)} where (select error({sql_string(message)})) is null"
    inner = ordered_name(view)
    return [
        f"create or replace temp view {inner} as\n{failing}",
        f"create or replace temp view {view} as select * exclude ({ROW_NUMBER}) from {inner}",
    ]
