"""`alphapulse lake info`: what a lake holds, from footers and statistics alone."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alphapulse import _core
from alphapulse.lake import LakeError, LakeVersionError, LakeWriter
from alphapulse.lake.compact import compact, plan_partition
from alphapulse.lake.info import info, iso_ns
from alphapulse.lake.layout import MARKER, NS_PER_DAY
from alphapulse.lake.swap import Merge
from tests.test_lake_compact import DAY0, lake_command, make_lake, trades


def test_info_counts_partitions_files_rows_bytes_and_the_time_range(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    written = make_lake(root, files=3, rows=300, venues=2, days=2)

    lake = info(root)

    assert lake.schema_version == 1 and not lake.live_writer
    (table,) = lake.tables
    files = sorted(root.glob("trades/*/*/part-*.parquet"))
    assert (table.name, table.partitions, table.files, table.compacted_files) == (
        "trades",
        4,
        12,
        0,
    )
    assert table.rows == written
    assert table.bytes == sum(f.stat().st_size for f in files)
    assert table.first_ts_recv == DAY0
    # The last row of the last day: ids in threes share a ts_recv, 1 ms apart.
    assert table.last_ts_recv == DAY0 + NS_PER_DAY + (written - 3) * 1_000_000
    assert table.tail_rows is None

    compact(root, older_than=timedelta(0), grace=0)
    after = info(root).tables[0]
    assert (after.partitions, after.files, after.compacted_files, after.rows) == (4, 4, 4, written)
    assert (after.first_ts_recv, after.last_ts_recv) == (table.first_ts_recv, table.last_ts_recv)


def test_info_counts_each_file_once_while_a_swap_is_half_done(tmp_path: Path) -> None:
    """A compacted file renamed into place, the files it replaced not yet deleted: the
    ledger says which to count."""
    root = tmp_path / "lake"
    written = make_lake(root, files=4, venues=1, days=1)
    (directory,) = {p.parent for p in root.glob("trades/*/*/part-*.parquet")}
    (group,) = plan_partition(directory, 2**62, 10**9, 10**12)
    merge = Merge(root, "trades", directory, group)
    merge.read()
    merge.write_ledger()
    merge.write_file()
    merge.publish()
    table = info(root).tables[0]
    assert (table.files, table.compacted_files, table.rows) == (1, 1, written)


def test_info_of_an_empty_lake_and_of_a_table_without_statistics(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    LakeWriter(root).close()
    assert info(root).tables == []
    with LakeWriter(root) as writer:
        writer.write("trades", trades(0, 10))
    (path,) = root.glob("trades/*/*/part-*.parquet")
    table = pq.read_table(path)
    pq.write_table(table, path, write_statistics=False)
    summary = info(root).tables[0]
    assert summary.rows == 10 and summary.first_ts_recv is None and summary.last_ts_recv is None


def test_bad_lakes(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="no lake at"):
        info(tmp_path / "nowhere")
    (tmp_path / MARKER).write_bytes(
        orjson.dumps({"format": "alphapulse.lake", "schema_version": 9})
    )
    with pytest.raises(LakeVersionError, match="upgrade alphapulse"):
        info(tmp_path)


def test_iso_ns_keeps_nanoseconds() -> None:
    assert iso_ns(DAY0 + 1) == "2026-01-01T00:00:00.000000001Z"
    assert iso_ns(None) is None


# -- the command ------------------------------------------------------------------------------


def test_the_command_prints_an_aligned_table_and_json(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    make_lake(root, files=2, rows=300, venues=1, days=1)
    with LakeWriter(root) as writer:
        writer.write("quotes", _quotes())

    out = lake_command("info", "--lake", str(root))

    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"{root}: lake schema version 1, no live writer"
    header, *rows = lines[1:]
    assert header.split() == [
        "table",
        "partitions",
        "files",
        "compacted",
        "rows",
        "MB",
        "first",
        "ts_recv",
        "last",
        "ts_recv",
    ]
    assert [r.split()[0] for r in rows] == ["quotes", "trades"]
    trades_row = rows[1].split()
    assert trades_row[1:5] == ["1", "2", "0", "600"]
    assert trades_row[6:8] == ["2026-01-01", "00:00:00.000"]
    # Aligned: every column ends (numbers) or starts (dates) at the header's place.
    rows_end = header.index("rows") + len("rows")
    assert all(r[rows_end - 1] != " " and r[rows_end] == " " for r in rows)
    first = header.index("first ts_recv")
    assert all(r[first : first + 10] == "2026-01-01" for r in rows)

    data = json.loads(lake_command("info", "--lake", str(root), "--json").stdout)
    assert data["schema_version"] == 1 and data["live_writer"] is False
    by_name = {t["name"]: t for t in data["tables"]}
    assert by_name["trades"]["rows"] == 600 and by_name["quotes"]["rows"] == 1
    assert by_name["trades"]["first_ts_recv"] == "2026-01-01T00:00:00.000000000Z"


def test_the_command_fails_in_one_line(tmp_path: Path) -> None:
    out = lake_command("info", "--lake", str(tmp_path / "nowhere"))
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1
    assert out.stderr.startswith("alphapulse lake: error: no lake at ")
    out = lake_command("info", "--lake", "")
    assert out.returncode == 2 and "an empty path" in out.stderr


def _quotes() -> pa.Table:
    ts = pa.array([DAY0], pa.int64()).cast(pa.timestamp("ns", "UTC"))
    columns: dict[str, object] = {"ts_event": ts, "ts_recv": ts, "venue": ["kraken"]}
    schema = pa.schema(_core.event_schema("quotes"))
    for field in schema:
        if field.name not in columns:
            columns[field.name] = pa.array([1 if not pa.types.is_string(field.type) else "X"]).cast(
                field.type
            )
    return pa.table(columns, schema=schema)
