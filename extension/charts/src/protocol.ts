// The shapes the charts exchange, named as on the Python side (alphapulse/widgets) and in
// the stream contract (notes/CONTRACT-8.md): the synced traitlets, the kernel's custom
// messages, and the stream ITEMs, which arrive identically from the server's WebSocket and
// from the kernel relay.

/** Unix seconds (lightweight-charts' UTCTimestamp). */
export type Seconds = number;

/** One OHLCV bar; a bar without prices (`open` absent) is a gap. */
export interface Bar {
  time: Seconds;
  open?: number;
  high?: number;
  low?: number;
  close?: number;
  volume?: number;
}

/** One point of a line or histogram series; no `value` is a gap. */
export interface Point {
  time: Seconds;
  value?: number;
  color?: string;
}

export type Row = Bar | Point;

export type SeriesKind = "candlestick" | "line" | "histogram";

/** An entry of the `series` traitlet. The first, "price", is the candles. */
export interface SeriesSpec {
  name: string;
  kind: SeriesKind;
  color: string | null;
  /** 0: the main pane; 1, 2...: panes below it (an indicator in its own units). */
  pane?: number;
  data: Row[];
}

export type MarkerPosition =
  | "aboveBar"
  | "belowBar"
  | "inBar"
  | "atPriceTop"
  | "atPriceBottom"
  | "atPriceMiddle";

/** An entry of the `markers` traitlet (drawn on the "price" series). */
export interface Marker {
  time: Seconds;
  position: MarkerPosition;
  shape: "circle" | "square" | "arrowUp" | "arrowDown";
  color: string;
  text: string;
  price?: number;
}

/** An entry of the `price_lines` traitlet. */
export interface PriceLine {
  price: number;
  title: string;
  color: string | null;
}

/** The `live_spec` traitlet ({} when not live); Python's `live()` method sets it. */
export interface LiveSpec {
  instrument?: string;
  interval?: string;
  depth?: number | null;
}

export type ThemeSetting = "auto" | "light" | "dark";

/** The `options` traitlet. */
export interface ChartOptions {
  height: number;
  title: string | null;
  theme: ThemeSetting;
  volume: boolean;
}

/** [price, size], best level first. */
export type Level = [number, number];

/** The traitlets of a CandlestickChart. */
export interface CandlestickModel {
  [key: string]: unknown;
  /** Unique per chart: its views share one store (see store.ts). */
  chart_id: string;
  kind: "candlestick";
  series: SeriesSpec[];
  markers: Marker[];
  price_lines: PriceLine[];
  live_spec: LiveSpec;
  options: ChartOptions;
}

/** The traitlets of a DepthChart. */
export interface DepthModel {
  [key: string]: unknown;
  chart_id: string;
  kind: "depth";
  bids: Level[];
  asks: Level[];
  live_spec: LiveSpec;
  options: ChartOptions;
}

// -- the stream ----------------------------------------------------------------------------

export interface BarsItem {
  channel: "bars";
  instrument: string;
  interval: string;
  /** true: recent bars that replace the series; false: bars changed since the last flush. */
  history: boolean;
  bars: Bar[];
}

export interface TradesItem {
  channel: "trades";
  instrument: string;
  rows: { time: number; price: number; size: number; side: "buy" | "sell" | "unknown" }[];
}

export interface BookItem {
  channel: "book";
  instrument: string;
  /** Unix milliseconds. */
  time: number;
  bids: Level[];
  asks: Level[];
}

export interface StatusItem {
  channel: "status";
  status: Record<string, unknown>;
}

export interface NewsItem {
  channel: "news";
  rows: Record<string, unknown>[];
}

export type StreamItem = BarsItem | TradesItem | BookItem | StatusItem | NewsItem;

/** Whether `x` is an ITEM the charts can apply: anything else (an acknowledgement that
 * arrives among the items, a channel added later, a malformed one) is skipped, never thrown
 * on. */
export function isItem(x: unknown): x is StreamItem {
  if (typeof x !== "object" || x === null || "type" in x) return false;
  const item = x as Partial<Record<string, unknown>>;
  switch (item["channel"]) {
    case "bars":
      return Array.isArray(item["bars"]);
    case "book":
      return Array.isArray(item["bids"]) && Array.isArray(item["asks"]);
    case "trades":
    case "news":
      return Array.isArray(item["rows"]);
    case "status":
      return typeof item["status"] === "object";
    default:
      return false;
  }
}

/** What the front end sends the server's stream. */
export interface Subscribe {
  op: "subscribe" | "unsubscribe";
  channel: "trades" | "book" | "bars" | "status" | "news";
  instrument?: string;
  interval?: string;
  depth?: number;
}

/** What the server's stream sends. */
export type ServerFrame =
  | { type: "update"; dropped: number; items: StreamItem[] }
  | { type: "subscribed"; channel: string; instrument?: string }
  | { type: "error"; message: string };

/** Custom messages from the kernel. */
export type KernelMessage =
  | { type: "stream"; items: StreamItem[] }
  | { type: "rows"; series: string; rows: Row[] }
  | { type: "relay"; state: "started" | "stopped" }
  | { type: "error"; message: string };

/** The subscriptions a live spec asks for: bars for candles (and the book for their
 * bid/ask lines when `depth` is set), the book alone for a depth chart. */
export function subscriptions(kind: "candlestick" | "depth", live: LiveSpec): Subscribe[] {
  const instrument = live.instrument;
  if (!instrument) return [];
  const book: Subscribe = { op: "subscribe", channel: "book", instrument };
  if (live.depth) book.depth = live.depth;
  if (kind === "depth") return [book];
  const bars: Subscribe = {
    op: "subscribe",
    channel: "bars",
    instrument,
    interval: live.interval ?? "1s",
  };
  return live.depth ? [bars, book] : [bars];
}
