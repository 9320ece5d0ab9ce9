"""Pruning, proven from DuckDB's profile (not by timing): a one-venue, one-day query opens
only that venue's partition for that day, and a time window inside the day skips row
groups by their ``ts_recv`` statistics."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import alphapulse
from alphapulse.query import Session
from tests.query_lakes import write_trades_lake

DAY = "2026-03-03"
PARTITION = f"venue=coinbase/date={DAY}"


@dataclass
class Scan:
    files_read: int
    filenames: list[str]
    row_groups_scanned: int
    row_groups_total: int


def scans(session: Session, query: str) -> list[Scan]:
    """The Parquet scans of ``query`` as DuckDB's profiler reports them."""
    relation = session.sql(f"explain (analyze, format json) {query}")
    assert relation is not None
    profile = json.loads(relation.fetchall()[0][1])
    found: list[Scan] = []

    def walk(node: dict[str, Any]) -> None:
        info = node.get("extra_info", {})
        if node.get("type") == "TABLE_SCAN" and info.get("Function") == "READ_PARQUET":
            names = info.get("Filename(s)", "")
            found.append(
                Scan(
                    files_read=int(info["Total Files Read"]),
                    filenames=[n.strip() for n in names.split(",") if n.strip() not in ("", "...")],
                    row_groups_scanned=int(node["row_groups_scanned"]),
                    row_groups_total=int(node["total_row_groups_to_scan"]),
                )
            )
        for child in node.get("children", []):
            walk(child)

    for operator in profile["operator"]:
        walk(operator)
    return found


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pruning")
    # 3 venues x 3 days, 4 files a partition, 3 row groups a file.
    write_trades_lake(root, days=3, rows_per_day=6_000, batches=4, row_group_rows=500)
    return root


@pytest.fixture(scope="module")
def session(lake: Path) -> Session:
    return alphapulse.connect(lake)


def partition_files(lake: Path) -> list[Path]:
    return sorted((lake / "trades" / PARTITION).glob("part-*.parquet"))


def test_the_lake_has_what_pruning_needs(lake: Path, session: Session) -> None:
    assert len(session.snapshot_files("trades")) == 3 * 3 * 4
    assert all(pq.ParquetFile(f).num_row_groups >= 3 for f in partition_files(lake))


def test_one_venue_one_day_opens_only_its_partition(lake: Path, session: Session) -> None:
    [scan] = scans(
        session, f"select count(*) from trades where venue = 'coinbase' and date = '{DAY}'"
    )
    mine = partition_files(lake)
    assert scan.files_read == len(mine) == 4
    assert scan.filenames and all(PARTITION in name for name in scan.filenames)
    # The whole day is wanted: every row group of those files, and none of any other.
    assert (
        scan.row_groups_scanned
        == scan.row_groups_total
        == sum(pq.ParquetFile(f).num_row_groups for f in mine)
    )


def test_a_window_inside_the_day_skips_row_groups(session: Session) -> None:
    [scan] = scans(
        session,
        "select count(*) from trades where venue = 'coinbase' and date = '2026-03-03' "
        "and ts_recv >= '2026-03-03 10:00' and ts_recv < '2026-03-03 11:00'",
    )
    assert scan.files_read <= 4 and all(PARTITION in name for name in scan.filenames)
    # An hour of a day in 12 row groups: one or two of them, by their ts_recv statistics.
    assert 1 <= scan.row_groups_scanned <= 2 < scan.row_groups_total


def test_the_bars_macro_prunes_the_same_way(session: Session) -> None:
    [scan] = scans(
        session,
        "select * from bars('1m', venue := 'coinbase', symbol := 'BTC-USD', "
        "start := '2026-03-03 10:00', stop := '2026-03-03 11:00')",
    )
    assert scan.files_read <= 4 and all(PARTITION in name for name in scan.filenames)
    assert 1 <= scan.row_groups_scanned <= 2 < scan.row_groups_total


def test_without_filters_everything_is_read(session: Session) -> None:
    """The counter-check: the profile does report every file when nothing prunes."""
    [scan] = scans(session, "select count(*) from trades")
    assert scan.files_read == 36
    assert scan.row_groups_scanned == scan.row_groups_total >= 36 * 3
