"""Read-only SQL over the lake for the server's query endpoint: one SELECT at a time on a
private session, at most ``max_rows`` rows, stopped after ``timeout_s``.

Two guards, each enough for what it covers:

- The statement: ``duckdb.extract_statements`` must find exactly one statement, of type
  SELECT (``from t``, ``values``, ``describe``, ``summarize`` and ``show`` are SELECTs too),
  and that parsed statement is what runs. This is what stops COPY, ATTACH, INSTALL, LOAD,
  SET, PRAGMA, CALL, CREATE, DROP and INSERT, and ``select 1; drop view trades``.
- The connection, locked after the session has built its views and macros:
  ``enable_external_access = false`` (no file, network or extension access, no Python
  replacement scans), ``allowed_directories`` = the lake (its views' files; DuckDB lets
  them be written as well as read, which the statement check forbids), then
  ``lock_configuration = true`` so no SET or RESET can undo it. What a SELECT can still
  reach outside the views (``read_csv('/etc/passwd')``, ``glob('/etc/*')``) fails with
  DuckDB's permission error, raised here as SQLRejected. The session's refresh (new
  views over new files) runs under the lock: creating a view is not configuration.

JSON (``QueryResult.to_json``) keeps every value exact for a browser's ``JSON.parse``:

- an integer column is JSON numbers when every value is within ±(2**53 - 1), which a
  double holds exactly; otherwise the whole column is decimal strings;
- a DECIMAL of precision ≤ 15 is a JSON number (a double prints its digits back), a wider
  one (and HUGEINT) decimal strings;
- timestamps ISO 8601 text with all their digits (``2026-03-02T10:00:00.123456789Z`` for a
  zoned one, which the session gives in UTC), dates and times ISO text, intervals ISO 8601
  durations, blobs hex, NaN and ±inf null; lists and structs nested JSON, a map a list of
  ``{"key", "value"}`` objects (its keys keep their type). Nested values follow the same
  rules.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from alphapulse.query import QueryError, Session, connect
from alphapulse.query.errors import query_error
from alphapulse.query.formats import iso_interval
from alphapulse.query.views import sql_string

#: The largest integer magnitude a double (a JavaScript number) holds exactly.
_EXACT_IN_DOUBLE: Final = 2**53 - 1
#: The widest DECIMAL whose digits a double prints back unchanged.
_DOUBLE_DIGITS: Final = 15
#: Schema metadata keys of the Arrow IPC answer.
TRUNCATED_KEY: Final = b"alphapulse.truncated"
ELAPSED_KEY: Final = b"alphapulse.elapsed_ms"
#: Seconds a schema answer is reused. Computing it costs ~2 ms (a stat of the lake, one
#: catalog query) but takes the session's lock, and an editor asks on every completion.
SCHEMA_MAX_AGE_S: Final = 2.0
#: The views a query names, not the ``_alphapulse_`` ones the views and macros are built on
#: (the same names the session offers for completion).
_SCHEMA_SQL: Final = (
    "select table_name, column_name, data_type from duckdb_columns() "
    "where not internal and not starts_with(table_name, '_alphapulse') "
    "order by table_name, column_index"
)


class SQLRejected(ValueError):  # noqa: N818 (the handler's names)
    """Not one read-only SELECT over the lake (HTTP 400); the message says why."""


class SQLTimeout(TimeoutError):  # noqa: N818 (the handler's names)
    """The query ran past its timeout and was interrupted (HTTP 504)."""


class SQLFailed(ValueError):  # noqa: N818 (the handler's names)
    """DuckDB's own error (syntax, unknown column...) on one line (HTTP 400)."""


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table  # at most max_rows rows
    truncated: bool  # more rows existed
    elapsed_s: float

    def to_json(self) -> bytes:
        """``{"columns": [{"name", "type"}], "rows": [[...]], "row_count", "truncated",
        "elapsed_ms"}``: a column's type is its Arrow type; values as the module says."""
        values = [_jsonable(column.combine_chunks()).to_pylist() for column in self.table.columns]
        answer = {
            "columns": [{"name": f.name, "type": str(f.type)} for f in self.table.schema],
            "rows": list(zip(*values, strict=True)),
            "row_count": self.table.num_rows,
            "truncated": self.truncated,
            "elapsed_ms": round(self.elapsed_s * 1000, 3),
        }
        return orjson.dumps(answer, default=_json_default)

    def to_arrow_ipc(self) -> bytes:
        """The table as an Arrow IPC stream; ``alphapulse.truncated`` (``true``/``false``)
        and ``alphapulse.elapsed_ms`` in its schema's metadata."""
        metadata = dict(self.table.schema.metadata or {})
        metadata[TRUNCATED_KEY] = b"true" if self.truncated else b"false"
        metadata[ELAPSED_KEY] = f"{self.elapsed_s * 1000:.3f}".encode()
        table = self.table.replace_schema_metadata(metadata)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return bytes(sink.getvalue())


