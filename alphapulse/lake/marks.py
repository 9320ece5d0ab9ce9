"""Journal marks in lake files: which crash-journal records a committed file holds.

A lake file written from the collector's journal carries, in its Parquet key-value
metadata, the journal's id and the highest journal seq among its rows (see
``alphapulse.journal.watermark`` for how recovery uses them). The lake only stores marks
and keeps them through its own rewrites: a compaction that merges files writes the
highest mark among them into the merged file, or recovery would replay, a second time,
rows that the merged file already holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

METADATA_KEY = b"alphapulse.journal"


def watermark_metadata(journal_id: bytes, seq: int) -> dict[bytes, bytes]:
    """The key-value metadata saying a lake file holds journal records up to ``seq``."""
    return {METADATA_KEY: json.dumps({"id": journal_id.hex(), "seq": seq}).encode()}


def parse_mark(metadata: dict[bytes, bytes] | None) -> tuple[bytes, int] | None:
    """``(journal id, seq)`` from a file's metadata, or None (no mark, or one that does not
    parse: such a file's rows are then replayed rather than lost)."""
    raw = (metadata or {}).get(METADATA_KEY)
    if raw is None:
        return None
    try:
        mark = json.loads(raw)
        seq = mark["seq"]
        if isinstance(seq, int) and not isinstance(seq, bool):
            return bytes.fromhex(mark["id"]), seq
    except (ValueError, KeyError, TypeError):
        pass
    return None


def file_mark(metadata: dict[bytes, bytes] | None, journal_id: bytes) -> int | None:
    """The seq a file's metadata records for this journal, or None (another journal's, or
    a file written without one, or a mark that does not parse)."""
    mark = parse_mark(metadata)
    return mark[1] if mark is not None and mark[0] == journal_id else None


def carried_mark(metadata: Iterable[dict[bytes, bytes] | None]) -> dict[bytes, bytes]:
    """The mark a file merged from files with these metadata keeps: the highest seq of the
    journal that wrote the last marked file (files are given oldest first; a journal
    started afresh counts from 1 again, so an older journal's marks say nothing about the
    current one). Empty when no file has a mark."""
    marks = [m for m in map(parse_mark, metadata) if m is not None]
    if not marks:
        return {}
    journal_id = marks[-1][0]
    return watermark_metadata(journal_id, max(seq for i, seq in marks if i == journal_id))
