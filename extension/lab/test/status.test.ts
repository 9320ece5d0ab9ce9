import { describe, expect, it } from "vitest";
import { ago, formatLag, formatRate, frameRates, totalRate } from "../src/rates";
import { cellText, summaryLine } from "../src/sql_results_text";
import type { CollectorStatus } from "../src/types";
import { versionMismatch } from "../src/version";

const status = (ts: number, frames: Record<string, number>, pid = 1): CollectorStatus => ({
  pid,
  ts,
  uptime_s: ts,
  wire_to_book_p99_us: 90,
  problems: [],
  venues: Object.fromEntries(
    Object.entries(frames).map(([venue, n]) => [
      venue,
      {
        state: "running",
        frames: n,
        rejects: 0,
        gaps: 0,
        resyncs: 0,
        checksums_failed: 0,
        out_of_sync: [],
        connected: 1,
        connects: 1,
        errors: 0,
        auth_failed: 0,
        refused: 0,
      },
    ]),
  ),
});

describe("frame rates", () => {
  it("is the counter's growth over the time between statuses", () => {
    const rates = frameRates(status(10, { kraken: 100, coinbase: 50 }), status(12, { kraken: 300, coinbase: 50 }));
    expect(rates).toEqual({ kraken: 100, coinbase: 0 });
    expect(totalRate(rates)).toBe(100);
  });

  it("has no rate for a first status, a new venue or a restarted collector", () => {
    expect(frameRates(null, status(1, { kraken: 5 }))).toEqual({ kraken: null });
    expect(frameRates(status(1, { kraken: 5 }), status(2, { kraken: 9, binance: 3 }))["binance"]).toBeNull();
    expect(frameRates(status(1, { kraken: 500 }), status(2, { kraken: 10 }, 2))).toEqual({ kraken: null });
    expect(totalRate({ kraken: null })).toBeNull();
  });

  it("formats for the Monitor", () => {
    expect(formatRate(null)).toBe("–");
    expect(formatRate(2.345)).toBe("2.3");
    expect(formatRate(12345.4)).toBe("12,345");
    expect(formatLag(85.2)).toBe("85 µs");
    expect(formatLag(1250)).toBe("1.3 ms");
    expect(ago(0, 59_000)).toBe("59 s ago");
    expect(ago(0, 7_200_000)).toBe("2 h ago");
  });
});

describe("version", () => {
  it("agrees with itself and says what to do otherwise", () => {
    expect(versionMismatch("0.1.0", "0.1.0")).toBeNull();
    expect(versionMismatch("0.2.0", "0.1.0")).toMatch(/server 0\.2\.0 and Lab extension 0\.1\.0 differ: reinstall/);
  });
});

describe("query results", () => {
  it("shows cells as text", () => {
    expect(cellText(null)).toBe("NULL");
    expect(cellText(["AAPL", "MSFT"])).toBe('["AAPL","MSFT"]');
    expect(cellText(1.5)).toBe("1.5");
  });

  it("says the row count, the time and a cut", () => {
    const reply = { columns: [], rows: [[1], [2]], row_count: 2, truncated: true, elapsed_ms: 3.21 };
    expect(summaryLine(reply, 12.4)).toBe("2 rows · 12 ms (server 3.2 ms) · truncated at 2 rows");
  });
});
