"""The ``alphapulse`` command's subcommands (its entry point is :mod:`alphapulse.cli`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn, TextIO
from urllib.parse import urlsplit

import orjson
from tqdm import tqdm

from alphapulse import _core
from alphapulse.arguments import (
    UsageError,
    demo_seconds,
    path_argument,
    positive_number,
    seed_number,
    symbol_list,
)
from alphapulse.buffer import cli as buffer_cli
from alphapulse.capture import FORMAT as CAPTURE_FORMAT
from alphapulse.capture import CaptureError, CaptureReader
from alphapulse.config import CollectorConfig, ConfigError, VenueConfig
from alphapulse.dashboards import serve as dashboards_cli
from alphapulse.lake import maintenance_cli
from alphapulse.lake.layout import LOCK, MARKER, LakeError
from alphapulse.query import cli as query_cli
from alphapulse.replay import INSTRUMENT_COUNTERS, ReplayReport, replay
from alphapulse.reports import cli as reports_cli
from alphapulse.reports.catalog import ReportError
from alphapulse.simulator import cli as simulator_cli
from alphapulse.status import StatusFileError
from alphapulse.venues import VENUES

_HEADERS = {
    "trades": "trades",
    "quotes": "quotes",
    "book_updates": "book upd",
    "snapshots": "snaps",
    "checksums_verified": "crc ok",
    "checksums_failed": "crc FAIL",
    "gaps": "gaps",
    "crossed": "crossed",
    "duplicates": "dups",
}


class ReplayProgress:
    """A tqdm bar over the file's bytes, only on a terminal and for files worth waiting for."""

    def __init__(self, stream: TextIO, min_bytes: int = 4 << 20) -> None:
        self.stream = stream
        self.min_bytes = min_bytes
        self._bar: tqdm[Any] | None = None
        self._shown: bool | None = None  # decided on the first call, when the size is known

    def __call__(self, done: int, total: int) -> None:
        if self._shown is None:
            self._shown = total >= self.min_bytes and self.stream.isatty()
            if self._shown:
                self._bar = tqdm(
                    desc="replay",
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    file=self.stream,
                    leave=False,  # the report takes its place
                )
        if self._bar is not None:
            self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _damage_summary(report: ReplayReport) -> str:
    return (
        f"{report.unreadable_bytes:,} bytes / {report.unreadable_records:,} records unreadable "
        f"in {report.damaged_places:,} damaged place{'s' if report.damaged_places != 1 else ''}"
    )


def _checks_summary(report: ReplayReport) -> str:
    return f"{report.checksums_failed} checksum failures, {report.gaps} sequence gaps" + (
        f"; out of sync: {', '.join(report.out_of_sync)}" if report.out_of_sync else ""
    )


def format_report(report: ReplayReport) -> str:
    lines = [
        f"{report.path} ({report.format}, {report.compression}): {report.records:,} records, "
        f"{report.frames:,} frames, {report.rejects:,} rejects",
    ]
    if not report.intact:
        lines.append(f"  DAMAGED: {_damage_summary(report)}:")
        lines += [f"    {place}" for place in report.damage]
        if report.damaged_places > len(report.damage):
            lines.append(f"    ... and {report.damaged_places - len(report.damage):,} more")
    if report.connection_gaps:
        lines.append(f"  connection sequence gaps: {report.connection_gaps:,}")
    name_width = max([len("instrument"), *map(len, report.instruments)])
    header = "  ".join(f"{_HEADERS[c]:>9}" for c in INSTRUMENT_COUNTERS)
    lines.append(f"{'instrument':<{name_width}}  {header}")
    for name in sorted(report.instruments):
        counts = report.instruments[name]
        row = "  ".join(f"{counts[c]:>9,}" for c in INSTRUMENT_COUNTERS)
        lines.append(f"{name:<{name_width}}  {row}")
    if report.ok:
        lines.append(f"OK: {_checks_summary(report)}")
    elif not report.intact:
        lines.append(f"DAMAGED: {_damage_summary(report)}; {_checks_summary(report)}")
    else:
        lines.append(f"FAILED: {_checks_summary(report)}")
    return "\n".join(lines)


