"""The crash journal: round trip, group commit, kill -9, damaged tails, trim, a full disk."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alphapulse.journal import Journal, JournalError, JournalStorageError
from alphapulse.journal.format import HEADER_SIZE, list_segments, read_segment
from alphapulse.journal.watermark import (
    METADATA_KEY,
    committed_marks,
    file_mark,
    watermark_metadata,
)
from alphapulse.lake.layout import partition_dir
from alphapulse.lake.rows import split_partitions
from tests import journal_crash_child as child
from tests.killed_child import CrashChild

#: 2026-01-02T00:00:00Z
MIDNIGHT = 1_767_312_000_000_000_000


def trades(first: int, rows: int, venue: str = "kraken", ts: int = MIDNIGHT) -> pa.Table:
    return pa.table(
        {
            "venue": pa.array([venue] * rows, pa.string()),
            "ts_recv": pa.array([ts + i for i in range(rows)], pa.timestamp("ns", "UTC")),
            "trade_id": pa.array(range(first, first + rows), pa.int64()),
        }
    )


def test_round_trip_across_reopen(tmp_path: Path) -> None:
    sent = [("trades", trades(i * 10, 10)) for i in range(20)] + [("events", trades(999, 1))]
    with Journal(tmp_path, sync_interval=0.05) as journal:
        seqs = [journal.append(table, batch) for table, batch in sent]
    assert seqs == list(range(1, 22))
    with Journal(tmp_path) as journal:
        assert journal.recovery["damaged_segments"] == 0
        got = list(journal.replay())
        # Records appended after the reopen are this session's, not the replay's.
        journal.append("trades", trades(5000, 1))
        assert [r.seq for r in journal.replay()] == seqs
    assert [(r.seq, r.table) for r in got] == [(s, t) for s, (t, _) in zip(seqs, sent, strict=True)]
    assert all(r.batch.equals(b) for r, (_, b) in zip(got, sent, strict=True))
    with Journal(tmp_path) as journal:
        assert journal.recovered_upto == 22
        assert [r.seq for r in journal.replay(watermark=20)] == [21, 22]
        assert journal.append("trades", trades(0, 1)) == 23


def test_replay_by_partition_yields_each_part_once(tmp_path: Path) -> None:
    day = 86_400 * 10**9
    mixed = pa.concat_tables(
        [trades(0, 3, "kraken"), trades(3, 2, "coinbase"), trades(5, 4, "kraken", MIDNIGHT + day)]
    )
    with Journal(tmp_path) as journal:
        journal.append("trades", mixed)
        journal.append("trades", trades(100, 2, "coinbase"))
    with Journal(tmp_path) as journal:
        # The kraken day-one file and the coinbase file with seq 1 were committed; the rest not.
        committed = {
            ("trades", "kraken", date(2026, 1, 2)): 1,
            ("trades", "coinbase", date(2026, 1, 2)): 1,
        }
        parts = [
            (r.seq, r.batch.column("trade_id").to_pylist())
            for r in journal.replay(committed=committed)
        ]
    assert parts == [(1, [5, 6, 7, 8]), (2, [100, 101])]


def test_group_commit_does_not_fsync_per_record(tmp_path: Path) -> None:
    batch = trades(0, 5)
    with Journal(tmp_path, sync_interval=0.2) as journal:
        started = time.monotonic()
        for _ in range(5_000):
            journal.append("trades", batch)
        assert journal.wait_durable(5_000, timeout=5)
        elapsed = time.monotonic() - started
        fsyncs = journal.fsyncs
    assert fsyncs <= elapsed / 0.2 + 2, (fsyncs, elapsed)


def test_durable_seq_is_at_most_about_a_second_behind(tmp_path: Path) -> None:
    appended: list[tuple[float, int]] = []
    lags: list[float] = []
    with Journal(tmp_path, sync_interval=1.0) as journal:
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                durable, now = journal.durable_seq, time.monotonic()
                behind = [t for t, seq in appended if seq > durable]
                lags.append(now - behind[0] if behind else 0.0)
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        end = time.monotonic() + 4.0
        while time.monotonic() < end:
            appended.append((time.monotonic(), journal.append("trades", trades(0, 50))))
            time.sleep(0.002)
        stop.set()
        watcher.join()
    assert journal.durable_seq == appended[-1][1]  # close syncs
    # The oldest record not yet durable is never more than the interval plus a loaded
    # machine's fsync behind (CI shares the disk and both cores); without a sync every
    # interval it would reach the run's 4 s.
    assert max(lags) < 2.5, max(lags)
    assert max(lags) > 0.5  # the test did see the lag it bounds


def expected_ok(record_seq: int, batch: pa.Table) -> bool:
    rows = batch.num_rows
    return rows in (3, 100, 5_000, 60_000) and batch.equals(child.expected_batch(record_seq, rows))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_kill_9_keeps_every_synced_record_once(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    durable_before_kill = 0
    for _ in range(2):  # twice on the same journal: seqs go on across a recovery
        child = CrashChild("tests.journal_crash_child", str(tmp_path), str(seed))
        assert int(child.line("ready").split()[1]) >= durable_before_kill
        first = child.line("durable")
        time.sleep(rng.uniform(0.05, 0.8))
        killed = child.kill()
        reported = [int(line.split()[1]) for line in [first, *killed.lines]]
        durable_before_kill = max(reported)

        with Journal(tmp_path) as journal:
            records = list(journal.replay())
            damage = journal.recovery
        seqs = [r.seq for r in records]
        assert seqs == list(range(1, len(seqs) + 1)), damage  # each once, none missing
        assert len(seqs) >= durable_before_kill, damage
        assert all(expected_ok(r.seq, r.batch) for r in records)


def damaged_journal(tmp_path: Path) -> Iterator[Path]:
    with Journal(tmp_path) as journal:
        for i in range(10):
            journal.append("trades", trades(i * 100, 100))
    ((_, path),) = [s for s in list_segments(tmp_path) if s[1].stat().st_size > HEADER_SIZE]
    yield path


@pytest.mark.parametrize("damage", ["truncated", "flipped", "garbage length", "no header"])
def test_damaged_tail_is_detected_counted_and_truncated(tmp_path: Path, damage: str) -> None:
    path = next(damaged_journal(tmp_path))
    data = bytearray(path.read_bytes())
    record = (len(data) - HEADER_SIZE) // 10  # every record has the same size here
    last = HEADER_SIZE + 9 * record
    if damage == "truncated":
        data = data[: last + record // 2]
    elif damage == "flipped":
        data[last + record - 7] ^= 0xFF
    elif damage == "garbage length":
        data[last : last + 4] = b"\xff\xff\xff\x7f"
    else:
        data[:8] = b"NOTAJRNL"
    path.write_bytes(bytes(data))

    with Journal(tmp_path) as journal:
        got = [r.seq for r in journal.replay()]
        recovery = journal.recovery
        assert journal.append("trades", trades(0, 1)) == (10 if damage != "no header" else 1)
    assert recovery["damaged_segments"] == 1
    assert int(str(recovery["bytes_truncated"])) > 0
    assert got == (list(range(1, 10)) if damage != "no header" else [])
    if damage != "no header":
        assert path.stat().st_size == last  # cut back to the last whole record
    with Journal(tmp_path) as journal:
        assert journal.recovery["damaged_segments"] == 0  # the cut was made durable


def test_trim_removes_only_committed_segments(tmp_path: Path) -> None:
    with Journal(tmp_path, segment_bytes=HEADER_SIZE + 3_000) as journal:
        for i in range(40):
            journal.append("trades", trades(i, 10))
        segments = list_segments(tmp_path)
        assert len(segments) > 5
        firsts = [first for first, _ in segments]
        cut = firsts[3] + 1  # the fourth segment holds records up to cut and beyond
        removed = journal.trim(cut)
        assert removed == 3
        left = [first for first, _ in list_segments(tmp_path)]
        assert left == firsts[3:]
        assert journal.trim(10**9) == len(left) - 1  # never the segment being written
        journal.append("trades", trades(999, 1))
    with Journal(tmp_path) as journal:
        assert [r.seq for r in journal.replay()][-1] == 41


@pytest.fixture
def tiny_disk(tmpfs: Callable[[str], Path]) -> Path:
    return tmpfs("256k")


def test_full_disk_is_a_clear_error_and_keeps_what_fit(tiny_disk: Path) -> None:
    journal = Journal(tiny_disk, sync_interval=0.05)
    appended = 0
    with pytest.raises(JournalStorageError, match=r"cannot write the journal in .*: No space left"):
        for i in range(10_000):
            journal.append("trades", trades(i, 200))
            appended += 1
    assert appended > 0
    journal.close()
    # Read without opening a Journal (which would need room for a new segment).
    seqs: list[int] = []
    for _, path in list_segments(tiny_disk):
        scan, records = read_segment(path)
        assert scan.damage is None, scan.damage  # the refused record left no torn tail
        seqs += [r.seq for r in records]
    assert seqs == list(range(1, appended + 1))


def test_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(
        JournalStorageError, match=r"cannot write the journal in .*: Not a directory"
    ):
        Journal(blocker / "journal")


def test_bad_input_is_refused_without_using_a_seq(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        with pytest.raises(TypeError, match="expected Arrow tabular data, got int"):
            journal.append("trades", 42)
        with pytest.raises(ValueError, match="table name must be 1-255 bytes"):
            journal.append("", trades(0, 1))
        assert journal.append("trades", trades(0, 1)) == 1


def test_committed_marks_come_from_the_lake_files_of_this_journal(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    day = date(2026, 1, 2)
    with Journal(tmp_path / "_journal") as journal:
        for i in range(4):
            journal.append("trades", trades(i * 10, 2, "kraken"))
            journal.append("trades", trades(i * 10, 2, "coinbase"))
        journal_id = journal.journal_id

    def commit(venue: str, name: str, metadata: dict[bytes, bytes]) -> None:
        directory = partition_dir(lake, "trades", venue, day)
        directory.mkdir(parents=True, exist_ok=True)
        table = trades(0, 1, venue)
        pq.write_table(table.replace_schema_metadata(metadata), directory / name)

    commit("kraken", "part-000000.000000000-aaa.parquet", watermark_metadata(journal_id, 3))
    commit("kraken", "part-000001.000000000-bbb.parquet", watermark_metadata(journal_id, 5))
    commit("kraken", "part-000002.000000000-ccc.parquet", {b"other": b"x"})
    commit("coinbase", "part-000000.000000000-ddd.parquet", watermark_metadata(b"\0" * 16, 99))
    (lake / "trades" / "venue=coinbase" / "date=2026-01-02" / "part-bad.parquet").write_bytes(b"x")

    with Journal(tmp_path / "_journal") as journal:
        keys = {
            (r.table, venue, d)
            for r in journal.replay()
            for venue, d, _ in split_partitions(r.batch)
        }
        marks = committed_marks(lake, journal.journal_id, keys)
        assert marks == {("trades", "kraken", day): 5}  # coinbase's file is another journal's
        left = [(r.seq, r.batch["venue"][0].as_py()) for r in journal.replay(committed=marks)]
    kraken_after_5 = [(7, "kraken")]
    assert left == [
        (2, "coinbase"),
        (4, "coinbase"),
        (6, "coinbase"),
        *kraken_after_5,
        (8, "coinbase"),
    ]
    assert file_mark({METADATA_KEY: b"{not json"}, journal_id) is None


def test_one_owner_at_a_time(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        journal.append("trades", trades(0, 1))
        with pytest.raises(JournalError, match=r"another process has the journal at .* open"):
            Journal(tmp_path)
        assert journal.append("trades", trades(1, 1)) == 2  # the refused one changed nothing
    with Journal(tmp_path) as journal:
        assert [r.seq for r in journal.replay()] == [1, 2]
