"""The daily summary report over one day of a 20-symbol lake, rendered end to end.

The lake is a collector's day before any compaction: ``lakegen``'s trades (4M over 20
symbols on two venues, about 200k a symbol, one file per partition per minute as the
collector rolls them) plus as many quotes, written the same way by ``LakeWriter``. It is
made once and cached under ``data/bench/``.

- **ours**: ``alphapulse.reports.run_report("daily_summary", {"date": ...})``: papermill in
  its own process, the kernel, every query of the report, its charts, the HTML rendering
  without code (nbconvert) and the archive; the issue's target is 20 s.
- **peer**: the same notebook through the bare ``papermill`` CLI (no HTML, no archive), in
  the same rounds, interleaved.

Both are timed on the wall clock and in the CPU time of the processes they ran (the
kernel's included): on a shared machine the first is what the other jobs leave, the second
the report's own work.

The executed notebook's cell times (papermill's) of the last run are printed too: where the
seconds go.

    python -m tests.benchmarks.report_bench [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import numpy as np
import pyarrow as pa

from alphapulse import _core
from alphapulse.lake import LakeWriter
from alphapulse.lake.snapshot import bump_generation
from tests.benchmarks import lakegen
from tests.benchmarks.measure import Figure, Row, Timing, interleaved, table

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "notebooks" / "reports"
REPORT = "daily_summary"
DONE = "_report_bench.json"
#: Bump when the quotes written change, so that cached lakes are not reused.
VERSION = 1
TARGET_MS = 20_000.0
#: The last run's HTML, kept to be looked at.
KEPT = lakegen.CACHE / "report_bench-daily_summary.html"
FULL = lakegen.Spec(
    trades=4_000_000, symbols=20, days=1, venues=("binance", "coinbase"), file_minutes=1
)
QUICK = lakegen.Spec(
    trades=100_000, symbols=20, days=1, venues=("binance", "coinbase"), file_minutes=60
)


def report_lake(spec: lakegen.Spec, cache: Path = lakegen.CACHE) -> Path:
    """Trades (``lakegen``) and as many quotes, one day; generated unless cached."""
    root = cache / f"report-{spec.key}-q{VERSION}"
    if (root / DONE).exists():
        return root
    if root.exists():
        shutil.rmtree(root)
    started = time.perf_counter()
    lakegen.generate(root, spec)
    write_quotes(root, spec)
    bump_generation(root)
    seconds = time.perf_counter() - started
    (root / DONE).write_text(json.dumps({"trades": spec.trades, "seconds": seconds}))
    print(
        f"report_bench: lake of {spec.trades:,} trades + quotes in {seconds:.0f} s", file=sys.stderr
    )
    return root


def write_quotes(root: Path, spec: lakegen.Spec) -> None:
    """As many quotes as trades a day, in ts_recv order across symbols, a file per partition
    per file period; mids on random walks from each symbol's price, spreads of 1-6 ticks."""
    rng = np.random.default_rng(spec.seed + 1)
    symbols = lakegen._Symbols(spec)
    schema = pa.schema(_core.event_schema("quotes"))
    per_file_ns = spec.file_minutes * 60 * 10**9
    with LakeWriter(root, roll_rows=1 << 40, roll_bytes=1 << 50, roll_seconds=1e9) as writer:
        for day in range(spec.days):
            day_ns = lakegen.START_NS + day * lakegen.DAY_NS
            count = spec.trades // spec.days
            quotes = _day_of_quotes(rng, symbols, schema, day_ns, count)
            ts = quotes.column("ts_recv").cast(pa.int64()).to_numpy()
            cuts = np.searchsorted(ts, day_ns + per_file_ns * np.arange(1, 1440))
            bounds = [0, *sorted(set(cuts.tolist())), len(ts)]
            for lo, hi in itertools.pairwise(bounds):
                if hi > lo:
                    writer.write("quotes", quotes.slice(lo, hi - lo))
                    writer.flush()


