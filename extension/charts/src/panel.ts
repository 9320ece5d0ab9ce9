// The DOM around a chart: a header line (the title, and the live status: where the data
// comes from, or why it stopped) above the element lightweight-charts draws in. The chart's
// element takes the output's whole width and the height asked for; the chart follows its
// size (autoSize), so it redraws when Lab's panel or the browser window is resized.

import type { LiveState } from "./live";
import type { ChartOptions, LiveSpec } from "./protocol";
import type { Palette } from "./theme";

export class Panel {
  readonly root: HTMLDivElement;
  readonly chart: HTMLDivElement;
  private readonly title: HTMLSpanElement;
  private readonly state: HTMLSpanElement;

  constructor(parent: HTMLElement) {
    this.root = document.createElement("div");
    this.root.className = "alphapulse-chart";
    this.root.style.cssText = "width:100%;box-sizing:border-box;";
    const header = document.createElement("div");
    header.style.cssText =
      "display:flex;gap:12px;align-items:baseline;font-size:12px;line-height:18px;min-height:18px;";
    this.title = document.createElement("span");
    this.title.style.fontWeight = "600";
    this.state = document.createElement("span");
    this.state.className = "alphapulse-chart-status";
    this.state.style.opacity = "0.75";
    header.append(this.title, this.state);
    this.chart = document.createElement("div");
    this.chart.className = "alphapulse-chart-canvas";
    this.chart.style.cssText = "position:relative;width:100%;";
    this.root.append(header, this.chart);
    parent.appendChild(this.root);
  }

  style(options: ChartOptions, palette: Palette): void {
    this.chart.style.height = `${Math.max(80, options.height || 400)}px`;
    this.title.textContent = options.title ?? "";
    this.root.style.color = palette.text;
    this.root.style.fontFamily = palette.fontFamily;
  }

  status(state: LiveState, detail: string, live: LiveSpec): void {
    this.state.textContent = statusText(state, detail, live);
    this.state.dataset["state"] = state;
    this.state.style.color = state === "error" ? "#ef5350" : "";
  }

  /** Shown instead of a chart that could not be drawn: never a blank output. */
  fail(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.chart.style.height = "auto";
    this.chart.textContent = `AlphaPulse chart: ${message}`;
    this.chart.style.color = "#ef5350";
  }

  remove(): void {
    this.root.remove();
  }
}

export function statusText(state: LiveState, detail: string, live: LiveSpec): string {
  const what = [live.instrument, live.interval].filter(Boolean).join(" ");
  switch (state) {
    case "off":
      return "";
    case "connecting":
      return `connecting to ${what}…`;
    case "server":
      return `● live ${what}`;
    case "relay":
      return `● live ${what} (kernel relay${detail ? `: ${detail}` : ""})`;
    case "reconnecting":
      return `reconnecting ${what}…`;
    case "error":
      return `⚠ ${detail}`;
  }
}
