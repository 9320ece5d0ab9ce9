// A series' rows as the chart holds them, and the one rule that keeps lightweight-charts
// from throwing: times strictly increase. setData() wants them sorted and unique; update()
// throws on a time before the last one. So a row older than the last is ignored, a row at
// the last time replaces it, a newer one is appended; a full load is sorted and deduplicated
// (the last row of a time wins), the same rules the Python side applies before sending.
// Below: the changes of a frame, coalesced to one call per series.

export interface Timed {
  time: number;
}

/** What `apply` did with a row. */
export type Applied = "appended" | "replaced" | "ignored" | "trimmed";

/** Rows kept per series: a live chart left open for days must not grow without bound. */
export const MAX_ROWS = 50_000;

/** Rows sorted by time, one per time (the last given wins); rows without a finite time
 * are dropped. */
export function sortedUnique<T extends Timed>(rows: readonly T[]): T[] {
  const kept = rows.filter((row) => Number.isFinite(row.time));
  // A stable sort keeps the given order among equal times, so the last given is last.
  const sorted = kept
    .map((row, index) => ({ row, index }))
    .sort((a, b) => a.row.time - b.row.time || a.index - b.index);
  const out: T[] = [];
  for (const { row } of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && last.time === row.time) out[out.length - 1] = row;
    else out.push(row);
  }
  return out;
}

export class SeriesData<T extends Timed> {
  private data: T[] = [];
  /** Rows ignored for being older than the last (a late or reordered update). */
  ignored = 0;

  constructor(rows: readonly T[] = []) {
    this.replace(rows);
  }

  get rows(): readonly T[] {
    return this.data;
  }

  get last(): T | undefined {
    return this.data[this.data.length - 1];
  }

  replace(rows: readonly T[]): void {
    this.data = sortedUnique(rows);
    this.trim();
  }

  /** Applies one row by the rules above. */
  apply(row: T): Applied {
    if (!Number.isFinite(row.time)) {
      this.ignored += 1;
      return "ignored";
    }
    const last = this.last;
    if (last === undefined || row.time > last.time) {
      this.data.push(row);
      return this.trim() ? "trimmed" : "appended";
    }
    if (row.time === last.time) {
      this.data[this.data.length - 1] = row;
      return "replaced";
    }
    this.ignored += 1;
    return "ignored";
  }

  /** Drops the oldest rows past MAX_ROWS (half of them at once, so that trimming is rare);
   * true when it did, and the chart must be given the rows again. */
  private trim(): boolean {
    if (this.data.length <= MAX_ROWS) return false;
    this.data = this.data.slice(this.data.length - Math.floor(MAX_ROWS / 2));
    return true;
  }

  /** The last row at or before `time` (markers sit on the bar that holds their instant). */
  at(time: number): T | undefined {
    let lo = 0;
    let hi = this.data.length - 1;
    let found: T | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const row = this.data[mid];
      if (row === undefined) break;
      if (row.time <= time) {
        found = row;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }
}

// -- one change per series and frame ------------------------------------------------------
//
// Coalescing to the display rate: changes that arrive between two frames (from the stream,
// the relay or update() in the kernel) are gathered per series and applied on the next
// animation frame as one call per series: update() for a single changed row, setData() when
// the series was replaced or several rows changed. A flood of stream items therefore costs
// the chart at most one redraw a frame, and a hidden tab (no frames) only keeps the latest.

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
