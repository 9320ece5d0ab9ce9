"""The Rust-only figures: criterion's results of ``cargo bench --bench core``, as rows.

They are the core without Python (no GIL, no ``bytes`` objects, no Arrow export) on frames
generated in Rust (``rust_ext/benches/core.rs``, the same shapes as ``frames.py`` but fewer
frames), so they go in a table of their own: a Python-side peer measured on other inputs,
in another process, at another time, is no comparison for them.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

from tests.benchmarks.measure import Figure, Row

REPO = Path(__file__).resolve().parents[2]
#: criterion benchmark id → (the frame set it mirrors, frames/s target).
FRAMES = {
    "binance_depth": ("binance depthUpdate", 1e6),
    "binance_trade": ("binance trade", 3e6),
    "kraken_v1_book": ("kraken v1 book", 1e6),
    "coinbase_l2": ("coinbase l2_data", 1e6),
    "kraken_v2_book": ("kraken v2 book", 1e6),
}
GROUPS = {
    "engine": "normalize + checks + book apply",
    "normalize": "normalize only",
}


def results_dir() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR", str(REPO / "rust_ext" / "target"))
    return Path(target) / "criterion"


def figure(bench: str, root: Path | None = None) -> tuple[Figure, float] | None:
    """Elements/s of each of one benchmark's samples, and the results' age in seconds.

    criterion times each sample as ``iters`` iterations; a sample's rate is
    ``elements * iters / time``. The samples ran back to back, so their spread is noise.
    """
    new = (root or results_dir()) / bench / "new"
    try:
        info = json.loads((new / "benchmark.json").read_text())
        sample = json.loads((new / "sample.json").read_text())
    except (OSError, ValueError):
        return None
    elements = (info.get("throughput") or {}).get("Elements")
    if not elements:
        return None
    rates = [elements * n * 1e9 / t for t, n in zip(sample["times"], sample["iters"], strict=True)]
    age = time.time() - (new / "sample.json").stat().st_mtime
    return Figure.of(rates, "/s"), age


def rows(root: Path | None = None) -> tuple[list[Row], str]:
    """The Rust-only rows, and a line saying how old they are (or that there are none)."""
    out, ages = [], []
    for group, what in GROUPS.items():
        for bench, (name, target) in FRAMES.items():
            found = figure(f"{group}/{bench}", root)
            if found is None:
                continue
            out.append(Row(f"rust {name} frames/s ({what})", found[0], target))
            ages.append(found[1])
    found = figure("book/apply", root)
    if found is not None:
        out.append(Row("rust book.apply deltas/s", found[0]))
        ages.append(found[1])
    if not out:
        return [], "no criterion results: run `cd rust_ext && cargo bench --bench core` first"
    oldest = max(ages)
    spread = statistics.median(r.ours.n for r in out)
    return out, (
        f"criterion, `cargo bench --bench core` results {oldest / 60:.0f} min old at most, "
        f"{spread:.0f} samples each (a sample: many iterations back to back)"
    )
