// .sql files as an AlphaPulse SQL editor: Lab's own file editor (its CodeMirror SQL mode,
// saving, search, settings), with a results area below it in a split the researcher can
// resize, Run (Shift+Enter: the selection, or the statement under the cursor, on the
// server's read-only query endpoint) and "to notebook" (a %%duckdb cell), and completion of
// the lake's tables and columns through Lab's completer.

import type { ICompletionContext, ICompletionProvider, CompletionHandler } from "@jupyterlab/completer";
import type { IDocumentWidget } from "@jupyterlab/docregistry";
import type { FileEditor } from "@jupyterlab/fileeditor";
import { BoxLayout, SplitPanel, type Widget } from "@lumino/widgets";
import { postAPI, requestAPI } from "./api";
import { SqlResults } from "./sql_results";
import { complete, statementAt } from "./sql_text";
import type { QueryReply, SchemaReply } from "./types";

export type SqlDocument = IDocumentWidget<FileEditor>;

export const SQL_EDITOR_CLASS = "alphapulse-SqlEditor";
const MAX_ROWS = 10_000;
const SCHEMA_TTL_MS = 10_000;

export function isSqlPath(path: string): boolean {
  return path.toLowerCase().endsWith(".sql");
}

const results = new WeakMap<Widget, SqlResults>();

/** Gives a .sql file editor its results area (once). */
export function attachResults(widget: SqlDocument): SqlResults {
  const existing = results.get(widget);
  if (existing !== undefined) return existing;
  const panel = new SqlResults();
  results.set(widget, panel);
  widget.addClass(SQL_EDITOR_CLASS);
  const layout = widget.layout as BoxLayout;
  const content = widget.content;
  const index = layout.widgets.indexOf(content);
  const split = new SplitPanel({ orientation: "vertical", spacing: 4 });
  split.addClass("alphapulse-SqlSplit");
  split.addWidget(content);
  split.addWidget(panel);
  BoxLayout.setStretch(split, 1);
  layout.insertWidget(index, split);
  split.setRelativeSizes([0.6, 0.4]);
  return panel;
}

/** The SQL a Run takes: the selection when there is one, else the statement at the cursor. */
export function sqlToRun(widget: SqlDocument): string {
  const editor = widget.content.editor;
  const text = editor.model.sharedModel.getSource();
  const selection = editor.getSelection();
  const from = editor.getOffsetAt(selection.start);
  const to = editor.getOffsetAt(selection.end);
  if (from !== to) return text.slice(Math.min(from, to), Math.max(from, to)).trim();
  return statementAt(text, editor.getOffsetAt(editor.getCursorPosition()));
}

/** Runs the statement of a SQL editor and shows its result below it. */
export async function runSql(widget: SqlDocument): Promise<void> {
  const panel = attachResults(widget);
  const sql = sqlToRun(widget);
  if (!sql) {
    panel.fail("Nothing to run: write a SELECT (the statement under the cursor runs).");
    return;
  }
  const ticket = panel.running(sql);
  const started = performance.now();
  try {
    const reply = await postAPI<QueryReply>("query", { sql, format: "json", max_rows: MAX_ROWS });
    if (panel.isCurrent(ticket)) panel.showRows(reply, performance.now() - started);
  } catch (error) {
    if (panel.isCurrent(ticket)) panel.fail(error instanceof Error ? error.message : String(error));
  }
}

let schemaCache: { at: number; schema: Promise<SchemaReply> } | null = null;

/** The lake's tables and columns, fetched at most every few seconds. */
export function lakeSchema(): Promise<SchemaReply> {
  const now = Date.now();
  if (schemaCache === null || now - schemaCache.at > SCHEMA_TTL_MS) {
    const schema = requestAPI<SchemaReply>("schema").catch((error: unknown) => {
      schemaCache = null;
      throw error;
    });
    schemaCache = { at: now, schema };
  }
  return schemaCache.schema;
}

/** Lab's completer, in .sql editors: the lake's tables, their columns, SQL keywords. */
export class LakeCompletionProvider implements ICompletionProvider {
  readonly identifier = "alphapulse:lake-sql";
  readonly rank = 1000;

  isApplicable(context: ICompletionContext): Promise<boolean> {
    const widget = context.widget as unknown as Partial<SqlDocument>;
    return Promise.resolve(typeof widget.context?.path === "string" && isSqlPath(widget.context.path));
  }

  async fetch(request: CompletionHandler.IRequest): Promise<CompletionHandler.ICompletionItemsReply> {
    const schema = await lakeSchema();
    const reply = complete(schema, request.text, request.offset);
    return {
      start: reply.start,
      end: reply.end,
      items: reply.items.map((item) => ({ label: item.label, type: item.type, documentation: item.detail })),
    };
  }
}
