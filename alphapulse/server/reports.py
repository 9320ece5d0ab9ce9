"""The report scheduler inside the Jupyter server, and what the report routes ask of it.

The app database is opened when the server starts (in a thread: a PostgreSQL server may
be slow to answer, and migrations run on open); until it is, or if it cannot be, the
report routes answer 503 with the reason and the rest of the server is untouched. Runs
started from the Lab ("Run now") go through the scheduler, under its concurrency limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alphapulse.reports.catalog import ReportError, list_reports
from alphapulse.reports.runner import validate_request
from alphapulse.reports.scheduler import (
    MAX_CONCURRENT,
    Scheduler,
    check_cron,
    check_timezone,
    next_ticks,
)

if TYPE_CHECKING:
    from alphapulse.appdb import AppDB, RunRecord, ScheduleRecord

log = logging.getLogger("alphapulse.server")
#: The longest the server's stop waits for runs being stopped.
STOP_SECONDS = 10.0


class ReportsUnavailableError(Exception):
    """The app database is not open (yet, or at all): the routes' 503."""


class ReportService:
    def __init__(
        self,
        *,
        data_dir: Path,
        lake: Path,
        dsn: str | None = None,
        enabled: bool = True,
        max_concurrent: int = MAX_CONCURRENT,
    ) -> None:
        self.data_dir = data_dir
        self.lake = lake
        self.dsn = dsn
        self.enabled = enabled
        self.max_concurrent = max_concurrent
        self.db: AppDB | None = None
        self.scheduler: Scheduler | None = None
        self.error: str | None = None if enabled else "the report scheduler is turned off"
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the app database and run the scheduler, in the background: a database
        server slow to answer delays the reports, not the server or its collector."""
        if self.enabled:
            self._task = asyncio.get_running_loop().create_task(self._open_and_run())

    async def _open_and_run(self) -> None:
        from alphapulse.appdb import AppDB, AppDBError

        try:
            self.db = await asyncio.to_thread(AppDB.open, self.dsn, data_dir=self.data_dir)
        except AppDBError as e:
            self.error = str(e)
            log.error("AlphaPulse reports: %s", e)
            return
        self.error = None
        self.scheduler = Scheduler(
            self.db, data_dir=self.data_dir, lake=self.lake, max_concurrent=self.max_concurrent
        )
        log.info("AlphaPulse reports: %s, archive %s", self.db.url, self.data_dir / "reports")
        await self.scheduler.run()

    async def stop(self) -> None:
        if self.scheduler is not None:
            try:
                await asyncio.wait_for(self.scheduler.stop(), STOP_SECONDS)
            except TimeoutError:
                log.warning("AlphaPulse reports: runs still stopping after %g s", STOP_SECONDS)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.db is not None:
            self.db.close()
            self.db = None

    # -- what the routes ask ------------------------------------------------------------

    def _open(self) -> tuple[AppDB, Scheduler]:
        if self.db is None or self.scheduler is None:
            raise ReportsUnavailableError(self.error or "the app database is still opening")
        return self.db, self.scheduler

    def overview(self) -> dict[str, Any]:
        db, scheduler = self._open()
        return {
            "reports": [info.to_json() for info in list_reports()],
            "schedules": [schedule_json(s) for s in db.schedules()],
            "scheduler": {
                "running": True,
                "max_concurrent": scheduler.max_concurrent,
                "active": scheduler.running,
                "error": None,
            },
        }

    def add_schedule(self, body: dict[str, Any]) -> dict[str, Any]:
        db, scheduler = self._open()
        report = _text(body, "report")
        cron = check_cron(_text(body, "cron"))
        timezone = check_timezone(_text(body, "timezone", "UTC"))
        params = _params(body)
        missed = _text(body, "missed", "skip")
        if missed not in ("skip", "run_once"):
            raise ReportError(f"missed must be skip or run_once, not {missed!r}")
        timeout = _timeout(body)
        validate_request(report, params)
        schedule = db.add_schedule(
            report, cron, params, timezone=timezone, missed=missed, timeout=timeout
        )
        scheduler.wake()
        return schedule_json(schedule)

    def set_enabled(self, schedule_id: int, body: dict[str, Any]) -> dict[str, Any]:
        db, scheduler = self._open()
        enabled = body.get("enabled")
        if not isinstance(enabled, bool):
            raise ReportError('the body must be {"enabled": true|false}')
        schedule = db.set_schedule_enabled(schedule_id, enabled)  # KeyError: 404
        scheduler.wake()
        return schedule_json(schedule)

    def delete_schedule(self, schedule_id: int) -> bool:
        db, _ = self._open()
        return db.delete_schedule(schedule_id)

    def runs(self, report: str | None, limit: int) -> list[dict[str, Any]]:
        db, _ = self._open()
        return [run_json(r) for r in db.runs(report=report, limit=limit)]

    def run(self, run_id: str) -> dict[str, Any] | None:
        db, _ = self._open()
        record = db.run(run_id)
        return run_json(record, traceback=True) if record is not None else None

    def queue_run(self, body: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """A run queued by hand, and its timeout: ``launch`` it on the event loop."""
        db, _ = self._open()
        report, params, timeout = _text(body, "report"), _params(body), _timeout(body)
        validate_request(report, params)
        return run_json(db.create_run(report, params)), timeout

    def launch(self, run_id: str, timeout: float) -> None:
        """Execute a queued run under the scheduler's limit (on the event loop)."""
        _, scheduler = self._open()
        scheduler.start(run_id, timeout)

    def cancel(self, run_id: str) -> dict[str, Any]:
        db, _ = self._open()
        record = db.run(run_id)
        if record is None:
            raise KeyError(run_id)
        if record.status not in ("queued", "running"):
            raise ReportError(f"run {run_id} has already ended ({record.status})")
        return run_json(db.request_cancel(run_id))

    def html(self, run_id: str) -> Path | None:
        db, _ = self._open()
        record = db.run(run_id)
        if record is None or record.archive is None:
            return None
        path = Path(record.archive) / f"{record.report}.html"
        return path if path.is_file() else None


def schedule_json(s: ScheduleRecord) -> dict[str, Any]:
    data = _jsonable(asdict(s))
    data["next_runs"] = [
        t.isoformat() for t in next_ticks(s.cron, s.timezone, datetime.now(UTC), 3)
    ]
    return data


def run_json(r: RunRecord, *, traceback: bool = False) -> dict[str, Any]:
    data = _jsonable(asdict(r))
    data.pop("pid", None)
    data.pop("archive", None)  # a server path: the html route serves what is in it
    if not traceback:
        data.pop("traceback", None)
    data["has_html"] = r.archive is not None and (Path(r.archive) / f"{r.report}.html").is_file()
    return data


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


def _text(body: dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or not value:
        raise ReportError(f"{key} must be a non-empty string")
    return value


def _params(body: dict[str, Any]) -> dict[str, Any]:
    params = body.get("params", {})
    if not isinstance(params, dict):
        raise ReportError("params must be a JSON object")
    return params


def _timeout(body: dict[str, Any]) -> float:
    timeout = body.get("timeout", 3600.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ReportError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return float(timeout)
