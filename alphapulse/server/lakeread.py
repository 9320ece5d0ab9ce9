"""Events and news for the REST API, read from the lake (committed files and live tail).

One DuckDB session of the server's own, refreshed before each read (a stat when nothing
changed) and used by one thread at a time; the handlers call it in the executor. A lake it
cannot read (a damaged file) raises the session's QueryError, which names the file.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson

from alphapulse.lake import LakeError
from alphapulse.live import history_query
from alphapulse.query.errors import QueryError


class LakeReader:
    def __init__(self, lake: Path) -> None:
        self.lake = lake
        self._lock = threading.Lock()
        self._session: Any = None

    def _rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        from alphapulse.query.session import connect

        with self._lock:
            if self._session is None:
                try:
                    self._session = connect(self.lake)
                except LakeError:
                    return []  # nothing committed yet: no events, no news

            try:
                self._session.refresh()
                rows: list[dict[str, Any]] = self._session.arrow(sql, params).to_pylist()
            except QueryError as e:
                # A damaged file's reason often says "not found" too (pyarrow's "magic
                # bytes not found in footer"): that one is raised, never an empty list.
                damaged = "damaged lake file" in str(e) or "may be damaged" in str(e)
                missing = "does not exist" in str(e) or "not found" in str(e).lower()
                if missing and not damaged:
                    return []  # no such table yet (nothing committed)
                raise
        return rows

    def events(self, since: int, limit: int, tail: int = 0) -> list[dict[str, Any]]:
        """Events with ``seq`` above ``since`` (or, with ``tail``, the newest ``tail``),
        oldest first; ``detail`` parsed."""
        columns = "seq, epoch_ns(ts_recv) as ts_ns, kind, venue, instrument, detail"
        if tail:
            sql = (
                f"select * from (select {columns} from events order by seq desc "
                "limit $tail) order by seq"
            )
            params: dict[str, Any] = {"tail": tail}
        else:
            sql = f"select {columns} from events where seq > $since order by seq limit $limit"
            params = {"since": since, "limit": limit}
        rows = self._rows(sql, params)
        for row in rows:
            row["detail"] = orjson.loads(row["detail"])
        return rows

    def news(self, symbol: str | None, limit: int) -> list[dict[str, Any]]:
        """The newest stories first, those naming ``symbol`` when given."""
        return self._rows(
            "select id, epoch_ns(coalesce(ts_event, ts_recv)) // 1000000 as time_ms, headline, "
            "summary, "
            "author, source, url, symbols from news "
            "where $symbol is null or list_contains(symbols, $symbol) "
            "order by coalesce(ts_event, ts_recv) desc limit $limit",
            {"symbol": symbol, "limit": limit},
        )

    def bars(self, instrument: str, seconds: int) -> list[dict[str, Any]]:
        """A stream subscription's history (``alphapulse.live.history_query``), on this
        reader's session rather than a new one per subscription."""
        sql, params = history_query(instrument, seconds)
        return self._rows(sql, params)

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None
