"""What the magics run queries on: the lake session (``alphapulse.connect()``) or another
DuckDB database (``%duckdb --connect PATH|:memory:``), behind one small interface."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import duckdb

if TYPE_CHECKING:
    from alphapulse.query.session import Session

_TABLES = (
    "select table_name from information_schema.tables "
    "union select function_name from duckdb_functions() "
    "where function_type = 'table_macro' and not internal order by 1"
)
_COLUMNS = (
    "select column_name from information_schema.columns where table_name = ? "
    "order by ordinal_position"
)


class Target(Protocol):
    label: str
    #: Whether ``con.query_progress()`` reports (see track_progress).
    tracks_progress: bool

    @property
    def con(self) -> duckdb.DuckDBPyConnection: ...

    def refresh(self) -> None:
        """Bring the views up to date before a query (a stat when nothing changed)."""

    def recover(self, error: duckdb.Error) -> bool:
        """After ``error``: whether running the query again may succeed."""

    def tables(self) -> list[str]: ...

    def missing_hint(self) -> str:
        """What a query could name instead, for a table that does not exist ('' = none)."""

    def columns(self, name: str) -> list[str]: ...

    def close(self) -> None: ...


def track_progress(con: duckdb.DuckDBPyConnection) -> bool:
    """Turn on DuckDB's progress tracking (for ``query_progress()``) without its own printed
    bar; False where DuckDB refuses: in a Jupyter kernel without ipywidgets, DuckDB 2.0.1
    rejects every progress-bar setting (and tracks nothing), so the bar shows time only."""
    try:
        con.execute("set enable_progress_bar = true")
        con.execute("set enable_progress_bar_print = false")
    except duckdb.InvalidInputException:
        return False
    return True


class LakeTarget:
    """The lake session: views over the lake and the live tail."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.label = f"lake {session.lake}"
        self.tracks_progress = track_progress(session.con)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.session.con

    def refresh(self) -> None:
        self.session.refresh()

    def recover(self, error: duckdb.Error) -> bool:
        # A compaction replaced a file between the snapshot and the read: the generation
        # changed, so a refresh lists the new files.
        text = str(error)
        vanished = isinstance(error, duckdb.IOException) and (
            "No files found" in text or "No such file" in text or "does not exist" in text
        )
        if vanished:
            self.session.refresh()
        return vanished

    def tables(self) -> list[str]:
        return self.session.tables()

    def missing_hint(self) -> str:
        from alphapulse.query.views import VIEWS  # as `alphapulse sql` says it

        return f"the lake's views: {', '.join(VIEWS)}; macros: bars(), book_top()"

    def columns(self, name: str) -> list[str]:
        return self.session.columns(name)

    def close(self) -> None:
        self.session.close()


class DatabaseTarget:
    """A DuckDB database file, or ``:memory:``."""

    def __init__(self, database: str) -> None:
        path = database if database == ":memory:" else str(Path(database).expanduser())
        self._con = duckdb.connect(path)
        self.label = f"database {path}"
        self.tracks_progress = track_progress(self._con)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self._con

    def refresh(self) -> None:
        pass

    def recover(self, error: duckdb.Error) -> bool:
        return False

    def tables(self) -> list[str]:
        return [r[0] for r in self._con.execute(_TABLES).fetchall()]

    def missing_hint(self) -> str:
        return ""  # DuckDB's own guess is about this database

    def columns(self, name: str) -> list[str]:
        return [r[0] for r in self._con.execute(_COLUMNS, [name]).fetchall()]

    def close(self) -> None:
        self._con.close()


def open_lake(lake: str | None) -> LakeTarget:
    """The session over ``lake`` (None: the default lake), errors as LakeError."""
    from alphapulse.query.session import connect

    return LakeTarget(connect(lake))
