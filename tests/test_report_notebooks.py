"""The report notebooks of ``notebooks/reports/``, run by the report runner against a lake of
known content (``tests/report_lakes.py``).

Each figure a report prints is found in its HTML (in the table and row the report puts it)
and compared, at the precision shown, with a DuckDB query of its own over the lake's files
(``read_parquet`` of the partitions: not the session's views or macros the reports use).
The HTML must carry no code and real pictures; a day without data says so; a bad parameter
fails the run with a one-line error.
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import nbformat
import pytest

from alphapulse.reports import ReportRun, list_reports, run_report
from tests.report_lakes import BOOK_MID, BOOK_SPREAD, DAY, JUMP_AT, NEXT, write_report_lake

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "notebooks" / "reports"
ARTIFACTS = ROOT / "data" / "test-artifacts" / "reports"
NO_DATA_DAY = "2026-03-05"
FRAME_TABLES = ("trades", "quotes", "book_deltas", "bars", "news", "statuses", "rejects")


@pytest.fixture(scope="module", autouse=True)
def source_reports() -> Iterator[None]:
    """Run the notebooks of this checkout, not copies a `make templates` left in the package."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALPHAPULSE_REPORTS", str(REPORTS))
        yield


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("reports")
    write_report_lake(base / "lake")
    return base


