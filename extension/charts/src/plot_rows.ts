// Rows as lightweight-charts draws them: a bar without prices or a point without a value is
// whitespace (a gap) rather than an error, the volume bar takes the candle's colour, and a
// book becomes cumulative depth.
// Kept free of lightweight-charts' runtime (types only) so that the tests run in Node.

import type {
  CandlestickData,
  HistogramData,
  Time,
  UTCTimestamp,
  WhitespaceData,
} from "lightweight-charts";
import type { Bar, Level, Point } from "./protocol";
import type { Palette } from "./theme";

export const finite = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);

export function candle(row: Bar): CandlestickData<Time> | WhitespaceData<Time> {
  const time = row.time as UTCTimestamp;
  const { open, high, low, close } = row;
  if (finite(open) && finite(high) && finite(low) && finite(close)) return { time, open, high, low, close };
  return { time };
}

export function volumeBar(row: Bar, p: Palette): HistogramData<Time> | WhitespaceData<Time> {
  const time = row.time as UTCTimestamp;
  if (!finite(row.volume)) return { time };
  const up = !finite(row.open) || !finite(row.close) || row.close >= row.open;
  return { time, value: row.volume, color: up ? p.upVolume : p.downVolume };
}

export function point(row: Point): HistogramData<Time> | WhitespaceData<Time> {
  const time = row.time as UTCTimestamp;
  if (!finite(row.value)) return { time };
  return row.color ? { time, value: row.value, color: row.color } : { time, value: row.value };
}

/** Decimals the price scale shows (2 to 8): as many as the prices are given with, but no
 * more than six significant digits need (a computed 109.74420715 shows as 109.744), so
 * that 0.000123 is not shown as 0.00 nor 43012.15 as 43012.150000. */
export function precisionOf(rows: readonly Bar[]): number {
  let decimals = 2;
  for (const row of rows.slice(-500)) {
    const x = row.close;
    if (!finite(x) || x === 0) continue;
    const text = x.toFixed(8).replace(/0+$/, "");
    const given = text.length - text.indexOf(".") - 1;
    const significant = 5 - Math.floor(Math.log10(Math.abs(x)));
    decimals = Math.max(decimals, Math.min(given, significant));
  }
  return Math.min(decimals, 8);
}

// A book as a depth chart draws it: cumulative size against price.

export interface DepthPoint {
  time: number;
  value: number;
}

/** Cumulative size by price, ascending in price (as the chart wants): for bids, the size
 * at or above each price; for asks, at or below. Levels of one price are merged, empty
 * or non-finite ones dropped. */
export function cumulative(levels: readonly Level[], side: "bid" | "ask"): DepthPoint[] {
  const valid = levels.filter(([price, size]) => Number.isFinite(price) && Number.isFinite(size) && size > 0);
  valid.sort((a, b) => (side === "bid" ? b[0] - a[0] : a[0] - b[0]));
  const points: DepthPoint[] = [];
  let total = 0;
  for (const [price, size] of valid) {
    total += size;
    const last = points[points.length - 1];
    if (last !== undefined && last.time === price) last.value = total;
    else points.push({ time: price, value: total });
  }
  return side === "bid" ? points.reverse() : points;
}

/** Decimals the book's prices are given with (0 to 8). */
export function priceDecimals(levels: readonly Level[]): number {
  let decimals = 0;
  for (const [price] of levels.slice(0, 200)) {
    if (!Number.isFinite(price)) continue;
    const text = price.toFixed(8).replace(/\.?0+$/, "");
    const dot = text.indexOf(".");
    if (dot >= 0) decimals = Math.max(decimals, text.length - dot - 1);
  }
  return decimals;
}
