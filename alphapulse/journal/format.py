"""The crash journal's on-disk format: segment files of checksummed, sequenced records.

A segment is ``<first seq, 20 digits>.journal``: a header (magic + the journal's id), then
records. A record is::

    u32 payload length | u32 CRC32 of (payload + seq) | u64 seq | payload

and the payload is ``u8 len(table) | table | an Arrow IPC stream (schema + one batch)``.
Normalized Arrow batches, not raw frames: recovery hands them to the lake writer as they
are (no re-normalizing, no venue protocol state to rebuild), they are what the lake commits,
and serializing a batch to IPC is a copy, cheaper than encoding every frame as JSON.

CRC32 (zlib's, in the standard library) rather than CRC32C or xxhash: it is checked only
once, on recovery, and what it has to catch is a torn or garbled tail, not an adversary.
The length prefix is bounded (``MAX_RECORD``) so a garbled length is a corrupt record, never
a huge allocation. Reading never raises on damage: it stops at the first bad record and says
where and why (``Scan``), and the journal truncates there.
"""

from __future__ import annotations

import os
import re
import struct
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from alphapulse.lake.layout import as_table

MAGIC = b"APJRNL01"
HEADER_SIZE = len(MAGIC) + 16  # the magic, then the journal's uuid
_RECORD = struct.Struct("<IIQ")
MAX_RECORD = 1 << 30  # 1 GiB: a length beyond this is garbage, not a batch
SUFFIX = ".journal"
_NAME = re.compile(r"(\d{20})\.journal\Z")


class JournalError(Exception):
    """The journal cannot be used (a directory the file system refuses, a foreign file)."""


@dataclass(frozen=True)
class Record:
    """One journaled batch: ``seq`` is unique and increasing across the journal's life."""

    seq: int
    table: str
    batch: pa.Table


@dataclass
class Scan:
    """What reading one segment found: where its valid records end, and any damage."""

    path: Path
    journal_id: bytes | None = None
    valid_end: int = 0
    last_seq: int = 0
    records: int = 0
    #: None when the file ends cleanly after its last record.
    damage: str | None = None
    damaged_bytes: int = 0


def segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}{SUFFIX}"


def segment_first_seq(path: Path) -> int | None:
    match = _NAME.match(path.name)
    return int(match.group(1)) if match else None


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """The directory's segments, oldest first (other files are not the journal's)."""
    found = []
    for path in directory.iterdir():
        first = segment_first_seq(path)
        if first is not None:
            found.append((first, path))
    return sorted(found)


def new_journal_id() -> bytes:
    return uuid.uuid4().bytes


def segment_header(journal_id: bytes) -> bytes:
    return MAGIC + journal_id


def encode_payload(table: str, batch: object, compression: str | None) -> tuple[bytes, int]:
    """A record's payload and its CRC so far, computed before a seq is given (outside the
    journal's lock). ``batch``: any Arrow tabular object (a pyarrow table or batch, the
    engine's EventBatch); TypeError for anything else."""
    data = as_table(batch)
    name = table.encode()
    if not 0 < len(name) < 256:
        raise ValueError(f"journal table name must be 1-255 bytes: {table!r}")
    sink = pa.BufferOutputStream()
    options = ipc.IpcWriteOptions(compression=compression)
    with ipc.new_stream(sink, data.schema, options=options) as writer:
        writer.write(data)
    payload = bytes([len(name)]) + name + sink.getvalue().to_pybytes()
    if len(payload) > MAX_RECORD:
        raise ValueError(f"journal record of {len(payload)} bytes is over {MAX_RECORD}")
    return payload, zlib.crc32(payload)


def record_bytes(seq: int, payload: bytes, payload_crc: int) -> bytes:
    """The record: its header (the CRC covers the payload, then the seq) and the payload."""
    crc = zlib.crc32(seq.to_bytes(8, "little"), payload_crc)
    record: bytes = _RECORD.pack(len(payload), crc, seq) + payload
    return record


def encode(seq: int, table: str, batch: object, compression: str | None) -> bytes:
    """One record's bytes, ready to append."""
    return record_bytes(seq, *encode_payload(table, batch, compression))


def _decode(payload: bytes) -> tuple[str, pa.Table]:
    size = payload[0]
    table = payload[1 : 1 + size].decode()
    with ipc.open_stream(pa.py_buffer(payload[1 + size :])) as reader:
        batch = reader.read_all()
    return table, batch


def read_segment(
    path: Path, *, after_seq: int = 0, decode: bool = True
) -> tuple[Scan, list[Record]]:
    """Read a segment up to its first damaged record; never raises on damage.

    Records with ``seq <= after_seq`` are checked but not decoded or returned.
    """
    scan = Scan(path)
    records: list[Record] = []
    with path.open("rb") as handle:
        data = handle.read()
    if len(data) < HEADER_SIZE or not data.startswith(MAGIC):
        scan.damage = "no segment header"
        scan.damaged_bytes = len(data)
        return scan, records
    scan.journal_id = data[len(MAGIC) : HEADER_SIZE]
    offset = scan.valid_end = HEADER_SIZE
    previous = 0
    while offset < len(data):
        problem = None
        if len(data) - offset < _RECORD.size:
            problem = "torn record header"
        else:
            length, crc, seq = _RECORD.unpack_from(data, offset)
            start = offset + _RECORD.size
            payload = data[start : start + length]
            if length == 0 or length > MAX_RECORD:
                problem = f"impossible record length {length}"
            elif len(payload) < length:
                problem = "torn record"
            elif zlib.crc32(seq.to_bytes(8, "little"), zlib.crc32(payload)) != crc:
                problem = "checksum mismatch"
            elif seq <= previous:
                problem = f"sequence {seq} after {previous}"
        if problem is None and decode and seq > after_seq:
            try:
                table, batch = _decode(payload)
            except (pa.ArrowException, UnicodeDecodeError, IndexError) as exc:
                problem = f"undecodable record: {exc}"
            else:
                records.append(Record(seq, table, batch))
        if problem is not None:
            scan.damage = f"{problem} at byte {offset}"
            scan.damaged_bytes = len(data) - offset
            return scan, records
        previous = seq
        scan.records += 1
        scan.last_seq = seq
        offset = start + length
        scan.valid_end = offset
    return scan, records


def truncate(path: Path, size: int) -> None:
    """Cut a segment back to ``size`` bytes and make that durable."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)
