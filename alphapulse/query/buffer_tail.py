"""The PostgreSQL buffer as a session's tail: the rows the lake has not committed yet.

A session over a lake whose collector runs elsewhere has no live tail: its views end at
the lake's last commit, up to a minute behind. With a buffer configured
(``$ALPHAPULSE_PG_DSN``, or ``connect(buffer=...)``), each view's tail is instead the
buffer's rows beyond the lake's committed ones, so the views reach the present and each
row is read once at the seam:

- the seam is per venue: the newest ``ts_recv`` in the venue's committed files (from the
  footers' statistics of its newest day's files, kept per file: a name never changes its
  bytes);
- the tail is the buffer's rows with ``ts_recv`` past their venue's seam, and every row of
  a venue the lake has no file of. A lake file holds whole messages, and the rows of one
  message share their ``ts_recv``, so no message is split by the seam.

Rows older than the seam come from the lake only (a window the lake lost is what
``alphapulse buffer export`` is for). A buffer that cannot be reached leaves the views on
the lake alone and says so once in the log; the next refresh tries again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from alphapulse.dsn import mask, password_of

log = logging.getLogger(__name__)

#: The lake table each view reads -> the buffer table that mirrors it.
BUFFER_OF = {
    "trades": "trades",
    "quotes": "quotes",
    "book_deltas": "book_deltas",
    "bars": "bars",
    "news": "news",
    "events": "events",
}
#: The buffer is asked again at most this often (a session refreshes at every query).
MIN_INTERVAL_S = 1.0
#: After a failure, the buffer is left alone this long (a host that drops packets would
#: otherwise hold every refresh for its connection timeout).
RETRY_S = 30.0
CONNECT_TIMEOUT_S = 5


def _venue_of(path: Path) -> str:
    return next(p.removeprefix("venue=") for p in path.parts if p.startswith("venue="))


def _day_of(path: Path) -> str:
    return next(p.removeprefix("date=") for p in path.parts if p.startswith("date="))


class BufferTail:
    """Reads each table's rows past the lake's seam from the buffer at ``dsn``."""

    def __init__(self, dsn: str, min_interval: float = MIN_INTERVAL_S) -> None:
        self.dsn = dsn
        self.min_interval = min_interval
        self.error: str | None = None
        self._conn: Any = None
        self._max_ts: dict[Path, int] = {}
        self._asked: dict[str, float] = {}
        self._retry_at = 0.0

    def due(self, table: str) -> bool:
        now = time.monotonic()
        if now < self._retry_at:
            return False
        return now - self._asked.get(table, -1e9) >= self.min_interval

    def seams(self, files: Sequence[Path]) -> dict[str, int]:
        """Per venue, the newest ``ts_recv`` its committed ``files`` hold."""
        newest_day: dict[str, str] = {}
        for path in files:
            venue, day = _venue_of(path), _day_of(path)
            newest_day[venue] = max(newest_day.get(venue, day), day)
        seams: dict[str, int] = {}
        for path in files:
            venue = _venue_of(path)
            if _day_of(path) != newest_day[venue]:
                continue
            newest = self._file_max(path)
            if newest is not None:
                seams[venue] = max(seams.get(venue, newest), newest)
        return seams

    def _file_max(self, path: Path) -> int | None:
        if path not in self._max_ts:
            meta = pq.read_metadata(path)
            column = meta.schema.to_arrow_schema().get_field_index("ts_recv")
            best: int | None = None
            for group in range(meta.num_row_groups):
                stats = meta.row_group(group).column(column).statistics
                if stats is None or not stats.has_min_max:
                    return None  # no statistics: no seam from this file (read it all)
                value = stats.max
                ns = int(value.value if hasattr(value, "value") else pa.scalar(value).value)
                best = ns if best is None else max(best, ns)
            if best is None:
                return None
            self._max_ts[path] = best
        return self._max_ts[path]

    def rows(self, table: str, files: Sequence[Path]) -> pa.Table | None:
        """The buffer's rows of lake ``table`` past the seams of ``files``; None when the
        buffer has no such table or cannot be read now."""
        from alphapulse.buffer import read

        name = BUFFER_OF.get(table)
        if name is None or time.monotonic() < self._retry_at:
            return None
        self._asked[table] = time.monotonic()
        try:
            seams = self.seams(files)
        except (OSError, pa.ArrowException) as exc:  # a damaged or vanished file: the
            log.debug("no buffer tail for %s: %s", table, exc)  # lake's views report it
            return None
        where, params = [], []
        for venue, seam in sorted(seams.items()):
            params += [venue, seam]
            where.append(f"(venue = ${len(params) - 1} AND ts_recv > ${len(params)})")
        if seams:
            listed = ", ".join(f"${len(params) + i + 1}" for i in range(len(seams)))
            params += sorted(seams)
            where.append(f"venue NOT IN ({listed})")
        try:
            if self._conn is None:
                self._conn = read.connect(self.dsn, timeout_s=CONNECT_TIMEOUT_S)
            rows = read.fetch(self._conn, name, " OR ".join(where) or "true", params)
        except Exception as exc:  # down, refused, not migrated: the lake alone serves
            self._fail(exc)
            return None
        if self.error is not None:
            log.warning("the PostgreSQL buffer answers again")
            self.error = None
        return rows

    def _fail(self, exc: BaseException) -> None:
        reason = mask(f"{type(exc).__name__}: {exc}".splitlines()[0], password_of(self.dsn))
        if self.error is None:
            log.warning("the PostgreSQL buffer cannot be read (%s): the lake alone serves", reason)
        self.error = reason
        self._retry_at = time.monotonic() + RETRY_S
        self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                log.debug("closing the buffer connection failed", exc_info=True)
