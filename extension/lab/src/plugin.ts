// The main plugin: the sidebar (Monitor, Instruments, News, Reports), live chart panels
// (restored with the layout), report tabs, the status bar item, the launcher and palette
// entries, the settings.

import { ILayoutRestorer, type JupyterFrontEnd, type JupyterFrontEndPlugin } from "@jupyterlab/application";
import { ICommandPalette, MainAreaWidget, Notification, WidgetTracker } from "@jupyterlab/apputils";
import { IDefaultFileBrowser } from "@jupyterlab/filebrowser";
import { ILauncher } from "@jupyterlab/launcher";
import { ISettingRegistry } from "@jupyterlab/settingregistry";
import { IStatusBar } from "@jupyterlab/statusbar";
import { requestAPI, useServerSettings } from "./api";
import { ChartPanel } from "./chart_panel";
import { intervalFor } from "./intervals";
import { CATEGORY, CommandIDs } from "./commands";
import { pulseIcon } from "./icons";
import { chartable, pickInstrument } from "./instrument_search";
import { addReportCommands } from "./report_commands";
import { storyTime } from "./stories";
import { AlphaPulseSidebar } from "./sidebar";
import { StatusItem } from "./status_item";
import { StatusModel } from "./status_model";
import { StreamConnection } from "./stream";
import { listTemplates, newFromTemplate, newSqlFile } from "./templates";
import type { Instrument, NewsStory } from "./types";

export const PLUGIN_ID = "@alphapulse/lab:plugin";

export interface Settings {
  defaultVenue: string;
  chartTheme: "auto" | "light" | "dark";
  refreshMs: number;
  defaultInterval: string;
}

const DEFAULTS: Settings = { defaultVenue: "kraken", chartTheme: "auto", refreshMs: 1000, defaultInterval: "1s" };

interface ChartArgs {
  /** Names a panel across reloads (two panels on one instrument are two panels). */
  key?: string;
  instrument?: string;
  interval?: string;
  markerTime?: number;
  markerText?: string;
}

/** A command argument as text (Lab passes JSON values). */
function text(value: unknown, fallback = ""): string {
  return typeof value === "string" ? value : fallback;
}

async function instruments(): Promise<Instrument[]> {
  return chartable((await requestAPI<{ instruments: Instrument[] }>("instruments")).instruments);
}

