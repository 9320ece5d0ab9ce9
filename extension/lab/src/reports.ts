// Reports: the report notebooks with Run now, the cron schedules (enable, delete, New
// schedule) and the last runs with their status, each openable as HTML in a Lab tab. One
// poll of GET reports and GET reports/runs, quick while a run is queued or running, idle
// while the section is collapsed or the page hidden; rows are updated in place.

import { Dialog, Notification, showDialog } from "@jupyterlab/apputils";
import { Poll } from "@lumino/polling";
import { Widget } from "@lumino/widgets";
import { ApiError, postAPI, requestAPI } from "./api";
import { ScheduleForm } from "./reports_form";
import {
  IDLE_POLL_MS,
  type ScheduleRequest,
  isActive,
  orderRuns,
  pollPeriod,
  problemText,
  reconcile,
  sameOrder,
  statusLabel,
} from "./reports_model";
import { type ReportActions, ReportRow, RunRow, ScheduleRow, button, element } from "./reports_rows";
import type { ReportInfo, ReportRun, ReportsReply, Schedule, SchedulerInfo } from "./types";

/** How many of the newest runs the panel lists. */
export const RUNS_SHOWN = 20;

export class ReportsPanel extends Widget {
  reports: ReportInfo[] = [];
  schedules: Schedule[] = [];
  runs: ReportRun[] = [];
  private readonly banner = element("div", "alphapulse-banner");
  private readonly scheduler = element("div", "alphapulse-Reports-scheduler");
  private readonly reportList = element("ul", "alphapulse-Reports-list alphapulse-Reports-reports");
  private readonly scheduleList = element("ul", "alphapulse-Reports-list alphapulse-Reports-schedules");
  private readonly runList = element("ul", "alphapulse-Reports-list alphapulse-Reports-runs");
  private readonly noReports = element("div", "alphapulse-message");
  private readonly noSchedules = element("div", "alphapulse-message", "No schedules.");
  private readonly noRuns = element("div", "alphapulse-message", "No runs yet.");
  private readonly form: ScheduleForm;
  private readonly newButton: HTMLButtonElement;
  private readonly reportRows = new Map<string, ReportRow>();
  private readonly scheduleRows = new Map<string, ScheduleRow>();
  private readonly runRows = new Map<string, RunRow>();
  /** Runs started from this page: their end is notified. */
  private readonly watched = new Set<string>();
  private readonly poll: Poll;
  private readonly actions: ReportActions;
  private refreshMs = IDLE_POLL_MS;
  /** A run just started here: its row is scrolled into view once it is listed. */
  private reveal: string | null = null;

  /** Opens a run's HTML (set by the plugin, which owns the main area). */
  openRun: (run: ReportRun) => void = () => undefined;

  constructor() {
    super();
    this.addClass("alphapulse-Reports");
    this.id = "alphapulse-reports";
    this.title.label = "Reports";
    this.banner.hidden = true;
    // Until a poll has answered, an empty list is not "none".
    for (const empty of [this.noReports, this.noSchedules, this.noRuns]) empty.hidden = true;
    this.actions = {
      run: (report, params) => this.runReport(report, params).then(() => undefined),
      open: (run) => this.openRun(run),
      cancel: (run) => this.cancel(run),
      setEnabled: (schedule, enabled) => this.setEnabled(schedule, enabled),
      remove: (schedule) => this.remove(schedule),
    };
    this.form = new ScheduleForm(
      (request) => this.createSchedule(request),
      () => this.closeForm(),
    );
    this.newButton = button("New schedule", "Run a report on a cron schedule", () => this.openForm());
    this.newButton.setAttribute("aria-expanded", "false");
    const schedulesHead = element("h3", "alphapulse-Reports-section", "Schedules");
    schedulesHead.append(this.newButton);
    this.node.append(
      this.banner,
      element("h3", "alphapulse-Reports-section", "Notebooks"),
      this.noReports,
      this.reportList,
      schedulesHead,
      this.form.node,
      this.noSchedules,
      this.scheduleList,
      element("h3", "alphapulse-Reports-section", "Last runs"),
      this.scheduler,
      this.noRuns,
      this.runList,
    );
    this.poll = new Poll({
      auto: true,
      factory: () => this.refresh(),
      frequency: { interval: IDLE_POLL_MS, backoff: true, max: 60_000 },
      name: "alphapulse:reports",
      // Nothing is asked of the app database while nobody looks at the section.
      standby: () => document.hidden || !this.isVisible,
    });
  }

  override dispose(): void {
    if (this.isDisposed) return;
    this.poll.dispose();
    super.dispose();
  }

  /** The settings' update period (the idle poll is never quicker than IDLE_POLL_MS). */
  set periodMs(value: number) {
    this.refreshMs = value;
    this.retime();
  }

  /** Polls now (after an action, so that the panel shows its effect at once). */
  refreshNow(): Promise<void> {
    return this.poll.refresh();
  }

  protected override onAfterShow(): void {
    void this.poll.refresh();
  }

  openForm(report?: string): void {
    this.form.show(report);
    this.newButton.setAttribute("aria-expanded", "true");
  }

  private closeForm(): void {
    this.form.node.hidden = true;
    this.newButton.setAttribute("aria-expanded", "false");
  }

