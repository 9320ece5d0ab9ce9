"""End to end: simulator (its own process) → loopback WebSocket → core → Parquet lake.

- Throughput: the simulator runs flat out; we report the frames/s the collector took in
  over a window, and whether the lag (frames sent but not yet processed) grew.
- Latency: at 10k frames/s, wire-to-book is the collector's histogram from the moment a
  frame leaves the socket (`recv` returns) to its book being applied.
- Memory: the collector process's peak RSS over 20 instruments at full rate.

Run: ``python -m tests.benchmarks.bench_collector``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from alphapulse.lake import AsyncLakeWriter, LakeWriter
from alphapulse.service import CollectorService
from alphapulse.venues import Binance
from tests.benchmarks.measure import Figure, Row

SYMBOLS_2 = ["BTCUSDT", "ETHUSDT"]
SYMBOLS_20 = [f"S{i:02d}USDT" for i in range(20)]
WINDOW_S = 8.0


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


async def collect(port: int, symbols: list[str], lake: Path) -> tuple[float, list[int], float]:
    """Frames/s over the window, the engine's frame count each second, the p99 latency."""
    urls = {"ws": f"ws://127.0.0.1:{port}", "rest": f"http://127.0.0.1:{port}"}
    service = CollectorService(
        [Binance(symbols, urls=urls)], AsyncLakeWriter(LakeWriter(lake, roll_seconds=5))
    )
    engine = service.runtimes["binance"].engine
    await service.start()
    try:
        await asyncio.sleep(2.0)  # connect, snapshots, warm up
        counts, start = [engine.frames], time.monotonic()
        for _ in range(int(WINDOW_S)):
            await asyncio.sleep(1.0)
            counts.append(engine.frames)
        rate = (counts[-1] - counts[0]) / (time.monotonic() - start)
    finally:
        await service.stop()
    return rate, counts, p99(service)


def p99(service: CollectorService) -> float:
    """The 99th percentile of the wire-to-book histogram (its bucket's upper bound)."""
    return service.metrics.wire_to_book_quantile(0.99) or float("inf")


def measure_here(symbols: list[str], rate: float) -> tuple[float, list[int], float, float]:
    proc, port = start_simulator(symbols, rate)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            frames_s, counts, latency = asyncio.run(collect(port, symbols, Path(tmp)))
    finally:
        proc.terminate()
        proc.wait(10)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return frames_s, counts, latency, rss_mb


def measure(symbols: list[str], rate: float) -> tuple[float, list[int], float, float]:
    """In a fresh process, so that its peak RSS is the collector's alone."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.benchmarks.bench_collector",
            "--one",
            ",".join(symbols),
            str(rate),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    frames_s, counts, latency, rss = json.loads(out.stdout.strip().splitlines()[-1])
    return float(frames_s), list(counts), float(latency), float(rss)


def run() -> list[Row]:
    print("Collector end to end (simulator process -> loopback WebSocket -> core -> lake)")
    top, counts, _, _ = measure(SYMBOLS_2, rate=400_000)
    steps = [b - a for a, b in itertools.pairwise(counts)]
    print(f"  flat out, 2 symbols: {top:,.0f} frames/s; per second: {steps}")
    _, _, latency, _ = measure(SYMBOLS_2, rate=10_000)
    print(f"  at 10k frames/s: wire-to-book p99 <= {latency * 1e6:.0f} us (histogram bucket)")
    wide, _, _, rss = measure(SYMBOLS_20, rate=400_000)
    print(f"  flat out, 20 symbols: {wide:,.0f} frames/s, peak RSS {rss:.0f} MB")
    return [
        Row(
            "collector frames/s end to end",
            Figure.once(top, "/s"),
            100_000.0,
            note="simulator flat out in its own process",
        ),
        Row("wire-to-book p99 at 10k frames/s (us)", Figure.once(latency * 1e6, "us"), 1000.0),
        Row("collector peak RSS, 20 instruments (MB)", Figure.once(rss, "MB"), 300.0),
    ]


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(measure_here(sys.argv[2].split(","), float(sys.argv[3]))))
    else:
        for row in run():
            print(row.metric, row.ours, row.status)
