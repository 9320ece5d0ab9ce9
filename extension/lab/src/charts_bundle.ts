// The lab panels draw with the very module the notebook widgets use (alphapulse/widgets/
// static/charts.js: the chart views and lightweight-charts), fetched once from the server
// with Lab's credentials and imported from a Blob URL, as anywidget does. So the chart code
// and lightweight-charts are shipped once, not again inside this extension's bundle, and a
// chart looks and behaves the same in a notebook and in a panel.
//
// The widgets' module is written against anywidget's model (get/set/on/off/send); a panel
// has no kernel, so LocalModel holds the traitlets in memory and answers the same calls.

import { requestAPI } from "./api";

type Handler = (...args: unknown[]) => void;

export interface ChartModule {
  initialize?: (props: { model: LocalModel }) => (() => void) | void;
  render: (props: { model: LocalModel; el: HTMLElement }) => (() => void) | void;
}

/** Traitlets in memory with anywidget's model interface. */
export class LocalModel {
  private readonly values = new Map<string, unknown>();
  private readonly handlers = new Map<string, Set<Handler>>();
  /** Messages the module sent to a kernel (a panel has none; kept for the tests). */
  readonly sent: unknown[] = [];
  readonly widget_manager = {};

  constructor(initial: Record<string, unknown>) {
    for (const [k, v] of Object.entries(initial)) this.values.set(k, v);
  }

  get(name: string): unknown {
    return this.values.get(name);
  }

  /** Sets a traitlet and tells the listeners of `change:<name>`, as a synced change would. */
  set(name: string, value: unknown): void {
    this.values.set(name, value);
    for (const f of this.handlers.get(`change:${name}`) ?? []) f(value);
  }

  on(event: string, handler: Handler): void {
    let set = this.handlers.get(event);
    if (set === undefined) this.handlers.set(event, (set = new Set()));
    set.add(handler);
  }

  off(event?: string | null, handler?: Handler | null): void {
    if (!event) this.handlers.clear();
    else if (!handler) this.handlers.delete(event);
    else this.handlers.get(event)?.delete(handler);
  }

  /** A panel has no kernel: a request for the kernel relay (the chart's own socket to the
   * server could not be opened) is answered with the error a kernel would send, so the
   * chart says why it is not live instead of waiting. */
  send(message: unknown): void {
    this.sent.push(message);
    if ((message as { type?: unknown } | null)?.type !== "relay") return;
    const error = { type: "error", message: "the live stream could not be opened on this server" };
    for (const f of this.handlers.get("msg:custom") ?? []) f(error);
  }

  save_changes(): void {
    // nothing to sync: the panel is the model's only owner
  }
}

let loading: Promise<ChartModule> | null = null;

/** The charts module, loaded on first use. A failed load is retried on the next call. */
export function chartModule(): Promise<ChartModule> {
  loading ??= load().catch((error: unknown) => {
    loading = null;
    throw error;
  });
  return loading;
}

async function load(): Promise<ChartModule> {
  const source = await requestAPI<string>("static/charts.js", {}, "text");
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  try {
    const module = (await import(/* webpackIgnore: true */ url)) as { default: ChartModule };
    return module.default;
  } finally {
    URL.revokeObjectURL(url);
  }
}

let nextId = 0;

/** A chart drawn by the shared module into `el`; dispose() removes it and ends its stream. */
export class MountedChart {
  private cleanups: (() => void)[] = [];

  constructor(readonly model: LocalModel) {}

  static async mount(el: HTMLElement, traits: Record<string, unknown>): Promise<MountedChart> {
    const module = await chartModule();
    const model = new LocalModel({ chart_id: `alphapulse-lab-${++nextId}`, ...traits });
    const chart = new MountedChart(model);
    const init = module.initialize?.({ model });
    if (typeof init === "function") chart.cleanups.push(init);
    try {
      const view = module.render({ model, el });
      if (typeof view === "function") chart.cleanups.unshift(view);
    } catch (error) {
      chart.dispose();
      throw error;
    }
    return chart;
  }

  dispose(): void {
    for (const f of this.cleanups) f();
    this.cleanups = [];
  }
}
