"""What a cell's SQL refers to: names (tables, frames, snippets) and ``$name``/``{name}``
parameters, found by a small lexer that skips strings, quoted text and comments.

Parameters are never spliced into the SQL: ``{name}`` becomes DuckDB's named parameter
``$name`` (padded with spaces to the same length, so that DuckDB's error positions still
point into the text the user wrote), and the values are bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED: Final = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_DOLLAR_TAG: Final = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
#: Statements a CTE can be put in front of.
QUERY_KEYWORDS: Final = frozenset({"select", "with", "from", "values", "table", "pivot", "unpivot"})


@dataclass(frozen=True)
class Name:
    """An identifier outside strings and comments (a table, a frame, a snippet...)."""

    text: str
    start: int
    end: int
    #: Follows a dot (``t.col``, ``schema.table``) or AS (an alias being defined): never a
    #: reference to a variable or a snippet.
    qualified: bool


@dataclass(frozen=True)
class Param:
    """A ``$name`` or ``{name}`` reference to a user variable."""

    name: str
    start: int
    end: int


@dataclass
class Scan:
    names: list[Name] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    #: The first word of the statement (lower case) and where it starts.
    keyword: str = ""
    keyword_at: int = -1


def scan(sql: str) -> Scan:
    """The names and parameters of ``sql`` in order of appearance."""
    out = Scan()
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c == "'":
            i = _closing(sql, i, "'")
        elif c == '"':
            end = _closing(sql, i, '"')
            text = sql[i + 1 : end - 1].replace('""', '"')
            out.names.append(Name(text, i, end, _after_dot(sql, i)))
            i = end
        elif sql.startswith("--", i):
            newline = sql.find("\n", i)
            i = n if newline < 0 else newline
        elif sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            i = n if close < 0 else close + 2
        elif c == "$":
            tag = _DOLLAR_TAG.match(sql, i)
            if tag is not None:  # $$...$$ or $tag$...$tag$: a dollar-quoted string
                close = sql.find(tag.group(0), tag.end())
                i = n if close < 0 else close + len(tag.group(0))
                continue
            ident = _IDENT.match(sql, i + 1)
            if ident is not None:
                out.params.append(Param(ident.group(0), i, ident.end()))
                i = ident.end()
            else:
                i += 1
        elif c == "{":
            braced = _BRACED.match(sql, i)
            if braced is not None:
                out.params.append(Param(braced.group(1), i, braced.end()))
                i = braced.end()
            else:
                i += 1
        elif c.isalpha() or c == "_":
            ident = _IDENT.match(sql, i)
            assert ident is not None
            if out.keyword_at < 0:
                out.keyword, out.keyword_at = ident.group(0).lower(), i
            after_as = bool(out.names) and out.names[-1].text.lower() == "as"
            out.names.append(Name(ident.group(0), i, ident.end(), after_as or _after_dot(sql, i)))
            i = ident.end()
        elif c.isdigit():
            # 1e5, 0x1F: a number's letters are not names.
            while i < n and (sql[i].isalnum() or sql[i] in "._"):
                i += 1
        else:
            i += 1
    return out


def _closing(sql: str, start: int, quote: str) -> int:
    """The index after the quote closing the quoted text opened at ``start``."""
    i = start + 1
    while True:
        close = sql.find(quote, i)
        if close < 0:
            return len(sql)
        if sql.startswith(quote * 2, close):  # a doubled quote is a quote
            i = close + 2
            continue
        return close + 1


def _after_dot(sql: str, start: int) -> bool:
    j = start - 1
    while j >= 0 and sql[j] in " \t":
        j -= 1
    return j >= 0 and sql[j] == "."


def bind_params(sql: str, params: list[Param]) -> str:
    """``sql`` with each ``{name}`` turned into ``$name`` padded to the same length."""
    if not any(sql[p.start] == "{" for p in params):
        return sql
    pieces, last = [], 0
    for p in params:
        if sql[p.start] == "{":
            pieces.append(sql[last : p.start])
            pieces.append(f"${p.name}".ljust(p.end - p.start))
            last = p.end
    pieces.append(sql[last:])
    return "".join(pieces)


def referenced(names: list[Name], candidates: dict[str, str]) -> list[str]:
    """The keys of ``candidates`` (lower-cased names) that ``names`` mention unqualified."""
    found: list[str] = []
    for name in names:
        key = name.text.lower()
        if not name.qualified and key in candidates and key not in found:
            found.append(key)
    return found


@dataclass(frozen=True)
class Composed:
    """The SQL to run: the user's, after the CTEs of the snippets it references."""

    sql: str
    #: Lines before the user's first line (to map DuckDB's positions back).
    line_offset: int
    snippets: tuple[str, ...]


def with_snippets(sql: str, found: Scan, snippets: dict[str, str]) -> Composed:
    """``sql`` with ``WITH name AS (...)`` for every saved snippet it references, directly
    or through another snippet, each before the snippets that use it. The user's text keeps
    its columns: a leading ``WITH`` of theirs is blanked, not moved."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in path:
            raise ValueError(f"snippets {' -> '.join((*path, name))} reference each other")
        for dep in referenced(scan(snippets[name]).names, snippets):
            visit(dep, (*path, name))
        order.append(name)

    for name in referenced(found.names, snippets):
        if not _defines_cte(sql, name):  # the user's own CTE of that name wins
            visit(name, ())
    if not order:
        return Composed(sql, 0, ())
    if found.keyword not in QUERY_KEYWORDS:
        raise ValueError(
            f"snippets ({', '.join(order)}) can be used in a query (SELECT, FROM, WITH ...), "
            f"not in a {found.keyword.upper() or 'empty'} statement"
        )
    ctes = ",\n".join(f"{name} AS (\n{snippets[name]}\n)" for name in order)
    head = "WITH "
    body = sql
    if found.keyword == "with":
        start = found.keyword_at
        recursive = re.compile(r"with\s+recursive\b", re.IGNORECASE).match(sql, start)
        end = recursive.end() if recursive else start + 4
        head = "WITH RECURSIVE " if recursive else head
        blank = re.sub(r"[^\n]", " ", sql[start:end])
        body = sql[:start] + blank + sql[end:]
        prefix = f"{head}{ctes},\n"
    else:
        prefix = f"{head}{ctes}\n"
    return Composed(prefix + body, prefix.count("\n"), tuple(order))


def _defines_cte(sql: str, name: str) -> bool:
    """Whether ``sql`` defines a CTE ``name`` (``name AS (``, ``name(a, b) AS (``)."""
    pattern = rf"\b{re.escape(name)}\s*(\([^)]*\))?\s+as\s*((not\s+)?materialized\s*)?\("
    return re.search(pattern, sql, re.IGNORECASE) is not None


def strip_statement(sql: str) -> str:
    """A snippet's SQL as a CTE body: without trailing semicolons and blank lines."""
    return sql.strip().rstrip(";").rstrip()
