// Candle intervals as the stream names them ("1s", "5m", "1h"): pure, so tested in Node.

/** A marker's time on the bar that holds it (lightweight-charts puts markers on bars). */
export function barTime(timeS: number, interval: string): number {
  const seconds = intervalSeconds(interval);
  return Math.floor(timeS / seconds) * seconds;
}

/** "1s" → 1, "5m" → 300, "1h" → 3600, "1d" → 86400. */
export function intervalSeconds(interval: string): number {
  const match = /^(\d+)([smhd])$/.exec(interval);
  if (match === null) throw new Error(`not an interval: ${interval}`);
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as "s" | "m" | "h" | "d"];
  return Number(match[1]) * unit;
}

/** The interval that shows a moment `ageS` seconds ago within the 500 bars of history. */
export function intervalFor(ageS: number): string {
  if (ageS < 400) return "1s";
  if (ageS < 400 * 60) return "1m";
  return "1h";
}
