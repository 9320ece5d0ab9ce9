"""``alphapulse buffer export``: the PostgreSQL buffer's rows into the lake where it lacks them.

``commands.py`` registers it (``add_subcommands``). The buffer's DSN is the collector's
(``$ALPHAPULSE_PG_DSN``, else the config file's ``pg_dsn``); errors are one line, with the
password masked.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from alphapulse.arguments import UsageError, path_argument
from alphapulse.dsn import mask, password_of


class BufferError(Exception):
    """The buffer could not be read (the server, the DSN): one line, exit 1."""


def instant_argument(text: str) -> int:
    """An ISO time or date (UTC unless it says otherwise), as epoch nanoseconds."""
    from alphapulse.query.book import to_ns

    try:
        return to_ns(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_subcommands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="buffer_command", metavar="{export}", required=True)
    p = sub.add_parser(
        "export",
        help="write into the lake the buffer's (table, venue, hour) windows the lake lacks",
    )
    p.add_argument("--lake", type=path_argument, help="lake directory (default: the collector's)")
    p.add_argument("--since", type=instant_argument, help="from this time (ISO; default: all)")
    p.add_argument("--until", type=instant_argument, help="before this time (ISO)")
    p.add_argument(
        "--table",
        dest="tables",
        action="extend",
        nargs="+",
        metavar="T",
        help="only these buffer tables (default: all)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from alphapulse.buffer.export import export
    from alphapulse.buffer.schema import TABLES
    from alphapulse.config import CollectorConfig

    config = CollectorConfig.load()
    if not config.pg_dsn:
        raise UsageError("no buffer configured: set ALPHAPULSE_PG_DSN (or pg_dsn in the config)")
    unknown = sorted(set(args.tables or ()) - set(TABLES))
    if unknown:
        raise UsageError(f"no buffer table {unknown[0]!r}: one of {', '.join(TABLES)}")
    lake = Path(args.lake) if args.lake else config.lake
    try:
        report = export(
            config.pg_dsn,
            lake,
            tables=args.tables or TABLES,
            start=args.since,
            end=args.until,
            progress=None if args.json else sys.stderr,
        )
    except Exception as exc:
        from adbc_driver_manager import Error as AdbcError

        if not isinstance(exc, AdbcError):
            raise
        reason = mask(str(exc).strip().splitlines()[0], password_of(config.pg_dsn))
        raise BufferError(f"cannot read the buffer: {reason}") from None
    if args.json:
        print(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        print(
            f"{report.exported} of {report.windows} windows exported ({report.rows:,} rows, "
            f"{len(report.files)} files); {report.skipped} the lake had"
        )
    return 0
