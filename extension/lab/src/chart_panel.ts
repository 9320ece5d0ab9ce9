// A live chart of one instrument in Lab's main area: candles at a chosen interval (with the
// book's bid/ask lines), the book's depth, and the last trades. Several can be open at once;
// each one's streams end when it closes. Candles and depth are drawn by the shared charts
// module (charts_bundle.ts), the trade list from the extension's stream connection.

import { Toolbar } from "@jupyterlab/apputils";
import { Styling } from "@jupyterlab/ui-components";
import { type Message } from "@lumino/messaging";
import { Widget } from "@lumino/widgets";
import { MountedChart } from "./charts_bundle";
import { barTime } from "./intervals";
import type { StreamConnection, StreamItem } from "./stream";

export const INTERVALS = ["1s", "5s", "15s", "1m", "5m", "15m", "1h"] as const;
const MAX_TRADES = 60;

export interface ChartPanelOptions {
  /** Stable across reloads: the layout restorer's name for this panel. */
  key: string;
  instrument: string;
  interval: string;
  theme: "auto" | "light" | "dark";
  /** Instruments offered in the panel's selector. */
  instruments: string[];
  /** A story or signal to mark (Unix seconds), e.g. from the News panel. */
  marker?: { time: number; text: string } | undefined;
}

export class ChartPanel extends Widget {
  readonly toolbar = new Toolbar();
  private readonly instrumentSelect = document.createElement("select");
  private readonly intervalSelect = document.createElement("select");
  private readonly candlesEl = document.createElement("div");
  private readonly depthEl = document.createElement("div");
  private readonly tradesBody = document.createElement("tbody");
  private candles: MountedChart | null = null;
  private depth: MountedChart | null = null;
  private unsubscribe: (() => void) | null = null;
  private trades: Record<string, unknown>[] = [];
  private drawPending = false;
  /** Which mountCharts() call is current: an older one finishing late disposes its charts. */
  private mountGeneration = 0;
  private options: ChartPanelOptions;

  constructor(
    options: ChartPanelOptions,
    private readonly stream: StreamConnection,
  ) {
    super();
    this.options = options;
    this.addClass("alphapulse-ChartPanel");
    this.id = `alphapulse-chart-${Math.random().toString(36).slice(2)}`;
    this.title.closable = true;
    this.buildToolbar();
    const lower = document.createElement("div");
    lower.className = "alphapulse-ChartPanel-lower";
    this.candlesEl.className = "alphapulse-ChartPanel-candles";
    this.depthEl.className = "alphapulse-ChartPanel-depth";
    const trades = document.createElement("div");
    trades.className = "alphapulse-ChartPanel-trades";
    const table = document.createElement("table");
    table.innerHTML = "<thead><tr><th>time</th><th>price</th><th>size</th><th>side</th></tr></thead>";
    table.append(this.tradesBody);
    trades.append(table);
    lower.append(this.depthEl, trades);
    this.node.append(this.candlesEl, lower);
    this.showInstrument(options.instrument, options.interval);
  }

  get key(): string {
    return this.options.key;
  }

  get instrument(): string {
    return this.options.instrument;
  }

  get interval(): string {
    return this.options.interval;
  }

  /** Switches the panel to another instrument or interval (the streams follow). */
  showInstrument(instrument: string, interval: string): void {
    // A story's marker belongs to the instrument it was opened for.
    const marker = instrument === this.options.instrument ? this.options.marker : undefined;
    this.options = { ...this.options, instrument, interval, marker };
    this.title.label = `${instrument} ${interval}`;
    this.title.caption = `AlphaPulse live chart: ${instrument}, ${interval} candles, depth and trades`;
    this.instrumentSelect.value = instrument;
    this.intervalSelect.value = interval;
    this.unsubscribe?.();
    this.trades = [];
    this.draw();
    this.unsubscribe = this.stream.subscribe({ channel: "trades", instrument }, (item) => this.onTrades(item));
    void this.mountCharts();
  }

  /** The chart theme setting changed: both charts redraw in it. */
  setTheme(theme: ChartPanelOptions["theme"]): void {
    if (theme === this.options.theme) return;
    this.options = { ...this.options, theme };
    for (const chart of [this.candles, this.depth]) {
      if (chart === null) continue;
      chart.model.set("options", { ...(chart.model.get("options") as Record<string, unknown>), theme });
    }
  }

