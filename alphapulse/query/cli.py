"""``alphapulse sql "select ..."``: a query over the lake from a terminal or a script.

On a terminal the result is an aligned table followed by the row count and the time the
query took; piped (or with ``--format csv``) it is CSV with a header, ``--format json`` a
JSON array of objects (values exact, nested types nested: see ``formats``). Timestamps
keep their nanoseconds (as text), lists and structs become JSON text in CSV, intervals
ISO 8601 durations; repeated column names become ``a``, ``a_1``. An error is one line on
stderr and exit 1 (exit 2: a usage error, an empty query among them).

This module imports DuckDB only when the command runs: ``alphapulse`` builds its parser,
and so imports this, for every command.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from alphapulse.arguments import path_argument

if TYPE_CHECKING:
    import pyarrow as pa

    from alphapulse.query.session import Session

FORMATS = ("table", "csv", "json")
#: Rows a terminal table shows unless --max-rows says otherwise.
TABLE_ROWS = 40
#: The widest a cell is shown in a terminal table.
CELL_WIDTH = 48


def row_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "query", help="the SQL, e.g. \"select * from bars('1m') limit 5\"; - reads stdin"
    )
    p.add_argument(
        "--lake", type=path_argument, help="lake directory (default: data/lake or $ALPHAPULSE_LAKE)"
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        help="output format (default: table on a terminal, csv otherwise)",
    )
    p.add_argument(
        "--max-rows",
        type=row_limit,
        help=f"print at most this many rows (default: {TABLE_ROWS} for a table, all otherwise)",
    )


def cmd_sql(args: argparse.Namespace) -> int:
    from alphapulse.query.errors import QueryError, is_empty_query
    from alphapulse.query.session import connect

    query = sys.stdin.read() if args.query == "-" else args.query
    if is_empty_query(query):
        print(
            'alphapulse sql: error: empty query: give the SQL, e.g. "select * from trades '
            'limit 5", or - and the SQL on stdin',
            file=sys.stderr,
        )
        return 2
    out = sys.stdout
    if out is None:  # started with stdout closed (>&-): run the query, print nothing
        out = io.StringIO()
    fmt = args.format or ("table" if out.isatty() else "csv")
    limit = args.max_rows if args.max_rows is not None else TABLE_ROWS if fmt == "table" else None
    with connect(args.lake) as session:
        started = time.perf_counter()
        try:
            if fmt == "csv":
                # Streamed: an export of the whole lake need not fit in memory.
                write_csv_batches(out, session, query, limit)
                return 0
            result = session.arrow(query)
        except QueryError as e:
            print(f"alphapulse sql: error: {e}", file=sys.stderr)
            return 1
        elapsed = time.perf_counter() - started
    shown = result if limit is None else result.slice(0, limit)
    if fmt == "table":
        write_table(out, shown, total=result.num_rows, elapsed=elapsed)
    else:
        write_json(out, shown)
    return 0


def write_csv_batches(out: TextIO, session: Session, query: str, limit: int | None) -> None:
    """The result as CSV, a batch at a time; DuckDB's errors as QueryError."""
    import duckdb
    import pyarrow as pa

    relation = session.sql(query)
    if relation is None:  # a statement with no result
        return
    try:
        if limit is not None:
            relation = relation.limit(limit)
        reader = relation.to_arrow_reader(batch_size=64 * 1024)
        first = True
        for batch in reader:
            write_csv(out, pa.Table.from_batches([batch]), header=first)
            first = False
        if first:  # no rows: the header still
            write_csv(out, reader.schema.empty_table(), header=True)
    except duckdb.Error as e:
        raise session.error_of(e, query) from None


def _as_text(table: pa.Table) -> pa.Table:
    """Columns CSV and JSON cannot carry exactly, as text: timestamps (with their
    nanoseconds), durations, lists, structs, maps, binaries."""
    import orjson
    import pyarrow as pa

    from alphapulse.query.formats import intervals_as_text, unique_names

    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_time(kind):
            column = column.cast(pa.string())
        elif pa.types.is_nested(kind):
            column = pa.array(
                [
                    None if v is None else orjson.dumps(v, default=str).decode()
                    for v in column.to_pylist()
                ],
                pa.string(),
            )
        elif pa.types.is_interval(kind):
            column = intervals_as_text(column)
        elif pa.types.is_duration(kind):
            column = pa.array(
                [None if v is None else str(v) for v in column.to_pylist()], pa.string()
            )
        elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            column = pa.array(
                [None if v is None else v.hex() for v in column.to_pylist()], pa.string()
            )
        columns.append(column)
    return pa.table(columns, names=unique_names(table.column_names))


def write_csv(out: TextIO, table: pa.Table, *, header: bool = True) -> None:
    import pyarrow.csv as csv

    options = csv.WriteOptions(include_header=header)
    sink = out.buffer if hasattr(out, "buffer") else None
    if sink is None:  # a text-only stream (a test's capture)
        buffer = io.BytesIO()
        csv.write_csv(_as_text(table), buffer, options)
        out.write(buffer.getvalue().decode())
    else:
        out.flush()
        csv.write_csv(_as_text(table), sink, options)
        sink.flush()


def write_json(out: TextIO, table: pa.Table) -> None:
    from alphapulse.query.formats import json_text

    out.write(json_text(table) + "\n")


def _cell(value: Any) -> str:
    text = "NULL" if value is None else str(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


def write_table(out: TextIO, table: pa.Table, *, total: int, elapsed: float) -> None:
    """Columns aligned (numbers to the right), a rule under the header, then a count."""
    import pyarrow as pa

    text = _as_text(table)
    names = text.column_names
    cells = [[_cell(v) for v in column.to_pylist()] for column in text.columns]
    numeric = [
        pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_decimal(f.type)
        for f in table.schema
    ]
    widths = [max([len(n), *map(len, col)]) for n, col in zip(names, cells, strict=True)]

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if right else v.ljust(w)
            for v, w, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    lines = [line(names), "  ".join("-" * w for w in widths)]
    lines += [line([col[i] for col in cells]) for i in range(table.num_rows)]
    more = total - table.num_rows
    count = f"{total:,} row{'s' if total != 1 else ''}"
    if more > 0:
        count += f" ({more:,} not shown: --max-rows)"
    lines.append(f"{count} in {elapsed * 1000:.1f} ms")
    out.write("\n".join(lines) + "\n")
