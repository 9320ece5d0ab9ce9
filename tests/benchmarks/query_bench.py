"""The query layer against plain DuckDB on the same lake: bars, one symbol-day, magics, tail.

The lake is ``lakegen``'s (50M trades, 10 symbols, 30 days, hourly files sorted by
``ts_recv`` across symbols, cached under ``data/bench/``). Each comparison runs ours and
the peer in interleaved rounds on the same files, after one untimed run of each that
warms the page cache and checks that both return the same bars:

- **bars, full scan**: ``session.sql("select * from bars('1m')")`` made into an Arrow
  table, against plain DuckDB (``read_parquet`` over the lake's glob, hive partitions,
  ``time_bucket`` + ``arg_min``/``arg_max``/``sum``, the SQL one writes by hand); on the
  lake as the collector leaves it and again after ``compact`` (``query_compact``).
- **one symbol-day**: the same with ``venue :=, symbol :=, start :=, stop :=`` against the
  hand-written query filtering venue, date partition, symbol and ts_recv.
- **%%duckdb overhead**: a cell through IPython's ``run_cell_magic`` minus the same query
  as a bare ``duckdb`` call, paired per round.
- **tail query** and the collector's throughput beside it: ``query_tail``.
- **compaction** rows/s: ``query_compact``.

    python -m tests.benchmarks.query_bench [--quick] [--trades N] [--only bars,day,...]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from tests.benchmarks import lakegen, query_compact, query_tail
from tests.benchmarks.measure import FULL, QUICK, Figure, Plan, Row, Timing, interleaved, stopwatch

if TYPE_CHECKING:
    from alphapulse.query.session import Session

SECTIONS = ("compact", "bars", "day", "magics", "tail")
BARS_TARGET_MS = 1500.0
DAY_TARGET_MS = 100.0
MAGIC_OVERHEAD_TARGET_US = 2000.0
#: A query whose own cost is small next to the overhead being measured.
SMALL_QUERY = "select i, i * 2 as twice from range(100) t(i)"

WORK = {
    "ours (bars)": "session.arrow(\"select * from bars('1m')\") (= session.sql(q)"
    ".to_arrow_table()): the session's refresh, views and bars macro (alphapulse.connect)",
    "duckdb by hand": "plain duckdb.connect(): read_parquet('<lake>/trades/*/*/*.parquet', "
    "hive_partitioning = true), time_bucket('1 minute'), arg_min/arg_max(price, ts_recv), "
    "sum(size), sum(price * size) / sum(size), count(*), group by all",
    **query_compact.WORK,
    **query_tail.WORK,
}

PEER_BARS = """
select venue, symbol, time_bucket(interval '1 minute', ts_recv) as ts,
       arg_min(price, ts_recv) as open, max(price) as high, min(price) as low,
       arg_max(price, ts_recv) as close, sum(size) as volume,
       sum(price * size) / sum(size) as vwap, count(*) as trades
