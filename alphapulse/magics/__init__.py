"""``%load_ext alphapulse``: the ``%%duckdb`` cell and ``%duckdb`` line magics.

SQL runs on the lake session (``alphapulse.connect()``) or, after ``%duckdb --connect
PATH|:memory:``, on another DuckDB database. ``%duckdb --help`` lists the options; the
settings are ``%config DuckDBMagic.<name> = ...`` (output, max_rows, progress,
progress_after, lake).

- ``magic``: the options' effects and the run of a query;
- ``options``: splitting options from the SQL;
- ``sqltext``: names, ``$name``/``{name}`` parameters, snippets as CTEs;
- ``frames``: the namespace's DataFrames as tables, results as DataFrames;
- ``display``, ``errors``: the result table, the one-block errors;
- ``progress``: the bar for long queries; ``completion``: tab completion;
- ``target``: the lake session or another database.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from traitlets import TraitError

from alphapulse.magics.display import QueryResult
from alphapulse.magics.magic import DuckDBMagic

__all__ = ["DuckDBMagic", "QueryResult", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ip: Any) -> None:
    """Register the magics, their settings and their completer with the shell ``ip``."""
    from alphapulse.magics.completion import make_matcher

    unload_ipython_extension(ip)  # %reload_ext: one set of magics, one completer
    try:
        magic = DuckDBMagic(shell=ip)
    except TraitError as e:
        # A bad %config (logged and ignored while the magics were loaded) stays in the
        # shell's config, where the new instance reads it.
        raise UsageError(f"{e}; set it right with %config, then %reload_ext alphapulse") from None
    ip.register_magics(magic)
    ip.configurables.append(magic)
    matcher = make_matcher(magic)
    ip.Completer.custom_matchers.append(matcher)
    ip._alphapulse_magic = (magic, matcher)


def unload_ipython_extension(ip: Any) -> None:
    loaded = getattr(ip, "_alphapulse_magic", None)
    if loaded is None:
        return
    magic, matcher = loaded
    magic.close()
    # IPython has no unregister: drop the names that still point at this instance.
    for kind in ("line", "cell"):
        table = ip.magics_manager.magics[kind]
        for name, bound in list(table.items()):
            if getattr(bound, "__self__", None) is magic:
                del table[name]
    if magic in ip.configurables:
        ip.configurables.remove(magic)
    if matcher in ip.Completer.custom_matchers:
        ip.Completer.custom_matchers.remove(matcher)
    ip._alphapulse_magic = None
