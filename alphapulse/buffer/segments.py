"""Columnar segments: the buffer's rows of a symbol-minute also kept as one Arrow IPC stream.

PostgreSQL sends a query's rows one by one, field by field, even through binary COPY: here
that caps reading the rows of one symbol back as Arrow near 700k rows/s however the index
scans. So beside its rows, every write of a table with a symbol (trades, quotes, book
deltas, bars) also stores them grouped by (venue, symbol, minute of ``ts_recv``), each group
one Arrow IPC stream in the lake's schema, in ``alphapulse_buffer.segments``, in the same
transaction as the rows. A read of one symbol's range fetches the segments overlapping it
(a minute of a busy symbol is one ``bytea`` value, stored uncompressed out of line, so
PostgreSQL hands over its bytes untouched), decodes them (no copy), and keeps the rows in
range: several million rows a second (tests/benchmarks/buffer_read.py).

- Order: a segment's ``seq`` (a sequence) orders the writes; rows read back are stably
  sorted by ``ts_recv``, so rows sharing it keep the order they were written in.
- Small segments: a collector writes a table every fraction of a second, so a minute gets
  many segments; the sink merges a minute's segments into one once the minute is over
  (``PostgresSink.compact``), keeping their order; a new sink also merges the minutes of
  the last two hours an earlier one left unmerged.
- The same rows as the table: the sink writes both in one transaction, a catch-up
  (``replace_range``) replaces both, and both expire together (one function drops the
  day's partitions, or one TimescaleDB job the chunks of every table).
- Coverage: ``segment_coverage`` says, per table and venue, from which ``ts_recv`` the rows
  all have segments: a sink of version 6 sets it in its first write of a venue, from just
  after the venue's newest row. A read starting earlier, or of a venue without coverage (a
  buffer from before version 6, a collector still on an older AlphaPulse), reads the rows.
  A segment that cannot be read (damaged; a lake schema changed) moves its venue's
  coverage past the rows there were, and a reader meeting one reads the rows: the rows are
  always whole. A migration that changes a lake table's schema must do the same.
- The SQL user sees the rows tables; segments are the readers' fast path only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from alphapulse.buffer.schema import DAY_NS, SCHEMA, TABLES, Table, literal, quote, table

#: Tables whose rows also go into segments: those with a symbol.
SEGMENTED = tuple(name for name in TABLES if table(name).has_symbol)
NAME = "segments"
QUALIFIED = f"{quote(SCHEMA)}.{quote(NAME)}"
COVERAGE = f"{quote(SCHEMA)}.segment_coverage"
SEQUENCE = f"{SCHEMA}.segments_seq"
BUCKET_NS = 60 * 1_000_000_000  # a segment holds rows of one minute
MAX_ROWS = 131_072  # rows of one segment at most: a busy minute is several
# The COPY's columns; seq is the sequence's next value unless given (a merge keeps them).
COLUMNS = ["tbl", "venue", "symbol", "ts_recv", "ts_lo", "ts_hi", "n", "data"]
assert DAY_NS % BUCKET_NS == 0  # a segment never spans two days' partitions


@dataclass(frozen=True)
class Segment:
    """One segment's row in the table (``seq`` None: the sequence's next)."""

    tbl: str
    venue: str
    symbol: str
    bucket: int  # ns: the minute's start (the partitioning ts_recv column)
    ts_lo: int
    ts_hi: int
    n: int
    data: bytes
    seq: int | None = None

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.tbl, self.venue, self.symbol, self.bucket)

    def record(self) -> tuple[Any, ...]:
        values = (self.tbl, self.venue, self.symbol, self.bucket, self.ts_lo, self.ts_hi)
        tail = (self.n, self.data) if self.seq is None else (self.n, self.data, self.seq)
        return values + tail


def create_sql(partitioned: bool) -> list[str]:
    """Migration 6's statements (TimescaleDB's hypertable and retention come after)."""
    tail = " PARTITION BY RANGE (ts_recv)" if partitioned else ""
    return [
        f"CREATE SEQUENCE {SEQUENCE}",
        f"""CREATE TABLE {QUALIFIED} (
            tbl text NOT NULL,
            venue text NOT NULL,
            symbol text NOT NULL,
            ts_recv bigint NOT NULL,
            ts_lo bigint NOT NULL,
            ts_hi bigint NOT NULL,
            n integer NOT NULL,
            data bytea NOT NULL,
            seq bigint NOT NULL DEFAULT nextval('{SEQUENCE}')
        ){tail}""",
        # Out of line and uncompressed: Arrow's bytes go out as they were stored.
        f"ALTER TABLE {QUALIFIED} ALTER COLUMN data SET STORAGE EXTERNAL",
        f"CREATE INDEX segments_key ON {QUALIFIED} (tbl, venue, symbol, ts_recv)",
        f"""CREATE TABLE {COVERAGE} (
            tbl text NOT NULL,
            venue text NOT NULL,
            since_ns bigint NOT NULL,
            PRIMARY KEY (tbl, venue))""",
    ]


def cover_sql(t: Table) -> str:
    """``$1``'s (a venue's) coverage of ``t``, unless it has one: from just after its newest
    row (those have no segments), or from the start of time if it has none. A sink runs it
    in its first write of a venue, before the rows: so a venue whose collector is still an
    older AlphaPulse, writing rows alone, is read from its rows."""
    mine = f"tbl = {literal(t.name)} AND venue = $1::text"
    return (  # the newest row is looked for only when the venue has no coverage yet
        f"INSERT INTO {COVERAGE} (tbl, venue, since_ns) SELECT {literal(t.name)}, $1::text,"
        f" coalesce((SELECT max(ts_recv) + 1 FROM {t.qualified} WHERE venue = $1::text),"
        f" -9223372036854775808) WHERE NOT EXISTS (SELECT 1 FROM {COVERAGE} WHERE {mine})"
        " ON CONFLICT DO NOTHING"
    )


def uncover_sql(t: Table) -> str:
    """``$1``'s (a venue's) coverage of ``t`` moved past its newest row: what a sink does
    when a segment cannot be read (damaged, or of an older schema): reads before that go
    to the rows, which are whole."""
    return (
        f"UPDATE {COVERAGE} SET since_ns = greatest(since_ns, coalesce((SELECT max(ts_recv)"
        f" + 1 FROM {t.qualified} WHERE venue = $1::text), since_ns))"
        f" WHERE tbl = {literal(t.name)} AND venue = $1::text"
    )


# -- encoding ---------------------------------------------------------------------------


def encode_stream(batch: pa.RecordBatch | pa.Table) -> bytes:
    """``batch`` as one Arrow IPC stream (schema and record batches)."""
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, batch.schema) as writer:
        writer.write(batch)
    return bytes(sink.getvalue())


def decode_stream(t: Table, data: Any) -> pa.Table:
    """A segment's stream as a table in ``t``'s lake schema; ValueError if it is not."""
    reader = ipc.open_stream(pa.py_buffer(data) if isinstance(data, bytes) else data)
    if not reader.schema.equals(t.arrow):
        raise ValueError(f"a {t.name} segment has another schema than this AlphaPulse's")
    return reader.read_all()


def build(t: Table, batch: pa.RecordBatch) -> list[Segment]:
    """``batch`` (rows of ``t``, in the lake's schema, in write order) as segments: one per
    (venue, symbol, minute), at most ``MAX_ROWS`` rows each, rows in their batch order."""
    rows = batch.num_rows
    if rows == 0:
        return []
    ts = np.asarray(batch.column("ts_recv").cast(pa.int64()))
    bucket = ts // BUCKET_NS
    venue = pc.dictionary_encode(batch.column("venue"))
    symbol = pc.dictionary_encode(batch.column("symbol"))
    if venue.null_count or symbol.null_count or batch.column("ts_recv").null_count:
        raise ValueError(f"{t.name}: rows without a venue, symbol or ts_recv")
    v_idx = np.asarray(venue.indices)
    s_idx = np.asarray(symbol.indices)
    # Stable: rows of one group keep their order (the last key is the primary one).
    keys = (bucket, s_idx, v_idx)
    grouped = bool(np.all(bucket[1:] >= bucket[:-1])) and len(venue.dictionary) == 1
    grouped = grouped and len(symbol.dictionary) == 1
    if not grouped:
        order = np.lexsort(keys)
        batch = batch.take(pa.array(order))
        ts, bucket, v_idx, s_idx = ts[order], bucket[order], v_idx[order], s_idx[order]
    change = (np.diff(bucket) != 0) | (np.diff(v_idx) != 0) | (np.diff(s_idx) != 0)
    starts = np.concatenate(([0], np.flatnonzero(change) + 1))
    ends = np.concatenate((starts[1:], [rows]))
    venues = venue.dictionary.to_pylist()
    symbols = symbol.dictionary.to_pylist()
    out = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        for lo in range(start, end, MAX_ROWS):
            hi = min(lo + MAX_ROWS, end)
            part = ts[lo:hi]
            out.append(
                Segment(
                    t.name,
                    venues[v_idx[lo]],
                    symbols[s_idx[lo]],
                    int(bucket[lo]) * BUCKET_NS,
                    int(part.min()),
                    int(part.max()),
                    hi - lo,
                    encode_stream(batch.slice(lo, hi - lo)),
                )
            )
    return out


def merge(t: Table, parts: Sequence[Segment]) -> list[Segment]:
    """Segments of one (table, venue, symbol, minute) as few as ``MAX_ROWS`` allows, their
    rows in ``seq`` order; each new segment takes one of the old ones' seqs, in order."""
    ordered = sorted(parts, key=lambda s: s.seq or 0)
    rows = pa.concat_tables([decode_stream(t, s.data) for s in ordered])
    merged = _rebuild(t, rows)
    seqs = [s.seq for s in ordered][len(ordered) - len(merged) :]
    return [replace(m, seq=seq) for m, seq in zip(merged, seqs, strict=True)]


def outside(t: Table, seg: Segment, lo: int, hi: int) -> list[Segment]:
    """What of ``seg`` lies outside ``[lo, hi]`` (what a catch-up keeps), same seq."""
    rows = decode_stream(t, seg.data)
    ts = rows.column("ts_recv").cast(pa.int64())
    kept = _rebuild(t, rows.filter(pc.or_(pc.less(ts, lo), pc.greater(ts, hi))))
    return [replace(k, seq=seg.seq) for k in kept]


def _rebuild(t: Table, rows: pa.Table) -> list[Segment]:
    """Decoded rows of segments as segments again (no seq yet)."""
    return [s for batch in rows.combine_chunks().to_batches() for s in build(t, batch)]


# -- reading ----------------------------------------------------------------------------


def covered_from(conn: Any, name: str, venue: str) -> int | None:
    """The ``ts_recv`` from which ``venue``'s rows of ``name`` all have segments; None when
    they have none (a buffer older than version 6, a venue no sink of version 6 wrote yet,
    or a table without segments)."""
    if name not in SEGMENTED:
        return None
    with conn.cursor() as cursor:  # an ADBC connection (read.connect)
        cursor.execute(f"SELECT to_regclass({literal(COVERAGE)}) IS NOT NULL")
        exists = cursor.fetchone()
        if not exists or not exists[0]:
            return None
        cursor.execute(
            f"SELECT since_ns FROM {COVERAGE}"
            f" WHERE tbl = {literal(name)} AND venue = {literal(venue)}"
        )
        row = cursor.fetchone()
    return None if row is None or row[0] is None else int(row[0])


def fetch(
    conn: Any, name: str, venue: str, symbol: str, lo: int | None, hi: int | None
) -> pa.Table | None:
    """Rows of ``name`` for ``venue``/``symbol`` with ``lo <= ts_recv < hi`` (None: no
    bound) from the segments, in the lake's schema and ``ts_recv`` order; None when the
    segments do not cover the range (read the rows then: ``read.fetch``)."""
    since = covered_from(conn, name, venue)
    if since is None or (lo if lo is not None else -(2**63)) < since:
        return None
    t = table(name)
    where = [
        f"tbl = {literal(name)}",
        f"venue = {literal(venue)}",
        f"symbol = {literal(symbol)}",
    ]
    if lo is not None:
        where.append(f"ts_recv >= {literal((lo // BUCKET_NS) * BUCKET_NS)}")
        where.append(f"ts_hi >= {literal(lo)}")
    if hi is not None:
        where.append(f"ts_recv < {literal(hi)}")
        where.append(f"ts_lo < {literal(hi)}")
    sql = (
        f"SELECT ts_lo, ts_hi, data FROM {QUALIFIED} WHERE {' AND '.join(where)}"
        " ORDER BY ts_recv, seq"
    )
    with conn.cursor() as cursor:
        cursor.execute(sql)
        raw = cursor.fetch_arrow_table()
    return assemble(t, raw, lo, hi)


def _pieces(t: Table, raw: pa.Table, lo: int | None, hi: int | None) -> Iterator[pa.Table]:
    ts_lo = raw.column("ts_lo").to_pylist()
    ts_hi = raw.column("ts_hi").to_pylist()
    # Chunk by chunk: a large read's binary column comes in several (no copy to join them).
    values = (value for chunk in raw.column("data").chunks for value in chunk)
    for first, last, value in zip(ts_lo, ts_hi, values, strict=True):
        rows = decode_stream(t, value.as_buffer())
        if (lo is not None and first < lo) or (hi is not None and last >= hi):
            ts = rows.column("ts_recv").cast(pa.int64())
            keep = pc.and_(
                pc.greater_equal(ts, lo if lo is not None else -(2**63)),
                pc.less(ts, hi if hi is not None else 2**63 - 1),
            )
            rows = rows.filter(keep)
        yield rows


def assemble(t: Table, raw: pa.Table, lo: int | None, hi: int | None) -> pa.Table:
    """The fetched segments (``ts_lo``, ``ts_hi``, ``data`` in (minute, seq) order) as
    their rows in ``[lo, hi)``, stably sorted by ``ts_recv``."""
    pieces = [p for p in _pieces(t, raw, lo, hi) if p.num_rows]
    if not pieces:
        return t.arrow.empty_table()
    rows = pa.concat_tables(pieces)
    ns = np.asarray(rows.column("ts_recv").cast(pa.int64()))
    ordered = bool(np.all(ns[1:] >= ns[:-1]))
    if not ordered:  # Arrow's sort is stable: rows sharing ts_recv keep their order
        rows = rows.take(pc.sort_indices(rows, [("ts_recv", "ascending")]))
    return rows
