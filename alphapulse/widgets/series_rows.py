"""The rows of each kind of series, and of markers, from any frame (see chart_data).

Bars need a time column and open, high, low, close (volume if there is one); a line or
a histogram needs a time and one value column; markers need a time, and take their look
from a side (a trade's aggressor) unless the frame gives position, shape and colour.
"""

from __future__ import annotations

from typing import Any, Final

import pyarrow as pa

from alphapulse.widgets.chart_data import (
    OHLC,
    TIME_COLUMNS,
    Row,
    check_one_instrument,
    find_column,
    rows,
    time_column,
    to_table,
)

SERIES_KINDS: Final = ("candlestick", "line", "histogram")
MARKER_POSITIONS: Final = (
    "aboveBar",
    "belowBar",
    "inBar",
    "atPriceTop",
    "atPriceBottom",
    "atPriceMiddle",
)
MARKER_SHAPES: Final = ("circle", "square", "arrowUp", "arrowDown")
#: A marker's look by the side of its trade (the aggressor's); the candles' own colours.
_BY_SIDE: Final = {
    "buy": ("belowBar", "arrowUp", "#26a69a"),
    "sell": ("aboveBar", "arrowDown", "#ef5350"),
}
_OTHER: Final = ("aboveBar", "circle", "#2196f3")


def bar_rows(table: pa.Table, chart: str) -> list[Row]:
    """``{"time", "open", "high", "low", "close"[, "volume"]}`` rows of a bars frame."""
    if table.num_columns == 0:
        return []
    time = time_column(table, chart)
    columns = {name: find_column(table, (name,)) for name in (*OHLC, "volume")}
    missing = [name for name in OHLC if columns[name] is None]
    if missing:
        raise ValueError(
            f"{chart} needs columns open, high, low and close: {', '.join(missing)} missing "
            f"(the data has columns {', '.join(table.column_names)})"
        )
    found = {key: name for key, name in columns.items() if name is not None}
    for key, name in found.items():
        _check_numeric(table, name, f"{chart}: {key}")
    check_one_instrument(table, chart)
    return rows(table, time, found)


def point_rows(table: pa.Table, name: str, chart: str) -> list[Row]:
    """``{"time", "value"[, "color"]}`` rows: the value is the column called ``value`` or
    ``name``, else the frame's one numeric column, else ``close``."""
    if table.num_columns == 0:
        return []
    time = time_column(table, chart)
    value = find_column(table, ("value", name))
    if value is None:
        numeric = [
            c
            for c in table.column_names
            if c.lower() not in TIME_COLUMNS and _is_number(table.schema.field(c).type)
        ]
        value = numeric[0] if len(numeric) == 1 else find_column(table, ("close",))
        if value is None:
            raise ValueError(
                f"{chart}: which column is the value? Name it 'value' or {name!r} "
                f"(numeric columns: {', '.join(numeric) or 'none'})"
            )
    _check_numeric(table, value, chart)
    check_one_instrument(table, chart)
    columns = {"value": value}
    color = find_column(table, ("color",))
    if color is not None:
        columns["color"] = color
    return rows(table, time, columns)


def marker_rows(data: object) -> list[Row]:
    """Markers from a list of dicts or a frame (trades, signals), by time; several may
    share a time. Columns used when present: position, shape, color, text, price, and
    side (or aggressor): buy draws an arrow up below the bar, sell one down above it."""
    table = to_table(data)
    if table.num_rows == 0:
        return []
    time = time_column(table, "set_markers")
    keys = ("position", "shape", "color", "text", "price", "side", "aggressor")
    columns = {k: c for k in keys if (c := find_column(table, (k,))) is not None}
    out: list[Row] = []
    for row in rows(table, time, columns, unique=False):
        side = str(row.pop("side", None) or row.pop("aggressor", None) or "").lower()
        row.pop("aggressor", None)
        position, shape, color = _BY_SIDE.get(side, _OTHER)
        marker: Row = {
            "time": row["time"],
            "position": row.get("position", position),
            "shape": row.get("shape", shape),
            "color": row.get("color", color),
            "text": str(row.get("text", "")),
        }
        if marker["position"] not in MARKER_POSITIONS:
            raise ValueError(
                f"set_markers: position is one of {', '.join(MARKER_POSITIONS)}, "
                f"not {marker['position']!r}"
            )
        if marker["shape"] not in MARKER_SHAPES:
            raise ValueError(
                f"set_markers: shape is one of {', '.join(MARKER_SHAPES)}, not {marker['shape']!r}"
            )
        if str(marker["position"]).startswith("atPrice"):
            if "price" not in row:
                raise ValueError(f"set_markers: position {marker['position']} needs a price")
            marker["price"] = float(row["price"])
        out.append(marker)
    return out


def apply_row(data: list[Row], row: Row) -> bool:
    """The front end's rule for one row (extension/charts/src/series_data.ts): a newer time
    is appended, the last time replaced, an older one ignored (False)."""
    if not data or row["time"] > data[-1]["time"]:
        data.append(row)
        return True
    if row["time"] == data[-1]["time"]:
        data[-1] = row
        return True
    return False


def _is_number(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    )


def _check_numeric(table: pa.Table, column: str, what: str) -> None:
    kind: Any = table.schema.field(column).type
    if not (_is_number(kind) or pa.types.is_null(kind)):
        raise ValueError(f"{what}: column {column!r} is {kind}, not numbers")
