"""Versioned migrations of the buffer's tables, applied in order in one transaction.

A short ordered list of SQL steps rather than Alembic: the buffer is written through asyncpg
(no SQLAlchemy engine to hand Alembic), its layout is chosen at run time (TimescaleDB
hypertables or native partitions), and the app database's Alembic history stays separate.
The version table ``alphapulse_buffer.schema_version`` records each applied step and the
layout; a transaction-scoped advisory lock serialises two services migrating at once.

Layouts:

- ``timescale``: hypertables on ``ts_recv`` (integer nanoseconds, daily chunks), compressed
  after a day segmented by (venue, symbol), dropped after seven days: by TimescaleDB's own
  retention policies until version 6, since then by one job dropping every table's expired
  chunks together (``drop_expired``). The jobs' first run is an hour after the migration
  (a job starting at once races a caller still loading data).
- ``partitioned``: tables partitioned by range of ``ts_recv``, one partition a day, created
  ahead and dropped after seven days by the service (see ``partitions.py``) through the
  functions created here.

Both layouts keep ``segments`` beside the tables (version 6): the rows of a symbol-minute as
one Arrow stream, which readers fetch far faster than the rows (see ``segments.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from alphapulse.buffer import schema, segments
from alphapulse.buffer.schema import DAY_NS, SCHEMA, quote

Layout = Literal["timescale", "partitioned"]
LAYOUTS: tuple[Layout, ...] = ("timescale", "partitioned")
RETENTION_DAYS = 7
POLICY_START = "now() + interval '1 hour'"
# Any constant unique to us: pg_advisory_xact_lock's key for "migrating the buffer".
LOCK_KEY = 0x616C7068_61627566  # "alphabuf"
VERSION_TABLE = f"{quote(SCHEMA)}.schema_version"


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: Callable[[Layout], list[str]]


def _tables(layout: Layout) -> list[str]:
    return [
        schema.create_table_sql(schema.table(name), partitioned=layout == "partitioned")
        for name in schema.TABLES
    ]


def _indexes(_layout: Layout) -> list[str]:
    return [schema.index_sql(schema.table(name)) for name in schema.TABLES]


def _timescale(layout: Layout) -> list[str]:
    if layout != "timescale":
        return []
    out = [
        # TimescaleDB's policies on an integer time column need "now" in its unit.
        f"""CREATE FUNCTION {quote(SCHEMA)}.now_ns() RETURNS bigint LANGUAGE sql STABLE
            AS $$ SELECT (extract(epoch FROM now()) * 1000000000)::bigint $$"""
    ]
    for name in schema.TABLES:
        out += _hypertable(schema.table(name))
    return out


def _hypertable(t: schema.Table) -> list[str]:
    """``t`` as a hypertable with daily chunks, compression and retention."""
    segment = "venue, symbol" if t.has_symbol else "venue"
    literal = schema.literal(t.qualified)
    return [
        *_chunked(t.qualified),
        f"ALTER TABLE {t.qualified} SET (timescaledb.compress,"
        f" timescaledb.compress_segmentby = '{segment}',"
        " timescaledb.compress_orderby = 'ts_recv')",
        f"SELECT add_compression_policy({literal}, compress_after => {DAY_NS}::bigint,"
        f" initial_start => {POLICY_START})",
        f"SELECT add_retention_policy({literal},"
        f" drop_after => {RETENTION_DAYS * DAY_NS}::bigint, initial_start => {POLICY_START})",
    ]


def _chunked(qualified: str) -> list[str]:
    """The table ``qualified`` as a hypertable on ``ts_recv`` with daily chunks."""
    literal = schema.literal(qualified)
    return [
        f"SELECT create_hypertable({literal}, by_range('ts_recv', {DAY_NS}::bigint),"
        " create_default_indexes => false)",
        f"SELECT set_integer_now_func({literal}, '{SCHEMA}.now_ns')",
    ]


def _segments(layout: Layout) -> list[str]:
    """The readers' columnar copy of the rows (see ``segments.py``). On TimescaleDB a
    hypertable with the rows' daily chunks, not compressed (Arrow's bytes are); and the
    tables' retention policies become one job, so that a day's rows and their segments go
    in one transaction (policies of their own run at their own times: for hours a day
    would be in one and not the other)."""
    out = segments.create_sql(partitioned=layout == "partitioned")
    if layout != "timescale":
        return out
    tables = [schema.table(name).qualified for name in schema.TABLES] + [segments.QUALIFIED]
    drops = "\n".join(
        f"PERFORM drop_chunks({schema.literal(q)}::regclass, older_than => cutoff);" for q in tables
    )
    return [
        *out,
        *_chunked(segments.QUALIFIED),
        *(
            f"SELECT remove_retention_policy({schema.literal(schema.table(name).qualified)})"
            for name in schema.TABLES
        ),
        f"""CREATE PROCEDURE {quote(SCHEMA)}.drop_expired(job_id integer, config jsonb)
        LANGUAGE plpgsql AS $$
        DECLARE
            cutoff bigint := {quote(SCHEMA)}.now_ns() - {RETENTION_DAYS * DAY_NS}::bigint;
        BEGIN
            {drops}
        END $$""",
        f"SELECT add_job('{SCHEMA}.drop_expired', interval '1 hour',"
        f" initial_start => {POLICY_START})",
    ]


def _event_log(layout: Layout) -> list[str]:
    """``events`` becomes the collector's event log (it held the venues' raw statuses):
    dropped and made again, with its index and, on TimescaleDB, as a hypertable. Nothing
    wrote the old table but tests, so nothing of value goes."""
    t = schema.table("events")
    out = [
        f"DROP TABLE IF EXISTS {t.qualified}",
        schema.create_table_sql(t, partitioned=layout == "partitioned"),
        schema.index_sql(t),
    ]
    return out + (_hypertable(t) if layout == "timescale" else [])


def _partition_functions(layout: Layout) -> list[str]:
    if layout != "partitioned":
        return []
    # Server-side so that the service passes days and table names as bind parameters:
    # partition bounds are DDL, which takes no parameters, and format(%I, %L) quotes them.
    return [
        f"""CREATE FUNCTION {quote(SCHEMA)}.ensure_partition(tbl text, day date)
        RETURNS boolean LANGUAGE plpgsql AS $$
        DECLARE
            part text := tbl || '_p' || to_char(day, 'YYYYMMDD');
            lo bigint := (extract(epoch FROM day::timestamp) * 1000000000)::bigint;
        BEGIN
            IF to_regclass(format('%I.%I', '{SCHEMA}', part)) IS NOT NULL THEN
                RETURN false;
            END IF;
            EXECUTE format('CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF %I.%I'
                           ' FOR VALUES FROM (%s) TO (%s)',
                           '{SCHEMA}', part, '{SCHEMA}', tbl, lo, lo + {DAY_NS}::bigint);
            RETURN true;
        END $$""",
        # Drops a day's partition once all of it is older than keep_days before at.
        f"""CREATE FUNCTION {quote(SCHEMA)}.drop_expired_partitions(keep_days integer,
                                                               at timestamptz)
        RETURNS SETOF text LANGUAGE plpgsql AS $$
        DECLARE
            child record;
            cutoff date := ((at AT TIME ZONE 'UTC') - make_interval(days => keep_days))::date;
        BEGIN
            FOR child IN
                SELECT c.relname FROM pg_inherits i
                JOIN pg_class c ON c.oid = i.inhrelid
                JOIN pg_class p ON p.oid = i.inhparent
                JOIN pg_namespace n ON n.oid = p.relnamespace
                WHERE n.nspname = '{SCHEMA}' AND c.relname ~ '_p[0-9]{{8}}$'
            LOOP
                IF to_date(right(child.relname, 8), 'YYYYMMDD') < cutoff THEN
                    EXECUTE format('DROP TABLE %I.%I', '{SCHEMA}', child.relname);
                    RETURN NEXT child.relname;
                END IF;
            END LOOP;
        END $$""",
    ]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "event tables", _tables),
    Migration(2, "indexes on (venue, symbol, ts_recv)", _indexes),
    Migration(3, "timescale: hypertables, compression, retention", _timescale),
    Migration(4, "partitioned: partition functions", _partition_functions),
    Migration(5, "events: the collector's event log", _event_log),
    Migration(6, "segments: a symbol-minute's rows as Arrow, for readers", _segments),
)


class MigrationError(RuntimeError):
    """The buffer's database cannot be migrated (the reason is the message)."""