def _write(stream: TextIO | None, text: str) -> None:
    """Write and flush. A reader that went away (``| head``) raises BrokenPipeError, which
    ``main`` turns into exit 1 without a word, as for every command; a stream Python did
    not open (started with ``>&-``) takes nothing, as ``print`` does."""
    if stream is None:
        return
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        # Point the descriptor at /dev/null so the interpreter's flush at exit does not
        # report the same broken pipe with a traceback.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        raise


def _one_line(message: object) -> str:
    return str(message).replace("\r", "\\r").replace("\n", "\\n")


def cmd_replay(args: argparse.Namespace) -> int:
    bar = ReplayProgress(sys.stderr) if not args.json else None
    try:
        report = replay(args.path, progress=bar)
    except (CaptureError, OSError) as e:
        _write(sys.stderr, f"alphapulse replay: error: {_one_line(describe_error(e))}\n")
        return 2
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        _write(
            sys.stdout, orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n"
        )
    else:
        _write(sys.stdout, format_report(report) + "\n")
    if args.verify and not report.ok:
        problems = [] if report.intact else [_damage_summary(report)]
        if report.checksums_failed or report.gaps:
            problems.append(_checks_summary(report))
        _write(sys.stderr, f"alphapulse replay: {report.path}: {'; '.join(problems)}\n")
        return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from alphapulse.simulator.demo import write_demo_capture

    out = Path(args.out)
    if out.is_dir():
        raise UsageError(f"--out {out}: a directory, not a capture file")
    # Written beside its place and renamed when complete: an interrupted or failed demo
    # leaves no capture behind (a capture cut at a frame boundary would replay as whole),
    # and the previous one stays until the new one is ready.
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)  # the writer appends
        stats = write_demo_capture(tmp, seconds=args.seconds, seed=args.seed)
        tmp.replace(out)
    except OSError as e:
        _write(sys.stderr, f"alphapulse demo: error: {_one_line(describe_error(e))}\n")
        return 2
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    _write(
        sys.stdout,
        f"wrote {out}: {stats.frames:,} records from {', '.join(stats.venues)} "
        f"({out.stat().st_size:,} bytes)\n",
    )
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    import pyarrow as pa

    names = [args.table] if args.table else _core.TABLES
    for name in names:
        try:
            schema = pa.schema(_core.event_schema(name))
        except KeyError as e:
            raise UsageError(str(e.args[0])) from None
        print(f"{name}:")
        for f in schema:
            print(f"  {f.name:<16} {f.type}{'' if f.nullable else ' not null'}")
    return 0


