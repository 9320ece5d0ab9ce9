// A series' rows as the chart holds them, and the one rule that keeps lightweight-charts
// from throwing: times strictly increase. setData() wants them sorted and unique; update()
// throws on a time before the last one. So a row older than the last is ignored, a row at
// the last time replaces it, a newer one is appended; a full load is sorted and deduplicated
// (the last row of a time wins), the same rules the Python side applies before sending.

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
