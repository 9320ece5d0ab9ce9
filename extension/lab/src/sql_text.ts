// Pure functions over SQL text for the editor: the statement under the cursor, and the
// completions at a position from the lake's schema. No parser: DuckDB's dialect is large,
// and these need only to find words, quotes, comments and semicolons.

import type { SchemaReply } from "./types";

/** [start, end) of each statement: split at semicolons outside quotes and comments. */
export function statementRanges(text: string): [number, number][] {
  const ranges: [number, number][] = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === "'" || c === '"') {
      const close = text.indexOf(c, i + 1);
      i = close < 0 ? text.length : close + 1;
      // '' and "" inside a literal are escapes: the scan above lands on the second quote's
      // successor, which is right either way.
      continue;
    }
    if (c === "-" && next === "-") {
      const eol = text.indexOf("\n", i);
      i = eol < 0 ? text.length : eol + 1;
      continue;
    }
    if (c === "/" && next === "*") {
      const close = text.indexOf("*/", i + 2);
      i = close < 0 ? text.length : close + 2;
      continue;
    }
    if (c === ";") {
      ranges.push([start, i]);
      start = i + 1;
    }
    i += 1;
  }
  ranges.push([start, text.length]);
  return ranges;
}

/** Whether a piece of SQL has anything but whitespace and comments. */
export function hasCode(sql: string): boolean {
  return (
    sql
      .replace(/--[^\n]*/g, "")
      .replace(/\/\*[\s\S]*?(\*\/|$)/g, "")
      .trim().length > 0
  );
}

/** The statement to run for a cursor at `offset`: the one holding it, or when the cursor sits
 * after a statement's semicolon on an empty line, the nearest one before with code. */
export function statementAt(text: string, offset: number): string {
  const ranges = statementRanges(text);
  let index = ranges.findIndex(([s, e]) => offset >= s && offset <= e);
  if (index < 0) index = ranges.length - 1;
  for (let i = index; i >= 0; i -= 1) {
    const [s, e] = ranges[i] as [number, number];
    const sql = text.slice(s, e);
    if (hasCode(sql)) return sql.trim();
  }
  for (const [s, e] of ranges.slice(index + 1)) {
    const sql = text.slice(s, e);
    if (hasCode(sql)) return sql.trim();
  }
  return "";
}

export const SQL_KEYWORDS = [
  "SELECT",
  "FROM",
  "WHERE",
  "GROUP BY",
  "ORDER BY",
  "HAVING",
  "LIMIT",
  "OFFSET",
  "JOIN",
  "LEFT JOIN",
  "INNER JOIN",
  "ON",
  "USING",
  "AS",
  "AND",
  "OR",
  "NOT",
  "IN",
  "IS NULL",
  "IS NOT NULL",
  "BETWEEN",
  "LIKE",
  "ILIKE",
  "CASE",
  "WHEN",
  "THEN",
  "ELSE",
  "END",
  "DISTINCT",
  "WITH",
  "UNION ALL",
  "QUALIFY",
  "WINDOW",
  "OVER",
  "PARTITION BY",
  "ASOF JOIN",
  "DESC",
  "ASC",
  "count",
  "sum",
  "avg",
  "min",
  "max",
  "first",
  "last",
  "arg_min",
  "arg_max",
  "quantile_cont",
  "stddev",
  "time_bucket",
  "date_trunc",
  "epoch_ms",
  "now",
  "interval",
];

export interface Completion {
  label: string;
  type: "table" | "column" | "keyword";
  detail?: string;
}

export interface CompletionReply {
  start: number;
  end: number;
  items: Completion[];
}

/** Tables named after FROM/JOIN in the text, with their aliases: alias or name → table. */
export function tableAliases(text: string, tables: ReadonlySet<string>): Map<string, string> {
  const aliases = new Map<string, string>();
  const re = /\b(?:from|join)\s+("?)([A-Za-z_][\w]*)\1(?:\s+(?:as\s+)?([A-Za-z_]\w*))?/gi;
  const notAlias =
    /^(where|on|using|join|left|right|inner|outer|full|cross|asof|group|order|limit|having|qualify|window|union|natural|positional)$/i;
  for (const m of text.matchAll(re)) {
    const table = (m[2] ?? "").toLowerCase();
    if (!tables.has(table)) continue;
    aliases.set(table, table);
    const alias = m[3];
    if (alias && !notAlias.test(alias)) aliases.set(alias.toLowerCase(), table);
  }
  return aliases;
}

/** What completes the word before `offset`: after `x.`, the columns of table (or alias) x;
 * otherwise tables, the columns of the tables the statement reads (all columns when it reads
 * none yet), and keywords, each matching the word's beginning (any case). */
export function complete(schema: SchemaReply, text: string, offset: number): CompletionReply {
  const before = text.slice(0, offset);
  const word = /[A-Za-z_][\w]*$/.exec(before)?.[0] ?? "";
  const start = offset - word.length;
  const prefix = word.toLowerCase();
  const matches = (label: string): boolean => label.toLowerCase().startsWith(prefix);
  const columns = new Map(schema.tables.map((t) => [t.name.toLowerCase(), t.columns]));
  const aliases = tableAliases(statementAt(text, offset), new Set(columns.keys()));

  const qualifier = /([A-Za-z_]\w*)\.$/.exec(before.slice(0, start))?.[1];
  if (qualifier !== undefined) {
    const table = aliases.get(qualifier.toLowerCase()) ?? qualifier.toLowerCase();
    const items = (columns.get(table) ?? [])
      .filter((c) => matches(c.name))
      .map((c): Completion => ({ label: c.name, type: "column", detail: c.type }));
    return { start, end: offset, items };
  }

  // Right after FROM or JOIN only a table can come.
  if (/\b(?:from|join)\s+$/i.test(before.slice(0, start))) {
    const items = schema.tables
      .filter((t) => matches(t.name))
      .map((t): Completion => ({ label: t.name, type: "table", detail: `${t.columns.length} columns` }));
    return { start, end: offset, items };
  }

  const read = [...new Set(aliases.values())];
  const columnSource = read.length > 0 ? read : [...columns.keys()];
  const seen = new Set<string>();
  const items: Completion[] = [];
  for (const t of schema.tables) {
    if (matches(t.name)) items.push({ label: t.name, type: "table", detail: `${t.columns.length} columns` });
  }
  for (const table of columnSource) {
    for (const c of columns.get(table) ?? []) {
      if (!matches(c.name) || seen.has(c.name)) continue;
      seen.add(c.name);
      items.push({ label: c.name, type: "column", detail: `${c.type} (${table})` });
    }
  }
  if (prefix) {
    for (const k of SQL_KEYWORDS) if (matches(k)) items.push({ label: k, type: "keyword" });
  }
  return { start, end: offset, items };
}

/** The query as a notebook cell for the %%duckdb magic. */
export function duckdbCell(sql: string): string {
  return `%%duckdb\n${sql.trim()}`;
}
