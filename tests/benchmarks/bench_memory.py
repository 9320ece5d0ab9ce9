"""Memory of many deep books: ours (``nbytes`` and the process RSS) against ``order_book``.

Each side is built in a fresh interpreter (this module run with ``-m``), so that the RSS
delta is not hidden by memory that earlier benchmarks freed to the allocator.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.benchmarks.measure import Figure, Row

BOOKS = 100
MB = 1e6


def rss_bytes() -> int:
    """Resident set size from /proc/self/status (``VmRSS``, in kB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def build_ours() -> dict[str, int]:
    from alphapulse._core import OrderBook
    from tests.benchmarks.bench_book import arrow_batch
    from tests.benchmarks.frames import delta_stream

    batch = arrow_batch(delta_stream(0, seed=20)[0])
    gc.collect()
    before = rss_bytes()
    books = [OrderBook() for _ in range(BOOKS)]
    for book in books:
        book.apply_arrow(batch)
    rss = rss_bytes() - before
    nbytes = sum(book.nbytes for book in books)
    for book in books:
        book.shrink_to_fit()
    return {
        "rss": rss,
        "nbytes": nbytes,
        "shrunk": sum(book.nbytes for book in books),
        "levels": len(books[0]),
    }


def build_peer() -> dict[str, int]:
    from order_book import OrderBook as PeerBook

    from tests.benchmarks.frames import delta_stream

    snapshot = delta_stream(0, seed=20)[0]
    gc.collect()
    before = rss_bytes()
    books: list[Any] = []
    for i in range(BOOKS):
        # Fresh int objects per book, as levels parsed from frames would be.
        book = PeerBook()
        sides = (book.bids, book.asks)
        for side, price, size in snapshot:
            sides[side][price + i - i] = size + i - i
        books.append(book)
    return {"rss": rss_bytes() - before}


def _in_subprocess(which: str) -> dict[str, int]:
    module = "tests.benchmarks.bench_memory"
    out = subprocess.run(
        [sys.executable, "-m", module, which],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    result: dict[str, int] = json.loads(out.stdout)
    return result


def run() -> list[Row]:
    print(f"Memory: {BOOKS} books of 1,000 levels a side (each side in a fresh interpreter)")
    ours, peer = _in_subprocess("ours"), _in_subprocess("peer")
    rows = [
        Row(
            f"{BOOKS} books x 1,000 levels/side nbytes MB",
            Figure.once(ours["nbytes"] / MB, "MB"),
            50,
            note=f"{ours['shrunk'] / MB:.1f} MB after shrink_to_fit(); "
            f"{ours['levels']} levels a book",
        ),
        Row(
            f"{BOOKS} books x 1,000 levels/side RSS delta MB",
            Figure.once(ours["rss"] / MB, "MB"),
            50,
            Figure.once(peer["rss"] / MB, "MB"),
            "order_book",
            note="VmRSS before/after building them (page-granular)",
        ),
    ]
    for row in rows:
        print(row.report())
    return rows


if __name__ == "__main__":
    print(json.dumps(build_ours() if sys.argv[1] == "ours" else build_peer()))
