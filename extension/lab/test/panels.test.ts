import { describe, expect, it } from "vitest";
import { describeEvent, mergeEvents } from "../src/events";
import { chartable, pickInstrument, searchInstruments } from "../src/instrument_search";
import { barTime, intervalFor, intervalSeconds } from "../src/intervals";
import { filterStories, mergeStories, storyTime } from "../src/stories";
import type { EventRow, Instrument, NewsStory } from "../src/types";

const event = (seq: number, kind = "synced", venue: string | null = "kraken"): EventRow => ({
  seq,
  ts_ns: seq * 1e9,
  kind,
  venue,
  instrument: null,
  detail: { pid: 7, nested: { a: 1 } },
});

describe("events", () => {
  it("keeps the newest first, each seq once, at most max", () => {
    const kept = mergeEvents([], [event(1), event(2), event(3)]);
    expect(kept.map((e) => e.seq)).toEqual([3, 2, 1]);
    const more = mergeEvents(kept, [event(3), event(4), event(5)], 4);
    expect(more.map((e) => e.seq)).toEqual([5, 4, 3, 2]);
  });

  it("describes an event in one line without nested detail", () => {
    expect(describeEvent(event(1, "collector_restarted", "service"))).toBe("collector restarted · pid=7");
  });
});

const instrument = (name: string, id: string | null, synced: boolean | null = true): Instrument => {
  const [venue = "", symbol = ""] = name.split(":");
  return { instrument: name, venue, symbol, id, connection: venue, synced };
};

describe("instruments", () => {
  const all = [
    instrument("alpaca:AAPL", null, null),
    instrument("alpaca:AAPL", "AAPL@alpaca", false),
    instrument("kraken:BTC/USD", "BTC-USD@kraken"),
    instrument("coinbase:BTC-USD", "BTC-USD@coinbase"),
  ];

  it("lists each market-data instrument once", () => {
    expect(chartable(all).map((i) => i.id)).toEqual(["AAPL@alpaca", "BTC-USD@kraken", "BTC-USD@coinbase"]);
  });

  it("searches every word in venue and symbol", () => {
    expect(searchInstruments(chartable(all), "btc coin").map((i) => i.instrument)).toEqual(["coinbase:BTC-USD"]);
    expect(searchInstruments(chartable(all), "")).toHaveLength(3);
  });

  it("charts a news symbol on the default venue when it has it", () => {
    expect(pickInstrument(all, "BTCUSD", "coinbase")?.instrument).toBe("coinbase:BTC-USD");
    expect(pickInstrument(all, "btc/usd", "binance")?.instrument).toBe("kraken:BTC/USD");
    expect(pickInstrument(all, "AAPL", "kraken")?.instrument).toBe("alpaca:AAPL");
    expect(pickInstrument(all, "TSLA", "kraken")).toBeNull();
  });
});

describe("intervals", () => {
  it("parses the stream's intervals", () => {
    expect(intervalSeconds("1s")).toBe(1);
    expect(intervalSeconds("5m")).toBe(300);
    expect(intervalSeconds("1d")).toBe(86_400);
    expect(() => intervalSeconds("5 minutes")).toThrow(/not an interval/);
  });

  it("puts a marker on the bar that holds it", () => {
    expect(barTime(1_000_059.7, "1m")).toBe(1_000_020);
  });

  it("picks an interval whose history reaches the moment", () => {
    expect(intervalFor(10)).toBe("1s");
    expect(intervalFor(3600)).toBe("1m");
    expect(intervalFor(86_400 * 3)).toBe("1h");
  });
});

describe("stories", () => {
  const story = (id: number, time: number, symbols: string[]): NewsStory => ({
    id,
    time_ms: time,
    headline: `story ${id}`,
    symbols,
  });

  it("reads REST's time_ms and the stream's time", () => {
    expect(storyTime({ id: 1, time: 5, headline: "", symbols: [] })).toBe(5);
    expect(storyTime(story(1, 7, []))).toBe(7);
  });

  it("merges newest first, each id once", () => {
    const merged = mergeStories([story(1, 10, []), story(2, 30, [])], [story(2, 30, []), story(3, 20, [])]);
    expect(merged.map((s) => s.id)).toEqual([2, 3, 1]);
  });

  it("filters by symbol in any case", () => {
    const all = [story(1, 1, ["AAPL"]), story(2, 2, ["MSFT", "AAPL"]), story(3, 3, ["MSFT"])];
    expect(filterStories(all, "aapl").map((s) => s.id)).toEqual([1, 2]);
    expect(filterStories(all, " ")).toHaveLength(3);
  });
});
