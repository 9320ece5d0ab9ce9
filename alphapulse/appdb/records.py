"""What the app database hands out: frozen records, the states and policies they name, and
the one error a user can fix (a bad DSN, a server that is down, a schema newer than us)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: "skipped": a missed tick of a schedule whose policy is to skip (recorded so the gap shows).
RUN_STATES = ("queued", "running", "succeeded", "failed", "timed_out", "cancelled", "skipped")
MISSED_POLICIES = ("skip", "run_once")


class AppDBError(Exception):
    """One line, user-fixable: a bad DSN, an unreachable server, a schema newer than this
    AlphaPulse. Never carries a password."""


@dataclass(frozen=True)
class ScheduleRecord:
    id: int
    report: str
    cron: str
    params: dict[str, Any]
    timezone: str  # IANA name the cron expression is read in
    missed: str  # "skip" | "run_once": what a scheduler does with ticks missed while stopped
    timeout: float  # seconds per run
    enabled: bool
    created_at: datetime  # tz-aware UTC
    last_fired_for: datetime | None  # the cron tick (UTC) of the last run it fired


@dataclass(frozen=True)
class RunRecord:
    id: str  # e.g. "20261201T070000Z-3f9a2c": sortable by time, unique
    report: str
    params: dict[str, Any]
    schedule_id: int | None
    scheduled_for: datetime | None  # the cron tick; None for a run started by hand
    status: str  # one of RUN_STATES
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    seconds: float | None  # wall time of the whole run
    papermill_seconds: float | None  # papermill's own execution time
    archive: str | None  # directory of the run's files
    error: str | None  # one line
    traceback: str | None
    cancel_requested: bool
    pid: int | None  # the process running it (to spot runs orphaned by a crash)


def as_utc(value: datetime, name: str) -> datetime:
    """``value`` in UTC. A naive datetime is refused: guessing its zone would move a
    schedule's tick by hours without a word."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def checked_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` as JSON will give them back (dates must already be ISO strings)."""
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dict, not {type(params).__name__}")
    try:
        return dict(json.loads(json.dumps(params, allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"params must be JSON (dates as ISO strings): {exc}") from None


def checked_status(status: str) -> str:
    if status not in RUN_STATES:
        raise ValueError(f"status must be one of {', '.join(RUN_STATES)}, not {status!r}")
    return status
