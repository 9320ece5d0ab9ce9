"""Tab completion in ``%%duckdb`` cells and after ``%duckdb ``: tables, views, table macros,
DataFrames of the namespace and saved snippets; ``name.`` completes that name's columns,
and a bare word also completes the columns of the tables the SQL already mentions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from IPython.core.completer import (
    CompletionContext,
    SimpleCompletion,
    SimpleMatcherResult,
    context_matcher,
)

from alphapulse.magics.sqltext import scan

if TYPE_CHECKING:
    from alphapulse.magics.magic import DuckDBMagic


def sql_before_cursor(context: CompletionContext) -> str | None:
    """The SQL typed before the cursor when it is in a duckdb magic, else None."""
    lines = context.full_text.split("\n")
    if lines and lines[0].lstrip().startswith("%%duckdb") and context.cursor_line > 0:
        return "\n".join([*lines[1 : context.cursor_line], context.text_until_cursor])
    before = context.text_until_cursor
    at = before.rfind("%duckdb ")
    if at >= 0 and before[at - 1 : at] != "%":
        return before[at + len("%duckdb ") :]
    return None


def make_matcher(magic: DuckDBMagic) -> Callable[[CompletionContext], SimpleMatcherResult]:
    """The shell's matcher for ``magic``'s SQL (never raises: completion must not fail)."""

    @context_matcher(identifier="alphapulse.duckdb")  # type: ignore[untyped-decorator]
    def duckdb_matcher(context: CompletionContext) -> SimpleMatcherResult:
        sql = sql_before_cursor(context)
        if sql is None:
            return {"completions": [], "suppress": False}
        try:
            found = complete(magic, sql, context.token)
        except Exception:  # a closed database, a lake gone: no completions, no noise
            found = []
        return {"completions": found, "suppress": bool(found)}

    return duckdb_matcher  # type: ignore[no-any-return]


def complete(magic: DuckDBMagic, sql: str, token: str) -> list[SimpleCompletion]:
    word = token.split()[-1] if token.split() else ""
    if "." in word:
        owner, _, prefix = word.rpartition(".")
        columns = magic.columns_of(owner.strip('"'))
        return [
            SimpleCompletion(f"{owner}.{c}", type="column")
            for c in columns
            if c.lower().startswith(prefix.lower())
        ]
    names: dict[str, str] = {}
    for name in magic.target_tables():
        names.setdefault(name, "table")
    for name in magic.frames():
        names.setdefault(name, "dataframe")
    for name in magic.snippets:
        names.setdefault(name, "snippet")
    mentioned = {n.text for n in scan(sql).names if not n.qualified and n.text in names}
    for owner in sorted(mentioned):
        for column in magic.columns_of(owner):
            names.setdefault(column, "column")
    lowered = word.lower()
    return [
        SimpleCompletion(name, type=kind)
        for name, kind in sorted(names.items())
        if name.lower().startswith(lowered) and name != word
    ]
