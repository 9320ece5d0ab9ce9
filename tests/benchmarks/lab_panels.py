"""JupyterLab with the AlphaPulse Monitor and three live chart panels, the collector at full rate.

``jupyter lab`` as ``make run`` starts it (tests/browser/lab_server.py), the simulated venues
at ``--rate`` steps/s each (~10k frames/s over the four at 2700, as browser_stream), and
Debian's chromium on Lab: the Monitor open in the sidebar and ``alphapulse:open-chart`` panels
(1 s candles, depth, trades) of the three busiest instruments, split so that all three are on
screen and drawing. Over ``--seconds`` (the first minute and a second one):

1. Lab commands timed from the page every ``TICK`` s, a round at a time: the left area hidden
   and shown; the file browser and then the Monitor (``alphapulse:open-monitor``) in the
   sidebar; single-document mode, another chart panel activated in it
   (``tabsmenu:activate-by-id``, ``shell.activateById``), and back. Each is timed to the next
   animation frame (Lumino's layout messages have run: the issue's measure) and to the frame
   after (the browser's layout, paint and the charts' ResizeObservers have run too).
2. The page's JS heap after a forced GC every ``HEAP_EVERY`` s; the end's against minute 1's.
3. Chart updates/s (``window.__alphapulse_charts``: one count for all six charts), the page's
   frames/s and main-thread busy share (CDP TaskDuration), the stream messages/s each panel's
   two charts receive (an init script counts them per WebSocket: the chart counters are
   global, this shows that every panel gets its data), the collector's frames/s.
4. The labextension bundle's size (no lightweight-charts in it: the panels import the
   widgets' charts.js from the server).

    python -m tests.benchmarks.lab_panels            # two minutes: the figures
    python -m tests.benchmarks.lab_panels --quick    # 30 s: a check

Not part of ``make bench``: it needs chromium. Targets: a Lab command within 100 ms, the heap
at the end <= 20% above the first minute's, the bundle <= 500 kB without lightweight-charts.
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import CDPSession, Page, sync_playwright

from alphapulse.widgets.live_chart import BUNDLE
from tests.benchmarks.browser_stream import heap_mb, summary, verdict
from tests.browser.chromium import CHROMIUM, VIEWPORT, Console, counters, launch
from tests.browser.lab_server import LabServer, start_lab

ROOT = Path(__file__).resolve().parents[2]
LABEXT = ROOT / "alphapulse.data/data/share/jupyter/labextensions/@alphapulse/lab/static"
SCREENSHOT = ROOT / "tests/output/browser/lab-panels.png"
LIGHTWEIGHT_MARK = "tv-lightweight-charts"  # lightweight-charts' root class, in charts.js
WINDOW, TICK, HEAP_EVERY = 5.0, 2.0, 15.0
PAUSE = 0.3  # between a round's commands: each starts from a settled page
TARGET_MS, TARGET_GROWTH, TARGET_KB = 100.0, 0.20, 500.0

#: Before Lab loads: counts the messages of each AlphaPulse stream socket and what it
#: subscribed to (so a count belongs to a panel's candles or depth), and animation frames.
PROBES = """(() => {
  const Native = window.WebSocket;
  const sockets = (window.__bench_sockets = []);
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      if (!String(url).includes("alphapulse/api/stream")) return;
      const rec = { subs: [], messages: 0 };
      sockets.push(rec);
      this.__bench = rec;
      this.addEventListener("message", () => { rec.messages += 1; });
    }
    send(data) {
      if (this.__bench && typeof data === "string" && data.includes('"subscribe"')) {
        const m = JSON.parse(data);
        this.__bench.subs.push(`${m.channel}:${m.instrument ?? ""}`);
      }
      return super.send(data);
    }
  };
  window.__bench_frames = 0;
  const frame = () => { window.__bench_frames += 1; requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
})()"""

#: The issue's measure (to the next frame) and to the frame after; [ms, ms].
TIME_COMMAND = """async ([cmd, args]) => {
  const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
  const t = performance.now();
  await window.jupyterapp.commands.execute(cmd, args);
  await frame();
  const next = performance.now() - t;
  await frame();
  return [next, performance.now() - t];
}"""

#: The panels side by side: the first on the left, the second right of it, the third below
#: the second (a re-added widget moves in Lumino's dock layout).
SPLIT = """(ids) => {
  const shell = window.jupyterapp.shell;
  const widget = (id) => [...shell.widgets("main")].find((w) => w.id === id);
  shell.add(widget(ids[1]), "main", { mode: "split-right", ref: ids[0] });
  shell.add(widget(ids[2]), "main", { mode: "split-bottom", ref: ids[1] });
}"""


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.lab_panels")
    parser.add_argument("--seconds", type=float, default=120.0, help="measured seconds")
    parser.add_argument("--baseline", type=float, default=60.0, help="the heap's first minute")
    parser.add_argument("--rate", type=float, default=2700.0, help="simulator steps/s a venue")
    parser.add_argument("--flush", type=float, default=0.03, help="AlphaPulse.stream_flush")
    parser.add_argument("--quick", action="store_true", help="a check: --seconds 30, heap at 15")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.baseline = 30.0, 15.0
    args.baseline = min(args.baseline, args.seconds)
    return args


def busiest(lab: LabServer, n: int, timeout: float = 60.0) -> list[str]:
    """The ``n`` instruments with the most trades so far (the query reads the live tail)."""
    sql = f"select venue, symbol, count(*) as k from trades group by all order by k desc limit {n}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            rows = lab.api("alphapulse/api/query", body={"sql": sql})["rows"]
            if len(rows) == n:
                return [f"{venue}:{symbol}" for venue, symbol, _ in rows]
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(1.0)


def open_panels(page: Page, lab: LabServer, instruments: list[str]) -> list[str]:
    """Lab in a fresh workspace with the Monitor and a chart panel per instrument, split;
    their widget ids once all six charts have drawn and updated."""
    page.goto(lab.page(f"lab/workspaces/{uuid.uuid4().hex[:12]}"))
    page.wait_for_function(
        "() => !!window.jupyterapp?.commands.hasCommand('alphapulse:open-chart')", timeout=90_000
    )
    command(page, "alphapulse:open-monitor")
    ids = [
        page.evaluate(
            "async (i) => (await window.jupyterapp.commands.execute("
            "'alphapulse:open-chart', {instrument: i, interval: '1s'})).id",
            instrument,
        )
        for instrument in instruments
    ]
    page.evaluate(SPLIT, ids)
    page.wait_for_function(
        "(n) => document.querySelectorAll('.alphapulse-ChartPanel .alphapulse-chart-canvas"
        " canvas').length >= n && (window.__alphapulse_charts?.updates ?? 0) > 2 * n",
        arg=2 * len(ids),
        timeout=60_000,
    )
    return ids


def command(page: Page, name: str, args: dict[str, Any] | None = None) -> list[float]:
    return list(page.evaluate(TIME_COMMAND, [name, args or {}]))  # [next frame, frame after]


def rounds(page: Page, ids: list[str], k: int) -> list[tuple[str, str, dict[str, Any]]]:
    """Round ``k``'s (label, command, args); each round leaves the layout as it found it."""
    if k % 3 == 0:
        toggle = "application:toggle-left-area"
        return [(f"{toggle} (hide)", toggle, {}), (f"{toggle} (show)", toggle, {})]
    if k % 3 == 1:
        return [(c, c, {}) for c in ("filebrowser:activate", "alphapulse:open-monitor")]
    current = page.evaluate("() => window.jupyterapp.shell.currentWidget?.id")
    other = ids[(ids.index(current) + 1) % len(ids) if current in ids else 0]
    mode = "application:toggle-mode"
    return [
        (f"{mode} (single)", mode, {}),
        ("tabsmenu:activate-by-id (single)", "tabsmenu:activate-by-id", {"id": other}),
        (f"{mode} (multiple)", mode, {}),
    ]


