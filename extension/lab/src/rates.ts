// Frames per second from two snapshots of the collector's cumulative counters. Pure, so the
// Monitor and the status bar compute it the same way and the tests pin it.

import type { CollectorStatus } from "./types";

/** frames/s per venue between two statuses (a venue new in `next`, a counter that went
 * back (the collector restarted) or no time between them: no rate, not a negative one). */
export function frameRates(prev: CollectorStatus | null, next: CollectorStatus): Record<string, number | null> {
  const rates: Record<string, number | null> = {};
  const dt = prev === null ? 0 : next.ts - prev.ts;
  for (const [venue, counters] of Object.entries(next.venues)) {
    const before = prev?.venues[venue];
    if (before === undefined || dt <= 0 || counters.frames < before.frames || next.pid !== prev?.pid) {
      rates[venue] = null;
    } else {
      rates[venue] = (counters.frames - before.frames) / dt;
    }
  }
  return rates;
}

/** The sum of the known rates; null when none is known yet. */
export function totalRate(rates: Record<string, number | null>): number | null {
  const known = Object.values(rates).filter((r): r is number => r !== null);
  return known.length === 0 ? null : known.reduce((a, b) => a + b, 0);
}

/** "12,345" for a count, "1.2k" style not used: the Monitor's columns are aligned numbers. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

export function formatRate(rate: number | null): string {
  if (rate === null) return "–";
  return rate >= 100 ? formatCount(rate) : rate.toFixed(1);
}

/** "3 s ago", "5 min ago", "2 h ago" from a Unix-ms time. */
export function ago(timeMs: number, nowMs: number = Date.now()): string {
  const s = Math.max(0, Math.round((nowMs - timeMs) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** Microseconds as the Monitor shows a lag: "85 µs", "1.2 ms". */
export function formatLag(us: number | null | undefined): string {
  if (us === null || us === undefined) return "–";
  return us < 1000 ? `${Math.round(us)} µs` : `${(us / 1000).toFixed(1)} ms`;
}
