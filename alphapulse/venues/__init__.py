"""One module per venue: URLs, subscribe/auth messages, symbol mapping, resync."""

from __future__ import annotations

from alphapulse.venues.alpaca import Alpaca
from alphapulse.venues.base import Connection, Credentials, Resync, Venue
from alphapulse.venues.binance import Binance, BinanceUS
from alphapulse.venues.coinbase import Coinbase
from alphapulse.venues.kraken import Kraken

VENUES: dict[str, type[Venue]] = {v.name: v for v in (Kraken, Coinbase, Binance, BinanceUS, Alpaca)}


def venue_symbol(venue: str, base: str, quote: str) -> str:
    """How ``venue`` spells the pair ``base``/``quote`` (``quote`` may be empty for stocks)."""
    if not quote:
        return base
    if venue == "kraken" or venue == "alpaca":
        return f"{base}/{quote}"
    if venue == "coinbase":
        return f"{base}-{quote}"
    if venue in ("binance", "binance_us"):
        return base + ("USDT" if quote == "USD" and venue == "binance" else quote)
    raise KeyError(venue)


__all__ = [
    "VENUES",
    "Alpaca",
    "Binance",
    "BinanceUS",
    "Coinbase",
    "Connection",
    "Credentials",
    "Kraken",
    "Resync",
    "Venue",
    "venue_symbol",
]