def collect_config(args: argparse.Namespace) -> CollectorConfig:
    """What ``collect`` would run: the config file, the environment, then the options.

    Raises ConfigError for the file and UsageError for options that do not fit together;
    it touches no file but the config and starts nothing, so tests run any input through."""
    config = CollectorConfig.load(Path(args.config) if args.config else None)
    if args.lake:
        config.lake = Path(args.lake)
    if args.capture:
        config.capture = Path(args.capture)
    if not getattr(args, "journal", True):
        config.journal = False
    if args.symbols and not args.venue:
        raise UsageError("--symbols needs --venue")
    if args.venue:
        # The file's settings for that venue (URLs, depth) stay; the options narrow them.
        configured = config.venues.get(args.venue)
        if args.symbols:
            chosen = replace(configured or VenueConfig([]), symbols=args.symbols)
        elif configured is not None:
            chosen = configured
        else:
            raise UsageError(f"--venue {args.venue} needs --symbols (it is not in the config)")
        config.venues = {args.venue: chosen}

    def where(name: str) -> str:
        if args.symbols or config.source is None:
            return f"--venue {name}"
        return f"{config.source}: venues.{name}"

    if args.simulated:
        from alphapulse.simulator.exchange import SimulatedExchange

        for name, vc in config.venues.items():
            try:
                SimulatedExchange(name, vc.symbols)  # a model per symbol; nothing started
            except ValueError as e:
                raise ConfigError(f"{where(name)}: the simulator cannot serve it: {e}") from None
    for name, vc in config.venues.items():
        try:
            # What the service calls first: missing or unusable keys show here, once,
            # rather than at every reconnect (a venue checks its keys when it is built).
            venue = VENUES[name](vc.symbols, **vc.venue_kwargs(VENUES[name]))
            for connection in venue.connections():
                # The config's URLs are checked by its schema; this also catches the ones
                # from the environment (ALPACA_BASE_URL), which would fail at every connect.
                # (--simulated points every venue at the simulator instead.)
                parts = urlsplit(connection.url)
                if not args.simulated and (parts.scheme not in ("ws", "wss") or not parts.hostname):
                    raise ValueError(
                        f"connection {connection.name}: {connection.url[:80]!r} is not a "
                        "ws:// or wss:// URL"
                    )
                if callable(connection.auth):
                    connection.auth()
        # cryptography raises TypeError for an encrypted private key.
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{where(name)}: {_one_line(str(e))}") from None
    return config


def check_paths(config: CollectorConfig) -> None:
    """Paths of the wrong kind, found before any venue is contacted (the writers would
    fail later with less to say: "File exists" for a file where the lake should be)."""
    lake = config.lake
    if lake.exists() and not lake.is_dir():
        raise LakeError(f"{lake}: not a directory (a lake is a directory)")
    if lake.is_dir() and not (lake / MARKER).exists():
        # `--lake .` or `--lake ~` would fill that directory with table directories.
        from alphapulse.collect import STATUS_FILE

        status = Path(STATUS_FILE)
        ours = {LOCK, f".{MARKER}.tmp", status.name, status.with_suffix(".tmp").name}
        if others := sorted(p.name for p in lake.iterdir() if p.name not in ours):
            raise LakeError(
                f"{lake}: not a lake (no {MARKER}) and not empty ({others[0]}"
                f"{', ...' if len(others) > 1 else ''}): give a new or empty directory"
            )
    if config.capture is not None and config.capture.is_dir():
        raise CaptureError(f"{config.capture}: a directory, not a capture file")
    if config.capture is not None:
        # The writer creates missing directories; a file on the way made that "File exists".
        existing = next(p for p in config.capture.parents if p.exists())
        if not existing.is_dir():
            raise CaptureError(f"{config.capture}: {existing} is a file, not a directory")
    if config.capture is not None and config.capture.is_file() and config.capture.stat().st_size:
        # The writer appends: to a capture of ours, a new session; to anything else (a
        # recording, a log), zstd frames that ruin it and a capture no reader can use.
        reader = CaptureReader(config.capture)
        with contextlib.suppress(CaptureError):
            next(iter(reader), None)  # the header tells the format
        if reader.format != CAPTURE_FORMAT or reader.compression != "zstd":
            raise CaptureError(
                f"{config.capture}: exists and is not an AlphaPulse capture (zstd); "
                "captures are appended to, so give a new file or an existing capture"
            )