from read_parquet('{glob}', hive_partitioning = true)
{where}
group by all
"""


def timed(run: Callable[[], object]) -> Callable[[], Timing]:
    def once() -> Timing:
        elapsed = stopwatch()
        run()
        return elapsed()

    return once


def millis(times: list[Timing]) -> Figure:
    return Figure(tuple(t.wall / 1e6 for t in times), "ms", tuple(t.cpu / 1e6 for t in times))


def same_bars(ours: pa.Table, peer: pa.Table, what: str) -> str:
    """Both sides found the same bars (count, trades, volume), or AssertionError."""

    def totals(bars: pa.Table) -> tuple[int, int, float]:
        trades = sum(bars.column("trades").to_pylist())
        return bars.num_rows, int(trades), float(sum(bars.column("volume").to_pylist()))

    a, b = totals(ours), totals(peer)
    if a[:2] != b[:2] or abs(a[2] - b[2]) > 1e-6 * max(1.0, abs(b[2])):
        raise AssertionError(f"{what}: ours and the peer disagree: {a} vs {b}")
    return f"same bars on both sides: {a[0]:,} bars of {a[1]:,} trades"


class Lakes:
    """The lakes compared: as collected, and compacted (when compaction is merged)."""

    def __init__(self, spec: lakegen.Spec, cache: Path) -> None:
        self.spec = spec
        self.raw = lakegen.lake(spec, cache)
        self.scratch = Path(tempfile.mkdtemp(prefix="query-bench-", dir=cache))
        self.compacted: Path | None = None

    def all(self) -> list[tuple[str, Path]]:
        lakes = [("raw lake", self.raw)]
        if self.compacted is not None:
            lakes.append(("compacted", self.compacted))
        return lakes

    def day(self) -> datetime:
        """The middle day of the lake."""
        start = datetime.fromtimestamp(lakegen.START_NS / 1e9, UTC)
        return start + timedelta(days=self.spec.days // 2)


def compare(
    lakes: Lakes, metric: str, target: float, ours_sql: str, where: str, repeats: int
) -> list[Row]:
    """Ours (the session) against the hand-written peer on each lake, interleaved."""
    import alphapulse

    rows = []
    for label, lake in lakes.all():
        peer_sql = PEER_BARS.format(glob=f"{lake}/trades/*/*/*.parquet", where=where)
        with alphapulse.connect(lake) as session, duckdb.connect() as peer:

            def ours(session: Session = session) -> pa.Table:
                return session.arrow(ours_sql)

            def theirs(peer: duckdb.DuckDBPyConnection = peer, sql: str = peer_sql) -> pa.Table:
                return peer.sql(sql).to_arrow_table()

            checked = same_bars(ours(), theirs(), f"{metric} on the {label}")
            times = interleaved({"ours": timed(ours), "peer": timed(theirs)}, repeats)
        row = Row(
            f"{metric}, {label} (ms)",
            millis(times["ours"]),
            target,
            millis(times["peer"]),
            "duckdb by hand",
            note=checked,
        )
        print(row.report(), flush=True)
        rows.append(row)
    return rows


def bars_rows(lakes: Lakes, plan: Plan) -> list[Row]:
    metric = f"1m bars, full scan, {lakes.spec.trades / 1e6:g}M trades"
    return compare(lakes, metric, BARS_TARGET_MS, "select * from bars('1m')", "", plan.repeats)


def day_rows(lakes: Lakes, plan: Plan) -> list[Row]:
    day = lakes.day()
    venue, symbol = lakes.spec.venues[0], lakegen.SYMBOLS[0][0]
    start, stop = day.isoformat(), (day + timedelta(days=1)).isoformat()
    ours_sql = (
        f"select * from bars('1m', venue := '{venue}', symbol := '{symbol}', "
        f"start := '{start}', stop := '{stop}')"
    )
    where = (
        f"where venue = '{venue}' and date = DATE '{day.date()}' and symbol = '{symbol}' "
        f"and ts_recv >= TIMESTAMPTZ '{start}' and ts_recv < TIMESTAMPTZ '{stop}'"
    )
    # Short queries: more rounds for the same time.
    repeats = 3 * plan.repeats if plan.scale >= 1 else plan.repeats
    metric = f"1m bars, one symbol-day ({symbol} {day.date()})"
    return compare(lakes, metric, DAY_TARGET_MS, ours_sql, where, repeats)


@contextlib.contextmanager
def environment(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def magic_rows(lake: Path, plan: Plan) -> list[Row]:
    """``%%duckdb`` through a real InteractiveShell against a bare call, per call in us."""
    try:
        importlib.import_module("alphapulse.magics")
    except ImportError:
        print("  %%duckdb overhead: not measured: magics not merged")
        return []
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    calls = 50 if plan.scale >= 1 else 5
    with environment("ALPHAPULSE_LAKE", str(lake)), duckdb.connect() as bare:
        shell = InteractiveShell.instance()
        with capture_output():  # the cell's display (HTML table) is the magic's to pay
            shell.run_line_magic("load_ext", "alphapulse")
            cell: Callable[[str, str, str], object] = shell.run_cell_magic
            cell("duckdb", "", SMALL_QUERY)

            def cells() -> None:
                for _ in range(calls):
                    cell("duckdb", "", SMALL_QUERY)

            def bare_calls() -> None:
                for _ in range(calls):
                    bare.sql(SMALL_QUERY).pl()

            times = interleaved(
                {"magic": timed(cells), "bare": timed(bare_calls)}, max(plan.repeats, 5)
            )
    magic = [t.wall / calls / 1e3 for t in times["magic"]]
    plain = [t.wall / calls / 1e3 for t in times["bare"]]
    overhead = [m - b for m, b in zip(magic, plain, strict=True)]
    row = Row(
        "%%duckdb overhead over a bare duckdb call (us per cell)",
        Figure.of(overhead, "us"),
        MAGIC_OVERHEAD_TARGET_US,
        note=f"paired per round; per cell {statistics.median(magic):.0f} us, bare "
        f"con.sql(q).pl() {statistics.median(plain):.0f} us; q = {SMALL_QUERY!r}, "
        f"{calls} calls a repetition",
    )
    print(row.report(), flush=True)
    return [row]


def run(
    plan: Plan = FULL,
    *,
    spec: lakegen.Spec | None = None,
    cache: Path = lakegen.CACHE,
    sections: tuple[str, ...] = SECTIONS,
    tail_seconds: float | None = None,
) -> list[Row]:
    spec = spec or lakegen.Spec(trades=plan.size(lakegen.Spec.trades, least=20_000))
    print(
        f"Query layer ({spec.trades:,} trades, {spec.symbols} symbols, {spec.days} days, "
        f"{spec.file_minutes}-minute files), ours and the peer interleaved, {plan.repeats} rounds",
        flush=True,
    )
    rows: list[Row] = []
    lakes = Lakes(spec, cache)
    try:
        if "compact" in sections:
            rows += query_compact.run(lakes.raw, lakes.scratch, plan)
        if "bars" in sections or "day" in sections:
            lakes.compacted = query_compact.compacted_lake(lakes.raw, lakes.scratch)
        if "bars" in sections:
            rows += bars_rows(lakes, plan)
        if "day" in sections:
            rows += day_rows(lakes, plan)
        if "magics" in sections:
            rows += magic_rows(lakes.raw, plan)
        if "tail" in sections:
            rows += query_tail.run(plan, lakes.scratch, seconds=tail_seconds)
    finally:
        query_compact.remove(lakes.scratch)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.query_bench")
    parser.add_argument("--quick", action="store_true", help="a small lake, 3 rounds")
    parser.add_argument("--trades", type=int, help="trades in the generated lake")
    parser.add_argument("--days", type=int, default=lakegen.Spec.days)
    parser.add_argument("--repeats", type=int, help="rounds per comparison")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--tail-seconds", type=float, help="seconds per collector phase")
    args = parser.parse_args(argv)
    sections = tuple(s for s in args.only.split(",") if s)
    if set(sections) - set(SECTIONS):
        parser.error(f"unknown sections {sorted(set(sections) - set(SECTIONS))}: {SECTIONS}")
    plan = QUICK if args.quick else FULL
    if args.repeats:
        plan = Plan(args.repeats, plan.scale)
    trades = args.trades or plan.size(lakegen.Spec.trades, least=20_000)
    spec = lakegen.Spec(trades=trades, days=args.days)
    rows = run(plan, spec=spec, sections=sections, tail_seconds=args.tail_seconds)
    from tests.benchmarks.measure import table

    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
