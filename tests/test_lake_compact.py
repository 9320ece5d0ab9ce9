"""Lake compaction: the same rows before and after, in few sorted files, swapped so that a
reader never sees a row twice or misses one (while a writer commits and at every crash
point), a second run changing nothing, and bad input answered in one line."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from alphapulse import _core, collect
from alphapulse.config import CollectorConfig, ConfigError
from alphapulse.eventlog import SCHEMA as EVENTS_SCHEMA
from alphapulse.lake import LakeError, LakeVersionError, LakeWriter, read_table
from alphapulse.lake.compact import COMPACT_LOCK, CompactionLockedError, compact, plan_partition
from alphapulse.lake.layout import MARKER, NS_PER_DAY
from alphapulse.lake.merge import is_compacted
from alphapulse.lake.snapshot import LEDGER_PREFIX, snapshot
from alphapulse.lake.swap import TEMP_PREFIX, Merge
from alphapulse.lake.writer import ROW_GROUP_ROWS
from tests.conftest import ROOT

#: 2026-01-01 00:00 UTC.
DAY0 = 1_767_225_600 * 10**9
TRADES = pa.schema(_core.event_schema("trades"))
SYMBOLS = ("ETH/USD", "BTC/USD", "SOL/USD")
NOW = timedelta(0)


def trades(first_id: int, rows: int, venue: str = "kraken", day: int = 0) -> pa.Table:
    """Trades with unique ids, symbols interleaved, and rows in threes sharing a symbol and
    a ts_recv (ties, as the rows of one message have): only the id tells their order."""
    ids = np.arange(first_id, first_id + rows, dtype=np.int64)
    ts = pa.array(DAY0 + day * NS_PER_DAY + (ids - ids % 3) * 1_000_000)
    symbols = np.array(SYMBOLS)[(ids // 3) % len(SYMBOLS)]
    return pa.table(
        {
            "ts_event": ts.cast(pa.timestamp("ns", "UTC")),
            "ts_recv": ts.cast(pa.timestamp("ns", "UTC")),
            "venue": pa.array([venue] * rows),
            "instrument": pa.array(np.char.add(f"{venue}:", symbols)),
            "symbol": pa.array(symbols),
            "price": pa.array(100.0 + ids % 7),
            "size": pa.array(np.full(rows, 0.5)),
            "aggressor": pa.array(np.where(ids % 2 == 1, "buy", "sell")),
            "trade_id": pa.array(ids.astype(np.uint64)),
            "price_raw": pa.array(10_000 + ids % 7 * 100),
            "size_raw": pa.array(np.full(rows, 50, np.int64)),
            "price_precision": pa.array(np.full(rows, 2, np.uint8)),
            "size_precision": pa.array(np.full(rows, 2, np.uint8)),
        },
        schema=TRADES,
    )


def make_lake(root: Path, files: int = 12, rows: int = 300, venues: int = 2, days: int = 2) -> int:
    """``files`` files per partition; returns the number of rows written."""
    next_id = 0
    with LakeWriter(root) as writer:
        for _ in range(files):
            for v in range(venues):
                for day in range(days):
                    writer.write("trades", trades(next_id, rows, f"venue{v}", day))
                    next_id += rows
            writer.flush()
    return next_id


def read_snapshot(root: Path, table: str = "trades") -> pa.Table:
    """What a reader reads: a snapshot's files, retried once if one vanished under a swap."""
    for attempt in range(2):
        files = snapshot(root, table).files
        try:
            parts = [pq.read_table(f).replace_schema_metadata(None) for f in files]
        except FileNotFoundError:
            if attempt:
                raise
            continue
        return pa.concat_tables(parts) if parts else TRADES.empty_table()
    raise AssertionError("unreachable")


def by_id(table: pa.Table) -> pa.Table:
    return table.sort_by("trade_id").replace_schema_metadata(None)


def data_files(root: Path) -> list[Path]:
    return sorted(root.glob("trades/venue=*/date=*/part-*.parquet"))


