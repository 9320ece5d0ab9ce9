// A DepthChart: the cumulative size of the book's bids and asks against price, on
// lightweight-charts' options chart (its horizontal scale is a price, not a time). Bids
// accumulate from the best bid down, asks from the best ask up, drawn as steps. The
// horizontal scale places one level per step, not in proportion to the price (that is how
// lightweight-charts lays out any horizontal scale), so gaps in the book do not show as width.

import type { AnyModel } from "@anywidget/types";
import {
  AreaSeries,
  createOptionsChart,
  type DeepPartial,
  type IChartApiBase,
  type ISeriesApi,
  LineType,
  type PriceChartOptions,
} from "lightweight-charts";
import { cumulative, priceDecimals } from "./plot_rows";
import type { LiveState } from "./live";
import { Panel } from "./panel";
import type { DepthModel, Level, StreamItem } from "./protocol";
import { Store, type StoreView } from "./store";
import { layoutOptions, type Palette, palette, watchTheme } from "./theme";

export class DepthStore extends Store<DepthModel, true, DepthView> {
  bids: Level[] = [];
  asks: Level[] = [];
  private dirty = false;

  constructor(model: AnyModel<DepthModel>) {
    super(model);
    const book = (): void => {
      this.load();
      this.dirty = true;
      this.changed();
    };
    this.listen({ bids: book, asks: book, options: () => this.optionsChanged() });
  }

  protected load(): void {
    this.bids = this.model.get("bids") ?? [];
    this.asks = this.model.get("asks") ?? [];
  }

  protected items(items: readonly StreamItem[]): void {
    for (const item of items) {
      if (item.channel !== "book") continue;
      // The latest book wins: earlier ones of the same frame are never drawn.
      this.bids = item.bids;
      this.asks = item.asks;
      this.dirty = true;
    }
    if (this.dirty) this.changed();
  }

  protected rows(): void {
    // update() sets the bids and asks traitlets instead: the book is small.
  }

  protected take(): true | null {
    if (!this.dirty) return null;
    this.dirty = false;
    return true;
  }
}

export class DepthView implements StoreView<true> {
  private readonly panel: Panel;
  private chart: IChartApiBase<number> | null = null;
  private bidSeries: ISeriesApi<"Area", number> | null = null;
  private askSeries: ISeriesApi<"Area", number> | null = null;
  private colors: Palette;
  private readonly detach: () => void;
  private readonly unwatch: () => void;

  constructor(
    private readonly store: DepthStore,
    el: HTMLElement,
  ) {
    this.panel = new Panel(el);
    this.colors = palette(this.options.theme);
    this.build();
    this.unwatch = watchTheme(() => {
      if (this.options.theme === "auto") this.rebuild();
    });
    this.detach = store.attach(this);
  }

  private get options() {
    return this.store.model.get("options") ?? { height: 300, title: null, theme: "auto", volume: false };
  }

  private build(): void {
    this.colors = palette(this.options.theme);
    this.panel.style(this.options, this.colors);
    const p = this.colors;
    try {
      this.chart = createOptionsChart(this.panel.chart, {
        autoSize: true,
        ...layoutOptions(p),
        localization: { precision: priceDecimals([...this.store.bids, ...this.store.asks]) },
      });
      const side = (color: string, fill: string) => ({
        lineColor: color,
        topColor: fill,
        bottomColor: fill,
        lineWidth: 2 as const,
        lineType: LineType.WithSteps,
        priceFormat: { type: "volume" as const },
        priceLineVisible: false,
        lastValueVisible: false,
      });
      this.bidSeries = this.chart.addSeries(AreaSeries, side(p.bid, p.bidFill));
      this.askSeries = this.chart.addSeries(AreaSeries, side(p.ask, p.askFill));
      this.apply();
    } catch (error) {
      this.chart?.remove();
      this.chart = null;
      this.panel.fail(error);
    }
  }

  apply(): void {
    if (this.chart === null) return;
    // The options chart's own option; applyOptions() is typed for any horizontal scale.
    const precision = priceDecimals([...this.store.bids, ...this.store.asks]);
    this.chart.applyOptions({ localization: { precision } } as DeepPartial<PriceChartOptions>);
    this.bidSeries?.setData(cumulative(this.store.bids, "bid"));
    this.askSeries?.setData(cumulative(this.store.asks, "ask"));
    // A book moves as a whole: always show all of it.
    this.chart.timeScale().fitContent();
  }

  resize(): void {
    this.panel.style(this.options, this.colors);
  }

  rebuild(): void {
    this.chart?.remove();
    this.chart = null;
    this.panel.chart.replaceChildren();
    this.build();
    this.status(this.store.liveState, this.store.liveDetail);
  }

  status(state: LiveState, detail: string): void {
    this.panel.status(state, detail, this.store.model.get("live_spec") ?? {});
  }

  dispose(): void {
    this.detach();
    this.unwatch();
    this.chart?.remove();
    this.panel.remove();
  }
}
