// The result of a statement run from a SQL file: a line with the row count and the time it
// took (or the server's reason it failed), and the rows in a data grid (Lumino's DataGrid,
// as Lab's CSV viewer uses: it draws only the visible cells, so 10,000 rows scroll freely).

import { DataGrid, DataModel, RendererMap, TextRenderer } from "@lumino/datagrid";
import { BoxPanel, Widget } from "@lumino/widgets";
import { cellText, summaryLine } from "./sql_results_text";
import type { QueryReply } from "./types";

/** The rows of a reply as the grid shows them: one model, read-only. */
export class RowsModel extends DataModel {
  constructor(private readonly reply: QueryReply) {
    super();
  }

  rowCount(region: DataModel.RowRegion): number {
    return region === "body" ? this.reply.rows.length : 1;
  }

  columnCount(region: DataModel.ColumnRegion): number {
    return region === "body" ? this.reply.columns.length : 1;
  }

  data(region: DataModel.CellRegion, row: number, column: number): unknown {
    if (region === "column-header") return this.reply.columns[column]?.name ?? "";
    if (region === "row-header") return String(row + 1);
    if (region === "corner-header") return "";
    return cellText(this.reply.rows[row]?.[column]);
  }
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

export class SqlResults extends BoxPanel {
  private readonly status = new Widget({ node: document.createElement("div") });
  private grid: DataGrid | null = null;
  private ticket = 0;

  constructor() {
    super({ direction: "top-to-bottom", spacing: 0 });
    this.addClass("alphapulse-SqlResults");
    this.status.addClass("alphapulse-SqlResults-status");
    this.status.node.textContent = "Run a statement with Shift+Enter: its rows show here.";
    BoxPanel.setStretch(this.status, 0);
    this.addWidget(this.status);
  }

  /** Shows that `sql` runs; the number returned names this run (see isCurrent). */
  running(sql: string): number {
    this.ticket += 1;
    this.status.node.classList.remove("alphapulse-error");
    this.status.node.textContent = `running: ${sql.length > 120 ? `${sql.slice(0, 119)}…` : sql}`;
    return this.ticket;
  }

  /** Whether a run is still the latest: an older one's answer arriving late is dropped. */
  isCurrent(ticket: number): boolean {
    return ticket === this.ticket && !this.isDisposed;
  }

  showRows(reply: QueryReply, roundTripMs: number): void {
    this.status.node.textContent = summaryLine(reply, roundTripMs);
    this.grid?.dispose();
    const grid = new DataGrid({
      style: {
        ...DataGrid.defaultStyle,
        voidColor: cssVar("--jp-layout-color0", "white"),
        backgroundColor: cssVar("--jp-layout-color0", "white"),
        headerBackgroundColor: cssVar("--jp-layout-color2", "#eee"),
        gridLineColor: cssVar("--jp-border-color3", "#ddd"),
        headerGridLineColor: cssVar("--jp-border-color2", "#ccc"),
      },
      defaultSizes: { rowHeight: 22, columnWidth: 140, rowHeaderWidth: 56, columnHeaderHeight: 24 },
    });
    const textColor = cssVar("--jp-ui-font-color1", "black");
    grid.cellRenderers = new RendererMap({}, new TextRenderer({ textColor, font: "12px monospace" }));
    grid.dataModel = new RowsModel(reply);
    grid.addClass("alphapulse-SqlResults-grid");
    this.grid = grid;
    BoxPanel.setStretch(grid, 1);
    this.addWidget(grid);
  }

  fail(message: string): void {
    this.grid?.dispose();
    this.grid = null;
    this.status.node.classList.add("alphapulse-error");
    this.status.node.textContent = message;
  }
}
