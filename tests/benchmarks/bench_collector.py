"""End to end: simulator (its own process) → loopback WebSocket → core → Parquet lake.

Every measurement is a fresh collector process (this module with ``--one``) that starts its
own simulator process, and each is repeated ``runs`` times, the three kinds taking turns,
so that the figures come with their spread rather than from one lucky or unlucky run.

- Throughput: the simulator runs flat out; we report the frames/s the collector took in
  over a window.
- Latency: at 10k frames/s, wire-to-book is the collector's histogram from the moment a
  frame leaves the socket (`recv` returns) to its book being applied.
- Memory: the collector process's peak RSS (``VmHWM``) over 20 instruments at full rate.
  Not ``getrusage``'s ``ru_maxrss``: on Linux it survives ``exec``, so a process spawned by
  a large parent (``run.py`` holding the lake benchmark's million rows) reports the
  parent's peak. That is how one run once reported 4.4 GB.

Run: ``python -m tests.benchmarks.bench_collector``.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from alphapulse.journal import JOURNAL_DIR, Journal
from alphapulse.journal.sink import JournaledLake
from alphapulse.journal.watermark import watermark_metadata
from alphapulse.lake import AsyncLakeWriter, LakeWriter
from alphapulse.service import BatchSink, CollectorService
from alphapulse.venues import Binance
from tests.benchmarks.measure import FULL, QUICK, Figure, Plan, Row

SYMBOLS_2 = ["BTCUSDT", "ETHUSDT"]
SYMBOLS_20 = [f"S{i:02d}USDT" for i in range(20)]
WINDOW_S = 8.0
RUNS = 5

WORK = {
    "ours (collector)": "CollectorService on one Binance connection: WebSocket receive, "
    "Engine (normalize + checks + books), AsyncLakeWriter to Parquet, its status and metrics",
    "no journal": "the same collector without the crash journal (each batch appended to the "
    "journal, fsynced every second, before the lake gets it)",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_simulator(symbols: list[str], rate: float) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alphapulse",
            "simulate",
            "--venue",
            "binance",
            "--symbols",
            ",".join(symbols),
            "--port",
            str(port),
            "--rate",
            str(rate),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("simulator did not start")


def lake_sink(lake: Path, journal: Journal | None) -> BatchSink:
    """The lake writer, or (with a journal) the collector's journaled lake as
    ``alphapulse collect`` builds it: marks in each file, each commit trimming the journal."""
    if journal is None:
        return AsyncLakeWriter(LakeWriter(lake, roll_seconds=5))
    sink: JournaledLake | None = None

    def committed(*_: object) -> None:
        if sink is not None:
            sink.committed()

    marks = functools.partial(watermark_metadata, journal.journal_id)
    writer = LakeWriter(lake, roll_seconds=5, journal_marks=marks, on_commit=committed)
    sink = JournaledLake(journal, AsyncLakeWriter(writer))
    return sink


async def collect(
    port: int, symbols: list[str], lake: Path, window: float, journaled: bool = False
) -> tuple[float, float, list[int], float]:
    """Frames/s over the window (wall clock, and per CPU second of this process), the
    engine's frame count each second, the p99 latency."""
    urls = {"ws": f"ws://127.0.0.1:{port}", "rest": f"http://127.0.0.1:{port}"}
    journal = Journal(lake / JOURNAL_DIR) if journaled else None
    service = CollectorService([Binance(symbols, urls=urls)], lake_sink(lake, journal))
    engine = service.runtimes["binance"].engine
    await service.start()
    try:
        await asyncio.sleep(2.0)  # connect, snapshots, warm up
        counts, start, cpu = [engine.frames], time.monotonic(), time.process_time()
        for _ in range(int(window)):
            await asyncio.sleep(1.0)
            counts.append(engine.frames)
        frames = counts[-1] - counts[0]
        rate = frames / (time.monotonic() - start)
        per_cpu_s = frames / (time.process_time() - cpu)
    finally:
        await service.stop()
        if journal is not None:
            journal.close()
    return rate, per_cpu_s, counts, p99(service)


def p99(service: CollectorService) -> float:
    """The 99th percentile of the wire-to-book histogram (its bucket's upper bound)."""
    return service.metrics.wire_to_book_quantile(0.99) or float("inf")


def peak_rss_mb() -> float:
    """This process's peak resident set (``VmHWM``, reset by ``exec``), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError("no VmHWM in /proc/self/status")


class Run(NamedTuple):
    """One collector process's figures."""

    frames_s: float
    #: Frames per CPU second of the collector process (all its threads): on a shared
    #: machine, the figure that does not depend on how much CPU the others left it.
    frames_cpu_s: float
    counts: list[int]  # the engine's frame count at each second of the window
    p99_s: float
    rss_mb: float


