"""The server's read-only SQL: one SELECT over the lake, capped and timed out, and nothing
else. What DuckDB's settings refuse is also tried on the locked connection itself, past
the statement check, so that each guard is shown to hold on its own."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import alphapulse
import alphapulse.server.sql as server_sql
from alphapulse.lake import LakeWriter
from alphapulse.lake.snapshot import bump_generation
from alphapulse.query.views import VIEWS
from alphapulse.server.sql import (
    ELAPSED_KEY,
    TRUNCATED_KEY,
    QueryResult,
    ReadOnlySQL,
    SQLFailed,
    SQLRejected,
    SQLTimeout,
)
from tests.query_lakes import DAY0_NS, NS_PER_DAY, trades, write_trades_lake

ROWS = 2 * 1_500  # two venues, one day
#: Runs for minutes unless interrupted (a count over 10**18 rows).
LONG_QUERY = "select count(*) from range(1000000000) a, range(1000000000) b"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    write_trades_lake(root, venues=("kraken", "coinbase"), days=1, rows_per_day=1_500)
    return root


@pytest.fixture(scope="module")
def sql(lake: Path) -> Iterator[ReadOnlySQL]:
    service = ReadOnlySQL(lake, max_rows=1_000, timeout_s=10)
    yield service
    service.close()


@pytest.fixture
def outside(lake: Path, tmp_path: Path) -> Path:
    """A directory beside the lake whose name starts with the lake's (a prefix match of
    ``allowed_directories`` would let it in), holding a CSV and a Parquet file."""
    sibling = lake.parent / f"{lake.name}-outside"
    sibling.mkdir(exist_ok=True)
    (sibling / "secret.csv").write_text("secret\n42\n")
    pq.write_table(pa.table({"secret": [42]}), sibling / "secret.parquet")
    return sibling


def raw(sql: ReadOnlySQL) -> duckdb.DuckDBPyConnection:
    """The locked connection itself, to show DuckDB's settings hold without the statement
    check."""
    con: duckdb.DuckDBPyConnection = sql._session.con
    return con


# -- what works ---------------------------------------------------------------------------


def test_a_select_over_trades(sql: ReadOnlySQL) -> None:
    result = sql.run("select venue, count(*) n from trades group by venue order by venue")
    assert result.table.to_pylist() == [
        {"venue": "coinbase", "n": ROWS // 2},
        {"venue": "kraken", "n": ROWS // 2},
    ]
    assert not result.truncated and 0 < result.elapsed_s < 5
    # The other SELECT forms, and DuckDB's catalog functions.
    assert sql.run("from trades limit 2").table.num_rows == 2
    assert sql.run("describe trades").table.num_rows > 10
    rows = sql.run("select name, value from duckdb_settings()").table.to_pylist()
    settings = {row["name"]: row["value"] for row in rows}
    assert settings["enable_external_access"] == "false"
    assert settings["lock_configuration"] == "true"


def test_the_macros_work_under_the_lock(sql: ReadOnlySQL, lake: Path) -> None:
    query = "select * from bars('1h', venue := 'kraken')"
    with alphapulse.connect(lake) as unlocked:
        expected = unlocked.arrow(query)
    got = sql.run(query).table
    assert got.num_rows == 2 * 24 and got.schema == expected.schema
    # Sums of floats depend on how DuckDB's threads split them: compared with a tolerance.
    sums = ["volume", "vwap"]
    assert got.drop_columns(sums).equals(expected.drop_columns(sums))
    for name in sums:
        assert got.column(name).to_pylist() == pytest.approx(expected.column(name).to_pylist())
    # book_top is a Python function inside the query: still callable.
    book = sql.run("select * from book_top('kraken', 'BTC-USD', '2026-03-02 12:00')")
    assert book.table.column_names[:4] == ["side", "level", "price", "size"]


def test_the_lake_itself_is_readable(sql: ReadOnlySQL, lake: Path) -> None:
    """``allowed_directories`` is the lake: its own files open by name."""
    files = f"'{lake}/trades/**/*.parquet'"
    result = sql.run(f"select count(*) n from read_parquet({files})")
    assert result.table.column("n").to_pylist() == [ROWS]


def test_rows_committed_after_the_first_query_are_seen(tmp_path: Path) -> None:
    """The session's refresh re-creates its views over new files on the locked connection."""
    write_trades_lake(tmp_path, venues=("kraken",), days=1, rows_per_day=500)
    service = ReadOnlySQL(tmp_path)
    try:
        count = "select count(*) n, count(distinct date) n_days from trades"
        assert service.run(count).table.to_pylist() == [{"n": 500, "n_days": 1}]
        with LakeWriter(tmp_path) as writer:
            writer.write(
                "trades", trades("kraken", ["BTC-USD"], DAY0_NS + 2 * NS_PER_DAY, 1_000, 10, 5)
            )
        bump_generation(tmp_path)
        assert service.run(count).table.to_pylist() == [{"n": 510, "n_days": 2}]
    finally:
        service.close()


