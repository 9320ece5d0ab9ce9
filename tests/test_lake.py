"""The Parquet lake: real events in, the same events out, through pyarrow and DuckDB; rolls,
atomic commits under kill -9, backpressure and versions. Real files and processes only."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from alphapulse import _core
from alphapulse.lake import (
    AsyncLakeWriter,
    LakeLockedError,
    LakeVersionError,
    LakeWriter,
    LakeWriterError,
    read_table,
    tables,
)
from alphapulse.replay import replay
from alphapulse.simulator.demo import write_demo_capture
from tests import lake_crash_child as child
from tests.killed_child import CrashChild
from tests.test_arrow import BOOK, TRADE

DAY_NS = 86_400 * 10**9
#: 2026-01-02T00:00:00Z
MIDNIGHT = 1_767_312_000_000_000_000


def part_files(root: Path, table: str = "*") -> list[Path]:
    return sorted(root.glob(f"{table}/venue=*/date=*/part-*.parquet"))


def temp_files(root: Path) -> list[Path]:
    return sorted(root.glob("*/venue=*/date=*/.part-*.parquet.tmp"))


def canonical(table: pa.Table) -> pa.Table:
    """Rows in one order whatever order they were written in: sorted by every sortable
    column, ts_recv first (rows equal in all of them are interchangeable)."""
    keys = ["ts_recv"] + [
        f.name for f in table.schema if f.name != "ts_recv" and not pa.types.is_nested(f.type)
    ]
    return table.sort_by([(k, "ascending") for k in keys]).combine_chunks()


def ts_ints(table: pa.Table, column: str = "ts_recv") -> list[int]:
    ints: list[int] = table.column(column).cast(pa.int64()).to_pylist()
    return ints


def trades(ts_recv: list[int], venue: str = "kraken", first_id: int = 0) -> pa.Table:
    """Trades at the given receive times; ``trade_id`` numbers them in arrival order."""
    rows = len(ts_recv)
    table = child.trade_rows(first_id, rows, venue)
    ts = pa.array(ts_recv, pa.int64()).cast(pa.timestamp("ns", "UTC"))
    return table.set_column(
        table.schema.get_field_index("ts_recv"), table.schema.field("ts_recv"), ts
    )


def kraken_events() -> dict[str, _core.EventBatch]:
    engine = _core.Engine("kraken_v1")
    engine.feed(TRADE, 1_618_678_142_600_000_000)
    engine.feed(BOOK, 1_618_678_142_700_000_000)
    engine.feed(b"not json", 1_618_678_142_800_000_000)
    return engine.take()


# -- round trips ----------------------------------------------------------------------------


def test_engine_events_round_trip(tmp_path: Path) -> None:
    events = kraken_events()
    committed: list[tuple[Path, str, int]] = []
    with LakeWriter(tmp_path, on_commit=lambda *c: committed.append(c)) as lake:
        for name, batch in events.items():
            lake.write(name, batch)
        assert part_files(tmp_path) == []  # buffered until a roll or close
    written = {name: pa.table(b) for name, b in events.items() if len(b)}
    assert sorted(written) == ["book_deltas", "rejects", "statuses", "trades"]
    assert tables(tmp_path) == sorted(written)
    assert sorted((table, rows) for _, table, rows in committed) == sorted(
        (name, t.num_rows) for name, t in written.items()
    )
    for name, table in written.items():
        [path] = part_files(tmp_path, name)
        assert path.parent == tmp_path / name / "venue=kraken" / "date=2021-04-17"
        back = read_table(tmp_path, name)
        assert back.schema == pa.schema(_core.event_schema(name))  # venue once, no date
        assert back.equals(table)
    # A table with no rows reads empty with its published schema.
    assert read_table(tmp_path, "quotes").schema == pa.schema(_core.event_schema("quotes"))
    assert read_table(tmp_path, "quotes").num_rows == 0


def test_demo_capture_round_trip_through_pyarrow_and_duckdb(tmp_path: Path) -> None:
    capture = tmp_path / "demo.capture.zst"
    write_demo_capture(capture, seconds=4)
    root = tmp_path / "lake"
    written: dict[str, list[pa.Table]] = {}
    lake = LakeWriter(root, roll_rows=700)

    def on_events(protocol: str, batches: dict[str, _core.EventBatch]) -> None:
        for name, batch in batches.items():
            lake.write(name, batch)
            if len(batch):
                written.setdefault(name, []).append(pa.table(batch))

    report = replay(capture, on_events=on_events)
    lake.close()
    assert report.ok and report.frames > 500
    assert {"trades", "book_deltas", "statuses"} <= set(written)
    assert tables(root) == sorted(written)

    con = duckdb.connect()
    for name, parts in written.items():
        expected = pa.concat_tables(parts)
        assert canonical(read_table(root, name)).equals(canonical(expected)), name
        days = pc.cast(pc.cast(expected.column("ts_recv"), pa.timestamp("ns")), pa.date32())
        partitions = Counter(
            zip(expected.column("venue").to_pylist(), days.to_pylist(), strict=True)
        )
        on_disk = Counter[tuple[str, date]]()
        for path in part_files(root, name):
            on_disk[(path.parent.parent.name[6:], date.fromisoformat(path.parent.name[5:]))] += (
                pq.read_metadata(path).num_rows
            )
        assert on_disk == partitions, name
        counts = con.sql(
            f"select venue, date, count(*) from read_parquet('{root}/{name}/**/*.parquet', "
            "hive_partitioning = true) group by all"
        ).fetchall()
        assert Counter({(v, d): n for v, d, n in counts}) == partitions, name

    # DuckDB sees the table's own columns plus the `date` partition, with their types.
    relation = con.sql(
        f"select * from read_parquet('{root}/trades/*/*/*.parquet', hive_partitioning = true)"
    )
    types = dict(zip(relation.columns, map(str, relation.dtypes), strict=True))
    assert relation.columns == [*pa.schema(_core.event_schema("trades")).names, "date"]
    assert types["ts_recv"].startswith("TIMESTAMP") and types["date"] == "DATE"
    assert types["trade_id"] == "UBIGINT" and types["venue"] == "VARCHAR"
    [(total,)] = con.sql(
        f"select sum(price_raw) from read_parquet('{root}/trades/**/*.parquet', "
        "hive_partitioning = true) where venue = 'binance'"
    ).fetchall()
    trades_table = pa.concat_tables(written["trades"])
    binance = trades_table.filter(pc.equal(trades_table.column("venue"), "binance"))
    assert total == pc.sum(binance.column("price_raw")).as_py()


def test_files_are_sorted_zstd_with_statistics_and_metadata(tmp_path: Path) -> None:
    rng = random.Random(5)
    times = [MIDNIGHT + rng.randrange(10**9) for _ in range(3_000)]
    with LakeWriter(tmp_path, row_group_rows=1_000) as lake:
        lake.write("trades", trades(times))
    [path] = part_files(tmp_path)
    meta = pq.read_metadata(path)
    assert meta.metadata[b"alphapulse.schema_version"] == b"1"
    assert meta.metadata[b"alphapulse.table"] == b"trades"
    assert meta.num_row_groups == 3
    ts_index = meta.schema.to_arrow_schema().get_field_index("ts_recv")
    for group in range(meta.num_row_groups):
        row_group = meta.row_group(group)
        assert row_group.sorting_columns == (pq.SortingColumn(ts_index),)
        for column in range(row_group.num_columns):
            chunk = row_group.column(column)
            assert chunk.compression == "ZSTD"
            assert chunk.statistics is not None and chunk.statistics.has_min_max
    assert ts_ints(pq.read_table(path)) == sorted(times)
    assert path.name.startswith("part-000000.")  # the time of day of its first row


def test_sort_is_stable(tmp_path: Path) -> None:
    with LakeWriter(tmp_path) as lake:
        lake.write("trades", trades([MIDNIGHT + t for t in (3, 1, 2, 1, 3)]))
    table = read_table(tmp_path, "trades")
    assert ts_ints(table) == [MIDNIGHT + t for t in (1, 1, 2, 3, 3)]
    assert table.column("trade_id").to_pylist() == [1, 3, 2, 0, 4]  # ties in arrival order


def test_accepts_any_arrow_input(tmp_path: Path) -> None:
    table = trades([MIDNIGHT + i for i in range(30)])
    with LakeWriter(tmp_path) as lake:
        lake.write("trades", table.slice(0, 10))
        lake.write("trades", table.slice(10, 10).to_batches()[0])
        lake.write("trades", pl.from_arrow(table.slice(20, 10)))
        lake.write("trades", table.slice(0, 0))  # empty: ignored
    assert read_table(tmp_path, "trades").equals(table)


# -- partitions and reads ------------------------------------------------------------------


def test_partitions_by_venue_and_utc_date_and_reads_prune(tmp_path: Path) -> None:
    times = [MIDNIGHT - DAY_NS + 5, MIDNIGHT - 5, MIDNIGHT, MIDNIGHT + 5, MIDNIGHT + DAY_NS]
    with LakeWriter(tmp_path) as lake:
        lake.write(
            "trades",
            pa.concat_tables([trades(times, "kraken"), trades(times, "coinbase", first_id=10)]),
        )
    dirs = {p.parent.relative_to(tmp_path / "trades").as_posix() for p in part_files(tmp_path)}
    assert dirs == {
        f"venue={v}/date={d}"
        for v in ("kraken", "coinbase")
        for d in ("2026-01-01", "2026-01-02", "2026-01-03")
    }
    for path in part_files(tmp_path):
        day = date.fromisoformat(path.parent.name[5:])
        for ts in ts_ints(pq.read_table(path)):
            assert datetime.fromtimestamp(ts // 10**9, UTC).date() == day

    def read(**filters: object) -> list[tuple[str, int]]:
        table = read_table(tmp_path, "trades", **filters)  # type: ignore[arg-type]
        return list(zip(table.column("venue").to_pylist(), ts_ints(table), strict=True))

    assert len(read()) == 10
    assert read(venue="kraken") == [("kraken", t) for t in times]
    assert {v for v, _ in read(venue=["kraken", "coinbase"])} == {"kraken", "coinbase"}
    assert read(venue="binance") == []
    # start inclusive, end exclusive; ints are ns, naive datetimes UTC, dates their midnight.
    jan2 = datetime(2026, 1, 2)
    assert [t for _, t in read(venue="kraken", start=MIDNIGHT, end=MIDNIGHT + DAY_NS)] == [
        MIDNIGHT,
        MIDNIGHT + 5,
    ]
    assert read(venue="kraken", start=jan2) == read(venue="kraken", start=date(2026, 1, 2))
    assert [t for _, t in read(venue="kraken", end=jan2.replace(tzinfo=UTC))] == times[:2]
    assert read_table(tmp_path, "trades", columns=["symbol"]).column_names == ["symbol"]


def test_schema_change_starts_a_new_file_and_reads_unify(tmp_path: Path) -> None:
    first = trades([MIDNIGHT, MIDNIGHT + 1])
    second = trades([MIDNIGHT + 2], first_id=2)
    second = second.append_column("note", pa.array(["new column"]))
    with LakeWriter(tmp_path) as lake:
        lake.write("trades", first)
        lake.write("trades", second)
    assert len(part_files(tmp_path)) == 2
    table = read_table(tmp_path, "trades")
    assert table.column("note").to_pylist() == [None, None, "new column"]


def test_bad_batches_are_rejected_loudly(tmp_path: Path) -> None:
    table = trades([MIDNIGHT])
    with LakeWriter(tmp_path) as lake:
        with pytest.raises(ValueError, match="'venue' column"):
            lake.write("trades", table.drop_columns(["venue"]))
        with pytest.raises(ValueError, match="'ts_recv' column"):
            lake.write("trades", table.drop_columns(["ts_recv"]))
        with pytest.raises(ValueError, match="null"):
            lake.write("trades", table.set_column(2, "venue", pa.array([None], pa.string())))
        with pytest.raises(ValueError, match="cannot name a partition"):
            lake.write("trades", table.set_column(2, "venue", pa.array(["a/b"])))
        with pytest.raises(ValueError, match="lowercase identifier"):
            lake.write("../x", table)
        with pytest.raises(TypeError):
            lake.write("trades", [1, 2])
        assert lake.rows_buffered == 0
    assert part_files(tmp_path) == []


# -- rolling ------------------------------------------------------------------------------------


def test_rolls_by_rows(tmp_path: Path) -> None:
    with LakeWriter(tmp_path, roll_rows=1_000) as lake:
        for i in range(10):
            lake.write("trades", trades([MIDNIGHT + i * 350 + j for j in range(350)], first_id=i))
        assert [pq.read_metadata(p).num_rows for p in part_files(tmp_path)] == [1050, 1050, 1050]
        assert lake.rows_buffered == 350
    assert [pq.read_metadata(p).num_rows for p in part_files(tmp_path)] == [1050] * 3 + [350]
    assert lake.stats()["rows_written"] == 3_500


def test_rolls_by_bytes_and_bounds_all_buffers(tmp_path: Path) -> None:
    batch = trades([MIDNIGHT + i for i in range(100)])
    with LakeWriter(tmp_path, roll_bytes=batch.nbytes * 2) as lake:
        for _ in range(4):
            lake.write("trades", batch)
        assert len(part_files(tmp_path)) == 2
    budget = batch.nbytes * 3
    with LakeWriter(tmp_path / "b", max_buffer_bytes=budget) as lake:
        for venue in ("v1", "v2", "v3", "v4"):
            lake.write("trades", trades([MIDNIGHT + i for i in range(100)], venue))
            assert lake.bytes_buffered <= budget
        assert len(part_files(tmp_path / "b")) == 1


def test_rolls_by_age(tmp_path: Path) -> None:
    with LakeWriter(tmp_path, roll_seconds=0.2) as lake:
        lake.write("trades", trades([MIDNIGHT]))
        assert lake.commit_due() == 0
        time.sleep(0.25)
        lake.write("trades", trades([MIDNIGHT], "coinbase"))  # any write checks every age
        assert [p.parts[-3] for p in part_files(tmp_path)] == ["venue=kraken"]
        assert lake.commit_due(now=time.monotonic() + 1) == 1
        assert len(part_files(tmp_path)) == 2


def test_async_writer_rolls_by_age_without_new_batches(tmp_path: Path) -> None:
    async def main() -> None:
        async with AsyncLakeWriter(LakeWriter(tmp_path, roll_seconds=0.1)) as lake:
            await lake.put("trades", trades([MIDNIGHT]))
            for _ in range(100):
                if part_files(tmp_path):
                    break
                await asyncio.sleep(0.02)
            assert len(part_files(tmp_path)) == 1

    asyncio.run(main())


# -- crashes --------------------------------------------------------------------------------


def check_intact(path: Path) -> int:
    """Every row of a committed file follows the child's rules; returns the row count."""
    table = pq.read_table(path, page_checksum_verification=True)
    assert pq.read_metadata(path).metadata[b"alphapulse.schema_version"] == b"1"
    ids = table.column("trade_id").to_pylist()
    assert ts_ints(table) == [child.expected_ts_recv(i) for i in ids]
    assert table.column("price_raw").to_pylist() == [child.expected_price_raw(i) for i in ids]
    assert ts_ints(table) == sorted(ts_ints(table))
    rows: int = table.num_rows
    return rows