  protected override onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    this.fitCharts();
  }

  protected override onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.fitCharts();
  }

  override dispose(): void {
    if (this.isDisposed) return;
    this.unsubscribe?.();
    this.candles?.dispose();
    this.depth?.dispose();
    this.toolbar.dispose();
    super.dispose();
  }

  private buildToolbar(): void {
    const choices = [...new Set([this.options.instrument, ...this.options.instruments])];
    for (const name of choices) this.instrumentSelect.append(new Option(name, name));
    for (const name of INTERVALS) this.intervalSelect.append(new Option(name, name));
    if (!INTERVALS.includes(this.options.interval as (typeof INTERVALS)[number])) {
      this.intervalSelect.append(new Option(this.options.interval, this.options.interval));
    }
    this.instrumentSelect.className = "alphapulse-ChartPanel-instrument";
    this.intervalSelect.className = "alphapulse-ChartPanel-interval";
    this.instrumentSelect.title = "Instrument";
    this.intervalSelect.title = "Candle interval";
    this.instrumentSelect.onchange = () => this.showInstrument(this.instrumentSelect.value, this.options.interval);
    this.intervalSelect.onchange = () => this.showInstrument(this.options.instrument, this.intervalSelect.value);
    this.toolbar.addItem("instrument", new Widget({ node: Styling.wrapSelect(this.instrumentSelect) }));
    this.toolbar.addItem("interval", new Widget({ node: Styling.wrapSelect(this.intervalSelect) }));
  }

  private async mountCharts(): Promise<void> {
    const generation = ++this.mountGeneration;
    this.candles?.dispose();
    this.depth?.dispose();
    this.candles = this.depth = null;
    this.candlesEl.textContent = "";
    this.depthEl.textContent = "";
    this.candlesEl.classList.remove("alphapulse-error");
    const { instrument, interval, theme, marker } = this.options;
    const markers = marker
      ? [
          {
            time: barTime(marker.time, interval),
            position: "aboveBar",
            shape: "arrowDown",
            color: "#f0b429",
            text: marker.text,
          },
        ]
      : [];
    const [candles, depth] = await Promise.allSettled([
      MountedChart.mount(this.candlesEl, {
        kind: "candlestick",
        series: [],
        markers,
        price_lines: [],
        live_spec: { instrument, interval, depth: 1 },
        options: { height: this.candlesHeight(), title: `${instrument} · ${interval}`, theme, volume: true },
      }),
      MountedChart.mount(this.depthEl, {
        kind: "depth",
        bids: [],
        asks: [],
        live_spec: { instrument, depth: 25 },
        options: { height: this.depthHeight(), title: "depth", theme, volume: false },
      }),
    ]);
    const mounted = [candles, depth].map((r) => (r.status === "fulfilled" ? r.value : null));
    const current = !this.isDisposed && generation === this.mountGeneration;
    const failed = [candles, depth].find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (!current || failed) {
      for (const chart of mounted) chart?.dispose();
      if (!current || !failed) return;
      const reason: unknown = failed.reason;
      this.candlesEl.textContent = `The chart could not be drawn: ${reason instanceof Error ? reason.message : String(reason)}`;
      this.candlesEl.classList.add("alphapulse-error");
      return;
    }
    [this.candles, this.depth] = mounted as [MountedChart, MountedChart];
    this.fitCharts();
  }

  private candlesHeight(): number {
    return Math.max(160, Math.round(this.node.clientHeight * 0.62) - 24);
  }

  private depthHeight(): number {
    return Math.max(120, Math.round(this.node.clientHeight * 0.38) - 40);
  }

  /** The charts take the panel's height (their width follows their element by itself). */
  private fitCharts(): void {
    for (const [chart, height] of [
      [this.candles, this.candlesHeight()],
      [this.depth, this.depthHeight()],
    ] as const) {
      if (chart === null) continue;
      const options = chart.model.get("options") as Record<string, unknown>;
      if (options["height"] !== height) chart.model.set("options", { ...options, height });
    }
  }

  private onTrades(item: StreamItem): void {
    const rows = item.rows ?? [];
    this.trades = [...rows.slice(-MAX_TRADES).reverse(), ...this.trades].slice(0, MAX_TRADES);
    if (this.drawPending) return;
    this.drawPending = true;
    requestAnimationFrame(() => {
      this.drawPending = false;
      this.draw();
    });
  }

  private draw(): void {
    const body = document.createDocumentFragment();
    for (const trade of this.trades) {
      const tr = document.createElement("tr");
      const side = typeof trade["side"] === "string" ? trade["side"] : "";
      tr.className = `alphapulse-side-${side}`;
      const time = new Date(Number(trade["time"])).toISOString().slice(11, 23);
      for (const text of [time, String(trade["price"]), String(trade["size"]), side]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      body.append(tr);
    }
    this.tradesBody.replaceChildren(body);
  }
}
