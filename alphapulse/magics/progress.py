"""A progress bar for queries that run longer than a threshold, fed by DuckDB's
``query_progress()``.

One watcher thread lives for the whole kernel: a query only hands it the connection and
takes it back (a lock and a notify, microseconds), so a fast query pays nothing for the
bar it never shows. The bar is tqdm's text bar on stderr: it works in terminals and
notebooks alike and needs no widgets. Where DuckDB does not track progress (a Jupyter
kernel without ipywidgets, see alphapulse.magics.target) it shows how long the query has
run. Output written from this thread lands in the running cell (ipykernel routes a thread's
output to the executing request).
"""

from __future__ import annotations

import functools
import sys
import threading
from typing import Final

import duckdb

#: How often a running query's progress is read.
POLL_SECONDS: Final = 0.1


class ProgressWatch:
    """Shows a bar for the query between ``begin`` and ``end`` once it has run ``after``
    seconds; ``end`` returns when the bar is closed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._after = 1.0
        self._tracked = True
        self._query = 0  # which query ``_con`` is, so a late poll never crosses queries
        self._showing = False
        self._thread: threading.Thread | None = None
        #: How many bars were shown (a test's evidence that the bar appeared).
        self.shown = 0

    def begin(self, con: duckdb.DuckDBPyConnection, after: float, *, tracked: bool = True) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="alphapulse-progress", daemon=True
                )
                self._thread.start()
            self._con, self._after, self._tracked = con, after, tracked
            self._query += 1
            self._cond.notify_all()

    def end(self) -> None:
        with self._cond:
            self._con = None
            self._cond.notify_all()
            self._cond.wait_for(lambda: not self._showing)

    def _done(self, query: int) -> bool:
        return self._query != query or self._con is None

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._con is not None)
                query, con, tracked = self._query, self._con, self._tracked
                assert con is not None
                if self._cond.wait_for(functools.partial(self._done, query), self._after):
                    continue  # finished (or replaced) before the threshold
                self._showing = True
            try:
                self._show(con, query, tracked)
            finally:
                with self._cond:
                    self._showing = False
                    self._cond.notify_all()

    def _show(self, con: duckdb.DuckDBPyConnection, query: int, tracked: bool) -> None:
        from tqdm import tqdm

        self.shown += 1
        bar = tqdm(
            total=100,
            file=sys.stderr,
            desc="duckdb",
            bar_format=(
                "{desc} {percentage:3.0f}%|{bar}| {elapsed_s:.1f} s"
                if tracked
                else "{desc} running {elapsed_s:.1f} s"
            ),
            leave=False,
            mininterval=POLL_SECONDS,
        )
        try:
            while True:
                with self._cond:
                    if self._cond.wait_for(functools.partial(self._done, query), POLL_SECONDS):
                        break
                    done = con.query_progress() if tracked else -1.0
                if done >= 0:  # -1: DuckDB has no estimate (yet)
                    bar.n = min(done, 100.0)
                bar.refresh()
        finally:
            bar.close()