def test_kill_9_never_leaves_a_partial_file(tmp_path: Path) -> None:
    """SIGKILL a writer at random moments, and just as it writes a temp file; each time
    every committed file must be whole, every reported one present, every temp invisible."""
    root = tmp_path / "lake"
    rng = random.Random(11)
    orphans_seen = 0
    rows: dict[Path, int] = {}  # committed files, checked row by row once
    for run in range(6):
        child = CrashChild("tests.lake_crash_child", str(root), str(run))
        child.line("ready")
        first_commit = child.line()  # there is always something to lose
        if run % 2:
            deadline = time.monotonic() + 5
            while not temp_files(root) and time.monotonic() < deadline:
                time.sleep(0.0005)
        else:
            time.sleep(rng.uniform(0, 0.5))
        lines = [first_commit, *child.kill().lines]
        reported = {Path(p): int(n) for p, n in (line.split() for line in lines)}
        files = part_files(root)
        assert set(rows) <= set(files)
        rows.update({path: check_intact(path) for path in files if path not in rows})
        assert all(rows.get(path) == n for path, n in reported.items())
        # Temp files are invisible to readers; every row is in exactly one file.
        ids = read_table(root, "trades", columns=["trade_id"]).column("trade_id")
        assert len(ids) == pc.count_distinct(ids).as_py() == sum(rows.values())
        [(duck,)] = (
            duckdb.connect()
            .sql(f"select count(*) from read_parquet('{root}/trades/**/*.parquet')")
            .fetchall()
        )
        assert duck == len(ids)

        temps = temp_files(root)
        orphans_seen += len(temps)
        with LakeWriter(root) as reopened:
            assert reopened.orphans_removed == len(temps)
        assert temp_files(root) == []
        assert part_files(root) == files
    assert orphans_seen > 0  # the temp-file kills did catch a file mid-write