def test_the_rows_are_the_same_in_one_sorted_file_per_partition(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    written = make_lake(root)
    before = by_id(read_snapshot(root))
    bytes_before = sum(f.stat().st_size for f in data_files(root))

    report = compact(root, older_than=NOW, grace=0)

    assert before.num_rows == written
    assert by_id(read_snapshot(root)).equals(before)
    files = data_files(root)
    assert len(files) == 4 and all(is_compacted(f.name) for f in files)
    assert (report.files_in, report.files_out, report.partitions) == (48, 4, 4)
    assert report.rows == written and report.bytes_before == bytes_before
    assert report.bytes_after == sum(f.stat().st_size for f in files)
    assert report.rows_per_second > 0 and not report.problems


def test_a_compacted_file_is_sorted_stably_with_the_lakes_encodings(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    make_lake(root, files=6, rows=50_000, venues=1, days=1)  # 300k rows: 3 row groups
    compact(root, older_than=NOW, grace=0)
    (path,) = data_files(root)
    table = pq.read_table(path)

    # (symbol, ts_recv) order, and rows with equal keys in the order they were written.
    keys = list(
        zip(
            table["symbol"].to_pylist(),
            table["ts_recv"].cast(pa.int64()).to_pylist(),
            table["trade_id"].to_pylist(),
            strict=True,
        )
    )
    assert keys == sorted(keys)
    assert table.num_rows == 300_000 and table.schema.remove_metadata().equals(TRADES)

    meta = pq.ParquetFile(path).metadata
    assert meta.metadata[b"alphapulse.schema_version"] == b"1"
    assert meta.metadata[b"alphapulse.table"] == b"trades"
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [
        ROW_GROUP_ROWS,
        ROW_GROUP_ROWS,
        300_000 - 2 * ROW_GROUP_ROWS,
    ]
    names = TRADES.names
    sorting = meta.row_group(0).sorting_columns
    assert [names[c.column_index] for c in sorting] == ["symbol", "ts_recv"]
    group = meta.row_group(0)
    for i, name in enumerate(names):
        column = group.column(i)
        assert column.statistics is not None and column.statistics.has_min_max, name
        if name in ("ts_recv", "trade_id"):
            assert "DELTA_BINARY_PACKED" in column.encodings, name
        if name in ("symbol", "price"):
            assert "RLE_DICTIONARY" in column.encodings, name
    # Page checksums are written: a reader that verifies them reads the file.
    assert pq.read_table(path, page_checksum_verification=True).num_rows == 300_000
    # Named after its earliest row, so the directory still lists in time order.
    assert path.name.startswith("part-000000.000000000-c")


def test_a_table_without_symbols_is_sorted_by_time_stably(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    with LakeWriter(root) as writer:
        for batch in range(4):
            # Every batch's rows share one ts_recv: only their seq tells their order.
            ts = pa.array([DAY0 + (3 - batch) * 10**9] * 5, pa.int64())
            writer.write(
                "events",
                pa.table(
                    {
                        "ts_recv": ts.cast(pa.timestamp("ns", "UTC")),
                        "seq": pa.array(range(batch * 5, batch * 5 + 5), pa.uint64()),
                        "kind": ["x"] * 5,
                        "venue": ["service"] * 5,
                        "instrument": pa.nulls(5, pa.string()),
                        "detail": ["{}"] * 5,
                    },
                    schema=EVENTS_SCHEMA,
                ),
            )
            writer.flush()
    compact(root, older_than=NOW, grace=0)
    (path,) = root.glob("events/*/*/part-*.parquet")
    seq = pq.read_table(path)["seq"].to_pylist()
    assert seq == [15, 16, 17, 18, 19, 10, 11, 12, 13, 14, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4]
    meta = pq.ParquetFile(path).metadata.row_group(0)
    assert [c.column_index for c in meta.sorting_columns] == [0]


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    make_lake(root)
    compact(root, older_than=NOW, max_rows_per_file=1_000, grace=0)  # several files per partition
    listing = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    assert len(data_files(root)) > 4

    report = compact(root, older_than=NOW, max_rows_per_file=1_000, grace=0)

    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == listing
    assert (report.files_in, report.files_out, report.rows) == (0, 0, 0)


def test_groups_are_bounded_and_new_files_join_the_last_compacted_one(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    make_lake(root, files=10, rows=300, venues=1, days=1)
    compact(root, older_than=NOW, max_rows_per_file=1_000, grace=0)
    assert [pq.read_metadata(f).num_rows for f in data_files(root)] == [900, 900, 900, 300]

    with LakeWriter(root) as writer:  # later files, sorted after the last compacted one
        writer.write("trades", trades(10_000, 300, "venue0"))
        writer.flush()
        writer.write("trades", trades(10_300, 300, "venue0"))
    compact(root, older_than=NOW, max_rows_per_file=1_000, grace=0)

    assert [pq.read_metadata(f).num_rows for f in data_files(root)] == [900, 900, 900, 900]
    table = by_id(read_snapshot(root))
    assert table["trade_id"].to_pylist() == [*range(3000), *range(10_000, 10_600)]
    # The last file merged a compacted file (in symbol order) with new ones: sorted again.
    last = pq.read_table(data_files(root)[-1])
    keys = list(
        zip(
            last["symbol"].to_pylist(),
            last["ts_recv"].cast(pa.int64()).to_pylist(),
            last["trade_id"].to_pylist(),
            strict=True,
        )
    )
    assert keys == sorted(keys)


def test_only_files_older_than_the_threshold_are_merged(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    make_lake(root, files=6, venues=1, days=1)
    files = data_files(root)
    now = datetime.now(UTC)
    old = (now - timedelta(hours=2)).timestamp()
    for f in files[:4]:
        os.utime(f, (old, old))

    report = compact(root, older_than=timedelta(hours=1), now=now, grace=0)

    assert (report.files_in, report.files_out) == (4, 1)
    remaining = data_files(root)
    assert set(files[4:]) <= set(remaining) and len(remaining) == 3
    assert by_id(read_snapshot(root))["trade_id"].to_pylist() == list(range(1800))
    # Nothing is old enough for an hour later's run but the compacted file, alone.
    assert compact(root, older_than=timedelta(hours=1), now=now, grace=0).files_in == 0


# -- crashes ----------------------------------------------------------------------------------

STEPS = ("read", "write_ledger", "write_file", "publish")


@pytest.mark.parametrize("last_step", STEPS)
def test_a_crash_after_any_step_reads_right_and_the_next_run_repairs_it(
    tmp_path: Path, last_step: str
) -> None:
    """Stop a swap after ``last_step`` (as a kill there would): readers see each row once,
    and the next run finishes or undoes it and leaves no leftover."""
    root = tmp_path / "lake"
    written = make_lake(root, files=5, venues=1, days=1)
    (directory,) = {f.parent for f in data_files(root)}
    (group,) = plan_partition(directory, time.time_ns(), 10**9, 10**12)
    merge = Merge(root, "trades", directory, group)
    for step in STEPS[: STEPS.index(last_step) + 1]:
        getattr(merge, step)()
    if last_step == "write_file":
        assert merge.temp.exists()  # the crash leaves the temp behind

    assert by_id(read_snapshot(root))["trade_id"].to_pylist() == list(range(written))
    assert read_table(root, "trades").num_rows == written  # the lake's reader too

    report = compact(root, older_than=NOW, grace=0)

    assert by_id(read_snapshot(root))["trade_id"].to_pylist() == list(range(written))
    names = sorted(p.name for p in directory.iterdir())
    (final,) = [n for n in names if n.startswith("part-")]
    assert is_compacted(final)
    assert not [n for n in names if n.startswith(TEMP_PREFIX)]
    ledgers = [n for n in names if n.startswith(LEDGER_PREFIX)]
    assert ledgers == [f"{LEDGER_PREFIX}{final.removesuffix('.parquet').rpartition('-')[2]}.json"]
    if last_step == "publish":  # the swap was finished: the old files were deleted
        assert report.repaired == len(group) and report.files_in == 0
    else:  # the swap was undone (ledger, temp removed), then done again
        assert report.files_in == len(group) and report.repaired == STEPS.index(last_step)


def test_a_compaction_killed_at_any_moment_is_repaired(tmp_path: Path) -> None:
    """The real command, killed (SIGKILL) as soon as its first ledger appears and again
    later: whatever the moment, readers see every row once and a later run finishes."""
    root = tmp_path / "lake"
    written = make_lake(root, files=40, rows=25_000, venues=1, days=2)
    command = [sys.executable, "-m", "alphapulse", "lake", "compact", "--lake", str(root)]
    for delay in (0.0, 0.05):
        proc = subprocess.Popen([*command, "--older-than", "0"], cwd=ROOT)
        deadline = time.monotonic() + 60
        while not list(root.glob(f"trades/*/*/{LEDGER_PREFIX}*")) and proc.poll() is None:
            assert time.monotonic() < deadline
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        assert by_id(read_snapshot(root))["trade_id"].to_pylist() == list(range(written))
    out = subprocess.run([*command, "--older-than", "0", "--json"], cwd=ROOT, capture_output=True)
    assert out.returncode == 0, out.stderr
    assert by_id(read_snapshot(root))["trade_id"].to_pylist() == list(range(written))
    assert all(is_compacted(f.name) for f in data_files(root)) and len(data_files(root)) == 2
    assert not list(root.glob(f"trades/*/*/{TEMP_PREFIX}*"))


def test_ledgers_are_kept_a_day_after_their_files_are_gone(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    make_lake(root, files=3, venues=1, days=1)
    compact(root, older_than=NOW, grace=0)
    (ledger,) = root.glob(f"trades/*/*/{LEDGER_PREFIX}*")
    later = datetime.now(UTC) + timedelta(hours=23)
    assert (
        compact(root, older_than=NOW, grace=0, now=later).ledgers_expired == 0 and ledger.exists()
    )
    assert (
        compact(root, older_than=NOW, grace=0, now=later + timedelta(hours=2)).ledgers_expired == 1
    )
    assert not ledger.exists() and len(data_files(root)) == 1


# -- while a writer commits and readers read --------------------------------------------------


def test_readers_see_every_committed_row_once_while_a_writer_and_compactions_run(
    tmp_path: Path,
) -> None:
    """A writer thread commits a file at a time, compactions merge everything committed
    (older_than=0: files seconds old, the hardest case), a reader loops over snapshots.
    Every read holds every row committed before it began, no row twice, none unwritten."""
    root = tmp_path / "lake"
    make_lake(root, files=4, venues=1, days=1)
    committed = 4 * 300  # ids below this are in committed files
    started = committed  # ids at or above this are not in any file yet
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        nonlocal committed, started
        try:
            with LakeWriter(root) as writer:
                while not done.is_set() and committed < 150_000:
                    started += 300
                    writer.write("trades", trades(committed, 300))
                    writer.flush()
                    committed = started
        except BaseException as exc:
            errors.append(exc)
            done.set()

    merged = 0

    def compactions() -> None:
        nonlocal merged
        try:
            while not done.is_set():
                # A file is deleted a second after the swap that hid it: a read taking
                # less finds it, so one retry is always enough (the session's contract).
                merged += compact(root, older_than=NOW, max_rows_per_file=5_000, grace=1.0).files_in
        except BaseException as exc:
            errors.append(exc)
            done.set()

    threads = [threading.Thread(target=write), threading.Thread(target=compactions)]
    for t in threads:
        t.start()
    reads = 0
    try:
        deadline = time.monotonic() + 300
        while not done.is_set() and (reads < 40 or merged < 40):
            assert time.monotonic() < deadline, (reads, merged)
            floor = committed
            ids = read_snapshot(root)["trade_id"]
            ceiling = started
            assert pc.count_distinct(ids).as_py() == len(ids), "a row read twice"
            below = pc.sum(pc.less(ids, floor)).as_py()
            assert below == floor, f"{floor - below} committed rows missed"
            assert pc.max(ids).as_py() < ceiling, "a row that was never committed"
            reads += 1
    finally:
        done.set()
        for t in threads:
            t.join(60)
    assert not errors, errors
    compact(root, older_than=NOW, max_rows_per_file=5_000, grace=0)
    assert by_id(read_snapshot(root))["trade_id"].to_pylist() == list(range(committed))


# -- bad input --------------------------------------------------------------------------------


def test_bad_lakes_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match=r"no lake at .*nowhere"):
        compact(tmp_path / "nowhere")
    (tmp_path / "plain").mkdir()
    with pytest.raises(LakeError, match="not a lake"):
        compact(tmp_path / "plain")
    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / MARKER).write_bytes(orjson.dumps({"format": "alphapulse.lake", "schema_version": 2}))
    with pytest.raises(LakeVersionError, match="upgrade alphapulse"):
        compact(newer)
    root = tmp_path / "lake"
    make_lake(root, files=2, venues=1, days=1)
    with pytest.raises(LakeError, match=r"no table 'quotes' \(it has: trades"):
        compact(root, tables=["quotes"])


def test_a_file_of_a_newer_version_stops_the_compaction(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    make_lake(root, files=3, venues=1, days=1)
    first = data_files(root)[0]
    table = pq.read_table(first)
    pq.write_table(table.replace_schema_metadata({b"alphapulse.schema_version": b"2"}), first)
    with pytest.raises(LakeVersionError, match="schema version '2'"):
        compact(root, older_than=NOW, grace=0)
    assert len(data_files(root)) == 3


def test_one_compaction_at_a_time(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    make_lake(root, files=3, venues=1, days=1)
    with (root / COMPACT_LOCK).open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(CompactionLockedError, match="another compaction is running"):
            compact(root, older_than=NOW, grace=0)
    assert len(data_files(root)) == 3
    assert compact(root, older_than=NOW, grace=0).files_in == 3  # released: it runs


def test_a_damaged_file_leaves_its_group_alone_and_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    make_lake(root, files=3, venues=1, days=2)
    victim = data_files(root)[0]
    data = bytearray(victim.read_bytes())
    ts_recv = pq.read_metadata(victim).row_group(0).column(1)
    data[ts_recv.data_page_offset + ts_recv.total_compressed_size - 5] ^= 0xFF  # page data
    victim.write_bytes(bytes(data))

    report = compact(root, older_than=NOW, grace=0)

    assert len(report.problems) == 1 and str(victim.parent) in report.problems[0]
    assert victim.exists() and report.files_in == 3 and report.files_out == 1


# -- the command ------------------------------------------------------------------------------


def lake_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alphapulse", "lake", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_the_command_reports_in_one_paragraph(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    make_lake(root, files=3, venues=1, days=2)

    out = lake_command("compact", "--lake", str(root), "--older-than", "1h")
    assert out.returncode == 0, out.stderr
    assert re.fullmatch(r"Nothing to compact \([\d.]+ s\)\.\n", out.stdout), out.stdout
    assert len(data_files(root)) == 6

    out = lake_command("compact", "--lake", str(root), "--older-than", "0s", "--table", "trades")
    assert out.returncode == 0, out.stderr
    assert re.fullmatch(
        r"Compacted 6 files into 2 in 2 partitions: 1,800 rows, [\d.]+ MB -> [\d.]+ MB, "
        r"[\d.]+ s \([\d,]+ rows/s\)\.\n",
        out.stdout,
    ), out.stdout
    assert len(data_files(root)) == 2

    out = lake_command("compact", "--lake", str(root), "--older-than", "0", "--json")
    report = json.loads(out.stdout)
    assert report["files_in"] == report["rows"] == 0 and report["problems"] == []
    assert set(report) >= {"files_out", "bytes_before", "bytes_after", "seconds"}


def test_the_command_fails_in_one_line(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    make_lake(root, files=2, venues=1, days=1)
    cases = [
        (["--lake", str(tmp_path / "nowhere")], 1, "no lake at"),
        (["--lake", str(root), "--older-than", "soon"], 2, "not a duration: 'soon'"),
        (["--lake", str(root), "--older-than=-1h"], 2, "not a duration: '-1h'"),
        (["--lake", str(root), "--table", "quotes"], 1, "has no table 'quotes'"),
    ]
    for args, code, message in cases:
        out = lake_command("compact", *args)
        assert out.returncode == code, (args, out.stderr)
        assert message in out.stderr and out.stderr.count("\n") == 1, out.stderr
    with (root / COMPACT_LOCK).open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        out = lake_command("compact", "--lake", str(root), "--older-than", "0")
    assert out.returncode == 1 and out.stderr.count("\n") == 1
    assert "another compaction is running" in out.stderr
    assert len(data_files(root)) == 2


# -- the collector's schedule -----------------------------------------------------------------


def test_the_collector_compacts_on_a_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files every 0.3 s, a compaction every second: each run is an event with its figures,
    and the lake holds every committed row once."""
    monkeypatch.setattr(collect, "ROLL_SECONDS", 0.3)
    lake = tmp_path / "lake"
    config = CollectorConfig(lake=lake, compact_every=1.0, compact_older_than=0.0)
    result = asyncio.run(collect.run_collector(config, simulated=True, duration=8, rate=300))
    assert result.ok, result.summary

    events = read_table(lake, "events").select(["kind", "detail"]).to_pylist()
    runs = [orjson.loads(e["detail"]) for e in events if e["kind"] == "compaction"]
    assert not [e for e in events if e["kind"] == "compaction_failed"]
    assert runs and sum(r["files_in"] for r in runs) > 0
    for r in runs:
        assert {"files_in", "files_out", "rows", "bytes_before", "bytes_after", "seconds"} <= set(r)
    assert any(is_compacted(p.name) for p in lake.glob("trades/*/*/part-*.parquet"))
    committed = sum(
        orjson.loads(e["detail"])["rows"]
        for e in events
        if e["kind"] == "file_committed" and orjson.loads(e["detail"])["table"] == "trades"
    )
    assert read_snapshot(lake).num_rows == committed > 0


def test_the_schedule_is_configured_in_the_collectors_file(tmp_path: Path) -> None:
    path = tmp_path / "collector.toml"
    path.write_text('compact_every = "15m"\ncompact_older_than = 90\n')
    config = CollectorConfig.load(path)
    assert (config.compact_every, config.compact_older_than) == (900.0, 90.0)
    assert CollectorConfig().compact_every is None  # off unless asked
    for text, message in [
        ('compact_every = "soon"', "compact_every: not a duration: 'soon'"),
        ("compact_every = 0", "compact_every: must be above 0"),
        ('compact_older_than = "-1h"', "compact_older_than: not a duration"),
        ("compact_every = [60]", "compact_every: input should be a valid number"),
    ]:
        path.write_text(text + "\n")
        with pytest.raises(ConfigError) as error:
            CollectorConfig.load(path)
        assert str(error.value).startswith(f"{path}: {message}"), str(error.value)


def test_the_grace_wait_is_not_merge_time(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    make_lake(root, files=3, venues=1, days=1)
    started = time.perf_counter()
    report = compact(root, older_than=NOW, grace=1.0)
    wall = time.perf_counter() - started
    # The replaced files were deleted a grace after the swap: the run waited for that...
    assert report.files_in == 3 and report.grace_wait_seconds > 0
    # ...and the merge time (and so rows/s) leaves the wait out.
    assert 0 < report.seconds <= wall - report.grace_wait_seconds
    assert report.rows_per_second == report.rows / report.seconds


def test_an_unknown_table_is_a_usage_error(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    make_lake(root, files=2, venues=1, days=1)
    out = lake_command("compact", "--lake", str(root), "--table", "nope")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "no table 'nope': one of trades" in out.stderr
