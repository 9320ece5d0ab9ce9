"""A collector's start: put into the lake what the journal holds and the lake does not.

After a kill -9 (or a power loss) the lake lacks the rows that were buffered in memory or
queued for its thread; the journal has every record appended up to its last fsync. Replay
reads the lake's marks for the partitions the journal's tail touches, writes each record's
parts that are above their partition's mark (each row once, never twice) into the lake,
commits them, and trims the journal's segments the lake now covers.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alphapulse.journal.watermark import committed_marks, watermark_metadata
from alphapulse.journal.writer import Journal, PartitionKey
from alphapulse.lake.rows import split_partitions
from alphapulse.lake.writer import LakeWriter


@dataclass(frozen=True)
class Recovery:
    """What a start replayed from the journal into the lake."""

    #: Journal records (or their parts, one per lake partition) written into the lake.
    records: int
    rows: int
    #: The last seq the journal held on opening: the lake now holds everything up to it.
    upto: int
    seconds: float
    #: What opening the journal found damaged (a torn tail: records cut by the crash).
    damage: dict[str, Any] = field(default_factory=dict)

    def event(self) -> dict[str, Any]:
        """The ``journal_replayed`` event's detail."""
        return {
            "records": self.records,
            "rows": self.rows,
            "upto_seq": self.upto,
            "seconds": round(self.seconds, 3),
            "damaged_segments": self.damage.get("damaged_segments", 0),
            "bytes_truncated": self.damage.get("bytes_truncated", 0),
        }


def replay_into_lake(journal: Journal, root: Path, **writer_options: Any) -> Recovery:
    """Replay ``journal``'s uncommitted tail into the lake at ``root`` and commit it.

    Call it before the collector's own lake writer opens (it takes the lake's writer lock
    for the time of the replay). ``writer_options`` go to the LakeWriter (its roll sizes).
    Raises what the lake raises when it cannot commit (LakeStorageError): the journal is
    then left whole for the next start.
    """
    started = time.perf_counter()
    keys: set[PartitionKey] = set()
    for record in journal.replay():
        keys.update((record.table, venue, day) for venue, day, _ in split_partitions(record.batch))
    marks = committed_marks(root, journal.journal_id, keys)
    records = rows = 0
    if keys:
        mark = functools.partial(watermark_metadata, journal.journal_id)
        with LakeWriter(root, journal_marks=mark, **writer_options) as lake:
            for record in journal.replay(committed=marks):
                lake.write(record.table, record.batch, journal_seq=record.seq)
                records += 1
                rows += record.batch.num_rows
    journal.trim(journal.recovered_upto)
    return Recovery(
        records, rows, journal.recovered_upto, time.perf_counter() - started, journal.recovery
    )
