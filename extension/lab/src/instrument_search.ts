// Which instruments the panels offer and how a search or a news symbol finds one.

import type { Instrument } from "./types";

/** Each instrument once, market-data connections first (a news connection names the same
 * symbol without book or trades: it has no id). */
export function chartable(instruments: readonly Instrument[]): Instrument[] {
  const byName = new Map<string, Instrument>();
  for (const i of instruments) {
    const kept = byName.get(i.instrument);
    if (kept === undefined || (kept.id === null && i.id !== null)) byName.set(i.instrument, i);
  }
  return [...byName.values()].filter((i) => i.id !== null);
}

/** Instruments matching every word of `query` (venue, symbol or name; any case). */
export function searchInstruments(instruments: readonly Instrument[], query: string): Instrument[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  return instruments.filter((i) => {
    const text = `${i.instrument} ${i.venue} ${i.symbol} ${i.id ?? ""}`.toLowerCase();
    return words.every((w) => text.includes(w));
  });
}

/** The instrument a news symbol is charted on: the same symbol (ignoring "/", "-" and case),
 * on the default venue when it has it. null when nothing collected trades it. */
export function pickInstrument(instruments: readonly Instrument[], symbol: string, venue: string): Instrument | null {
  const plain = (s: string) => s.replace(/[^A-Za-z0-9]/g, "").toUpperCase();
  const wanted = plain(symbol);
  if (!wanted) return null;
  const matching = instruments.filter((i) => i.id !== null && plain(i.symbol) === wanted);
  return matching.find((i) => i.venue === venue) ?? matching[0] ?? null;
}
