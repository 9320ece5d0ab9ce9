"""The magics' options: ``%duckdb [options] SQL`` and ``%%duckdb [options]`` + SQL.

Options come first; the SQL starts at the first word that is not an option (or after a
lone ``--``), so SQL is never taken apart by a shell-style parser.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass
from typing import Final, NoReturn

from alphapulse.magics.errors import MagicError

OUTPUTS: Final = ("polars", "pandas", "arrow", "relation")

#: A word of the line: quoted parts may hold spaces.
_WORD: Final = re.compile(r"""(?:'[^']*'|"[^"]*"|\S)+""")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise MagicError(f"%duckdb: {message} (see %duckdb --help)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise _HelpShownError


class _HelpShownError(Exception):
    pass


def _parser() -> _Parser:
    p = _Parser(
        prog="%duckdb",
        description="Run SQL on the lake session (or another DuckDB database).",
        add_help=True,
    )
    out = p.add_argument_group("result")
    out.add_argument("-o", "--out", metavar="NAME", help="assign the result to NAME")
    out.add_argument("--output", choices=OUTPUTS, help="the result's type (default: config)")
    for name in OUTPUTS:
        out.add_argument(
            f"--{name}", dest="output", action="store_const", const=name, help=f"--output {name}"
        )
    out.add_argument("--max-rows", type=int, metavar="N", help="rows to display (head + tail)")
    out.add_argument("-q", "--quiet", action="store_true", help="display nothing, return None")
    plan = p.add_argument_group("plan")
    plan.add_argument("-e", "--explain", action="store_true", help="show the query plan")
    plan.add_argument("--profile", action="store_true", help="run, show DuckDB's profile")
    snippets = p.add_argument_group("snippets")
    snippets.add_argument("--save", metavar="NAME", help="keep this query as snippet NAME")
    snippets.add_argument(
        "--with", dest="list_snippets", action="store_true", help="list the saved snippets"
    )
    snippets.add_argument("--delete", metavar="NAME", help="forget snippet NAME")
    where = p.add_argument_group("database")
    where.add_argument(
        "--connect", metavar="TARGET", help="lake | PATH | :memory: (a DuckDB database)"
    )
    where.add_argument("--lake", metavar="DIR", help="use the lake at DIR")
    return p


PARSER: Final = _parser()
#: Options followed by a value in the next word.
_TAKES_VALUE: Final = frozenset(
    s for a in PARSER._actions if a.nargs is None and a.option_strings for s in a.option_strings
) - {s for a in PARSER._actions if a.const is not None for s in a.option_strings}


@dataclass(frozen=True)
class Options:
    out: str | None = None
    output: str | None = None
    max_rows: int | None = None
    quiet: bool = False
    explain: bool = False
    profile: bool = False
    save: str | None = None
    list_snippets: bool = False
    delete: str | None = None
    connect: str | None = None
    lake: str | None = None
    help: bool = False


def split(line: str) -> tuple[list[str], str]:
    """The option words at the start of ``line`` (unquoted) and the rest (the SQL)."""
    words: list[str] = []
    at = 0
    pending_value = False
    for word in _WORD.finditer(line):
        text = word.group(0)
        if pending_value:
            words.append(_unquote(text))
            pending_value = False
        elif text == "--":
            at = word.end()
            break
        elif text.startswith("-") and len(text) > 1 and not text[1].isdigit():
            words.append(text)
            pending_value = text in _TAKES_VALUE
        else:
            at = word.start()
            break
        at = word.end()
    return words, line[at:].strip()


def _unquote(word: str) -> str:
    try:
        parts = shlex.split(word)
    except ValueError as e:
        raise MagicError(f"%duckdb: cannot read {word!r}: {e}") from None
    return parts[0] if len(parts) == 1 else word


def parse(words: list[str]) -> Options:
    if not words:
        return Options()  # the common case, without argparse's cost
    if "-h" in words or "--help" in words:
        return Options(help=True)
    try:
        ns = PARSER.parse_args(words)
    except _HelpShownError:
        return Options(help=True)
    if ns.max_rows is not None and ns.max_rows < 0:
        raise MagicError("%duckdb: --max-rows takes a number of rows, 0 or more")
    for name in (ns.out, ns.save, ns.delete):
        if name is not None and not name.isidentifier():
            raise MagicError(f"%duckdb: {name!r} is not a name: use letters, digits and _")
    return Options(**vars(ns))


def usage() -> str:
    return PARSER.format_help()
