"""The notebook's DataFrames as tables of a query, and a query's result as a DataFrame.

DuckDB's own lookup of Python objects (replacement scans) sees only the variables of the
function calling it, never the user's namespace; the frames a query names are registered
on the connection for that query, and unregistered after it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any, Final

import duckdb
import pyarrow as pa

from alphapulse.magics.errors import ErrorView, Located, ShownError
from alphapulse.magics.sqltext import Composed, Name, Scan

#: The classes of the namespace's objects a query may name as tables, by module.
FRAME_TYPES: Final = {
    "pandas": {"DataFrame"},
    "polars": {"DataFrame", "LazyFrame"},
    "pyarrow": {"Table", "RecordBatch", "RecordBatchReader", "FileSystemDataset"},
}


def is_frame(value: object) -> bool:
    """A pandas/polars DataFrame, a polars LazyFrame or a pyarrow Table (or batch, reader,
    dataset), told by its class without importing pandas or polars."""
    kind = type(value)
    return kind.__name__ in FRAME_TYPES.get(kind.__module__.partition(".")[0], ())


def frame_names(ns: Mapping[str, Any]) -> list[str]:
    """The namespace's public names bound to frames."""
    return [k for k, v in ns.items() if not k.startswith("_") and is_frame(v)]


def frame_columns(frame: Any) -> list[str]:
    """The column names of a pandas or polars frame or a pyarrow table."""
    if hasattr(frame, "column_names"):
        return list(frame.column_names)
    if hasattr(frame, "collect_schema"):  # a LazyFrame: its schema, without running it
        return list(frame.collect_schema().names())
    return [str(c) for c in frame.columns]


def register(
    con: duckdb.DuckDBPyConnection,
    ns: Mapping[str, Any],
    names: Iterable[Name],
    shadowing: frozenset[str],
) -> list[str]:
    """Register the frames of ``ns`` that ``names`` refer to; return their names.

    A table or view of the connection, or a name in ``shadowing`` (the snippets), wins
    over a frame of the same name: a frame never hides the lake's views."""
    wanted = [
        n.text
        for n in names
        if not n.qualified and n.text.lower() not in shadowing and is_frame(ns.get(n.text))
    ]
    if not wanted:
        return []
    tables = con.execute("select lower(table_name) from information_schema.tables").fetchall()
    known = {row[0] for row in tables}
    registered: list[str] = []
    for name in dict.fromkeys(wanted):
        if name.lower() not in known:
            con.register(name, ns[name])
            registered.append(name)
    return registered


def unregister(con: duckdb.DuckDBPyConnection, names: Iterable[str]) -> None:
    for name in names:
        with contextlib.suppress(duckdb.Error):  # the connection has since closed
            con.unregister(name)


def converted(table: pa.Table, output: str) -> Any:
    """``table`` as the ``output`` type: polars (no copy), pandas or arrow."""
    if output == "arrow":
        return table
    if output == "pandas":
        return table.to_pandas()
    import polars as pl

    return pl.from_arrow(table)


def parameter_values(
    found: Scan, sql: str, composed: Composed, ns: Mapping[str, Any]
) -> dict[str, object]:
    """The values of the ``$name``/``{name}`` references of ``composed`` (``found``), from
    the user's namespace ``ns``; errors point into the cell's ``sql``."""
    shift = len(composed.sql) - len(sql)  # the snippets' CTEs before the user's text
    values: dict[str, object] = {}
    for p in found.params:
        start = p.start - shift if p.start >= shift else None
        end = p.end - shift if start is not None else None
        problem = ""
        if p.name not in ns:
            problem = (
                f"${p.name}: no variable {p.name!r} in the namespace: define it first "
                "(its value is bound as a query parameter)"
            )
        elif is_frame(ns[p.name]):
            problem = (
                f"${p.name} is a DataFrame: name it as a table (FROM {p.name}), without $ or {{}}"
            )
        if problem:
            located = Located("Error", problem, start, (end or 0) - (start or 0))
            raise ShownError(ErrorView(located, sql))
        values[p.name] = ns[p.name]
    return values
