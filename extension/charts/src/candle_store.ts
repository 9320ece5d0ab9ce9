// A CandlestickChart's model in the browser: its series' rows (from the `series` traitlet,
// then changed by the stream and by update() in the kernel), the live bid/ask, and the
// changes its views have not drawn yet.

import type { AnyModel } from "@anywidget/types";
import { counters } from "./store";
import { type Change, Pending } from "./series_data";
import type { CandlestickModel, Row, SeriesKind, StreamItem } from "./protocol";
import { SeriesData } from "./series_data";
import { Store, type StoreView } from "./store";

/** The candles: the first series, and where stream bars and update() rows go by default. */
export const PRICE = "price";

export interface SeriesState {
  name: string;
  kind: SeriesKind;
  color: string | null;
  pane: number;
  data: SeriesData<Row>;
}

export interface Quote {
  bid: number | null;
  ask: number | null;
}

export interface CandleChanges {
  series: Map<string, Change<Row>>;
  /** The live best bid/ask changed. */
  quote: boolean;
}

export interface CandleView extends StoreView<CandleChanges> {
  /** The markers or price lines changed. */
  decorate(): void;
}

export class CandleStore extends Store<CandlestickModel, CandleChanges, CandleView> {
  series = new Map<string, SeriesState>();
  quote: Quote = { bid: null, ask: null };
  private pending = new Pending<Row>();
  private quoteChanged = false;

  constructor(model: AnyModel<CandlestickModel>) {
    super(model);
    const decorate = (): void => {
      for (const view of this.views) view.decorate();
    };
    this.listen({
      series: () => {
        this.load();
        this.rebuildViews();
      },
      options: () => this.optionsChanged(),
      markers: decorate,
      price_lines: decorate,
    });
  }

  get price(): SeriesState {
    const price = this.series.get(PRICE);
    if (price === undefined) throw new Error("the price series is missing");
    return price;
  }

  protected load(): void {
    this.series.clear();
    for (const spec of this.model.get("series") ?? []) {
      this.series.set(spec.name, {
        name: spec.name,
        kind: spec.kind,
        color: spec.color,
        pane: spec.pane ?? 0,
        data: new SeriesData(spec.data),
      });
    }
    if (!this.series.has(PRICE)) {
      // A chart made without data (to go live) still has its candles, first.
      const rest = [...this.series.values()];
      this.series = new Map([
        [PRICE, { name: PRICE, kind: "candlestick", color: null, pane: 0, data: new SeriesData<Row>() }],
        ...rest.map((s): [string, SeriesState] => [s.name, s]),
      ]);
    }
    this.pending.take();
  }

  protected items(items: readonly StreamItem[]): void {
    for (const item of items) {
      if (item.channel === "bars") {
        if (item.history) {
          this.price.data.replace(item.bars);
          this.pending.reset(PRICE);
        } else {
          this.apply(PRICE, item.bars);
        }
      } else if (item.channel === "book") {
        const bid = item.bids[0]?.[0] ?? null;
        const ask = item.asks[0]?.[0] ?? null;
        if (bid !== this.quote.bid || ask !== this.quote.ask) {
          this.quote = { bid, ask };
          this.quoteChanged = true;
        }
      }
    }
    this.changed();
  }

  protected rows(series: string, rows: readonly unknown[]): void {
    this.apply(series, rows as Row[]);
    this.changed();
  }

  private apply(name: string, rows: readonly Row[]): void {
    const series = this.series.get(name);
    if (series === undefined) return;
    const before = series.data.ignored;
    for (const row of rows) this.pending.mark(name, row, series.data.apply(row));
    counters().ignored += series.data.ignored - before;
  }

  protected take(): CandleChanges | null {
    if (this.pending.empty && !this.quoteChanged) return null;
    const changes = { series: this.pending.take(), quote: this.quoteChanged };
    this.quoteChanged = false;
    return changes;
  }
}