async def timescale_available(conn: Any) -> bool:
    """Whether CREATE EXTENSION timescaledb can work: installed and preloaded."""
    installed = await conn.fetchval(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
    )
    preload = await conn.fetchval("SELECT current_setting('shared_preload_libraries')")
    return bool(installed) and "timescaledb" in str(preload)


async def migrate(conn: Any, layout: Layout | Literal["auto"] = "auto") -> tuple[Layout, int]:
    """Bring the buffer's tables to the newest version; (layout, number of steps applied).

    ``conn`` is an asyncpg connection. ``auto`` takes TimescaleDB when it is available, and
    an existing buffer's layout otherwise; asking for a layout other than the existing
    one's is a MigrationError.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(SCHEMA)}")
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
                version integer PRIMARY KEY,
                description text NOT NULL,
                layout text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        rows = await conn.fetch(f"SELECT version, layout FROM {VERSION_TABLE} ORDER BY version")
        existing = {str(r["layout"]) for r in rows}
        if len(existing) > 1:
            raise MigrationError(f"the buffer's version table mixes layouts {sorted(existing)}")
        chosen: Layout
        if existing:
            (found,) = existing
            if layout not in ("auto", found):
                raise MigrationError(f"the buffer exists with layout {found}, not {layout}")
            chosen = "timescale" if found == "timescale" else "partitioned"
        elif layout == "auto":
            chosen = "timescale" if await timescale_available(conn) else "partitioned"
        else:
            chosen = layout
        if chosen == "timescale" and not existing:
            if not await timescale_available(conn):
                raise MigrationError(
                    "layout timescale needs the timescaledb extension installed and in"
                    " shared_preload_libraries"
                )
            await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        done = {int(r["version"]) for r in rows}
        newest = MIGRATIONS[-1].version
        if done and max(done) > newest:
            raise MigrationError(
                f"the buffer has schema version {max(done)}, newer than this AlphaPulse knows"
                f" (newest: {newest}): upgrade alphapulse"
            )
        applied = 0
        for step in MIGRATIONS:
            if step.version in done:
                continue
            for statement in step.statements(chosen):
                await conn.execute(statement)
            await conn.execute(
                f"INSERT INTO {VERSION_TABLE} (version, description, layout) VALUES ($1, $2, $3)",
                step.version,
                step.description,
                chosen,
            )
            applied += 1
        return chosen, applied
