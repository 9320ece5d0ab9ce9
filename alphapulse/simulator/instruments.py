"""What the simulated venues list: a market model spec for any base/quote pair or stock.

Known assets trade near their real prices with their real tick sizes (Kraken's
``price_precision`` for BTC/USD is 1); anything else gets a generic spec, so every symbol a
client asks for can be simulated.
"""

from __future__ import annotations

from alphapulse.simulator.market import InstrumentSpec

# base asset: (mid, tick, price decimals, lot)
_CRYPTO: dict[str, tuple[float, float, int, float]] = {
    "BTC": (65000.0, 0.1, 1, 0.0001),
    "ETH": (1900.0, 0.01, 2, 0.001),
    "SOL": (150.0, 0.01, 2, 0.01),
    "XRP": (0.52, 0.00001, 5, 1.0),
    "DOGE": (0.12, 0.000001, 6, 10.0),
    "ADA": (0.45, 0.000001, 6, 1.0),
    "LTC": (70.0, 0.01, 2, 0.001),
}
_GENERIC_CRYPTO = (100.0, 0.01, 2, 0.01)

# ticker: mid
_STOCKS: dict[str, float] = {
    "AAPL": 190.0,
    "MSFT": 420.0,
    "NVDA": 120.0,
    "SPY": 520.0,
    "TSLA": 250.0,
    "AMD": 160.0,
}

#: Quote assets tried, longest first, to split a concatenated symbol such as ``BTCUSDT``.
QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "EUR", "USD", "GBP", "BTC", "ETH", "BNB", "JPY")

#: Base assets that Kraken spells differently in its v1 pair names.
KRAKEN_V1_ASSETS = {"BTC": "XBT"}


def crypto_spec(base: str, quote: str) -> InstrumentSpec:
    mid, tick, price_decimals, lot = _CRYPTO.get(base.upper(), _GENERIC_CRYPTO)
    return InstrumentSpec(
        base.upper(),
        quote.upper(),
        price_decimals=price_decimals,
        size_decimals=8,
        mid=mid,
        tick=tick,
        lot=lot,
    )


def stock_spec(ticker: str) -> InstrumentSpec:
    """Whole shares, cent ticks."""
    mid = _STOCKS.get(ticker.upper(), 100.0)
    return InstrumentSpec(
        ticker.upper(), "USD", price_decimals=2, size_decimals=0, mid=mid, tick=0.01, lot=1.0
    )


def split_pair(symbol: str, separator: str) -> tuple[str, str]:
    """``BTC/USD`` with ``/`` → ``("BTC", "USD")``; ValueError if the separator is absent."""
    base, sep, quote = symbol.partition(separator)
    if not sep or not base or not quote:
        raise ValueError(f"{symbol!r} is not a BASE{separator}QUOTE pair")
    return base.upper(), quote.upper()


def split_concatenated(symbol: str) -> tuple[str, str]:
    """``BTCUSDT`` → ``("BTC", "USDT")`` by the known quote assets."""
    upper = symbol.upper()
    for quote in QUOTES:
        if upper.endswith(quote) and len(upper) > len(quote):
            return upper[: -len(quote)], quote
    raise ValueError(f"{symbol!r}: no known quote asset ({', '.join(QUOTES)})")
