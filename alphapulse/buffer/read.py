"""The buffer read back as Arrow, in the lake's types, through ADBC's PostgreSQL driver.

ADBC fetches a query's result by binary COPY straight into Arrow buffers (no Python object
per row or value). COPY takes no bind parameters, and ADBC reads a query that has them
through its slower row path (340k against 620k rows/s for a symbol-hour here): so the
values of a read's conditions are written into its SQL as literals, by ``literal`` alone:
integers as ``int`` prints them, text as an escape string ``E'…'`` with backslashes and
quotes doubled (right whatever the session's ``standard_conforming_strings``), never
anything else. The buffer's columns then become the lake's types again: ``bigint``
nanoseconds -> ``timestamp[ns, UTC]``, ``bigint`` -> ``uint64`` (the same 64 bits),
``smallint`` -> ``uint8``; so a row read back equals the row the collector wrote.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa

from alphapulse.buffer.schema import Table, literal, quote, table

__all__ = ["connect", "fetch", "literal", "to_lake"]


def connect(dsn: str, timeout_s: int | None = None) -> Any:
    """An ADBC connection (DB-API) to the buffer's database; close it when done.
    ``timeout_s``: give up connecting after that long (libpq's ``connect_timeout``)."""
    if timeout_s is not None and "connect_timeout" not in dsn:
        option = f"connect_timeout={int(timeout_s)}"
        if dsn.startswith(("postgresql://", "postgres://")):  # a URI, else key=value pairs
            dsn += ("&" if "?" in dsn else "?") + option
        else:
            dsn += " " + option
    return adbc.connect(dsn, autocommit=True)


def to_lake(t: Table, raw: pa.Table) -> pa.Table:
    """``raw`` (a query's result over ``t``'s columns) in the lake's schema of ``t``."""
    columns = []
    for column, field in zip(raw.columns, t.arrow, strict=True):
        if column.type == field.type:
            columns.append(column)
        elif pa.types.is_list(field.type):
            columns.append(column.cast(field.type))
        else:  # safe=False: int64 -> uint64 keeps the bits, as the buffer stored them
            columns.append(column.cast(field.type, safe=False))
    return pa.Table.from_arrays(columns, schema=t.arrow)


def fetch(conn: Any, name: str, where: str = "true", params: Sequence[object] = ()) -> pa.Table:
    """Rows of buffer table ``name`` matching ``where`` (SQL with ``$1``… where ``params``
    go, each as a ``literal``), in ``ts_recv`` order (rows of one message, which share it,
    in the order they were written)."""
    t = table(name)
    columns = ", ".join(quote(c) for c in t.column_names)
    condition = re.sub(r"\$(\d+)", lambda m: literal(params[int(m.group(1)) - 1]), where)
    sql = f"SELECT {columns} FROM {t.qualified} WHERE {condition} ORDER BY ts_recv, ctid"
    with conn.cursor() as cursor:
        cursor.execute(sql)
        raw = cursor.fetch_arrow_table()
    return to_lake(t, raw)
