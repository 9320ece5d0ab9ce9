// What the Reports panel shows, computed without a DOM: the order of the runs, their
// durations, a schedule's next run in its own time zone, the parameters a researcher typed
// (checked before anything is sent), the iframe URL of a run's HTML, and the in-place
// update of a list's rows. Pure, so vitest pins it.

import { ago } from "./rates";
import type { ReportRun, RunStatus, Schedule } from "./types";

/** Poll periods: a run in flight is worth watching closely; an idle archive is not. */
export const ACTIVE_POLL_MS = 1000;
export const IDLE_POLL_MS = 5000;

const ACTIVE: ReadonlySet<RunStatus> = new Set(["queued", "running"]);

/** A run still waiting or running (it can be cancelled; its row changes soon). */
export function isActive(status: RunStatus): boolean {
  return ACTIVE.has(status);
}

/** "timed_out" → "timed out". */
export function statusLabel(status: RunStatus): string {
  return status.replace(/_/g, " ");
}

/** ISO 8601 → Unix ms (null for a missing or unreadable time). */
export function parseTime(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

/** Runs in flight on top (running, then queued), then the rest; newest first in each. The
 * run ids sort by time too (they start with their creation time), a tie-break for equal
 * timestamps. */
export function orderRuns(runs: readonly ReportRun[]): ReportRun[] {
  const rank = (run: ReportRun) => (run.status === "running" ? 0 : run.status === "queued" ? 1 : 2);
  const time = (run: ReportRun) => parseTime(run.created_at) ?? 0;
  return [...runs].sort((a, b) => rank(a) - rank(b) || time(b) - time(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** "0.8 s", "12 s", "3 min 05 s", "1 h 02 min"; "–" when unknown. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "–";
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
}

/** A run's duration: the server's figure once it ended, the time so far while it runs. */
export function runSeconds(run: ReportRun, nowMs: number = Date.now()): number | null {
  if (run.seconds !== null) return run.seconds;
  const started = parseTime(run.started_at);
  if (run.status === "running" && started !== null) return Math.max(0, (nowMs - started) / 1000);
  return null;
}

/** "in 45 s", "in 5 min", "in 3 h", "in 2 d"; "due now" once the time has come. */
export function until(timeMs: number, nowMs: number = Date.now()): string {
  const s = Math.round((timeMs - nowMs) / 1000);
  if (s <= 0) return "due now";
  if (s < 60) return `in ${s} s`;
  if (s < 3600) return `in ${Math.round(s / 60)} min`;
  if (s < 86_400) return `in ${Math.round(s / 3600)} h`;
  return `in ${Math.round(s / 86_400)} d`;
}

/** A moment as the schedule's zone reads it: "Tue 3 Dec 07:00 Europe/Paris" (UTC, said so,
 * if the zone is not one this browser knows). */
export function formatInZone(timeMs: number, timeZone: string, weekday = true): string {
  const options: Intl.DateTimeFormatOptions = {
    ...(weekday ? { weekday: "short" as const } : {}),
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  };
  let zone = timeZone;
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat("en-GB", { ...options, timeZone });
  } catch {
    zone = "UTC";
    format = new Intl.DateTimeFormat("en-GB", { ...options, timeZone: "UTC" });
  }
  return `${format.format(timeMs).replace(",", "")} ${zone}`;
}

/** A schedule's next run: "Tue 3 Dec 07:00 UTC (in 5 h)", or why there is none. */
export function nextRunText(schedule: Schedule, nowMs: number = Date.now()): string {
  if (!schedule.enabled) return "disabled";
  const next = parseTime(schedule.next_runs[0]);
  if (next === null) return "no next run";
  return `${formatInZone(next, schedule.timezone)} (${until(next, nowMs)})`;
}

/** "skip" → "missed runs: skipped"; "run_once" → "missed runs: run once". */
export function missedLabel(missed: string): string {
  return missed === "run_once" ? "missed runs: run once" : "missed runs: skipped";
}

/** When a run happened, in a few words: "3 min ago" (of its start, else its creation), and
 * "for 07:00 UTC" when a schedule fired it. */
export function runWhen(run: ReportRun, nowMs: number = Date.now()): string {
  const at = parseTime(run.started_at) ?? parseTime(run.created_at);
  const parts = [at === null ? "–" : ago(at, nowMs)];
  const tick = parseTime(run.scheduled_for);
  if (tick !== null) parts.push(`for ${formatInZone(tick, "UTC", false)}`);
  return parts.join(" ");
}

/** A run's tab title: "tiny · 3 Dec 16:02 UTC" (when it was asked for). */
export function runTitle(run: ReportRun): string {
  const at = parseTime(run.scheduled_for) ?? parseTime(run.created_at);
  return at === null ? `${run.report} · ${run.id}` : `${run.report} · ${formatInZone(at, "UTC", false)}`;
}

/** Parameters as one short line: "date=2026-12-01 venue=kraken". */
export function paramsText(params: Record<string, unknown>): string {
  return Object.entries(params)
    .map(([name, value]) => `${name}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
}

export type Parsed = { params: Record<string, unknown> } | { error: string };

/** A parameters field's text as a JSON object; empty text is no parameters. Anything else
 * is a one-line message and no request. */
export function parseParams(text: string): Parsed {
  const trimmed = text.trim();
  if (trimmed === "") return { params: {} };
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { error: `The parameters are not JSON (${reason}).` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { error: 'The parameters must be a JSON object of names and values, e.g. {"x": 2}.' };
  }
  return { params: value as Record<string, unknown> };
}

/** The parameters to send for a run: those that differ from the notebook's defaults. A
 * default the listing could not read (null: not a literal) is left to the notebook unless
 * the researcher gave it a value. */
export function changedParams(
  defaults: Record<string, unknown>,
  edited: Record<string, unknown>,
): Record<string, unknown> {
  const changed: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(edited)) {
    if (!(name in defaults) || JSON.stringify(defaults[name]) !== JSON.stringify(value)) changed[name] = value;
  }
  return changed;
}

export interface ScheduleRequest {
  report: string;
  cron: string;
  params: Record<string, unknown>;
  timezone: string;
  missed: string;
}

/** The New schedule form's fields as a request body, or what is wrong with them. The cron
 * expression itself is the server's to judge (its message is shown). */
export function scheduleRequest(fields: {
  report: string;
  cron: string;
  params: string;
  timezone: string;
  missed: string;
}): ScheduleRequest | { error: string } {
  if (!fields.report) return { error: "Choose a report." };
  const cron = fields.cron.trim().replace(/\s+/g, " ");
  if (!cron) return { error: "A cron expression is needed, e.g. 0 7 * * * (07:00 every day)." };
  const parsed = parseParams(fields.params);
  if ("error" in parsed) return parsed;
  return {
    report: fields.report,
    cron,
    params: parsed.params,
    timezone: fields.timezone.trim() || "UTC",
    missed: fields.missed,
  };
}

/** The poll period: quick while a run is queued or running, the settings' period (at least
 * IDLE_POLL_MS) otherwise. */
export function pollPeriod(runs: readonly ReportRun[], refreshMs: number): number {
  return runs.some((r) => isActive(r.status)) ? Math.min(refreshMs, ACTIVE_POLL_MS) : Math.max(refreshMs, IDLE_POLL_MS);
}

/** The URL an iframe loads a run's HTML from. The iframe cannot send Lab's token header:
 * the page's login cookie authenticates it, with the XSRF value Lab adds to its own
 * download URLs; a page that logged in by token alone passes it as Lab does for sockets. */
export function reportHtmlUrl(baseUrl: string, runId: string, token: string, cookie: string): string {
  const url = new URL(`alphapulse/api/reports/runs/${encodeURIComponent(runId)}/html`, baseUrl.replace(/\/?$/, "/"));
  const xsrf = /\b_xsrf=([^;]*)/.exec(cookie)?.[1];
  if (xsrf) url.searchParams.set("_xsrf", xsrf);
  if (token) url.searchParams.set("token", token);
  return url.toString();
}

/** What the panel says when the reports API fails: the app database's 503 by name. */
export function problemText(status: number, message: string): string {
  if (status === 503) return `The app database is unavailable: ${message}`;
  return message;
}

/** Updates a list's rows in place: a row per key is kept (so a click, the focus or an open
 * editor in it survives a poll), new items get a new row, rows of gone items are dropped.
 * Returns the rows in the items' order. */
export function reconcile<T, R>(
  rows: Map<string, R>,
  items: readonly T[],
  key: (item: T) => string,
  make: (item: T) => R,
  update: (row: R, item: T) => void,
  drop: (row: R) => void,
): R[] {
  const seen = new Set<string>();
  const ordered: R[] = [];
  for (const item of items) {
    const k = key(item);
    if (seen.has(k)) continue;
    seen.add(k);
    let row = rows.get(k);
    if (row === undefined) {
      row = make(item);
      rows.set(k, row);
    }
    update(row, item);
    ordered.push(row);
  }
  for (const [k, row] of rows) {
    if (!seen.has(k)) {
      drop(row);
      rows.delete(k);
    }
  }
  return ordered;
}

/** Whether `children` already are `wanted`, in order (then the DOM is left alone). */
export function sameOrder(children: ArrayLike<unknown>, wanted: readonly unknown[]): boolean {
  if (children.length !== wanted.length) return false;
  return wanted.every((node, i) => children[i] === node);
}
