/// <reference types="node" />
// The pure parts of the charts, in Node (`npm test`): the ordering rules that keep
// lightweight-charts from throwing, the per-frame coalescing, and the rows it is given.

import assert from "node:assert/strict";
import { test } from "node:test";
import { statusText } from "../src/panel";
import { candle, cumulative, precisionOf, priceDecimals, volumeBar } from "../src/plot_rows";
import { isItem, subscriptions } from "../src/protocol";
import { MAX_ROWS, Pending, SeriesData, sortedUnique } from "../src/series_data";
import type { Palette } from "../src/theme";

test("a full load is sorted, one row per time, the last given winning", () => {
  const rows = sortedUnique([
    { time: 3, v: "a" },
    { time: 1, v: "b" },
    { time: 3, v: "c" },
    { time: Number.NaN, v: "d" },
    { time: 2, v: "e" },
  ]);
  assert.deepEqual(
    rows.map((r) => [r.time, r.v]),
    [
      [1, "b"],
      [2, "e"],
      [3, "c"],
    ],
  );
});

test("an older row is ignored, an equal time replaces, a newer one appends", () => {
  const data = new SeriesData([{ time: 10, close: 1 }]);
  assert.equal(data.apply({ time: 11, close: 2 }), "appended");
  assert.equal(data.apply({ time: 11, close: 3 }), "replaced");
  assert.equal(data.apply({ time: 5, close: 9 }), "ignored");
  assert.equal(data.apply({ time: Number.POSITIVE_INFINITY, close: 9 }), "ignored");
  assert.deepEqual(data.rows, [
    { time: 10, close: 1 },
    { time: 11, close: 3 },
  ]);
  assert.equal(data.ignored, 2);
});

test("a series past MAX_ROWS drops its oldest half and asks to be drawn again", () => {
  const data = new SeriesData(Array.from({ length: MAX_ROWS }, (_, i) => ({ time: i })));
  assert.equal(data.apply({ time: MAX_ROWS }), "trimmed");
  assert.equal(data.rows.length, MAX_ROWS / 2);
  assert.equal(data.last?.time, MAX_ROWS);
});

test("markers find the bar that holds their instant", () => {
  const data = new SeriesData([{ time: 60 }, { time: 120 }, { time: 180 }]);
  assert.equal(data.at(59), undefined);
  assert.equal(data.at(60)?.time, 60);
  assert.equal(data.at(179.5)?.time, 120);
  assert.equal(data.at(1e12)?.time, 180);
});

test("a frame's changes: one update for one row, setData for more, fit only for new data", () => {
  const pending = new Pending<{ time: number; close: number }>();
  assert.equal(pending.empty, true);
  pending.mark("price", { time: 1, close: 1 }, "appended");
  pending.mark("price", { time: 1, close: 2 }, "replaced");
  pending.mark("sma", { time: 1, close: 1 }, "ignored");
  let changes = pending.take();
  assert.deepEqual(changes.get("price"), { kind: "update", row: { time: 1, close: 2 } });
  assert.equal(changes.has("sma"), false);
  assert.equal(pending.empty, true);

  pending.mark("price", { time: 2, close: 1 }, "appended");
  pending.mark("price", { time: 3, close: 1 }, "appended");
  pending.mark("vol", { time: 3, close: 1 }, "trimmed");
  changes = pending.take();
  assert.deepEqual(changes.get("price"), { kind: "set", fit: false });
  assert.deepEqual(changes.get("vol"), { kind: "set", fit: false });

  pending.reset("price");
  pending.mark("price", { time: 4, close: 1 }, "appended");
  assert.deepEqual(pending.take().get("price"), { kind: "set", fit: true });
});

test("bars without prices are gaps, volume takes the candle's colour", () => {
  const p = { upVolume: "up", downVolume: "down" } as Palette;
  assert.deepEqual(candle({ time: 1, open: 1, high: 2, low: 0.5 }), { time: 1 });
  assert.deepEqual(candle({ time: 1, open: 1, high: 2, low: 0.5, close: 1.5 }), {
    time: 1,
    open: 1,
    high: 2,
    low: 0.5,
    close: 1.5,
  });
  assert.deepEqual(volumeBar({ time: 1, open: 2, close: 1, volume: 5 }, p), { time: 1, value: 5, color: "down" });
  assert.deepEqual(volumeBar({ time: 1 }, p), { time: 1 });
});

test("the price scale's decimals follow the prices", () => {
  assert.equal(precisionOf([{ time: 1, close: 43012.15 }]), 2);
  assert.equal(precisionOf([{ time: 1, close: 109.74420715 }]), 3);
  assert.equal(precisionOf([{ time: 1, close: 0.000123 }]), 6);
  assert.equal(precisionOf([{ time: 1, close: 0.00000123 }]), 8);
  assert.equal(precisionOf([]), 2);
});

test("depth accumulates from the best price outwards, ascending in price", () => {
  const bids = cumulative(
    [
      [100, 1],
      [99, 2],
      [99, 1],
      [98, 0],
      [Number.NaN, 1],
    ],
    "bid",
  );
  assert.deepEqual(bids, [
    { time: 99, value: 4 },
    { time: 100, value: 1 },
  ]);
  const asks = cumulative(
    [
      [102, 2],
      [101, 1],
    ],
    "ask",
  );
  assert.deepEqual(asks, [
    { time: 101, value: 1 },
    { time: 102, value: 3 },
  ]);
  assert.equal(priceDecimals([[43000.5, 1], [43001, 1]]), 1);
});

test("subscriptions and the status line match the live spec", () => {
  assert.deepEqual(subscriptions("candlestick", {}), []);
  assert.deepEqual(subscriptions("candlestick", { instrument: "kraken:BTC/USD", interval: "5s" }), [
    { op: "subscribe", channel: "bars", instrument: "kraken:BTC/USD", interval: "5s" },
  ]);
  assert.deepEqual(subscriptions("depth", { instrument: "kraken:BTC/USD", depth: 50 }), [
    { op: "subscribe", channel: "book", instrument: "kraken:BTC/USD", depth: 50 },
  ]);
  assert.equal(subscriptions("candlestick", { instrument: "x:Y", depth: 10 }).length, 2);
  assert.equal(statusText("server", "", { instrument: "kraken:BTC/USD", interval: "1s" }), "● live kraken:BTC/USD 1s");
  assert.equal(statusText("error", "boom", {}), "⚠ boom");
});

test("only ITEMs the charts can apply get through", () => {
  assert.equal(isItem({ channel: "book", instrument: "k:X", time: 1, bids: [], asks: [] }), true);
  assert.equal(isItem({ type: "subscribed", channel: "book", instrument: "k:X", depth: 3 }), false);
  assert.equal(isItem({ channel: "book", instrument: "k:X" }), false);
  assert.equal(isItem({ channel: "bars", bars: [] }), true);
  assert.equal(isItem({ channel: "candles", bars: [] }), false);
  assert.equal(isItem(null), false);
});
