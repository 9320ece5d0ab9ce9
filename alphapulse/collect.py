"""`alphapulse collect` and `alphapulse status`: the collector as a standalone process.

``run_collector`` wires a config to the service: the lake writer as its sink, the embedded
simulator when asked (or when nothing is configured), a live status line, and a clean stop
after ``duration`` seconds or on SIGINT/SIGTERM that commits everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson

from alphapulse.config import DEFAULT_VENUES, CollectorConfig, VenueConfig
from alphapulse.lake import AsyncLakeWriter, LakeWriter
from alphapulse.service import CollectorService

STATUS_FILE = "_status.json"


@dataclass
class CollectResult:
    summary: dict[str, Any] = field(default_factory=dict)
    rows_lost: int = 0

    @property
    def out_of_sync(self) -> dict[str, list[str]]:
        venues: dict[str, dict[str, Any]] = self.summary.get("venues", {})
        return {name: v["out_of_sync"] for name, v in venues.items() if v["out_of_sync"]}

    @property
    def ok(self) -> bool:
        """Nothing lost, every book in sync at the end, no venue problem (service.problems)."""
        return self.rows_lost == 0 and not self.out_of_sync and not self.summary.get("problems")


def status_line(summary: dict[str, Any], previous: dict[str, Any] | None, dt: float) -> str:
    parts = []
    for name, v in summary["venues"].items():
        before = previous["venues"][name]["frames"] if previous else 0
        rate = (v["frames"] - before) / dt if dt > 0 else 0.0
        parts.append(
            f"{name} {rate:,.0f} f/s gaps {v['gaps']} resyncs {v['resyncs']} "
            f"rejects {v['rejects']}" + (" OUT OF SYNC" if v["out_of_sync"] else "")
        )
    sink = summary.get("sink", {})
    rows = sink.get("rows_written", 0) + sink.get("rows_buffered", 0)
    disk = sink.get("bytes_written", 0) / 1e6
    p99 = summary.get("wire_to_book_p99_us")
    lag = f"lag p99 <= {p99:,.0f} us | " if p99 is not None else ""
    lake = f"lake {rows:,} rows ({disk:,.1f} MB committed), queue {sink.get('queue_depth', 0)}"
    return " | ".join(parts) + f" | {lag}{lake}"


async def _start_simulators(config: CollectorConfig, seed: int, rate: float) -> list[Any]:
    from alphapulse.simulator import SimulatedExchange

    exchanges = []
    for i, (name, vc) in enumerate(config.venues.items()):
        # A market of its own per venue.
        exchange = SimulatedExchange(name, vc.symbols, seed=seed + i, rate=rate)
        await exchange.start()
        vc.urls = {"ws": exchange.ws_url, "rest": exchange.rest_url}
        exchanges.append(exchange)
    return exchanges


async def run_collector(
    config: CollectorConfig,
    *,
    simulated: bool = False,
    duration: float | None = None,
    out: TextIO | None = None,
    seed: int = 7,
    rate: float = 200.0,
    settle_seconds: float = 5.0,
) -> CollectResult:
    """Collect until ``duration`` passes or a signal arrives; then commit and report."""
    if simulated or not config.configured:
        if not config.configured:
            config.venues = {n: VenueConfig(list(s)) for n, s in DEFAULT_VENUES.items()}
        simulators = await _start_simulators(config, seed, rate)
    else:
        simulators = []
    config.lake.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    service: CollectorService | None = None

    def committed(path: Path, table: str, rows: int) -> None:
        # Called on the lake's thread: hand the event to the loop's.
        if service is not None:
            append = functools.partial(
                service.events.append, "file_committed", path=str(path), table=table, rows=rows
            )
            loop.call_soon_threadsafe(append)

    writer = LakeWriter(config.lake, roll_seconds=60.0, on_commit=committed)
    sink = AsyncLakeWriter(writer)
    service = CollectorService(
        config.build_venues(),
        sink,
        capture=config.capture,
        status_path=config.lake / STATUS_FILE,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await service.start()
    started = time.monotonic()
    previous: dict[str, Any] | None = None
    last = started
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            now = time.monotonic()
            summary = service.summary()
            if out is not None:
                line = status_line(summary, previous, now - last)
                out.write(("\r" if out.isatty() else "") + line + ("" if out.isatty() else "\n"))
                out.flush()
            previous, last = summary, now
            if duration is not None and now - started >= duration:
                break
        # Give resyncs in flight a moment to land before judging.
        deadline = time.monotonic() + settle_seconds
        while any(v["out_of_sync"] for v in service.summary()["venues"].values()):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        await service.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        for exchange in simulators:
            await exchange.stop()
        with contextlib.suppress(OSError):
            (config.lake / STATUS_FILE).unlink()
    if out is not None and out.isatty():
        out.write("\n")
    return CollectResult(summary=service.summary(), rows_lost=sink.rows_lost + service.rows_lost)


def read_status(lake: Path) -> dict[str, Any] | None:
    """The status a running collector writes every few hundred ms, or None."""
    path = lake / STATUS_FILE
    try:
        status: dict[str, Any] = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    try:
        os.kill(int(status["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None  # the process that wrote it is gone
    return status


def print_status(lake: Path, out: TextIO = sys.stdout) -> int:
    status = read_status(lake)
    if status is None:
        print(f"no collector is running on {lake}", file=sys.stderr)
        return 1
    age = time.time() - float(status["ts"])
    out.write(f"collector pid {status['pid']}, up {status['uptime_s']:.0f} s ({age:.1f} s ago)\n")
    for name, v in status["venues"].items():
        out.write(
            f"  {name:<10} frames {v['frames']:>12,}  connected {v['connected']}  "
            f"gaps {v['gaps']}  resyncs {v['resyncs']}  rejects {v['rejects']}"
            + (f"  out of sync: {', '.join(v['out_of_sync'])}" if v["out_of_sync"] else "")
            + "\n"
        )
    out.write(f"  lake: {status['sink']}\n")
    return 0
