"""``%%duckdb`` / ``%duckdb``: SQL on the lake session in IPython; see alphapulse.magics."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa
from duckdb import (
    BinderException,
    CatalogException,
    DuckDBPyRelation,
    ParserException,
)
from duckdb import Error as DuckDBError
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.display import display as _display
from traitlets import Bool, Enum, Float, Int, TraitError, Unicode, observe, validate

from alphapulse.lake.layout import LakeError
from alphapulse.magics.display import QueryResult, TextView
from alphapulse.magics.errors import (
    ErrorView,
    Located,
    MagicError,
    ShownError,
    locate_duckdb_error,
    misplaced_param,
    with_hint,
)
from alphapulse.magics.frames import (
    converted,
    frame_columns,
    frame_names,
    is_frame,
    parameter_values,
    register,
    unregister,
)
from alphapulse.magics.options import OUTPUTS, Options, parse, split, usage
from alphapulse.magics.progress import ProgressWatch
from alphapulse.magics.sqltext import (
    QUERY_KEYWORDS,
    Name,
    bind_params,
    scan,
    strip_statement,
)
from alphapulse.magics.sqltext import with_snippets as compose
from alphapulse.magics.target import DatabaseTarget, LakeTarget, Target, open_lake

#: Where a probe for an error's position prepares the statement (see _located).
_PROBE: Final = "PREPARE _alphapulse_probe AS\n"


def display(view: object) -> None:
    _display(view)  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class _Prepared:
    """A cell's query, ready to run."""

    #: The cell's SQL, as written (errors point into it).
    sql: str
    #: What DuckDB runs: the snippets' CTEs, then ``sql`` with ``{name}`` as ``$name``.
    executed: str
    #: Lines of ``executed`` before ``sql``'s first.
    line_offset: int
    params: dict[str, object] | None
    names: list[Name]
    snippets: frozenset[str]
    #: Not a query (CREATE, DROP, INSERT, SET ...): an empty result is nothing to show.
    statement: bool


