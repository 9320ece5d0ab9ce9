// The extension's command ids: registered once (plugin.ts, sql_plugin.ts, report_commands.ts)
// and used by the launcher, the palette, the AlphaPulse menu (schema/plugin.json) and the
// shortcuts.

export const CommandIDs = {
  openMonitor: "alphapulse:open-monitor",
  openChart: "alphapulse:open-chart",
  newSqlFile: "alphapulse:new-sql-file",
  newFromTemplate: "alphapulse:new-from-template",
  runSql: "alphapulse:sql-run",
  sqlToNotebook: "alphapulse:sql-to-notebook",
  openReports: "alphapulse:open-reports",
  runReport: "alphapulse:run-report",
  openReportRun: "alphapulse:open-report-run",
} as const;

export const CATEGORY = "AlphaPulse";
