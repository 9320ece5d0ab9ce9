"""Arrow record batches in PostgreSQL's binary COPY format, built from the columns with numpy.

The format: a header, then per row a 16-bit field count and per field a 32-bit length
(-1 for NULL) and the value's bytes, big-endian; a trailer. No Python object is made per value
(only ``text[]``, the news' symbols, is built per row: news comes a few rows a second):
numpy lays the never-null fixed-width fields out as one block per row, and Arrow joins it
with the other fields row by row (see ``encode``). No SQL is built from values: the bytes
go to COPY ... FROM STDIN.

``records`` gives the same rows as Python tuples for asyncpg's ``copy_records_to_table``,
the peer this encoder is measured against (tests/benchmarks/buffer_copy.py).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from alphapulse.buffer.schema import Table

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
TEXT_OID = 25


FIXED_WIDTH = {"bigint": 8, "double precision": 8, "smallint": 2, "boolean": 1}
NULL_FIELD = struct.pack(">i", -1)


def column_order(t: Table) -> list[str]:
    """The COPY's column list: the never-null fixed-width columns first, so that together
    with the field count they are one fixed-width block per row (built with strided numpy
    copies), the rest (text, arrays, nullable numbers) after it."""
    fixed = [c.name for c in t.columns if not c.nullable and c.pg_type in FIXED_WIDTH]
    return fixed + [c.name for c in t.columns if c.name not in fixed]


def _numbers(arr: pa.Array) -> np.ndarray:
    """A numeric/boolean/time column as its PostgreSQL binary values (big-endian)."""
    kind = arr.type
    if pa.types.is_timestamp(kind) or pa.types.is_duration(kind):
        arr, kind = arr.cast(pa.int64()), pa.int64()
    if pa.types.is_boolean(kind):
        return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.uint8)
    values = np.asarray(arr.fill_null(0).to_numpy(zero_copy_only=False))
    if pa.types.is_floating(kind):
        return values.astype(">f8")
    if pa.types.is_integer(kind):
        if kind.bit_width <= 16:
            return values.astype(">i2")
        if pa.types.is_unsigned_integer(kind):
            values = values.astype(np.uint64).view(np.int64)  # same 64 bits: see schema.py
        return values.astype(">i8")
    raise TypeError(f"the buffer cannot COPY Arrow {kind}")


def _binary(block: np.ndarray) -> pa.Array:
    """An (n, w) uint8 block as a binary array of n w-byte values (no copy of the block)."""
    n, width = block.shape
    offsets = np.arange(n + 1, dtype=np.int32) * width
    return pa.Array.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(block))]
    )


def _headers(lengths: np.ndarray) -> pa.Array:
    return _binary(lengths.astype(">i4").view(np.uint8).reshape(-1, 4))


def _fixed_block(batch: pa.RecordBatch, names: list[str]) -> pa.Array:
    """The field count and every never-null fixed-width field of each row, as one value."""
    values = [_numbers(batch.column(name)) for name in names]
    width = 2 + sum(4 + v.dtype.itemsize for v in values)
    block = np.empty((batch.num_rows, width), dtype=np.uint8)
    block[:, :2] = np.frombuffer(struct.pack(">h", batch.num_columns), dtype=np.uint8)
    at = 2
    for v in values:
        size = v.dtype.itemsize
        block[:, at : at + 4] = np.frombuffer(struct.pack(">i", size), dtype=np.uint8)
        block[:, at + 4 : at + 4 + size] = v.view(np.uint8).reshape(-1, size)
        at += 4 + size
    return _binary(block)


def _field(arr: pa.Array) -> list[pa.Array]:
    """One other column's fields (length header and bytes) as binary arrays to join."""
    kind = arr.type
    if pa.types.is_string(kind) or pa.types.is_binary(kind):
        raw = arr.cast(pa.binary())
        lengths = pc.binary_length(raw).fill_null(-1).to_numpy(zero_copy_only=False)
        return [_headers(lengths), raw.fill_null(b"")]
    if pa.types.is_list(kind):
        return [_text_arrays(arr)]
    values = _numbers(arr)
    size = values.dtype.itemsize
    block = np.empty((len(values), 4 + size), dtype=np.uint8)
    block[:, :4] = np.frombuffer(struct.pack(">i", size), dtype=np.uint8)
    block[:, 4:] = values.view(np.uint8).reshape(-1, size)
    full = _binary(block)
    if arr.null_count == 0:
        return [full]
    return [pc.if_else(arr.is_valid(), full, pa.scalar(NULL_FIELD, pa.binary()))]


