"""The partitioned layout's upkeep, done by the service: daily partitions created ahead of
the rows that need them, and partitions older than the retention dropped.

No default partition: a row whose day has no partition fails its COPY loudly (the sink
creates the days a batch spans before copying it) rather than landing in a catch-all that
would then block creating that day's partition.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from alphapulse.buffer.migrations import RETENTION_DAYS
from alphapulse.buffer.schema import DAY_NS, SCHEMA, TABLES, quote

AHEAD_DAYS = 2  # today and the next two: a midnight never waits on DDL
#: Every partitioned table: the event tables and their segments.
PARTITIONED = (*TABLES, "segments")


def day_of_ns(ns: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=ns // DAY_NS)


async def ensure_partitions(
    conn: Any, days: Iterable[dt.date], tables: Iterable[str] = PARTITIONED
) -> int:
    """Create the daily partitions missing for ``days`` of ``tables``; how many were new."""
    created = 0
    for name in tables:
        for day in sorted(set(days)):
            made = await conn.fetchval(
                f"SELECT {quote(SCHEMA)}.ensure_partition($1, $2)", name, day
            )
            created += bool(made)
    return created


async def ensure_ahead(conn: Any, today: dt.date | None = None, ahead: int = AHEAD_DAYS) -> int:
    """Today's partition and the next ``ahead`` days' for every table."""
    start = today or dt.datetime.now(dt.UTC).date()
    days = [start + dt.timedelta(days=i) for i in range(ahead + 1)]
    return await ensure_partitions(conn, days)


async def drop_expired(
    conn: Any, keep_days: int = RETENTION_DAYS, at: dt.datetime | None = None
) -> list[str]:
    """Drop every partition whose whole day is older than ``keep_days`` before ``at``."""
    moment = at or dt.datetime.now(dt.UTC)
    rows = await conn.fetch(
        f"SELECT * FROM {quote(SCHEMA)}.drop_expired_partitions($1, $2)", keep_days, moment
    )
    return sorted(str(r[0]) for r in rows)


async def partitions(conn: Any, table: str) -> list[str]:
    """The names of ``table``'s partitions, oldest first."""
    rows = await conn.fetch(
        """SELECT c.relname FROM pg_inherits i
           JOIN pg_class c ON c.oid = i.inhrelid
           JOIN pg_class p ON p.oid = i.inhparent
           JOIN pg_namespace n ON n.oid = p.relnamespace
           WHERE n.nspname = $1 AND p.relname = $2 ORDER BY c.relname""",
        SCHEMA,
        table,
    )
    return [str(r[0]) for r in rows]
