"""How the lake commits: the order of a commit's steps, what a refused write leaves, the
events table going before the data it describes, and the writer queue's bound in bytes."""

from __future__ import annotations

import asyncio
import errno
import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alphapulse.eventlog import SERVICE, EventLog
from alphapulse.lake import AsyncLakeWriter, LakeStorageError, LakeWriter, read_table
from alphapulse.lake.snapshot import GENERATION
from tests.test_lake import MIDNIGHT, part_files, temp_files, trades


def test_a_commit_is_durable_before_it_is_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Write the temp file, fsync it, rename it, fsync the directory, then acknowledge:
    without the first fsync a crash can leave a renamed empty file, without the second a
    committed (and acknowledged) file can vanish."""
    calls: list[tuple[Any, ...]] = []
    writer = LakeWriter(tmp_path, on_commit=lambda p, t, n: calls.append(("ack", str(p))))
    real_fsync, real_replace, real_write = os.fsync, os.replace, pq.write_table

    def fsync(fd: int) -> None:
        calls.append(("fsync", str(Path(f"/proc/self/fd/{fd}").readlink()), writer.rows_written))
        real_fsync(fd)

    def replace(src: Path, dst: Path) -> None:
        calls.append(("replace", str(src), str(dst), writer.rows_written))
        real_replace(src, dst)

    def write_table(table: pa.Table, where: Path, **kwargs: Any) -> None:
        real_write(table, where, **kwargs)
        calls.append(("write", str(where), writer.rows_written))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(pq, "write_table", write_table)
    writer.write("trades", trades([MIDNIGHT, MIDNIGHT + 1]))
    writer.flush()
    [final] = part_files(tmp_path)
    temp, directory = str(final.parent / f".{final.name}.tmp"), str(final.parent)
    # The generation file replaced after the commit is a hint to readers, not the commit.
    calls = [c for c in calls if GENERATION not in str(c[-2])]
    assert calls[-5:] == [
        ("write", temp, 0),
        ("fsync", temp, 0),
        ("replace", temp, str(final), 0),
        ("fsync", directory, 0),  # the stats do not count the file before this either
        ("ack", str(final)),
    ]
    assert writer.rows_written == 2
    writer.close()


def test_a_refused_write_names_the_directory_and_keeps_the_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = pq.write_table
    with LakeWriter(tmp_path) as lake:
        lake.write("trades", trades([MIDNIGHT]))
        lake.flush()
        [kept] = part_files(tmp_path)

        def full(table: pa.Table, where: Path, **kwargs: Any) -> None:
            Path(where).write_bytes(b"PAR1 half a file")
            raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] ...")

        monkeypatch.setattr(pq, "write_table", full)
        lake.write("trades", trades([MIDNIGHT + 1], first_id=1))
        with pytest.raises(LakeStorageError) as raised:
            lake.flush()
        assert raised.value.path == kept.parent
        assert str(raised.value) == f"cannot write to {kept.parent}: No space left on device"
        assert temp_files(tmp_path) == [] and part_files(tmp_path) == [kept]
        assert lake.rows_buffered == 1  # still there for the next attempt
        monkeypatch.setattr(pq, "write_table", real_write)
    assert read_table(tmp_path, "trades").num_rows == 2


def service_events(*kinds: str) -> pa.RecordBatch:
    log = EventLog()
    for kind in kinds:
        log.append(kind)
    return log.drain()


def test_the_events_table_is_committed_before_the_data_it_describes(tmp_path: Path) -> None:
    order: list[str] = []
    lake = LakeWriter(
        tmp_path,
        roll_rows=2,
        lead_table="events",
        lead_seconds=3600,
        on_commit=lambda path, table, rows: order.append(table),
    )
    lake.write("events", service_events("service_start", "config", "connect"))
    lake.write("trades", trades([MIDNIGHT, MIDNIGHT + 1]))  # rolls: the events go first
    assert order == ["events", "trades"]
    lake.write("events", service_events("reconnect_scheduled"))
    lake.write("trades", trades([MIDNIGHT + 2, MIDNIGHT + 3], first_id=2))
    # The trail is on disk already and this event is young: no small file beside each file.
    assert order == ["events", "trades", "trades"]
    lake.close()
    assert order == ["events", "trades", "trades", "events"]


def test_every_venues_first_events_go_before_the_data(tmp_path: Path) -> None:
    """The events table is partitioned by venue: the service's own events and each venue's
    config/connect are separate buffers. Before, only the first of them went ahead of the
    first data file (the flag "committed once" flipped on it), so a kill -9 kept the data
    and service_start but not the venues' config and connect events."""
    committed: list[tuple[str, str]] = []
    lake = LakeWriter(
        tmp_path,
        roll_rows=2,
        lead_table="events",
        lead_seconds=3600,
        on_commit=lambda path, table, rows: committed.append((table, path.parts[-3])),
    )
    log = EventLog()
    log.append("service_start")
    for venue in ("kraken", "coinbase"):
        log.append("config", venue)
        log.append("connect", venue)
    lake.write("events", log.drain())
    lake.write("trades", trades([MIDNIGHT, MIDNIGHT + 1]))  # rolls: every events buffer first
    assert sorted(committed[:3]) == [
        ("events", "venue=coinbase"),
        ("events", "venue=kraken"),
        ("events", f"venue={SERVICE}"),
    ]
    assert committed[3:] == [("trades", "venue=kraken")]
    log.append("reconnect_scheduled", "kraken")  # young, in a partition already on disk
    log.append("connect", "binance")  # a venue's first events: they go now
    lake.write("events", log.drain())
    lake.write("trades", trades([MIDNIGHT + 2, MIDNIGHT + 3], first_id=2))
    assert committed[4:] == [("events", "venue=binance"), ("trades", "venue=kraken")]
    lake.close()