# -- what is refused ----------------------------------------------------------------------


def refused_statements(lake: Path, elsewhere: Path) -> dict[str, str]:
    return {
        "copy out": f"copy (select 1 x) to '{elsewhere}/out.csv'",
        "copy into the lake": f"copy (select 1 x) to '{lake}/out.csv'",
        "copy from": f"copy trades from '{elsewhere}/secret.csv'",
        "attach": f"attach '{elsewhere}/attached.duckdb' as other",
        "attach in the lake": f"attach '{lake}/attached.duckdb' as other",
        "attach memory": "attach ':memory:' as other",
        "install": "install httpfs",
        "load": "load httpfs",
        "set": "set enable_external_access = true",
        "set lock": "set lock_configuration = false",
        "reset": "reset lock_configuration",
        "pragma": "pragma enable_profiling",
        "call": "call duckdb_settings()",
        "create table": "create table t as select * from trades",
        "create view": "create view v as select 1",
        "create temp view": "create or replace temp view trades as select 1 x",
        "create macro": "create macro f(x) as x",
        "drop": "drop view trades",
        "insert": "insert into trades select * from trades",
        "export": f"export database '{lake}/exported'",
        "explain analyze": "explain analyze select 1",
        "checkpoint": "checkpoint",
        "begin": "begin transaction",
    }


@pytest.mark.parametrize("name", list(refused_statements(Path(), Path())))
def test_statements_other_than_select_are_rejected(
    sql: ReadOnlySQL, lake: Path, outside: Path, name: str
) -> None:
    statement = refused_statements(lake, outside)[name]
    before = {p for p in (*lake.rglob("*"), *outside.rglob("*"))}
    with pytest.raises(SQLRejected, match="runs only a SELECT"):
        sql.run(statement)
    assert {p for p in (*lake.rglob("*"), *outside.rglob("*"))} == before
    assert sql.run("select count(*) n from trades").table.column("n").to_pylist() == [ROWS]


@pytest.mark.parametrize(
    "name", ["copy out", "attach", "install", "load", "set", "set lock", "reset"]
)
def test_the_connection_refuses_them_too(
    sql: ReadOnlySQL, lake: Path, outside: Path, name: str
) -> None:
    """DuckDB's own lock, under the statement check: what reaches outside the lake or
    changes a setting fails on the connection itself. (Inside the lake DuckDB would let a
    COPY or ATTACH write: only the statement check stops those.)"""
    before = set(outside.iterdir())
    with pytest.raises((duckdb.PermissionException, duckdb.InvalidInputException)):
        raw(sql).execute(refused_statements(lake, outside)[name])
    assert set(outside.iterdir()) == before
    settings = (
        "select current_setting('enable_external_access'), current_setting('lock_configuration')"
    )
    assert raw(sql).execute(settings).fetchall() == [(False, True)]


def test_more_than_one_statement_is_rejected(sql: ReadOnlySQL) -> None:
    for text in ("select 1; drop view trades", "select 1; select 2", "select 1;;select 2"):
        with pytest.raises(SQLRejected, match="2 statements: give exactly one SELECT"):
            sql.run(text)
    assert sql.run("select count(*) n from trades").table.column("n").to_pylist() == [ROWS]
    assert sql.run("select 1 x;").table.to_pylist() == [{"x": 1}]  # one, with its semicolon


