"""AppDB: the reports' schedules and runs, in SQLite or PostgreSQL. One engine per AppDB
and a short transaction per call, so the scheduler's worker threads share it; a schedule's
tick is claimed by one conditional UPDATE, so schedulers in two processes never both fire
it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import URL, Engine, or_, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from alphapulse.appdb.engine import WRITE, create_app_engine, database_error, resolve_url, shown
from alphapulse.appdb.migrate import migrate
from alphapulse.appdb.models import Run, Schedule
from alphapulse.appdb.records import (
    MISSED_POLICIES,
    RunRecord,
    ScheduleRecord,
    as_utc,
    checked_params,
    checked_status,
)

_RUN_FIELDS = frozenset(f.name for f in fields(RunRecord)) - {"id"}
_RUN_TIMES = frozenset({"scheduled_for", "created_at", "started_at", "finished_at"})


class AppDB:
    """The app database, migrated to this package's newest schema on open."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self._engine = engine
        self._reads = sessionmaker(engine, expire_on_commit=False)
        self._writes = sessionmaker(engine.execution_options(**WRITE), expire_on_commit=False)
        self._url = url
        self.url = shown(url)

    @classmethod
    def open(cls, dsn: str | None = None, *, data_dir: Path) -> AppDB:
        """``dsn`` (None: $ALPHAPULSE_APP_DSN, else SQLite at data_dir/alphapulse-app.sqlite),
        migrated to head. AppDBError if it cannot be reached or is of a newer schema."""
        url = resolve_url(dsn, data_dir)
        engine = create_app_engine(url)
        try:
            migrate(engine, shown(url))
        except (SQLAlchemyError, OSError) as exc:
            engine.dispose()
            raise database_error(url, exc) from None
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, url)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> AppDB:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AppDB({self.url!r})"

    # -- schedules ---------------------------------------------------------------------

    def add_schedule(
        self,
        report: str,
        cron: str,
        params: dict[str, Any],
        *,
        timezone: str = "UTC",
        missed: str = "skip",
        timeout: float = 3600.0,
        created_at: datetime | None = None,
    ) -> ScheduleRecord:
        if not report.strip() or not cron.strip():
            raise ValueError("a schedule needs a report name and a cron expression")
        if missed not in MISSED_POLICIES:
            raise ValueError(f"missed must be one of {', '.join(MISSED_POLICIES)}, not {missed!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r} (an IANA name, e.g. UTC)") from None
        row = Schedule(
            report=report,
            cron=cron,
            params=checked_params(params),
            timezone=timezone,
            missed=missed,
            timeout=float(timeout),
            enabled=True,
            created_at=as_utc(created_at, "created_at") if created_at else _now(),
        )
        with self._session(write=True) as session:
            session.add(row)
            session.flush()
            return _schedule(row)

    def schedules(self, *, enabled_only: bool = False) -> list[ScheduleRecord]:
        query = select(Schedule).order_by(Schedule.id)
        if enabled_only:
            query = query.where(Schedule.enabled)
        with self._session() as session:
            return [_schedule(row) for row in session.scalars(query)]

    def schedule(self, schedule_id: int) -> ScheduleRecord | None:
        with self._session() as session:
            row = session.get(Schedule, schedule_id)
            return _schedule(row) if row else None

    def set_schedule_enabled(self, schedule_id: int, enabled: bool) -> ScheduleRecord:
        with self._session(write=True) as session:
            row = session.get(Schedule, schedule_id)
            if row is None:
                raise KeyError(f"no schedule {schedule_id}")
            row.enabled = bool(enabled)
            session.flush()
            return _schedule(row)

    def delete_schedule(self, schedule_id: int) -> bool:
        """True if it existed. Its runs stay, with schedule_id NULL (the foreign key's
        ON DELETE SET NULL)."""
        with self._session(write=True) as session:
            row = session.get(Schedule, schedule_id)
            if row is None:
                return False
            session.delete(row)
            return True

    def mark_fired(self, schedule_id: int, scheduled_for: datetime) -> bool:
        """Claim the tick ``scheduled_for``: True only if the schedule's last fired tick was
        earlier (or none), in one conditional UPDATE, so of two schedulers (the server and a
        standalone one) exactly one fires it."""
        tick = as_utc(scheduled_for, "scheduled_for")
        claim = (
            update(Schedule)
            .where(Schedule.id == schedule_id)
            .where(or_(Schedule.last_fired_for.is_(None), Schedule.last_fired_for < tick))
            .values(last_fired_for=tick)
        )
        with self._session(write=True) as session:
            return session.connection().execute(claim).rowcount == 1

    # -- runs --------------------------------------------------------------------------

    def create_run(
        self,
        report: str,
        params: dict[str, Any],
        *,
        schedule_id: int | None = None,
        scheduled_for: datetime | None = None,
        now: datetime | None = None,
    ) -> RunRecord:
        """A queued run; its id starts with its creation time, so ids sort by time."""
        if not report.strip():
            raise ValueError("a run needs a report name")
        created = as_utc(now, "now") if now else _now()
        row = Run(
            id=f"{created:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}",
            report=report,
            params=checked_params(params),
            schedule_id=schedule_id,
            scheduled_for=as_utc(scheduled_for, "scheduled_for") if scheduled_for else None,
            status="queued",
            created_at=created,
            cancel_requested=False,
        )
        with self._session(write=True) as session:
            session.add(row)
            session.flush()
            return _run(row)

    def update_run(self, run_id: str, **changes: Any) -> RunRecord:
        """Set any of a run's fields but its id. KeyError if there is no such run."""
        unknown = set(changes) - _RUN_FIELDS
        if unknown:
            raise TypeError(f"update_run got fields a run does not have: {sorted(unknown)}")
        for name, value in changes.items():
            if name == "status":
                checked_status(value)
            elif name == "params":
                changes[name] = checked_params(value)
            elif name in _RUN_TIMES and value is not None:
                changes[name] = as_utc(value, name)
        with self._session(write=True) as session:
            row = session.get(Run, run_id)
            if row is None:
                raise KeyError(f"no run {run_id!r}")
            for name, value in changes.items():
                setattr(row, name, value)
            session.flush()
            return _run(row)

    def run(self, run_id: str) -> RunRecord | None:
        with self._session() as session:
            row = session.get(Run, run_id)
            return _run(row) if row else None

    def runs(
        self,
        *,
        report: str | None = None,
        status: Sequence[str] | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """Newest first (by creation time, then id)."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        query = select(Run).order_by(Run.created_at.desc(), Run.id.desc()).limit(limit)
        if report is not None:
            query = query.where(Run.report == report)
        if status is not None:
            states = [status] if isinstance(status, str) else list(status)
            query = query.where(Run.status.in_([checked_status(s) for s in states]))
        with self._session() as session:
            return [_run(row) for row in session.scalars(query)]

    def request_cancel(self, run_id: str) -> RunRecord:
        """Ask whoever runs it to stop (the runner polls cancel_requested)."""
        return self.update_run(run_id, cancel_requested=True)

    # -- sessions ----------------------------------------------------------------------

    @contextmanager
    def _session(self, *, write: bool = False) -> Iterator[Session]:
        """A short transaction, committed at the end. A server that went down (or a SQLite
        file locked past the busy timeout) is an AppDBError; SQLite writers take the lock at
        BEGIN (BEGIN IMMEDIATE)."""
        try:
            with (self._writes if write else self._reads).begin() as session:
                yield session
        except OperationalError as exc:
            raise database_error(self._url, exc, doing="cannot use") from None


def _now() -> datetime:
    return datetime.now(UTC)


def _schedule(row: Schedule) -> ScheduleRecord:
    return ScheduleRecord(
        id=row.id,
        report=row.report,
        cron=row.cron,
        params=dict(row.params),
        timezone=row.timezone,
        missed=row.missed,
        timeout=float(row.timeout),
        enabled=bool(row.enabled),
        created_at=row.created_at,
        last_fired_for=row.last_fired_for,
    )


def _run(row: Run) -> RunRecord:
    return RunRecord(
        id=row.id,
        report=row.report,
        params=dict(row.params),
        schedule_id=row.schedule_id,
        scheduled_for=row.scheduled_for,
        status=row.status,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        seconds=row.seconds,
        papermill_seconds=row.papermill_seconds,
        archive=row.archive,
        error=row.error,
        traceback=row.traceback,
        cancel_requested=bool(row.cancel_requested),
        pid=row.pid,
    )