def test_events_that_wait_lead_seconds_go_before_the_next_data_file(tmp_path: Path) -> None:
    order: list[str] = []
    with LakeWriter(
        tmp_path,
        roll_rows=2,
        lead_table="events",
        lead_seconds=0.05,
        on_commit=lambda path, table, rows: order.append(table),
    ) as lake:
        lake.write("events", service_events("service_start"))
        lake.write("trades", trades([MIDNIGHT, MIDNIGHT + 1]))
        lake.write("events", service_events("disconnect"))
        time.sleep(0.1)
        lake.write("trades", trades([MIDNIGHT + 2, MIDNIGHT + 3], first_id=2))
        assert order == ["events", "trades", "events", "trades"]
        lake.write("events", service_events("service_stop"))
        lake.write("trades", trades([MIDNIGHT + 4], first_id=4))
    assert order[-2:] == ["events", "trades"]  # a flush commits the events first too


def test_the_queue_is_bounded_in_bytes_not_only_batches(tmp_path: Path) -> None:
    batch = trades([MIDNIGHT + i for i in range(1_000)])
    depths: list[int] = []

    def slow_disk(path: Path, table: str, rows: int) -> None:
        time.sleep(0.01)

    async def main() -> dict[str, int | float]:
        writer = LakeWriter(tmp_path, roll_rows=1, on_commit=slow_disk)
        limit = batch.nbytes * 2
        async with AsyncLakeWriter(writer, max_queue=100, max_queue_bytes=limit) as lake:
            for _ in range(12):
                await lake.put("trades", batch)
                depths.append(int(lake.stats()["queue_bytes"]))
            big = pa.concat_tables([batch] * 5)  # larger than the bound: goes through alone
            await lake.put("trades", big)
        return lake.stats()

    stats = asyncio.run(main())
    assert max(depths) <= batch.nbytes * 2
    assert stats["blocked_count"] > 0
    assert stats["rows_written"] == 17_000 and stats["rows_lost"] == 0


def test_a_failed_writer_tells_its_owner_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(table: pa.Table, where: Path, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "no space")

    monkeypatch.setattr(pq, "write_table", full)
    told: list[BaseException] = []

    async def main() -> AsyncLakeWriter:
        lake = AsyncLakeWriter(LakeWriter(tmp_path, roll_rows=1), on_error=told.append)
        await lake.put("trades", trades([MIDNIGHT]))
        for _ in range(200):
            if told:
                break
            await asyncio.sleep(0.01)
        with pytest.raises(LakeStorageError):
            raise lake.error or AssertionError("no error")
        with pytest.raises(Exception, match="No space left on device"):
            await lake.close()
        return lake

    lake = asyncio.run(main())
    assert len(told) == 1 and told[0] is lake.error
    assert lake.rows_lost == 1