def cmd_collect(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from alphapulse.collect import CollectResult, run_collector

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    config = collect_config(args)
    check_paths(config)

    async def collect() -> CollectResult:
        run = run_collector(
            config,
            simulated=args.simulated,
            duration=args.duration,
            out=sys.stderr,
            rate=args.rate,
            restart_note=args.restart_note,
        )
        task = asyncio.ensure_future(run)
        if not args.scheduler:
            return await task
        # Reports are scheduled once the collector is up: a collector that cannot start
        # says why, alone, without an app database opened for nothing.
        done, _ = await asyncio.wait({task}, timeout=SCHEDULER_AFTER_SECONDS)
        if done:
            return task.result()
        from alphapulse.config import data_directory
        from alphapulse.reports.scheduler import scheduler_running

        async with scheduler_running(data_directory(config.lake), config.lake):
            return await task

    result = asyncio.run(collect())
    summary = result.summary
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    if not result.ok:
        problems = [str(p) for p in summary.get("problems", [])]
        if result.rows_lost:
            problems.append(f"{result.rows_lost:,} rows lost")
        problems += [
            f"{venue} out of sync: {', '.join(books)}"
            for venue, books in result.out_of_sync.items()
        ]
        print(f"alphapulse collect: {_one_line('; '.join(problems))}", file=sys.stderr)
        return 1
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from alphapulse.status import dumps, format_status, read_status, status_json

    lake = Path(args.lake) if args.lake else CollectorConfig.load().lake
    status = read_status(lake)
    if status is None:
        raise NotRunningError(f"no collector is running on {lake}")
    now = time.time()
    print(dumps(status_json(lake, status, now)) if args.json else format_status(lake, status, now))
    return 0


EXIT_CODES = (
    "exit codes: 0 done; 1 failed while running (the lake, a file, rows lost or books out "
    "of sync, replay --verify found a fault, status found no collector); 2 bad usage or "
    "config; 130 interrupted"
)


#: Seconds a collector runs before `collect` starts the report scheduler beside it.
SCHEDULER_AFTER_SECONDS = 2.0


class NotRunningError(Exception):
    """``status`` found no collector: exit 1."""


class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line: the usage block is what ``--help`` is for."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="alphapulse", description=__doc__, epilog=EXIT_CODES)
    parser.add_argument("--version", action="version", version=_core.__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("replay", help="replay a capture through the normalizers and books")
    p.add_argument(
        "path", type=path_argument, help="an AlphaPulse capture or a shared recording (gzip/zstd)"
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="exit non-zero when any checksum fails or any sequence gap is found",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("demo", help="write a demo capture in the venues' real wire formats")
    p.add_argument("--out", type=path_argument, default="data/demo.capture.zst")
    p.add_argument(
        "--seconds", type=demo_seconds, default=30.0, help="simulated market time (at most a day)"
    )
    p.add_argument("--seed", type=seed_number, default=7)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("collect", help="collect market data into the lake")
    p.add_argument(
        "--config", type=path_argument, help="a TOML config (default: $ALPHAPULSE_CONFIG)"
    )
    p.add_argument(
        "--lake", type=path_argument, help="lake directory (default: data/lake or $ALPHAPULSE_LAKE)"
    )
    p.add_argument(
        "--capture", type=path_argument, help="also capture every raw frame to this file"
    )
    p.add_argument(
        "--simulated",
        action="store_true",
        help="collect from the embedded simulator (the default with no config)",
    )
    p.add_argument("--venue", choices=list(VENUES), help="collect this one venue")
    p.add_argument("--symbols", type=symbol_list, help="comma-separated venue symbols for --venue")
    p.add_argument("--duration", type=positive_number, help="stop after this many seconds")
    p.add_argument(
        "--rate",
        type=positive_number,
        default=200.0,
        help="simulator frames per second per venue",
    )
    p.add_argument(
        "--no-journal",
        dest="journal",
        action="store_false",
        help="do not journal what arrives (a crash then loses the rows not yet committed)",
    )
    p.add_argument(
        "--no-scheduler",
        dest="scheduler",
        action="store_false",
        help="do not run the report schedules here (the Jupyter server runs its own)",
    )
    # Set by the Jupyter server's supervisor when it restarts a collector that died: the
    # new run records why, as a `collector_restarted` event (JSON object).
    p.add_argument("--restart-note", type=orjson.loads, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("simulate", help="serve a simulated venue on loopback")
    simulator_cli.add_arguments(p)
    p.set_defaults(func=simulator_cli.cmd_simulate)

    p = sub.add_parser("status", help="the status of a running collector")
    p.add_argument("--lake", type=path_argument, help="the collector's lake directory")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("sql", help="run a SQL query over the lake and print the result")
    query_cli.add_arguments(p)
    p.set_defaults(func=query_cli.cmd_sql)

    p = sub.add_parser("lake", help="compact the lake's files, or show what it holds")
    maintenance_cli.add_subcommands(p)

    p = sub.add_parser("buffer", help="the PostgreSQL buffer: export its rows into the lake")
    buffer_cli.add_subcommands(p)

    p = sub.add_parser("report", help="run report notebooks now or on a schedule; their runs")
    reports_cli.add_report_commands(p)

    p = sub.add_parser("scheduler", help="run the report schedules (without Jupyter)")
    reports_cli.add_scheduler_arguments(p)
    p.set_defaults(func=reports_cli.cmd_scheduler)

    p = sub.add_parser(
        "dashboards", help="serve the Voila dashboards (monitoring wall, news) with a collector"
    )
    dashboards_cli.add_arguments(p)
    p.set_defaults(func=dashboards_cli.cmd_dashboards)

    p = sub.add_parser("schema", help="print the Arrow schemas of the event tables")
    p.add_argument("table", nargs="?", help=f"one of {', '.join(_core.TABLES)}")
    p.set_defaults(func=cmd_schema)
    return parser


#: The errors a user can cause and fix, with their exit codes: 2 when the command or its
#: config cannot run as given, 1 when running it failed. Any other exception is a bug and
#: keeps its traceback.
USER_ERRORS: tuple[tuple[type[Exception], int], ...] = (
    (UsageError, 2),
    (ReportError, 2),
    (ConfigError, 2),
    (NotRunningError, 1),
    (StatusFileError, 1),
    (LakeError, 1),
    (buffer_cli.BufferError, 1),
    (CaptureError, 1),
    (OSError, 1),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the one place where exceptions become messages and exit codes."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # usage errors (2), --help and --version (0)
        _flush_stdout()  # --help into a closed pipe
        return e.code if isinstance(e.code, int) else 2
    prog = f"alphapulse {args.command}"
    try:
        code: int = args.func(args)
    except BrokenPipeError:
        _stdout_to_devnull()
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        code = next((c for kind, c in _user_errors() if isinstance(e, kind)), 0)
        if not code:
            raise
        print(f"{prog}: error: {_one_line(describe_error(e))}", file=sys.stderr)
    return code if _flush_stdout() else 1


def _user_errors() -> Iterator[tuple[type[Exception], int]]:
    """USER_ERRORS, and the errors of modules too heavy to import for every command (the
    app database's: SQLAlchemy) when they were imported."""
    yield from USER_ERRORS
    if (appdb := sys.modules.get("alphapulse.appdb")) is not None:
        yield appdb.AppDBError, 1


def describe_error(e: Exception) -> str:
    if isinstance(e, OSError) and e.strerror:
        # "Permission denied: data/lake/_alphapulse_lake.lock", not "[Errno 13] ..."
        path = f": {e.filename}" if e.filename is not None else ""
        return f"{e.strerror}{path}"
    return str(e) or type(e).__name__


def _flush_stdout() -> bool:
    """Flush now, so that a closed pipe shows here and not at interpreter exit; False if
    the reader has gone (``alphapulse schema | head -1``)."""
    try:
        if sys.stdout is not None:  # None when started with stdout closed (>&-)
            sys.stdout.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
        return False
    return True


def _stdout_to_devnull() -> None:
    """Python's advice for a closed pipe: point stdout at /dev/null so that the flush at
    exit does not raise again (https://docs.python.org/3/library/signal.html#note-on-sigpipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (a test's capture)
        pass