export const mainPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: "AlphaPulse: the collectors' Monitor, instruments, news and live charts",
  autoStart: true,
  optional: [ILayoutRestorer, ILauncher, ICommandPalette, IStatusBar, ISettingRegistry, IDefaultFileBrowser],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    launcher: ILauncher | null,
    palette: ICommandPalette | null,
    statusBar: IStatusBar | null,
    settingRegistry: ISettingRegistry | null,
    browser: IDefaultFileBrowser | null,
  ) => {
    useServerSettings(app.serviceManager.serverSettings);
    const settings: Settings = { ...DEFAULTS };
    const model = new StatusModel(settings.refreshMs);
    const stream = new StreamConnection();
    const charts = new WidgetTracker<MainAreaWidget<ChartPanel>>({ namespace: "alphapulse-chart" });
    const { commands, shell } = app;

    const openChart = (instrument: string) => void commands.execute(CommandIDs.openChart, { instrument });
    const openStory = (story: NewsStory, symbol: string) =>
      void chartStory(story, symbol).catch((error: unknown) =>
        Notification.error(
          `The story's chart did not open: ${error instanceof Error ? error.message : String(error)}`,
          {
            autoClose: 5000,
          },
        ),
      );
    const sidebar = new AlphaPulseSidebar({ model, stream, openChart, openStory });
    shell.add(sidebar, "left", { rank: 600 });
    restorer?.add(sidebar, sidebar.id);

    let warned = false;
    model.changed.connect(() => {
      if (model.mismatch && !warned) {
        warned = true;
        Notification.warning(model.mismatch, { autoClose: false });
      }
    });

    async function chartStory(story: NewsStory, symbol: string): Promise<void> {
      const instrument = pickInstrument(await instruments(), symbol, settings.defaultVenue);
      if (instrument === null) {
        Notification.warning(`No collected instrument trades ${symbol || "this story's symbols"}.`, {
          autoClose: 5000,
        });
        return;
      }
      const timeS = storyTime(story) / 1000;
      const args: ChartArgs = {
        instrument: instrument.instrument,
        interval: intervalFor(Date.now() / 1000 - timeS),
        markerTime: timeS,
        markerText: story.headline.slice(0, 40),
      };
      await commands.execute(CommandIDs.openChart, args as never);
    }

    commands.addCommand(CommandIDs.openMonitor, {
      label: "Open the AlphaPulse Monitor",
      caption: "The collectors' health, with start and stop, and the events as they happen",
      icon: pulseIcon,
      execute: () => {
        shell.activateById(sidebar.id);
        sidebar.showMonitor();
      },
    });

    commands.addCommand(CommandIDs.openChart, {
      label: (args) => (args["instrument"] ? `Live chart: ${text(args["instrument"])}` : "Open a live chart"),
      caption: "Candles, depth and trades of an instrument, live",
      icon: pulseIcon,
      execute: async (raw) => {
        const args = raw as ChartArgs;
        const all = await instruments().catch(() => [] as Instrument[]);
        const instrument =
          args.instrument ?? (all.find((i) => i.venue === settings.defaultVenue) ?? all[0])?.instrument;
        if (instrument === undefined) {
          Notification.error("No instrument is being collected: is the collector running?", { autoClose: 5000 });
          return;
        }
        const panel = new ChartPanel(
          {
            key: args.key ?? `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`,
            instrument,
            interval: args.interval ?? settings.defaultInterval,
            theme: settings.chartTheme,
            instruments: all.map((i) => i.instrument),
            ...(args.markerTime !== undefined
              ? { marker: { time: args.markerTime, text: args.markerText ?? "" } }
              : {}),
          },
          stream,
        );
        const widget = new MainAreaWidget<ChartPanel>({ content: panel, toolbar: panel.toolbar });
        widget.id = `${panel.id}-area`;
        widget.title.icon = pulseIcon;
        widget.addClass("alphapulse-ChartWidget");
        panel.title.changed.connect(() => {
          widget.title.label = panel.title.label;
          void charts.save(widget);
        });
        widget.title.label = panel.title.label;
        await charts.add(widget);
        shell.add(widget, "main");
        shell.activateById(widget.id);
        return widget;
      },
    });

    commands.addCommand(CommandIDs.newSqlFile, {
      label: (args) => (args["isLauncher"] ? "AlphaPulse SQL" : "New AlphaPulse SQL file"),
      caption: "A .sql file over the lake: completion of tables and columns, Shift+Enter runs",
      icon: pulseIcon,
      execute: () => newSqlFile(app, browser?.model.path ?? ""),
    });

    commands.addCommand(CommandIDs.newFromTemplate, {
      label: (args) => text(args["title"], "New research notebook"),
      caption: (args) => text(args["description"], "A research notebook from AlphaPulse's templates"),
      icon: pulseIcon,
      execute: (args) => newFromTemplate(app, text(args["name"]), browser?.model.path ?? ""),
    });

    void restorer?.restore(charts, {
      command: CommandIDs.openChart,
      args: (w) => ({ key: w.content.key, instrument: w.content.instrument, interval: w.content.interval }),
      name: (w) => w.content.key,
    });

    addReportCommands(app, sidebar, palette, restorer);

    for (const command of [CommandIDs.openMonitor, CommandIDs.openChart, CommandIDs.newSqlFile]) {
      palette?.addItem({ command, category: CATEGORY });
    }
    if (launcher) {
      launcher.add({ command: CommandIDs.newSqlFile, category: CATEGORY, rank: 1, args: { isLauncher: true } });
      launcher.add({ command: CommandIDs.openMonitor, category: CATEGORY, rank: 2 });
      launcher.add({ command: CommandIDs.openChart, category: CATEGORY, rank: 3 });
    }
    void listTemplates()
      .then((templates) => {
        templates.forEach((t, rank) => {
          const args = { name: t.name, title: t.title, description: t.description };
          launcher?.add({ command: CommandIDs.newFromTemplate, category: CATEGORY, rank: 10 + rank, args });
          palette?.addItem({ command: CommandIDs.newFromTemplate, category: CATEGORY, args });
        });
      })
      .catch((error: unknown) => console.warn("AlphaPulse: no notebook templates:", error));

    if (statusBar) {
      const item = new StatusItem(model, () => void commands.execute(CommandIDs.openMonitor));
      statusBar.registerStatusItem("@alphapulse/lab:status", { item, align: "left", rank: 100 });
    }

    if (settingRegistry) {
      const apply = (loaded: ISettingRegistry.ISettings) => {
        Object.assign(settings, DEFAULTS, loaded.composite as Partial<Settings>);
        model.periodMs = settings.refreshMs;
        sidebar.reports.periodMs = settings.refreshMs;
        charts.forEach((widget) => widget.content.setTheme(settings.chartTheme));
      };
      void settingRegistry
        .load(PLUGIN_ID)
        .then((loaded) => {
          apply(loaded);
          loaded.changed.connect(apply);
        })
        .catch((error: unknown) => console.warn("AlphaPulse: settings not loaded:", error));
    }
  },
};
