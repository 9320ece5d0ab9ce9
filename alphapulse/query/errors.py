"""The query layer's errors, each one line: what DuckDB said, and where in the SQL."""

from __future__ import annotations

import re

#: DuckDB points at an error with a quoted line of the SQL and a caret under it.
_LINE = re.compile(r"^LINE (\d+): (.*)$")


class QueryError(Exception):
    """A query DuckDB refused or failed: its message on one line, with the position
    (``line L, column C`` of the SQL, 1-based) where DuckDB gives one."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.line = line
        self.column = column


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
    text = "; ".join(message) or type(error).__name__
    # A view over a damaged file fails with our own message (views.damaged_view_sql).
    text = text.removeprefix("Invalid Input Error: ") if "damaged lake file" in text else text
    return QueryError(f"{text}{where}{hint}", line=line, column=column)
