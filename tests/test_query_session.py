"""``alphapulse.connect()``: the views, their types, refresh, and every bad input answered
with one line that says what to do."""

from __future__ import annotations

from pathlib import Path

import orjson
import polars as pl
import pyarrow as pa
import pytest

import alphapulse
from alphapulse import _core
from alphapulse.eventlog import SCHEMA as EVENTS_SCHEMA
from alphapulse.lake import LakeError, LakeVersionError, LakeWriter
from alphapulse.lake.layout import MARKER
from alphapulse.lake.snapshot import bump_generation, ledger_name, token_of
from alphapulse.query import QueryError, Session
from alphapulse.query.views import VIEWS, TailRows, tail_name, view_sql
from tests.query_lakes import DAY0_NS, NS_PER_DAY, trades, write_trades_lake


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    write_trades_lake(root, days=2, rows_per_day=2_000)
    return root


@pytest.fixture
def session(lake: Path) -> Session:
    return alphapulse.connect(lake)


def test_every_view_exists_with_the_lake_types(session: Session) -> None:
    assert set(VIEWS) <= set(session.tables())
    assert {"bars", "book_top"} <= set(session.tables())
    described = session.con.execute("select column_name, column_type from (describe trades)")
    types = dict(described.fetchall())
    assert types["venue"] == "VARCHAR"
    assert types["date"] == "DATE"
    assert types["ts_recv"] == "TIMESTAMPTZ_NS"
    assert types["price_raw"] == "BIGINT"
    # Every view is the table's schema plus date, whether or not it has files.
    for view, table in VIEWS.items():
        expected = [
            *(EVENTS_SCHEMA if table == "events" else pa.schema(_core.event_schema(table))).names
        ]
        assert session.columns(view) == [*expected, "date"], view
    assert session.columns("bars") == session.query("select * from bars('1h') limit 0").columns
    assert session.columns("book_top")[:4] == ["side", "level", "price", "size"]
    assert session.columns("nope") == []
    assert session.query("select count(*) n from events")["n"][0] == 0
    assert session.query("select count(*) n from venue_bars")["n"][0] == 0


def test_views_hold_every_row_once_by_partition(session: Session, lake: Path) -> None:
    counts = session.query(
        "select venue, date, count(*) n from trades group by all order by venue, date"
    )
    assert counts["n"].to_list() == [2_000] * 6
    assert counts["date"].dt.to_string("%Y-%m-%d").unique().sort().to_list() == [
        "2026-03-02",
        "2026-03-03",
    ]
    # Partition date is ts_recv's UTC date.
    mismatched = session.query("select count(*) n from trades where date <> cast(ts_recv as date)")
    assert mismatched["n"][0] == 0


def test_query_arrow_sql_and_parameters(session: Session) -> None:
    frame = session.query("select count(*) n from trades where venue = ?", ["kraken"])
    assert isinstance(frame, pl.DataFrame) and frame["n"][0] == 4_000
    table = session.arrow("select venue from trades where venue = $v limit 3", {"v": "binance"})
    assert isinstance(table, pa.Table) and table.column("venue").to_pylist() == ["binance"] * 3
    relation = session.sql("select count(*) from trades")
    assert relation is not None and relation.fetchall() == [(12_000,)]
    session.query("create temp table scratch as select 41 + 1 x")
    assert session.query("select x from scratch")["x"].to_list() == [42]


def test_refresh_picks_up_a_commit(tmp_path: Path) -> None:
    write_trades_lake(tmp_path, venues=("kraken",), days=1, rows_per_day=1_000)
    with alphapulse.connect(tmp_path) as s:
        assert s.query("select count(*) n from trades")["n"][0] == 1_000
        with LakeWriter(tmp_path) as writer:
            writer.write(
                "trades", trades("kraken", ["BTC-USD"], DAY0_NS + 2 * NS_PER_DAY, 1000, 10, 5)
            )
        bump_generation(tmp_path)
        assert s.query("select count(*) n from trades")["n"][0] == 1_010
        assert s.query("select count(distinct date) n from trades")["n"][0] == 2


