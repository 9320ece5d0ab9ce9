"""Errors as the magics show them: one block, DuckDB's message and a caret under the SQL.

DuckDB quotes the offending line of the SQL it ran (``LINE 3: ...``, shortened with
``...`` around long lines) with carets under the spot. The magics run the user's SQL after
the CTEs of saved snippets, so the line is mapped back to the cell (``line_offset``) and
the caret is placed under the cell's own text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from alphapulse.magics.sqltext import scan

_LINE: Final = re.compile(r"^LINE (\d+): (.*)$")
#: DuckDB's guess at a missing table when it is one of its own catalog's.
_INTERNAL_GUESS: Final = re.compile(r'\s*Did you mean "(duckdb_|pg_|sqlite_)\w*"\?')


class MagicError(Exception):
    """Bad input to a magic (an option, a snippet, a cell): shown as one block."""


class ShownError(Exception):
    """An error already made into the block to show."""

    def __init__(self, view: ErrorView) -> None:
        super().__init__(view.text())
        self.view = view


@dataclass(frozen=True)
class Located:
    """An error's message and where it points in the cell's SQL (0-based offsets)."""

    kind: str
    message: str
    start: int | None = None
    width: int = 1


def locate_duckdb_error(
    error: Exception, executed: str, line_offset: int, user_sql: str
) -> Located:
    """DuckDB's error, its position mapped from ``executed`` to ``user_sql``."""
    text = str(error)
    kind, _, rest = text.partition(": ") if ": " in text.split("\n", 1)[0] else ("", "", text)
    message: list[str] = []
    start: int | None = None
    width = 1
    lines = rest.splitlines()
    i = 0
    while i < len(lines):
        found = _LINE.match(lines[i])
        caret = lines[i + 1] if i + 1 < len(lines) else ""
        if found is not None and caret.strip() and set(caret.strip()) == {"^"}:
            quoted = found.group(2)
            column = caret.index("^") - len(f"LINE {found.group(1)}: ")
            width = len(caret.strip())
            start = _offset(executed, int(found.group(1)), quoted, column, line_offset, user_sql)
            i += 2
            continue
        if lines[i].strip():
            message.append(lines[i].strip())
        i += 1
    return Located(kind or type(error).__name__, " ".join(message), start, width)


def _offset(
    executed: str, line: int, quoted: str, column: int, line_offset: int, user_sql: str
) -> int | None:
    """The offset in ``user_sql`` of ``column`` in DuckDB's quote of ``executed``'s line."""
    user_line = line - 1 - line_offset
    executed_lines = executed.split("\n")
    user_lines = user_sql.split("\n")
    if not 0 <= user_line < len(user_lines) or line - 1 >= len(executed_lines):
        return None  # in a snippet's CTE: no place in the cell to point at
    source = executed_lines[line - 1]
    fragment = quoted
    lead = 0
    if fragment.startswith("..."):
        fragment, lead = fragment[3:], 3
    fragment = fragment.removesuffix("...")
    at = source.find(fragment) if fragment else 0
    if at < 0:
        return None
    column_in_line = min(at + column - lead, len(user_lines[user_line]))
    return sum(len(x) + 1 for x in user_lines[:user_line]) + max(column_in_line, 0)


def misplaced_param(located: Located, sql: str) -> Located:
    """A syntax error at a ``{name}``/``$name`` of the cell: DuckDB's message quotes the
    ``$`` it was given, so say what went wrong in the user's terms instead."""
    for param in scan(sql).params:
        if param.start == located.start:
            text = sql[param.start : param.end]
            return Located(
                located.kind,
                f"{text} is a value (a bound query parameter), not a table name: {{name}} "
                "and $name stand for values only; write the table's name there (a "
                "DataFrame variable is named as is: FROM df)",
                param.start,
                param.end - param.start,
            )
    return located


def with_hint(located: Located, hint: str) -> Located:
    """A missing table's error with the names the target has (``hint``) in place of
    DuckDB's guess from its internal catalog (``duckdb_indexes``...)."""
    if not hint:
        return located
    message = _INTERNAL_GUESS.sub("", located.message)
    return Located(located.kind, f"{message}; {hint}", located.start, located.width)


class ErrorView:
    """A failed magic's message, then the cell's line with a caret: the text of the
    UsageError that fails the cell."""

    def __init__(self, located: Located, sql: str) -> None:
        self.located = located
        self.sql = sql

    def _pointer(self) -> tuple[str, str, int] | None:
        start = self.located.start
        if start is None or start > len(self.sql):
            return None
        line_no = self.sql.count("\n", 0, start)
        line_start = self.sql.rfind("\n", 0, start) + 1
        line_end = self.sql.find("\n", start)
        line = self.sql[line_start : None if line_end < 0 else line_end]
        width = max(1, min(self.located.width, len(line) - (start - line_start)))
        caret = " " * (start - line_start) + "^" * width
        return line, caret, line_no + 1

    def text(self) -> str:
        head = f"{self.located.kind}: {self.located.message}"
        pointer = self._pointer()
        if pointer is None:
            return head
        line, caret, number = pointer
        label = f"line {number} | "
        return f"{head}\n{label}{line}\n{' ' * (len(label) - 2)}| {caret}"
