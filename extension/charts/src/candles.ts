// One view of a CandlestickChart: candles with a volume histogram on an overlay scale at
// the bottom, the added series (lines on the price scale or in their pane, histograms on
// scales of their own), markers on the candles, price lines, and the live bid/ask.

import {
  CandlestickSeries,
  type CandlestickData,
  createChart,
  createSeriesMarkers,
  HistogramSeries,
  type HistogramData,
  type IChartApi,
  type IPriceLine,
  type ISeriesApi,
  type ISeriesMarkersPluginApi,
  LineSeries,
  LineStyle,
  type SeriesMarker,
  type Time,
  type UTCTimestamp,
  type WhitespaceData,
} from "lightweight-charts";
import { type CandleChanges, type CandleStore, type CandleView, PRICE, type SeriesState } from "./candle_store";
import type { Change } from "./series_data";
import type { LiveState } from "./live";
import { Panel } from "./panel";
import type { Bar, Point, Row } from "./protocol";
import { candle, finite, point, precisionOf, volumeBar } from "./plot_rows";
import { layoutOptions, type Palette, palette, watchTheme } from "./theme";

type Drawn = ISeriesApi<"Candlestick"> | ISeriesApi<"Line"> | ISeriesApi<"Histogram">;
type Plotted = CandlestickData<Time> | HistogramData<Time> | WhitespaceData<Time>;
export class CandlestickView implements CandleView {
  private readonly panel: Panel;
  private chart: IChartApi | null = null;
  private drawn = new Map<string, Drawn>();
  private volume: ISeriesApi<"Histogram"> | null = null;
  private markers: ISeriesMarkersPluginApi<Time> | null = null;
  private lines: IPriceLine[] = [];
  private quoteLines: IPriceLine[] = [];
  private sized: ResizeObserver | null = null;
  private colors: Palette;
  private readonly detach: () => void;
  private readonly unwatch: () => void;

  constructor(
    private readonly store: CandleStore,
    el: HTMLElement,
  ) {
    this.panel = new Panel(el);
    this.colors = palette(this.options.theme);
    this.build();
    this.unwatch = watchTheme(() => this.recolor());
    this.detach = store.attach(this);
  }

  private get options() {
    return this.store.model.get("options") ?? { height: 400, title: null, theme: "auto", volume: true };
  }

  private build(): void {
    this.colors = palette(this.options.theme);
    this.panel.style(this.options, this.colors);
    try {
      this.chart = createChart(this.panel.chart, {
        autoSize: true,
        ...layoutOptions(this.colors),
        timeScale: { ...layoutOptions(this.colors).timeScale, timeVisible: true },
      });
      let line = 0;
      for (const series of this.store.series.values()) {
        this.drawn.set(series.name, this.add(series, line));
        if (series.kind !== "candlestick") line += 1;
      }
      for (const name of this.drawn.keys()) this.draw(name, true);
      this.decorate();
      this.drawQuote();
      if (this.panel.chart.clientWidth === 0) this.fitWhenLaidOut();
    } catch (error) {
      this.chart?.remove();
      this.chart = null;
      this.panel.fail(error);
    }
  }

  /** A chart built before its element is on the page (a widget put into a box that is not
   * laid out yet) fits its bars into no width, and keeps that bar spacing when autoSize
   * gives it its width: the bars end up squeezed at the right. It fits them again, once,
   * when it first has a width (on the frame after: autoSize's own observer applies it). */
  private fitWhenLaidOut(): void {
    this.sized?.disconnect();
    const observer = new ResizeObserver(() => {
      if (this.panel.chart.clientWidth === 0) return;
      observer.disconnect();
      this.sized = null;
      requestAnimationFrame(() => this.chart?.timeScale().fitContent());
    });
    observer.observe(this.panel.chart);
    this.sized = observer;
  }