def _text_arrays(arr: pa.Array) -> pa.Array:
    """text[] fields, header included, built per row (news: a few rows a second)."""
    out: list[bytes] = []
    for value in arr.to_pylist():
        if value is None:
            out.append(NULL_FIELD)
            continue
        items = [s.encode() for s in value]
        if items:
            parts = [struct.pack(">iiiii", 1, 0, TEXT_OID, len(items), 1)]
            parts += [struct.pack(">i", len(b)) + b for b in items]
        else:
            parts = [struct.pack(">iii", 0, 0, TEXT_OID)]
        body = b"".join(parts)
        out.append(struct.pack(">i", len(body)) + body)
    return pa.array(out, pa.binary())


def encode(batch: pa.RecordBatch, t: Table, with_header: bool = True) -> bytes:
    """``batch`` (``t``'s columns) in binary COPY format, columns in ``column_order(t)``.

    Each row is one binary value: the fixed block, then each other column's header and
    bytes, concatenated row by row in C++ by Arrow's ``binary_join_element_wise``.
    """
    order = column_order(t)
    fixed = [c for c in order if not t.arrow.field(c).nullable and _is_fixed(t, c)]
    parts = [_fixed_block(batch, fixed)]
    for name in order[len(fixed) :]:
        parts += _field(batch.column(name))
    rows = pc.binary_join_element_wise(*parts, b"") if len(parts) > 1 else parts[0]
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32)[rows.offset :]
    data = rows.buffers()[2]
    body = data[int(offsets[0]) : int(offsets[len(rows)])].to_pybytes() if len(rows) else b""
    return HEADER + body + TRAILER if with_header else body


def _is_fixed(t: Table, name: str) -> bool:
    return next(c for c in t.columns if c.name == name).pg_type in FIXED_WIDTH


def chunks(batch: pa.RecordBatch, t: Table, rows: int) -> Iterator[bytes]:
    """``batch`` as one COPY stream in pieces of at most ``rows`` rows (bounded memory)."""
    yield HEADER
    for offset in range(0, batch.num_rows, rows):
        yield encode(batch.slice(offset, rows), t, with_header=False)
    yield TRAILER


def records(batch: pa.RecordBatch) -> list[tuple[Any, ...]]:
    """The rows as tuples of the buffer's Python values (asyncpg's peer path)."""
    cols: list[list[Any]] = []
    for arr in batch.columns:
        kind = arr.type
        if pa.types.is_timestamp(kind) or pa.types.is_duration(kind):
            arr = arr.cast(pa.int64())
        elif pa.types.is_uint64(kind):
            arr = pc.cast(arr, pa.int64(), safe=False)
        cols.append(arr.to_pylist())
    return list(zip(*cols, strict=True))


def conform(data: Any, t: Table) -> pa.RecordBatch:
    """Any Arrow data (a collector's EventBatch, a table, a batch) as one record batch in
    ``t``'s column order and types; a one-line ValueError when it does not fit."""
    table = data if isinstance(data, pa.Table) else pa.table(data)
    missing = [name for name in t.column_names if name not in table.column_names]
    if missing:
        raise ValueError(f"{t.name}: the batch lacks column(s) {', '.join(missing)}")
    try:
        table = table.select(t.column_names).cast(t.arrow)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(f"{t.name}: the batch does not fit the table: {exc}") from None
    batches = table.combine_chunks().to_batches()
    return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=t.arrow)
