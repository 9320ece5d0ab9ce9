"""Frames as the rows a chart draws: Arrow first, then plain JSON-able dicts.

Any frame becomes a pyarrow Table (polars, pandas, pyarrow, a DuckDB relation, a
``%%duckdb`` result, a list of dicts), and its time column becomes Unix seconds
(lightweight-charts' ``UTCTimestamp``): timestamps of any unit (naive ones are UTC), dates,
or epoch numbers whose unit is told by their size. Rows come out sorted by time, one per
time (the last wins), without rows whose time is missing; a missing or non-finite value
is left out of its row, which the chart draws as a gap: JSON has no NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: A row as the front end takes it: {"time": seconds, "open": ..., ...}.
Row = dict[str, Any]

#: The time column's accepted names, in order of preference (case is ignored).
TIME_COLUMNS: Final = ("time", "ts", "bucket", "timestamp", "ts_recv", "ts_event", "date")
OHLC: Final = ("open", "high", "low", "close")

_PER_SECOND: Final = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def to_table(data: object) -> pa.Table:
    """``data`` as a pyarrow Table (None: an empty one)."""
    return _without_views(_table(data))


def _without_views(table: pa.Table) -> pa.Table:
    """polars hands text over as Arrow string views, which pyarrow's take and filter do
    not take yet: plain strings instead."""
    views = [i for i, f in enumerate(table.schema) if pa.types.is_string_view(f.type)]
    for i in views:
        table = table.set_column(i, table.field(i).name, pc.cast(table.column(i), pa.string()))
    return table


def _table(data: object) -> pa.Table:
    if data is None:
        return pa.table({})
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    table = getattr(data, "table", None)
    if isinstance(table, pa.Table):  # a %%duckdb result (alphapulse.magics.QueryResult)
        return table
    library = type(data).__module__.partition(".")[0]
    if library == "pandas":
        return _from_pandas(data)
    if library == "polars" and hasattr(data, "collect"):  # a LazyFrame
        data = data.collect()
    if library == "duckdb" and hasattr(data, "to_arrow_table"):  # a relation
        out: pa.Table = data.to_arrow_table()
        return out
    if hasattr(data, "__arrow_c_stream__"):  # polars, and anything with Arrow's interface
        return pa.table(data)
    if isinstance(data, Mapping):
        return pa.table({str(k): v for k, v in data.items()})
    if isinstance(data, Sequence) and all(isinstance(row, Mapping) for row in data):
        return pa.Table.from_pylist([dict(row) for row in data])
    raise TypeError(
        "chart data must be a polars, pandas or pyarrow frame, a DuckDB relation, a %%duckdb "
        f"result or a list of dicts, not {type(data).__name__}"
    )


def row_table(row: object) -> pa.Table:
    """One row (a dict of values) or a frame of rows, as a Table."""
    if isinstance(row, Mapping):
        return pa.Table.from_pylist([dict(row)])
    return to_table(row)


def _from_pandas(frame: Any) -> pa.Table:
    # A time index (df.set_index("ts"), resample()) is a column to us; unnamed, "time".
    index = frame.index
    if type(index).__name__ == "DatetimeIndex" and index.name is None:
        frame = frame.rename_axis("time")
    if frame.index.name is not None:
        frame = frame.reset_index()
    return pa.Table.from_pandas(frame, preserve_index=False)


def find_column(table: pa.Table, names: Sequence[str]) -> str | None:
    """The table's column called one of ``names`` (case ignored), the first name first."""
    lower: dict[str, str] = {name.lower(): name for name in reversed(table.column_names)}
    for name in names:
        if name.lower() in lower:
            return lower[name.lower()]
    return None


def time_column(table: pa.Table, chart: str) -> str:
    found = find_column(table, TIME_COLUMNS)
    if found is None:
        raise ValueError(
            f"{chart} needs a time column, one of {', '.join(TIME_COLUMNS)}; "
            f"the data has {_listed(table.column_names)}"
        )
    return found


