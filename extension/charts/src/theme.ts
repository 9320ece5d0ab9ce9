// Colours that follow JupyterLab's theme. "auto" reads Lab's own: the body's
// data-jp-theme-light attribute (Lab, Notebook 7 and Voila set it) and the theme's CSS
// variables for the background and the text, so that a chart sits in the notebook like its
// other outputs; outside Jupyter it follows the browser's prefers-color-scheme. A change of
// Lab's theme recolours the charts already drawn.

import { ColorType } from "lightweight-charts";
import type { ThemeSetting } from "./protocol";

export interface Palette {
  dark: boolean;
  background: string;
  text: string;
  grid: string;
  border: string;
  up: string;
  down: string;
  upVolume: string;
  downVolume: string;
  /** Colours of added series, in turn, when Python gave none. */
  lines: readonly string[];
  bid: string;
  ask: string;
  bidFill: string;
  askFill: string;
  fontFamily: string;
}

const LIGHT = { background: "#ffffff", text: "#191919", grid: "rgba(0, 0, 0, 0.06)" };
const DARK = { background: "#111111", text: "#d1d4dc", grid: "rgba(255, 255, 255, 0.07)" };

export function isDark(setting: ThemeSetting): boolean {
  if (setting !== "auto") return setting === "dark";
  const light = document.body?.dataset["jpThemeLight"];
  if (light !== undefined) return light === "false";
  return typeof matchMedia === "function" && matchMedia("(prefers-color-scheme: dark)").matches;
}

/** A Lab CSS variable as the browser resolves it (Lab's values are often var() chains). */
function labColor(variable: string, property: "color" | "backgroundColor"): string | null {
  if (!document.body) return null;
  if (!getComputedStyle(document.documentElement).getPropertyValue(variable).trim()) return null;
  const probe = document.createElement("div");
  probe.style.display = "none";
  probe.style[property] = `var(${variable})`;
  document.body.appendChild(probe);
  const value = getComputedStyle(probe)[property];
  probe.remove();
  return value && value !== "rgba(0, 0, 0, 0)" ? value : null;
}

export function palette(setting: ThemeSetting): Palette {
  const dark = isDark(setting);
  const base = dark ? DARK : LIGHT;
  const fromLab = setting === "auto";
  const background = (fromLab && labColor("--jp-layout-color0", "backgroundColor")) || base.background;
  const text = (fromLab && labColor("--jp-ui-font-color1", "color")) || base.text;
  const font = document.body ? getComputedStyle(document.body).getPropertyValue("--jp-ui-font-family") : "";
  return {
    dark,
    background,
    text,
    grid: base.grid,
    border: dark ? "rgba(255, 255, 255, 0.15)" : "rgba(0, 0, 0, 0.15)",
    up: "#26a69a",
    down: "#ef5350",
    upVolume: "rgba(38, 166, 154, 0.45)",
    downVolume: "rgba(239, 83, 80, 0.45)",
    lines: dark
      ? ["#4fc3f7", "#ffb74d", "#ba68c8", "#aed581", "#f06292"]
      : ["#1e88e5", "#fb8c00", "#8e24aa", "#43a047", "#d81b60"],
    bid: "#26a69a",
    ask: "#ef5350",
    bidFill: "rgba(38, 166, 154, 0.25)",
    askFill: "rgba(239, 83, 80, 0.25)",
    fontFamily: font.trim() || "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
  };
}

/** The chart options a palette decides. TradingView's attribution logo stays on: its
 * licence asks for a link to tradingview.com on the page (see static/NOTICE). */
export function layoutOptions(p: Palette) {
  return {
    layout: {
      background: { type: ColorType.Solid, color: p.background },
      textColor: p.text,
      fontFamily: p.fontFamily,
      attributionLogo: true,
    },
    grid: { vertLines: { color: p.grid }, horzLines: { color: p.grid } },
    rightPriceScale: { borderColor: p.border },
    timeScale: { borderColor: p.border },
  } as const;
}

/** Calls `changed` when Lab's theme (or the browser's scheme) changes; returns the undo. */
export function watchTheme(changed: () => void): () => void {
  const undo: (() => void)[] = [];
  if (typeof MutationObserver === "function" && document.body) {
    // Lab sets the attribute once the theme's CSS is in; a second look catches a late sheet.
    const observer = new MutationObserver(() => {
      changed();
      setTimeout(changed, 250);
    });
    observer.observe(document.body, {
      attributes: true,
      attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"],
    });
    undo.push(() => observer.disconnect());
  }
  if (typeof matchMedia === "function") {
    const media = matchMedia("(prefers-color-scheme: dark)");
    media.addEventListener("change", changed);
    undo.push(() => media.removeEventListener("change", changed));
  }
  return () => undo.forEach((f) => f());
}
