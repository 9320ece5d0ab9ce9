"""Charts for notebooks (anywidget): ``CandlestickChart`` and ``DepthChart``.

    from alphapulse.widgets import CandlestickChart
    CandlestickChart(session.query("select * from bars('1m', venue := 'kraken', "
                                   "symbol := 'BTC/USD')"))
    CandlestickChart(title="BTC/USD").live("kraken:BTC/USD", interval="1s")

Their front end is one ES module, ``static/charts.js``, built from ``extension/charts``
(TypeScript on TradingView's lightweight-charts) by ``make widgets``: nothing is fetched
when a notebook runs. See ``static/NOTICE`` for lightweight-charts' licence and attribution.
"""

from __future__ import annotations

from alphapulse.widgets.candlestick import CandlestickChart
from alphapulse.widgets.depth import DepthChart

__all__ = ["CandlestickChart", "DepthChart"]
