"""The Parquet lake: permanent, partitioned event tables that pyarrow and DuckDB read directly.

Layout (Hive partitions; the date is ``ts_recv``'s, in UTC)::

    <root>/_alphapulse_lake.json            {"format": "alphapulse.lake", "schema_version": 1}
    <root>/_alphapulse_lake.gen             replaced after every commit and compaction
    <root>/<table>/venue=<venue>/date=<YYYY-MM-DD>/part-<HHMMSS.nnnnnnnnn>-<token>.parquet
    <root>/_tail/_owner.json                the live writer publishing its tail, if any
    <root>/_tail/<table>/venue=<venue>/date=<YYYY-MM-DD>/<token>.arrows

A file holds one partition's rows sorted by ``ts_recv`` (stable: ties keep their arrival
order), zstd-compressed, in row groups of 128Ki rows with statistics and page checksums
(verified by ``read_table``), ``ts_recv`` declared as the sorting column, timestamps and
ids delta-encoded, other columns dictionary-encoded, and the key-value metadata
``alphapulse.schema_version = "1"`` and ``alphapulse.table``. Its name starts with the time
of day of its first row, so a directory lists in time order. Every file of an event table
has its published schema (``alphapulse schema``): rows from polars and the like are cast.

``venue`` is both a data column and the partition key, with the same value. Files therefore
keep the table's full schema (a file read alone, or copied elsewhere, still says its venue),
and the directory lets readers skip venues without opening files. pyarrow and DuckDB both
merge the two into one ``venue`` column; ``date`` comes only from the directory::

    select venue, date, count(*) from read_parquet('lake/trades/*/*/*.parquet',
        hive_partitioning = true) where date = '2026-01-02' group by all

(``union_by_name = true`` if a table's columns ever change between files.)

Commits are atomic. A file is written as ``.part-….parquet.tmp`` in its partition,
fsynced, renamed to ``part-….parquet`` and the directory fsynced; then ``on_commit(path,
table, rows)`` is called. A commit the file system refuses (disk full) raises
LakeStorageError naming the directory, leaves no temp file and keeps the rows buffered.
With ``lead_table="events"`` (the collector's), the events buffered are committed before
a data file whenever none has been yet or they have waited ``lead_seconds``: a session's
data never lands without the events that describe it.

The generation file ``_alphapulse_lake.gen`` (a random number, replaced by rename) changes
after every commit and every compaction swap: a reader that keeps a table's file list (the
query session's ``snapshot.LakeWatcher``) lists again only when it has changed.

The live tail (``tail.py``): a writer made with ``publish_tail=True`` (the collector's)
also publishes the rows it has buffered but not committed, one Arrow IPC stream segment
per partition buffer under ``_tail``, named by the token its file will carry. Readers take
``snapshot.snapshot(root, table)``: the committed files plus the tail's segments whose
tokens no listed file holds, each row once however commits, and compactions, fall during
it. ``_tail/_owner.json`` names the writer's process; a dead writer's tail is ignored by
readers and removed by the next writer; ``close`` removes it. A failure to publish (disk
full) is counted in ``stats()["tail_errors"]`` and never fails or delays a commit.

Readers list only ``part-*.parquet``, so they never see a file half-written, and a crash
(kill -9, power loss) at any moment leaves only whole files and perhaps a temp file, which
the next writer to open the lake deletes (and counts in ``stats()["orphans_removed"]``).

What a crash costs: the rows buffered since their partition's last commit, at most
``roll_rows`` rows (or ``roll_bytes``) or ``roll_seconds`` of data per partition, and with
``AsyncLakeWriter`` the batches still in its queue (``max_queue``). The raw capture, which
closes a zstd frame every second, holds those frames: replaying it restores them.

One writer per lake at a time: a writer holds an exclusive lock on
``_alphapulse_lake.lock`` (LakeLockedError otherwise). Readers need no lock.

Versions: a lake or file whose schema version this code does not know raises
LakeVersionError, in the writer (on open) and in the reader (naming the file).
"""

from alphapulse.lake.async_writer import AsyncLakeWriter
from alphapulse.lake.layout import (
    SCHEMA_VERSION,
    LakeError,
    LakeLockedError,
    LakeStorageError,
    LakeVersionError,
    LakeWriterError,
)
from alphapulse.lake.reader import read_table, tables
from alphapulse.lake.writer import LakeWriter, OnCommit

__all__ = [
    "SCHEMA_VERSION",
    "AsyncLakeWriter",
    "LakeError",
    "LakeLockedError",
    "LakeStorageError",
    "LakeVersionError",
    "LakeWriter",
    "LakeWriterError",
    "OnCommit",
    "read_table",
    "tables",
]
