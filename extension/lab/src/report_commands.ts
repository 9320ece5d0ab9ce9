// The Reports commands (palette, AlphaPulse menu): open the Reports section, run a report
// now, open a run's HTML in a main-area tab. The tab is an iframe with every sandbox
// restriction on (no scripts, an opaque origin): a report's HTML is the output of a
// notebook and runs nothing in Lab's page (the server also sends it with a CSP sandbox).
// Open report tabs are restored with Lab's layout.

import type { ILayoutRestorer, JupyterFrontEnd } from "@jupyterlab/application";
import {
  type ICommandPalette,
  InputDialog,
  MainAreaWidget,
  Notification,
  ToolbarButton,
  WidgetTracker,
} from "@jupyterlab/apputils";
import { IFrame, launchIcon } from "@jupyterlab/ui-components";
import { apiToken, requestAPI, serverBaseUrl } from "./api";
import { CATEGORY, CommandIDs } from "./commands";
import { pulseIcon } from "./icons";
import { reportHtmlUrl, runTitle } from "./reports_model";
import type { AlphaPulseSidebar } from "./sidebar";
import type { ReportRun, ReportsReply } from "./types";

/** A run's HTML in an iframe; the run id names it across reloads. */
export class ReportFrame extends IFrame {
  constructor(readonly run: ReportRun) {
    super({ sandbox: [] }); // [] = every restriction: no scripts, no same-origin access
    this.addClass("alphapulse-ReportFrame");
    let cookie = "";
    try {
      cookie = document.cookie;
    } catch {
      // a sandboxed page: no cookie to read
    }
    this.url = reportHtmlUrl(serverBaseUrl(), run.id, apiToken(), cookie);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function addReportCommands(
  app: JupyterFrontEnd,
  sidebar: AlphaPulseSidebar,
  palette: ICommandPalette | null,
  restorer: ILayoutRestorer | null,
): void {
  const { commands, shell } = app;
  const tracker = new WidgetTracker<MainAreaWidget<ReportFrame>>({ namespace: "alphapulse-report" });

  const showReports = () => {
    shell.activateById(sidebar.id);
    sidebar.showReports();
  };

  const openRun = (run: ReportRun): MainAreaWidget<ReportFrame> => {
    const id = `alphapulse-report-${run.id}`;
    const open = tracker.find((w) => w.id === id);
    if (open) {
      shell.activateById(open.id);
      return open;
    }
    const frame = new ReportFrame(run);
    const widget = new MainAreaWidget<ReportFrame>({ content: frame });
    widget.id = id;
    widget.addClass("alphapulse-ReportWidget");
    widget.title.label = runTitle(run);
    widget.title.caption = `Report ${run.report}, run ${run.id} (${run.status})`;
    widget.title.icon = pulseIcon;
    widget.title.closable = true;
    widget.toolbar.addItem(
      "open-in-browser",
      new ToolbarButton({
        icon: launchIcon,
        label: "Browser tab",
        tooltip: "Open this report in a browser tab (to print or save it)",
        onClick: () => window.open(frame.url, "_blank", "noopener,noreferrer"),
      }),
    );
    void tracker.add(widget);
    shell.add(widget, "main");
    shell.activateById(widget.id);
    return widget;
  };

  commands.addCommand(CommandIDs.openReports, {
    label: "Open AlphaPulse Reports",
    caption: "The report notebooks, their schedules and their last runs",
    icon: pulseIcon,
    execute: () => {
      showReports();
      void sidebar.reports.refreshNow(); // asked for: now, even if the poll is backing off
    },
  });

  commands.addCommand(CommandIDs.runReport, {
    label: (args) => (typeof args["report"] === "string" ? `Run report: ${args["report"]}` : "Run a report now…"),
    caption: "Run a report notebook with papermill now (its default parameters unless given)",
    icon: pulseIcon,
    execute: async (args) => {
      let report = typeof args["report"] === "string" ? args["report"] : null;
      try {
        if (report === null) {
          // The section's list, or the server's when the section has not polled yet.
          const known = sidebar.reports.reports;
          const reports = known.length > 0 ? known : (await requestAPI<ReportsReply>("reports")).reports;
          const items = reports.map((r) => r.name);
          const choice = await InputDialog.getItem({ title: "Run a report now", items });
          if (!choice.button.accept || !choice.value) return;
          report = choice.value;
        }
        showReports();
        const params = (args["params"] ?? {}) as Record<string, unknown>;
        return await sidebar.reports.runReport(report, params);
      } catch (error) {
        Notification.error(`Report ${report ?? ""} did not start: ${errorText(error)}`, { autoClose: 8000 });
      }
    },
  });

  commands.addCommand(CommandIDs.openReportRun, {
    label: (args) => (typeof args["id"] === "string" ? `Open report run ${args["id"]}` : "Open the last report run"),
    caption: "A report run's HTML in a tab",
    icon: pulseIcon,
    execute: async (args) => {
      let id = typeof args["id"] === "string" ? args["id"] : null;
      try {
        if (id === null) {
          const { runs } = await requestAPI<{ runs: ReportRun[] }>("reports/runs?limit=50");
          id = runs.find((r) => r.has_html)?.id ?? null;
          if (id === null) {
            Notification.info("No report run has HTML yet: run a report first.", { autoClose: 5000 });
            return;
          }
        }
        const run = await requestAPI<ReportRun>(`reports/runs/${encodeURIComponent(id)}`);
        if (!run.has_html) {
          Notification.warning(`Run ${id} of ${run.report} has no HTML (${run.status}).`, { autoClose: 6000 });
          return;
        }
        return openRun(run);
      } catch (error) {
        Notification.error(`Report run ${id ?? ""} did not open: ${errorText(error)}`, { autoClose: 8000 });
      }
    },
  });

  sidebar.reports.openRun = (run) => void commands.execute(CommandIDs.openReportRun, { id: run.id });

  void restorer?.restore(tracker, {
    command: CommandIDs.openReportRun,
    args: (w) => ({ id: w.content.run.id }),
    name: (w) => w.content.run.id,
  });
  for (const command of [CommandIDs.openReports, CommandIDs.runReport, CommandIDs.openReportRun]) {
    palette?.addItem({ command, category: CATEGORY });
  }
}
