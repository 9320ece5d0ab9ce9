"""The %%duckdb / %duckdb magics in a real IPython shell over a real lake (LakeWriter)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from IPython.core.completer import provisionalcompleter
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import CapturedIO, capture_output
from traitlets import TraitError

import alphapulse.magics
from alphapulse.lake import LakeWriter
from alphapulse.lake.snapshot import bump_generation
from alphapulse.magics import DuckDBMagic, QueryResult
from alphapulse.magics.display import TextView
from tests.query_lakes import DAY0_NS, NS_PER_DAY, trades

SYMBOLS = ["BTC-USD", "ETH-USD"]


def write_lake(root: Path, counts: dict[str, int], days: int = 2) -> int:
    """A lake of trades: ``counts[venue]`` rows per venue and day, two files per partition.
    Returns the number of rows written."""
    total = 0
    with LakeWriter(root, roll_rows=10**9) as writer:
        for day in range(days):
            for seed, (venue, n) in enumerate(counts.items()):
                start = DAY0_NS + day * NS_PER_DAY
                rows = trades(venue, SYMBOLS, start, NS_PER_DAY, n, seed=seed + 10 * day)
                half = n // 2
                for part in (rows.slice(0, half), rows.slice(half)):
                    writer.write("trades", part)
                    writer.flush()
                total += n
    bump_generation(root)  # as a writer does after its commits: sessions refresh by it
    return total


COUNTS = {"kraken": 300, "coinbase": 200}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    write_lake(root, COUNTS)
    return root


@pytest.fixture()
def shell(lake: Path) -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    # A fresh set of magics per test (alphapulse/__init__.py has no unload_ipython_extension).
    alphapulse.magics.load_ipython_extension(ip)
    ip.run_line_magic("config", f"DuckDBMagic.lake = {str(lake)!r}")
    yield ip
    alphapulse.magics.unload_ipython_extension(ip)
    for name in ("df_pl", "df_pd", "tbl", "sym", "evil", "out", "trades"):
        ip.user_ns.pop(name, None)


def magic(shell: InteractiveShell) -> DuckDBMagic:
    found: DuckDBMagic = shell._alphapulse_magic[0]  # type: ignore[attr-defined]
    return found


def cell(shell: InteractiveShell, body: str, line: str = "") -> Any:
    return shell.run_cell_magic("duckdb", line, body)  # type: ignore[no-untyped-call]


def shown(cap: CapturedIO) -> list[str]:
    """The text of every rich output displayed."""
    return [out.data.get("text/plain", "") for out in cap.outputs]


def failed(run: Callable[[], object]) -> str:
    """The block a failing magic shows: its UsageError's message (IPython prints it without
    a traceback and counts the cell as failed)."""
    with pytest.raises(UsageError) as raised:
        run()
    return str(raised.value)


# -- results -------------------------------------------------------------------------------


def test_cell_returns_polars_over_the_lake_views(shell: InteractiveShell) -> None:
    result = cell(shell, "select venue, count(*) as n from trades group by venue order by venue")
    assert isinstance(result, QueryResult)
    assert isinstance(result.data, pl.DataFrame)
    assert result.data.rows() == [("coinbase", 2 * 200), ("kraken", 2 * 300)]
    # The result passes through to the frame: shape, columns, indexing, len.
    assert result.shape == (2, 2)
    assert result["n"].to_list() == [400, 600]
    assert len(result) == 2


def test_line_magic_and_output_formats(shell: InteractiveShell) -> None:
    sql = "select symbol, count(*) as n from trades where venue = 'kraken' group by 1"
    arrow = shell.run_line_magic("duckdb", f"--output arrow {sql}")
    assert isinstance(arrow.data, pa.Table) and sum(arrow.data.column("n").to_pylist()) == 600
    assert isinstance(shell.run_line_magic("duckdb", f"--arrow {sql}").data, pa.Table)
    assert isinstance(shell.run_line_magic("duckdb", f"--polars {sql}").data, pl.DataFrame)
    relation = shell.run_line_magic("duckdb", f"--relation {sql}")
    assert type(relation).__name__ == "DuckDBPyRelation"
    assert sum(n for _, n in relation.fetchall()) == 600


def test_pandas_output(shell: InteractiveShell) -> None:
    pd = pytest.importorskip("pandas")
    result = cell(shell, "select count(*) as n from trades", "--output pandas")
    assert isinstance(result.data, pd.DataFrame)
    assert int(result.data["n"].iloc[0]) == 1000
    assert isinstance(cell(shell, "select 1 as x", "--pandas").data, pd.DataFrame)
    # The notebook shows our table, not pandas' own (which the proxy must not pass on).
    assert shell.display_formatter is not None
    shell_formats, _ = shell.display_formatter.format(result)  # type: ignore[no-untyped-call]
    assert sorted(shell_formats) == ["text/html", "text/plain"]
    assert "1 row x 1 column" in shell_formats["text/html"]


def test_out_assigns_the_result_and_quiet_returns_none(shell: InteractiveShell) -> None:
    result = cell(shell, "select count(*) as n from trades where venue = 'coinbase'", "-o out -q")
    assert result is None
    assert isinstance(shell.user_ns["out"], pl.DataFrame)
    assert shell.user_ns["out"]["n"].to_list() == [400]
    shell.run_line_magic("duckdb", "--arrow --out out select 7 as x")
    out: Any = shell.user_ns["out"]
    assert isinstance(out, pa.Table) and out.to_pylist() == [{"x": 7}]


def test_config_sets_the_default_output(shell: InteractiveShell) -> None:
    shell.run_line_magic("config", "DuckDBMagic.output = 'arrow'")
    assert isinstance(cell(shell, "select 1 as x").data, pa.Table)
    assert isinstance(cell(shell, "select 1 as x", "--polars").data, pl.DataFrame)
    shell.run_line_magic("config", "DuckDBMagic.output = 'polars'")
    assert isinstance(cell(shell, "select 1 as x").data, pl.DataFrame)


def test_config_refuses_rows_below_one_and_a_negative_delay(
    shell: InteractiveShell, caplog: pytest.LogCaptureFixture
) -> None:
    settings = magic(shell)
    with pytest.raises(TraitError, match=r"DuckDBMagic.max_rows: .* 1 or more, not 0"):
        settings.max_rows = 0
    with pytest.raises(TraitError, match=r"DuckDBMagic.progress_after: .* 0 or more, not -1"):
        settings.progress_after = -1
    try:
        # %config logs the refusal (IPython's way for every setting) and keeps the value.
        shell.run_line_magic("config", "DuckDBMagic.max_rows = -1")
        shell.run_line_magic("config", "DuckDBMagic.progress_after = -0.5")
        assert "DuckDBMagic.max_rows: the rows a result displays, 1 or more, not -1" in (
            caplog.text
        )
        assert "DuckDBMagic.progress_after: seconds before the bar shows" in caplog.text
        assert (settings.max_rows, settings.progress_after) == (10, 1.0)
        # The refused value stays in the shell's config: loading again says what to do.
        with pytest.raises(UsageError, match=r"1 or more, not -1 .*; set it right with %config"):
            alphapulse.magics.load_ipython_extension(shell)
    finally:
        shell.run_line_magic("config", "DuckDBMagic.max_rows = 10")
        shell.run_line_magic("config", "DuckDBMagic.progress_after = 1.0")
    alphapulse.magics.load_ipython_extension(shell)
    assert magic(shell).max_rows == 10


def test_load_ext_registers_the_magics_and_the_settings(lake: Path) -> None:
    ip = InteractiveShell.instance()
    assert ip.extension_manager is not None
    ip.extension_manager.loaded.discard("alphapulse")
    ip.run_line_magic("load_ext", "alphapulse")
    try:
        assert "duckdb" in ip.magics_manager.magics["cell"]
        assert "duckdb" in ip.magics_manager.magics["line"]
        ip.run_line_magic("config", "DuckDBMagic.max_rows = 3")
        assert magic(ip).max_rows == 3
        ip.run_line_magic("reload_ext", "alphapulse")
        assert "duckdb" in ip.magics_manager.magics["cell"]
        ip.run_line_magic("unload_ext", "alphapulse")
        assert "duckdb" not in ip.magics_manager.magics["cell"]
        assert "duckdb" not in ip.magics_manager.magics["line"]
    finally:
        alphapulse.magics.unload_ipython_extension(ip)
        ip.extension_manager.loaded.discard("alphapulse")


def test_a_statement_returns_its_row_count(shell: InteractiveShell) -> None:
    created = cell(shell, "create or replace temp table notes as select 1 as x union all select 2")
    assert created.data.rows() == [(2,)]  # DuckDB's Count of the rows written
    assert cell(shell, "select x from notes order by x").data.rows() == [(1,), (2,)]
    assert cell(shell, "drop table notes") is None  # nothing to show


# -- the namespace: frames and parameters --------------------------------------------------------


def test_namespace_frames_are_tables_for_the_query_only(shell: InteractiveShell) -> None:
    pd = pytest.importorskip("pandas")
    shell.user_ns["df_pl"] = pl.DataFrame({"venue": ["kraken", "coinbase"], "fee": [0.1, 0.2]})
    shell.user_ns["df_pd"] = pd.DataFrame({"venue": ["kraken"], "rank": [1]})
    shell.user_ns["tbl"] = pa.table({"symbol": ["BTC-USD"]})
    result = cell(
        shell,
        "select f.venue, f.fee, count(*) as n, any_value(r.rank) as rank\n"
        "from trades t join df_pl f using (venue) left join df_pd r using (venue)\n"
        "where t.symbol in (select symbol from tbl)\n"
        "group by all order by f.venue",
    )
    rows = result.data.rows(named=True)
    assert [r["venue"] for r in rows] == ["coinbase", "kraken"]
    assert [r["rank"] for r in rows] == [None, 1]
    lake_btc = cell(shell, "select venue, count(*) from trades where symbol = 'BTC-USD' group by 1")
    assert sorted(r["n"] for r in rows) == sorted(n for _, n in lake_btc.data.rows())
    # Unregistered afterwards: the session's connection no longer knows them.
    assert not {"df_pl", "df_pd", "tbl"} & set(magic(shell).target_tables())


def test_a_relation_keeps_its_frames_until_the_next_query(shell: InteractiveShell) -> None:
    shell.user_ns["df_pl"] = pl.DataFrame({"x": [1, 2, 3]}).lazy()
    relation = shell.run_line_magic("duckdb", "--relation select sum(x) as s from df_pl")
    assert relation.fetchall() == [(6,)]  # lazy: runs now, the frame still registered
    assert "df_pl" in magic(shell).target_tables()
    cell(shell, "select 1")
    assert "df_pl" not in magic(shell).target_tables()


def test_misused_frames_and_cells_are_one_block(shell: InteractiveShell) -> None:
    shell.user_ns["df_pl"] = pl.DataFrame({"x": [1]})
    frame_param = failed(lambda: cell(shell, "select $df_pl"))
    sql_on_line = failed(lambda: cell(shell, "select 1", "select 2"))
    no_sql = failed(lambda: shell.run_line_magic("duckdb", "-o out"))
    assert "$df_pl is a DataFrame: name it as a table (FROM df_pl)" in frame_param
    assert frame_param.splitlines()[1:] == ["line 1 | select $df_pl", "       |        ^^^^^^"]
    assert "the first line takes options only, not 'select 2'" in sql_on_line
    assert "no SQL" in no_sql


def test_a_frame_never_hides_a_lake_view(shell: InteractiveShell) -> None:
    shell.user_ns["trades"] = pl.DataFrame({"x": [1]})
    assert cell(shell, "select count(*) as n from trades").data["n"].to_list() == [1000]


def test_parameters_are_bound_not_spliced(shell: InteractiveShell) -> None:
    cell(shell, "create or replace temp table t as select 1 as x")
    shell.user_ns["evil"] = "x'; drop table t; --"
    result = cell(shell, "select $evil as a, {evil} as b, { evil } as c, '{evil}' as d")
    assert result.data.rows() == [(shell.user_ns["evil"],) * 3 + ("{evil}",)]
    assert cell(shell, "select count(*) as n from trades where symbol = $evil").data.rows() == [
        (0,)
    ]
    assert cell(shell, "select x from t").data.rows() == [(1,)]  # t is still there
    # A line magic too: IPython's own $name/{name} expansion of magic lines is off.
    line = shell.run_line_magic("duckdb", "select $evil as a, {evil} as b")
    assert line.data.rows() == [(shell.user_ns["evil"],) * 2]
    shell.user_ns["sym"] = "ETH-USD"
    eth = cell(shell, "select count(*) from trades where symbol = {sym} and venue = 'kraken'")
    direct = cell(
        shell, "select count(*) from trades where symbol = 'ETH-USD' and venue = 'kraken'"
    )
    assert eth.data.rows() == direct.data.rows() and eth.data.rows()[0][0] > 0
    cell(shell, "drop table t")


def test_an_unknown_parameter_is_one_block_with_a_caret(shell: InteractiveShell) -> None:
    text = failed(lambda: cell(shell, "select 1\nwhere 2 = $nothere"))
    assert "no variable 'nothere'" in text
    assert text.splitlines()[1:] == ["line 2 | where 2 = $nothere", "       |           ^^^^^^^^"]


def test_a_parameter_where_a_table_belongs_says_it_is_a_value(shell: InteractiveShell) -> None:
    shell.user_ns["evil"] = "trades"
    braced = failed(lambda: cell(shell, "select *\nfrom {evil} where 1 = 1"))
    assert braced.splitlines() == [
        "Parser Error: {evil} is a value (a bound query parameter), not a table name: "
        "{name} and $name stand for values only; write the table's name there "
        "(a DataFrame variable is named as is: FROM df)",
        "line 2 | from {evil} where 1 = 1",
        "       |      ^^^^^^",
    ]
    dollar = failed(lambda: cell(shell, "select * from $evil"))
    assert dollar.startswith("Parser Error: $evil is a value (a bound query parameter)")
    assert dollar.splitlines()[1:] == [
        "line 1 | select * from $evil",
        "       |               ^^^^^",
    ]
    # A syntax error elsewhere keeps DuckDB's own message.
    other = failed(lambda: cell(shell, "select {evil} frm x"))
    assert other.startswith('Parser Error: syntax error at or near "x"')


# -- snippets ------------------------------------------------------------------------------


def test_snippets_are_ctes_that_chain(shell: InteractiveShell) -> None:
    kraken = cell(shell, "select * from trades where venue = 'kraken'", "--save kraken_trades")
    assert len(kraken) == 600
    btc = cell(
        shell, "select * from kraken_trades where symbol = 'BTC-USD'", "--save kraken_btc -q"
    )
    assert btc is None
    count = cell(
        shell, "with b as (select 2 as two)\nselect count(*) * any_value(two) from kraken_btc, b"
    )
    expected = cell(
        shell, "select count(*) from trades where venue = 'kraken' and symbol = 'BTC-USD'"
    )
    assert count.data.rows()[0][0] == 2 * expected.data.rows()[0][0]
    listing = shell.run_line_magic("duckdb", "--with")
    assert isinstance(listing, TextView)
    assert "kraken_trades:\nselect * from trades where venue = 'kraken'" in listing.text
    assert "kraken_btc:\nselect * from kraken_trades where symbol = 'BTC-USD'" in listing.text
    shell.run_line_magic("duckdb", "--delete kraken_btc")
    assert list(magic(shell).snippets) == ["kraken_trades"]
    gone = failed(lambda: shell.run_line_magic("duckdb", "select * from kraken_btc"))
    assert "kraken_btc does not exist" in gone
    deleted = failed(lambda: shell.run_line_magic("duckdb", "--delete kraken_btc"))
    assert "no snippet 'kraken_btc'" in deleted


def test_a_snippet_never_hides_a_view_and_never_takes_a_reserved_word(
    shell: InteractiveShell,
) -> None:
    query = "select * from trades where venue = 'kraken'"
    view = failed(lambda: cell(shell, query, "--save trades"))
    assert view.startswith("Error: --save trades: 'trades' is a table or view of the lake")
    assert "would hide it: pick another name" in view and "\n" not in view
    assert "Trades" in failed(lambda: cell(shell, query, "--save Trades"))
    reserved = failed(lambda: cell(shell, "select 1 as x", "--save select"))
    assert "'select' is a reserved word of SQL, not allowed as a snippet name" in reserved
    assert "reference itself" not in reserved
    assert magic(shell).snippets == {}
    # Nothing was hidden: the view still has every venue.
    assert cell(shell, "select count(*) from trades").data.rows() == [(1000,)]


def test_a_snippet_error_points_into_the_cell_not_the_ctes(shell: InteractiveShell) -> None:
    cell(shell, "select 1 as one", "--save one_row -q")
    text = failed(lambda: cell(shell, "select one,\n  nope\nfrom one_row"))
    assert text.splitlines()[1:] == ["line 2 |   nope", "       |   ^^^^"]


# -- plan, profile, display ----------------------------------------------------------------


def test_explain_shows_the_plan_without_running(shell: InteractiveShell) -> None:
    plan = cell(shell, "select count(*) from trades where venue = 'kraken'", "-e")
    assert isinstance(plan, TextView)
    assert "READ_PARQUET" in plan.text.upper() or "PARQUET" in plan.text.upper()
    assert "Total Time" not in plan.text


def test_profile_shows_duckdbs_profile_and_returns_the_result(shell: InteractiveShell) -> None:
    with capture_output() as cap:
        result = cell(shell, "select count(*) as n from trades", "--profile")
    assert result.data["n"].to_list() == [1000]
    (profile,) = shown(cap)
    assert "Total Time" in profile and "1000" in profile.replace(",", "")


def test_display_shows_head_tail_count_and_time(shell: InteractiveShell) -> None:
    shell.run_line_magic("config", "DuckDBMagic.max_rows = 4")
    try:
        result = cell(
            shell, "select trade_id, price from trades where venue = 'kraken' order by ts_recv"
        )
    finally:
        shell.run_line_magic("config", "DuckDBMagic.max_rows = 10")
    ids = result.data["trade_id"].to_list()
    page = result._repr_html_()
    assert page.count("<tr>") == 1 + 4 + 1  # header, 2 head + 2 tail rows, the gap
    assert f"<td>{ids[0]}</td>" in page and f"<td>{ids[-1]}</td>" in page
    assert f"<td>{ids[2]}</td>" not in page
    text = repr(result)
    assert "600 rows x 2 columns (showing 4) · " in text and text.rstrip().endswith("ms")
    assert len(text.splitlines()) == 2 + 4 + 1 + 1
    small = cell(shell, "select 1 as x union all select 2", "--max-rows 1")
    assert "(showing 1)" in repr(small)


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "message", "pointer"),
    [
        (
            "select 1,\n  2 +\nfrom trades",
            "Parser Error: syntax error",
            ["line 3 | from trades", "       | ^^^^"],
        ),
        (
            "select venue,\n  nope\nfrom trades",
            'Binder Error: Referenced column "nope"',
            ["line 2 |   nope", "       |   ^^^^"],
        ),
        (
            "select *\nfrom nowhere",
            "Catalog Error: Table with name nowhere",
            ["line 2 | from nowhere", "       |      ^^^^^^^"],
        ),
    ],
)
def test_errors_fail_the_cell_as_one_block_with_a_caret(
    shell: InteractiveShell, sql: str, message: str, pointer: list[str]
) -> None:
    with capture_output() as cap:
        outcome = shell.run_cell(f"%%duckdb -o never\n{sql}")  # type: ignore[no-untyped-call]
    # The cell failed (a notebook run stops here), and -o assigned nothing.
    assert not outcome.success and isinstance(outcome.error_in_exec, UsageError)
    assert "never" not in shell.user_ns
    # What the terminal shows: the block, on stderr, and nothing else.
    assert cap.stdout == "" and cap.outputs == []
    assert "Traceback" not in cap.stderr
    text = cap.stderr.removeprefix("UsageError: ")
    assert text.startswith(message)
    assert text.splitlines()[1:] == pointer


def test_a_missing_table_lists_the_lakes_views(shell: InteractiveShell) -> None:
    views = (
        "the lake's views: trades, quotes, book_deltas, venue_bars, news, events, statuses, "
        "rejects; macros: bars(), book_top()"
    )
    misspelled = failed(lambda: cell(shell, "select *\nfrom trade"))
    head, *pointer = misspelled.splitlines()
    assert head.startswith("Catalog Error: Table with name trade does not exist!")
    assert head.endswith(views)
    assert pointer == ["line 2 | from trade", "       |      ^^^^^"]
    # DuckDB's guess from its own catalog is left out; the lake's names say more.
    internal = failed(lambda: cell(shell, "select * from indexs"))
    assert "duckdb_" not in internal and internal.splitlines()[0].endswith(views)
    # Another database: DuckDB's message as is.
    shell.run_line_magic("duckdb", "--connect :memory:")
    elsewhere = failed(lambda: cell(shell, "select * from trade"))
    assert "lake's views" not in elsewhere


def test_bad_options_and_bad_lakes_are_one_line(shell: InteractiveShell, tmp_path: Path) -> None:
    bad_option = failed(lambda: shell.run_line_magic("duckdb", "--output excel select 1"))
    no_lake = failed(lambda: shell.run_line_magic("duckdb", f"--lake {tmp_path / 'none'}"))
    assert "invalid choice: 'excel'" in bad_option and "\n" not in bad_option
    assert no_lake.startswith("Lake Error: no lake at") and "\n" not in no_lake
    # The lake before stays in use.
    assert cell(shell, "select count(*) from trades").data.rows() == [(1000,)]


# -- progress ------------------------------------------------------------------------------


def test_a_long_query_shows_a_bar_and_a_fast_one_does_not(shell: InteractiveShell) -> None:
    watch = magic(shell).watch
    before = watch.shown
    cell(shell, "select count(*) from trades")
    assert watch.shown == before
    shell.run_line_magic("config", "DuckDBMagic.progress_after = 0.05")
    try:
        with capture_output() as cap:
            # Long enough on any machine to outlast 0.05 s (a second or more here).
            result = cell(shell, "select sum(hash(i)) as h from range(300000000) t(i)")
    finally:
        shell.run_line_magic("config", "DuckDBMagic.progress_after = 1.0")
    assert result.data.height == 1
    assert watch.shown == before + 1
    assert "duckdb" in cap.stderr and "%|" in cap.stderr


# -- completion ----------------------------------------------------------------------------


def completions(shell: InteractiveShell, text: str) -> list[str]:
    with provisionalcompleter():
        return [c.text for c in shell.Completer.completions(text, len(text))]


def test_completion_of_tables_columns_frames_and_snippets(shell: InteractiveShell) -> None:
    shell.user_ns["df_pl"] = pl.DataFrame({"fee_bps": [1.0]})
    assert "trades" in completions(shell, "%%duckdb\nselect * from tra")
    assert "book_deltas" in completions(shell, "%duckdb select * from book_")
    assert "df_pl" in completions(shell, "%%duckdb -o x\nselect * from df_")
    assert "price" not in completions(shell, "%%duckdb\nselect pri")  # no table named yet
    assert "price_raw" in completions(shell, "%%duckdb\nselect * from trades where price_")
    assert completions(shell, "%%duckdb\nselect trades.si") == [
        "trades.size",
        "trades.size_precision",
        "trades.size_raw",
    ]
    assert completions(shell, "%duckdb select df_pl.fe") == ["df_pl.fee_bps"]
    cell(shell, "select 1 as snip_col", "--save my_snip -q")
    assert "my_snip" in completions(shell, "%%duckdb\nselect * from my_")
    assert completions(shell, "%%duckdb\nselect my_snip.sn") == ["my_snip.snip_col"]
    # Outside the magics, Python completion is untouched.
    assert "trades" not in completions(shell, "tra")


# -- other databases -----------------------------------------------------------------------


def test_connect_to_another_database_and_back(shell: InteractiveShell, tmp_path: Path) -> None:
    db = tmp_path / "notes.duckdb"
    shell.run_line_magic("duckdb", f"--connect {db}")
    cell(shell, "create table notes as select 42 as answer")
    no_trades = failed(lambda: cell(shell, "select count(*) from trades"))
    assert "Table with name trades does not exist" in no_trades
    shell.run_line_magic("duckdb", "--connect :memory:")
    assert "notes does not exist" in failed(lambda: cell(shell, "select * from notes"))
    shell.run_line_magic("duckdb", f"--connect {db}")
    assert cell(shell, "select answer from notes").data.rows() == [(42,)]
    assert completions(shell, "%duckdb select ans from notes where ans") == ["answer"]
    shell.run_line_magic("duckdb", "--connect lake")
    assert cell(shell, "select count(*) from trades").data.rows() == [(1000,)]


def test_lake_option_switches_lakes(shell: InteractiveShell, tmp_path: Path, lake: Path) -> None:
    other = tmp_path / "other"
    write_lake(other, {"binance": 50}, days=1)
    shell.run_line_magic("duckdb", f"--lake {other}")
    assert cell(shell, "select venue, count(*) from trades group by 1").data.rows() == [
        ("binance", 50)
    ]
    shell.run_line_magic("config", f"DuckDBMagic.lake = {str(lake)!r}")
    assert cell(shell, "select count(*) from trades").data.rows() == [(1000,)]


def test_help_lists_every_option(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shell.run_line_magic("duckdb", "--help") is None
    text = capsys.readouterr().out
    for option in (
        "--out",
        "--output",
        "--save",
        "--with",
        "--delete",
        "--explain",
        "--profile",
        "--connect",
        "--lake",
        "--max-rows",
    ):
        assert option in text
