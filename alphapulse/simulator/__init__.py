"""The local exchange: a market model spoken in each venue's real wire protocol.

``SimulatedExchange`` serves Kraken (WS v2), Coinbase Advanced Trade, Binance spot (streams
and REST) or Alpaca market data (stocks, crypto, news) on loopback, with ground truth to
check a client against and a ``FaultPlan`` to break its connections on purpose. The demo
capture (``demo.py``, ``wire.py``) writes the same market into a capture file instead.

Names are imported on first use, so that writing a demo capture does not need websockets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alphapulse.simulator.exchange import VENUES, ExchangeStats, SimulatedExchange
    from alphapulse.simulator.faults import FaultPlan
    from alphapulse.simulator.state import BookChange, Truth, TruthTrade

_MODULES = {
    "VENUES": "exchange",
    "ExchangeStats": "exchange",
    "SimulatedExchange": "exchange",
    "FaultPlan": "faults",
    "BookChange": "state",
    "Truth": "state",
    "TruthTrade": "state",
}

__all__ = [
    "VENUES",
    "BookChange",
    "ExchangeStats",
    "FaultPlan",
    "SimulatedExchange",
    "Truth",
    "TruthTrade",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
