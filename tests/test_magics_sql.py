"""The magics' SQL text handling: names, parameters and snippets found outside strings and
comments, CTEs only for the snippets used, and options split from the SQL."""

from __future__ import annotations

import duckdb
import pytest

from alphapulse.magics.errors import MagicError
from alphapulse.magics.options import parse, split
from alphapulse.magics.sqltext import bind_params, scan, with_snippets


def test_names_and_params_skip_strings_comments_and_dollar_quotes() -> None:
    sql = (
        "select a.x, \"Quoted Col\", '$no {no} df' as s, $$ {no2} $$, $t$ $no3 $t$\n"
        "from df -- $no4 {no5} other\n"
        "/* {no6} hidden */ where y = $p and z = { q } and w = 1e5"
    )
    found = scan(sql)
    assert [p.name for p in found.params] == ["p", "q"]
    names = [(n.text, n.qualified) for n in found.names]
    assert ("df", False) in names and ("x", True) in names and ("Quoted Col", False) in names
    assert not {"other", "hidden", "no", "e5"} & {n for n, _ in names}
    assert found.keyword == "select"


def test_braced_params_become_dollar_params_of_the_same_length() -> None:
    sql = "select {a}, { bb }, '{a}', $c"
    found = scan(sql)
    bound = bind_params(sql, found.params)
    assert bound == "select $a , $bb   , '{a}', $c"
    assert len(bound) == len(sql)
    con = duckdb.connect()
    assert con.execute(bound, {"a": 1, "bb": "x'y", "c": None}).fetchall() == [
        (1, "x'y", "{a}", None)
    ]


def test_only_referenced_snippets_are_prepended_dependencies_first() -> None:
    snippets = {"a": "select 1 as v", "b": "select v + 1 as v from a", "c": "select 9 as v"}
    plain = "select 2 as v"
    assert with_snippets(plain, scan(plain), snippets).sql == plain
    sql = "select v from b"
    composed = with_snippets(sql, scan(sql), snippets)
    assert composed.snippets == ("a", "b")
    assert composed.sql.endswith("\nselect v from b")
    assert duckdb.connect().execute(composed.sql).fetchall() == [(2,)]
    # A quoted or qualified name is not a snippet reference; a string never is.
    other = "select 'b' as s, t.b from (select 1 as b) t"
    assert with_snippets(other, scan(other), snippets).snippets == ()
    # A CTE of the user's own with a snippet's name is theirs.
    own = "with b as (select 5 as v) select v from b"
    assert with_snippets(own, scan(own), snippets).sql == own


def test_a_users_with_clause_joins_the_snippets_ctes_in_place() -> None:
    snippets = {"a": "select 1 as v"}
    sql = "  WITH recursive r(n) as (select 1 union all select n + 1 from r where n < 3)\n" + (
        "select sum(n) + (select v from a) from r"
    )
    composed = with_snippets(sql, scan(sql), snippets)
    assert composed.sql.startswith("WITH RECURSIVE a AS (")
    # The user's text keeps its columns (the WITH RECURSIVE is blanked, not moved).
    user_part = composed.sql.split("\n")[composed.line_offset :]
    assert [len(x) for x in user_part] == [len(x) for x in sql.split("\n")]
    assert duckdb.connect().execute(composed.sql).fetchall() == [(7,)]


def test_snippets_in_a_non_query_statement_are_refused() -> None:
    sql = "insert into t select * from a"
    with pytest.raises(ValueError, match="can be used in a query"):
        with_snippets(sql, scan(sql), {"a": "select 1"})


def test_options_split_from_sql_at_the_first_non_option_word() -> None:
    assert split("-o out --output arrow select -1 as x") == (
        ["-o", "out", "--output", "arrow"],
        "select -1 as x",
    )
    assert split('--connect "/tmp/my db.duckdb"') == (["--connect", "/tmp/my db.duckdb"], "")
    assert split("-e -- -- a comment\nselect 1") == (["-e"], "-- a comment\nselect 1")
    assert split("--max-rows=3 from t") == (["--max-rows=3"], "from t")
    opts = parse(["-o", "out", "--pandas", "--max-rows", "3", "-e", "--save", "s"])
    assert (opts.out, opts.output, opts.max_rows, opts.explain, opts.save) == (
        "out",
        "pandas",
        3,
        True,
        "s",
    )


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["--output", "csv"], "invalid choice: 'csv'"),
        (["--max-rows", "-2"], "0 or more"),
        (["-o", "not a name"], "is not a name"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_options_say_what_to_do(words: list[str], message: str) -> None:
    with pytest.raises(MagicError, match=message):
        parse(words)
