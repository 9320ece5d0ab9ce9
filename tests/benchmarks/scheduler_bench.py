"""The scheduler's overhead per run, against papermill's own command (target ≤ 1 s).

Each round runs the same small report twice, in alternating order: once by the ``papermill``
command (the peer: a process, its imports, a kernel, the notebook), once by the scheduler
from the moment its tick takes the schedule to the run recorded as done (the app database's
rows, the run's process, papermill, the HTML rendering, run.json). The overhead is the
difference of the medians, with the per-round differences' range.

    python -m tests.benchmarks.scheduler_bench [--rounds N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from alphapulse.appdb import AppDB
from alphapulse.reports.catalog import find_report
from alphapulse.reports.scheduler import Scheduler
from tests.report_notebooks import write_reports

TARGET_SECONDS = 1.0


class StillClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def peer_seconds(notebook: Path, out: Path) -> float:
    papermill = Path(sys.executable).with_name("papermill")
    started = time.perf_counter()
    subprocess.run(
        [str(papermill), str(notebook), str(out), "-p", "seconds", "0.5", "--no-progress-bar"],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


async def ours_seconds(db: AppDB, data_dir: Path, tick: datetime) -> tuple[float, float]:
    """Tick → run recorded; and papermill's own time inside it."""
    schedule = db.add_schedule(
        "sleepy",
        "0 * * * *",
        {"seconds": 0.5},
        missed="run_once",
        created_at=tick - timedelta(minutes=30),
    )
    scheduler = Scheduler(db, data_dir=data_dir, lake=None, clock=StillClock(tick))
    started = time.perf_counter()
    (run_id,) = await scheduler.tick()
    await scheduler.wait_idle()
    elapsed = time.perf_counter() - started
    await scheduler.stop()
    db.delete_schedule(schedule.id)
    run = db.run(run_id)
    assert run is not None and run.status == "succeeded", run
    return elapsed, run.papermill_seconds or 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        os.environ["ALPHAPULSE_REPORTS"] = str(write_reports(base / "reports"))
        os.environ.pop("ALPHAPULSE_APP_DSN", None)
        notebook = find_report("sleepy")
        db = AppDB.open(data_dir=base)
        peer: list[float] = []
        ours: list[float] = []
        inner: list[float] = []
        tick = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
        try:
            for i in range(rounds):
                tick += timedelta(hours=1)
                order = ("peer", "ours") if i % 2 == 0 else ("ours", "peer")
                for side in order:
                    if side == "peer":
                        peer.append(peer_seconds(notebook, base / f"peer-{i}.ipynb"))
                    else:
                        total, own = asyncio.run(ours_seconds(db, base, tick))
                        ours.append(total)
                        inner.append(own)
        finally:
            db.close()
    diffs = [o - p for o, p in zip(ours, peer, strict=True)]
    overhead = statistics.median(ours) - statistics.median(peer)
    print(f"report scheduler overhead, {rounds} rounds (a 0.5 s notebook), load {_load()}")
    print(f"  papermill command (peer): median {statistics.median(peer):.2f} s")
    print(f"  scheduler tick → run recorded: median {statistics.median(ours):.2f} s")
    print(f"    of which papermill executing: median {statistics.median(inner):.2f} s")
    print(
        f"  overhead: {overhead:+.2f} s (per round {min(diffs):+.2f} … {max(diffs):+.2f}); "
        f"target ≤ {TARGET_SECONDS:.0f} s: {'met' if overhead <= TARGET_SECONDS else 'MISSED'}"
    )
    return 0


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


if __name__ == "__main__":
    sys.exit(main())
