"""``alphapulse buffer export``: the buffer's rows into the lake, where the lake lacks them.

The lake is the source of truth, so the rule is per window of one table, one venue and
one UTC hour: a window in which the lake has any row is the lake's, and left alone; a
window the lake lacks entirely is written from the buffer, its rows in ``ts_recv`` order,
exactly as the buffer holds them (in the lake's types). So an export run twice writes
nothing the second time, and an export into a lake the collector also writes never doubles
its rows. A lake whose collector was killed and not restarted first gets what its crash
journal holds (as the collector's start would do), so that the journal's replay never
doubles a window the export wrote. It serves a lake that lost files, a new machine's
lake filled from a shared buffer, or a buffer another collector filled.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from alphapulse.buffer import read
from alphapulse.buffer.schema import LAKE_TABLE, TABLES, table
from alphapulse.journal import JOURNAL_DIR, Journal, JournalError
from alphapulse.journal.recovery import replay_into_lake
from alphapulse.lake.reader import read_table, tables
from alphapulse.lake.writer import LakeWriter

HOUR_NS = 3600 * 1_000_000_000


@dataclass
class ExportReport:
    windows: int = 0
    #: Windows the lake lacked, written from the buffer.
    exported: int = 0
    rows: int = 0
    #: Windows the lake already had (left alone).
    skipped: int = 0
    files: list[str] = field(default_factory=list)
    #: Rows the lake's own journal had first (a collector killed and not restarted).
    replayed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "windows": self.windows,
            "exported": self.exported,
            "skipped": self.skipped,
            "rows": self.rows,
            "files": len(self.files),
            "journal_rows_replayed": self.replayed,
        }


def windows(conn: Any, name: str, lo: int | None, hi: int | None) -> list[tuple[str, int, int]]:
    """``(venue, hour start ns, rows)`` of buffer table ``name`` within ``[lo, hi)``."""
    t = table(name)
    where = ["true"]
    if lo is not None:
        where.append(f"ts_recv >= {read.literal(lo)}")
    if hi is not None:
        where.append(f"ts_recv < {read.literal(hi)}")
    with conn.cursor() as cursor:
        cursor.execute(
            f"SELECT venue, (ts_recv / {HOUR_NS}) * {HOUR_NS} AS hour, count(*) AS n"
            f" FROM {t.qualified} WHERE {' AND '.join(where)} GROUP BY 1, 2 ORDER BY 2, 1"
        )
        return [(str(v), int(h), int(n)) for v, h, n in cursor.fetchall()]


def lake_has(lake: Path, lake_table: str, venue: str, start: int, end: int) -> bool:
    if lake_table not in tables(lake):  # no file of it yet (the lake knows only its own)
        return False
    rows = read_table(lake, lake_table, venue=venue, start=start, end=end, columns=["ts_recv"])
    return bool(rows.num_rows > 0)


def replay_journal(lake: Path) -> int:
    """Put into the lake what its collector's journal holds beyond the lake's commits (as
    the collector's next start would), so that an export does not write a window from the
    buffer that the journal would replay again; rows replayed. Nothing to do while a
    collector runs on the lake (it replayed on its start) or when there is no journal."""
    directory = lake / JOURNAL_DIR
    if not directory.is_dir():
        return 0
    try:
        journal = Journal(directory)
    except JournalError as exc:
        if "another process" in str(exc):
            return 0  # a collector holds it
        raise
    try:
        return replay_into_lake(journal, lake).rows
    finally:
        journal.close()


def export(
    dsn: str,
    lake: Path,
    *,
    tables: Iterable[str] = TABLES,
    start: int | None = None,
    end: int | None = None,
    progress: TextIO | None = sys.stderr,
) -> ExportReport:
    """Write into ``lake`` the buffer's windows it lacks (see the module docstring)."""
    chosen = list(tables)
    for name in chosen:
        table(name)  # KeyError naming the tables for a wrong one
    report = ExportReport()
    report.replayed = replay_journal(lake)
    conn = read.connect(dsn)
    try:
        plan = [(name, *w) for name in chosen for w in windows(conn, name, start, end)]
        report.windows = len(plan)
        committed: list[str] = []
        with (
            LakeWriter(lake, on_commit=lambda path, *_: committed.append(str(path))) as writer,
            tqdm(
                total=sum(n for *_, n in plan),
                unit=" rows",
                unit_scale=True,
                desc="export",
                file=progress,
                disable=progress is None,
            ) as bar,
        ):
            for name, venue, hour, rows in plan:
                lo, hi = max(hour, start or hour), min(hour + HOUR_NS, end or hour + HOUR_NS)
                if lake_has(lake, LAKE_TABLE[name], venue, lo, hi):
                    report.skipped += 1
                else:
                    where = "venue = $1 AND ts_recv >= $2 AND ts_recv < $3"
                    data = read.fetch(conn, name, where, [venue, lo, hi])
                    writer.write(LAKE_TABLE[name], data)
                    writer.flush()  # a window is a file: the next window's check sees it
                    report.exported += 1
                    report.rows += data.num_rows
                bar.update(rows)
        report.files = committed
    finally:
        conn.close()
    return report
