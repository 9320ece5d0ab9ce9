// The Reports panel's rows: a report (Run now, its parameters), a schedule (enable, delete)
// and a run (status chip, when, duration, its error; Open, Cancel). Each row is built once
// and then updated in place on every poll, so a button being clicked, the keyboard focus or
// the parameters being typed survive the refresh.

import { deleteIcon } from "@jupyterlab/ui-components";
import {
  changedParams,
  formatDuration,
  isActive,
  missedLabel,
  nextRunText,
  paramsText,
  parseParams,
  runSeconds,
  runWhen,
  statusLabel,
} from "./reports_model";
import type { ReportInfo, ReportRun, Schedule } from "./types";

/** What the rows ask the panel to do; a rejected promise's message is shown in the row. */
export interface ReportActions {
  run(report: string, params: Record<string, unknown>): Promise<void>;
  open(run: ReportRun): void;
  cancel(run: ReportRun): Promise<void>;
  /** The schedule as the server now has it. */
  setEnabled(schedule: Schedule, enabled: boolean): Promise<Schedule>;
  remove(schedule: Schedule): Promise<void>;
}

export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text = "",
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  el.className = className;
  el.textContent = text;
  return el;
}

export function button(label: string, title: string, onClick: () => void): HTMLButtonElement {
  const el = element("button", "jp-Button jp-mod-styled jp-mod-small alphapulse-Reports-button", label);
  el.type = "button";
  el.title = title;
  el.onclick = onClick;
  return el;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs `action` with `control` disabled, writing its failure (or "") into `message`; never
 * rejects. */
async function busy(control: HTMLButtonElement | HTMLInputElement, message: HTMLElement, action: () => Promise<void>) {
  control.disabled = true;
  message.textContent = "";
  try {
    await action();
  } catch (error) {
    message.textContent = messageOf(error);
  } finally {
    control.disabled = false;
  }
}

export class ReportRow {
  readonly node = element("li", "alphapulse-Reports-report");
  private readonly title = element("span", "alphapulse-Reports-title");
  private readonly name = element("span", "alphapulse-Reports-name");
  private readonly runButton: HTMLButtonElement;
  private readonly paramsButton: HTMLButtonElement;
  private readonly editor = element("div", "alphapulse-Reports-params");
  private readonly text = element("textarea", "jp-mod-styled alphapulse-Reports-paramsText");
  private readonly message = element("div", "alphapulse-Reports-message alphapulse-error");
  private report: ReportInfo;

  constructor(report: ReportInfo, actions: ReportActions) {
    this.report = report;
    this.node.dataset["report"] = report.name;
    this.runButton = button("Run now", "", () => void this.run(actions));
    this.paramsButton = button("{ }", "Edit this run's parameters (JSON)", () => this.toggleEditor());
    this.paramsButton.setAttribute("aria-label", "Parameters");
    this.paramsButton.setAttribute("aria-expanded", "false");
    this.runButton.classList.add("alphapulse-Reports-push");
    this.text.rows = 3;
    this.text.spellcheck = false;
    this.text.setAttribute("aria-label", `Parameters of ${report.name} (JSON)`);
    this.editor.hidden = true;
    this.editor.append(this.text);
    this.message.setAttribute("role", "alert");
    // The title on a line of its own (the sidebar is narrow), the name and buttons below it.
    const head = element("div", "alphapulse-Reports-head");
    head.append(this.name, this.runButton, this.paramsButton);
    this.node.append(this.title, head, this.editor, this.message);
  }

  update(report: ReportInfo): void {
    this.report = report;
    this.title.textContent = report.title;
    this.name.textContent = report.name;
    this.runButton.title = `Run ${report.name} now${this.editor.hidden ? " with its default parameters" : ""}`;
    this.paramsButton.hidden = Object.keys(report.parameters).length === 0;
  }

  private toggleEditor(): void {
    const open = this.editor.hidden;
    this.editor.hidden = !open;
    this.paramsButton.setAttribute("aria-expanded", String(open));
    if (open && !this.text.value) this.text.value = JSON.stringify(this.report.parameters, null, 1);
    if (open) this.text.focus();
    this.update(this.report);
  }

  private async run(actions: ReportActions): Promise<void> {
    let params: Record<string, unknown> = {};
    if (!this.editor.hidden) {
      const parsed = parseParams(this.text.value);
      if ("error" in parsed) {
        this.message.textContent = parsed.error;
        return;
      }
      params = changedParams(this.report.parameters, parsed.params);
    }
    await busy(this.runButton, this.message, () => actions.run(this.report.name, params));
  }
}

export class ScheduleRow {
  readonly node = element("li", "alphapulse-Reports-schedule");
  private readonly report = element("span", "alphapulse-Reports-name");
  private readonly cron = element("code", "alphapulse-Reports-cron");
  private readonly enabled = element("input", "alphapulse-Reports-enabled");
  private readonly deleteButton: HTMLButtonElement;
  private readonly next = element("div", "alphapulse-Reports-next");
  private readonly meta = element("div", "alphapulse-Reports-meta");
  private readonly message = element("div", "alphapulse-Reports-message alphapulse-error");
  private schedule: Schedule;

  constructor(schedule: Schedule, actions: ReportActions) {
    this.schedule = schedule;
    this.node.dataset["schedule"] = String(schedule.id);
    this.enabled.type = "checkbox";
    // The row shows the server's answer at once (not the old state until the next poll),
    // and goes back to what it was if the change failed.
    this.enabled.onchange = () => {
      const wanted = this.enabled.checked;
      void busy(this.enabled, this.message, async () => {
        this.update(await actions.setEnabled(this.schedule, wanted), Date.now());
      }).then(() => {
        this.enabled.checked = this.schedule.enabled;
      });
    };
    const toggle = element("label", "alphapulse-Reports-toggle alphapulse-Reports-push");
    toggle.append(this.enabled, " on");
    // An icon: the row's first line has the report, its cron and the toggle too.
    this.deleteButton = button(
      "",
      "",
      () => void busy(this.deleteButton, this.message, () => actions.remove(this.schedule)),
    );
    this.deleteButton.setAttribute("aria-label", "Delete");
    this.deleteButton.append(deleteIcon.element({ tag: "span", className: "alphapulse-Reports-icon" }));
    this.message.setAttribute("role", "alert");
    const head = element("div", "alphapulse-Reports-head");
    head.append(this.report, this.cron, toggle, this.deleteButton);
    this.node.append(head, this.next, this.meta, this.message);
  }

  update(schedule: Schedule, nowMs: number): void {
    this.schedule = schedule;
    this.node.dataset["enabled"] = String(schedule.enabled);
    this.report.textContent = schedule.report;
    this.cron.textContent = schedule.cron;
    if (!this.enabled.disabled) this.enabled.checked = schedule.enabled;
    this.enabled.title = `${schedule.enabled ? "Disable" : "Enable"} this schedule of ${schedule.report}`;
    this.deleteButton.title = `Delete this schedule of ${schedule.report} (its runs are kept)`;
    this.next.textContent = `next: ${nextRunText(schedule, nowMs)}`;
    const params = paramsText(schedule.params);
    this.meta.textContent = [schedule.timezone, missedLabel(schedule.missed), params].filter(Boolean).join(" · ");
  }
}

export class RunRow {
  readonly node = element("li", "alphapulse-Reports-run");
  private readonly chip = element("span", "alphapulse-Reports-chip");
  private readonly report = element("span", "alphapulse-Reports-name");
  private readonly duration = element("span", "alphapulse-Reports-duration alphapulse-Reports-push");
  private readonly openButton: HTMLButtonElement;
  private readonly cancelButton: HTMLButtonElement;
  private readonly meta = element("div", "alphapulse-Reports-meta");
  private readonly error = element("div", "alphapulse-Reports-runError alphapulse-error");
  private readonly message = element("div", "alphapulse-Reports-message alphapulse-error");
  private run: ReportRun;

  constructor(run: ReportRun, actions: ReportActions) {
    this.run = run;
    this.node.dataset["run"] = run.id;
    this.openButton = button("Open", "", () => actions.open(this.run));
    this.cancelButton = button(
      "Cancel",
      "",
      () => void busy(this.cancelButton, this.message, () => actions.cancel(this.run)),
    );
    this.message.setAttribute("role", "alert");
    const head = element("div", "alphapulse-Reports-head");
    head.append(this.chip, this.report, this.duration, this.openButton, this.cancelButton);
    this.node.append(head, this.meta, this.error, this.message);
  }

  update(run: ReportRun, nowMs: number): void {
    this.run = run;
    this.node.dataset["status"] = run.status;
    this.chip.textContent = statusLabel(run.status);
    this.chip.className = `alphapulse-Reports-chip alphapulse-run-${run.status}`;
    this.report.textContent = run.report;
    this.report.title = `run ${run.id}`;
    this.duration.textContent = formatDuration(runSeconds(run, nowMs));
    this.duration.title =
      run.papermill_seconds === null ? "duration" : `duration (papermill ${formatDuration(run.papermill_seconds)})`;
    this.openButton.hidden = !run.has_html;
    this.openButton.title = `Open the HTML of ${run.report}'s run ${run.id} in a tab`;
    this.cancelButton.hidden = !isActive(run.status);
    this.cancelButton.title = `Cancel ${run.report}'s run ${run.id}`;
    const params = paramsText(run.params);
    const trigger = run.schedule_id === null ? "by hand" : `schedule #${run.schedule_id}`;
    this.meta.textContent = [runWhen(run, nowMs), trigger, params].filter(Boolean).join(" · ");
    // "cancelled" under a cancelled chip says nothing more: only a reason is shown.
    const error = run.error === statusLabel(run.status) ? null : run.error;
    this.error.textContent = error ?? "";
    this.error.title = error ?? "";
    this.error.hidden = !error;
  }
}
