"""Merging files of one partition into one sorted file: what their footers say, one read per
file, a stable sort by ``(symbol, ts_recv)`` and the lake's encodings. ``compact`` decides
which files and does the swap around it.

The sort costs almost nothing in the usual case. The files of a partition, read in name
(time) order, hold rows in ``ts_recv`` order, so a stable sort on the symbol alone (ranks
of a handful of distinct values: a counting sort) gives ``(symbol, ts_recv)`` order with
ties kept as they arrived. Otherwise (a compacted file, sorted by symbol, merged again)
both keys are sorted, the symbol as its rank, still stably.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from alphapulse.lake.layout import check_file_metadata, file_metadata
from alphapulse.lake.marks import carried_mark
from alphapulse.lake.snapshot import COMPACTED_PREFIX, token_of
from alphapulse.lake.writer import ROW_GROUP_ROWS, delta_encoded


@dataclass(frozen=True)
class PartFile:
    """A committed file as its footer describes it; no data read."""

    path: Path
    rows: int
    #: On disk.
    size: int
    #: Uncompressed (the footer's row group sizes): what bounds a merge's memory.
    data_bytes: int
    mtime_ns: int
    #: The Arrow schema without metadata: files merge only with files of the same one.
    schema: pa.Schema
    #: The footer, kept so that reading the file does not parse it again.
    metadata: pq.FileMetaData | None = None

    @property
    def compacted(self) -> bool:
        return is_compacted(self.path.name)


#: A writer's token is 12 hex digits, so one in 16 starts with ``c`` too; a compaction's is
#: ``c`` and 12 more: the length tells them apart.
COMPACTED_TOKEN_LENGTH = 13


def compacted_token() -> str:
    return COMPACTED_PREFIX + uuid.uuid4().hex[: COMPACTED_TOKEN_LENGTH - 1]


def is_compacted(name: str) -> bool:
    token = token_of(name) or ""
    return token.startswith(COMPACTED_PREFIX) and len(token) == COMPACTED_TOKEN_LENGTH


def part_file(path: Path) -> PartFile:
    """Read ``path``'s footer; LakeVersionError for a file of a newer schema version."""
    stat = path.stat()
    try:
        meta = pq.read_metadata(path)
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowException) as e:
        # pyarrow's message does not name the file: say which one, for the report.
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise OSError(f"damaged lake file {path.name} ({reason})") from e
    check_file_metadata(path, meta.metadata)
    return PartFile(
        path=path,
        rows=meta.num_rows,
        size=stat.st_size,
        data_bytes=sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)),
        mtime_ns=stat.st_mtime_ns,
        schema=meta.schema.to_arrow_schema().remove_metadata(),
        metadata=meta,
    )


def read_files(files: list[PartFile]) -> pa.Table:
    """The rows of ``files`` in their order, page checksums verified: bit rot fails here
    rather than being written into a new file with fresh checksums."""
    parts = []
    for f in files:
        with pq.ParquetFile(f.path, metadata=f.metadata, page_checksum_verification=True) as reader:
            # One thread a file: the files are small (a minute each), and pyarrow's thread
            # per column cost twice the CPU on them; merges run side by side instead.
            parts.append(reader.read(use_threads=False).replace_schema_metadata(None))
    return pa.concat_tables(parts)


def carried_metadata(files: list[PartFile]) -> dict[bytes, bytes]:
    """What a file merged from ``files`` keeps of their own metadata: the journal mark
    (``alphapulse.lake.marks``)."""
    ordered = sorted(files, key=lambda f: f.path.name)  # names start with the first ts
    return carried_mark((f.metadata or pq.read_metadata(f.path)).metadata for f in ordered)


def sort_columns(schema: pa.Schema) -> list[str]:
    """What a compacted file is sorted by: ``symbol`` (where the table has one), ``ts_recv``."""
    return [c for c in ("symbol", "ts_recv") if schema.get_field_index(c) >= 0]


def sort_order(table: pa.Table) -> pa.Array | None:
    """Indices that put ``table`` in ``sort_columns`` order, stably; None if it is already."""
    ts = table.column("ts_recv")
    in_time_order = len(ts) < 2 or bool(pc.all(pc.less_equal(ts[:-1], ts[1:])).as_py())
    if table.schema.get_field_index("symbol") < 0:
        if in_time_order:
            return None
        return pc.sort_indices(table, sort_keys=[("ts_recv", "ascending")])
    ranks = _ranks(table.column("symbol"))
    if in_time_order:
        order = pc.sort_indices(ranks)
    else:
        keys = pa.table({"symbol": ranks, "ts_recv": ts})
        order = pc.sort_indices(keys, sort_keys=[("symbol", "ascending"), ("ts_recv", "ascending")])
    return order


def _ranks(symbols: pa.ChunkedArray) -> pa.Array:
    """Each row's symbol as its rank among the distinct symbols (null stays null: last)."""
    distinct = pc.drop_null(pc.unique(symbols))
    ordered = distinct.take(pc.sort_indices(distinct))
    return pc.index_in(symbols, value_set=ordered).combine_chunks()


def write_sorted(
    table: pa.Table,
    order: pa.Array | None,
    path: Path,
    name: str,
    extra_metadata: dict[bytes, bytes] | None = None,
) -> None:
    """Write ``table`` (in ``order``) as a lake file of table ``name`` at ``path``.

    With an ``order``, ``table`` should be in one chunk (``combine_chunks``): Arrow's take
    on a many-chunked column concatenates it first, on every call.

    Row groups of ROW_GROUP_ROWS, each taken from the sort order as it is written, so the
    sorted copy never exists whole. Encodings, page checksums and metadata are the
    writer's; the sorting columns declare the actual sort. ``extra_metadata`` joins the
    file's key-value metadata (the journal mark the merged files carried).
    """
    schema = table.schema.with_metadata({**file_metadata(name), **(extra_metadata or {})})
    delta = delta_encoded(schema)
    sorting = [pq.SortingColumn(schema.get_field_index(c)) for c in sort_columns(schema)]
    with pq.ParquetWriter(
        path,
        schema,
        compression="zstd",
        use_dictionary=[n for n in schema.names if n not in delta],
        column_encoding=dict.fromkeys(delta, "DELTA_BINARY_PACKED"),
        write_page_checksum=True,
        sorting_columns=sorting,
    ) as writer:
        if order is None:
            for start in range(0, table.num_rows, ROW_GROUP_ROWS):
                writer.write_table(
                    table.slice(start, ROW_GROUP_ROWS), row_group_size=ROW_GROUP_ROWS
                )
            return

        def take(start: int) -> pa.Table:
            return table.take(order.slice(start, ROW_GROUP_ROWS))

        # The next row group is gathered while this one is encoded (both outside the GIL).
        with ThreadPoolExecutor(1, thread_name_prefix="compact-take") as gather:
            starts = range(0, table.num_rows, ROW_GROUP_ROWS)
            pending = gather.submit(take, 0)
            for start in starts:
                chunk = pending.result()
                if start + ROW_GROUP_ROWS < table.num_rows:
                    pending = gather.submit(take, start + ROW_GROUP_ROWS)
                writer.write_table(chunk, row_group_size=ROW_GROUP_ROWS)


def first_ts_ns(table: pa.Table) -> int:
    """The earliest ``ts_recv``: it names the file, so a directory still lists in time order."""
    earliest = pc.min(table.column("ts_recv")).cast(pa.timestamp("ns"))
    value: int | None = earliest.value
    return value or 0  # no rows (a file nobody should have written): any name will do
