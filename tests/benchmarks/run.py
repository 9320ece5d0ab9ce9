"""``make bench``: AlphaPulse against its targets and peers, then one summary table.

Python-side figures are measured here; the Rust-only ones come from criterion's last
``cargo bench --bench core`` results (rust_ext/target/criterion), with their age, and are
compared with the msgspec figures of this run. Every figure is a median of repeated runs.

    .venv/bin/python tests/benchmarks/run.py
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

# Run as a script (`make bench`): the suite imports itself as the package it is.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks import bench_book, bench_collector, bench_lake, bench_memory, bench_parse
from tests.benchmarks.measure import REPEATS, Figure, Row, table

REPO = Path(__file__).resolve().parents[2]
#: criterion benchmark id → (the frame set it mirrors, frames/s target).
RUST_FRAMES = {
    "binance_depth": ("binance depthUpdate", 1e6),
    "binance_trade": ("binance trade", 3e6),
    "kraken_v1_book": ("kraken v1 book", 1e6),
    "coinbase_l2": ("coinbase l2_data", 1e6),
    "kraken_v2_book": ("kraken v2 book", 1e6),
}


def criterion_dir() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR", str(REPO / "rust_ext" / "target"))
    return Path(target) / "criterion"


def criterion_figure(bench: str) -> tuple[Figure, float] | None:
    """Elements/s of one criterion benchmark (median and best sample), and its age in s."""
    new = criterion_dir() / bench / "new"
    try:
        info = json.loads((new / "benchmark.json").read_text())
        estimates = json.loads((new / "estimates.json").read_text())
        sample = json.loads((new / "sample.json").read_text())
    except (OSError, ValueError):
        return None
    elements = (info.get("throughput") or {}).get("Elements")
    if not elements:
        return None
    median_ns = estimates["median"]["point_estimate"]
    best_ns = min(t / n for t, n in zip(sample["times"], sample["iters"], strict=True))
    age = time.time() - (new / "estimates.json").stat().st_mtime
    return Figure(elements * 1e9 / median_ns, elements * 1e9 / best_ns, "/s"), age


def rust_rows(python_rows: list[Row]) -> list[Row]:
    """Criterion's figures, each against this run's msgspec figure for the same venue."""
    msgspec = {r.metric: r.peer for r in python_rows if r.peer_name == "msgspec"}
    rows, ages = [], []
    for group, what in (("engine", "normalize+apply"), ("normalize", "normalize only")):
        for bench, (name, target) in RUST_FRAMES.items():
            found = criterion_figure(f"{group}/{bench}")
            if found is None:
                continue
            figure, age = found
            ages.append(age)
            rows.append(
                Row(
                    f"rust {name} frames/s ({what})",
                    figure,
                    target,
                    msgspec.get(f"{name} frames/s"),
                    "msgspec",
                    bench_parse.MIN_RATIO,
                )
            )
    found = criterion_figure("book/apply")
    if found is not None:
        rows.append(Row("rust book.apply deltas/s", found[0]))
        ages.append(found[1])
    if not rows:
        print("Rust (criterion): no results yet; run `cargo bench --bench core` first")
        return []
    print(f"Rust (criterion, cargo bench results {max(ages) / 60:.0f} min old at most)")
    for row in rows:
        print(row.report())
    return rows


def main() -> int:
    started = time.perf_counter()
    print(
        f"AlphaPulse benchmarks: Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"medians of {REPEATS} runs (best in brackets)\n"
    )
    rows: list[Row] = []
    for module in (bench_parse, bench_book, bench_memory, bench_lake, bench_collector):
        rows.extend(module.run())
        print()
    rows.extend(rust_rows(rows))
    print(f"\nSummary ({time.perf_counter() - started:.0f} s; ratio = times better than peer)\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