@pytest.mark.parametrize(
    "reader",
    [
        "read_csv('{file}.csv')",
        "read_csv_auto('{file}.csv')",
        "read_text('{file}.csv')",
        "read_blob('{file}.csv')",
        "read_json('{file}.csv')",
        "read_parquet('{file}.parquet')",
        "parquet_metadata('{file}.parquet')",
        "'{file}.parquet'",
        "glob('{dir}/*')",
        "read_text('{lake}/../{dir_name}/secret.csv')",
        "read_csv('/etc/passwd')",
        "read_text('/etc/passwd')",
        "glob('/etc/*')",
        "read_text('~/.bashrc')",
        "read_parquet('https://example.com/x.parquet')",
    ],
)
def test_files_outside_the_lake_are_refused(
    sql: ReadOnlySQL, lake: Path, outside: Path, reader: str
) -> None:
    source = reader.format(file=outside / "secret", dir=outside, lake=lake, dir_name=outside.name)
    with pytest.raises(SQLRejected, match="reads only the lake") as refused:
        sql.run(f"select * from {source}")
    assert "\n" not in str(refused.value)


def test_no_write_through_a_table_function(sql: ReadOnlySQL, lake: Path, outside: Path) -> None:
    """``query()`` runs SQL text inside a SELECT; DuckDB lets it run only a SELECT."""
    for target in (outside, lake):
        for inner in (
            f"copy (select 1) to ''{target}/via_query.csv''",
            f"attach ''{target}/via_query.duckdb'' as other",
            "create table t as select 1",
        ):
            with pytest.raises((SQLRejected, SQLFailed)):
                sql.run(f"select * from query('{inner}')")
        assert not list(target.glob("via_query*"))
    # What query() may run, it runs (read-only, through the same lock).
    assert sql.run("select * from query('select 41 + 1 x')").table.to_pylist() == [{"x": 42}]


def test_errors_are_one_line(sql: ReadOnlySQL) -> None:
    with pytest.raises(SQLFailed, match="syntax error") as syntax:
        sql.run("selec 1")
    with pytest.raises(SQLFailed, match="nope") as column:
        sql.run("select nope from trades")
    with pytest.raises(SQLFailed, match="the lake's views") as table:
        sql.run("select * from nope")
    # An error half-way through the rows comes through pyarrow's reader: the same line.
    with pytest.raises(SQLFailed, match=r"^Invalid Input Error: boom$") as streamed:
        sql.run("select case when i > 5000 then error('boom') end x from range(10000) t(i)")
    for error in (syntax, column, table, streamed):
        assert "\n" not in str(error.value)
    for empty in ("", "  ", "-- nothing"):
        with pytest.raises(SQLRejected, match="empty query"):
            sql.run(empty)


# -- the cap and the timeout --------------------------------------------------------------


def test_the_row_cap(sql: ReadOnlySQL) -> None:
    capped = sql.run("select * from trades order by ts_recv", max_rows=100)
    assert capped.truncated and capped.table.num_rows == 100
    exact = sql.run("select * from trades limit 100", max_rows=100)
    assert not exact.truncated and exact.table.num_rows == 100
    # The constructor's max_rows is the ceiling: a request for more gets it.
    ceiling = sql.run("select * from trades", max_rows=10**9)
    assert ceiling.truncated and ceiling.table.num_rows == 1_000
    schema_only = sql.run("select * from trades", max_rows=0)
    assert schema_only.truncated and schema_only.table.num_rows == 0
    assert schema_only.table.schema.names[:2] == ["ts_event", "ts_recv"]
    # Read a batch at a time: a trillion rows cost no more than the cap.
    started = time.monotonic()
    endless = sql.run("select * from range(1000000000000)", max_rows=10)
    assert endless.truncated and endless.table.column(0).to_pylist() == list(range(10))
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "query",
    [
        LONG_QUERY,  # an aggregate: interrupted in DuckDB before the reader exists
        # 500 rows at once, then none for minutes: DuckDB has handed over the reader, and
        # the interrupt comes through pyarrow's (as an OSError).
        "select i from range(100000000000) t(i) where i < 500 or hash(i) % 1000000000000 = 0",
    ],
    ids=["aggregate", "stream"],
)
def test_a_long_query_is_interrupted_and_the_session_lives_on(sql: ReadOnlySQL, query: str) -> None:
    started = time.monotonic()
    with pytest.raises(SQLTimeout, match="timeout of 1 s"):
        sql.run(query, timeout_s=1)
    assert time.monotonic() - started < 2
    assert sql.run("select count(*) n from trades").table.column("n").to_pylist() == [ROWS]


