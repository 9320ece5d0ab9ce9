"""The buffer read back as Arrow, in the lake's types, through ADBC's PostgreSQL driver.

ADBC fetches a query's result by binary COPY straight into Arrow buffers (no Python object
per row or value). The buffer's columns then become the lake's types again: ``bigint``
nanoseconds -> ``timestamp[ns, UTC]``, ``bigint`` -> ``uint64`` (the same 64 bits),
``smallint`` -> ``uint8``; so a row read back equals the row the collector wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa

from alphapulse.buffer.schema import Table, quote, table


def connect(dsn: str) -> Any:
    """An ADBC connection (DB-API) to the buffer's database; close it when done."""
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


def fetch(conn: Any, name: str, where: str = "true", params: Sequence[Any] = ()) -> pa.Table:
    """Rows of buffer table ``name`` matching ``where`` (SQL with ``$1``… placeholders for
    ``params``: values never go into the SQL text), in ``ts_recv`` order (rows of one
    message, which share it, in the order they were written)."""
    t = table(name)
    columns = ", ".join(quote(c) for c in t.column_names)
    sql = f"SELECT {columns} FROM {t.qualified} WHERE {where} ORDER BY ts_recv, ctid"
    with conn.cursor() as cursor:
        cursor.execute(sql, list(params))
        raw = cursor.fetch_arrow_table()
    return to_lake(t, raw)
