"""Appends batches to a journal as fast as it can until it is killed (test_journal's crash test).

    python -m tests.journal_crash_child DIRECTORY SEED

Prints ``ready <recovered_upto>`` once the journal is open, then ``durable <seq>`` each time
the durable sequence advances, flushed, so the parent knows a lower bound of what was synced
when it sent SIGKILL. Record sizes vary (a few rows to ~1 MB) so that a kill can land in the
middle of a large write; every batch's content follows from its seq (``expected_batch``).
"""

from __future__ import annotations

import random
import sys
import threading

import pyarrow as pa

from alphapulse.journal import Journal


def expected_batch(seq: int, rows: int) -> pa.Table:
    base = seq * 1_000_003
    return pa.table(
        {
            "seq": pa.array([seq] * rows, pa.int64()),
            "value": pa.array(range(base, base + rows), pa.int64()),
        }
    )


def report_durable(journal: Journal) -> None:
    """Print ``durable <seq>`` each time the journal's durable seq advances, from a thread."""

    def report() -> None:
        reported = journal.durable_seq
        while True:
            journal.wait_durable(reported + 1)
            reported = journal.durable_seq
            print("durable", reported, flush=True)

    threading.Thread(target=report, daemon=True).start()


def main() -> None:
    directory, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    journal = Journal(directory, sync_interval=0.05, segment_bytes=4 << 20)
    print("ready", journal.recovered_upto, flush=True)

    report_durable(journal)
    while True:
        rows = rng.choice((3, 100, 5_000, 60_000))
        seq = journal.last_seq + 1  # only this thread appends
        assert journal.append("trades", expected_batch(seq, rows)) == seq


if __name__ == "__main__":
    main()
