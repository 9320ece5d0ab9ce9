"""A report run recorded in the app database from queued to its end.

``run_report`` knows files; this adds the run's row: created (queued), running with the pid
of its process, then its status, timings, archive and error. The command line's ``report
run`` and the scheduler both go through here, so ``report runs`` lists every run, and a
``report cancel`` from anywhere reaches a run through its row.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alphapulse.reports.catalog import ReportError
from alphapulse.reports.runner import run_report, validate_request

if TYPE_CHECKING:
    from alphapulse.appdb import AppDB, RunRecord

#: How often a running report's row is read for a cancel request.
CANCEL_POLL_SECONDS = 1.0


def execute_run(
    db: AppDB,
    run_id: str,
    *,
    data_dir: Path,
    lake: Path | None,
    timeout: float | None,
    stopping: Callable[[], bool] | None = None,
) -> RunRecord:
    """Run the queued run ``run_id`` to its end and record how it went.

    ``stopping`` (the scheduler shutting down) stops it like a cancel, with that reason.
    """
    queued = db.run(run_id)
    if queued is None:
        raise KeyError(run_id)
    if queued.cancel_requested:
        return db.update_run(run_id, status="cancelled", error="cancelled before it started")
    # The pid is this process's (not the report's child, which dies with it): a run whose
    # process is gone was interrupted (Scheduler.recover_orphans).
    db.update_run(run_id, status="running", started_at=datetime.now(UTC), pid=os.getpid())
    asked_at = 0.0
    cancel_seen = False

    def cancelled() -> bool:
        nonlocal asked_at, cancel_seen
        if stopping is not None and stopping():
            return True
        now = time.monotonic()
        if now - asked_at >= CANCEL_POLL_SECONDS:
            asked_at = now
            row = db.run(run_id)
            cancel_seen = row is None or row.cancel_requested
        return cancel_seen

    try:
        result = run_report(
            queued.report,
            dict(queued.params),
            data_dir=data_dir,
            lake=lake,
            timeout=timeout,
            run_id=run_id,
            cancelled=cancelled,
            as_of=queued.scheduled_for,
        )
    except ReportError as e:  # an unknown report or parameter: nothing ran
        return db.update_run(
            run_id, status="failed", error=str(e), finished_at=datetime.now(UTC), pid=None
        )
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C on `report run`: the report was stopped
        db.update_run(
            run_id, status="cancelled", error="interrupted", finished_at=datetime.now(UTC), pid=None
        )
        raise
    except BaseException as e:  # the archive could not be written (a full disk, ...)
        db.update_run(
            run_id,
            status="failed",
            error=describe_error(e),
            finished_at=datetime.now(UTC),
            pid=None,
        )
        raise
    error = result.error
    if result.status == "cancelled" and not cancel_seen:
        error = "cancelled: the scheduler running it stopped"
    return db.update_run(
        run_id,
        status=result.status,
        finished_at=datetime.now(UTC),
        seconds=result.seconds,
        papermill_seconds=result.papermill_seconds,
        archive=str(result.archive),
        error=error,
        traceback=result.traceback,
        pid=None,
    )


def describe_error(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        where = f": {e.filename}" if e.filename is not None else ""
        return f"{e.strerror}{where}"
    return f"{type(e).__name__}: {e}".splitlines()[0]


def run_now(
    db: AppDB,
    report: str,
    params: dict[str, Any],
    *,
    data_dir: Path,
    lake: Path | None,
    timeout: float | None,
) -> RunRecord:
    """Queue a run by hand and execute it in this process (``alphapulse report run``);
    ReportError, and no run recorded, for an unknown report or parameter."""
    validate_request(report, params)
    record = db.create_run(report, params)
    return execute_run(db, record.id, data_dir=data_dir, lake=lake, timeout=timeout)
