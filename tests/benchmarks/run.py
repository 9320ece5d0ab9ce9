"""``make bench``: AlphaPulse against its targets and peers, then the summary tables.

Python-side comparisons are measured here, ours and the peer's repetitions interleaved on
the same inputs (``measure``). The collector's end-to-end figures come from separate
processes, several runs each. The query layer's (``query_bench``: bars, a symbol-day,
magics, the live tail, compaction) run on a generated 50M-trade lake, cached under
``data/bench/`` (about 70 s to make the first time). The Rust-only figures are
criterion's last ``cargo bench --bench core`` results, in a table of their own.

    python -m tests.benchmarks.run [--quick] [--only parse,book,...] [--collector-runs N]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script (`make bench`): the suite imports itself as the package it is.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks import (
    bench_book,
    bench_collector,
    bench_lake,
    bench_memory,
    bench_parse,
    criterion,
    query_bench,
)
from tests.benchmarks.measure import FULL, QUICK, Plan, Row, table

SECTIONS = ("parse", "book", "memory", "lake", "collector", "query")


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.run")
    parser.add_argument(
        "--quick", action="store_true", help="small inputs, 3 rounds: a check, not figures"
    )
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--collector-runs", type=int, help="collector processes per kind")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    return args


def legend(sections: list[str]) -> str:
    """What each side of each comparison does, by the labels the table uses."""
    modules = {"parse": bench_parse, "book": bench_book, "lake": bench_lake, "query": query_bench}
    work: dict[str, str] = {}
    for name in sections:
        if name in modules:
            work.update(modules[name].WORK)
    width = max(map(len, work), default=0)
    return "\n".join(f"  {label:<{width}}  {text}" for label, text in work.items())


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    plan: Plan = QUICK if args.quick else FULL
    sections = [s for s in SECTIONS if s in args.only.split(",")]
    runs = args.collector_runs or (1 if args.quick else bench_collector.RUNS)
    started = time.perf_counter()
    print(
        f"AlphaPulse benchmarks: Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}; {'QUICK (not figures), ' if args.quick else ''}"
        f"{plan.repeats} interleaved rounds per comparison\n"
    )
    benches: dict[str, Callable[[], list[Row]]] = {
        "parse": lambda: bench_parse.run(plan),
        "book": lambda: bench_book.run(plan),
        "memory": bench_memory.run,
        "lake": lambda: bench_lake.run(plan),
        "collector": lambda: bench_collector.run(plan, runs),
        "query": lambda: query_bench.run(plan),
    }
    python_rows: list[Row] = []
    collector_rows: list[Row] = []
    for name in sections:
        rows = benches[name]()
        (collector_rows if name == "collector" else python_rows).extend(rows)
        print()
    rust_rows, rust_note = criterion.rows()

    print(
        f"Summary ({time.perf_counter() - started:.0f} s; load average now "
        f"{os.getloadavg()[0]:.1f})\n"
    )
    if python_rows:
        print(
            "From Python, ours and the peer interleaved on the same inputs (medians; ratio = "
            "times better than the peer, of medians; per round = range of the paired ratios)\n"
        )
        print(table(python_rows))
        print("\nWhat each side does:")
        print(legend(sections))
    if collector_rows:
        print(f"\nCollector end to end ({runs} collector processes per figure)\n")
        print(table(collector_rows))
    print(f"\nRust only, no Python ({rust_note})\n")
    if rust_rows:
        print(table(rust_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
