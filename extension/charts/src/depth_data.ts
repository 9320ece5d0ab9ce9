// A book as a depth chart draws it: cumulative size against price.

import type { Level } from "./protocol";

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
