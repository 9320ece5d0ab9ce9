"""Journals trades, then writes them into a lake, until it is killed (test_journal_lake).

    python -m tests.journal_lake_child DIRECTORY

The journal is ``DIRECTORY/_journal``, the lake ``DIRECTORY/lake``, each lake file marked
with the last journal seq it holds. Batch ``seq`` holds trades with ids from
``(seq - 1) * BATCH_ROWS``, on alternating venues, so the parent knows every id the lake
must hold once. Prints ``ready`` and then ``durable <seq>`` as the journal syncs.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from alphapulse.journal import Journal
from alphapulse.journal.watermark import watermark_metadata
from alphapulse.lake import LakeWriter
from tests.journal_crash_child import report_durable
from tests.lake_crash_child import VENUES, trade_rows

BATCH_ROWS = 500


def main(directory: Path) -> None:
    journal = Journal(directory / "_journal", sync_interval=0.05)
    marks = functools.partial(watermark_metadata, journal.journal_id)
    # Files by age only: the rows of the last 0.3 s are always in memory, for a kill to cost.
    lake = LakeWriter(directory / "lake", roll_seconds=0.3, journal_marks=marks)
    print("ready", flush=True)

    report_durable(journal)
    while True:
        seq = journal.last_seq + 1
        batch = trade_rows((seq - 1) * BATCH_ROWS, BATCH_ROWS, VENUES[seq % 2])
        assert journal.append("trades", batch) == seq
        lake.write("trades", batch, journal_seq=seq)
        low = lake.journal_low_water
        if low is not None and seq % 50 == 0:
            journal.trim(low)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
