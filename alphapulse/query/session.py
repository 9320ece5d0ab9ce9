"""``alphapulse.connect()``: a DuckDB connection whose views are the lake and its live tail.

Each view (``trades``, ``quotes``, ``book_deltas``, ``venue_bars``, ``news``, ``events``,
``statuses``, ``rejects``) is its table's snapshot: the committed files named one by one
(``read_parquet([...])``, typed hive columns ``venue`` VARCHAR and ``date`` DATE) UNION ALL
BY NAME the rows a running collector has not committed yet, or, where no collector runs
on this machine and a PostgreSQL buffer is configured, the buffer's rows past the lake's
last commit (``buffer_tail``: each row once at the seam). ``refresh()`` (called by
``sql``/``query``/``arrow``) rebuilds the views only when the lake's generation says the
file set or the tail may have changed; otherwise it costs a ``stat``.

The files are read without ``union_by_name``: the writer gives every file of a table the
table's published schema, and ``union_by_name`` would read the footer of every file of
the table on every query (half a second at 2000 files) where DuckDB otherwise opens only
the files the partition filters keep. Footers are cached across queries
(``parquet_metadata_cache``): a name always means the same bytes in the lake.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal, TypeVar

import duckdb
import pyarrow as pa

from alphapulse.lake.layout import MARKER, LakeError, read_marker
from alphapulse.lake.reader import damage_message, damage_of, damaged_files
from alphapulse.lake.snapshot import LakeWatcher
from alphapulse.query.book import BOOK_SCHEMA, BookReader, check_depth, to_ns
from alphapulse.query.buffer_tail import BufferTail
from alphapulse.query.errors import (
    QUOTED_PARQUET,
    QueryError,
    is_empty_query,
    is_read_failure,
    query_error,
    views_read_by,
)
from alphapulse.query.macros import BARS_SCHEMA, install_macros
from alphapulse.query.views import VIEWS, TailRows, damaged_view_sql, tail_name, view_sql

if TYPE_CHECKING:
    import polars as pl

T = TypeVar("T")

#: What the table macros return, for completion.
MACRO_COLUMNS: dict[str, tuple[str, ...]] = {
    "bars": tuple(BARS_SCHEMA.names),
    "book_top": tuple(BOOK_SCHEMA.names),
}

#: Parameters as DuckDB takes them: positional (``?``) or named (``$name``).
Params = Sequence[object] | dict[str, object] | None


def default_lake() -> Path:
    """Where ``alphapulse collect`` writes: $ALPHAPULSE_LAKE, the config's lake, data/lake."""
    if lake := os.environ.get("ALPHAPULSE_LAKE"):
        return Path(lake).expanduser()
    if os.environ.get("ALPHAPULSE_CONFIG"):
        from alphapulse.config import CollectorConfig

        return CollectorConfig.load().lake
    from alphapulse.config import DEFAULT_LAKE

    return DEFAULT_LAKE


def open_lake(lake: str | os.PathLike[str] | None) -> Path:
    """The lake's root, checked: LakeError (one line, what to do) when there is no lake
    there, when it is empty, or when it is of a newer schema version."""
    if not isinstance(lake, str | os.PathLike | None):
        raise TypeError(f"lake must be a directory path (str or Path) or None, not {lake!r}")
    root = default_lake() if lake is None else Path(lake).expanduser()
    if not root.exists():
        raise LakeError(
            f"no lake at {root}: collect into it first (alphapulse collect --lake {root}) "
            "or pass lake= / --lake / $ALPHAPULSE_LAKE"
        )
    if not root.is_dir():
        raise LakeError(f"{root}: not a directory (a lake is a directory)")
    if read_marker(root) is None:  # raises LakeVersionError for a newer lake
        if any(root.iterdir()):
            raise LakeError(
                f"{root}: not a lake (no {MARKER}): give the lake directory "
                "(lake= / --lake / $ALPHAPULSE_LAKE)"
            )
        raise LakeError(
            f"{root}: empty, not a lake yet (no {MARKER}): collect into it first "
            f"(alphapulse collect --lake {root})"
        )
    return root


def _is_vanished_file(error: duckdb.Error) -> bool:
    """DuckDB failed to open a file the snapshot listed: a compaction swapped it."""
    text = str(error)
    return isinstance(error, duckdb.IOException) and (
        "No files found" in text or "No such file" in text or "does not exist" in text
    )


