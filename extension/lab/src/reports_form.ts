// The New schedule form: report, cron expression, parameters (JSON), time zone and what to
// do with runs missed while no scheduler ran. The fields are checked here first (a bad JSON
// is a message, not a request); the cron expression is the server's to judge, and its 400
// message is shown under the form as it says it.

import { element } from "./reports_rows";
import { type ScheduleRequest, scheduleRequest } from "./reports_model";
import type { ReportInfo } from "./types";

const ZONES_LIST = "alphapulse-reports-zones";

/** The zones this browser knows (a datalist's suggestions; any IANA name may be typed). */
function knownZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  const local = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return [...new Set(["UTC", local, ...(intl.supportedValuesOf?.("timeZone") ?? [])])];
}

function field(label: string, control: HTMLElement): HTMLLabelElement {
  const el = element("label", "alphapulse-Reports-field");
  el.append(element("span", "alphapulse-Reports-label", label), control);
  return el;
}

export class ScheduleForm {
  readonly node = element("form", "alphapulse-Reports-form");
  private readonly report = element("select", "jp-mod-styled alphapulse-Reports-formReport");
  private readonly cron = element("input", "jp-mod-styled alphapulse-Reports-formCron");
  private readonly params = element("textarea", "jp-mod-styled alphapulse-Reports-formParams");
  private readonly timezone = element("input", "jp-mod-styled alphapulse-Reports-formZone");
  private readonly missed = element("select", "jp-mod-styled alphapulse-Reports-formMissed");
  private readonly submit = element("button", "jp-Button jp-mod-styled jp-mod-accept jp-mod-small", "Create");
  private readonly message = element("div", "alphapulse-Reports-message alphapulse-error");
  private names = "";

  constructor(
    private readonly create: (request: ScheduleRequest) => Promise<void>,
    private readonly close: () => void,
  ) {
    this.node.hidden = true;
    this.node.setAttribute("aria-label", "New schedule");
    this.cron.placeholder = "0 7 * * *  (07:00 every day)";
    this.cron.spellcheck = false;
    this.params.placeholder = '{"venue": "kraken"}  (empty: the notebook\'s defaults)';
    this.params.rows = 2;
    this.params.spellcheck = false;
    this.timezone.value = "UTC";
    this.timezone.setAttribute("list", ZONES_LIST);
    const zones = element("datalist", "");
    zones.id = ZONES_LIST;
    zones.append(...knownZones().map((zone) => new Option(zone)));
    this.missed.append(new Option("skip them", "skip"), new Option("run once on start", "run_once"));
    this.submit.type = "submit";
    const cancel = element("button", "jp-Button jp-mod-styled jp-mod-reject jp-mod-small", "Cancel");
    cancel.type = "button";
    cancel.onclick = () => this.close();
    this.message.setAttribute("role", "alert");
    const buttons = element("div", "alphapulse-Reports-formButtons");
    buttons.append(this.submit, cancel);
    this.node.append(
      field("Report", this.report),
      field("Cron", this.cron),
      field("Parameters", this.params),
      field("Time zone", this.timezone),
      field("Missed runs", this.missed),
      zones,
      this.message,
      buttons,
    );
    this.node.onsubmit = (event) => {
      event.preventDefault();
      void this.send();
    };
  }

  /** Shows the form with the cron field focused (a report preselected if asked). */
  show(report?: string): void {
    this.node.hidden = false;
    if (report !== undefined) this.report.value = report;
    this.cron.focus();
  }

  /** The report choices, kept as they are while the list does not change. */
  setReports(reports: readonly ReportInfo[]): void {
    const names = reports.map((r) => r.name).join("\n");
    if (names === this.names) return;
    this.names = names;
    const chosen = this.report.value;
    this.report.replaceChildren(...reports.map((r) => new Option(`${r.name} — ${r.title}`, r.name)));
    if (reports.some((r) => r.name === chosen)) this.report.value = chosen;
  }

  /** A message above the buttons, scrolled into view (the form may be taller than the
   * section). */
  private say(text: string): void {
    this.message.textContent = text;
    this.message.scrollIntoView({ block: "nearest" });
  }

  private async send(): Promise<void> {
    const request = scheduleRequest({
      report: this.report.value,
      cron: this.cron.value,
      params: this.params.value,
      timezone: this.timezone.value,
      missed: this.missed.value,
    });
    if ("error" in request) {
      this.say(request.error);
      return;
    }
    this.submit.disabled = true;
    this.message.textContent = "";
    try {
      await this.create(request);
      this.cron.value = "";
      this.params.value = "";
      this.close();
    } catch (error) {
      this.say(error instanceof Error ? error.message : String(error));
    } finally {
      this.submit.disabled = false;
    }
  }
}