class ReadOnlySQL:
    """Read-only SQL on a private, locked session over ``lake``; see the module docstring.

    ``max_rows`` and ``timeout_s`` are the defaults and the ceilings: ``run`` may ask for
    fewer rows or less time, never more. Thread-safe: queries run one at a time, and the
    wait for the session counts against a query's timeout."""

    def __init__(self, lake: Path, *, max_rows: int = 100_000, timeout_s: float = 30.0) -> None:
        self.max_rows = _check_rows(max_rows)
        self.timeout_s = _check_timeout(timeout_s)
        self._session: Session = connect(lake)
        try:
            _lock_down(self._session)
        except BaseException:
            self._session.close()
            raise
        self._busy = threading.Lock()  # one query at a time on the connection
        self._state = threading.Lock()  # guards _running against the timer
        self._running = False
        self._interrupted: str | None = None  # why the running query was interrupted
        self._closed = False
        self._schema: tuple[float, list[dict[str, Any]]] | None = None  # (when, tables)

    def run(
        self, sql: str, *, max_rows: int | None = None, timeout_s: float | None = None
    ) -> QueryResult:
        """Run one SELECT: its first ``max_rows`` rows, or SQLRejected, SQLFailed,
        SQLTimeout."""
        rows = self.max_rows if max_rows is None else min(_check_rows(max_rows), self.max_rows)
        limit = (
            self.timeout_s if timeout_s is None else min(_check_timeout(timeout_s), self.timeout_s)
        )
        statement = _one_select(sql)
        started = time.perf_counter()
        if not self._busy.acquire(timeout=limit):
            raise SQLTimeout(f"the SQL session stayed busy with other queries for {limit:g} s")
        try:
            if self._closed:
                raise SQLFailed("the SQL session is closed")
            try:
                self._session.refresh()  # outside the timer: an interrupt must not cut it
            except QueryError as e:
                raise SQLFailed(str(e)) from None
            left = max(limit - (time.perf_counter() - started), 0.001)
            timer = threading.Timer(left, self._interrupt, kwargs={"why": "timeout"})
            timer.daemon = True
            with self._state:
                self._running, self._interrupted = True, None
            timer.start()
            try:
                table, truncated = self._read(statement, rows)
            except (duckdb.Error, pa.ArrowException, OSError) as e:
                # An error inside the stream comes through pyarrow's reader as a plain
                # OSError with DuckDB's text.
                if self._interrupted == "timeout":
                    raise SQLTimeout(f"the query ran past its timeout of {limit:g} s") from None
                if self._interrupted == "close":
                    raise SQLFailed("the SQL session was closed during the query") from None
                raise self._failure(e, statement.query) from None
            finally:
                with self._state:
                    self._running = False
                timer.cancel()
        finally:
            self._busy.release()
        return QueryResult(table, truncated, time.perf_counter() - started)

    def schema(self) -> list[dict[str, Any]]:
        """``[{"name", "columns": [{"name", "type"}]}]``: the views a query can name, by
        name, each with its columns in order and their DuckDB types (``TIMESTAMPTZ_NS``),
        after a refresh. Reused for ``SCHEMA_MAX_AGE_S``, and while a query holds the
        session: completion never waits on someone's 30 s query. Shared: do not change it."""
        cached = self._schema
        if cached is not None and time.monotonic() - cached[0] < SCHEMA_MAX_AGE_S:
            return cached[1]
        if not self._busy.acquire(timeout=0 if cached is not None else self.timeout_s):
            if cached is not None:
                return cached[1]
            raise SQLTimeout(f"the SQL session stayed busy with queries for {self.timeout_s:g} s")
        try:
            if self._closed:
                raise SQLFailed("the SQL session is closed")
            as_of = time.monotonic()  # the lake as listed now, however long the rest takes
            try:
                self._session.refresh()
                rows = self._session.con.execute(_SCHEMA_SQL).fetchall()
            except QueryError as e:
                raise SQLFailed(str(e)) from None
            except duckdb.Error as e:
                raise SQLFailed(str(query_error(e))) from None
        finally:
            self._busy.release()
        columns: dict[str, list[dict[str, str]]] = {}
        for table, column, kind in rows:
            columns.setdefault(table, []).append({"name": column, "type": kind})
        tables = [{"name": name, "columns": cols} for name, cols in columns.items()]
        self._schema = (as_of, tables)
        return tables

    def _read(self, statement: duckdb.Statement, max_rows: int) -> tuple[pa.Table, bool]:
        """The first ``max_rows`` rows, read through a batch reader: DuckDB stops producing
        once the row past the cap has arrived."""
        relation = self._session.con.sql(statement)
        assert relation is not None  # a SELECT always has a result
        reader = relation.to_arrow_reader(batch_size=min(max_rows + 1, 1_000_000))
        batches, count = [], 0
        for batch in reader:
            batches.append(batch)
            count += batch.num_rows
            if count > max_rows:
                break
        reader.close()
        table = pa.Table.from_batches(batches, schema=reader.schema)
        return table.slice(0, max_rows), count > max_rows

    def _failure(self, error: Exception, query: str) -> SQLRejected | SQLFailed:
        line = str(query_error(error))
        if isinstance(error, duckdb.PermissionException) or line.startswith("Permission Error"):
            return SQLRejected(f"{line}: the SQL endpoint reads only the lake")
        if isinstance(error, duckdb.Error):  # a damaged lake file named, with what to do
            line = str(self._session.error_of(error, query))
        return SQLFailed(line)

    def _interrupt(self, why: str) -> None:
        with self._state:
            if self._running:  # never a later query: the flag drops before the next starts
                self._interrupted = why
                self._session.con.interrupt()

    def close(self) -> None:
        """Interrupt a running query, then close the session."""
        self._interrupt("close")
        with self._busy:
            if not self._closed:
                self._closed = True
                self._session.close()

    def __repr__(self) -> str:
        limits = f"max_rows={self.max_rows} timeout_s={self.timeout_s:g}"
        return f"<ReadOnlySQL {self._session.lake} {limits}>"


