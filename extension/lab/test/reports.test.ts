import { describe, expect, it } from "vitest";
import {
  changedParams,
  formatDuration,
  formatInZone,
  isActive,
  nextRunText,
  orderRuns,
  paramsText,
  parseParams,
  pollPeriod,
  problemText,
  reconcile,
  reportHtmlUrl,
  runSeconds,
  runTitle,
  runWhen,
  sameOrder,
  scheduleRequest,
  statusLabel,
  until,
} from "../src/reports_model";
import type { ReportRun, RunStatus, Schedule } from "../src/types";

const run = (id: string, status: RunStatus, created: string, more: Partial<ReportRun> = {}): ReportRun => ({
  id,
  report: "tiny",
  params: {},
  schedule_id: null,
  scheduled_for: null,
  status,
  created_at: created,
  started_at: null,
  finished_at: null,
  seconds: null,
  papermill_seconds: null,
  error: null,
  has_html: false,
  ...more,
});

const schedule = (more: Partial<Schedule> = {}): Schedule => ({
  id: 1,
  report: "tiny",
  cron: "0 7 * * *",
  params: {},
  timezone: "UTC",
  missed: "skip",
  timeout: 3600,
  enabled: true,
  created_at: "2026-12-01T00:00:00+00:00",
  last_fired_for: null,
  next_runs: ["2026-12-03T07:00:00+00:00"],
  ...more,
});

const NOW = Date.parse("2026-12-03T05:00:00Z");

describe("runs", () => {
  it("puts runs in flight on top, running before queued, newest first in each group", () => {
    const runs = [
      run("a", "succeeded", "2026-12-03T04:00:00Z"),
      run("b", "queued", "2026-12-03T03:00:00Z"),
      run("c", "failed", "2026-12-03T04:30:00Z"),
      run("d", "running", "2026-12-03T02:00:00Z"),
      run("e", "queued", "2026-12-03T03:30:00Z"),
      run("f2", "skipped", "2026-12-03T01:00:00Z"),
      run("f1", "cancelled", "2026-12-03T01:00:00Z"),
    ];
    expect(orderRuns(runs).map((r) => r.id)).toEqual(["d", "e", "b", "c", "a", "f2", "f1"]);
    expect(runs[0]?.id).toBe("a"); // the input is left as it was
  });

  it("knows which states are still to change", () => {
    expect(["queued", "running"].every((s) => isActive(s as RunStatus))).toBe(true);
    const ended: RunStatus[] = ["succeeded", "failed", "timed_out", "cancelled", "skipped"];
    expect(ended.some(isActive)).toBe(false);
    expect(statusLabel("timed_out")).toBe("timed out");
  });

  it("formats durations for a narrow column", () => {
    expect(formatDuration(null)).toBe("–");
    expect(formatDuration(Number.NaN)).toBe("–");
    expect(formatDuration(0.84)).toBe("0.8 s");
    expect(formatDuration(12.4)).toBe("12 s");
    expect(formatDuration(185)).toBe("3 min 05 s");
    expect(formatDuration(3725)).toBe("1 h 02 min");
  });

  it("counts a running run's time so far, and takes the server's figure once it ended", () => {
    const started = "2026-12-03T04:59:30Z";
    expect(runSeconds(run("a", "running", started, { started_at: started }), NOW)).toBe(30);
    expect(runSeconds(run("a", "succeeded", started, { started_at: started, seconds: 4.5 }), NOW)).toBe(4.5);
    expect(runSeconds(run("a", "queued", started), NOW)).toBeNull();
  });

  it("says when a run started and for which tick a schedule fired it", () => {
    const byHand = run("a", "running", "2026-12-03T04:57:00Z", { started_at: "2026-12-03T04:58:00Z" });
    expect(runWhen(byHand, NOW)).toBe("2 min ago");
    const fired = run("b", "succeeded", "2026-12-03T04:00:02Z", { scheduled_for: "2026-12-03T04:00:00Z" });
    expect(runWhen(fired, NOW)).toBe("59 min ago for 3 Dec 04:00 UTC");
    expect(paramsText({ date: "2026-12-01", n: 3, on: true })).toBe("date=2026-12-01 n=3 on=true");
  });

  it("titles a run's tab by its report and when it was asked for", () => {
    expect(runTitle(run("20261203T160211Z-fce1", "succeeded", "2026-12-03T16:02:11Z"))).toBe("tiny · 3 Dec 16:02 UTC");
    const fired = run("x", "succeeded", "2026-12-03T07:00:03Z", { scheduled_for: "2026-12-03T06:59:59Z" });
    expect(runTitle(fired)).toBe("tiny · 3 Dec 06:59 UTC");
  });
});

describe("schedules", () => {
  it("shows the next run in the schedule's zone, with how long until it", () => {
    expect(nextRunText(schedule(), NOW)).toBe("Thu 3 Dec 07:00 UTC (in 2 h)");
    const paris = schedule({ timezone: "Europe/Paris", next_runs: ["2026-12-03T06:00:00+00:00"] });
    expect(nextRunText(paris, NOW)).toBe("Thu 3 Dec 07:00 Europe/Paris (in 1 h)");
  });

  it("says disabled, none, due, and falls back to UTC for a zone it does not know", () => {
    expect(nextRunText(schedule({ enabled: false }), NOW)).toBe("disabled");
    expect(nextRunText(schedule({ next_runs: [] }), NOW)).toBe("no next run");
    expect(until(NOW - 1000, NOW)).toBe("due now");
    expect(until(NOW + 42_000, NOW)).toBe("in 42 s");
    expect(until(NOW + 3 * 86_400_000, NOW)).toBe("in 3 d");
    expect(formatInZone(NOW, "Mars/Olympus")).toBe("Thu 3 Dec 05:00 UTC");
  });

  it("checks the New schedule form before sending it", () => {
    const fields = { report: "tiny", cron: " 0  7 * * * ", params: "", timezone: " ", missed: "run_once" };
    expect(scheduleRequest(fields)).toEqual({
      report: "tiny",
      cron: "0 7 * * *",
      params: {},
      timezone: "UTC",
      missed: "run_once",
    });
    expect(scheduleRequest({ ...fields, report: "" })).toEqual({ error: "Choose a report." });
    expect(scheduleRequest({ ...fields, cron: "  " })).toHaveProperty("error", expect.stringMatching(/cron/));
    expect(scheduleRequest({ ...fields, params: "{x: 1}" })).toHaveProperty(
      "error",
      expect.stringMatching(/^The parameters are not JSON/),
    );
  });
});

