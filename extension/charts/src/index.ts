// The widgets' ES module (anywidget): one bundle for both charts, so lightweight-charts is
// shipped once. The Python class says which chart it is in its `kind` traitlet.
// initialize() runs once per model and creates its store (data, live source); render() runs
// per view and draws from it.

import type { AnyModel, Initialize, Render } from "@anywidget/types";
import { CandleStore } from "./candle_store";
import { CandlestickView } from "./candles";
import { DepthStore, DepthView } from "./depth";
import type { CandlestickModel, DepthModel } from "./protocol";
import { dropStore, storeOf } from "./store";

type ChartModel = CandlestickModel | DepthModel;

function store(model: AnyModel<ChartModel>): CandleStore | DepthStore {
  if (model.get("kind") === "depth") {
    return storeOf(model, () => new DepthStore(model as AnyModel<DepthModel>));
  }
  return storeOf(model, () => new CandleStore(model as AnyModel<CandlestickModel>));
}

const initialize: Initialize<ChartModel> = ({ model }) => {
  store(model);
  return () => dropStore(model);
};

const render: Render<ChartModel> = ({ model, el }) => {
  const chartStore = store(model);
  const view =
    chartStore instanceof DepthStore ? new DepthView(chartStore, el) : new CandlestickView(chartStore, el);
  return () => view.dispose();
};

export default { initialize, render };
