"""The SQL behind each view: a table's snapshot (committed files, live tail) as one relation.

Files are named one by one (never a glob): the snapshot decided which files hold which
rows, and a glob would also pick up a file committed since, whose rows the tail still
holds (a row twice), or miss a compacted file's replacement. The tail is an Arrow table
registered on the connection; ``date`` is added to it as the lake's directories give it
(the UTC date of ``ts_recv``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyarrow as pa

from alphapulse import _core
from alphapulse.eventlog import SCHEMA as EVENTS_SCHEMA

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
    """``rows`` plus the ``date`` their partition directory would give them, and their
    row numbers."""
    day = rows.column("ts_recv").cast(pa.date32())
    rows = rows.append_column(pa.field("date", pa.date32(), nullable=False), day)
    numbers = pa.array(range(rows.num_rows), pa.int64())
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


@dataclass(frozen=True)
class ViewPlan:
    """How one view is built: the SQL, and the Arrow tables it needs registered."""

    sql: list[str]
    registered: dict[str, pa.Table]


def tail_name(view: str) -> str:
    return f"_alphapulse_tail_{view}"


def ordered_name(view: str) -> str:
    """The view with ``file_row_number``, which the macros order rows by."""
    return f"_alphapulse_{view}"


def view_plan(view: str, files: Sequence[Path], tail: pa.Table | None) -> ViewPlan:
    """The view over ``files`` UNION ALL BY NAME ``tail``; an empty relation of the
    table's schema when there is neither."""
    parts = []
    registered = {}
    if files:
        parts.append(f"select * from {read_parquet(files)}")
    if tail is not None or not files:
        rows = tail if tail is not None else lake_schema(VIEWS[view]).empty_table()
        registered[tail_name(view)] = with_partition_columns(rows)
        parts.append(f"select * from {tail_name(view)}")
    body = "\nunion all by name\n".join(parts)
    inner = ordered_name(view)
    return ViewPlan(
        [
            f"create or replace temp view {inner} as\n{body}",
            f"create or replace temp view {view} as select * exclude ({ROW_NUMBER}) from {inner}",
        ],
        registered,
    )