@magics_class
class DuckDBMagic(Magics):
    """The magics and their settings: ``%config DuckDBMagic.max_rows = 20``."""

    output = Enum(list(OUTPUTS), default_value="polars", help="the result's type").tag(config=True)
    max_rows = Int(10, help="rows a result displays (head and tail)").tag(config=True)
    progress = Bool(True, help="show a progress bar for long queries").tag(config=True)
    progress_after = Float(1.0, help="seconds a query runs before its bar shows").tag(config=True)
    lake = Unicode("", help="the lake to query ('' = $ALPHAPULSE_LAKE or data/lake)").tag(
        config=True
    )

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        # Set before the traits: the shell's config (an earlier %config) sets them in
        # super().__init__, and the observers need these.
        #: Saved snippets, name (lower case) -> SQL, in the order saved.
        self.snippets: dict[str, str] = {}
        self.watch = ProgressWatch()
        self._target: Target | None = None
        self._lake_target: LakeTarget | None = None
        #: Frames registered for a relation result, dropped before the next query.
        self._lingering: list[str] = []
        super().__init__(shell=shell, **kwargs)

    @property
    def ns(self) -> dict[str, Any]:
        """The user's namespace."""
        assert self.shell is not None, "DuckDBMagic needs a shell"
        ns: dict[str, Any] = self.shell.user_ns
        return ns

    # -- the connection ----------------------------------------------------------------------

    @property
    def target(self) -> Target:
        if self._target is None:
            self._target = self._lake()
        return self._target

    def _lake(self) -> LakeTarget:
        if self._lake_target is None:
            self._lake_target = open_lake(self.lake or None)
        return self._lake_target

    @validate("max_rows")
    def _valid_max_rows(self, proposal: Any) -> int:
        rows: int = proposal["value"]
        if rows < 1:
            raise TraitError(
                f"DuckDBMagic.max_rows: the rows a result displays, 1 or more, not {rows} "
                "(-q shows nothing)"
            )
        return rows

    @validate("progress_after")
    def _valid_progress_after(self, proposal: Any) -> float:
        seconds: float = proposal["value"]
        if seconds < 0:
            raise TraitError(
                f"DuckDBMagic.progress_after: seconds before the bar shows, 0 or more, not "
                f"{seconds} (DuckDBMagic.progress = False turns the bar off)"
            )
        return seconds

    @observe("lake")
    def _lake_changed(self, change: Any) -> None:
        if self._lake_target is not None:
            if self._target is self._lake_target:
                self._target = None
            self._lake_target.close()
            self._lake_target = None

    def _switch(self, opts: Options) -> None:
        previous = self.lake
        if opts.lake is not None:
            self.lake = opts.lake
        try:
            if opts.connect is not None and opts.connect != "lake":
                target: Target = DatabaseTarget(opts.connect)
            else:
                target = self._lake()
        except LakeError:
            self.lake = previous  # a lake that is not there: keep using the one before
            raise
        if self._target is not None and self._target is not self._lake_target:
            self._target.close()  # a database we leave is closed; the lake stays open
        self._target = target
        print(f"%duckdb: using the {target.label}")

    def close(self) -> None:
        for target in {id(t): t for t in (self._target, self._lake_target) if t}.values():
            target.close()
        self._target = self._lake_target = None

    # -- the magic -------------------------------------------------------------------------

    # no_var_expand: IPython would splice $name and {name} into a line magic's text before
    # the magic sees it; the magic binds them as parameters instead.
    @no_var_expand
    @line_cell_magic
    def duckdb(self, line: str, cell: str | None = None) -> Any:
        """Run SQL on the lake session; ``%duckdb --help`` lists the options."""
        # A failure fails the cell (nbclient, papermill and `ipython f.ipy` stop there) as a
        # UsageError: IPython shows its message, the one block, without a traceback.
        try:
            return self._magic(line, cell)
        except ShownError as e:
            view = e.view
        except MagicError as e:
            view = ErrorView(Located("Error", str(e)), "")
        except LakeError as e:
            view = ErrorView(Located("Lake Error", str(e)), "")
        except DuckDBError as e:  # outside a query: registering a frame, a setting
            view = ErrorView(locate_duckdb_error(e, "", 0, ""), "")
        raise UsageError(view.text()) from None

    def _magic(self, line: str, cell: str | None) -> Any:
        words, rest = split(line)
        opts = parse(words)
        if opts.help:
            print(usage())
            return None
        if cell is not None and rest:
            raise MagicError(f"%%duckdb: the first line takes options only, not {rest!r}")
        sql = rest if cell is None else cell
        if opts.connect is not None or opts.lake is not None:
            self._switch(opts)
        if opts.delete is not None and self.snippets.pop(opts.delete.lower(), None) is None:
            raise MagicError(f"%duckdb --delete: no snippet {opts.delete!r} (see %duckdb --with)")
        if opts.list_snippets:
            listing = "\n\n".join(f"{n}:\n{s}" for n, s in self.snippets.items())
            return TextView(
                listing or "(none: save one with %%duckdb --save NAME)", title="snippets"
            )
        if not sql.strip():
            if opts.connect or opts.lake or opts.delete:
                return None
            raise MagicError("%duckdb: no SQL: %duckdb SELECT ... or %%duckdb with SQL below")
        return self._query(sql, opts)

    def _query(self, sql: str, opts: Options) -> Any:
        target = self.target
        con = target.con
        unregister(con, self._lingering)  # the frames of the last relation
        self._lingering = []
        query = self._prepare(sql, opts)
        output = opts.output or self.output
        target.refresh()
        frames = register(con, self.ns, query.names, query.snippets)
        keep = output == "relation" and not (opts.explain or opts.profile)
        table: pa.Table | None = None
        elapsed = 0.0
        try:
            if opts.explain:
                plan = self._run(target, query, explain=True)
                assert plan is not None
                return TextView("\n".join(map(str, plan.column(1).to_pylist())), title="plan")
            if keep:
                data: Any = self._relation(target, query)
            else:
                started = time.perf_counter()
                table = self._profiled(target, query) if opts.profile else self._run(target, query)
                elapsed = time.perf_counter() - started
                if table is not None and query.statement and table.num_rows == 0:
                    table = None  # DuckDB's empty "Success" of a DROP, a SET ...
                # None: a statement without a result.
                data = None if table is None else converted(table, output)
        finally:
            if keep:
                self._lingering = frames
            else:
                unregister(con, frames)
        if opts.save is not None:
            self.snippets[opts.save.lower()] = strip_statement(sql)
        if opts.out is not None:
            self.ns[opts.out] = data
        if opts.quiet or table is None:
            return None if opts.quiet else data
        max_rows = self.max_rows if opts.max_rows is None else opts.max_rows
        return QueryResult(data, table, elapsed=elapsed, max_rows=max_rows, sql=sql)

    def _prepare(self, sql: str, opts: Options) -> _Prepared:
        """The SQL to run for the cell's ``sql``: snippets' CTEs in front, ``{name}`` as
        ``$name``, and the values of the parameters."""
        found = scan(sql)
        snippets = dict(self.snippets)
        if opts.save is not None:
            name = opts.save.lower()
            if found.keyword not in QUERY_KEYWORDS:
                raise MagicError(f"--save {opts.save}: a snippet is a query (SELECT, FROM, WITH)")
            self._check_snippet_name(opts.save)
            if any(n.text.lower() == name and not n.qualified for n in found.names):
                raise MagicError(f"--save {opts.save}: a snippet cannot reference itself")
            snippets.pop(name, None)
        try:
            composed = compose(sql, found, snippets)
        except ValueError as e:
            raise MagicError(str(e)) from None
        full = scan(composed.sql) if composed.snippets else found
        params = parameter_values(full, sql, composed, self.ns)
        return _Prepared(
            sql=sql,
            executed=bind_params(composed.sql, full.params),
            line_offset=composed.line_offset,
            params=params or None,
            names=full.names,
            snippets=frozenset(snippets),
            statement=found.keyword not in QUERY_KEYWORDS,
        )

    def _check_snippet_name(self, name: str) -> None:
        """Refuse a snippet name that SQL reserves or that names a table or view: its CTE
        would hide the table from every later query (as a frame never hides one)."""
        try:
            self.target.con.execute(f"with {name} as (select 1) select 1 from {name}")
        except DuckDBError:
            raise MagicError(
                f"--save {name}: {name!r} is a reserved word of SQL, not allowed as a "
                "snippet name: pick another"
            ) from None
        if name.lower() in {t.lower() for t in self.target.tables()}:
            raise MagicError(
                f"--save {name}: {name!r} is a table or view of the {self.target.label} and "
                "a snippet of that name would hide it: pick another name"
            )

    # -- running ---------------------------------------------------------------------------

    def _run(self, target: Target, query: _Prepared, *, explain: bool = False) -> pa.Table | None:
        """Run the query (or its EXPLAIN) and fetch it as Arrow (None for a statement),
        once more if the target recovers from the error; DuckDB's errors become an
        ErrorView."""
        con = target.con
        executed = "EXPLAIN\n" + query.executed if explain else query.executed
        for attempt in (1, 2):
            if self.progress:
                self.watch.begin(con, self.progress_after, tracked=target.tracks_progress)
            try:
                # A relation, not execute(): Arrow comes out of it without a copy.
                relation = con.sql(executed, params=query.params)
                return None if relation is None else relation.to_arrow_table()
            except DuckDBError as e:
                if attempt == 1 and target.recover(e):
                    continue
                raise self._located(e, target, query, int(explain)) from None
            finally:
                if self.progress:
                    self.watch.end()
        raise AssertionError("unreachable")

    def _profiled(self, target: Target, query: _Prepared) -> pa.Table | None:
        """``_run`` with DuckDB's profiler on; its profile is displayed above the result."""
        con = target.con
        # no_output: enable_profiling() would also print the tree on stdout.
        con.execute("set enable_profiling = 'no_output'")
        try:
            table = self._run(target, query)
            # "text": the stubs' "query_tree" is refused by DuckDB 2.0.1.
            text_format: Any = "text"
            display(TextView(con.get_profiling_information(format=text_format), title="profile"))
            return table
        finally:
            con.execute("pragma disable_profiling")

    def _relation(self, target: Target, query: _Prepared) -> DuckDBPyRelation:
        try:
            relation = target.con.sql(query.executed, params=query.params)
        except DuckDBError as e:
            raise self._located(e, target, query, 0) from None
        if relation is None:
            raise MagicError("--output relation: this statement has no result to make one of")
        return relation

    def _located(
        self, error: DuckDBError, target: Target, query: _Prepared, extra_lines: int
    ) -> ShownError:
        con = target.con
        offset = query.line_offset + extra_lines
        executed = "EXPLAIN\n" + query.executed if extra_lines else query.executed
        located = locate_duckdb_error(error, executed, offset, query.sql)
        if located.start is None and isinstance(error, BinderException | CatalogException):
            # A relation's binding errors come without the position; preparing the
            # statement binds it again (nothing runs) and says where.
            try:
                con.execute(_PROBE + query.executed, query.params)
                con.execute("DEALLOCATE _alphapulse_probe")
            except DuckDBError as again:
                probe = _PROBE + query.executed
                probed = locate_duckdb_error(again, probe, query.line_offset + 1, query.sql)
                if probed.start is not None and type(again) is type(error):
                    located = Located(located.kind, located.message, probed.start, probed.width)
        if isinstance(error, ParserException):
            located = misplaced_param(located, query.sql)
        if isinstance(error, CatalogException) and "does not exist" in located.message:
            located = with_hint(located, target.missing_hint())
        return ShownError(ErrorView(located, query.sql))

    # -- completion support -------------------------------------------------------------------

    def target_tables(self) -> list[str]:
        return self.target.tables()

    def frames(self) -> list[str]:
        return frame_names(self.ns)

    def columns_of(self, name: str) -> list[str]:
        """The columns of a snippet, a frame of the namespace, or a table or view."""
        key = name.lower()
        if key in self.snippets:
            query = f"select * from {key}"
            composed = compose(query, scan(query), self.snippets)
            relation = self.target.con.sql(composed.sql)
            return list(relation.columns) if relation is not None else []
        value = self.ns.get(name)
        if is_frame(value):
            return frame_columns(value)
        return self.target.columns(name)