def test_a_query_waiting_for_the_session_times_out(sql: ReadOnlySQL) -> None:
    """Queries run one at a time; the wait counts against the timeout."""
    failures: list[BaseException] = []

    def long() -> None:
        try:
            sql.run(LONG_QUERY, timeout_s=1.5)
        except SQLTimeout as e:
            failures.append(e)

    thread = threading.Thread(target=long)
    thread.start()
    time.sleep(0.2)
    with pytest.raises(SQLTimeout, match="busy"):
        sql.run("select 1", timeout_s=0.3)
    thread.join()
    assert len(failures) == 1
    results: list[QueryResult] = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(sql.run(f"select {i} x")))
        for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.table.column("x")[0].as_py() for r in results) == list(range(8))


def test_bad_arguments(sql: ReadOnlySQL, lake: Path) -> None:
    for max_rows in (-1, 1.5, True, "10"):
        with pytest.raises(ValueError, match="max_rows"):
            sql.run("select 1", max_rows=max_rows)  # type: ignore[arg-type]
    for timeout in (0, -1, float("nan"), float("inf"), "1"):
        with pytest.raises(ValueError, match="timeout_s"):
            sql.run("select 1", timeout_s=timeout)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_rows"):
        ReadOnlySQL(lake, max_rows=-5)


def test_close(lake: Path) -> None:
    service = ReadOnlySQL(lake)
    assert service.run("select 1 x").table.num_rows == 1
    service.close()
    service.close()
    with pytest.raises(SQLFailed, match="closed"):
        service.run("select 1 x")


# -- schema -------------------------------------------------------------------------------


def test_the_schema_is_the_views_a_query_names(sql: ReadOnlySQL) -> None:
    tables = sql.schema()
    assert [t["name"] for t in tables] == sorted(VIEWS)  # not the _alphapulse_ ones beneath
    for table in tables:
        described = sql.run(f"describe {table['name']}").table
        assert table["columns"] == [
            {"name": name, "type": kind}
            for name, kind in zip(
                described.column("column_name").to_pylist(),
                described.column("column_type").to_pylist(),
                strict=True,
            )
        ]


