"""``alphapulse report run|schedule|list|runs|cancel`` and ``alphapulse scheduler``.

Parameters are given as papermill's are: ``-p NAME VALUE`` reads VALUE as a number, a
boolean or None where it looks like one (``-p days 3``), ``-r NAME VALUE`` keeps it text
(``-r date 2026-12-01`` and ``-p date 2026-12-01`` are the same: a date is not a number).
The app database and the archive are found from the data directory (``--data-dir``,
``$ALPHAPULSE_DATA``, else the lake's parent: ``data/``); the database can be PostgreSQL
(``$ALPHAPULSE_APP_DSN``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from alphapulse.arguments import path_argument, positive_number
from alphapulse.reports.catalog import ReportError, list_reports

if TYPE_CHECKING:
    from alphapulse.appdb import AppDB, RunRecord, ScheduleRecord

#: Exit code of ``report run`` when the report ran but did not succeed.
RUN_FAILED = 1


def add_report_commands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(
        dest="report_command", metavar="{run,schedule,list,runs,cancel}", required=True
    )
    p = sub.add_parser("run", help="run a report now, into data/reports/NAME/<run id>/")
    p.add_argument("name", help="the report (alphapulse report list)")
    _parameter_options(p)
    p.add_argument("--timeout", type=positive_number, default=3600.0, help="seconds (default 3600)")
    _place_options(p)
    p.add_argument("--json", action="store_true", help="print the run as one JSON object")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("schedule", help="run a report on a cron schedule")
    p.add_argument("name", help="the report (alphapulse report list)")
    p.add_argument("--cron", required=True, help='five fields, e.g. "0 7 * * *" (07:00 daily)')
    _parameter_options(p)
    p.add_argument("--timezone", default="UTC", help="the cron's time zone (default UTC)")
    p.add_argument(
        "--missed",
        choices=("skip", "run_once"),
        default="skip",
        help="ticks missed while no scheduler ran: skip them (default) or run once on start",
    )
    p.add_argument(
        "--timeout", type=positive_number, default=3600.0, help="seconds per run (default 3600)"
    )
    _place_options(p)
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser("list", help="the reports there are, and the schedules")
    _place_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("runs", help="a report's runs, newest first")
    p.add_argument("name", nargs="?", help="only this report's runs")
    p.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    _place_options(p)
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("cancel", help="delete a schedule (its number) or stop a run (its id)")
    p.add_argument("id", help="a schedule's number or a run's id (report list / report runs)")
    _place_options(p)
    p.set_defaults(func=cmd_cancel)


def add_scheduler_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-concurrent", type=int, default=2, help="reports running at once (default 2)"
    )
    _place_options(p)


# -- the commands ----------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from alphapulse.reports.jobs import run_now

    data_dir, lake = _places(args)
    with _appdb(data_dir) as db:
        record = run_now(
            db,
            args.name,
            _parameters(args),
            data_dir=data_dir,
            lake=lake,
            timeout=args.timeout,
        )
    if args.json:
        print(orjson.dumps(_run_json(record), option=orjson.OPT_INDENT_2).decode())
    else:
        print(f"{record.id}  {record.status}  {_seconds(record.seconds)}")
        print(f"archive: {record.archive}")
        if record.error:
            print(f"error: {record.error}", file=sys.stderr)
    return 0 if record.status == "succeeded" else RUN_FAILED


def cmd_schedule(args: argparse.Namespace) -> int:
    from alphapulse.reports.runner import validate_request
    from alphapulse.reports.scheduler import check_cron, check_timezone, next_ticks

    cron, timezone = check_cron(args.cron), check_timezone(args.timezone)
    params = _parameters(args)
    validate_request(args.name, params)
    data_dir, _ = _places(args)
    with _appdb(data_dir) as db:
        schedule = db.add_schedule(
            args.name, cron, params, timezone=timezone, missed=args.missed, timeout=args.timeout
        )
    ticks = next_ticks(cron, timezone, datetime.now(UTC), 3)
    print(f"schedule {schedule.id}: {args.name} at {cron!r} ({timezone})")
    print("next runs: " + ", ".join(f"{t:%Y-%m-%d %H:%M} UTC" for t in ticks))
    print("run by a scheduler: the Jupyter server, `alphapulse collect` or `alphapulse scheduler`")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    data_dir, _ = _places(args)
    reports = list_reports()
    with _appdb(data_dir) as db:
        schedules = db.schedules()
    if args.json:
        doc = {
            "reports": [info.to_json() for info in reports],
            "schedules": [_schedule_json(s) for s in schedules],
        }
        print(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
        return 0
    print("reports:")
    for info in reports:
        names = ", ".join(info.parameters) or "no parameters"
        print(f"  {info.name:<20} {info.title}  ({names})")
    print("schedules:" if schedules else "schedules: none")
    for s in schedules:
        state = "" if s.enabled else "  (disabled)"
        print(
            f"  {s.id:>3}  {s.report:<20} {s.cron!r} {s.timezone}  missed={s.missed}"
            f"  params={orjson.dumps(s.params).decode()}{state}"
        )
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    data_dir, _ = _places(args)
    with _appdb(data_dir) as db:
        runs = db.runs(report=args.name, limit=max(1, args.limit))
    if args.json:
        print(orjson.dumps([_run_json(r) for r in runs], option=orjson.OPT_INDENT_2).decode())
        return 0
    if not runs:
        print("no runs")
    for r in runs:
        error = f"  {r.error}" if r.error else ""
        print(f"{r.id}  {r.report:<20} {r.status:<10} {_seconds(r.seconds):>8}{error}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    data_dir, _ = _places(args)
    with _appdb(data_dir) as db:
        if args.id.isdigit():
            if not db.delete_schedule(int(args.id)):
                raise ReportError(f"no schedule {args.id} (alphapulse report list)")
            print(f"schedule {args.id} deleted")
            return 0
        record = db.run(args.id)
        if record is None:
            raise ReportError(f"no run {args.id!r} (alphapulse report runs)")
        if record.status not in ("queued", "running"):
            raise ReportError(f"run {args.id} has already ended ({record.status})")
        db.request_cancel(args.id)
    print(f"run {args.id}: cancel requested (its scheduler stops it within a second or two)")
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    from alphapulse.reports.scheduler import Scheduler

    if args.max_concurrent < 1:
        raise ReportError("--max-concurrent must be 1 or more")
    data_dir, lake = _places(args)

    async def serve() -> None:
        with _appdb(data_dir) as db:
            scheduler = Scheduler(
                db, data_dir=data_dir, lake=lake, max_concurrent=args.max_concurrent
            )
            loop = asyncio.get_running_loop()
            done = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, done.set)
            task = asyncio.create_task(scheduler.run())
            print(f"scheduler: {db.url}, archive {data_dir / 'reports'} (Ctrl-C stops)")
            await done.wait()
            await scheduler.stop()
            task.cancel()

    asyncio.run(serve())
    return 0


# -- the parts ---------------------------------------------------------------------------


def _parameter_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a parameter; VALUE read as a number, true/false or none where it looks like one",
    )
    p.add_argument(
        "-r",
        "--raw",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a parameter kept as text",
    )


def _place_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lake", type=path_argument, help="the lake (default: data/lake or $ALPHAPULSE_LAKE)"
    )
    p.add_argument(
        "--data-dir",
        type=path_argument,
        help="where the app database and the report archive live (default: the lake's parent)",
    )


def _places(args: argparse.Namespace) -> tuple[Path, Path]:
    from alphapulse.config import CollectorConfig, data_directory

    lake = Path(args.lake) if args.lake else CollectorConfig.load().lake
    data_dir = Path(args.data_dir) if args.data_dir else data_directory(lake)
    return data_dir, lake


def _parameters(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {name: typed_value(value) for name, value in args.parameter}
    params.update({name: value for name, value in args.raw})
    return params


def typed_value(text: str) -> Any:
    """papermill's reading of ``-p``: None, booleans, integers and floats; text otherwise."""
    lowered = text.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


@contextmanager
def _appdb(data_dir: Path) -> Iterator[AppDB]:
    from alphapulse.appdb import AppDB

    db = AppDB.open(data_dir=data_dir)
    try:
        yield db
    finally:
        db.close()


def _seconds(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else "-"


def _run_json(r: RunRecord) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(r).items()}


def _schedule_json(s: ScheduleRecord) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(s).items()}
