// window.__alphapulse_charts: what the browser tests and the benchmark read. `charts` is the
// number of chart views on the page, `updates` the frames in which a view applied changes
// (their rate is the chart's updates/s), `lastUpdate` the time of the last (Date.now()).

export interface ChartCounters {
  charts: number;
  updates: number;
  lastUpdate: number;
  /** Stream rows ignored for arriving older than the series' last (never thrown). */
  ignored: number;
}

declare global {
  interface Window {
    __alphapulse_charts?: ChartCounters;
  }
}

export function counters(): ChartCounters {
  if (typeof window === "undefined") return { charts: 0, updates: 0, lastUpdate: 0, ignored: 0 };
  window.__alphapulse_charts ??= { charts: 0, updates: 0, lastUpdate: 0, ignored: 0 };
  return window.__alphapulse_charts;
}

export function countUpdate(): void {
  const c = counters();
  c.updates += 1;
  c.lastUpdate = Date.now();
}