def test_the_schema_is_reused_then_listed_again(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = ReadOnlySQL(lake)
    try:
        first = service.schema()
        assert service.schema() is first  # within SCHEMA_MAX_AGE_S: the same answer
        monkeypatch.setattr(server_sql, "SCHEMA_MAX_AGE_S", 0.0)
        again = service.schema()
        assert again is not first and again == first
    finally:
        service.close()
    with pytest.raises(SQLFailed, match="closed"):
        service.schema()


def test_the_schema_never_waits_on_a_query(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A completion while someone's long query holds the session: the last answer, now."""
    service = ReadOnlySQL(lake)
    try:
        first = service.schema()
        monkeypatch.setattr(server_sql, "SCHEMA_MAX_AGE_S", 0.0)
        timed_out: list[SQLTimeout] = []

        def long() -> None:
            try:
                service.run(LONG_QUERY, timeout_s=2)
            except SQLTimeout as e:
                timed_out.append(e)

        thread = threading.Thread(target=long)
        thread.start()
        time.sleep(0.3)
        started = time.perf_counter()
        assert service.schema() is first
        assert time.perf_counter() - started < 0.1
        thread.join()
        assert len(timed_out) == 1  # the query did hold the session all along
    finally:
        service.close()


# -- encodings ----------------------------------------------------------------------------

TYPED = """
select
    '2026-03-02 01:02:03.123456789'::timestamptz_ns ts_ns,
    '2026-03-02 01:02:03.5'::timestamp ts_naive,
    date '2026-03-02' a_day,
    3.25::decimal(10, 2) price,
    123456789012345678.5::decimal(20, 1) wide,
    170141183460469231731687303715884105727::hugeint huge,
    9007199254740993::bigint big,
    9007199254740991::bigint biggest_exact,
    18446744073709551615::ubigint ubig,
    'nan'::double nan,
    'inf'::double inf,
    null::int nothing,
    'ab'::blob bytes,
    interval 90 minute span,
    [1, 2, null] ints,
    {'at': '2026-03-02 00:00:00.000000001'::timestamptz_ns, 'n': 2} nested,
    map(['a'], [1.5]) mapping,
    'x'::enum('x', 'y') label
"""


def test_json_keeps_every_value_exact(sql: ReadOnlySQL) -> None:
    result = sql.run(TYPED)
    answer = orjson.loads(result.to_json())
    assert set(answer) == {"columns", "rows", "row_count", "truncated", "elapsed_ms"}
    assert answer["row_count"] == 1 and answer["truncated"] is False
    assert answer["elapsed_ms"] == pytest.approx(result.elapsed_s * 1000, abs=0.01)
    names = [c["name"] for c in answer["columns"]]
    assert names == result.table.column_names
    assert answer["columns"][0]["type"] == "timestamp[ns, tz=UTC]"
    row = dict(zip(names, answer["rows"][0], strict=True))
    assert row == {
        "ts_ns": "2026-03-02T01:02:03.123456789Z",
        "ts_naive": "2026-03-02T01:02:03.500000",
        "a_day": "2026-03-02",
        "price": 3.25,
        "wide": "123456789012345678.5",
        "huge": "170141183460469231731687303715884105727",
        "big": "9007199254740993",
        "biggest_exact": 9007199254740991,
        "ubig": "18446744073709551615",
        "nan": None,
        "inf": None,
        "nothing": None,
        "bytes": "6162",
        "span": "PT1H30M",
        "ints": [1, 2, None],
        "nested": {"at": "2026-03-02T00:00:00.000000001Z", "n": 2},
        "mapping": [{"key": "a", "value": 1.5}],
        "label": "x",
    }


def test_json_of_trades_matches_the_table(sql: ReadOnlySQL) -> None:
    result = sql.run("select * from trades order by ts_recv, trade_id", max_rows=50)
    answer = orjson.loads(result.to_json())
    assert answer["row_count"] == 50 and answer["truncated"] is True
    columns = dict(zip(result.table.column_names, zip(*answer["rows"], strict=True), strict=True))
    assert list(columns["price_raw"]) == result.table.column("price_raw").to_pylist()
    assert list(columns["price"]) == result.table.column("price").to_pylist()
    expected_ts = [
        t.replace(" ", "T") for t in result.table.column("ts_recv").cast(pa.string()).to_pylist()
    ]
    assert list(columns["ts_recv"]) == expected_ts
    assert all(
        t.endswith("Z") and len(t) == len("2026-03-02T00:00:00.123456789Z") for t in expected_ts
    )


def test_arrow_ipc_round_trips(sql: ReadOnlySQL) -> None:
    for query, max_rows in ((TYPED, 10), ("select * from trades", 20)):
        result = sql.run(query, max_rows=max_rows)
        read = pa.ipc.open_stream(result.to_arrow_ipc()).read_all()
        metadata = read.schema.metadata
        assert metadata[TRUNCATED_KEY] == (b"true" if result.truncated else b"false")
        assert float(metadata[ELAPSED_KEY]) == pytest.approx(result.elapsed_s * 1000, abs=0.01)
        assert read.schema.remove_metadata() == result.table.schema.remove_metadata()
        expected = result.table
        if "nan" in read.column_names:  # NaN equals nothing, itself included: apart
            assert math.isnan(read.column("nan")[0].as_py())
            read, expected = read.drop_columns(["nan"]), expected.drop_columns(["nan"])
        assert read.replace_schema_metadata(None).equals(expected.replace_schema_metadata(None))
    assert result.truncated and read.num_rows == 20
