// What a chart's model holds in the browser, shared by all its views (the same widget
// displayed twice, or re-rendered): the data as last changed, one live source, the status
// line and one frame clock. anywidget calls initialize() once per model and render() per
// view; the store lives from the first to the model's end, so a second view of a live chart
// neither opens a second socket nor misses the rows the first one was sent.

import type { AnyModel } from "@anywidget/types";
import { type LiveState, LiveSource } from "./live";
import { isItem, type KernelMessage, type LiveSpec, type StreamItem, subscriptions } from "./protocol";
import { FrameClock } from "./series_data";

// -- window.__alphapulse_charts ---------------------------------------------------------
//
// What the browser tests and the benchmark read. `charts` is the
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

/** What every view of a store can be told. */
export interface StoreView<C> {
  /** The changes since the last frame (the store decides their shape). */
  apply(changes: C): void;
  /** Draw everything again: the data was replaced, or the options changed. */
  rebuild(): void;
  /** Only the height changed: the element takes it and the chart follows (autoSize),
   * keeping its data, zoom and scroll (a Lab panel being resized). */
  resize(): void;
  /** The live status changed. */
  status(state: LiveState, detail: string): void;
}

interface Traits {
  [key: string]: unknown;
  chart_id: string;
  kind: "candlestick" | "depth";
  live_spec: LiveSpec;
}

export abstract class Store<M extends Traits, C, V extends StoreView<C>> {
  readonly views = new Set<V>();
  liveState: LiveState = "off";
  liveDetail = "";
  private source: LiveSource | null = null;
  /** The kernel was asked to relay (and is told to stop with the source). */
  private relaying = false;
  private readonly clock = new FrameClock(() => this.flush());
  private readonly undo: (() => void)[] = [];

  constructor(readonly model: AnyModel<M>) {}

  /** Listens to the model: `handlers` maps a traitlet to what its change does. Called at
   * the end of the subclass' constructor. */
  protected listen(handlers: Record<string, () => void>): void {
    const all: [string, (msg: KernelMessage) => void][] = [
      ["change:live_spec", () => this.restartLive()],
      ["msg:custom", (msg: KernelMessage) => this.message(msg)],
      ...Object.entries(handlers).map(([name, f]): [string, () => void] => [`change:${name}`, f]),
    ];
    for (const [event, f] of all) this.model.on(event, f);
    this.lastOptions = (this.model.get("options") ?? null) as Record<string, unknown> | null;
    this.undo.push(() => {
      for (const [event, f] of all) this.model.off(event, f);
    });
    this.load();
    this.restartLive();
  }

  /** The `options` traitlet changed: a new height alone resizes the views; anything else
   * (title, theme, volume) rebuilds them. */
  protected optionsChanged(): void {
    const next = (this.model.get("options") ?? {}) as Record<string, unknown>;
    const prev = this.lastOptions;
    this.lastOptions = next;
    const keys = new Set([...Object.keys(prev ?? {}), ...Object.keys(next)]);
    const onlyHeight = prev !== null && [...keys].every((k) => k === "height" || prev[k] === next[k]);
    if (onlyHeight) for (const view of this.views) view.resize();
    else this.rebuildViews();
  }

  private lastOptions: Record<string, unknown> | null = null;

  /** Every view draws everything again (after a traitlet changed wholesale). */
  protected rebuildViews(): void {
    for (const view of this.views) view.rebuild();
  }

  /** (Re)reads the synced traitlets. */
  protected abstract load(): void;
  /** Stream ITEMs, from the server or the relay. */
  protected abstract items(items: readonly StreamItem[]): void;
  /** Rows the kernel sent with update(). */
  protected abstract rows(series: string, rows: readonly unknown[]): void;
  /** What changed since the last frame, and nothing pending afterwards; null: nothing. */
  protected abstract take(): C | null;

  /** Asks for a frame: changes are applied there, once per frame. */
  protected changed(): void {
    this.clock.request();
  }

  private flush(): void {
    const changes = this.take();
    if (changes === null) return;
    for (const view of this.views) {
      view.apply(changes);
      countUpdate();
    }
  }

  private message(msg: KernelMessage): void {
    switch (msg.type) {
      case "stream":
        this.receive(msg.items);
        break;
      case "rows":
        this.rows(msg.series, msg.rows);
        break;
      case "relay":
        // A stopped relay ends the "relay" state only: not an error it reported, nor the
        // server's socket the live spec has since moved to.
        if (msg.state === "started") this.setStatus("relay", "");
        else if (this.liveState === "relay") this.setStatus("off", "");
        break;
      case "error":
        this.setStatus("error", msg.message);
        break;
    }
  }

  /** ITEMs from either source; what is not one is skipped (see isItem). */
  private receive(items: readonly unknown[]): void {
    if (!Array.isArray(items)) return;
    const valid = items.filter(isItem);
    if (valid.length > 0) this.items(valid);
  }

  /** Streams the live spec while the chart is on screen: from its first view to its last
   * (an output cleared or a cell run again stops the old chart's stream, in the kernel
   * too when it was relaying). */
  private restartLive(): void {
    this.stopLive();
    const specs = subscriptions(this.model.get("kind"), this.model.get("live_spec") ?? {});
    if (specs.length === 0 || this.views.size === 0) {
      if (specs.length === 0) this.setStatus("off", "");
      return;
    }
    const source = new LiveSource(
      specs,
      {
        items: (items) => this.receive(items),
        state: (state, detail) => this.setStatus(state, detail),
      },
      () => {
        this.relaying = true;
        this.model.send({ type: "relay" });
      },
    );
    this.source = source;
    source.start();
  }

  private stopLive(): void {
    this.source?.stop();
    this.source = null;
    if (this.relaying) this.model.send({ type: "relay_stop" });
    this.relaying = false;
  }

  private setStatus(state: LiveState, detail: string): void {
    this.liveState = state;
    this.liveDetail = detail;
    for (const view of this.views) view.status(state, detail);
  }

  attach(view: V): () => void {
    this.views.add(view);
    counters().charts += 1;
    view.status(this.liveState, this.liveDetail);
    if (this.views.size === 1) this.restartLive();
    return () => {
      this.views.delete(view);
      counters().charts -= 1;
      if (this.views.size === 0) this.stopLive();
    };
  }

  dispose(): void {
    this.stopLive();
    this.clock.cancel();
    this.undo.forEach((f) => f());
  }
}

/** One store per chart, created on first use (initialize, or render if it comes first).
 * Keyed by the chart's `chart_id` traitlet, not by the model object: anywidget hands
 * initialize() and every render() a proxy of its own for the same model. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyStore = Store<any, any, any>;
const stores = new Map<string, AnyStore>();

function keyOf(model: AnyModel<Traits>): string {
  return String(model.get("chart_id") ?? "");
}

export function storeOf<S extends AnyStore>(model: AnyModel<Traits>, create: () => S): S {
  const key = keyOf(model);
  let store = stores.get(key);
  if (store === undefined) {
    store = create();
    stores.set(key, store);
  }
  return store as S;
}

export function dropStore(model: AnyModel<Traits>): void {
  const key = keyOf(model);
  stores.get(key)?.dispose();
  stores.delete(key);
}
