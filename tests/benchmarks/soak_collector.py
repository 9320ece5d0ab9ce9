"""A soak of the real collector: RSS over time, then what it kept and lost.

Runs ``python -m alphapulse collect --simulated --rate RATE`` (the embedded simulator, in the
collector's process, as a user would) for ``--minutes``, samples the collector's resident
set (``VmRSS`` of ``/proc/PID/status``) every ``--every`` seconds, stops it with SIGINT and
prints the summary: rows written and lost, gaps, and how long the stop took. ::

    python -m tests.benchmarks.soak_collector --minutes 30 --rate 3300
    python -m tests.benchmarks.soak_collector --minutes 2 --rate 50000 --every 5

RSS is "flat" when the least-squares slope of the samples after ``--warmup`` minutes,
over the soak's length, comes to less than ``--max-growth`` MB (single samples jump by
tens of MB as buffers fill and commit, so the first and last samples say little); the exit
status says so, with the peak against ``--limit``.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

MB = 1 << 20


def rss_bytes(pid: int) -> int | None:
    """``VmRSS`` of a process in bytes, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None  # a zombie has no VmRSS


def collect_command(lake: Path, rate: float, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "alphapulse",
        "collect",
        "--simulated",
        "--rate",
        str(rate),
        "--lake",
        str(lake),
        *extra,
    ]


def soak(
    lake: Path, *, rate: float, seconds: float, every: float, log: Path | None
) -> tuple[list[tuple[float, int]], dict[str, Any], float, int]:
    """``(samples of (seconds, RSS bytes), summary, stop seconds, exit status)``."""
    stderr = log.open("wb") if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(collect_command(lake, rate), stdout=subprocess.PIPE, stderr=stderr)
    samples: list[tuple[float, int]] = []
    started = time.monotonic()
    next_sample = started
    try:
        while time.monotonic() - started < seconds and proc.poll() is None:
            now = time.monotonic()
            if now >= next_sample:
                rss = rss_bytes(proc.pid)
                if rss is not None:
                    samples.append((now - started, rss))
                    print(f"  {(now - started) / 60:6.2f} min  RSS {rss / MB:7.1f} MB", flush=True)
                next_sample += every
            time.sleep(min(0.5, max(0.0, next_sample - time.monotonic())))
        signalled = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
        stop_seconds = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if log is not None and not isinstance(stderr, int):
            stderr.close()
    summary: dict[str, Any] = orjson.loads(out) if out.strip() else {}
    return samples, summary, stop_seconds, proc.returncode


def at_minutes(samples: list[tuple[float, int]], minutes: list[float]) -> list[str]:
    """The sample nearest each of ``minutes`` (those the soak reached)."""
    out = []
    for m in minutes:
        if not samples or samples[-1][0] < m * 60 - 30:
            continue
        _, rss = min(samples, key=lambda s: abs(s[0] - m * 60))
        out.append(f"{m:g} min {rss / MB:.0f} MB")
    return out


def slope_mb_per_minute(samples: list[tuple[float, int]]) -> float:
    """The least-squares slope of RSS over time."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_r = sum(r for _, r in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (r - mean_r) for t, r in samples)
    return cov / var * 60 / MB if var else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=3300.0, help="simulator steps/s a venue")
    parser.add_argument("--every", type=float, default=15.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=3.0, help="minutes before RSS is flat")
    parser.add_argument("--max-growth", type=float, default=30.0, help="MB allowed after warmup")
    parser.add_argument("--limit", type=float, default=300.0, help="MB the peak must stay under")
    parser.add_argument("--lake", help="lake directory (default: a temporary one, removed)")
    parser.add_argument("--log", help="write the collector's stderr here")
    args = parser.parse_args(argv)

    print(f"soak: collect --simulated --rate {args.rate:g} for {args.minutes:g} min", flush=True)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        lake = Path(args.lake) if args.lake else Path(tmp) / "lake"
        samples, summary, stop_s, code = soak(
            lake,
            rate=args.rate,
            seconds=args.minutes * 60,
            every=args.every,
            log=Path(args.log) if args.log else None,
        )
    peak = max((rss for _, rss in samples), default=0)
    slope = slope_mb_per_minute([s for s in samples if s[0] >= args.warmup * 60])
    growth = slope * max(0.0, args.minutes - args.warmup)
    sink = summary.get("sink", {})
    venues = summary.get("venues", {})
    print(f"RSS: {', '.join(at_minutes(samples, [1, 5, 10, 20, 30]))}")
    print(
        f"RSS peak {peak / MB:.0f} MB (limit {args.limit:g}); after warm-up "
        f"{slope:+.2f} MB/min ({growth:+.1f} MB over the soak)"
    )
    print(
        f"rows {sink.get('rows_written', 0):,}, lost {summary.get('rows_lost', '?')}, "
        f"gaps {sum(v['gaps'] for v in venues.values())}, "
        f"frames {sum(v['frames'] for v in venues.values()):,}, files "
        f"{sink.get('files_committed', 0):,}; stop took {stop_s:.1f} s, exit {code}"
    )
    flat = growth <= args.max_growth and peak <= args.limit * MB
    print("PASS" if flat and code == 0 else "FAIL")
    return 0 if flat and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
