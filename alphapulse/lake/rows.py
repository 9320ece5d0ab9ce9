"""Rows on their way into the lake: checked, cast to the table's schema, split by partition,
sorted, and the encodings their files use."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from alphapulse import _core
from alphapulse.lake.layout import as_table, check_venue


def checked_table(name: str, data: object) -> pa.Table:
    """``data`` as a pyarrow Table that the lake can partition, or ValueError saying why.

    The rows of a known event table (``_core.TABLES``) arriving with the table's columns
    but other types, as from polars (``string_view``, every field nullable), are cast to
    the published schema, so that every file of a table has the same schema. Elsewhere,
    string and binary views and large variants become plain strings and binaries.
    """
    table = _conformed(name, as_table(data))
    schema = table.schema
    for column in ("ts_recv", "venue"):
        if schema.get_field_index(column) < 0:
            raise ValueError(
                f"a lake batch needs a {column!r} column (partitions are venue and the UTC "
                f"date of ts_recv); got columns {schema.names}"
            )
    if not pa.types.is_timestamp(schema.field("ts_recv").type):
        raise ValueError(f"ts_recv must be a timestamp, not {schema.field('ts_recv').type}")
    if not pa.types.is_string(schema.field("venue").type):
        raise ValueError(f"venue must be a string column, not {schema.field('venue').type}")
    for column in ("ts_recv", "venue"):
        if table.column(column).null_count:
            raise ValueError(f"{column} has nulls: such rows have no partition")
    return table


def _conformed(name: str, table: pa.Table) -> pa.Table:
    if name in _core.TABLES:
        published = pa.schema(_core.event_schema(name))
        if table.schema.names == published.names:
            if table.schema.equals(published):
                return table
            try:
                return table.cast(published)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                raise ValueError(f"rows do not fit the {name} schema: {exc}") from None
    plain = pa.schema([f.with_type(_PLAIN.get(f.type, f.type)) for f in table.schema])
    return table if plain.equals(table.schema) else table.cast(plain)


_PLAIN = {
    pa.string_view(): pa.string(),
    pa.large_string(): pa.string(),
    pa.binary_view(): pa.binary(),
    pa.large_binary(): pa.binary(),
}


def split_partitions(table: pa.Table) -> list[tuple[str, date, pa.Table]]:
    """``(venue, UTC date of ts_recv, rows)`` per partition, rows in their original order."""
    ts = table.column("ts_recv")
    # Drop the time zone first: a cast to date32 would otherwise use local time.
    days = pc.cast(pc.cast(ts, pa.timestamp(ts.type.unit)), pa.date32())
    venues = table.column("venue")
    day_range, venue_range = pc.min_max(days), pc.min_max(venues)
    if day_range["min"] == day_range["max"] and venue_range["min"] == venue_range["max"]:
        return [(check_venue(venue_range["min"].as_py()), day_range["min"].as_py(), table)]
    out = []
    for venue in pc.unique(venues).to_pylist():
        check_venue(venue)
        of_venue = pc.equal(venues, venue)
        for day in pc.unique(pc.filter(days, of_venue)).to_pylist():
            out.append((venue, day, table.filter(pc.and_(of_venue, pc.equal(days, day)))))
    return out


def sorted_by_ts_recv(table: pa.Table) -> pa.Table:
    """``table`` in ts_recv order; a stable sort, skipped when it is already in order."""
    ts = table.column("ts_recv")
    if len(ts) < 2 or pc.all(pc.less_equal(ts[:-1], ts[1:])).as_py():
        return table
    return table.take(pc.sort_indices(table, sort_keys=[("ts_recv", "ascending")]))


def delta_encoded(schema: pa.Schema) -> list[str]:
    """Columns stored DELTA_BINARY_PACKED rather than dictionary-encoded.

    Timestamps (sorted by ts_recv, so their deltas are small) and the uint64 counters of
    our tables (trade ids, sequence numbers) have nearly one value per row: a dictionary
    grows to its page limit and falls back, which cost twice the time and half again the
    size of delta encoding on the benchmark's trades. Everything else (venues, symbols,
    prices, precisions) repeats and keeps its dictionary.
    """
    return [
        f.name
        for f in schema
        if pa.types.is_timestamp(f.type)
        or pa.types.is_duration(f.type)
        or pa.types.is_uint64(f.type)
    ]


def first_ts_ns(table: pa.Table) -> int:
    value: int = table.column("ts_recv")[0].cast(pa.timestamp("ns")).value
    return value
