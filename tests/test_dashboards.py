"""The dashboards' logic (alphapulse/dashboards/): the monitor's per-venue rows from the
collector's status and trades, the pace of redraws, the lake's size and last commit on a
lake written by the real LakeWriter, the news screen's stories and a story's bars; then
both dashboards against a real collector on the simulator (no browser: the widgets' values)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from alphapulse.control_client import find_control
from alphapulse.dashboards.feed import Coalescer
from alphapulse.dashboards.lake_usage import LakeUsageScanner
from alphapulse.dashboards.monitor_dashboard import MonitorDashboard, venues_html
from alphapulse.dashboards.monitor_model import FrameRates, MonitorModel, Timeline
from alphapulse.dashboards.news_dashboard import NewsDashboard
from alphapulse.dashboards.news_model import Stories, pick_instrument, story_chart
from alphapulse.lake import LakeWriter
from alphapulse.lake.compact import compact
from alphapulse.lake.info import info
from tests.query_lakes import DAY0_NS, message_batches, trades

S = 10**9


def status(ts: float, frames: dict[str, int], **venue: Any) -> dict[str, Any]:
    """A status as the collector's control endpoint answers it (the fields the model reads,
    with the others a real one has)."""
    venues = {
        name: {
            "frames": n,
            "rejects": 0,
            "connects": 1,
            "connected": 1,
            "gaps": 0,
            "checksums_failed": 0,
            "resyncs": 0,
            "out_of_sync": [],
            "state": "running",
            **venue.get(name, {}),
        }
        for name, n in frames.items()
    }
    return {"pid": 4242, "ts": ts, "uptime_s": 12.5, "wire_to_book_p99_us": 50.0, "venues": venues}


def test_per_venue_rows_from_statuses_and_trades() -> None:
    model = MonitorModel()
    for k in range(5):  # every 0.25 s: kraken +50 frames (200/s), coinbase +25 (100/s)
        frames = {"kraken": 1000 + 50 * k, "coinbase": 400 + 25 * k, "binance": 7}
        model.apply_status(
            status(
                100.0 + 0.25 * k,
                frames,
                coinbase={"gaps": 3, "resyncs": 1, "rejects": 2, "out_of_sync": ["ETH-USD"]},
                binance={"connected": 0},
            )
        )
    # Trades of the last ten seconds: lags 1..100 ms; an older one (11 s) is left out.
    now_ms = 101.0 * 1000
    rows = [{"time": now_ms - 500 - lag, "recv": now_ms - 500} for lag in range(1, 101)]
    model.add_trades("kraken:BTC/USD", rows)
    model.add_trades("kraken:ETH/USD", [{"time": now_ms - 12_000, "recv": now_ms - 11_000}])
    by_venue = {r.venue: r for r in model.rows()}
    kraken, coinbase, binance = by_venue["kraken"], by_venue["coinbase"], by_venue["binance"]
    assert kraken.frames_per_s == pytest.approx(200.0)
    assert coinbase.frames_per_s == pytest.approx(100.0)
    assert kraken.lag_p99_ms == pytest.approx(99.0)  # nearest rank of 100 samples
    assert kraken.trades_per_s == 100  # received in the last second (the old one is not)
    assert coinbase.lag_p99_ms is None and coinbase.trades_per_s is None  # no trades seen
    assert (kraken.state, kraken.healthy) == ("running", True)
    assert (coinbase.gaps, coinbase.resyncs, coinbase.rejects) == (3, 1, 2)
    assert coinbase.out_of_sync == ("ETH-USD",) and not coinbase.healthy
    assert binance.state == "down"  # running, but not one connection up
    assert model.total_rate() == pytest.approx(300.0)

    stopped = status(101.25, {"kraken": 1250, "coinbase": 500, "binance": 7})
    stopped["venues"]["kraken"]["state"] = "stopped"
    model.apply_status(stopped)
    assert {r.venue: r.state for r in model.rows()}["kraken"] == "stopped"


def test_frame_rates_cover_a_second_and_restart_with_the_collector() -> None:
    rates = FrameRates(window=1.0)
    rates.add(10.0, {"kraken": 0})
    assert rates.rates() == {"kraken": None}
    for k in range(1, 26):  # 0.1 s apart: 300 frames/s for 1.5 s, then 100 frames/s
        rates.add(10.0 + 0.1 * k, {"kraken": 30 * min(k, 15) + 10 * max(k - 15, 0)})
    assert rates.rates()["kraken"] == pytest.approx(100.0)  # the last second only
    rates.add(12.6, {"kraken": 550})  # no frame in the last 0.1 s: 550 - 460 at 11.6 s
    rates.add(12.6, {"kraken": 999})  # the same time again: ignored
    assert rates.rates()["kraken"] == pytest.approx(90.0)
    rates.add(12.7, {"kraken": 5})  # a new collector counts from 0: no rate across it
    assert rates.rates() == {"kraken": None}


def test_the_venue_table_escapes_what_venues_say() -> None:
    model = MonitorModel()
    model.apply_status(status(1.0, {"<b>x</b>": 1}, **{"<b>x</b>": {"out_of_sync": ["<i>"]}}))
    html = venues_html(model.rows())
    assert "<b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "&lt;i&gt;" in html


def test_the_timeline_keeps_each_event_once_and_hides_file_commits() -> None:
    timeline = Timeline(keep=5)

    def row(seq: int, kind: str) -> dict[str, Any]:
        detail = {"path": "/lake/trades/x.parquet"} if kind == "file_committed" else {"n": seq}
        return {"seq": seq, "ts_ns": seq * S, "kind": kind, "venue": "kraken", "detail": detail}

    assert timeline.add([row(1, "connect"), row(2, "file_committed"), row(3, "gap")])
    assert not timeline.add([row(2, "file_committed"), row(3, "gap")])  # asked again: no news
    assert timeline.since == 3
    assert [e.seq for e in timeline.newest(10, commits=False)] == [3, 1]
    assert [e.seq for e in timeline.newest(2, commits=True)] == [3, 2]
    assert timeline.newest(1, commits=True)[0].detail == "n=3"
    timeline.add([row(s, "gap") for s in range(4, 10)])
    assert [e.seq for e in timeline.newest(10, commits=True)] == [9, 8, 7, 6, 5]


def test_the_coalescer_renders_the_latest_state_at_most_once_a_period() -> None:
    seen: list[int] = []
    state = {"n": 0}

    async def go() -> Coalescer:
        coalescer = Coalescer(lambda: seen.append(state["n"]), period=0.1)
        coalescer.start()
        for n in range(1, 501):  # 500 changes in about 0.5 s
            state["n"] = n
            coalescer.changed()
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.25)  # the last change is drawn, once
        renders = coalescer.renders
        await asyncio.sleep(0.3)  # and nothing more without a change
        assert coalescer.renders == renders
        coalescer.stop()
        return coalescer

    coalescer = asyncio.run(go())
    assert 3 <= coalescer.renders <= 9, seen  # ~0.5-0.8 s at 0.1 s, not 500
    assert seen[-1] == 500
    assert seen == sorted(seen)


def write_trades(root: Path, venue: str, symbol: str, start_ns: int, seconds: int, n: int) -> None:
    rows = trades(venue, [symbol], start_ns, seconds * S, n, seed=n)
    with LakeWriter(root, roll_rows=10**9) as writer:
        for batch in message_batches(rows, 3):
            writer.write("trades", batch)
            writer.flush()  # a file each
            time.sleep(0.02)  # distinct mtimes: the newest is the last written


def test_lake_size_and_last_commit_on_a_real_lake(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    scanner = LakeUsageScanner(lake)
    assert scanner.scan().files == 0 and scanner.scan().last_commit is None  # no lake yet
    write_trades(lake, "kraken", "BTC/USD", DAY0_NS, 600, 3_000)
    write_trades(lake, "coinbase", "BTC-USD", DAY0_NS + 86_400 * S, 600, 2_000)
    usage = scanner.scan()
    tables = info(lake).tables
    assert usage.files == sum(t.files for t in tables) == 6
    assert usage.bytes == sum(t.bytes for t in tables)
    newest = max(lake.glob("*/venue=*/date=*/part-*.parquet"), key=lambda p: p.stat().st_mtime)
    assert usage.last_commit is not None
    assert (usage.last_commit.path, usage.last_commit.table, usage.last_commit.venue) == (
        newest,
        "trades",
        "coinbase",
    )
    # A compaction replaces files: the next scan sees the new ones and forgets the gone.
    report = compact(lake, older_than=timedelta(0), grace=0)
    assert (report.files_in, report.files_out) == (6, 2)
    after = scanner.scan()
    assert after.files == sum(t.files for t in info(lake).tables) == 2
    assert after.bytes == sum(t.bytes for t in info(lake).tables)


def test_stories_merge_by_id_filter_by_symbol_and_find_an_instrument() -> None:
    stories = Stories(keep=3)
    live = {"id": 7, "time": 2_000_000.0, "headline": "AAPL up", "symbols": ["AAPL"]}
    assert stories.merge([live])
    lake_row = {**live, "time_ms": 2_000_000, "summary": "More."}
    del lake_row["time"]
    assert stories.merge([lake_row])  # the lake's copy fills in the summary
    assert not stories.merge([live])
    story = stories.get(7)
    assert story is not None and story.summary == "More." and story.time_s == 2000.0
    stories.merge(
        [
            {"id": 8, "time": 3_000_000, "headline": "MSFT", "symbols": ["MSFT"]},
            {"id": 9, "time": 1_000_000, "headline": "both", "symbols": ["AAPL", "MSFT"]},
            {"id": 10, "time": 4_000_000, "headline": "BTC", "symbols": ["BTCUSD"]},
        ]
    )
    assert [s.id for s in stories.ordered] == [10, 8, 7]  # newest first, three kept
    assert [s.id for s in stories.naming("aapl")] == [7]
    assert stories.symbols() == ["AAPL", "BTCUSD", "MSFT"]
    collected = ["kraken:BTC/USD", "coinbase:BTC-USD", "alpaca:AAPL"]
    assert pick_instrument(collected, "BTCUSD") == "kraken:BTC/USD"
    assert pick_instrument([*collected, "alpaca:BTC/USD"], "BTCUSD") == "alpaca:BTC/USD"
    assert pick_instrument(collected, "AAPL") == "alpaca:AAPL"
    assert pick_instrument(collected, "TSLA") is None


def test_a_storys_chart_is_its_symbols_bars_around_it(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    start = DAY0_NS + 10 * 3600 * S
    write_trades(lake, "alpaca", "AAPL", start, 300, 3_000)
    story_s = start / S + 150.5
    chart = story_chart(lake, "alpaca:AAPL", story_s, now=story_s + 60)
    assert chart.interval == "1s"
    # Checked against DuckDB on the files themselves: 1 s buckets of ts_recv, open and close
    # by (ts_recv, position in the file), 90 bars each side of the story's.
    files = sorted(str(p) for p in lake.glob("trades/venue=alpaca/*/*.parquet"))
    expected = duckdb.execute(
        f"""
        with t as (select epoch_ns(ts_recv) // {S} as b, epoch_ns(ts_recv) as ns, price, size,
                   row_number() over () as r from read_parquet({files}, file_row_number=true))
        select b as time, arg_min(price, (ns, r)) as open, max(price) as high,
               min(price) as low, arg_max(price, (ns, r)) as close, sum(size) as volume
        from t where b between {int(story_s) - 90} and {int(story_s) + 60}
        group by b order by b
        """
    ).fetchall()
    got = [(r["time"], r["open"], r["high"], r["low"], r["close"]) for r in chart.bars]
    assert got == [row[:5] for row in expected]
    bar = next(r for r in chart.bars if r["time"] == int(story_s))
    assert chart.bar_time == int(story_s) and chart.price == bar["close"]
    marker = chart.marker_for("AAPL up on news")
    assert marker["time"] == int(story_s) and marker["shape"] == "arrowDown"
    older = story_chart(lake, "alpaca:AAPL", story_s, now=story_s + 3600)
    assert older.interval == "1m" and older.bar_time == int(story_s) // 60 * 60
    assert story_chart(lake, "alpaca:MSFT", story_s, now=story_s + 60).bars == []


# -- against a real collector ---------------------------------------------------------------


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    lake = tmp_path_factory.mktemp("dashboards") / "lake"
    command = [sys.executable, "-m", "alphapulse", "collect", "--simulated", "--lake", str(lake)]
    proc = subprocess.Popen(
        [*command, "--duration", "120", "--rate", "400"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while find_control(lake) is None:
            assert proc.poll() is None, "the collector exited"
            assert time.monotonic() < deadline, "no control endpoint in the status file"
            time.sleep(0.2)
        yield lake
    finally:
        proc.terminate()
        proc.wait(30)


def test_the_monitor_follows_a_real_collector_several_times_a_second(collector: Path) -> None:
    async def go() -> tuple[MonitorDashboard, list[str]]:
        dashboard = MonitorDashboard(collector, ["kraken:BTC/USD"], period=0.1).start()
        seen: list[str] = []
        dashboard.venues.observe(lambda change: seen.append(change["new"]), "value")
        deadline = time.monotonic() + 60  # a loaded machine: the collector's first minute
        while not (dashboard.model.rows() and dashboard.model.trades.newest_ms):
            assert time.monotonic() < deadline, dashboard.service.value
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # a second of rates
        start = len(seen)
        await asyncio.sleep(2.0)
        changes = seen[start:]
        while "connect" not in dashboard.events.value:  # the events, from the lake's tail
            assert time.monotonic() < deadline, dashboard.events.value
            await asyncio.sleep(0.2)
        dashboard.close()
        return dashboard, changes

    dashboard, last_two_seconds = asyncio.run(go())
    rows = {r.venue: r for r in dashboard.model.rows()}
    assert set(rows) == {"kraken", "coinbase", "binance", "alpaca"}
    for row in rows.values():
        assert row.state == "running" and row.frames > 0
        assert row.frames_per_s is not None and row.frames_per_s > 0
    assert rows["kraken"].lag_p99_ms is not None  # from the live channel's trades
    # The venue table changed at least 5 times a second, each time a different text.
    assert len(set(last_two_seconds)) >= 10, len(set(last_two_seconds))
    assert "collector pid" in dashboard.service.value
    assert set(dashboard.selector.options) >= {"kraken:BTC/USD", "alpaca:AAPL"}
    assert [c.live_spec["instrument"] for c in dashboard.chart_box.children] == ["kraken:BTC/USD"]
    assert dashboard.timeline.since >= 0


def test_the_news_screen_lists_live_stories_and_charts_one(collector: Path) -> None:
    async def go() -> NewsDashboard:
        dashboard = NewsDashboard(collector).start()
        deadline = time.monotonic() + 30  # the simulator tells a story every 5 s
        while not dashboard.listing.options and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert dashboard.listing.options, dashboard.line.value
        await asyncio.sleep(1.5)  # its symbol trades around it
        dashboard.listing.value = dashboard.listing.options[0][1]  # as a click does
        while dashboard.chart is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        dashboard.close()
        return dashboard

    dashboard = asyncio.run(go())
    story = dashboard.stories.ordered[0]
    assert dashboard.chart is not None, dashboard.story.value
    assert story.headline in dashboard.story.value
    assert dashboard.chart.markers and dashboard.chart.markers[0]["text"]
    assert [line["title"] for line in dashboard.chart.price_lines] == ["at the story"]
    assert dashboard.chart.series[0]["data"], "no bars around the story"


def test_a_collector_that_goes_away_is_said_and_a_new_one_found(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    command = [sys.executable, "-m", "alphapulse", "collect", "--simulated", "--lake", str(lake)]

    def collect(seconds: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*command, "--duration", str(seconds)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def until(test: Any, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not test():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.1)

    async def go() -> list[str]:
        monitor = MonitorDashboard(lake, []).start()
        news = NewsDashboard(lake).start()
        said: list[str] = []
        news.line.observe(lambda change: said.append(change["new"]), "value")
        first = collect(6)
        try:
            await until(lambda: monitor.model.status is not None, "the monitor never connected")
            await until(lambda: news.connection == "live", "the news never connected")
            await asyncio.to_thread(first.wait, 60)  # its --duration: it stops
            await until(lambda: monitor.model.status is None, "the monitor kept a gone status")
            await until(lambda: news.connection != "live", "the news did not notice")
            # "the collector went away", then, once its control socket is gone too (a retry
            # later), that it waits for the next one
            await until(
                lambda: "waiting for a collector" in monitor.service.value,
                f"the monitor did not say it waits: {monitor.service.value}",
            )
            second = collect(30)
            try:
                await until(lambda: monitor.model.status is not None, "no second collector")
                await until(lambda: news.connection == "live", "the news did not reconnect")
            finally:
                second.terminate()
                second.wait(30)
        finally:
            first.kill()
            monitor.close()
            news.close()
        return said

    said = asyncio.run(go())
    assert any("live" in line for line in said) and any("collector" in line for line in said)