  private add(series: SeriesState, line: number): Drawn {
    const chart = this.chart as IChartApi;
    const p = this.colors;
    const color = series.color ?? p.lines[line % p.lines.length] ?? p.text;
    if (series.kind === "candlestick") {
      const candles = chart.addSeries(
        CandlestickSeries,
        series.color
          ? { upColor: series.color, wickUpColor: series.color, borderVisible: false }
          : { upColor: p.up, downColor: p.down, wickUpColor: p.up, wickDownColor: p.down, borderVisible: false },
        series.pane,
      );
      if (series.name === PRICE && this.options.volume) {
        this.volume = chart.addSeries(
          HistogramSeries,
          { priceScaleId: "volume", priceFormat: { type: "volume" }, lastValueVisible: false, priceLineVisible: false },
          series.pane,
        );
        chart.priceScale("volume", series.pane).applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
        candles.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.24 } });
      }
      return candles;
    }
    if (series.kind === "line") {
      return chart.addSeries(LineSeries, { color, lineWidth: 2, priceLineVisible: false }, series.pane);
    }
    // A histogram (a signal, an imbalance) has units of its own: an overlay scale at the bottom.
    const histogram = chart.addSeries(
      HistogramSeries,
      { color, priceScaleId: `histogram:${series.name}`, priceLineVisible: false },
      series.pane,
    );
    chart
      .priceScale(`histogram:${series.name}`, series.pane)
      .applyOptions({ scaleMargins: { top: 0.75, bottom: 0 } });
    return histogram;
  }

  /** Gives the chart a series' rows: all of them, or the one that changed. */
  private draw(name: string, fit: boolean, change?: Change<Row>): void {
    const series = this.store.series.get(name);
    const drawn = this.drawn.get(name);
    if (series === undefined || drawn === undefined || this.chart === null) return;
    const p = this.colors;
    const plot = (row: Row): Plotted => (series.kind === "candlestick" ? candle(row as Bar) : point(row as Point));
    if (change?.kind === "update") {
      try {
        (drawn as ISeriesApi<"Candlestick">).update(plot(change.row) as CandlestickData<Time>);
        if (name === PRICE) this.volume?.update(volumeBar(change.row as Bar, p));
        return;
      } catch {
        // Not expected (the store keeps times increasing); all rows again is always safe.
      }
    }
    const rows = series.data.rows;
    (drawn as ISeriesApi<"Candlestick">).setData(rows.map(plot) as CandlestickData<Time>[]);
    if (name === PRICE) {
      this.volume?.setData(rows.map((row) => volumeBar(row as Bar, p)));
      const precision = precisionOf(rows as Bar[]);
      drawn.applyOptions({ priceFormat: { type: "price", precision, minMove: 10 ** -precision } });
      const spacing = rows.length > 1 ? (rows[1]?.time ?? 0) - (rows[0]?.time ?? 0) : 60;
      this.chart.applyOptions({ timeScale: { secondsVisible: spacing < 60 } });
      this.placeMarkers();
    }
    if (fit && rows.length > 0) this.chart.timeScale().fitContent();
  }

  apply(changes: CandleChanges): void {
    for (const [name, change] of changes.series) {
      this.draw(name, change.kind === "set" && change.fit, change);
    }
    if (changes.quote) this.drawQuote();
  }

  /** Markers sit on the candle that holds their instant (a trade at 12:00:31 on the 12:00
   * bar): lightweight-charts only draws markers at a time the series has. */
  private placeMarkers(): void {
    const candles = this.drawn.get(PRICE);
    if (candles === undefined) return;
    const data = this.store.price.data;
    const placed: SeriesMarker<Time>[] = [];
    for (const marker of this.store.model.get("markers") ?? []) {
      const bar = data.at(marker.time);
      if (bar === undefined) continue;
      const { time: _, ...rest } = marker;
      placed.push({ ...rest, time: bar.time as UTCTimestamp } as SeriesMarker<Time>);
    }
    placed.sort((a, b) => (a.time as number) - (b.time as number));
    if (this.markers === null) this.markers = createSeriesMarkers(candles, placed);
    else this.markers.setMarkers(placed);
  }

  decorate(): void {
    const candles = this.drawn.get(PRICE);
    if (candles === undefined) return;
    this.placeMarkers();
    for (const line of this.lines) candles.removePriceLine(line);
    this.lines = (this.store.model.get("price_lines") ?? []).map((line) =>
      candles.createPriceLine({
        price: line.price,
        title: line.title,
        color: line.color ?? this.colors.text,
        lineWidth: 1,
        lineStyle: LineStyle.Dashed,
        axisLabelVisible: true,
      }),
    );
  }

  private drawQuote(): void {
    const candles = this.drawn.get(PRICE);
    if (candles === undefined) return;
    for (const line of this.quoteLines) candles.removePriceLine(line);
    const { bid, ask } = this.store.quote;
    const p = this.colors;
    this.quoteLines = [
      [bid, "bid", p.bid],
      [ask, "ask", p.ask],
    ]
      .filter((entry): entry is [number, string, string] => finite(entry[0]))
      .map(([price, title, color]) =>
        candles.createPriceLine({ price, title, color, lineWidth: 1, lineStyle: LineStyle.Dotted, axisLabelVisible: true }),
      );
  }

  /** Lab's theme changed: new colours, same data, zoom and scroll. */
  private recolor(): void {
    if (this.options.theme !== "auto" || this.chart === null) return;
    this.colors = palette("auto");
    this.panel.style(this.options, this.colors);
    this.chart.applyOptions(layoutOptions(this.colors));
    let line = 0;
    for (const series of this.store.series.values()) {
      if (series.kind === "candlestick") continue;
      const color = this.colors.lines[line % this.colors.lines.length];
      line += 1;
      if (series.color === null && color) this.drawn.get(series.name)?.applyOptions({ color });
    }
    this.decorate();
    this.drawQuote();
  }

  resize(): void {
    this.panel.style(this.options, this.colors);
  }

  rebuild(): void {
    this.chart?.remove();
    this.chart = null;
    this.drawn.clear();
    this.volume = null;
    this.markers = null;
    this.lines = [];
    this.quoteLines = [];
    this.panel.chart.replaceChildren();
    this.build();
    this.status(this.store.liveState, this.store.liveDetail);
  }

  status(state: LiveState, detail: string): void {
    this.panel.status(state, detail, this.store.model.get("live_spec") ?? {});
  }

  dispose(): void {
    this.sized?.disconnect();
    this.detach();
    this.unwatch();
    this.chart?.remove();
    this.panel.remove();
  }
}
