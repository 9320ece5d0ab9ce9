"""`alphapulse status`: what a running collector says about itself, for a person or a script.

The collector rewrites ``<lake>/_status.json`` every few hundred ms (``read_status`` finds
it and checks that its writer is alive). This module turns it into a few lines::

    collector pid 4242, up 125 s (status 0.3 s old), lake data/lake
      kraken     frames      120,345  connected 1  gaps 0  resyncs 0  rejects 0
      lake: 1,204,112 rows written, 3,018 buffered | 38.2 MB in 14 files | queue 0 | ...

or, with ``--json``, into one JSON object: the status file's fields plus ``lake``,
``status_age_s`` and ``last_commit_age_s``.

:func:`read_status` checks the file before anything formats it: a status file that is not
what a collector writes (hand-edited, from another version, damaged) is a
:class:`StatusFileError` naming the file and the field, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alphapulse.lake.layout import PART_GLOB

#: Where a running collector keeps its status, in its lake (``collect.STATUS_FILE``).
STATUS_FILE = "_status.json"


class StatusFileError(Exception):
    """A status file that cannot be read or is not shaped like a collector's, in one line."""


_SHAPE = ConfigDict(strict=True, extra="allow", allow_inf_nan=False)


class _VenueStatus(BaseModel):
    model_config = _SHAPE
    frames: int
    connected: int
    gaps: int
    resyncs: int
    rejects: int
    out_of_sync: list[str]


class _SinkStatus(BaseModel):
    model_config = _SHAPE
    rows_written: int | None = None
    rows_buffered: int | None = None
    bytes_written: int | None = None
    files_committed: int | None = None
    queue_depth: int | None = None
    max_queue: int | None = None
    rows_lost: int | None = None


class _Status(BaseModel):
    model_config = _SHAPE
    pid: int = Field(gt=0)
    ts: float
    uptime_s: float
    venues: dict[str, _VenueStatus]
    sink: _SinkStatus = _SinkStatus()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's (a collector run as a service)
        return True
    return True


def read_status(lake: Path) -> dict[str, Any] | None:
    """The status a running collector writes every few hundred ms; None when there is no
    status file or the process that wrote it is gone. StatusFileError for anything else."""
    path = lake / STATUS_FILE
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise StatusFileError(f"{path}: cannot read the status: {e.strerror}") from None
    try:
        status = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise StatusFileError(f"{path}: not a collector's status (not JSON)") from None
    if not isinstance(status, dict):
        raise StatusFileError(f"{path}: not a collector's status (not a JSON object)")
    pid = status.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 1 << 31:
        raise StatusFileError(f"{path}: not a collector's status (pid is {pid!r})")
    if not _alive(pid):
        return None
    try:
        _Status.model_validate(status)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise StatusFileError(
            f"{path}: not a collector's status ({where}: {first['msg'][:1].lower()}"
            f"{first['msg'][1:]})"
        ) from None
    return status


def last_commit_age(lake: Path, now: float) -> float | None:
    """Seconds since the newest committed lake file, or None if there is none yet.

    Only today's and yesterday's partitions (UTC) are looked at: a running collector commits
    at least every ``roll_seconds``, and a long-lived lake may hold many thousand files.
    """
    today = datetime.fromtimestamp(now, UTC).date()
    newest: float | None = None
    for day in (today, today - timedelta(days=1)):
        for path in lake.glob(f"*/venue=*/date={day.isoformat()}/{PART_GLOB}"):
            with contextlib.suppress(FileNotFoundError):  # compacted away meanwhile
                mtime = path.stat().st_mtime
                newest = mtime if newest is None else max(newest, mtime)
    return None if newest is None else max(now - newest, 0.0)


def status_json(lake: Path, status: dict[str, Any], now: float) -> dict[str, Any]:
    return {
        "lake": str(lake),
        **status,
        "status_age_s": round(max(now - float(status["ts"]), 0.0), 3),
        "last_commit_age_s": _round(last_commit_age(lake, now)),
    }


def format_status(lake: Path, status: dict[str, Any], now: float) -> str:
    age = max(now - float(status["ts"]), 0.0)
    lines = [
        f"collector pid {status['pid']}, up {status['uptime_s']:,.0f} s "
        f"(status {age:.1f} s old), lake {lake}"
    ]
    for name, v in status["venues"].items():
        lines.append(
            f"  {name:<10} frames {v['frames']:>12,}  connected {v['connected']}  "
            f"gaps {v['gaps']}  resyncs {v['resyncs']}  rejects {v['rejects']}"
            + (f"  out of sync: {', '.join(v['out_of_sync'])}" if v["out_of_sync"] else "")
        )
    lines.append("  lake: " + format_sink(status.get("sink", {}), last_commit_age(lake, now)))
    return "\n".join(lines)


def format_sink(sink: dict[str, Any], commit_age: float | None) -> str:
    """The lake writer's counters in one line; a counter the writer did not report is left
    out rather than shown as 0."""
    parts = []
    if "rows_written" in sink:
        rows = f"{sink['rows_written']:,} rows written"
        if "rows_buffered" in sink:
            rows += f", {sink['rows_buffered']:,} buffered"
        parts.append(rows)
    if "bytes_written" in sink:
        parts.append(
            f"{sink['bytes_written'] / 1e6:,.1f} MB in {sink.get('files_committed', 0):,} files"
        )
    if "queue_depth" in sink:
        queue = f"queue {sink['queue_depth']:,}"
        if "max_queue" in sink:
            queue += f"/{sink['max_queue']:,}"
        parts.append(queue)
    if sink.get("rows_lost"):
        parts.append(f"ROWS LOST {sink['rows_lost']:,}")
    parts.append(
        "no file committed yet" if commit_age is None else f"last commit {commit_age:,.0f} s ago"
    )
    return " | ".join(parts)


def dumps(status: dict[str, Any]) -> str:
    return orjson.dumps(status, option=orjson.OPT_INDENT_2).decode()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
