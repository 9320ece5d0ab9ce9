"""``alphapulse sql`` as a user runs it: a table on a terminal, CSV in a pipe, JSON on
request, and every bad input one line on stderr with exit 1."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from alphapulse.lake.layout import MARKER
from tests.query_lakes import write_trades_lake


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alphapulse", "sql", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    write_trades_lake(root, venues=("kraken", "coinbase"), days=2, rows_per_day=500)
    return root


COUNTS = "select venue, date, count(*) n from trades group by all order by venue, date"


def test_csv_in_a_pipe(lake: Path) -> None:
    out = run(COUNTS, "--lake", str(lake))
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [(r["venue"], r["date"], r["n"]) for r in rows] == [
        ("coinbase", "2026-03-02", "500"),
        ("coinbase", "2026-03-03", "500"),
        ("kraken", "2026-03-02", "500"),
        ("kraken", "2026-03-03", "500"),
    ]
    assert out.stderr == ""


def test_timestamps_keep_their_nanoseconds(lake: Path) -> None:
    query = "select ts_recv, epoch_ns(ts_recv) ns from trades order by ts_recv limit 3"
    for fmt in ("csv", "json"):
        out = run(query, "--lake", str(lake), "--format", fmt)
        assert out.returncode == 0, out.stderr
        rows = (
            list(csv.DictReader(io.StringIO(out.stdout)))
            if fmt == "csv"
            else json.loads(out.stdout)
        )
        assert len(rows) == 3
        for row in rows:
            assert str(row["ns"])[-9:] == str(row["ts_recv"]).split(".")[1][:9]


def test_table_on_a_terminal(lake: Path) -> None:
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "alphapulse", "sql", COUNTS, "--lake", str(lake)],
            stdout=follower,
            stderr=subprocess.PIPE,
            timeout=120,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal is closed once everything is read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    assert done.returncode == 0, done.stderr
    lines = b"".join(chunks).decode().replace("\r\n", "\n").splitlines()
    assert lines[0].split() == ["venue", "date", "n"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["coinbase", "2026-03-02", "500"]
    # Numbers are right-aligned under their header.
    assert lines[2].rstrip().endswith("500") and len(lines[2].rstrip()) == len(lines[0].rstrip())
    assert lines[-1].startswith("4 rows in ") and lines[-1].endswith(" ms")


def test_json_and_max_rows(lake: Path) -> None:
    out = run(COUNTS, "--lake", str(lake), "--format", "json", "--max-rows", "2")
    assert out.returncode == 0, out.stderr
    assert orjson.loads(out.stdout) == [
        {"venue": "coinbase", "date": "2026-03-02", "n": 500},
        {"venue": "coinbase", "date": "2026-03-03", "n": 500},
    ]
    table = run(COUNTS, "--lake", str(lake), "--format", "table", "--max-rows", "1")
    assert table.stdout.splitlines()[-1].startswith("4 rows (3 not shown: --max-rows) in ")


def test_the_query_from_stdin_and_the_macros(lake: Path) -> None:
    out = run("-", "--lake", str(lake), stdin="select sum(trades) n from bars('1h')")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ['"n"', "2000"]


@pytest.mark.parametrize(
    ("query", "lake_kind", "expected"),
    [
        ("select * frm trades", "lake", "Parser Error: syntax error at or near"),
        ("select * from trade", "lake", "the lake's views: trades"),
        ("select cast(symbol as integer) from trades", "lake", "Conversion Error"),
        ("select 1", "missing", "no lake at"),
        ("select 1", "empty", "not a lake yet"),
        ("select 1", "newer", "upgrade alphapulse"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    lake: Path, tmp_path: Path, query: str, lake_kind: str, expected: str
) -> None:
    where = {"lake": lake, "missing": tmp_path / "missing", "empty": tmp_path}.get(lake_kind)
    if lake_kind == "newer":
        where = tmp_path
        (tmp_path / MARKER).write_bytes(
            orjson.dumps({"format": "alphapulse.lake", "schema_version": 2})
        )
    out = run(query, "--lake", str(where))
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("alphapulse sql: error: ")
    assert expected in out.stderr


def test_a_bad_option_is_a_usage_error(lake: Path) -> None:
    out = run("select 1", "--lake", str(lake), "--max-rows", "-3")
    assert out.returncode == 2 and "--max-rows" in out.stderr


@pytest.mark.parametrize(("query", "stdin"), [("", None), ("   ", None), (";", None), ("-", "")])
def test_an_empty_query_is_a_usage_error(lake: Path, query: str, stdin: str | None) -> None:
    out = run(query, "--lake", str(lake), stdin=stdin)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "empty query" in out.stderr


def test_json_keeps_decimals_exact_and_nests_lists_structs_and_maps(lake: Path) -> None:
    out = run(
        "select 1.5 x, sum(size_raw) total,"
        " 170141183460469231731687303715884105727::hugeint huge,"
        " 12345678901234567890.125::decimal(38,3) wide, [1, 2] l,"
        " {'k': 'v', 'n': [1]} st, map {'m': 2} m, max(ts_recv) last,"
        " interval '1 year 2 months 3 days 04:05:06.5' i from trades",
        "--lake",
        str(lake),
        "--format",
        "json",
    )
    assert out.returncode == 0, out.stderr
    assert '"huge":170141183460469231731687303715884105727' in out.stdout
    assert '"wide":12345678901234567890.125' in out.stdout
    (row,) = json.loads(out.stdout)
    assert row["x"] == 1.5 and isinstance(row["total"], int) and row["total"] > 0
    assert row["l"] == [1, 2] and row["st"] == {"k": "v", "n": [1]} and row["m"] == {"m": 2}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", row["last"]), row["last"]
    assert row["i"] == "P1Y2M3DT4H5M6.5S"


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_repeated_column_names_are_made_unique_in_every_format(lake: Path, fmt: str) -> None:
    out = run(
        "select 1 a, 2 a, interval '-2 months 1 second' i", "--lake", str(lake), "--format", fmt
    )
    assert out.returncode == 0, out.stderr
    if fmt == "json":
        assert json.loads(out.stdout) == [{"a": 1, "a_1": 2, "i": "P-2MT1S"}]
    else:
        header, *rest = out.stdout.splitlines()
        assert header.replace('"', "").replace(",", " ").split() == ["a", "a_1", "i"]
        assert "P-2MT1S" in rest[0 if fmt == "csv" else 1]