def _lock_down(session: Session) -> None:
    lake = session.lake
    allowed = ", ".join(sql_string(str(p)) for p in dict.fromkeys([lake, lake.resolve()]))
    for setting in (
        f"set allowed_directories = [{allowed}]",
        "set enable_external_access = false",
        "set python_enable_replacements = false",
        "set autoinstall_known_extensions = false",
        "set autoload_known_extensions = false",
        "set lock_configuration = true",  # last: nothing can be set after it
    ):
        session.con.execute(setting)


def _one_select(sql: str) -> duckdb.Statement:
    if not isinstance(sql, str):
        raise TypeError(f"sql must be a str, not {type(sql).__name__}")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as e:
        raise SQLFailed(str(query_error(e))) from None
    if not statements:
        raise SQLRejected("empty query: give one SELECT, e.g. select * from trades limit 5")
    if len(statements) > 1:
        raise SQLRejected(f"{len(statements)} statements: give exactly one SELECT")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise SQLRejected(f"a {kind.name} statement: the SQL endpoint runs only a SELECT")
    return statements[0]


def _check_rows(max_rows: int) -> int:
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 0:
        raise ValueError(f"max_rows must be an integer ≥ 0, not {max_rows!r}")
    return max_rows


def _check_timeout(timeout_s: float) -> float:
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float):
        raise ValueError(f"timeout_s must be a number of seconds, not {timeout_s!r}")
    if not (timeout_s > 0 and math.isfinite(timeout_s)):
        raise ValueError(f"timeout_s must be a positive number of seconds, not {timeout_s!r}")
    return float(timeout_s)


def _jsonable(array: pa.Array) -> pa.Array:
    """``array`` with what JSON cannot carry exactly turned to text (see the module
    docstring); nested arrays are rebuilt around their converted children."""
    kind = array.type
    if isinstance(kind, pa.ExtensionType):
        return _jsonable(array.storage)
    if pa.types.is_dictionary(kind):
        return _jsonable(array.dictionary_decode())
    if pa.types.is_timestamp(kind):
        if kind.tz is not None:  # zoned: as UTC, which the Z says
            array = array.cast(pa.timestamp(kind.unit, "UTC"))
        # Arrow writes every digit of the unit (and Z when zoned); ISO 8601 wants the T.
        return pc.replace_substring(array.cast(pa.string()), " ", "T", max_replacements=1)
    if pa.types.is_date(kind) or pa.types.is_time(kind):
        return array.cast(pa.string())
    if pa.types.is_decimal(kind):
        return array.cast(pa.float64() if kind.precision <= _DOUBLE_DIGITS else pa.string())
    if pa.types.is_integer(kind) and kind.bit_width == 64:
        low, high = pc.min_max(array).values()
        if (high.as_py() or 0) > _EXACT_IN_DOUBLE or (low.as_py() or 0) < -_EXACT_IN_DOUBLE:
            return array.cast(pa.string())
        return array
    mask = array.is_null() if array.null_count else None
    if pa.types.is_list(kind):
        return pa.ListArray.from_arrays(array.offsets, _jsonable(array.values), mask=mask)
    if pa.types.is_large_list(kind):
        return pa.LargeListArray.from_arrays(array.offsets, _jsonable(array.values), mask=mask)
    if pa.types.is_map(kind):
        keys, items = _jsonable(array.keys), _jsonable(array.items)
        pairs = pa.StructArray.from_arrays([keys, items], names=["key", "value"])
        return pa.ListArray.from_arrays(array.offsets, pairs, mask=mask)
    if pa.types.is_fixed_size_list(kind):
        size = kind.list_size
        values = array.values.slice(array.offset * size, len(array) * size)
        return pa.FixedSizeListArray.from_arrays(_jsonable(values), size, mask=mask)
    if pa.types.is_struct(kind):
        names = [kind.field(i).name for i in range(kind.num_fields)]
        children = [_jsonable(child) for child in array.flatten()]
        return pa.StructArray.from_arrays(children, names=names, mask=mask)
    return array


def _json_default(value: Any) -> Any:
    """What orjson cannot write itself: blobs and intervals."""
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "months") and hasattr(value, "nanoseconds"):
        return iso_interval(value)
    return str(value)