def _listed(names: Sequence[str]) -> str:
    return "columns " + ", ".join(names) if names else "no columns"


def seconds(column: pa.ChunkedArray | pa.Array, name: str) -> np.ndarray[Any, Any]:
    """Unix seconds (float64, NaN where missing) of a time column."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            column = pc.cast(column, pa.timestamp("ns", tz="UTC"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise ValueError(f"time column {name!r}: text that is not a timestamp") from error
        kind = column.type
    if pa.types.is_date(kind):
        column = pc.cast(column, pa.timestamp("s"))
        kind = column.type
    if pa.types.is_timestamp(kind):
        # float64 seconds keep microseconds for the next few centuries: plenty for a chart.
        ints = pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False)
        out: np.ndarray[Any, Any] = ints.astype(np.float64) / _PER_SECOND[kind.unit]
        return out
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        # Unsafe: nanoseconds pass 2**53, and a chart needs no more than microseconds.
        values = pc.cast(column, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        scaled: np.ndarray[Any, Any] = values / _epoch_unit(values)
        return scaled
    raise ValueError(f"time column {name!r} is {kind}: give timestamps, dates or epoch numbers")


def _epoch_unit(values: np.ndarray[Any, Any]) -> int:
    """Epoch numbers' units per second, told by their size: seconds stay below 1e11 until
    the year 5138, milliseconds pass it from 1973, micro- and nanoseconds likewise."""
    finite = values[np.isfinite(values)]
    largest = float(np.abs(finite).max()) if finite.size else 0.0
    for limit, per_second in ((1e11, 1), (1e14, 1_000), (1e17, 1_000_000)):
        if largest < limit:
            return per_second
    return 1_000_000_000


def check_one_instrument(table: pa.Table, chart: str) -> None:
    """A frame of several instruments (bars() of a whole venue) would interleave their
    candles: refused, naming them."""
    name = find_column(table, ("instrument",))
    if name is None or table.num_rows == 0:
        return
    found = pc.unique(table.column(name).drop_null()).to_pylist()
    if len(found) > 1:
        shown = ", ".join(map(str, found[:5])) + (", ..." if len(found) > 5 else "")
        raise ValueError(
            f"{chart}: the data holds {len(found)} instruments ({shown}); chart one, e.g. "
            f"bars('1m', venue := 'kraken', symbol := 'BTC/USD') or a filter on {name!r}"
        )


def rows(
    table: pa.Table, time: str, columns: Mapping[str, str], *, unique: bool = True
) -> list[Row]:
    """Rows of ``{"time": seconds, key: value, ...}`` for ``columns`` (key -> the table's
    column), by time, none without a time; ``unique``: one per time, the last given."""
    if table.num_rows == 0:
        return []
    times = seconds(table.column(time), time)
    order = np.argsort(times, kind="stable")
    order = order[~np.isnan(times[order])]
    if unique and order.size:
        sorted_times = times[order]
        # The last of each run of equal times.
        order = order[np.append(sorted_times[1:] != sorted_times[:-1], True)]
    taken = pa.array(order)
    values = {key: _json_values(table.column(col).take(taken)) for key, col in columns.items()}
    out: list[Row] = []
    for i, t in enumerate(times[order].tolist()):
        row: Row = {"time": int(t) if t.is_integer() else t}
        for key, column in values.items():
            value = clean(column[i])
            if value is not None:
                row[key] = value
        out.append(row)
    return out


def clean(value: object) -> object:
    """A value JSON can carry: NaN and infinities are missing."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_values(column: pa.ChunkedArray) -> list[Any]:
    """A column's values as JSON types: DuckDB's DECIMAL sums as floats, instants as text."""
    kind = column.type
    if pa.types.is_decimal(kind):
        column = pc.cast(column, pa.float64())
    elif pa.types.is_temporal(kind):
        column = pc.cast(column, pa.string())
    values: list[Any] = column.to_pylist()
    return values
