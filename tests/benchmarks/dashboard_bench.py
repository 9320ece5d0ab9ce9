"""The monitoring dashboard under Voila in chromium, the collector at the simulator's full rate.

``alphapulse dashboards`` (tests/dashboards_server.py: a real process, a temporary lake)
with the simulated venues at ``--rate`` steps/s each (~10k frames/s over the four at 2700,
as tests/benchmarks/lab_panels.py), and Debian's chromium on its monitor page. Over
``--seconds``:

1. Updates/s of the live fields as the page shows them: at every animation frame the page
   compares the venue table's text with the one before (tests/browser/dashboard_page.py),
   counted over ``WINDOW``-s windows. Target: >= 5/s (the dashboard redraws at most every
   0.1 s, whatever the collector's rate).
2. The Voila kernel's resident memory (``VmRSS`` of the ipykernel process the server
   started for the page), every ``SAMPLE`` s: the end against the first minute (``--quick``:
   15 s), as growth %. Target: steady (<= +10%). Also its CPU share, and the collector's
   frames/s (its status, its own clock).

    python -m tests.benchmarks.dashboard_bench            # ten minutes: the figures
    python -m tests.benchmarks.dashboard_bench --quick    # one minute: a check

Not part of ``make bench`` (it needs chromium and ten minutes); ``make bench-browser`` runs it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from alphapulse.widgets.live_chart import BUNDLE
from tests.benchmarks.browser_stream import summary, verdict
from tests.browser.chromium import CHROMIUM, VIEWPORT, Console, launch
from tests.browser.dashboard_page import live_changes, venue_rows, wait_for_monitor, watch_live
from tests.browser.lab_server import descendants
from tests.dashboards_server import DashboardsServer, start_dashboards

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "tests/output/browser/dashboard-bench.png"
WINDOW, SAMPLE = 5.0, 5.0
TARGET_RATE, TARGET_GROWTH = 5.0, 0.10
TICK = os.sysconf("SC_CLK_TCK")


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.dashboard_bench")
    parser.add_argument("--seconds", type=float, default=600.0, help="measured seconds")
    parser.add_argument("--baseline", type=float, default=60.0, help="RSS's first minute")
    parser.add_argument("--rate", type=float, default=2700.0, help="simulator steps/s a venue")
    parser.add_argument("--quick", action="store_true", help="a check: 60 s, RSS from 15 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.baseline = 60.0, 15.0
    args.baseline = min(args.baseline, args.seconds)
    return args


def voila_kernel(server: DashboardsServer) -> int:
    """The pid of the kernel the server started (the page's: the only one)."""
    for pid, _ in descendants(server.process.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(part.endswith(b"ipykernel_launcher") for part in cmdline):
            return pid
    raise RuntimeError("no kernel under the dashboards server")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def collector_frames(server: DashboardsServer) -> tuple[float, int]:
    collector = server.api("alphapulse/api/status")["collector"]
    return float(collector["ts"]), sum(int(v["frames"]) for v in collector["venues"].values())


def measure(page: Any, server: DashboardsServer, kernel: int, seconds: float) -> dict[str, Any]:
    rates: dict[str, list[float]] = {"updates": [], "collector": [], "cpu": []}
    rss: dict[float, float] = {0.0: rss_mb(kernel)}
    start = time.monotonic()
    watch_live(page)
    last = (0, 0.0, collector_frames(server), cpu_seconds(kernel), start)
    next_window, next_sample = WINDOW, SAMPLE
    while (now := time.monotonic() - start) < seconds:
        due = min(next_window, next_sample)
        if due > now:
            time.sleep(min(due, seconds) - now)
            continue
        if next_sample <= now:
            rss[round(next_sample, 1)] = rss_mb(kernel)
            if next_sample % 60 == 0:
                print(f"  {next_sample:4.0f} s: kernel RSS {rss[next_sample]:.1f} MB", flush=True)
            next_sample += SAMPLE
        if next_window <= now:
            changes, watched = live_changes(page)
            frames, cpu, at = collector_frames(server), cpu_seconds(kernel), time.monotonic()
            (c0, w0, (t0, f0), cpu0, at0) = last
            rates["updates"].append((changes - c0) / (watched - w0))
            rates["collector"].append((frames[1] - f0) / (frames[0] - t0))
            rates["cpu"].append(100 * (cpu - cpu0) / (at - at0))
            last = (changes, watched, frames, cpu, at)
            next_window += WINDOW
    rss[round(seconds, 1)] = rss_mb(kernel)
    return {"rates": rates, "rss": rss}


def run(args: argparse.Namespace, workdir: Path) -> int:
    server = start_dashboards(workdir, log=workdir / "dashboards.log", rate=args.rate)
    try:
        console = Console(server.base)
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page = browser.new_page(viewport=VIEWPORT)
            console.watch(page)
            page.goto(server.urls["monitor"])
            wait_for_monitor(page)
            kernel = voila_kernel(server)
            print(f"  monitor live; Voila kernel pid {kernel}; log {server.log}", flush=True)
            result = measure(page, server, kernel, args.seconds)
            rows = venue_rows(page)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOT)
            browser.close()
    finally:
        server.stop()
    return 0 if report(args, result, rows, console) else 1


def report(
    args: argparse.Namespace, result: dict[str, Any], rows: dict[str, list[str]], console: Console
) -> bool:
    rates, rss = result["rates"], result["rss"]
    print(
        f"\nThe monitoring dashboard (alphapulse dashboards, Voila) in chromium for "
        f"{args.seconds:g} s; collector at --rate {args.rate:g} (measured "
        f"{summary(rates['collector'], '{:,.0f}')} frames/s over {WINDOW:g}-s windows); "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n"
    )
    median = statistics.median(rates["updates"]) if rates["updates"] else 0.0
    print(f"  live field updates/s as the page shows them: {summary(rates['updates'])}")
    print(f"  Voila kernel CPU %: {summary(rates['cpu'])}")
    first = rss[min(rss, key=lambda t: abs(t - args.baseline))]
    end = rss[max(rss)]
    growth = end / first - 1
    minutes = ", ".join(f"{t:g} s {mb:.1f}" for t, mb in sorted(rss.items()) if t % 60 == 0)
    print(f"  Voila kernel RSS, MB: {minutes}")
    print(
        f"    end {end:.1f} vs {args.baseline:g} s {first:.1f}: {100 * growth:+.1f}% "
        f"(min {min(rss.values()):.1f}, max {max(rss.values()):.1f})"
    )
    print("  venue table at the end: " + "; ".join(f"{v} {c[1]} f/s" for v, c in rows.items()))
    print(f"  page console errors: {len(console.errors)} {console.errors[:3]}")
    print(f"  screenshot: {SCREENSHOT.relative_to(ROOT)}")
    targets = [
        (f"live field updates/s >= {TARGET_RATE:g} (median {median:.1f})", median >= TARGET_RATE),
        (
            f"kernel RSS at the end <= +{100 * TARGET_GROWTH:g}% of {args.baseline:g} s's "
            f"({100 * growth:+.1f}%)",
            growth <= TARGET_GROWTH,
        ),
        (f"no page console errors ({len(console.errors)})", not console.errors),
    ]
    print("\nSummary")
    for text, ok in targets:
        print(f"  {verdict(ok)}  {text}")
    return all(ok for _, ok in targets)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if not CHROMIUM.exists():
        print(f"no chromium at {CHROMIUM} (apt-get install chromium)")
        return 2
    if not BUNDLE.is_file():
        print(f"the charts' bundle {BUNDLE} is not built (make widgets)")
        return 2
    print(f"dashboard benchmark: {args.seconds:g} s, RSS baseline {args.baseline:g} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="dashboard-bench-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
