// The SQL editor plugin: .sql file editors get the results area, Run and "to notebook"
// (toolbar buttons, the palette, Shift+Enter from schema/sql.json), and the lake's completion.

import type { JupyterFrontEnd, JupyterFrontEndPlugin } from "@jupyterlab/application";
import { CommandToolbarButton, ICommandPalette, Notification } from "@jupyterlab/apputils";
import { ICompletionProviderManager } from "@jupyterlab/completer";
import { IEditorTracker } from "@jupyterlab/fileeditor";
import { INotebookTracker, type NotebookPanel } from "@jupyterlab/notebook";
import { runIcon } from "@jupyterlab/ui-components";
import { CATEGORY, CommandIDs } from "./commands";
import { pulseIcon } from "./icons";
import { LakeCompletionProvider, type SqlDocument, attachResults, isSqlPath, runSql, sqlToRun } from "./sql_editor";
import { duckdbCell } from "./sql_text";

/** The cells "to notebook" appends: the extension's magics are loaded once per notebook. */
export function notebookCells(existing: readonly string[], sql: string): string[] {
  const loaded = existing.some((source) => /%load_ext\s+alphapulse\b/.test(source));
  return [...(loaded ? [] : ["%load_ext alphapulse"]), duckdbCell(sql)];
}

async function sendToNotebook(app: JupyterFrontEnd, notebooks: INotebookTracker | null, sql: string): Promise<void> {
  let panel: NotebookPanel | null = notebooks?.currentWidget ?? null;
  if (panel === null) panel = (await app.commands.execute("notebook:create-new", {})) as NotebookPanel;
  await panel.context.ready;
  const shared = panel.content.model?.sharedModel;
  if (shared === undefined) return;
  const sources = shared.cells.map((c) => c.getSource());
  if (sources.length === 1 && sources[0] === "") shared.deleteCell(0);
  const cells = notebookCells(sources, sql).map((source) => ({ cell_type: "code" as const, source }));
  shared.insertCells(shared.cells.length, cells);
  panel.content.activeCellIndex = shared.cells.length - 1;
  app.shell.activateById(panel.id);
}

export const sqlPlugin: JupyterFrontEndPlugin<void> = {
  id: "@alphapulse/lab:sql",
  description: "AlphaPulse SQL: .sql files run on the lake, with completion of its tables and columns",
  autoStart: true,
  requires: [IEditorTracker],
  optional: [ICompletionProviderManager, INotebookTracker, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    editors: IEditorTracker,
    completion: ICompletionProviderManager | null,
    notebooks: INotebookTracker | null,
    palette: ICommandPalette | null,
  ) => {
    const { commands } = app;
    const currentSql = (): SqlDocument | null => {
      const widget = editors.currentWidget;
      return widget !== null && isSqlPath(widget.context.path) ? widget : null;
    };

    commands.addCommand(CommandIDs.runSql, {
      label: "Run SQL on the lake",
      caption: "Run the selection, or the statement under the cursor, and show its rows below",
      icon: runIcon,
      isEnabled: () => currentSql() !== null,
      execute: () => {
        const widget = currentSql();
        return widget === null ? undefined : runSql(widget);
      },
    });

    commands.addCommand(CommandIDs.sqlToNotebook, {
      label: "Send SQL to a notebook (%%duckdb)",
      caption: "Append the statement to the current notebook as a %%duckdb cell",
      icon: pulseIcon,
      isEnabled: () => currentSql() !== null,
      execute: async () => {
        const widget = currentSql();
        if (widget === null) return;
        const sql = sqlToRun(widget);
        if (!sql) {
          Notification.warning("Nothing to send: the cursor is on no statement.", { autoClose: 4000 });
          return;
        }
        await sendToNotebook(app, notebooks, sql);
      },
    });

    const setUp = (widget: SqlDocument) => {
      if (!isSqlPath(widget.context.path) || widget.hasClass("alphapulse-SqlEditor")) return;
      attachResults(widget);
      widget.toolbar.insertItem(0, "alphapulse-run", new CommandToolbarButton({ commands, id: CommandIDs.runSql }));
      widget.toolbar.insertItem(
        1,
        "alphapulse-to-notebook",
        new CommandToolbarButton({ commands, id: CommandIDs.sqlToNotebook, label: "To notebook" }),
      );
    };
    editors.widgetAdded.connect((_, widget) => {
      setUp(widget);
      widget.context.pathChanged.connect(() => setUp(widget));
    });
    editors.forEach(setUp);
    editors.currentChanged.connect(() => {
      commands.notifyCommandChanged(CommandIDs.runSql);
      commands.notifyCommandChanged(CommandIDs.sqlToNotebook);
    });

    completion?.registerProvider(new LakeCompletionProvider());
    for (const command of [CommandIDs.runSql, CommandIDs.sqlToNotebook]) {
      palette?.addItem({ command, category: CATEGORY });
    }
  },
};
