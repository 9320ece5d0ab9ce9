// Pure functions over SQL text for the editor: the statement under the cursor, and the
// completions at a position from the lake's schema. No parser: DuckDB's dialect is large,
// and these need only to find words, quotes, comments and semicolons.

import type { SchemaReply } from "./types";

/** Where the literal, quoted identifier or comment starting at `i` ends (the index after
 * it; past the end of the text when it is not closed), or -1 when none starts there.
 * DuckDB's: '...' and "..." (a doubled quote inside is an escape, which the scan handles as
 * two adjacent literals), $$...$$ and $tag$...$tag$, -- to the end of the line, and
 * /* ... *\/ (nested, as in PostgreSQL). */
function skipQuoted(text: string, i: number): number {
  const open = text.length + 1;
  const c = text[i];
  if (c === "'" || c === '"') {
    const close = text.indexOf(c, i + 1);
    return close < 0 ? open : close + 1;
  }
  if (c === "$") {
    const tag = /^\$(?:[A-Za-z_]\w*)?\$/.exec(text.slice(i, i + 64))?.[0];
    if (tag === undefined) return -1;
    const close = text.indexOf(tag, i + tag.length);
    return close < 0 ? open : close + tag.length;
  }
  if (c === "-" && text[i + 1] === "-") {
    const eol = text.indexOf("\n", i);
    return eol < 0 ? open : eol + 1;
  }
  if (c === "/" && text[i + 1] === "*") {
    let depth = 0;
    for (let j = i; j < text.length - 1; j += 1) {
      if (text[j] === "/" && text[j + 1] === "*") {
        depth += 1;
        j += 1;
      } else if (text[j] === "*" && text[j + 1] === "/") {
        depth -= 1;
        j += 1;
        if (depth === 0) return j + 1;
      }
    }
    return open;
  }
  return -1;
}

/** [start, end) of each statement: split at semicolons outside quotes and comments. */
export function statementRanges(text: string): [number, number][] {
  const ranges: [number, number][] = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    const skipped = skipQuoted(text, i);
    if (skipped > i) {
      i = skipped;
      continue;
    }
    if (text[i] === ";") {
      ranges.push([start, i]);
      start = i + 1;
    }
    i += 1;
  }
  ranges.push([start, text.length]);
  return ranges;
}

/** Whether `offset` is inside a literal, a quoted identifier or a comment. */
export function insideQuoted(text: string, offset: number): boolean {
  const before = text.slice(0, offset);
  let i = 0;
  while (i < before.length) {
    const skipped = skipQuoted(before, i);
    if (skipped > before.length) return true;
    i = skipped > i ? skipped : i + 1;
  }
  return false;
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

const CLAUSE_END =
  /\b(?:where|group|order|limit|offset|having|qualify|window|union|except|intersect|on|using|select|returning)\b|[;()]/i;
const NOT_ALIAS =
  /^(?:where|on|using|join|left|right|inner|outer|full|cross|asof|anti|semi|natural|positional|lateral|group|order|limit|having|qualify|window|union)$/i;

/** Tables the text reads (after FROM, in its comma list, and after JOIN; a schema prefix
 * such as main. is dropped), with their aliases: alias or name → table. */
export function tableAliases(text: string, tables: ReadonlySet<string>): Map<string, string> {
  const aliases = new Map<string, string>();
  const item = /^\s*(?:"?[A-Za-z_]\w*"?\s*\.\s*)?("?)([A-Za-z_]\w*)\1(?:\s+(?:as\s+)?("?)([A-Za-z_]\w*)\3)?/i;
  const add = (piece: string): void => {
    const m = item.exec(piece);
    const table = m?.[2]?.toLowerCase();
    if (table === undefined || !tables.has(table)) return;
    aliases.set(table, table);
    const alias = m?.[4];
    if (alias && !NOT_ALIAS.test(alias)) aliases.set(alias.toLowerCase(), table);
  };
  for (const m of text.matchAll(/\b(from|join)\b/gi)) {
    const rest = text.slice((m.index ?? 0) + m[0].length);
    if (m[1]?.toLowerCase() === "join") {
      add(rest);
      continue;
    }
    // FROM a [x], b [y] ... up to the next clause or JOIN.
    const end = rest.search(
      new RegExp(`${CLAUSE_END.source}|\\b(?:join|left|right|inner|cross|asof|full|natural|positional)\\b`, "i"),
    );
    for (const piece of (end < 0 ? rest : rest.slice(0, end)).split(",")) add(piece);
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

  if (insideQuoted(text, offset)) return { start: offset, end: offset, items: [] };

  const qualifier = /"?([A-Za-z_]\w*)"?\.$/.exec(before.slice(0, start))?.[1];
  if (qualifier !== undefined) {
    const table = aliases.get(qualifier.toLowerCase()) ?? qualifier.toLowerCase();
    if (!columns.has(table)) {
      // Not a table or an alias: a schema (main.), so its tables.
      const items = schema.tables
        .filter((t) => matches(t.name))
        .map((t): Completion => ({ label: t.name, type: "table", detail: `${t.columns.length} columns` }));
      return { start, end: offset, items };
    }
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
