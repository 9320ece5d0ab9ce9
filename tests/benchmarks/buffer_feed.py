"""The collector writing into the PostgreSQL buffer at the simulator's full rate.

    python -m tests.benchmarks.buffer_feed [--seconds 30] [--rate 3300]

``alphapulse collect --simulated`` (the real CLI, the embedded simulator; ``--rate`` steps a
second per venue, 3300 is about 12k frames/s over the three venues) runs for ``--seconds``
with ``$ALPHAPULSE_PG_DSN`` pointing at a private PostgreSQL 15, then once without it
(the peer: the same collector with no buffer). Printed: frames/s, rows/s written into the
buffer, rows dropped (the feed falling behind), and whether the buffer's rows equal the
lake's. The original design's floor: 10k writes/s into the buffer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from alphapulse.lake import read_table
from tests.conftest import ROOT
from tests.pg_cluster import PostgresCluster

FLOOR = 10_000


def collect(lake: Path, seconds: float, rate: float, dsn: str | None) -> dict[str, Any]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("ALPHAPULSE_PG_DSN", "ALPHAPULSE_CONFIG")
    }
    if dsn:
        env["ALPHAPULSE_PG_DSN"] = dsn
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "alphapulse",
            "collect",
            "--simulated",
            "--lake",
            str(lake),
            "--rate",
            str(rate),
            "--duration",
            str(seconds),
            "--no-scheduler",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 300,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    summary: dict[str, Any] = orjson.loads(done.stdout)
    return summary


async def buffer_rows(dsn: str) -> int:
    conn: Any = await asyncpg.connect(dsn)
    try:
        total = 0
        for name in ("trades", "quotes", "book_deltas", "bars", "news", "events"):
            total += await conn.fetchval(f"SELECT count(*) FROM alphapulse_buffer.{name}")
        return int(total)
    finally:
        await conn.close()


def lake_rows(lake: Path) -> int:
    return sum(
        read_table(lake, t).num_rows
        for t in ("trades", "quotes", "book_deltas", "bars", "news", "events")
        if (lake / t).is_dir()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=3300.0)
    args = parser.parse_args(argv)
    with PostgresCluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        dsn = cluster.dsn()
        fed = collect(Path(tmp) / "fed", args.seconds, args.rate, dsn)
        alone = collect(Path(tmp) / "alone", args.seconds, args.rate, None)
        in_buffer = asyncio.run(buffer_rows(dsn))
        in_lake = lake_rows(Path(tmp) / "fed")
    buffer = fed["sink"]["buffer"]
    frames = {
        name: sum(v["frames"] for v in s["venues"].values()) / s["uptime_s"]
        for name, s in (("with the buffer", fed), ("without (peer)", alone))
    }
    written_s = buffer["rows_written"] / fed["uptime_s"]
    print(f"collect --simulated --rate {args.rate:.0f} for {args.seconds:.0f} s")
    for name, rate in frames.items():
        print(f"  frames/s {name}: {rate:,.0f}")
    print(
        f"  rows written into the buffer: {buffer['rows_written']:,} ({written_s:,.0f}/s), "
        f"dropped {buffer['rows_dropped']:,}, caught up {buffer['rows_caught_up']:,}, "
        f"state {buffer['state']}"
    )
    print(
        f"  buffer rows {in_buffer:,} vs lake rows {in_lake:,} (the same tables): "
        f"{'equal' if in_buffer == in_lake else 'DIFFERENT'}"
    )
    print(
        f"  floor {FLOOR:,} writes/s: {'met' if written_s >= FLOOR else 'NOT met'}; "
        f"frames ratio {frames['with the buffer'] / frames['without (peer)']:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