class Session:
    """A DuckDB connection over one lake; see the module docstring. Use ``connect()``."""

    def __init__(
        self, lake: Path, *, database: str = ":memory:", buffer: str | None = None
    ) -> None:
        self.lake = lake
        #: The PostgreSQL buffer that gives the views their tail when no live writer does.
        self.buffer = BufferTail(buffer) if buffer else None
        self.con: duckdb.DuckDBPyConnection = duckdb.connect(database)
        # Partition dates are UTC dates; timestamps shown and compared in UTC agree with them.
        self.con.execute("set TimeZone = 'UTC'")
        # DuckDB still tracks progress (con.query_progress(), for the magics' bar) but
        # does not draw its own bar on the terminal. In a Jupyter kernel without
        # ipywidgets DuckDB refuses any progress setting (and prints no bar anyway).
        with contextlib.suppress(duckdb.InvalidInputException):
            self.con.execute("set enable_progress_bar_print = false")
        # Lake files never change under a name (a new file, a new token), so their footers
        # can be kept between queries: a query over thousands of files then opens only
        # those it reads.
        self.con.execute("set parquet_metadata_cache = true")
        self._watcher = LakeWatcher(lake)
        #: view -> the files it was last built from.
        self._built: dict[str, tuple[Path, ...]] = {}
        #: view -> its live tail (None: no live writer), and the rows DuckDB scans.
        self._tails: dict[str, pa.Table | None] = {}
        #: view -> whether a live writer gives its tail (the buffer's is used otherwise).
        self._live: dict[str, bool] = {}
        #: Views over a damaged file, which fail when queried; checked again each refresh.
        self._damaged: set[str] = set()
        self._tail_rows = {view: TailRows(view) for view in VIEWS}
        for view, rows in self._tail_rows.items():
            self.con.register(tail_name(view), rows)
        self._closed = False
        self._books = BookReader()
        self._update()
        install_macros(self)

    # -- views ----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Bring the views up to date with the lake; a stat when nothing changed."""
        if self._closed:
            raise QueryError("the session is closed: alphapulse.connect() again")
        if self._damaged:
            # Moving a damaged file out by hand does not bump the generation: list again.
            self._watcher = LakeWatcher(self.lake)
            self._update()
        elif self._watcher.changed():
            self._update()
        elif self.buffer is not None:
            self._buffer_tails()

    def _update(self) -> None:
        try:
            self._rebuild()
        except duckdb.Error as e:
            # A view binds its files when created: one may have gone under a compaction.
            if not _is_vanished_file(e):
                raise self._error(e) from None
            self._rebuild(force=True)

    def _rebuild(self, *, force: bool = False) -> None:
        if force:
            self._watcher = LakeWatcher(self.lake)
            self._built.clear()
        for view, table in VIEWS.items():
            snap = self._watcher.snapshot(table)
            files = tuple(snap.files)
            if self._built.get(view) != files or view in self._damaged:
                self._define(view, table, files)
                self._built[view] = files
            self._tail_rows[view].set(snap.tail)
            self._tails[view] = snap.tail
            self._live[view] = snap.tail is not None
        if self.buffer is not None:
            self._buffer_tails(force=True)

    def _buffer_tails(self, *, force: bool = False) -> None:
        """Where no live writer gives a view its tail, the buffer's rows past the lake's
        committed ones (asked at most every second)."""
        assert self.buffer is not None
        for view, table in VIEWS.items():
            if self._live.get(view) or (not force and not self.buffer.due(table)):
                continue
            rows = self.buffer.rows(table, self._built.get(view, ()))
            if rows is not None or force:
                self._tail_rows[view].set(rows)
                self._tails[view] = rows

    def _define(self, view: str, table: str, files: tuple[Path, ...]) -> None:
        """Create ``view`` over ``files``; over a damaged file (DuckDB reads footers when
        a view is created) the view is one that fails naming the file, and the other
        views still work. The footers are read one by one only on this failure path."""
        try:
            for statement in view_sql(view, files):
                self.con.execute(statement)
            self._damaged.discard(view)
            return
        except duckdb.Error as e:
            if _is_vanished_file(e):
                raise
            damaged = damaged_files(files)
            if not damaged:
                raise
        path, reason = damaged[0]
        for statement in damaged_view_sql(view, damage_message(view, path, reason)):
            self.con.execute(statement)
        self._damaged.add(view)

    def snapshot_files(self, view: str) -> list[Path]:
        """The files the view reads now (after a refresh)."""
        self.refresh()
        return list(self._built[view])

    @property
    def watcher(self) -> LakeWatcher:
        """The lake watcher the views follow."""
        return self._watcher

    # -- books ----------------------------------------------------------------------------

    def book_top(
        self, venue: str, symbol: str, at: datetime | date | int | str, depth: int = 10
    ) -> pl.DataFrame:
        """The best ``depth`` levels a side of ``venue``'s ``symbol`` (the venue's own
        symbol) at ``at``: side, level (1 = best), price, size, price_raw, size_raw."""
        import polars as pl

        self.refresh()
        frame = pl.from_arrow(self.book_top_arrow(venue, symbol, to_ns(at), check_depth(depth)))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def book_top_arrow(self, venue: str, symbol: str, at_ns: int, depth: int) -> pa.Table:
        """``book_top`` over the views as last refreshed. It never touches ``con``: the SQL
        ``book_top`` calls it from inside a query on ``con``."""
        return self._books.book_top(
            self._built["book_deltas"],
            self._tails.get("book_deltas"),
            venue,
            symbol,
            at_ns,
            depth,
        )

    # -- queries --------------------------------------------------------------------------

    def sql(self, query: str, params: Params = None) -> duckdb.DuckDBPyRelation | None:
        """Refresh, then ``con.sql``: a lazy relation (None for a statement; errors as
        QueryError). Its rows are read when it is executed, from the files of this
        snapshot."""
        return self._run(query, params, lambda relation: relation)

    def query(self, query: str, params: Params = None) -> pl.DataFrame:
        """Run ``query`` and return a polars DataFrame (empty for a statement)."""
        return self._run(query, params, _polars)

    def arrow(self, query: str, params: Params = None) -> pa.Table:
        """Run ``query`` and return a pyarrow Table (empty for a statement)."""
        return self._run(query, params, _arrow_table)

    def _run(
        self,
        query: str,
        params: Params,
        fetch: Callable[[duckdb.DuckDBPyRelation | None], T],
    ) -> T:
        if not isinstance(query, str):
            raise TypeError(f"query must be SQL text (a str), not {type(query).__name__}")
        if params is not None and (
            isinstance(params, str | bytes) or not isinstance(params, Sequence | dict)
        ):
            raise TypeError(
                f"params must be a list (for ? placeholders) or a dict (for $name), not {params!r}"
            )
        if is_empty_query(query):
            raise QueryError("empty query: give a SQL statement, e.g. select * from trades limit 5")
        self.refresh()
        try:
            # A relation (not execute()): Arrow and polars come out without a copy.
            return fetch(self.con.sql(query, params=params))
        except duckdb.Error as e:
            if not _is_vanished_file(e):
                raise self.error_of(e, query) from None
        # A compaction replaced a file between the snapshot and the read: list again.
        try:
            self._rebuild(force=True)
            return fetch(self.con.sql(query, params=params))
        except duckdb.Error as e:
            raise self.error_of(e, query) from None

    def _error(self, error: duckdb.Error) -> QueryError:
        return self.error_of(error)

    def error_of(self, error: duckdb.Error, query: str = "") -> QueryError:
        """DuckDB's error as the one-line QueryError this session raises (a damaged lake
        file named with what to do), for code that reads a relation itself."""
        damaged = self._damage_named_in(str(error))
        if damaged is not None:
            return QueryError(damaged)
        if is_read_failure(error):
            # Damage inside a page shows only when read, and DuckDB does not say where.
            read = views_read_by(query)
            where = f" of {', '.join(read)}" if read else ""
            return query_error(
                error,
                hint=f"; reading the lake's files{where} failed: one may be damaged "
                "(restore it or move it out of the lake)",
            )
        hint = ""
        if isinstance(error, duckdb.CatalogException) and "does not exist" in str(error):
            hint = f"; the lake's views: {', '.join(VIEWS)}; macros: bars(), book_top()"
        return query_error(error, hint=hint)

    def _damage_named_in(self, message: str) -> str | None:
        """The one-line damage message for a lake file DuckDB failed to read and named
        (a footer is checked only now, on the failure path); None for other errors."""
        for quoted in QUOTED_PARQUET.findall(message):
            path = Path(quoted)
            for view, files in self._built.items():
                if path in files:
                    reason = damage_of(path)
                    if reason is not None:
                        return damage_message(view, path, reason)
        return None

    # -- completion -----------------------------------------------------------------------

    def tables(self) -> list[str]:
        """Tables, views and table macros a query can name (for completion)."""
        rows = self.con.execute(
            "select table_name from information_schema.tables "
            "union select function_name from duckdb_functions() "
            "where function_type = 'table_macro' and not internal order by 1"
        ).fetchall()
        return [r[0] for r in rows if not r[0].startswith("_alphapulse")]

    def columns(self, name: str) -> list[str]:
        """The columns of a table, view or table macro (empty for an unknown name)."""
        if name in MACRO_COLUMNS:
            return list(MACRO_COLUMNS[name])
        rows = self.con.execute(
            "select column_name from information_schema.columns where table_name = ? "
            "order by ordinal_position",
            [name],
        ).fetchall()
        return [r[0] for r in rows]

    # -- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.con.close()
            self._books.close()
            if self.buffer is not None:
                self.buffer.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<alphapulse.Session {self.lake} ({state})>"


def _arrow_table(result: duckdb.DuckDBPyRelation | None) -> pa.Table:
    if result is None:  # a statement (create, set...) that returns no rows
        return pa.table({})
    out: pa.Table = result.to_arrow_table()
    return out


def _polars(result: duckdb.DuckDBPyRelation | None) -> pl.DataFrame:
    import polars as pl

    if result is None:
        return pl.DataFrame()
    out: pl.DataFrame = result.pl()
    return out


def connect(
    lake: str | os.PathLike[str] | None = None,
    *,
    database: str = ":memory:",
    buffer: str | Literal[False] | None = None,
) -> Session:
    """A DuckDB session over ``lake`` (default $ALPHAPULSE_LAKE, else data/lake).

    ``buffer``: the PostgreSQL buffer's DSN, whose rows past the lake's last commit are the
    views' tail where no collector runs on this machine; by default ``$ALPHAPULSE_PG_DSN``
    when set; False for the lake alone."""
    if buffer is None:
        buffer = os.environ.get("ALPHAPULSE_PG_DSN") or False
    return Session(open_lake(lake), database=database, buffer=buffer or None)
