"""The live tail: a writer's uncommitted rows published under ``<lake>/_tail`` and read by
``snapshot``; what a cut segment, a dead owner, a closed or killed writer and a full disk
leave; and the real collector's tail seconds after it starts. Real files and processes."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from alphapulse import _core
from alphapulse.lake import LakeWriter, read_table
from alphapulse.lake.snapshot import generation, snapshot, token_of
from alphapulse.lake.tail import OWNER, TAIL_DIR, SegmentReader, process_start, read_segment
from tests.conftest import ROOT
from tests.test_lake import MIDNIGHT, part_files, trades


def ids(table: pa.Table | None) -> list[int]:
    assert table is not None
    out: list[int] = table.column("trade_id").to_pylist()
    return out


def segments(lake: Path, table: str = "trades") -> list[Path]:
    return sorted((lake / TAIL_DIR / table).glob("venue=*/date=*/*.arrows"))


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_uncommitted_rows_are_in_the_tail_and_leave_it_when_committed(tmp_path: Path) -> None:
    writer = LakeWriter(tmp_path, publish_tail=True)
    writer.write("trades", trades([MIDNIGHT, MIDNIGHT + 1], first_id=0))
    writer.write("trades", trades([MIDNIGHT + 2], venue="coinbase", first_id=2))
    taken = snapshot(tmp_path, "trades")
    assert taken.files == []
    assert sorted(ids(taken.tail)) == [0, 1, 2]
    assert taken.tail is not None and taken.tail.schema.field("venue").type == pa.string()
    assert snapshot(tmp_path, "trades", venues=["coinbase"]).tail is not None
    assert ids(snapshot(tmp_path, "trades", venues=["coinbase"]).tail) == [2]
    quotes = snapshot(tmp_path, "quotes").tail  # a live writer, nothing buffered
    assert quotes is not None and quotes.num_rows == 0
    assert quotes.schema == pa.schema(_core.event_schema("quotes"))
    before = generation(tmp_path)

    writer.flush()
    # The segments outlive the commit (a reader may have listed them) but are skipped:
    # their tokens are the committed files'.
    assert {p.stem for p in segments(tmp_path)} == {token_of(p.name) for p in part_files(tmp_path)}
    taken = snapshot(tmp_path, "trades")
    assert len(taken.files) == 2
    assert ids(taken.tail) == []
    assert generation(tmp_path) not in (None, before)

    writer.write("trades", trades([MIDNIGHT + 3], first_id=3))
    assert ids(snapshot(tmp_path, "trades").tail) == [3]
    assert writer.stats()["tail_errors"] == 0
    writer.close()


def test_committed_segments_are_deleted_after_the_grace(tmp_path: Path) -> None:
    writer = LakeWriter(tmp_path, publish_tail=True)
    assert writer.tail is not None
    writer.write("trades", trades([MIDNIGHT], first_id=0))
    writer.flush()
    [segment] = segments(tmp_path)
    writer.commit_due(time.monotonic() + writer.tail.grace_seconds / 2)
    assert segment.exists()
    writer.commit_due(time.monotonic() + writer.tail.grace_seconds + 1)
    assert not segment.exists()
    writer.close()


def test_a_segment_cut_mid_message_reads_its_whole_batches(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    writer = LakeWriter(lake, publish_tail=True)
    ends = []  # where each batch's message ends in the segment
    for i in range(4):
        writer.write("trades", trades([MIDNIGHT + i] * 3, first_id=10 * i))
        ends.append(segments(lake)[0].stat().st_size)
    [segment] = segments(lake)
    whole = segment.read_bytes()
    writer.close()

    cut_file = tmp_path / "cut.arrows"
    for cut in range(0, len(whole), 37):
        cut_file.write_bytes(whole[:cut])
        expected = [10 * i + k for i, end in enumerate(ends) if end <= cut for k in range(3)]
        assert read_segment(cut_file).to_pydict().get("trade_id", []) == expected, cut


def test_a_growing_segment_read_bit_by_bit_reads_as_if_read_whole(tmp_path: Path) -> None:
    """The watcher's reader parses only what was appended since its last read: at every
    length the file grows to, even mid-message, it holds what a fresh read finds."""
    lake = tmp_path / "lake"
    with LakeWriter(lake, publish_tail=True) as writer:
        for i in range(6):
            writer.write("trades", trades([MIDNIGHT + i] * (i + 1), first_id=10 * i))
        whole = segments(lake)[0].read_bytes()
    growing = tmp_path / "growing.arrows"
    growing.write_bytes(b"")
    reader = SegmentReader(growing)
    for end in [*range(0, len(whole), 113), len(whole)]:
        with growing.open("ab") as f:
            f.write(whole[growing.stat().st_size : end])
        assert reader.read().equals(read_segment(growing)), end
    assert ids(reader.read()) == [10 * i + k for i in range(6) for k in range(i + 1)]


def test_a_cut_segment_of_a_live_writer_reads_up_to_the_cut(tmp_path: Path) -> None:
    writer = LakeWriter(tmp_path, publish_tail=True)
    writer.write("trades", trades([MIDNIGHT, MIDNIGHT + 1], first_id=0))
    [segment] = segments(tmp_path)
    size = segment.stat().st_size
    writer.write("trades", trades([MIDNIGHT + 2], first_id=2))
    # What a reader sees while the second batch is half written.
    os.truncate(segment, size + (segment.stat().st_size - size) // 2)
    assert ids(snapshot(tmp_path, "trades").tail) == [0, 1]
    writer.close()


def test_a_dead_owner_means_no_tail(tmp_path: Path) -> None:
    writer = LakeWriter(tmp_path, publish_tail=True)
    writer.write("trades", trades([MIDNIGHT], first_id=0))
    owner_file = tmp_path / TAIL_DIR / OWNER
    owner = orjson.loads(owner_file.read_bytes())
    assert owner["pid"] == os.getpid() and owner["started_ns"] > 0
    assert ids(snapshot(tmp_path, "trades").tail) == [0]

    owner_file.write_bytes(orjson.dumps({**owner, "pid": dead_pid()}))
    assert snapshot(tmp_path, "trades").tail is None
    if process_start(os.getpid()) is not None:
        # A live pid that a later process took over from the writer is no owner either.
        owner_file.write_bytes(orjson.dumps({**owner, "process_start": owner["process_start"] + 1}))
        assert snapshot(tmp_path, "trades").tail is None
    owner_file.write_bytes(orjson.dumps(owner))
    assert ids(snapshot(tmp_path, "trades").tail) == [0]
    writer.close()


def test_close_removes_the_tail(tmp_path: Path) -> None:
    writer = LakeWriter(tmp_path, publish_tail=True)
    writer.write("trades", trades([MIDNIGHT, MIDNIGHT + 1], first_id=0))
    assert (tmp_path / TAIL_DIR / OWNER).exists()
    writer.close()
    assert not (tmp_path / TAIL_DIR).exists()
    taken = snapshot(tmp_path, "trades")
    assert taken.tail is None
    assert sorted(ids(read_table(tmp_path, "trades"))) == [0, 1]


def test_without_publishing_there_is_no_tail(tmp_path: Path) -> None:
    with LakeWriter(tmp_path) as writer:
        writer.write("trades", trades([MIDNIGHT], first_id=0))
        assert not (tmp_path / TAIL_DIR).exists()
        assert snapshot(tmp_path, "trades").tail is None
        writer.flush()
        assert generation(tmp_path) is not None  # readers are told of commits all the same


KILLED_WRITER = """
import sys, time
from alphapulse.lake import LakeWriter
from tests.test_lake import MIDNIGHT, trades
writer = LakeWriter(sys.argv[1], publish_tail=True)
writer.write("trades", trades([MIDNIGHT, MIDNIGHT + 1], first_id=0))
print("ready", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("publish", [True, False])
def test_a_killed_writers_tail_is_ignored_then_removed(tmp_path: Path, publish: bool) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        assert ids(snapshot(tmp_path, "trades").tail) == [0, 1]  # another process's tail
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    [stale] = segments(tmp_path)
    assert snapshot(tmp_path, "trades").tail is None  # its rows died with it

    writer = LakeWriter(tmp_path, publish_tail=publish)
    assert not stale.exists()
    if publish:
        owner = orjson.loads((tmp_path / TAIL_DIR / OWNER).read_bytes())
        assert owner["pid"] == os.getpid()
        assert ids(snapshot(tmp_path, "trades").tail) == []
    else:
        assert not (tmp_path / TAIL_DIR).exists()
    writer.close()


def test_a_segment_directory_the_disk_refuses_counts_and_commits_still_land(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = LakeWriter(tmp_path, publish_tail=True)
    # A file where the trades segments' directory should be: every segment open fails,
    # whoever runs the test (a read-only directory would not stop root).
    (tmp_path / TAIL_DIR / "trades").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="alphapulse.lake.tail"):
        writer.write("trades", trades([MIDNIGHT], first_id=0))
        writer.write("trades", trades([MIDNIGHT], venue="coinbase", first_id=1))
        writer.write("quotes", quotes_row())
    assert writer.stats()["tail_errors"] == 2
    assert len([r for r in caplog.records if "lake tail" in r.message]) == 1  # logged once
    quotes = snapshot(tmp_path, "quotes").tail  # other tables publish on
    assert quotes is not None and quotes.num_rows == 1
    writer.flush()
    assert sorted(ids(read_table(tmp_path, "trades"))) == [0, 1]
    assert writer.files_committed == 3
    writer.close()


def quotes_row() -> pa.Table:
    schema = pa.schema(_core.event_schema("quotes"))
    ts = pa.array([MIDNIGHT], pa.timestamp("ns", "UTC"))
    values: dict[str, pa.Array] = {}
    for field in schema:
        if field.name in ("ts_event", "ts_recv"):
            values[field.name] = ts
        elif pa.types.is_string(field.type):
            values[field.name] = pa.array(["kraken"], field.type)
        else:
            values[field.name] = pa.array([1], field.type)
    return pa.table(values, schema=schema)


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``where``, or a skip saying why there cannot be one."""
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs (needs root and mount rights): {done.stderr}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "tiny", "64k") as mount:
        yield mount


def test_a_full_tail_disk_counts_and_commits_still_land(tmp_path: Path, tiny_disk: Path) -> None:
    writer = LakeWriter(tmp_path, publish_tail=True)
    assert writer.tail is not None
    writer.tail.reserve_bytes = 0  # publish to the last byte: the disk refuses the write
    # The trades segments on a disk that fills up; the lake's files on one with room.
    (tmp_path / TAIL_DIR / "trades").symlink_to(tiny_disk, target_is_directory=True)
    written = 0
    while writer.stats()["tail_errors"] == 0:
        assert written < 100_000, "the tiny disk never filled"
        writer.write("trades", trades([MIDNIGHT + written] * 500, first_id=written))
        written += 500
    failed_at = written
    for _ in range(5):  # the failed buffer publishes no more: one error, however long
        writer.write("trades", trades([MIDNIGHT + written] * 500, first_id=written))
        written += 500
    assert writer.stats()["tail_errors"] == 1
    tail = ids(snapshot(tmp_path, "trades").tail)
    assert tail == list(range(len(tail))) and len(tail) < failed_at  # whole batches, in order
    writer.flush()
    assert sorted(ids(read_table(tmp_path, "trades"))) == list(range(written))
    writer.close()


def test_the_tail_leaves_the_commits_their_room(tmp_path: Path) -> None:
    """Segments share the lake's disk: below ``max_buffer_bytes`` free, buffers are not
    published (the files they become need the room); once there is room, they are again."""
    with tmpfs(tmp_path / "lake", "4m") as lake:
        writer = LakeWriter(lake, publish_tail=True, max_buffer_bytes=1 << 20)
        ballast = lake / "ballast"
        with ballast.open("wb") as f:  # leave less than 1 MiB free
            free = os.statvfs(lake).f_bavail * os.statvfs(lake).f_frsize
            f.write(b"x" * (free - (512 << 10)))
        writer.write("trades", trades([MIDNIGHT], first_id=0))
        assert segments(lake) == [] and writer.stats()["tail_errors"] == 1
        assert ids(snapshot(lake, "trades").tail) == []  # until committed
        writer.flush()
        assert ids(read_table(lake, "trades")) == [0]

        ballast.unlink()
        writer.write("trades", trades([MIDNIGHT + 1], first_id=1))
        assert len(segments(lake)) == 1 and writer.stats()["tail_errors"] == 1
        assert ids(snapshot(lake, "trades").tail) == [1]
        writer.close()


# -- the real collector ----------------------------------------------------------------------


def test_the_collectors_tail_holds_rows_of_the_last_seconds(tmp_path: Path) -> None:
    """Seconds after it starts, long before its first 60 s commit, the collector's trades
    are readable, the newest a moment old; once it stops, they are in files, ``_tail`` gone."""
    lake = tmp_path / "lake"
    collector = subprocess.Popen(
        [sys.executable, "-m", "alphapulse", "collect", "--simulated", "--lake", str(lake)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        age_ns = None
        while time.monotonic() < deadline:
            assert collector.poll() is None, "the collector ended early"
            tail = snapshot(lake, "trades").tail if lake.is_dir() else None
            if tail is not None and tail.num_rows:
                newest = pc.max(tail.column("ts_recv").cast(pa.int64())).as_py()
                age_ns = time.time_ns() - newest
                if age_ns < 2 * 10**9:
                    break
            time.sleep(0.1)
        assert age_ns is not None and age_ns < 2 * 10**9, age_ns
        assert part_files(lake, "trades") == []  # all of it from the tail
    finally:
        collector.send_signal(signal.SIGINT)
        assert collector.wait(timeout=60) == 0
    assert not (lake / TAIL_DIR).exists()
    assert sum(pq.read_metadata(p).num_rows for p in part_files(lake, "trades")) > 0
