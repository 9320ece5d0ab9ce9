// The results area's text: a cell, and the line above the grid. Pure, so tested in Node.

import type { QueryReply } from "./types";

/** A cell as text: JSON for lists and structs, "NULL" for null. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  return JSON.stringify(value);
}

/** "1,234 rows · 12 ms (server 8 ms)" and, when cut at the cap, that it was. */
export function summaryLine(reply: QueryReply, roundTripMs: number): string {
  const rows = `${reply.row_count.toLocaleString("en-US")} row${reply.row_count === 1 ? "" : "s"}`;
  const time = `${roundTripMs.toFixed(0)} ms (server ${reply.elapsed_ms.toFixed(1)} ms)`;
  const cut = reply.truncated ? ` · truncated at ${reply.rows.length.toLocaleString("en-US")} rows` : "";
  return `${rows} · ${time}${cut}`;
}
