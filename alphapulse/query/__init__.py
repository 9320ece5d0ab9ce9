"""The query layer: a DuckDB session over the lake and its live tail, ``scan`` for polars,
and ``MarketData``, the data-access protocol.

    import alphapulse
    with alphapulse.connect("data/lake") as s:
        s.query("select * from bars('1m', venue := 'kraken')")
"""

from alphapulse.query.errors import QueryError
from alphapulse.query.session import Session, connect

__all__ = ["QueryError", "Session", "connect"]