  /** Queues a run of `report` (its notebook's defaults for the parameters not given). */
  async runReport(report: string, params: Record<string, unknown> = {}): Promise<ReportRun> {
    const run = await postAPI<ReportRun>("reports/runs", { report, params });
    this.watched.add(run.id);
    this.reveal = run.id;
    await this.refreshNow();
    return run;
  }

  private async cancel(run: ReportRun): Promise<void> {
    await postAPI<ReportRun>(`reports/runs/${encodeURIComponent(run.id)}/cancel`);
    await this.refreshNow();
  }

  private async setEnabled(schedule: Schedule, enabled: boolean): Promise<Schedule> {
    const updated = await requestAPI<Schedule>(`reports/schedules/${schedule.id}`, {
      method: "PATCH",
      body: JSON.stringify({ enabled }),
    });
    await this.refreshNow();
    return updated;
  }

  private async remove(schedule: Schedule): Promise<void> {
    const answer = await showDialog({
      title: "Delete this schedule?",
      body: `${schedule.report} at "${schedule.cron}" (${schedule.timezone}). Its past runs are kept.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: "Delete" })],
    });
    if (!answer.button.accept) return;
    await requestAPI<string>(`reports/schedules/${schedule.id}`, { method: "DELETE" }, "text");
    await this.refreshNow();
  }

  private async createSchedule(request: ScheduleRequest): Promise<void> {
    await postAPI<Schedule>("reports/schedules", request);
    await this.refreshNow();
  }

  private async refresh(): Promise<void> {
    let reply: ReportsReply;
    let runs: ReportRun[];
    try {
      [reply, { runs }] = await Promise.all([
        requestAPI<ReportsReply>("reports"),
        requestAPI<{ runs: ReportRun[] }>(`reports/runs?limit=${RUNS_SHOWN}`),
      ]);
    } catch (error) {
      const status = error instanceof ApiError ? error.status : 0;
      this.banner.textContent = problemText(status, error instanceof Error ? error.message : String(error));
      this.banner.hidden = false;
      throw error; // the poll backs off
    }
    this.banner.hidden = true;
    this.reports = reply.reports;
    this.schedules = reply.schedules;
    this.notifyEnded(runs);
    this.runs = orderRuns(runs);
    this.render(reply.scheduler);
    this.retime();
  }

  private retime(): void {
    const interval = pollPeriod(this.runs, this.refreshMs);
    this.poll.frequency = { ...this.poll.frequency, interval };
  }

  /** A run started here that has ended is notified, with an Open action. */
  private notifyEnded(runs: readonly ReportRun[]): void {
    for (const run of runs) {
      if (!this.watched.has(run.id) || isActive(run.status)) continue;
      this.watched.delete(run.id);
      const text = `Report ${run.report}: ${statusLabel(run.status)}${run.error ? ` (${run.error})` : ""}`;
      const actions = run.has_html ? [{ label: "Open", callback: () => this.actions.open(run) }] : [];
      const options = { autoClose: 6000, actions };
      if (run.status === "succeeded") Notification.success(text, options);
      else Notification.warning(text, options);
    }
  }

  private render(scheduler: SchedulerInfo): void {
    const now = Date.now();
    const reports = reconcile(
      this.reportRows,
      this.reports,
      (r) => r.name,
      (r) => new ReportRow(r, this.actions),
      (row, r) => row.update(r),
      (row) => row.node.remove(),
    );
    this.place(this.reportList, reports);
    this.noReports.textContent =
      this.reports.length === 0
        ? "No report notebooks: put notebooks with a cell tagged parameters in $ALPHAPULSE_REPORTS."
        : "";
    this.noReports.hidden = this.reports.length > 0;
    this.form.setReports(this.reports);

    const schedules = reconcile(
      this.scheduleRows,
      this.schedules,
      (s) => String(s.id),
      (s) => new ScheduleRow(s, this.actions),
      (row, s) => row.update(s, now),
      (row) => row.node.remove(),
    );
    this.place(this.scheduleList, schedules);
    this.noSchedules.hidden = this.schedules.length > 0;

    const runs = reconcile(
      this.runRows,
      this.runs,
      (r) => r.id,
      (r) => new RunRow(r, this.actions),
      (row, r) => row.update(r, now),
      (row) => row.node.remove(),
    );
    this.place(this.runList, runs);
    this.noRuns.hidden = this.runs.length > 0;
    const revealed = this.reveal === null ? undefined : this.runRows.get(this.reveal);
    if (revealed !== undefined) {
      this.reveal = null;
      revealed.node.scrollIntoView({ block: "nearest" });
    }
    this.scheduler.textContent = scheduler.error
      ? `scheduler: ${scheduler.error}`
      : scheduler.running
        ? `scheduler running · ${scheduler.active} of ${scheduler.max_concurrent} at a time`
        : "scheduler not running: no run starts until it does";
    this.scheduler.classList.toggle("alphapulse-error", scheduler.error !== null || !scheduler.running);
  }

  private place(list: HTMLElement, rows: readonly { node: HTMLElement }[]): void {
    const nodes = rows.map((row) => row.node);
    if (!sameOrder(list.children, nodes)) list.replaceChildren(...nodes);
  }
}