def _day_of_quotes(
    rng: np.random.Generator, symbols: lakegen._Symbols, schema: pa.Schema, day_ns: int, count: int
) -> pa.Table:
    ts = np.sort(rng.integers(day_ns, day_ns + lakegen.DAY_NS, count, dtype=np.int64))
    which = rng.choice(len(symbols.weights), size=count, p=symbols.weights).astype(np.int32)
    mid = np.empty(count)
    for k in range(len(symbols.weights)):
        at = np.flatnonzero(which == k)
        steps = rng.standard_normal(len(at)) * (0.03 / np.sqrt(max(len(at), 1)))
        mid[at] = symbols.price[k] * np.exp(np.cumsum(steps))
    precision = symbols.price_precision[which]
    scale = 10.0**precision
    ticks = rng.integers(1, 7, count)
    bid_raw = np.maximum(np.rint(mid * scale - ticks / 2), 1).astype(np.int64)
    ask_raw = bid_raw + ticks
    size_raw = rng.integers(1, 10_000, count).astype(np.int64)
    size_scale = 10.0 ** symbols.size_precision[which]

    def text(values: list[str]) -> pa.Array:
        return pa.DictionaryArray.from_arrays(pa.array(which), pa.array(values)).cast(pa.string())

    stamps = pa.array(ts, pa.timestamp("ns", "UTC"))
    columns = {
        "ts_event": stamps,
        "ts_recv": stamps,
        "venue": text(symbols.venue),
        "instrument": text(symbols.instrument),
        "symbol": text(symbols.symbol),
        "bid_price": pa.array(bid_raw / scale),
        "bid_size": pa.array(size_raw / size_scale),
        "ask_price": pa.array(ask_raw / scale),
        "ask_size": pa.array(size_raw / size_scale),
        "bid_price_raw": pa.array(bid_raw),
        "bid_size_raw": pa.array(size_raw),
        "ask_price_raw": pa.array(ask_raw),
        "ask_size_raw": pa.array(size_raw),
        "price_precision": pa.array(precision),
        "size_precision": pa.array(symbols.size_precision[which]),
    }
    return pa.Table.from_arrays(list(columns.values()), schema=schema)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.report_bench")
    parser.add_argument("--quick", action="store_true", help="a 100k-trade lake, one round")
    parser.add_argument("--repeats", type=int, help="rounds (default 3; 1 with --quick)")
    args = parser.parse_args(argv)
    spec = QUICK if args.quick else FULL
    repeats = args.repeats or (1 if args.quick else 3)
    lake = report_lake(spec)
    date = "2026-01-01"
    os.environ["ALPHAPULSE_REPORTS"] = str(REPORTS)  # this checkout's notebook
    from alphapulse.reports import run_report

    papermill = Path(sys.executable).with_name("papermill")
    work = Path(tempfile.mkdtemp(prefix="report-bench-"))
    papermill_seconds: list[float] = []
    last: list[Path] = []

    def ours() -> Timing:
        elapsed = children_stopwatch()
        run = run_report(REPORT, {"date": date}, data_dir=work, lake=lake, timeout=600)
        timing = elapsed()
        if run.status != "succeeded" or run.html is None:
            raise SystemExit(f"report_bench: the report failed: {run.error}\n{run.traceback}")
        papermill_seconds.append(run.papermill_seconds or 0.0)
        last[:] = [run.notebook, run.html]
        return timing

    def peer() -> Timing:
        out = work / "papermill-cli.ipynb"
        command = [str(papermill), str(REPORTS / f"{REPORT}.ipynb"), str(out)]
        params = ["-p", "lake", str(lake), "-p", "date", date, "--log-level", "ERROR"]
        elapsed = children_stopwatch()
        subprocess.run([*command, *params], check=True, capture_output=True, timeout=600)
        return elapsed()

    try:
        times = interleaved({"ours": ours, "peer": peer}, repeats)
        cells = _cell_seconds(last[0])
        shutil.copy(last[1], KEPT)  # to look at
    finally:
        shutil.rmtree(work, ignore_errors=True)
    row = Row(
        f"{REPORT} report, one day: {spec.trades:,} trades + quotes, {spec.symbols} symbols "
        "(run_report: papermill + HTML + archive)",
        _figure(times["ours"]),
        target=TARGET_MS,
        peer=_figure(times["peer"]),
        peer_name="bare papermill CLI, same notebook",
        note=f"papermill inside run_report: {', '.join(f'{s:.1f} s' for s in papermill_seconds)}",
    )
    print(row.report())
    print("\ncell seconds of the last run (papermill's):", " ".join(f"{s:.2f}" for s in cells))
    print(f"its HTML: {KEPT}")
    print()
    print(table([row]))
    return 0


def children_stopwatch() -> Callable[[], Timing]:
    """Wall clock, and the CPU time of the child processes ended meanwhile: papermill's,
    its kernel's (it waits for it) and nbconvert's, all threads. On this shared machine the
    wall clock is whatever the other jobs leave; the CPU time is the report's own work."""
    wall = time.perf_counter_ns()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)

    def elapsed() -> Timing:
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return Timing(time.perf_counter_ns() - wall, int(cpu * 1e9))

    return elapsed


def _figure(times: list[Timing]) -> Figure:
    return Figure(tuple(t.wall / 1e6 for t in times), "ms", tuple(t.cpu / 1e6 for t in times))


def _cell_seconds(notebook: Path) -> list[float]:
    node = nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
    return [
        float(c.metadata.get("papermill", {}).get("duration") or 0.0)
        for c in node.cells
        if c.cell_type == "code"
    ]


if __name__ == "__main__":
    sys.exit(main())