def stream_counts(page: Page) -> dict[str, int]:
    """Messages received so far by each panel's candles ("bars:X") and depth ("book:X")."""
    out: dict[str, int] = {}
    for rec in page.evaluate("() => window.__bench_sockets.map((s) => ({...s}))"):
        subs: list[str] = rec["subs"]
        bars = [s for s in subs if s.startswith("bars:")]
        key = bars[0] if bars else subs[0] if len(subs) == 1 else "extension"
        out[key] = out.get(key, 0) + int(rec["messages"])
    return out


def snapshot(page: Page, lab: LabServer, cdp: CDPSession) -> dict[str, Any]:
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    status = lab.status()
    frames = sum(int(v["frames"]) for v in status["collector"]["venues"].values())
    return {
        "at": time.monotonic(),
        "updates": counters(page)["updates"],
        "frames": page.evaluate("() => window.__bench_frames"),
        "task": float(metrics["TaskDuration"]),
        "streams": stream_counts(page),
        "collector": (float(status["collector"]["ts"]), frames),
        "sent": int(status["stream"]["messages_sent"]),  # to this page's sockets: the only ones
    }


def window_rates(a: dict[str, Any], b: dict[str, Any], out: dict[str, list[float]]) -> None:
    dt = b["at"] - a["at"]
    out["updates"].append((b["updates"] - a["updates"]) / dt)
    out["fps"].append((b["frames"] - a["frames"]) / dt)
    out["busy"].append(100 * (b["task"] - a["task"]) / dt)
    out["sent"].append((b["sent"] - a["sent"]) / dt)
    (t0, f0), (t1, f1) = a["collector"], b["collector"]
    out["collector"].append((f1 - f0) / (t1 - t0))
    for key, n in b["streams"].items():
        out.setdefault(key, []).append((n - a["streams"].get(key, 0)) / dt)