def test_a_file_swapped_under_a_query_is_retried(tmp_path: Path) -> None:
    """A compaction replaces files between the session's snapshot and its read: the query
    takes a new snapshot and answers from the compacted file."""
    write_trades_lake(tmp_path, venues=("kraken",), days=1, rows_per_day=1_000, batches=3)
    partition = next((tmp_path / "trades" / "venue=kraken").iterdir())
    old = sorted(p for p in partition.iterdir() if p.suffix == ".parquet")
    assert len(old) == 3
    with alphapulse.connect(tmp_path) as s:
        s.refresh()
        # The swap, as the compactor does it, but seen before its generation bump.
        merged = pa.concat_tables([pa.parquet.read_table(p) for p in old])
        token = "cmerged0001"
        name = old[0].name.replace(token_of(old[0].name) or "", token)
        (partition / ledger_name(token)).write_bytes(
            orjson.dumps({"replaces": [p.name for p in old], "file": name, "rows": 1000})
        )
        pa.parquet.write_table(
            merged.replace_schema_metadata(pa.parquet.read_schema(old[0]).metadata),
            partition / name,
        )
        for p in old:
            p.unlink()
        # The session's generation has not moved: only the read can find out.
        assert not s.watcher.changed()
        assert s.query("select count(*) n from trades")["n"][0] == 1_000


def test_tail_rows_join_the_files_with_their_date(lake: Path) -> None:
    """The views over files and a live tail as the session installs them, on DuckDB:
    every row of both, the tail's ``date`` its ts_recv's UTC date, the tail's rows
    swapped in place as it grows and gone with its writer."""
    import duckdb

    # Four rows either side of midnight.
    tail = trades("kraken", ["BTC-USD"], DAY0_NS + NS_PER_DAY - 4, 8, 4, seed=3)
    midnight = DAY0_NS + NS_PER_DAY
    after = sum(1 for t in tail.column("ts_recv").cast(pa.int64()).to_pylist() if t >= midnight)
    files = sorted((lake / "trades" / "venue=kraken").glob("date=*/*.parquet"))
    con = duckdb.connect()
    rows = {view: TailRows(view) for view in ("trades", "news")}
    for view, holder in rows.items():
        con.register(tail_name(view), holder)
        for statement in view_sql(view, files if view == "trades" else []):
            con.execute(statement)
    by_date = "select cast(date as varchar), count(*) from trades group by all order by 1"
    assert con.execute(by_date).fetchall() == [("2026-03-02", 2_000), ("2026-03-03", 2_000)]
    rows["trades"].set(tail)
    assert con.execute(by_date).fetchall() == [
        ("2026-03-02", 2_000 + 4 - after),
        ("2026-03-03", 2_000 + after),
    ]
    rows["trades"].set(None)
    assert con.execute("select count(*) from trades").fetchall() == [(4_000,)]
    assert "file_row_number" not in [r[0] for r in con.execute("describe trades").fetchall()]
    assert "file_row_number" in [
        r[0] for r in con.execute("describe _alphapulse_trades").fetchall()
    ]
    # No files and no tail: an empty relation of the table's schema.
    assert con.execute("select count(*) from news").fetchall() == [(0,)]


# -- bad input ----------------------------------------------------------------------------


def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text and text
    return text


def test_syntax_error_is_one_line_with_its_position(session: Session) -> None:
    with pytest.raises(QueryError) as caught:
        session.query("select *\nfrm trades")
    text = one_line(caught.value)
    assert "syntax error" in text and "(line 2, column 5)" in text
    assert (caught.value.line, caught.value.column) == (2, 5)


def test_unknown_table_names_the_views(session: Session) -> None:
    with pytest.raises(QueryError) as caught:
        session.query("select * from trade")
    text = one_line(caught.value)
    assert "trade" in text and "the lake's views: trades, quotes" in text


