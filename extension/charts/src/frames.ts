// Coalescing to the display rate: changes that arrive between two frames (from the stream,
// the relay or update() in the kernel) are gathered per series and applied on the next
// animation frame as one call per series: update() for a single changed row, setData() when
// the series was replaced or several rows changed. A flood of stream items therefore costs
// the chart at most one redraw a frame, and a hidden tab (no frames) only keeps the latest.

import type { Applied, Timed } from "./series_data";

/** What one series needs on the next frame; `fit`: the data is new, show all of it
 * (a live series that merely gained rows keeps the reader's zoom and scroll). */
export type Change<T> = { kind: "set"; fit: boolean } | { kind: "update"; row: T };

export class Pending<T extends Timed> {
  private resets = new Map<string, boolean>();
  private rows = new Map<string, Map<number, T>>();

  get empty(): boolean {
    return this.resets.size === 0 && this.rows.size === 0;
  }

  /** Records what SeriesData.apply did with `row`. */
  mark(name: string, row: T, applied: Applied): void {
    if (applied === "ignored") return;
    if (applied === "trimmed") {
      this.reset(name, false);
      return;
    }
    let rows = this.rows.get(name);
    if (rows === undefined) {
      rows = new Map();
      this.rows.set(name, rows);
    }
    rows.set(row.time, row);
  }

  /** The whole series changed. */
  reset(name: string, fit = true): void {
    this.resets.set(name, fit || (this.resets.get(name) ?? false));
    this.rows.delete(name);
  }

  /** One change per series, and nothing pending afterwards. */
  take(): Map<string, Change<T>> {
    const out = new Map<string, Change<T>>();
    for (const [name, fit] of this.resets) out.set(name, { kind: "set", fit });
    for (const [name, rows] of this.rows) {
      if (out.has(name)) continue;
      const [only] = rows.values();
      out.set(
        name,
        rows.size === 1 && only !== undefined ? { kind: "update", row: only } : { kind: "set", fit: false },
      );
    }
    this.resets.clear();
    this.rows.clear();
    return out;
  }
}

/** Runs `run` once on the next animation frame, however often it is requested before. */
export class FrameClock {
  private handle: number | null = null;

  constructor(private readonly run: () => void) {}

  request(): void {
    if (this.handle !== null) return;
    const tick = (): void => {
      this.handle = null;
      this.run();
    };
    this.handle =
      typeof requestAnimationFrame === "function"
        ? requestAnimationFrame(tick)
        : (setTimeout(tick, 16) as unknown as number);
  }

  cancel(): void {
    if (this.handle === null) return;
    if (typeof cancelAnimationFrame === "function") cancelAnimationFrame(this.handle);
    else clearTimeout(this.handle);
    this.handle = null;
  }
}
