// The server's answers, as the routes in alphapulse/server/handlers.py write them.

/** A collector's counters for one venue (the collector's status, per venue). */
export interface VenueStatus {
  venue: string;
  /** "running" or "stopped" (a venue the collector was told to stop). */
  state: string;
  frames: number;
  rejects: number;
  gaps: number;
  resyncs: number;
  checksums_failed: number;
  out_of_sync: string[];
  connected: number;
  connects: number;
  errors: number;
  auth_failed: number;
  refused: number;
}

export interface SupervisorEvent {
  ts: number;
  kind: string;
  [key: string]: unknown;
}

export interface SupervisorInfo {
  state: string;
  mode: string;
  pid: number | null;
  restarts: number;
  lake: string;
  simulated: boolean;
  events: SupervisorEvent[];
}

export interface CollectorStatus {
  pid: number;
  /** Unix seconds when the collector wrote this status. */
  ts: number;
  uptime_s: number;
  wire_to_book_p99_us: number | null;
  venues: Record<string, Omit<VenueStatus, "venue">>;
  problems: string[];
}

/** GET status */
export interface StatusReply {
  version: string;
  supervisor: SupervisorInfo;
  collector: CollectorStatus | null;
  error?: string;
}

/** One entry of GET instruments. */
export interface Instrument {
  instrument: string;
  venue: string;
  symbol: string;
  /** null for a connection that carries no market data of its own (news). */
  id: string | null;
  connection: string;
  synced: boolean | null;
}

/** One event of the audit log (GET events). */
export interface EventRow {
  seq: number;
  ts_ns: number;
  kind: string;
  venue: string | null;
  instrument: string | null;
  detail: Record<string, unknown> | null;
}

/** One story (GET news and the stream's news channel). */
export interface NewsStory {
  id: number;
  /** Unix milliseconds (GET news); the stream says `time`. */
  time_ms?: number;
  time?: number;
  headline: string;
  summary?: string;
  source?: string;
  url?: string;
  symbols: string[];
}

export interface QueryColumn {
  name: string;
  type: string;
}

/** POST query with format json. */
export interface QueryReply {
  columns: QueryColumn[];
  rows: unknown[][];
  row_count: number;
  truncated: boolean;
  elapsed_ms: number;
}

/** GET schema: what the query endpoint can read. */
export interface SchemaReply {
  tables: { name: string; columns: QueryColumn[] }[];
}

/** GET templates */
export interface TemplateInfo {
  name: string;
  title: string;
  description: string;
}

/** A report notebook (GET reports): its parameters cell's names and default values (null
 * where the default is not a literal). */
export interface ReportInfo {
  name: string;
  title: string;
  parameters: Record<string, unknown>;
}

export type MissedPolicy = "skip" | "run_once";

/** A cron schedule of a report; times are ISO 8601 UTC. */
export interface Schedule {
  id: number;
  report: string;
  cron: string;
  params: Record<string, unknown>;
  /** The IANA zone the cron expression is read in. */
  timezone: string;
  missed: MissedPolicy;
  timeout: number;
  enabled: boolean;
  created_at: string | null;
  last_fired_for: string | null;
  /** The next few ticks (UTC), soonest first. */
  next_runs: string[];
}

export interface SchedulerInfo {
  running: boolean;
  max_concurrent: number;
  active: number;
  error: string | null;
}

/** GET reports */
export interface ReportsReply {
  reports: ReportInfo[];
  schedules: Schedule[];
  scheduler: SchedulerInfo;
}

export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "timed_out" | "cancelled" | "skipped";

/** A report's run (GET reports/runs, newest first). */
export interface ReportRun {
  /** e.g. "20261201T070000Z-3f9a2c": sortable by time, unique. */
  id: string;
  report: string;
  params: Record<string, unknown>;
  schedule_id: number | null;
  /** The cron tick it ran for; null for a run started by hand. */
  scheduled_for: string | null;
  status: RunStatus;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  seconds: number | null;
  papermill_seconds: number | null;
  /** One line, for a run that failed, timed out or was cancelled. */
  error: string | null;
  has_html: boolean;
  traceback?: string | null;
}