# -- backpressure and failure ------------------------------------------------------------------


def test_slow_disk_blocks_the_producer_not_memory(tmp_path: Path) -> None:
    def slow_disk(path: Path, table: str, rows: int) -> None:
        time.sleep(0.04)

    batches = [
        trades([MIDNIGHT + i * 100 + j for j in range(100)], first_id=i * 100) for i in range(20)
    ]
    writer = LakeWriter(tmp_path, roll_rows=1, on_commit=slow_disk)  # a file per batch
    depths: list[int] = []
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    async def main() -> dict[str, int | float]:
        tick_task = asyncio.create_task(ticker())
        lake = AsyncLakeWriter(writer, max_queue=2)
        for batch in batches:
            await lake.put("trades", batch)
            depths.append(int(lake.stats()["queue_depth"]))
        await lake.close()
        tick_task.cancel()
        return lake.stats()

    stats = asyncio.run(main())
    assert stats["blocked_count"] >= 10
    assert stats["blocked_seconds"] > 0.4  # ~17 of 20 commits' sleep was waited out
    assert stats["queue_high_water"] <= 2 and max(depths) <= 2
    assert ticks > 40  # the loop kept running while the producer waited
    assert stats["files_committed"] == 20 and stats["rows_written"] == 2_000
    assert stats["queue_depth"] == 0 and stats["rows_lost"] == 0
    assert read_table(tmp_path, "trades").equals(pa.concat_tables(batches))