def test_unknown_column_is_one_line(session: Session) -> None:
    with pytest.raises(QueryError) as caught:
        session.arrow("select nope from trades")
    assert '"nope"' in one_line(caught.value)


def test_a_lake_of_a_newer_version_says_upgrade(tmp_path: Path) -> None:
    (tmp_path / MARKER).write_bytes(
        orjson.dumps({"format": "alphapulse.lake", "schema_version": 99})
    )
    with pytest.raises(LakeVersionError) as caught:
        alphapulse.connect(tmp_path)
    assert "upgrade alphapulse" in one_line(caught.value)


def test_an_empty_lake_says_collect_first(tmp_path: Path) -> None:
    with pytest.raises(LakeError) as caught:
        alphapulse.connect(tmp_path)
    assert f"alphapulse collect --lake {tmp_path}" in one_line(caught.value)


def test_a_missing_lake_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(LakeError) as caught:
        alphapulse.connect(tmp_path / "nowhere")
    assert f"no lake at {tmp_path / 'nowhere'}" in one_line(caught.value)
    monkeypatch.setenv("ALPHAPULSE_LAKE", str(tmp_path / "elsewhere"))
    with pytest.raises(LakeError, match="elsewhere"):
        alphapulse.connect()


def test_a_closed_session_says_reconnect(lake: Path) -> None:
    with alphapulse.connect(lake) as s:
        pass
    with pytest.raises(QueryError, match="connect"):
        s.query("select 1")


def test_importing_alphapulse_loads_no_query_engine() -> None:
    """``python -m alphapulse`` and the package stay cheap: DuckDB and polars load with
    ``connect``/``scan``, not with the package or the command line's parser."""
    import subprocess
    import sys

    code = (
        "import sys, alphapulse, alphapulse.commands, alphapulse.query; "
        "print(sorted(m for m in ('duckdb', 'polars') if m in sys.modules)); "
        "alphapulse.connect; print('duckdb' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[]", "True"]


@pytest.mark.parametrize("query", ["", "  \n", ";", " ; ;", "-- only a comment"])
def test_an_empty_query_is_a_query_error(session: Session, query: str) -> None:
    with pytest.raises(QueryError, match=r"^empty query: "):
        session.query(query)
    with pytest.raises(QueryError, match=r"^empty query: "):
        session.arrow(query)


def test_a_long_duckdb_message_is_cut_to_its_first_line_and_kept_whole(
    session: Session,
) -> None:
    with pytest.raises(QueryError) as caught:
        session.query("select ts_recv - ts_event from trades")
    text = one_line(caught.value)
    assert len(text) < 300 and "'-(TIMESTAMPTZ_NS, TIMESTAMPTZ_NS)'" in text
    assert "epoch_ns(a) - epoch_ns(b)" in text and "Candidate functions" not in text
    assert "Candidate functions" in caught.value.details and len(caught.value.details) > 1000
    # The way the message points to works.
    gap = session.query("select epoch_ns(ts_recv) - epoch_ns(ts_event) gap from trades limit 1")
    assert gap["gap"][0] == 0
    # Short hints stay in the line.
    with pytest.raises(QueryError, match='Candidate bindings: "price"'):
        session.query("select pricee from trades")


def test_a_directory_that_is_not_a_lake_says_so(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a lake")
    with pytest.raises(LakeError) as caught:
        alphapulse.connect(tmp_path)
    text = one_line(caught.value)
    assert f"{tmp_path}: not a lake (no {MARKER})" in text and "empty" not in text


@pytest.mark.parametrize("version", [0, "x", -1, None])
def test_a_marker_no_alphapulse_wrote_is_unreadable(tmp_path: Path, version: object) -> None:
    (tmp_path / MARKER).write_bytes(
        orjson.dumps({"format": "alphapulse.lake", "schema_version": version})
    )
    with pytest.raises(LakeVersionError) as caught:
        alphapulse.connect(tmp_path)
    text = one_line(caught.value)
    assert "unreadable lake marker" in text and "upgrade" not in text
