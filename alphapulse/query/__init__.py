"""The query layer: a DuckDB session over the lake and its live tail, ``scan`` for polars,
and ``MarketData``, the data-access protocol::

    import alphapulse
    with alphapulse.connect("data/lake") as s:
        s.query("select * from bars('1m', venue := 'kraken')")

Importing this package is cheap (DuckDB and polars load with the names that need them):
``alphapulse``'s command line imports ``alphapulse.query.cli`` for every command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alphapulse.query.errors import QueryError

if TYPE_CHECKING:
    from alphapulse.query.market_data import (
        LakeMarketData as LakeMarketData,
    )
    from alphapulse.query.market_data import (
        MarketData as MarketData,
    )
    from alphapulse.query.market_data import (
        MemoryMarketData as MemoryMarketData,
    )
    from alphapulse.query.scan import scan as scan
    from alphapulse.query.session import Session as Session
    from alphapulse.query.session import connect as connect

__all__ = [
    "LakeMarketData",
    "MarketData",
    "MemoryMarketData",
    "QueryError",
    "Session",
    "connect",
    "scan",
]

_LAZY = {
    "Session": "alphapulse.query.session",
    "connect": "alphapulse.query.session",
    "scan": "alphapulse.query.scan",
    "MarketData": "alphapulse.query.market_data",
    "LakeMarketData": "alphapulse.query.market_data",
    "MemoryMarketData": "alphapulse.query.market_data",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'alphapulse.query' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
