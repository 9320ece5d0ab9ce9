// Rows as lightweight-charts draws them: a bar without prices or a point without a value is
// whitespace (a gap) rather than an error, and the volume bar takes the candle's colour.
// Kept free of lightweight-charts' runtime (types only) so that the tests run in Node.

import type {
  CandlestickData,
  HistogramData,
  Time,
  UTCTimestamp,
  WhitespaceData,
} from "lightweight-charts";
import type { Bar, Point } from "./protocol";
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
