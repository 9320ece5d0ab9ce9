"""Values as ``alphapulse sql`` prints them: JSON that keeps every value exact, intervals
as ISO 8601 durations, and column names made unique (``a``, ``a_1``, as polars does).

JSON: integers and decimals (DECIMAL, HUGEINT) are JSON numbers written from their exact
digits (never through a float); timestamps are ISO 8601 text with ``T`` and all their
digits (``2026-03-02T10:00:00.123456789Z``, as ``alphapulse lake info --json``); dates and
times ISO text; intervals ISO 8601 durations (``P1Y2M3DT4H5M6.5S``); lists, structs and
maps nested JSON (a map as an object, its keys as text); blobs hex text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa

NS_PER_SECOND = 10**9


def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` with repeats suffixed ``_1``, ``_2``... (what ``Session.query`` gives)."""
    seen: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 0
        while candidate in seen:
            n += 1
            candidate = f"{name}_{n}"
        seen.add(candidate)
        out.append(candidate)
    return out


def iso_interval(value: Any) -> str:
    """A DuckDB INTERVAL (pyarrow MonthDayNano) as an ISO 8601 duration; each part keeps its
    own sign (``P-1M3D``), as DuckDB's intervals do."""
    months, days, nanos = value.months, value.days, value.nanoseconds
    years, months = int(months / 12), months - int(months / 12) * 12
    date_part = "".join(f"{n}{unit}" for n, unit in ((years, "Y"), (months, "M"), (days, "D")) if n)
    sign = "-" if nanos < 0 else ""
    seconds, nanos = divmod(abs(nanos), NS_PER_SECOND)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    time_part = "".join(f"{sign}{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n) + (
        f"{sign}{seconds}{fraction}S" if seconds or nanos else ""
    )
    if not date_part and not time_part:
        return "PT0S"
    return f"P{date_part}" + (f"T{time_part}" if time_part else "")


def intervals_as_text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return pa.array(
        [None if v is None else iso_interval(v) for v in column.to_pylist()], pa.string()
    )


def _json_value(value: Any) -> Any:
    """What orjson cannot write itself (inside lists, structs and maps too)."""
    if isinstance(value, Decimal):
        # The exact digits as a JSON number: a float would round HUGEINT and DECIMAL(38).
        return orjson.Fragment(format(value, "f"))
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dt.timedelta):
        seconds = value // dt.timedelta(microseconds=1) * 1000
        return iso_interval(pa.scalar((0, 0, seconds), pa.month_day_nano_interval()).as_py())
    if hasattr(value, "months") and hasattr(value, "nanoseconds"):
        return iso_interval(value)
    if isinstance(value, list) and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return {str(k): v for k, v in value}  # a map's entries
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _column_values(field: pa.Field, column: pa.ChunkedArray) -> list[Any]:
    kind = field.type
    if pa.types.is_timestamp(kind):
        text = column.cast(pa.string()).to_pylist()  # every digit, which datetime lacks
        return [None if t is None else t.replace(" ", "T", 1) for t in text]
    if pa.types.is_date(kind) or pa.types.is_time(kind):
        dates: list[Any] = column.cast(pa.string()).to_pylist()
        return dates
    if pa.types.is_map(kind):
        return [None if v is None else {str(k): x for k, x in v} for v in column.to_pylist()]
    values: list[Any] = column.to_pylist()
    return values


def json_text(table: pa.Table) -> str:
    """``table`` as a JSON array of objects, one a row (see the module docstring)."""
    names = unique_names(table.column_names)
    columns = [_column_values(f, c) for f, c in zip(table.schema, table.columns, strict=True)]
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    option = orjson.OPT_PASSTHROUGH_DATETIME
    return orjson.dumps(rows, default=_json_default, option=option).decode()


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return _json_value(value)
