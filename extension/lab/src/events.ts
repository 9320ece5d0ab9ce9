// The Monitor's events list: merging what each poll brings, and one line per event.

import type { EventRow } from "./types";

const MAX_EVENTS = 500;

/** The events panel's rows: the newest first, at most `max`, each seq once. */
export function mergeEvents(kept: readonly EventRow[], fresh: readonly EventRow[], max = MAX_EVENTS): EventRow[] {
  const seen = new Set(kept.map((e) => e.seq));
  const added = fresh.filter((e) => !seen.has(e.seq));
  return [...added.sort((a, b) => b.seq - a.seq), ...kept].slice(0, max);
}

/** One line for an event: what happened and, briefly, its detail. */
export function describeEvent(event: EventRow): string {
  const where = [event.venue, event.instrument].filter((x) => x && x !== "service").join(" ");
  const detail = event.detail ? briefDetail(event.detail) : "";
  return [event.kind.replace(/_/g, " "), where, detail].filter(Boolean).join(" · ");
}

function briefDetail(detail: Record<string, unknown>): string {
  const text = Object.entries(detail)
    .filter(([, v]) => typeof v !== "object" || v === null)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(" ");
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}
