"""A browser on a live chart while the collector takes ~10k frames/s, in JupyterLab.

``jupyter lab`` as ``make run`` starts it (tests/browser/lab_server.py), with the simulated
venues at ``--rate`` steps/s each (the four venues of the simulated collection come to ~3.7
frames a step together: ~10k frames/s at 2700; the collector's measured total is printed)
and the stream flushed to a browser every ``--flush`` s. Chromium opens the
busiest instrument (most trades in the lake after a few seconds) as a live 1 s
``CandlestickChart`` in Lab, then:

1. The page's minute (``--seconds``): chart updates/s from ``window.__alphapulse_charts``
   over 5-s windows, beside the stream messages/s the server sent it (a chart cannot
   update more often than its data arrives); the page's JS heap (CDP
   ``Performance.getMetrics`` JSHeapUsedSize, after a forced GC so that garbage not yet
   collected is not counted) at 15 s and at the end; and, from a thread of this process,
   bursts of ``REST_BURST`` back-to-back GETs of /alphapulse/api/status and of
   /alphapulse/api/book (one keep-alive connection), each burst's p99, the endpoints
   taking turns.
2. The collector's frames/s (its /alphapulse/api/status: frame counts and its own clock)
   over ``--phase``-s phases that alternate: the page open with its chart streaming, and no
   page (its browser context closed). Each page phase opens Lab afresh and runs the notebook
   again; a phase is measured from ``SETTLE`` s after its change.

    python -m tests.benchmarks.browser_stream                 # a minute: the figures
    python -m tests.benchmarks.browser_stream --seconds 20 --pairs 1 --phase 5   # a check

Not part of ``make bench`` (tests.benchmarks.run): it needs chromium and two minutes, and
its figures are not peer comparisons. Targets (issue 8): >= 30 chart updates/s, no growing
heap, the collector's throughput unchanged by the page, REST p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, urlsplit

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.browser.chromium import (
    CHROMIUM,
    VIEWPORT,
    Console,
    counters,
    launch,
    live_state,
    open_in_lab,
    wait_for_chart,
)
from tests.browser.lab_server import LIVE_NOTEBOOK, LabServer, start_lab, write_live_notebook

WINDOW = 5.0  # seconds of a chart updates/s sample
SETTLE = 2.0  # seconds after a phase's change before it is measured
REST_BURST = 100  # requests a p99 is taken over
HEAP_AT = 15.0
TARGET_UPDATES = 30.0
TARGET_P99_MS = 50.0
MB = 1 << 20


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.browser_stream")
    parser.add_argument("--seconds", type=float, default=60.0, help="the page's live minute")
    parser.add_argument("--rate", type=float, default=2700.0, help="simulator steps/s a venue")
    parser.add_argument("--flush", type=float, default=0.03, help="AlphaPulse.stream_flush")
    parser.add_argument("--phase", type=float, default=10.0, help="seconds of a page/no-page")
    parser.add_argument("--pairs", type=int, default=3, help="page/no-page phase pairs")
    parser.add_argument("--depth", type=int, help="also the book's top (live(depth=...))")
    return parser.parse_args(argv)


def collector_frames(lab: LabServer) -> tuple[float, int]:
    """(the collector's clock, frames taken in over all venues)."""
    collector = lab.status()["collector"]
    return float(collector["ts"]), sum(int(v["frames"]) for v in collector["venues"].values())


def frames_per_second(lab: LabServer, seconds: float) -> float:
    """The collector's frames/s over the next ``seconds``."""
    t0, f0 = collector_frames(lab)
    time.sleep(seconds)
    t1, f1 = collector_frames(lab)
    return (f1 - f0) / (t1 - t0)


def busiest_instrument(lab: LabServer, timeout: float = 60.0) -> str:
    """The instrument with the most trades so far (the query endpoint reads the live tail)."""
    sql = "select venue, symbol, count(*) as n from trades group by all order by n desc limit 1"
    deadline = time.monotonic() + timeout
    while True:
        try:
            rows = lab.api("alphapulse/api/query", body={"sql": sql})["rows"]
            if rows:
                return f"{rows[0][0]}:{rows[0][1]}"
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(1.0)


def p99(values: list[float]) -> float:
    """The nearest-rank 99th percentile."""
    ordered = sorted(values)
    return ordered[math.ceil(0.99 * len(ordered)) - 1]


class RestProbe(threading.Thread):
    """Bursts of back-to-back GETs, the endpoints taking turns; each burst's p99 in ms."""

    def __init__(self, lab: LabServer, paths: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.lab, self.paths = lab, paths
        self.p99_ms: dict[str, list[float]] = {name: [] for name in paths}
        self.errors = 0
        self.done = threading.Event()

    def run(self) -> None:
        url = urlsplit(self.lab.url)
        connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
        while not self.done.is_set():
            for name, path in self.paths.items():
                times = [self._get(connection, path) for _ in range(REST_BURST)]
                if not self.done.is_set():
                    self.p99_ms[name].append(p99(times))
                self.done.wait(1.0)
        connection.close()

    def _get(self, connection: http.client.HTTPConnection, path: str) -> float:
        """One GET's milliseconds; a failure counts as an error (and reconnects)."""
        started = time.perf_counter()
        try:
            connection.request(
                "GET", "/" + path, headers={"Authorization": f"token {self.lab.token}"}
            )
            response = connection.getresponse()
            response.read()
            self.errors += response.status != 200
        except (OSError, http.client.HTTPException):
            self.errors += 1
            connection.close()  # the next request connects again
        return (time.perf_counter() - started) * 1e3


@contextmanager
def chart_page(browser: Browser, lab: LabServer, console: Console) -> Iterator[Page]:
    """A fresh browser context with the notebook open in Lab, run, its chart streaming."""
    context: BrowserContext = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        console.watch(page)
        open_in_lab(page, lab, LIVE_NOTEBOOK)
        wait_for_chart(page)
        yield page
    finally:
        context.close()


def heap_mb(page: Page) -> float:
    """The page's JS heap in use after a full GC, in MB (Chrome DevTools Protocol)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("HeapProfiler.collectGarbage")
    cdp.send("Performance.enable")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    cdp.detach()
    return float(metrics["JSHeapUsedSize"]) / MB


class Sample(NamedTuple):
    at: float  # this process's monotonic clock
    updates: int  # window.__alphapulse_charts.updates
    collector_ts: float  # the collector's clock
    frames: int  # the collector's frames over all venues
    messages: int  # stream messages the server has sent (to this page: the only client)


def sample(page: Page, lab: LabServer) -> Sample:
    status = lab.status()
    venues = status["collector"]["venues"].values()
    return Sample(
        time.monotonic(),
        counters(page)["updates"],
        float(status["collector"]["ts"]),
        sum(int(v["frames"]) for v in venues),
        int(status["stream"]["messages_sent"]),
    )


def the_minute(page: Page, lab: LabServer, seconds: float) -> dict[str, list[float]]:
    """Per window: chart updates/s, stream messages/s, the collector's frames/s; the heap
    at 15 s and at the end."""
    out: dict[str, list[float]] = {"updates": [], "messages": [], "frames": [], "heap": []}
    last = first = sample(page, lab)
    k = 0
    while (k + 1) * WINDOW <= seconds + 1e-9:
        k += 1
        time.sleep(max(0.0, first.at + k * WINDOW - time.monotonic()))
        now = sample(page, lab)
        out["updates"].append((now.updates - last.updates) / (now.at - last.at))
        out["messages"].append((now.messages - last.messages) / (now.at - last.at))
        out["frames"].append((now.frames - last.frames) / (now.collector_ts - last.collector_ts))
        last = now
        if not out["heap"] and k * WINDOW >= HEAP_AT:
            out["heap"].append(heap_mb(page))
    out["heap"].append(heap_mb(page))
    return out


def summary(values: list[float], fmt: str = "{:.1f}") -> str:
    if not values:
        return "-"
    median = fmt.format(statistics.median(values))
    if len(values) < 2:
        return median
    return (
        f"{median} (min-max {fmt.format(min(values))}..{fmt.format(max(values))}, n={len(values)})"
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def run(args: argparse.Namespace, workdir: Path) -> int:
    options = {"AlphaPulse.rate": str(args.rate), "AlphaPulse.stream_flush": str(args.flush)}
    lab = start_lab(workdir, log=workdir / "jupyter-lab.log", options=options)
    try:
        time.sleep(3.0)  # connections, snapshots: the first trades
        instrument = busiest_instrument(lab)
        write_live_notebook(lab.root / LIVE_NOTEBOOK, instrument, depth=args.depth)
        print(f"  busiest instrument: {instrument}; lab log {lab.log}", flush=True)
        console = Console(lab.url)
        book = f"alphapulse/api/book?instrument={quote(instrument, safe='')}&depth=10"
        probe = RestProbe(lab, {"status": "alphapulse/api/status", "book": book})
        with sync_playwright() as playwright:
            browser = launch(playwright)
            with chart_page(browser, lab, console) as page:
                print(f"  the chart's data comes from: {live_state(page)}", flush=True)
                probe.start()
                minute = the_minute(page, lab, args.seconds)
                probe.done.set()
                probe.join()
                final = counters(page)
                with_page = [frames_per_second(lab, args.phase)]
            without_page: list[float] = []
            for pair in range(args.pairs):
                time.sleep(SETTLE)
                without_page.append(frames_per_second(lab, args.phase))
                if pair + 1 < args.pairs:
                    with chart_page(browser, lab, console):
                        time.sleep(SETTLE)
                        with_page.append(frames_per_second(lab, args.phase))
            browser.close()
    finally:
        lab.stop()
    return 0 if report(args, minute, final, probe, with_page, without_page, console) else 1


def report(
    args: argparse.Namespace,
    minute: dict[str, list[float]],
    final: dict[str, float],
    probe: RestProbe,
    with_page: list[float],
    without_page: list[float],
    console: Console,
) -> bool:
    """Prints the figures; whether every target was met."""
    updates, heap = minute["updates"], minute["heap"]
    heap_15 = heap[0] if len(heap) == 2 else math.nan  # nan: the minute was under 15 s
    heap_end = heap[-1]
    median_updates = statistics.median(updates) if updates else 0.0
    frames_ratio = statistics.median(with_page) / statistics.median(without_page)
    status_p99, book_p99 = probe.p99_ms["status"], probe.p99_ms["book"]
    worst_p99 = max(statistics.median(status_p99), statistics.median(book_p99))
    print(
        f"\nA live chart (1 s bars{f', book depth {args.depth}' if args.depth else ''}) "
        f"in JupyterLab for {args.seconds:g} s, collector at --rate "
        f"{args.rate:g} (measured {summary(minute['frames'], '{:,.0f}')} frames/s), "
        f"stream_flush {args.flush:g} s; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}\n"
    )
    print(
        f"  chart updates/s over {WINDOW:g}-s windows: {summary(updates)}  "
        f"target >= {TARGET_UPDATES:g}  {verdict(median_updates >= TARGET_UPDATES)}"
    )
    print(
        f"    stream messages/s the server sent the page: {summary(minute['messages'])}; "
        f"rows ignored as older than the last: {final.get('ignored', 0)}"
    )
    print(
        f"  page JS heap after GC: at {HEAP_AT:g} s {heap_15:.1f} MB, at the end "
        f"{heap_end:.1f} MB ({heap_end - heap_15:+.1f} MB)"
    )
    print(
        f"  collector frames/s with the page open: {summary(with_page, '{:,.0f}')}; with no "
        f"page: {summary(without_page, '{:,.0f}')}; ratio of medians {frames_ratio:.3f}  "
        f"target >= 0.95  {verdict(frames_ratio >= 0.95)}"
    )
    print(
        f"    alternating {args.phase:g}-s phases, each measured from {SETTLE:g} s after it began"
    )
    print(
        f"  REST p99 of GET /alphapulse/api/status under load: {summary(status_p99)} ms; "
        f"of /alphapulse/api/book: {summary(book_p99)} ms  target <= {TARGET_P99_MS:g} ms  "
        f"{verdict(worst_p99 <= TARGET_P99_MS)}"
    )
    print(
        f"    median of the p99s of bursts of {REST_BURST} back-to-back requests; "
        f"non-200 answers: {probe.errors}"
    )
    print(f"  page console errors: {len(console.errors)} {console.errors[:3]}")
    return (
        median_updates >= TARGET_UPDATES
        and frames_ratio >= 0.95
        and worst_p99 <= TARGET_P99_MS
        and not console.errors
    )


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if not CHROMIUM.exists():
        print(f"no chromium at {CHROMIUM} (apt-get install chromium)")
        return 2
    print(
        f"browser stream benchmark: {args.seconds:g} s live, {args.pairs} phase pairs", flush=True
    )
    with tempfile.TemporaryDirectory(prefix="browser-stream-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
