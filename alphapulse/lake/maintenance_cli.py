"""``alphapulse lake compact`` and ``alphapulse lake info``: the lake's maintenance commands.

``commands.py`` registers them (``add_subcommands``); errors are raised as LakeError and
the like, which ``commands.main`` turns into one line and an exit code.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from alphapulse.arguments import duration_argument, path_argument
from alphapulse.lake.layout import LakeError

if TYPE_CHECKING:  # the commands import these when run: `alphapulse --help` stays quick
    from alphapulse.lake.compact import CompactionReport
    from alphapulse.lake.info import LakeInfo

MB = 1e6
#: compact.DEFAULT_OLDER_THAN, in seconds.
DEFAULT_OLDER_THAN_S = 3600.0


class UnreadableFilesError(LakeError):
    """Some groups could not be read and were left as they were: exit 1."""


def add_subcommands(parser: argparse.ArgumentParser) -> None:
    """``lake compact`` and ``lake info`` under ``parser`` (the ``lake`` command)."""
    sub = parser.add_subparsers(dest="lake_command", metavar="{compact,info}", required=True)
    p = sub.add_parser("compact", help="merge each partition's small files into large sorted ones")
    _lake_option(p)
    p.add_argument(
        "--older-than",
        type=duration_argument,
        default=DEFAULT_OLDER_THAN_S,
        metavar="AGE",
        help="merge only files at least this old (90s, 15m, 1h; default 1h)",
    )
    p.add_argument(
        "--table",
        type=table_argument,
        dest="tables",
        action="extend",
        nargs="+",
        metavar="T",
        help="only these tables (default: all)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_compact)

    p = sub.add_parser("info", help="tables, partitions, files, rows, bytes and time ranges")
    _lake_option(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_info)


def table_argument(text: str) -> str:
    """A lake table's name (a usage error otherwise: exit 2)."""
    from alphapulse import _core

    known = [*_core.TABLES, "events"]
    if text not in known:
        raise argparse.ArgumentTypeError(f"no table {text!r}: one of {', '.join(known)}")
    return text


def _lake_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lake", type=path_argument, help="lake directory (default: data/lake or $ALPHAPULSE_LAKE)"
    )


def _lake(args: argparse.Namespace) -> Path:
    from alphapulse.config import CollectorConfig

    # The collector's resolution: --lake, else $ALPHAPULSE_CONFIG's lake, $ALPHAPULSE_LAKE.
    return Path(args.lake) if args.lake else CollectorConfig.load().lake


def cmd_compact(args: argparse.Namespace) -> int:
    from alphapulse.lake.compact import compact

    report = compact(_lake(args), older_than=timedelta(seconds=args.older_than), tables=args.tables)
    if args.json:
        print(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        print(format_report(report))
    if report.problems:
        more = f" (and {len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
        raise UnreadableFilesError(f"left as it was: {report.problems[0]}{more}")
    return 0


def format_report(report: CompactionReport) -> str:
    """One paragraph: files before and after, rows, MB before and after, rows/s."""
    repaired = (
        f" Finished an interrupted compaction ({report.repaired} leftovers removed)."
        if report.repaired
        else ""
    )
    if not report.files_in:
        return f"Nothing to compact ({report.seconds:.2f} s).{repaired}"
    return (
        f"Compacted {report.files_in:,} files into {report.files_out:,} in "
        f"{report.partitions:,} partition{'s' if report.partitions != 1 else ''}: "
        f"{report.rows:,} rows, {report.bytes_before / MB:,.1f} MB -> "
        f"{report.bytes_after / MB:,.1f} MB, {report.seconds:.2f} s "
        f"({report.rows_per_second:,.0f} rows/s).{repaired}"
    )


def cmd_info(args: argparse.Namespace) -> int:
    from alphapulse.lake.info import info

    lake = info(_lake(args))
    if args.json:
        print(orjson.dumps(lake.to_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        print(format_info(lake))
    damaged = [f"{t.name}: damaged lake file {d}" for t in lake.tables for d in t.damaged]
    if damaged:
        more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
        raise UnreadableFilesError(f"{damaged[0]}{more}: move it out of the lake or restore it")
    return 0


_COLUMNS = (
    "table",
    "partitions",
    "files",
    "compacted",
    "rows",
    "MB",
    "first ts_recv",
    "last ts_recv",
)


def format_info(lake: LakeInfo) -> str:
    """A header line and an aligned table (numbers right, names left)."""
    writer = "a live writer's tail" if lake.live_writer else "no live writer"
    lines = [f"{lake.root}: lake schema version {lake.schema_version}, {writer}"]
    if not lake.tables:
        return "\n".join([*lines, "no tables yet"])
    live = lake.live_writer
    header = [*_COLUMNS, *(["tail rows"] if live else [])]
    rows = [header]
    for t in lake.tables:
        row = [
            t.name,
            f"{t.partitions:,}",
            f"{t.files:,}",
            f"{t.compacted_files:,}",
            f"{t.rows:,}",
            f"{t.bytes / MB:,.1f}",
            _when(t.first_ts_recv),
            _when(t.last_ts_recv),
        ]
        if live:
            row.append("-" if t.tail_rows is None else f"{t.tail_rows:,}")
        rows.append(row)
    damaged = [f"{t.name}: damaged file {d}" for t in lake.tables for d in t.damaged]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    left = {0, 6, 7}
    for r in rows:
        cells = [
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join([*lines, *damaged])


def _when(ns: int | None) -> str:
    from alphapulse.lake.info import iso_ns

    # Milliseconds are plenty on a terminal; --json has the nanoseconds.
    text = iso_ns(ns)
    return "-" if text is None else f"{text[:10]} {text[11:23]}"
