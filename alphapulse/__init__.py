"""AlphaPulse: a Jupyter-native research workbench for crypto and equity market data.

The hot path (venue normalizers, L2 books, Arrow export) is the Rust extension
``alphapulse._core``; see ``alphapulse.replay`` and ``alphapulse.capture`` to run it over
recorded frames. ``alphapulse.connect()`` opens a DuckDB session over the lake,
``alphapulse.scan()`` a polars LazyFrame; ``%load_ext alphapulse`` adds the ``%%duckdb``
magics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alphapulse.query.scan import scan as scan
    from alphapulse.query.session import connect as connect

__all__ = ["__version__", "connect", "load_ipython_extension", "scan"]


def __getattr__(name: str) -> Any:
    # The Rust core, DuckDB and polars load on first use, not with the package:
    # ``python -m alphapulse`` imports this before the command's Ctrl-C handling is in place
    # (see alphapulse.cli).
    if name == "__version__":
        from alphapulse._core import __version__

        return __version__
    if name == "connect":
        from alphapulse.query.session import connect

        return connect
    if name == "scan":
        from alphapulse.query.scan import scan

        return scan
    raise AttributeError(f"module 'alphapulse' has no attribute {name!r}")


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext alphapulse``: the ``%%duckdb`` magics (alphapulse.magics)."""
    import importlib

    # Imported by name: the magics live in their own module, loaded only by IPython.
    importlib.import_module("alphapulse.magics").load_ipython_extension(ip)