def test_writer_failure_is_raised_and_counted(tmp_path: Path) -> None:
    def failing(path: Path, table: str, rows: int) -> None:
        raise OSError("disk on fire")

    batches = [trades([MIDNIGHT + i], first_id=i) for i in range(10)]

    async def main() -> tuple[AsyncLakeWriter, int]:
        lake = AsyncLakeWriter(LakeWriter(tmp_path, roll_rows=1, on_commit=failing), max_queue=4)
        accepted = 0
        with pytest.raises(LakeWriterError, match="disk on fire") as raised:
            for batch in batches:
                await lake.put("trades", batch)
                accepted += batch.num_rows
            await lake.flush()
        assert isinstance(raised.value.__cause__, OSError)
        with pytest.raises(LakeWriterError):
            await lake.close()
        return lake, accepted

    lake, accepted = asyncio.run(main())
    on_disk = read_table(tmp_path, "trades").num_rows
    assert on_disk >= 1  # committed before its callback failed; the rest were not written
    assert lake.stats()["rows_lost"] == accepted - on_disk > 0


# -- versions and locks --------------------------------------------------------------------------


def test_lake_marker_and_newer_versions(tmp_path: Path) -> None:
    LakeWriter(tmp_path / "ok").close()
    marker = orjson.loads((tmp_path / "ok" / "_alphapulse_lake.json").read_bytes())
    assert marker == {"format": "alphapulse.lake", "schema_version": 1}

    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / "_alphapulse_lake.json").write_bytes(
        orjson.dumps({"format": "alphapulse.lake", "schema_version": 99})
    )
    with pytest.raises(LakeVersionError, match="99"):
        LakeWriter(newer)
    with pytest.raises(LakeVersionError, match="99"):
        read_table(newer, "trades")
    with pytest.raises(LakeVersionError):
        tables(newer)
    assert sorted(p.name for p in newer.iterdir()) == ["_alphapulse_lake.json"]  # untouched
    (newer / "_alphapulse_lake.json").write_bytes(b"{not json")
    with pytest.raises(LakeVersionError, match="unreadable"):
        LakeWriter(newer)


def test_files_of_unknown_versions_are_refused_by_name(tmp_path: Path) -> None:
    with LakeWriter(tmp_path) as lake:
        lake.write("trades", trades([MIDNIGHT]))
    [good] = part_files(tmp_path)
    table = pq.read_table(good)
    stranger = good.with_name("part-000001.000000000-stranger.parquet")
    pq.write_table(
        table.replace_schema_metadata({"alphapulse.schema_version": "2", "alphapulse.table": "t"}),
        stranger,
    )
    with pytest.raises(LakeVersionError, match=f"{stranger.name}.*'2'"):
        read_table(tmp_path, "trades")
    assert read_table(tmp_path, "trades", venue="coinbase").num_rows == 0  # pruned: not read
    pq.write_table(table.replace_schema_metadata({}), stranger)
    with pytest.raises(LakeVersionError, match=r"no alphapulse\.schema_version"):
        read_table(tmp_path, "trades")


def test_one_writer_per_lake(tmp_path: Path) -> None:
    with LakeWriter(tmp_path), pytest.raises(LakeLockedError):
        LakeWriter(tmp_path)
    LakeWriter(tmp_path).close()  # released on close
