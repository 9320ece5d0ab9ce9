"""The live tail under load: a last-5-seconds query while the collector takes ~10k frames/s,
and the collector's throughput with and without a query loop beside it.

One collector process, as a user runs it: ``python -m alphapulse collect --simulated
--rate R`` (three simulated venues in the collector's process, ``R`` frames/s each, so
``3 R`` ~ 10k frames/s), publishing its uncommitted rows as the live tail. Once it has run
a few seconds, phases alternate: the collector alone, then this process querying back to
back through a session (``session.refresh()``, which lists the tail and the lake's new
files, then the query on ``session.con``: what ``session.sql`` does, its steps timed
apart). Each phase's frames/s comes from the collector's ``_status.json`` (frame counts and
its own time stamps, written every second) at the phase's two ends. The query loop is a
harsh neighbour: one core's worth, on two.
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.benchmarks.measure import Figure, Plan, Row, Timing, stopwatch
from tests.benchmarks.soak_collector import collect_command

if TYPE_CHECKING:
    from alphapulse.query.session import Session

FRAMES_PER_S = 10_000
VENUES = 3  # the simulated collection's kraken, coinbase and binance
TAIL_SQL = "select count(*) from trades where ts_recv > now() - interval 5 seconds"
TARGET_MS = 50.0

WORK = {
    "ours (tail query)": f"session.refresh() then session.con.execute({TAIL_SQL!r}).fetchall() "
    "(what session.sql does) in a loop, beside the running collector",
    "collector alone": "the same collector process in the phases without the query loop",
}


def status_frames(lake: Path) -> tuple[float, int] | None:
    """(the collector's time stamp, frames taken in over all venues), or None yet."""
    from alphapulse.collect import read_status

    status = read_status(lake)
    if status is None:
        return None
    return float(status["ts"]), sum(int(v["frames"]) for v in status["venues"].values())


def wait_for_frames(lake: Path, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the collector exited with {proc.returncode} before collecting")
        now = status_frames(lake)
        if now is not None and now[1] > 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the collector took no frames in {timeout:.0f} s")


def frames_per_second(before: tuple[float, int] | None, after: tuple[float, int] | None) -> float:
    if before is None or after is None or after[0] <= before[0]:
        raise RuntimeError("the collector's status did not advance over a phase")
    return (after[1] - before[1]) / (after[0] - before[0])


class Loop:
    """Tail queries back to back: what ``session.sql(q)`` does, its two steps timed apart."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.times: list[Timing] = []
        self.refresh_ms: list[float] = []
        self.counts: list[int] = []

    def run(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            elapsed = stopwatch()
            self.session.refresh()  # the views catch up with the tail and new files
            refreshed = elapsed()
            # fetchall: DuckDB 2.0.1 keeps a result open until a fetch returns no rows.
            ((count,),) = self.session.con.execute(TAIL_SQL).fetchall()
            self.times.append(elapsed())
            self.refresh_ms.append(refreshed.wall / 1e6)
            self.counts.append(int(count))


def run(plan: Plan, scratch: Path, *, seconds: float | None = None) -> list[Row]:
    try:
        import alphapulse

        connect = alphapulse.connect
    except AttributeError:
        print("  tail query: not measured: the query session is not merged")
        return []
    phase = seconds if seconds is not None else (10.0 if plan.scale >= 1 else 3.0)
    pairs = 3 if plan.scale >= 1 else 1
    rate = FRAMES_PER_S / VENUES
    lake = Path(tempfile.mkdtemp(prefix="tail-", dir=scratch)) / "lake"
    proc = subprocess.Popen(
        collect_command(lake, rate), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    alone: list[float] = []
    beside: list[float] = []
    try:
        wait_for_frames(lake, proc)
        time.sleep(min(3.0, phase))  # connections, snapshots, the first buffers
        with connect(lake) as session:
            session.arrow(TAIL_SQL)
            loop = Loop(session)
            for _ in range(pairs):
                before = status_frames(lake)
                time.sleep(phase)
                alone.append(frames_per_second(before, status_frames(lake)))
                before = status_frames(lake)
                loop.run(phase)
                beside.append(frames_per_second(before, status_frames(lake)))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    times, counts = loop.times, loop.counts
    latency = Figure(tuple(t.wall / 1e6 for t in times), "ms", tuple(t.cpu / 1e6 for t in times))
    rows = [
        Row(
            f"tail query (last 5 s) while collecting ~{FRAMES_PER_S / 1e3:.0f}k frames/s (ms)",
            latency,
            TARGET_MS,
            note=f"{len(times)} queries in {pairs} phases of {phase:g} s, of which refresh() "
            f"median {statistics.median(loop.refresh_ms):.1f} ms; rows seen per query: median "
            f"{statistics.median(counts):,.0f}, min {min(counts):,} (0: no live tail visible)",
        ),
        Row(
            "collector frames/s with a tail query loop beside it",
            Figure.of(beside, "/s"),
            peer=Figure.of(alone, "/s"),
            peer_name="collector alone",
            min_ratio=0.95,
            note=f"simulated venues at {rate:,.0f} frames/s each; alternate {phase:g} s phases",
        ),
    ]
    for row in rows:
        print(row.report(), flush=True)
    return rows