def measure(page: Page, lab: LabServer, ids: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """The timeline: windows, heap samples and command rounds, each when it is due."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    rates: dict[str, list[float]] = {k: [] for k in ("updates", "fps", "busy", "collector", "sent")}
    times: dict[str, list[list[float]]] = {}
    heap: dict[float, float] = {}
    every = {HEAP_EVERY * i for i in range(1, int(args.seconds // HEAP_EVERY) + 1)}
    heap_at = sorted((every | {args.baseline}) - {args.seconds})  # and at the end
    start, k = time.monotonic(), 0
    last = snapshot(page, lab, cdp)
    due = {"window": WINDOW, "heap": heap_at.pop(0) if heap_at else math.inf, "round": TICK}
    while (now := time.monotonic() - start) < args.seconds:
        what = min(due, key=lambda name: due[name])  # windows first on a tie: their clock
        if due[what] > now:
            time.sleep(min(due[what], args.seconds) - now)
            continue
        if what == "window":
            current = snapshot(page, lab, cdp)
            window_rates(last, current, rates)
            last, due["window"] = current, due["window"] + WINDOW
        elif what == "heap":
            heap[due["heap"]] = heap_mb(page)
            print(f"  heap at {due['heap']:g} s: {heap[due['heap']]:.1f} MB", flush=True)
            due["heap"] = heap_at.pop(0) if heap_at else math.inf
        else:
            for label, name, cargs in rounds(page, ids, k):
                times.setdefault(label, []).append(command(page, name, cargs))
                time.sleep(PAUSE)
            k, due["round"] = k + 1, due["round"] + TICK
    heap[args.seconds] = heap_mb(page)
    print(f"  heap at the end ({args.seconds:g} s): {heap[args.seconds]:.1f} MB", flush=True)
    cdp.detach()
    return {"rates": rates, "times": times, "heap": heap}


def p90(values: list[float]) -> float:
    """The nearest-rank 90th percentile."""
    return sorted(values)[math.ceil(0.9 * len(values)) - 1]


def bundle() -> tuple[list[tuple[str, int]], int, int, bool]:
    """The labextension's built JS: (name, bytes) each, total bytes, gzipped total, and
    whether lightweight-charts is absent from it."""
    files = sorted(LABEXT.glob("*.js"))
    data = [f.read_bytes() for f in files]
    joined = b"".join(data)
    sizes = [(f.name, len(d)) for f, d in zip(files, data, strict=True)]
    return sizes, len(joined), len(gzip.compress(joined)), LIGHTWEIGHT_MARK.encode() not in joined


def run(args: argparse.Namespace, workdir: Path) -> int:
    options = {"AlphaPulse.rate": str(args.rate), "AlphaPulse.stream_flush": str(args.flush)}
    lab = start_lab(workdir, log=workdir / "jupyter-lab.log", options=options)
    try:
        time.sleep(3.0)  # connections, snapshots: the first trades
        instruments = busiest(lab, 3)
        print(f"  instruments: {', '.join(instruments)}; lab log {lab.log}", flush=True)
        console = Console(lab.url)
        with sync_playwright() as playwright:
            browser = launch(playwright)
            context = browser.new_context(viewport=VIEWPORT)
            context.add_init_script(PROBES)
            page = context.new_page()
            console.watch(page)
            ids = open_panels(page, lab, instruments)
            states = page.evaluate(
                "() => [...document.querySelectorAll('.alphapulse-ChartPanel "
                ".alphapulse-chart-status')].map((e) => e.dataset.state)"
            )
            print(f"  six charts drawn; their live states: {states}", flush=True)
            result = measure(page, lab, ids, args)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOT)
            browser.close()
    finally:
        lab.stop()
    return 0 if report(args, instruments, result, console) else 1


def report(
    args: argparse.Namespace, instruments: list[str], result: dict[str, Any], console: Console
) -> bool:
    """Prints the figures and the summary; whether every target was met."""
    rates, times, heap = result["rates"], result["times"], result["heap"]
    print(
        f"\nMonitor + 3 live 1 s chart panels in JupyterLab for {args.seconds:g} s; collector "
        f"at --rate {args.rate:g} (measured {summary(rates['collector'], '{:,.0f}')} frames/s "
        f"over {WINDOW:g}-s windows), stream_flush {args.flush:g} s; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )
    print("  Lab commands, ms: to the next frame | to the frame after (laid out and painted)")
    over: dict[str, list[str]] = {"next": [], "after": []}  # p90 above the target
    for label, pairs in times.items():
        nxt, after = [p[0] for p in pairs], [p[1] for p in pairs]
        print(
            f"    {label:38} n={len(pairs):<3} median {statistics.median(nxt):6.1f} p90 "
            f"{p90(nxt):6.1f} max {max(nxt):6.1f} | median {statistics.median(after):6.1f} "
            f"p90 {p90(after):6.1f} max {max(after):6.1f}"
        )
        for key, ms in (("next", p90(nxt)), ("after", p90(after))):
            over[key] += [f"{label} {ms:.0f}"] if ms > TARGET_MS else []
    first, end = heap[args.baseline], heap[args.seconds]
    growth = end / first - 1
    samples = ", ".join(f"{t:g} s {mb:.1f}" for t, mb in sorted(heap.items()))
    print(f"\n  page JS heap after GC, MB: {samples}")
    print(f"    end {end:.1f} vs {args.baseline:g} s {first:.1f}: {100 * growth:+.1f}%")
    print(
        f"\n  chart updates/s, all 6 charts (window.__alphapulse_charts): "
        f"{summary(rates['updates'])}; a panel (÷3): "
        f"{summary([u / 3 for u in rates['updates']])}"
    )
    print(
        f"    page frames/s: {summary(rates['fps'])}; main thread busy: {summary(rates['busy'])}%"
    )
    print(f"    stream messages/s the server sent the page: {summary(rates['sent'])}; received by")
    print("    each panel's candles | depth:")
    live = 0
    for instrument in instruments:
        candles, depth = rates.get(f"bars:{instrument}", []), rates.get(f"book:{instrument}", [])
        live += bool(candles and depth and candles[-1] > 0 and depth[-1] > 0)
        print(f"      {instrument:18} {summary(candles)} | {summary(depth)}")
    print(
        f"      the extension's socket (trade lists, news): {summary(rates.get('extension', []))}"
    )
    files, total, zipped, no_lwc = bundle()
    print(f"\n  labextension bundle ({LABEXT.relative_to(ROOT)}):")
    for name, size in files:
        print(f"    {name:32} {size / 1000:7.1f} kB")
    print(
        f"    total {total / 1000:.1f} kB (gzip {zipped / 1000:.1f} kB); lightweight-charts "
        f"{'not ' if no_lwc else ''}in it: the panels import {BUNDLE.relative_to(ROOT)} "
        f"({BUNDLE.stat().st_size / 1000:.1f} kB) from the server, shared with the notebook widgets"
    )
    print(f"\n  page console errors: {len(console.errors)} {console.errors[:3]}")
    print(f"  screenshot: {SCREENSHOT.relative_to(ROOT)}")
    targets = [
        (
            f"Lab commands' p90 <= {TARGET_MS:g} ms, to the next frame: "
            f"{len(times) - len(over['next'])}/{len(times)} (over: {'; '.join(over['next'])})",
            not over["next"],
        ),
        (
            f"heap at the end <= +{100 * TARGET_GROWTH:g}% of {args.baseline:g} s's "
            f"({100 * growth:+.1f}%)",
            growth <= TARGET_GROWTH,
        ),
        (
            f"bundle <= {TARGET_KB:g} kB without lightweight-charts ({total / 1000:.1f} kB)",
            total <= TARGET_KB * 1000 and no_lwc,
        ),
        (f"every panel's charts streaming at the end ({live}/3)", live == len(instruments)),
        (f"no page console errors ({len(console.errors)})", not console.errors),
    ]
    print("\nSummary")
    for text, ok in targets:
        print(f"  {verdict(ok)}  {text}")
    n, late = len(times) - len(over["after"]), "; ".join(over["after"])
    print(f"  (not judged: to the frame after, {n}/{len(times)} (over: {late}))")
    return all(ok for _, ok in targets)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if not CHROMIUM.exists():
        print(f"no chromium at {CHROMIUM} (apt-get install chromium)")
        return 2
    if not LABEXT.is_dir() or not BUNDLE.is_file():
        print(f"the labextension ({LABEXT}) or charts.js ({BUNDLE}) is not built")
        return 2
    print(
        f"lab panels benchmark: {args.seconds:g} s, heap baseline {args.baseline:g} s", flush=True
    )
    with tempfile.TemporaryDirectory(prefix="lab-panels-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