def measure_here(symbols: list[str], rate: float, window: float, journaled: bool) -> Run:
    proc, port = start_simulator(symbols, rate)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            frames_s, per_cpu_s, counts, latency = asyncio.run(
                collect(port, symbols, Path(tmp), window, journaled)
            )
    finally:
        proc.terminate()
        proc.wait(10)
    return Run(frames_s, per_cpu_s, counts, latency, peak_rss_mb())


def measure(symbols: list[str], rate: float, window: float, journaled: bool = False) -> Run:
    """One collector in a fresh process, so that its peak RSS is its own."""
    args = ["--one", ",".join(symbols), str(rate), str(window), "journal" if journaled else "-"]
    out = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.bench_collector", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    frames_s, per_cpu_s, counts, p99_s, rss_mb = json.loads(out.stdout.strip().splitlines()[-1])
    return Run(float(frames_s), float(per_cpu_s), list(counts), float(p99_s), float(rss_mb))


def run(plan: Plan = FULL, runs: int = RUNS) -> list[Row]:
    window = WINDOW_S if plan.scale >= 1 else 2.0
    print(
        "Collector end to end (simulator process -> loopback WebSocket -> core -> lake), "
        f"{runs} runs of each kind, taking turns, {window:.0f} s windows"
    )
    kinds = {
        "flat out, 2 symbols": (SYMBOLS_2, 400_000.0, False),
        "flat out, 2 symbols, journal": (SYMBOLS_2, 400_000.0, True),
        "10k frames/s, 2 symbols": (SYMBOLS_2, 10_000.0, False),
        "flat out, 20 symbols": (SYMBOLS_20, 400_000.0, False),
    }
    results: dict[str, list[Run]] = {kind: [] for kind in kinds}
    for _ in range(runs):
        for kind, (symbols, rate, journaled) in kinds.items():
            results[kind].append(measure(symbols, rate, window, journaled))

    def frames_s(kind: str) -> Figure:
        runs = results[kind]
        return Figure(tuple(r.frames_s for r in runs), "/s", tuple(r.frames_cpu_s for r in runs))

    for kind in kinds:
        frames = ", ".join(f"{r.frames_s / 1e3:.0f}k" for r in results[kind])
        per_cpu_s = ", ".join(f"{r.frames_cpu_s / 1e3:.0f}k" for r in results[kind])
        rss = ", ".join(f"{r.rss_mb:.0f}" for r in results[kind])
        print(
            f"  {kind}: frames/s per run {frames}; per CPU second {per_cpu_s}; "
            f"peak RSS per run (MB) {rss}"
        )
    steps = [b - a for a, b in itertools.pairwise(results["flat out, 2 symbols"][0].counts)]
    print(f"  flat out, 2 symbols, first run, frames each second: {steps}")
    rows = [
        Row(
            "collector frames/s end to end, 2 symbols",
            frames_s("flat out, 2 symbols"),
            100_000.0,
            note="simulator flat out in its own process; in CPU time = frames per CPU second "
            "of the collector process (all threads), what it does with the CPU it gets",
        ),
        Row(
            "collector frames/s end to end with the crash journal, 2 symbols",
            frames_s("flat out, 2 symbols, journal"),
            peer=frames_s("flat out, 2 symbols"),
            peer_name="no journal",
            min_ratio=0.9,
            note="the journal's cost on throughput, target <= 10%: ratio >= 0.9 of the same "
            "collector without it, runs taking turns",
        ),
        Row("collector frames/s end to end, 20 symbols", frames_s("flat out, 20 symbols")),
        Row(
            "wire-to-book p99 at 10k frames/s (us)",
            Figure.of([r.p99_s * 1e6 for r in results["10k frames/s, 2 symbols"]], "us"),
            1000.0,
            note="the upper bound of the histogram bucket",
        ),
        Row(
            "collector peak RSS, 20 instruments (MB)",
            Figure.of([r.rss_mb for r in results["flat out, 20 symbols"]], "MB"),
            300.0,
            note="VmHWM of the collector process alone; the simulator runs in its own",
        ),
    ]
    for row in rows:
        print(row.report())
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--one":
        symbols, rate, window = sys.argv[2].split(","), float(sys.argv[3]), float(sys.argv[4])
        print(json.dumps(measure_here(symbols, rate, window, sys.argv[5] == "journal")))
    else:
        quick = sys.argv[1:] == ["--quick"]
        for row in run(QUICK if quick else FULL, 1 if quick else RUNS):
            print(row.metric, row.ours, row.status)
