"""``alphapulse buffer export``: the buffer's (table, venue, hour) windows the lake lacks
go into the lake exactly; a second run changes nothing; the lake's own windows stay."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from alphapulse.buffer import PostgresSink
from alphapulse.buffer.export import HOUR_NS
from alphapulse.buffer.schema import table
from alphapulse.journal import JOURNAL_DIR, Journal
from alphapulse.journal.recovery import replay_into_lake
from alphapulse.lake import LakeWriter, read_table
from tests.buffer_data import MARKET_WORDS, batch
from tests.conftest import ROOT

#: Three whole hours, the first starting five hours ago.
START = (time.time_ns() // HOUR_NS - 5) * HOUR_NS


def spread(name: str, rows: int, seed: int) -> pa.Table:
    """``rows`` of buffer table ``name`` over three hours, two venues, in time order."""
    data = batch(table(name), rows, seed=seed, words=MARKET_WORDS)
    ts = START + np.arange(rows, dtype=np.int64) * (3 * HOUR_NS // rows)
    ts_type = data.schema.field("ts_recv").type
    data = data.set_column(
        data.schema.get_field_index("ts_recv"), "ts_recv", pa.array(ts).cast(ts_type)
    )
    venues = pa.array(np.array(["kraken", "coinbase"])[np.arange(rows) % 2])
    return data.set_column(data.schema.get_field_index("venue"), "venue", venues)


def fill(dsn: str, tables: dict[str, pa.Table]) -> None:
    async def write() -> None:
        async with PostgresSink(dsn) as sink:
            for name, data in tables.items():
                await sink.write(name, data)

    asyncio.run(write())


def export(dsn: str, lake: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ALPHAPULSE_PG_DSN": dsn}
    env.pop("ALPHAPULSE_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "alphapulse", "buffer", "export", "--lake", str(lake), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def rows_of(lake: Path, name: str) -> list[dict[str, Any]]:
    got = read_table(lake, name)
    return sorted(got.to_pylist(), key=lambda r: (r["ts_recv"], r["venue"]))


def test_export_round_trip_is_exact_and_a_second_run_changes_nothing(
    tmp_path: Path, postgres_database: str
) -> None:
    data = {"trades": spread("trades", 6_000, 1), "events": spread("events", 600, 2)}
    fill(postgres_database, data)
    lake = tmp_path / "lake"
    first = export(postgres_database, lake)
    assert first.returncode == 0, first.stderr
    assert "12 of 12 windows exported (6,600 rows" in first.stdout  # 2 tables x 2 venues x 3 h
    assert "export" in first.stderr  # the progress bar
    for name, sent in data.items():
        want = sorted(
            sent.cast(read_table(lake, name).schema).to_pylist(),
            key=lambda r: (r["ts_recv"], r["venue"]),
        )
        assert rows_of(lake, name) == want, name
    files = sorted((p, p.stat().st_mtime_ns) for p in lake.rglob("*.parquet"))

    second = export(postgres_database, lake, "--json")
    assert second.returncode == 0, second.stderr
    assert orjson.loads(second.stdout) == {
        "windows": 12,
        "exported": 0,
        "skipped": 12,
        "rows": 0,
        "files": 0,
        "journal_rows_replayed": 0,
    }
    assert sorted((p, p.stat().st_mtime_ns) for p in lake.rglob("*.parquet")) == files


def test_the_lakes_own_windows_are_left_alone(tmp_path: Path, postgres_database: str) -> None:
    trades = spread("trades", 3_000, 3)
    fill(postgres_database, {"trades": trades})
    lake = tmp_path / "lake"
    ts = pc.cast(trades.column("ts_recv"), pa.int64())
    first_hour = pc.and_(pc.less(ts, START + HOUR_NS), pc.equal(trades.column("venue"), "kraken"))
    with LakeWriter(lake) as writer:  # the collector wrote kraken's first hour, less a row
        writer.write("trades", trades.filter(first_hour).slice(1))
    done = export(postgres_database, lake, "--table", "trades", "--json")
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["skipped"] == 1
    assert read_table(lake, "trades").num_rows == trades.num_rows - 1  # never doubled


def test_no_buffer_or_a_bad_one_is_one_line(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("ALPHAPULSE_PG_DSN", "ALPHAPULSE_CONFIG")
    }
    none = subprocess.run(
        [sys.executable, "-m", "alphapulse", "buffer", "export", "--lake", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert none.returncode == 2 and "no buffer configured" in none.stderr
    assert len(none.stderr.strip().splitlines()) == 1
    bad = export("postgresql://user:hunter2-pw@127.0.0.1:1/db", tmp_path / "lake")
    assert bad.returncode == 1, bad.stderr
    assert bad.stderr.startswith("alphapulse buffer: error: cannot read the buffer")
    assert len(bad.stderr.strip().splitlines()) == 1 and "hunter2-pw" not in bad.stderr


def test_a_killed_collectors_journal_goes_first_so_no_window_is_doubled(
    tmp_path: Path, postgres_database: str
) -> None:
    """The collector was killed before its lake committed its last rows: they are in its
    journal and in the buffer. Export replays the journal first (as the collector's next
    start would), finds the windows the lake's, and writes nothing twice."""
    trades = spread("trades", 600, 5)
    fill(postgres_database, {"trades": trades})
    lake = tmp_path / "lake"
    LakeWriter(lake).close()  # an empty lake
    with Journal(lake / JOURNAL_DIR) as journal:
        journal.append("trades", trades)
    done = export(postgres_database, lake, "--json")
    assert done.returncode == 0, done.stderr
    report = orjson.loads(done.stdout)
    assert report["journal_rows_replayed"] == 600 and report["exported"] == 0
    with Journal(lake / JOURNAL_DIR) as journal:  # the collector's next start
        assert replay_into_lake(journal, lake).rows == 0
    assert read_table(lake, "trades").num_rows == 600
