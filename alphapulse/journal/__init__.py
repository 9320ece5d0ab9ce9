"""The collector's crash journal: what it received, on disk before it reaches the lake.

The lake writer keeps rows in memory for up to its roll time before committing a file, so a
kill -9 (or a power loss) would lose them. The journal appends every batch first
(``Journal.append``, no waiting on the disk), fsyncs in groups at most every second, and on
restart ``Journal.replay`` yields the batches that the lake's commits do not cover yet, once
each; ``Journal.trim`` deletes segments the lake has committed. ``format`` is the on-disk
layout, ``writer`` the journal itself, ``watermark`` how a lake file records the journal
seqs it commits and how recovery reads them back, ``sink`` the collector's sink (journal,
then lake), ``recovery`` the replay a collector's start does.
"""

from alphapulse.journal.format import JournalError, Record
from alphapulse.journal.writer import Journal, JournalStorageError, PartitionKey

#: The collector's journal, in its lake (readers skip ``_`` directories).
JOURNAL_DIR = "_journal"

__all__ = [
    "JOURNAL_DIR",
    "Journal",
    "JournalError",
    "JournalStorageError",
    "PartitionKey",
    "Record",
]
