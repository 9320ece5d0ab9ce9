"""What the lake has committed, in journal sequence numbers.

A lake file is one partition's buffer (table, venue, day), and a partition's buffers are
committed one after another, each holding records in seq order. So the highest journal seq
in a partition's files says that every journaled row of that partition up to it is in the
lake: the partition's *mark*. It is written in the file's own Parquet metadata
(``watermark_metadata``, in ``alphapulse.lake.marks``: the lake keeps marks through
its compactions), atomic with the commit itself, so no crash can separate the file
from its mark (a ledger written after the rename could be one commit behind and replay it
twice). The journal's id goes with it: a journal started afresh (its directory deleted)
counts from 1 again, and marks of another journal must not hide its records.

``committed_marks`` reads the marks back, only for the partitions the journal's tail
touches: recovery reads a few footers, never the whole lake.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from alphapulse.journal.writer import PartitionKey
from alphapulse.lake.layout import partition_dir
from alphapulse.lake.marks import METADATA_KEY, file_mark, watermark_metadata

__all__ = ["METADATA_KEY", "committed_marks", "file_mark", "watermark_metadata"]


def committed_marks(
    root: Path, journal_id: bytes, partitions: Iterable[PartitionKey]
) -> dict[PartitionKey, int]:
    """Each partition's mark: the highest seq of this journal its committed files hold.

    Partitions with no marked file are left out (nothing of theirs is committed). A file
    whose footer cannot be read is skipped here: the lake's reader reports it, and its rows
    are then replayed rather than lost.
    """
    marks: dict[PartitionKey, int] = {}
    for key in set(partitions):
        directory = partition_dir(root, *key)
        if not directory.is_dir():
            continue
        for path in directory.glob("part-*.parquet"):
            try:
                metadata = pq.read_metadata(path).metadata
            except (OSError, pa.ArrowException):
                continue
            mark = file_mark(metadata, journal_id)
            if mark is not None and mark > marks.get(key, 0):
                marks[key] = mark
    return marks
