"""Reports: notebooks run with papermill into an archive, by hand or on a schedule.

``run_report`` executes one (see :mod:`alphapulse.reports.runner`); the scheduler
(:mod:`alphapulse.reports.scheduler`) fires them from cron expressions kept in the app
database; ``alphapulse report ...`` is the command line.
"""

from __future__ import annotations

from alphapulse.reports.catalog import ReportError, ReportInfo, find_report, list_reports
from alphapulse.reports.runner import ReportRun, run_report

__all__ = ["ReportError", "ReportInfo", "ReportRun", "find_report", "list_reports", "run_report"]
