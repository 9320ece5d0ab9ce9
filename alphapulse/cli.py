"""The ``alphapulse`` command."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import orjson
from tqdm import tqdm

from alphapulse import _core
from alphapulse.capture import CaptureError
from alphapulse.replay import INSTRUMENT_COUNTERS, ReplayReport, replay

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


def _write(stream: TextIO, text: str) -> None:
    """Write and flush; a reader that went away (``| head``) ends the output quietly."""
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        # Point the descriptor at /dev/null so the interpreter's flush at exit does not
        # report the same broken pipe with a traceback.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


def _one_line(message: object) -> str:
    return str(message).replace("\r", "\\r").replace("\n", "\\n")


def cmd_replay(args: argparse.Namespace) -> int:
    bar = ReplayProgress(sys.stderr) if not args.json else None
    try:
        report = replay(args.path, progress=bar)
    except (CaptureError, OSError) as e:
        _write(sys.stderr, f"alphapulse replay: {_one_line(e)}\n")
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

    if not 0 < args.seconds < float("inf"):
        _write(sys.stderr, f"alphapulse demo: --seconds must be positive, not {args.seconds}\n")
        return 2
    out = Path(args.out)
    try:
        if out.exists():
            out.unlink()
        stats = write_demo_capture(out, seconds=args.seconds, seed=args.seed)
    except OSError as e:
        _write(sys.stderr, f"alphapulse demo: {_one_line(e)}\n")
        return 2
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
            print(f"alphapulse schema: {e.args[0]}", file=sys.stderr)
            return 2
        print(f"{name}:")
        for f in schema:
            print(f"  {f.name:<16} {f.type}{'' if f.nullable else ' not null'}")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from alphapulse.collect import run_collector
    from alphapulse.config import CollectorConfig, ConfigError, VenueConfig

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        config = CollectorConfig.load(Path(args.config) if args.config else None)
    except ConfigError as e:
        print(f"alphapulse collect: {e}", file=sys.stderr)
        return 2
    if args.lake:
        config.lake = Path(args.lake)
    if args.capture:
        config.capture = Path(args.capture)
    if args.venue:
        symbols = args.symbols.split(",") if args.symbols else []
        if not symbols:
            print("alphapulse collect: --venue needs --symbols", file=sys.stderr)
            return 2
        config.venues = {args.venue: VenueConfig(symbols)}
    result = asyncio.run(
        run_collector(
            config,
            simulated=args.simulated,
            duration=args.duration,
            out=sys.stderr,
            rate=args.rate,
        )
    )
    summary = result.summary
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    if not result.ok:
        print(
            f"alphapulse collect: rows lost {result.rows_lost}, out of sync {result.out_of_sync}",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from alphapulse.collect import print_status
    from alphapulse.config import CollectorConfig

    lake = Path(args.lake) if args.lake else CollectorConfig.load().lake
    return print_status(lake)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alphapulse", description=__doc__)
    parser.add_argument("--version", action="version", version=_core.__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("replay", help="replay a capture through the normalizers and books")
    p.add_argument("path", help="an AlphaPulse capture or a shared recording (gzip/zstd)")
    p.add_argument(
        "--verify",
        action="store_true",
        help="exit non-zero when any checksum fails or any sequence gap is found",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("demo", help="write a demo capture in the venues' real wire formats")
    p.add_argument("--out", default="data/demo.capture.zst")
    p.add_argument("--seconds", type=float, default=30.0, help="simulated market time")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("collect", help="collect market data into the lake")
    p.add_argument("--config", help="a TOML config (default: $ALPHAPULSE_CONFIG)")
    p.add_argument("--lake", help="lake directory (default: data/lake or $ALPHAPULSE_LAKE)")
    p.add_argument("--capture", help="also capture every raw frame to this file")
    p.add_argument(
        "--simulated",
        action="store_true",
        help="collect from the embedded simulator (the default with no config)",
    )
    p.add_argument("--venue", help="collect one venue (kraken, coinbase, binance, ...)")
    p.add_argument("--symbols", help="comma-separated venue symbols for --venue")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument(
        "--rate", type=float, default=200.0, help="simulator frames per second per venue"
    )
    p.set_defaults(func=cmd_collect)

    from alphapulse.simulator.cli import add_arguments, cmd_simulate

    p = sub.add_parser("simulate", help="serve a simulated venue on loopback")
    add_arguments(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("status", help="the status of a running collector")
    p.add_argument("--lake", help="the collector's lake directory")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("schema", help="print the Arrow schemas of the event tables")
    p.add_argument("table", nargs="?", help=f"one of {', '.join(_core.TABLES)}")
    p.set_defaults(func=cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code
