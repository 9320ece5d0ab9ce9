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
