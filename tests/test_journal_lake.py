"""The journal with the lake: marks in lake files, and kill -9 of a writer, then recovery."""

from __future__ import annotations

import asyncio
import functools
import random
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from alphapulse.journal import Journal
from alphapulse.journal.watermark import committed_marks, file_mark, watermark_metadata
from alphapulse.lake import AsyncLakeWriter, LakeWriter, read_table
from alphapulse.lake.compact import compact
from alphapulse.lake.rows import split_partitions
from tests.journal_lake_child import BATCH_ROWS
from tests.killed_child import CrashChild
from tests.lake_crash_child import trade_rows


def recover(directory: Path) -> int:
    """Replay what the lake lacks into it (what the collector's start is to do); returns
    the records replayed."""
    with Journal(directory / "_journal") as journal:
        keys = {
            (r.table, venue, day)
            for r in journal.replay()
            for venue, day, _ in split_partitions(r.batch)
        }
        marks = committed_marks(directory / "lake", journal.journal_id, keys)
        low = min(marks.values(), default=0)
        mark = functools.partial(watermark_metadata, journal.journal_id)
        replayed = 0
        with LakeWriter(directory / "lake", journal_marks=mark) as lake:
            for record in journal.replay(committed=marks):
                lake.write(record.table, record.batch, journal_seq=record.seq)
                replayed += 1
        journal.trim(max(low, journal.recovered_upto))
    return replayed


def test_files_carry_marks_and_low_water_follows_commits(tmp_path: Path) -> None:
    with Journal(tmp_path / "_journal") as journal:
        mark = functools.partial(watermark_metadata, journal.journal_id)
        with LakeWriter(tmp_path / "lake", roll_rows=1_000, journal_marks=mark) as lake:
            for seq in range(1, 6):
                batch = trade_rows(seq * 1_000, 400, "kraken" if seq != 3 else "coinbase")
                assert journal.append("trades", batch) == seq
                lake.write("trades", batch, journal_seq=seq)
            # kraken rolled at seq 4 (1,200 rows); coinbase's seq 3 is still buffered.
            assert lake.journal_low_water == 2
            lake.flush()
            assert lake.journal_low_water == 5
        keys = {("trades", v, d) for v in ("kraken", "coinbase") for d in _days(tmp_path)}
        marks = committed_marks(tmp_path / "lake", journal.journal_id, keys)
    assert sorted(marks.values()) == [3, 5]


def _days(tmp_path: Path) -> set[date]:
    return {
        date.fromisoformat(p.name.removeprefix("date="))
        for p in (tmp_path / "lake" / "trades").glob("venue=*/date=*")
    }


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_kill_9_then_recovery_puts_every_synced_trade_in_the_lake_once(
    tmp_path: Path, seed: int
) -> None:
    child = CrashChild("tests.journal_lake_child", str(tmp_path))
    child.line("ready")
    first = child.line("durable")
    time.sleep(random.Random(seed).uniform(0.3, 1.5))
    killed = child.kill()
    durable = max(int(line.split()[1]) for line in [first, *killed.lines])

    replayed = recover(tmp_path)
    assert replayed > 0  # the kill did cost the lake something the journal held
    ids = read_table(tmp_path / "lake", "trades").column("trade_id")
    assert pc.count_distinct(ids).as_py() == len(ids)  # each once
    assert len(ids) >= durable * BATCH_ROWS
    assert pc.min(ids).as_py() == 0 and pc.max(ids).as_py() == len(ids) - 1  # no gap
    assert recover(tmp_path) == 0  # a second start replays nothing


def test_async_writer_passes_the_seq_through(tmp_path: Path) -> None:
    async def write() -> None:
        mark = functools.partial(watermark_metadata, b"\1" * 16)
        async with AsyncLakeWriter(LakeWriter(tmp_path, journal_marks=mark)) as lake:
            await lake.put("trades", trade_rows(0, 10, "kraken"), journal_seq=7)
            await lake.put("trades", trade_rows(10, 10, "kraken"), journal_seq=9)

    asyncio.run(write())
    (path,) = tmp_path.glob("trades/venue=kraken/date=*/part-*.parquet")
    assert file_mark(pq.read_metadata(path).metadata, b"\1" * 16) == 9


def test_compaction_keeps_the_highest_mark_of_the_files_it_merges(tmp_path: Path) -> None:
    lake_root = tmp_path / "lake"
    current, older = b"\2" * 16, b"\1" * 16
    for journal_id, seqs in ((older, [40]), (current, [3, 9, 5]), (None, [0])):
        for seq in seqs:  # one file each, committed in this order
            mark = None if journal_id is None else functools.partial(watermark_metadata, journal_id)
            with LakeWriter(lake_root, journal_marks=mark) as lake:
                rows = trade_rows(len(list(lake_root.rglob("*.parquet"))) * 10, 10, "kraken")
                lake.write("trades", rows, journal_seq=seq if journal_id else None)
    before = sorted(lake_root.glob("trades/venue=kraken/date=*/part-*.parquet"))
    assert len(before) == 5
    report = compact(lake_root, older_than=timedelta(0), grace=0)
    assert (report.files_in, report.files_out) == (5, 1), report
    (merged,) = lake_root.glob("trades/venue=kraken/date=*/part-*.parquet")
    metadata = pq.read_metadata(merged).metadata
    # The newest marked file's journal, its highest seq; the other journal's mark is gone.
    assert file_mark(metadata, current) == 9
    assert file_mark(metadata, older) is None
    assert len(read_table(lake_root, "trades")) == 50
