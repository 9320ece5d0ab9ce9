"""PostgresSink: the collector's normalized event batches into the buffer, by binary COPY.

    async with PostgresSink(dsn) as sink:      # connects, migrates, creates partitions
        await sink.write("trades", batch)      # one COPY now
        sink.add("quotes", batch)              # gathered; COPY once batch_rows are waiting
        await sink.flush()

Rows go as binary COPY built from the Arrow columns (``copy.encode``), streamed in pieces
of ``chunk_rows`` so a large batch never becomes one large buffer; ``method="records"``
takes asyncpg's ``copy_records_to_table`` instead (the measured peer). The collector's
side (a database down or slow, reconnecting, catching up) is ``feed.BufferFeed``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Literal

import asyncpg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from alphapulse.buffer import copy, partitions, segments
from alphapulse.buffer.migrations import Layout, migrate
from alphapulse.buffer.schema import DAY_NS, SCHEMA, TABLES, Table, table

log = logging.getLogger(__name__)

CHUNK_ROWS = 65_536  # rows per encoded piece of a COPY stream: ~10 MB of trades
BATCH_ROWS = 50_000  # rows gathered by add() before a COPY
COMPACT_KEYS = 64  # minutes merged in one transaction
GRACE_NS = 5_000_000_000  # a minute is over (its segments merged) this long after its end


class PostgresSink:
    """Writes event batches into the buffer's tables over one asyncpg connection."""

    def __init__(
        self,
        dsn: str,
        *,
        layout: Layout | Literal["auto"] = "auto",
        method: Literal["arrow", "records"] = "arrow",
        chunk_rows: int = CHUNK_ROWS,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.dsn = dsn
        self.requested_layout = layout
        self.method = method
        self.chunk_rows = chunk_rows
        self.batch_rows = batch_rows
        self.layout: Layout | None = None
        self.rows_written = {name: 0 for name in TABLES}
        self._conn: Any = None
        self._tables = {name: table(name) for name in TABLES}
        self._pending: dict[str, list[pa.RecordBatch]] = {name: [] for name in TABLES}
        self._days: set[dt.date] = set()  # partitioned layout: days known to exist
        # (table, venue, symbol, minute) -> segments there since this sink's last merge
        # (counting one for a minute already over): ``compact`` merges those over with two
        # or more.
        self._written: dict[tuple[str, str, str, int], int] = {}
        # table -> venues whose coverage this sink has made sure of (``segments.cover_sql``)
        self._covered: dict[str, set[str]] = {}
        #: Segments found unreadable (their venue's reads then go to the rows).
        self.segments_unreadable = 0

    async def start(self) -> PostgresSink:
        self._conn = await asyncpg.connect(self.dsn)
        try:
            self.layout, _ = await migrate(self._conn, self.requested_layout)
            if self.layout == "partitioned":
                await partitions.ensure_ahead(self._conn)
            await self._unmerged()
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def __aenter__(self) -> PostgresSink:
        return await self.start()

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        try:
            if _type is None:
                await self.flush()
        finally:
            await self.close()

    async def maintain(self, at: dt.datetime | None = None) -> list[str]:
        """The partitioned layout's daily upkeep (TimescaleDB's policies do their own):
        partitions older than the retention dropped, the days ahead made; the dropped."""
        if self.layout != "partitioned":
            return []
        dropped = await partitions.drop_expired(self._conn, at=at)
        self._days.clear()  # a dropped day is made again if an old row still comes
        await partitions.ensure_ahead(self._conn, (at or dt.datetime.now(dt.UTC)).date())
        return dropped

    # -- writing -----------------------------------------------------------------------

    async def write(self, name: str, data: Any) -> int:
        """COPY ``data`` (any Arrow data in the lake's schema of table ``name``) now; rows."""
        t = self._table(name)
        batch = copy.conform(data, t)
        if batch.num_rows == 0:
            return 0
        if self._conn is None:
            raise RuntimeError("the PostgreSQL sink is not started")
        if self.layout == "partitioned":
            await self._ensure_days(batch)
        parts = []
        if name in segments.SEGMENTED:  # Arrow's work, off the event loop (it frees the GIL)
            parts = await asyncio.to_thread(segments.build, t, batch)
        async with self._conn.transaction():  # the rows and their segments, or neither
            for venue in sorted({p.venue for p in parts} - self._covered.get(name, set())):
                await self._conn.execute(segments.cover_sql(t), venue)
            if self.method == "records":
                await self._conn.copy_records_to_table(
                    t.name,
                    records=copy.records(batch),
                    columns=t.column_names,
                    schema_name=SCHEMA,
                )
            else:
                await self._conn.copy_to_table(
                    t.name,
                    source=self._stream(batch, t),
                    columns=copy.column_order(t),
                    schema_name=SCHEMA,
                    format="binary",
                )
            await self._write_segments(parts)
        self._covered.setdefault(name, set()).update(p.venue for p in parts)
        self.rows_written[name] += batch.num_rows
        return int(batch.num_rows)

    async def replace_range(self, name: str, venue: str, lo_ns: int, hi_ns: int, data: Any) -> int:
        """In one transaction: delete table ``name``'s rows of ``venue`` with ``lo_ns <=
        ts_recv <= hi_ns`` and COPY ``data`` (those rows, from the lake); rows written.
        Other venues' rows (another collector's) are left alone."""
        if self._conn is None:
            raise RuntimeError("the PostgreSQL sink is not started")
        t = self._table(name)
        async with self._conn.transaction():
            await self._conn.execute(
                f"DELETE FROM {t.qualified} WHERE venue = $1 AND ts_recv BETWEEN $2 AND $3",
                venue,
                lo_ns,
                hi_ns,
            )
            if name in segments.SEGMENTED:
                # The segments holding rows of the range: their rows outside it stay.
                found = await self._conn.fetch(
                    f"""DELETE FROM {segments.QUALIFIED} WHERE tbl = $1 AND venue = $2
                        AND ts_recv >= $3 AND ts_recv <= $4 AND ts_hi >= $5 AND ts_lo <= $4
                        RETURNING {", ".join(segments.COLUMNS)}, seq""",
                    name,
                    venue,
                    (lo_ns // segments.BUCKET_NS) * segments.BUCKET_NS,
                    hi_ns,
                    lo_ns,
                )
                kept = []
                for r in found:
                    try:
                        kept += segments.outside(t, segments.Segment(*r), lo_ns, hi_ns)
                    except (ValueError, pa.ArrowInvalid) as exc:
                        await self._unreadable(t, venue, exc)
                await self._write_segments(kept)
            return await self.write(name, data)

    async def compact(self, now_ns: int | None = None, grace_ns: int = GRACE_NS) -> int:
        """Merge the segments this sink wrote into each minute over (by ``grace_ns``)
        into one (``segments.MAX_ROWS`` allowing), ``COMPACT_KEYS`` minutes a transaction;
        minutes merged."""
        if self._conn is None:
            raise RuntimeError("the PostgreSQL sink is not started")
        now = time.time_ns() if now_ns is None else now_ns
        over = [k for k in self._written if k[3] + segments.BUCKET_NS + grace_ns <= now]
        todo = [k for k in over if self._written[k] > 1]
        for first in range(0, len(todo), COMPACT_KEYS):
            keys = todo[first : first + COMPACT_KEYS]
            await self._merge(keys)
            for key in keys:
                del self._written[key]
        for key in over:
            self._written.pop(key, None)
        return len(todo)

    def add(self, name: str, data: Any) -> None:
        """Gather ``data`` for table ``name``; ``flush`` (or ``maybe_flush``) copies it."""
        self._pending[self._table(name).name].append(copy.conform(data, self._tables[name]))

    def pending_rows(self) -> int:
        return sum(b.num_rows for batches in self._pending.values() for b in batches)

    async def maybe_flush(self) -> int:
        """Flush when ``batch_rows`` rows are waiting; rows written."""
        return await self.flush() if self.pending_rows() >= self.batch_rows else 0

    async def flush(self) -> int:
        """COPY every gathered batch, one COPY a table; rows written."""
        written = 0
        for name, batches in self._pending.items():
            if not batches:
                continue
            merged = pa.Table.from_batches(batches, schema=self._tables[name].arrow)
            written += await self.write(name, merged)
            batches.clear()  # only once copied: a failed COPY keeps them for the retry
        return written

    async def _unmerged(self, hours: int = 2) -> None:
        """The minutes of the last ``hours`` with several segments (an earlier sink's, which
        a reconnect or a restart kept from merging them): ``compact`` merges them too."""
        since = (time.time_ns() - hours * 3600 * 1_000_000_000) // segments.BUCKET_NS
        found = await self._conn.fetch(
            f"""SELECT tbl, venue, symbol, ts_recv FROM {segments.QUALIFIED}
                WHERE ts_recv >= $1 GROUP BY 1, 2, 3, 4 HAVING count(*) > 1""",
            since * segments.BUCKET_NS,
        )
        for r in found:
            self._written[(r[0], r[1], r[2], r[3])] = 2

    async def _merge(self, keys: list[tuple[str, str, str, int]]) -> None:
        """Merge each (table, venue, symbol, minute) of ``keys``' segments, one transaction."""
        async with self._conn.transaction():
            found = await self._conn.fetch(
                f"""DELETE FROM {segments.QUALIFIED} s
                    USING unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
                        AS k(tbl, venue, symbol, ts_recv)
                    WHERE s.tbl = k.tbl AND s.venue = k.venue AND s.symbol = k.symbol
                      AND s.ts_recv = k.ts_recv
                    RETURNING {", ".join("s." + c for c in segments.COLUMNS)}, s.seq""",
                *(list(column) for column in zip(*keys, strict=True)),
            )
            groups: dict[tuple[str, str, str, int], list[segments.Segment]] = {}
            for r in found:
                seg = segments.Segment(*r)
                groups.setdefault(seg.key, []).append(seg)
            merged = []
            for key, parts in groups.items():
                try:
                    merged += segments.merge(self._tables[key[0]], parts)
                except (ValueError, pa.ArrowInvalid) as exc:  # gone; its rows are whole
                    await self._unreadable(self._tables[key[0]], key[1], exc)
            await self._write_segments(merged, count=False)

    async def _unreadable(self, t: Table, venue: str, exc: BaseException) -> None:
        """A segment of ``venue`` in ``t`` could not be read: its venue's coverage moves past
        the rows there are (reads before that go to the rows), in the caller's transaction."""
        self.segments_unreadable += 1
        log.warning(
            "a %s segment of %s cannot be read (%s): its rows serve reads", t.name, venue, exc
        )
        await self._conn.execute(segments.uncover_sql(t), venue)

    async def _write_segments(self, parts: list[segments.Segment], count: bool = True) -> None:
        """COPY ``parts`` into the segments table (a given seq kept, else the next)."""
        fresh = [p.record() for p in parts if p.seq is None]
        kept = [p.record() for p in parts if p.seq is not None]
        for records, columns in ((fresh, segments.COLUMNS), (kept, [*segments.COLUMNS, "seq"])):
            if records:
                await self._conn.copy_records_to_table(
                    segments.NAME, records=records, columns=columns, schema_name=SCHEMA
                )
        if count:
            over = time.time_ns() - segments.BUCKET_NS - GRACE_NS
            for p in parts:
                # A minute already over may have segments (a merged one, or an earlier
                # run's): this write makes it one to merge.
                before = self._written.get(p.key, 1 if p.bucket <= over else 0)
                self._written[p.key] = before + 1

    async def _stream(self, batch: pa.RecordBatch, t: Table) -> AsyncIterator[bytes]:
        for piece in copy.chunks(batch, t, self.chunk_rows):
            yield piece

    async def _ensure_days(self, batch: pa.RecordBatch) -> None:
        ns = batch.column("ts_recv").cast(pa.int64())
        bounds = pc.min_max(ns)
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        first, last = partitions.day_of_ns(lo), partitions.day_of_ns(hi)
        if (last - first).days > 31:  # a sparse batch: only the days it has
            whole = np.unique(np.asarray(ns) // DAY_NS)
            days = {partitions.day_of_ns(int(d) * DAY_NS) for d in whole}
        else:
            days = {first + dt.timedelta(days=i) for i in range((last - first).days + 1)}
        missing = days - self._days
        if missing:
            await partitions.ensure_partitions(self._conn, missing)
            self._days |= missing

    def _table(self, name: str) -> Table:
        if name not in self._tables:
            raise KeyError(f"no buffer table {name!r} (tables: {', '.join(TABLES)})")
        return self._tables[name]