@pytest.fixture(scope="module")
def db(base: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """DuckDB over the lake's files, one view per table (none of the session's machinery)."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for table in (*FRAME_TABLES, "events"):
        if (base / "lake" / table).is_dir():
            glob = f"{base / 'lake' / table}/*/*/*.parquet"
            files = f"read_parquet('{glob}', hive_partitioning = true)"
            con.execute(f"create view {table} as select * from {files}")
    yield con
    con.close()


class Page:
    """A report's HTML: its tables (by ``data-table``), text and pictures."""

    def __init__(self, run: ReportRun) -> None:
        assert run.html is not None, run.error
        self.run = run
        self.html = run.html.read_text()
        parser = _Tables()
        parser.feed(self.html)
        self.tables = parser.tables
        body = re.sub(r"<(style|script)\b.*?</\1>", " ", self.html, flags=re.S)
        self.text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))
        self.pngs = [
            base64.b64decode(b64)
            for b64 in re.findall(r'<img[^>]*src="data:image/png;base64,([^"]+)"', self.html)
        ]

    def rows(self, table: str, *key: str) -> dict[tuple[str, ...], dict[str, str]]:
        """The rows of ``table`` by the values of its ``key`` columns."""
        return {tuple(row[k] for k in key): row for row in self.tables[table]}


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[dict[str, str]]] = {}
        self._name: str | None = None
        self._rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._name, self._rows = dict(attrs).get("data-table"), []
        elif tag == "tr" and self._name:
            self._rows.append([])
        elif tag in ("td", "th") and self._name:
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self._rows[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table" and self._name:
            header, *body = self._rows
            self.tables[self._name] = [dict(zip(header, row, strict=True)) for row in body]
            self._name = None


def shown(text: str, value: float | None) -> bool:
    """Whether ``text`` is ``value`` as the report prints it: rounded to the decimals shown,
    with thousands separators and a sign perhaps; None as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return text == "—"
    plain = text.replace(",", "").replace("+", "")
    decimals = len(plain.split(".")[1]) if "." in plain else 0
    return abs(float(plain) - value) <= 0.5 * 10.0**-decimals + 1e-9 * abs(value)


def report(base: Path, name: str, **params: Any) -> Page:
    run = run_report(name, params, data_dir=base / "data", lake=base / "lake", timeout=300)
    assert run.status == "succeeded", f"{run.error}\n{run.traceback}"
    page = Page(run)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tag = "-".join(str(v).replace("/", "") for v in params.values()) or "default"
    (ARTIFACTS / f"{name}-{tag}.html").write_text(page.html)
    return page


@pytest.fixture(scope="module")
def summary(base: Path) -> Page:
    return report(base, "daily_summary", date=DAY.isoformat())


@pytest.fixture(scope="module")
def quality(base: Path) -> Page:
    return report(base, "data_quality")  # the newest day with venue events: DAY


def test_trading_figures_are_the_lakes(summary: Page, db: duckdb.DuckDBPyConnection) -> None:
    expected = db.execute(
        """
        select venue, symbol, count(*), sum(size), sum(price * size), sum(price * size) / sum(size),
               arg_min(price, ts_recv), max(price), min(price), arg_max(price, ts_recv),
               100 * (arg_max(price, ts_recv) / arg_min(price, ts_recv) - 1)
        from trades where date = ? group by all
        """,
        [DAY],
    ).fetchall()
    rows = summary.rows("trading", "venue", "symbol")
    instruments = {("kraken", "BTC/USD"), ("kraken", "ETH/USD"), ("coinbase", "BTC-USD")}
    assert set(rows) == {(v, s) for v, s, *_ in expected} == instruments
    columns = ("volume", "notional", "VWAP", "open", "high", "low", "close", "return %")
    for venue, symbol, trades, *values in expected:
        row = rows[venue, symbol]
        assert row["trades"] == f"{trades:,}"
        for column, value in zip(columns, values, strict=True):
            assert shown(row[column], value), (venue, symbol, column, row[column], value)
    # Sorted by notional, largest first.
    notional = [float(r["notional"].replace(",", "")) for r in summary.tables["trading"]]
    assert notional == sorted(notional, reverse=True)


def test_volatility_moves_spreads_and_news(summary: Page, db: duckdb.DuckDBPyConnection) -> None:
    # 1-minute closes (the last trade of each minute), their log returns and the minutes
    # each spans: the volatility annualised over 525,600 minutes, the largest return.
    db.execute(
        """
        create or replace temp table returns as
        with minutes as (
            select venue, symbol, time_bucket(interval 1 minute, ts_recv) as minute,
                   arg_max(price, ts_recv) as close
            from trades where date = ? group by all
        )
        select venue, symbol, minute, close, lag(close) over w as previous,
               ln(close / lag(close) over w) as r,
               datediff('minute', lag(minute) over w, minute) as span
        from minutes window w as (partition by venue, symbol order by minute)
        """,
        [DAY],
    )
    volatility = db.execute(
        """select venue, symbol, 100 * sqrt(sum(r * r) * 525600 / sum(span)), count(r)
           from returns where r is not null group by all"""
    ).fetchall()
    rows = summary.rows("risk", "venue", "symbol")
    for venue, symbol, vol, count in volatility:
        assert shown(rows[venue, symbol]["realized vol %"], vol)
        assert rows[venue, symbol]["1-min returns"] == f"{count:,}"

    moves = db.execute(
        """select strftime(minute, '%H:%M'), venue, symbol, 100 * (exp(r) - 1), previous, close
           from returns where r is not null order by abs(r) desc limit 10"""
    ).fetchall()
    table = summary.tables["moves"]
    assert len(table) == 10
    for row, (minute, venue, symbol, move, previous, close) in zip(table, moves, strict=True):
        assert (row["minute (UTC)"], row["venue"], row["symbol"]) == (minute, venue, symbol)
        assert shown(row["move %"], move) and shown(row["from"], previous)
        assert shown(row["to"], close)
    # The planted jump is the day's largest move, and each instrument's largest is its own.
    assert (table[0]["minute (UTC)"], table[0]["symbol"]) == (f"{JUMP_AT:%H:%M}", "BTC/USD")
    assert float(table[0]["move %"]) > 1.4
    largest = db.execute(
        """select venue, symbol, 100 * (exp(arg_max(r, abs(r))) - 1) from returns
           where r is not null group by all"""
    ).fetchall()
    for venue, symbol, move in largest:
        assert shown(rows[venue, symbol]["largest move %"], move)

    spreads = db.execute(
        """select venue, symbol, avg(bps), median(bps), count(*) from (
               select venue, symbol,
                      1e4 * (ask_price - bid_price) / ((ask_price + bid_price) / 2) as bps
               from quotes where date = ? and bid_price > 0 and ask_price >= bid_price)
           group by all""",
        [DAY],
    ).fetchall()
    assert len(spreads) == 2
    for venue, symbol, mean, median, count in spreads:
        row = rows[venue, symbol]
        assert shown(row["spread mean (bps)"], mean) and shown(row["spread median (bps)"], median)
        assert row["spread from"] == f"quotes ({count:,})"
    # coinbase sent no quotes: its book, whose best levels stay BOOK_SPREAD apart.
    book = rows["coinbase", "BTC-USD"]
    assert book["spread from"] == "book (48 instants)"
    assert shown(book["spread mean (bps)"], 1e4 * BOOK_SPREAD / BOOK_MID)
    assert shown(book["spread median (bps)"], 1e4 * BOOK_SPREAD / BOOK_MID)

    for venue, symbol in rows:
        key = re.sub(r"[^A-Z]", "", symbol)
        (stories,) = db.execute(
            "select count(*) from news where date = ? and list_contains(symbols, ?)", [DAY, key]
        ).fetchone() or (None,)
        assert stories and rows[venue, symbol]["news"] == str(stories)
    per_symbol = summary.rows("news", "symbol")
    assert {k[0]: r["stories"] for k, r in per_symbol.items()} == {
        "BTCUSD": "4",
        "ETHUSD": "2",
        "SOLUSD": "1",
    }


def test_the_html_has_no_code_and_real_pictures(summary: Page, quality: Page) -> None:
    for page, figures in ((summary, 3), (quality, 3)):
        html = page.html
        # (their names are in the page's stylesheet, so elements are what is looked for)
        assert not re.search(r'class="[^"]*\b(hl-ipython3|jp-InputArea-editor)\b', html)
        for code in ("import alphapulse", "s.query(", "def show(", "parse_day", "plt.show"):
            assert code not in html
        # No error, no warning: nothing written to stderr.
        assert "Traceback" not in page.text and "Error" not in page.text
        assert 'data-mime-type="application/vnd.jupyter.stderr"' not in html
        assert len(page.pngs) == figures, page.run.html
        for png in page.pngs:
            assert png.startswith(b"\x89PNG\r\n\x1a\n")
            assert _drew_something(png)


def _drew_something(png: bytes) -> bool:
    """More than axes on white: over 500 pixels of colour (not black, white or grey)."""
    import matplotlib.image as mpimg
    import numpy as np

    pixels = mpimg.imread(io.BytesIO(png), format="png")[..., :3]
    rgb = (pixels * 255).astype(np.int16)
    return int(((rgb.max(axis=2) - rgb.min(axis=2)) > 60).sum()) > 500


def test_the_newest_day_by_default_and_filters(base: Path) -> None:
    newest = report(base, "daily_summary")
    assert f"{NEXT} (UTC)" in newest.text
    rows = newest.rows("trading", "venue", "symbol")
    assert list(rows) == [("kraken", "BTC/USD")] and rows["kraken", "BTC/USD"]["trades"] == "100"
    risk = newest.rows("risk", "venue", "symbol")["kraken", "BTC/USD"]
    assert risk["spread mean (bps)"] == risk["spread from"] == "—"  # no quotes, no book

    only = report(base, "daily_summary", date=DAY.isoformat(), venue="kraken", symbols="ETH/USD")
    assert list(only.rows("trading", "venue", "symbol")) == [("kraken", "ETH/USD")]
    assert {r["symbol"] for r in only.tables["moves"]} == {"ETH/USD"}


def test_a_day_without_trades_says_so(base: Path) -> None:
    page = report(base, "daily_summary", date=NO_DATA_DAY)
    assert f"No trades on {NO_DATA_DAY}" in page.text
    assert f"trades run from {DAY} to {NEXT}" in page.text
    assert not page.tables and not page.pngs

    page = report(base, "data_quality", date=NO_DATA_DAY)
    assert f"No collector events on {NO_DATA_DAY}" in page.text
    assert "lake" in page.tables  # what the lake holds is still shown


@pytest.mark.parametrize("date", ["yesterday", "2026-02-30"])
def test_a_bad_date_fails_the_run_with_one_line(base: Path, date: str) -> None:
    run = run_report("daily_summary", {"date": date}, data_dir=base / "data", lake=base / "lake")
    assert run.status == "failed"
    assert run.error is not None and "\n" not in run.error
    assert 'date must be a UTC day "YYYY-MM-DD"' in run.error and repr(date) in run.error
    assert run.html is not None  # the partial notebook, rendered: it shows where it stopped


def test_integrity_and_connections_per_venue(quality: Page, db: duckdb.DuckDBPyConnection) -> None:
    assert f"{DAY} (UTC)" in quality.text
    expected = db.execute(
        """
        select venue,
               count(*) filter (where kind = 'gap'),
               count(*) filter (where kind = 'checksum_failed'),
               sum(cast(json_extract(detail, '$.count') as int)) filter (where kind = 'reject'),
               count(*) filter (where kind = 'resync_needed'),
               count(*) filter (where kind = 'resync'),
               count(*) filter (where kind = 'connect'),
               count(*) filter (where kind = 'disconnect'),
               count(*) filter (where kind = 'reconnect_scheduled')
        from events where date = ? and venue <> 'service' group by venue
        """,
        [DAY],
    ).fetchall()
    integrity = quality.rows("integrity", "venue")
    connections = quality.rows("connections", "venue")
    assert set(integrity) == set(connections) == {("kraken",), ("coinbase",)}
    for venue, gaps, checksums, rejects, needed, requests, connects, disconnects, again in expected:
        row = integrity[(venue,)]
        assert row["gaps"] == str(gaps) and row["checksum failures"] == str(checksums)
        assert row["rejects"] == str(rejects or 0)
        assert row["resyncs needed"] == str(needed) and row["resync requests"] == str(requests)
        row = connections[(venue,)]
        assert row["connects"] == str(connects) and row["disconnects"] == str(disconnects)
        assert row["reconnects"] == str(again)
    (rejected,) = db.execute("select count(*) from rejects where venue = 'kraken'").fetchone() or ()
    assert integrity[("kraken",)]["rejects"] == str(rejected) == "3"
    reasons = quality.rows("rejects", "venue", "reason")
    assert reasons["kraken", "bad json"]["frames"] == "2"


def test_out_of_sync_periods(quality: Page, db: duckdb.DuckDBPyConnection) -> None:
    # An independent reading: walk each book's resync_needed and synced events in order.
    events = db.execute(
        """select venue, instrument, kind, ts_recv from events
           where date = ? and kind in ('resync_needed', 'synced') order by ts_recv, seq""",
        [DAY],
    ).fetchall()
    open_since: dict[tuple[str, str], datetime] = {}
    periods = []
    for venue, instrument, kind, ts in events:
        if kind == "resync_needed":
            open_since.setdefault((venue, instrument), ts)
        elif (venue, instrument) in open_since:
            start = open_since.pop((venue, instrument))
            periods.append((start, venue, instrument, (ts - start).total_seconds()))
    periods.sort()
    table = quality.tables["periods"]
    assert len(table) == len(periods) == 4
    for row, (start, venue, instrument, seconds) in zip(table, periods, strict=True):
        assert (row["venue"], row["instrument"]) == (venue, instrument)
        assert row["from (UTC)"] == f"{start.astimezone(UTC):%H:%M:%S.%f}"[:-3]
        assert shown(row["seconds"], seconds)
    integrity = quality.rows("integrity", "venue")
    kraken = [p for p in periods if p[1] == "kraken"]
    assert integrity[("kraken",)]["out-of-sync periods"] == str(len(kraken))
    assert shown(integrity[("kraken",)]["out of sync (s)"], sum(p[3] for p in kraken))
    assert shown(integrity[("kraken",)]["longest (s)"], max(p[3] for p in kraken))


def test_frames_by_hour(quality: Page, db: duckdb.DuckDBPyConnection, base: Path) -> None:
    present = [t for t in FRAME_TABLES if (base / "lake" / t).is_dir()]
    rows = " union all ".join(f"select venue, ts_recv from {t} where date = $day" for t in present)
    expected = db.execute(
        f"select venue, hour(ts_recv), count(distinct ts_recv) from ({rows}) group by all",
        {"day": DAY},
    ).fetchall()
    table = quality.rows("frames", "hour")
    assert len(table) == len({hour for _, hour, _ in expected})  # only hours with frames
    for venue, hour, frames in expected:
        assert table[(f"{hour:02d}:00",)][venue] == f"{frames:,}"
    assert table[("10:00",)]["kraken"] == "3,600"  # the heartbeats of an hour


def test_lake_growth(quality: Page, db: duckdb.DuckDBPyConnection, base: Path) -> None:
    glob = f"{base / 'lake'}/*/venue=*/date={DAY}/*.parquet"
    expected = db.execute(
        f"""select regexp_extract(m.file_name, '/([a-z_]+)/venue=', 1), count(*), sum(m.num_rows),
                   sum(b.size) / 1e6
            from parquet_file_metadata('{glob}') m
            join read_blob('{glob}') b on b.filename = m.file_name
            group by all"""
    ).fetchall()
    day = quality.rows("growth_day", "table")
    assert set(day) == {(t,) for t, *_ in expected}
    for table, files, rows, megabytes in expected:
        row = day[(table,)]
        assert row["files"] == str(files) and row["rows"] == f"{rows:,}"
        assert shown(row["MB"], megabytes)
    held = quality.rows("lake", "table")
    (trades,) = db.execute("select count(*) from trades").fetchone() or ()
    assert held[("trades",)]["rows"] == f"{trades:,}"


def test_the_reports_are_listed_with_their_parameters() -> None:
    reports = {r.name: r for r in list_reports()}
    assert reports["daily_summary"].title == "Daily market summary"
    assert reports["daily_summary"].parameters == {
        "date": None,
        "venue": None,
        "symbols": None,
        "lake": None,
    }
    assert reports["data_quality"].title == "Data quality"
    assert reports["data_quality"].parameters == {"date": None, "venue": None, "lake": None}


def test_the_report_notebooks_are_committed_clean() -> None:
    paths = sorted(REPORTS.glob("*.ipynb"))
    assert [p.stem for p in paths] == ["daily_summary", "data_quality"]
    for path in paths:
        notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        nbformat.validate(notebook)
        assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")
        tags = [c.metadata.get("tags", []) for c in notebook.cells]
        assert tags.count(["parameters"]) == 1


def test_the_benchmarks_lake_has_a_quote_for_every_trade(tmp_path: Path) -> None:
    """`report_bench`'s lake (here tiny): lakegen's trades and as many quotes, never crossed,
    in files the lake's reader takes."""
    from alphapulse import connect
    from tests.benchmarks import lakegen, report_bench

    spec = lakegen.Spec(trades=3_000, symbols=4, days=1, venues=("binance", "coinbase"))
    root = report_bench.report_lake(spec, cache=tmp_path)
    assert report_bench.report_lake(spec, cache=tmp_path) == root  # cached
    with connect(root) as session:
        trades, quotes, crossed, symbols = session.query(
            """select (select count(*) from trades), count(*),
                      count(*) filter (where ask_price <= bid_price), count(distinct symbol)
               from quotes"""
        ).row(0)
    assert (trades, quotes, crossed, symbols) == (3_000, 3_000, 0, 4)
