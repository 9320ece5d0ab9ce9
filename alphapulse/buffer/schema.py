"""The buffer's tables: the lake's event tables, column for column, in PostgreSQL types.

Each table mirrors one lake table (``_core.event_schema``), so the export to the lake and
the query layer's union with it need no mapping beyond these types. Where PostgreSQL has no
exact type the column keeps the exact value in a wider or reinterpreted one:

- ``timestamp[ns]`` and ``duration[ns]`` are ``bigint`` nanoseconds: ``timestamptz`` keeps
  only microseconds, and the lake's rows must come back bit for bit.
- ``uint64`` (trade ids, sequences, news ids) is ``bigint`` holding the same 64 bits
  (values above 2^63 read back negative in SQL; Arrow's uint64 view of them is exact).
- ``uint8`` precisions are ``smallint``; ``list<string>`` is ``text[]``.

The buffer's ``events`` table is the lake's ``events``: the collector's event log
(``alphapulse.eventlog``), which also carries the venues' integrity statuses (gaps, resyncs,
checksum failures) as events. Until schema version 5 it held the raw ``statuses``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from alphapulse import _core
from alphapulse.eventlog import SCHEMA as EVENT_LOG_SCHEMA

SCHEMA = "alphapulse_buffer"
DAY_NS = 86_400 * 1_000_000_000

# buffer table -> the lake table it mirrors
LAKE_TABLE = {
    "trades": "trades",
    "quotes": "quotes",
    "book_deltas": "book_deltas",
    "bars": "bars",
    "news": "news",
    "events": "events",
}
TABLES = tuple(LAKE_TABLE)


@dataclass(frozen=True)
class Column:
    name: str
    arrow: pa.DataType
    nullable: bool

    @property
    def pg_type(self) -> str:
        return pg_type(self.arrow)


@dataclass(frozen=True)
class Table:
    name: str
    arrow: pa.Schema
    columns: tuple[Column, ...]

    @property
    def has_symbol(self) -> bool:
        return any(c.name == "symbol" for c in self.columns)

    @property
    def qualified(self) -> str:
        return f"{quote(SCHEMA)}.{quote(self.name)}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def pg_type(arrow: pa.DataType) -> str:
    """The PostgreSQL type of one Arrow type of the lake (see the module's docstring)."""
    if pa.types.is_timestamp(arrow) or pa.types.is_duration(arrow):
        return "bigint"
    if pa.types.is_integer(arrow):
        return "smallint" if arrow.bit_width <= 16 else "bigint"
    if pa.types.is_floating(arrow):
        return "double precision"
    if pa.types.is_boolean(arrow):
        return "boolean"
    if pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
        return "text"
    if pa.types.is_list(arrow) and pa.types.is_string(arrow.value_type):
        return "text[]"
    raise TypeError(f"the buffer has no PostgreSQL type for Arrow {arrow}")


def quote(identifier: str) -> str:
    """An identifier quoted for SQL; ours are constants of this module (no user input)."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: object) -> str:
    """``value`` (an int, a str or a list of str) as a SQL literal; TypeError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | str | list):
        raise TypeError(f"no SQL literal for {type(value).__name__} values")
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(literal(str(v)) for v in value) + "]::text[]"
    if "\x00" in value:
        raise ValueError("text with a NUL character cannot be in PostgreSQL")
    # An escape string: right whatever standard_conforming_strings says (a pooler can put
    # a query on a server connection with other settings).
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def table(name: str) -> Table:
    """The buffer table ``name`` (one of ``TABLES``); a one-line KeyError otherwise."""
    if name not in LAKE_TABLE:
        raise KeyError(f"no buffer table {name!r} (tables: {', '.join(TABLES)})")
    lake_table = LAKE_TABLE[name]
    arrow = (
        EVENT_LOG_SCHEMA if lake_table == "events" else pa.schema(_core.event_schema(lake_table))
    )
    columns = tuple(Column(f.name, f.type, f.nullable) for f in arrow)
    return Table(name, arrow, columns)


def create_table_sql(t: Table, partitioned: bool) -> str:
    cols = ",\n    ".join(
        f"{quote(c.name)} {c.pg_type}{'' if c.nullable else ' NOT NULL'}" for c in t.columns
    )
    tail = " PARTITION BY RANGE (ts_recv)" if partitioned else ""
    return f"CREATE TABLE {t.qualified} (\n    {cols}\n){tail}"


def index_sql(t: Table) -> str:
    """The readers' index: one symbol's rows in time order (news has no symbol: venue)."""
    keys = "venue, symbol, ts_recv" if t.has_symbol else "venue, ts_recv"
    return f"CREATE INDEX {quote(t.name + '_venue_symbol_ts')} ON {t.qualified} ({keys})"
