"""The query layer's errors, each one line: what DuckDB said, and where in the SQL."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

# Imported when used: ``alphapulse.query`` (and so this) loads without the query engine.
if TYPE_CHECKING:
    import duckdb

#: DuckDB points at an error with a quoted line of the SQL and a caret under it.
_LINE = re.compile(r"^LINE (\d+): (.*)$")
#: The most of DuckDB's further lines (hints such as "Did you mean") kept in the message;
#: the rest (a list of every overload of "-", 3 KB) stays in ``QueryError.details``.
_MAX_EXTRA = 200
#: Timestamps do not subtract in DuckDB 2.0 (no '-' for TIMESTAMPTZ_NS): say what does.
_TIMESTAMP_MINUS = re.compile(r"'-\(TIMESTAMP(TZ)?(_NS)?, TIMESTAMP(TZ)?(_NS)?\)'")


class QueryError(Exception):
    """A query DuckDB refused or failed: its message on one line, with the position
    (``line L, column C`` of the SQL, 1-based) where DuckDB gives one."""

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        details: str | None = None,
    ):
        super().__init__(message)
        self.line = line
        self.column = column
        #: DuckDB's whole message (candidate lists and all), for when the line is not enough.
        self.details = message if details is None else details


def query_error(error: Exception, *, hint: str = "") -> QueryError:
    """DuckDB's multi-line error as a one-line QueryError (``hint`` appended)."""
    lines = str(error).splitlines()
    message: list[str] = []
    line = column = None
    i = 0
    while i < len(lines):
        text = lines[i]
        found = _LINE.match(text)
        if found is not None:
            line = int(found.group(1))
            caret = lines[i + 1] if i + 1 < len(lines) else ""
            if caret.strip() and set(caret.strip()) == {"^"}:
                # The caret sits under the quoted SQL, which starts after "LINE n: ".
                column = caret.index("^") - len(f"LINE {line}: ") + 1
                i += 1
        elif text.strip():
            message.append(text.strip())
        i += 1
    where = f" (line {line}, column {column})" if line is not None and column else ""
    kept = message[:1]
    for extra in message[1:]:
        if (
            extra.startswith("Candidate functions")
            or len("; ".join([*kept[1:], extra])) > _MAX_EXTRA
        ):
            break
        kept.append(extra)
    text = "; ".join(kept) or type(error).__name__
    # A damaged file's bytes can end up in the message: keep the line printable.
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    if _TIMESTAMP_MINUS.search(text):
        hint += "; for the time between two timestamps in ns: epoch_ns(a) - epoch_ns(b)"
    # A view over a damaged file fails with our own message (views.damaged_view_sql).
    text = text.removeprefix("Invalid Input Error: ") if "damaged lake file" in text else text
    return QueryError(f"{text}{where}{hint}", line=line, column=column, details=str(error))


#: A file DuckDB names in an error message.
QUOTED_PARQUET = re.compile(r"['\"]([^'\"]+\.parquet)['\"]")


def is_empty_query(query: str) -> bool:
    """No statement at all: blank, only ``;`` or only comments (DuckDB would return
    nothing and say nothing)."""
    import duckdb

    try:
        return not duckdb.extract_statements(query)
    except duckdb.Error:
        return False  # a syntax error: the query reports it with its position


#: The views the macros read, by the words that call them.
_MACROS = {"trades": "bars(", "book_deltas": "book_top("}


def is_read_failure(error: duckdb.Error) -> bool:
    """DuckDB failed to decode a file it read (a damaged page), without naming the file:
    such errors come as the base class or an IO/internal error, never as a user's error
    (those are Binder, Parser, Conversion, InvalidInput... exceptions)."""
    import duckdb

    if ".parquet" in str(error):
        return False
    return type(error) in (duckdb.Error, duckdb.IOException, duckdb.InternalException)


def views_read_by(query: str) -> list[str]:
    """The views ``query`` names (a macro names the view it reads), in VIEWS order."""
    from alphapulse.query.views import VIEWS

    text = query.lower()
    return [
        view
        for view in VIEWS
        if re.search(rf"\b{view}\b", text) or (view in _MACROS and _MACROS[view] in text)
    ]
