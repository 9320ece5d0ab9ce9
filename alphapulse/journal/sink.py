"""The collector's sink with the crash journal in front of the lake.

Each batch is checked, appended to the journal (the page cache; the journal's thread
fsyncs at most every second) and then queued for the lake with its journal seq, under one
lock so that the lake sees seqs in order (a file's mark is the last seq it holds). Each
commit trims the journal segments the lake now covers.

When the journal's disk refuses a write, rows still go to the lake (nothing received is
dropped), ``journal_error`` is set and ``on_error`` is called once: the collector stops, as
it does when the lake's disk refuses a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from alphapulse.journal.writer import Journal, JournalStorageError
from alphapulse.lake.async_writer import AsyncLakeWriter
from alphapulse.lake.layout import check_table_name
from alphapulse.lake.rows import checked_table

log = logging.getLogger(__name__)


class JournaledLake:
    """``put``/``flush``/``close``/``stats`` of an AsyncLakeWriter, every batch journaled
    first. Owns neither: close the journal after ``close()`` (the lake's last commit may
    still trim it)."""

    def __init__(
        self,
        journal: Journal,
        lake: AsyncLakeWriter,
        *,
        on_error: Callable[[JournalStorageError], None] | None = None,
    ) -> None:
        self.journal = journal
        self.lake = lake
        self.on_error = on_error
        self.journal_error: JournalStorageError | None = None
        #: Rows that went to the lake without a journal record (after a journal failure).
        self.rows_unjournaled = 0
        self._order = asyncio.Lock()

    async def put(self, table: str, batch: object) -> None:
        check_table_name(table)
        rows = checked_table(table, batch)  # bad input fails here, before the journal
        if rows.num_rows == 0:
            return
        async with self._order:
            seq = self._append(table, rows)
            await self.lake.put(table, rows, journal_seq=seq)

    def _append(self, table: str, rows: object) -> int | None:
        if self.journal_error is None:
            try:
                return self.journal.append(table, rows)
            except JournalStorageError as exc:
                self.journal_error = exc
                log.error("%s; the collector stops", exc)
                if self.on_error is not None:
                    self.on_error(exc)
        self.rows_unjournaled += getattr(rows, "num_rows", 0)
        return None

    def committed(self) -> None:
        """Trim what the lake's commits cover. Call it on the lake's thread (its ``on_commit``),
        where the writer's buffers do not move."""
        low = self.lake.writer.journal_low_water
        if low is not None:
            try:
                self.journal.trim(low)
            except OSError as exc:  # the next commit tries again; the journal only grows
                log.warning("journal %s: trim failed: %s", self.journal.directory, exc)

    async def flush(self) -> None:
        await self.lake.flush()

    async def close(self) -> None:
        await self.lake.close()
        with contextlib.suppress(OSError):  # after the last commit everything is covered
            self.committed()

    @property
    def error(self) -> BaseException | None:
        """The lake's failure (see AsyncLakeWriter.error)."""
        return self.lake.error

    @property
    def rows_lost(self) -> int:
        return self.lake.rows_lost

    def stats(self) -> dict[str, Any]:
        return {**self.lake.stats(), "journal": self.journal.stats()}