describe("parameters", () => {
  it("takes a JSON object, or nothing", () => {
    expect(parseParams("")).toEqual({ params: {} });
    expect(parseParams('  {"x": 2, "venue": "kraken"} ')).toEqual({ params: { x: 2, venue: "kraken" } });
  });

  it("refuses anything else with one line", () => {
    for (const text of ["{'x': 2}", '{"x": 2', "x=2"]) {
      const parsed = parseParams(text);
      expect(parsed).toHaveProperty("error", expect.stringMatching(/^The parameters are not JSON \(.+\)\.$/));
      expect("error" in parsed && parsed.error.includes("\n")).toBe(false);
    }
    for (const text of ["[1, 2]", "null", "3", '"x"']) {
      expect(parseParams(text)).toHaveProperty("error", expect.stringMatching(/must be a JSON object/));
    }
  });

  it("sends only what differs from the notebook's defaults", () => {
    const defaults = { x: 1, date: null, venue: "kraken", opts: { a: 1 } };
    expect(changedParams(defaults, { ...defaults })).toEqual({});
    expect(changedParams(defaults, { ...defaults, x: 2, opts: { a: 2 } })).toEqual({ x: 2, opts: { a: 2 } });
    expect(changedParams(defaults, { ...defaults, date: "2026-12-01", extra: 1 })).toEqual({
      date: "2026-12-01",
      extra: 1,
    });
  });
});

describe("polling", () => {
  it("is quick while a run is in flight and never quicker than 5 s otherwise", () => {
    const done = [run("a", "succeeded", "2026-12-03T04:00:00Z")];
    expect(pollPeriod(done, 1000)).toBe(5000);
    expect(pollPeriod(done, 20_000)).toBe(20_000);
    expect(pollPeriod([...done, run("b", "queued", "2026-12-03T04:00:00Z")], 1000)).toBe(1000);
    expect(pollPeriod([run("b", "running", "2026-12-03T04:00:00Z")], 20_000)).toBe(1000);
    expect(pollPeriod([run("b", "running", "2026-12-03T04:00:00Z")], 250)).toBe(250);
  });

  it("names the app database when it is the problem", () => {
    expect(problemText(503, "cannot reach PostgreSQL at db:5432")).toBe(
      "The app database is unavailable: cannot reach PostgreSQL at db:5432",
    );
    expect(problemText(404, "the AlphaPulse server extension is not running")).toBe(
      "the AlphaPulse server extension is not running",
    );
  });
});

describe("the HTML's URL", () => {
  it("is the run's html route under the server's base URL, with Lab's XSRF value or token", () => {
    expect(reportHtmlUrl("http://h:8888/lab-base/", "20261203T070000Z-3f9a", "", "a=1; _xsrf=2|ab|cd; b=2")).toBe(
      "http://h:8888/lab-base/alphapulse/api/reports/runs/20261203T070000Z-3f9a/html?_xsrf=2%7Cab%7Ccd",
    );
    expect(reportHtmlUrl("http://h:8888", "a/b", "tok", "")).toBe(
      "http://h:8888/alphapulse/api/reports/runs/a%2Fb/html?token=tok",
    );
  });
});

describe("rows updated in place", () => {
  interface Row {
    key: string;
    value: number;
    dropped: boolean;
  }
  const items = (...pairs: [string, number][]) => pairs.map(([key, value]) => ({ key, value }));
  const apply = (rows: Map<string, Row>, list: { key: string; value: number }[], made: string[]) =>
    reconcile<{ key: string; value: number }, Row>(
      rows,
      list,
      (i) => i.key,
      (i) => {
        made.push(i.key);
        return { key: i.key, value: 0, dropped: false };
      },
      (row, i) => {
        row.value = i.value;
      },
      (row) => {
        row.dropped = true;
      },
    );

  it("keeps a row per key, makes new ones, drops gone ones, in the items' order", () => {
    const rows = new Map<string, Row>();
    const made: string[] = [];
    const first = apply(rows, items(["a", 1], ["b", 2], ["c", 3]), made);
    const [a, b, c] = first;
    const second = apply(rows, items(["d", 4], ["a", 10], ["c", 30], ["a", 99]), made);
    expect(made).toEqual(["a", "b", "c", "d"]);
    expect(second.map((r) => r.key)).toEqual(["d", "a", "c"]);
    expect(second[1]).toBe(a); // the same row, updated
    expect(second[2]).toBe(c);
    expect(a?.value).toBe(10); // the first of a repeated key wins
    expect(b?.dropped).toBe(true);
    expect([...rows.keys()].sort()).toEqual(["a", "c", "d"]);
  });

  it("leaves the DOM alone when the order is the same", () => {
    const x = {};
    const y = {};
    expect(sameOrder([x, y], [x, y])).toBe(true);
    expect(sameOrder([y, x], [x, y])).toBe(false);
    expect(sameOrder([x], [x, y])).toBe(false);
  });
});
