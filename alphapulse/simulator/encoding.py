"""Decimal and time text as the venues write it, from fixed-point integers and Unix ns.

The venues disagree on both: Kraken v1 and Binance write fixed-width decimal strings,
Coinbase trims trailing zeros, Kraken v2 and Alpaca write JSON numbers; timestamps are RFC 3339
at nanosecond (Coinbase envelopes), microsecond (Kraken) or millisecond integers (Binance).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: Entries a text cache holds before it starts over (prices wander; memory must not). The
#: prices in use are the book's few dozen levels around a mid that drifts, so a few thousand
#: keep nearly every lookup a hit. It was 65,536: about 8 MiB a cache, and with a price cache
#: per symbol the embedded simulator of a collector at 12k frames/s grew its caches by some
#: 30k entries a minute for half an hour (the RSS a soak saw grow after warm-up).
CACHE_LIMIT = 4_096


def fixed(mantissa: int, decimals: int) -> str:
    """A mantissa with exactly ``decimals`` places (Kraken v1, Binance).

    >>> fixed(5005, 5), fixed(-12, 3), fixed(7, 0)
    ('0.05005', '-0.012', '7')
    """
    digits = str(abs(mantissa)).rjust(decimals + 1, "0")
    sign = "-" if mantissa < 0 else ""
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}" if decimals else sign + digits


def trimmed(mantissa: int, decimals: int) -> str:
    """Without trailing zeros (Coinbase).

    >>> trimmed(650001000, 4), trimmed(650000000, 4)
    ('65000.1', '65000')
    """
    text = fixed(mantissa, decimals)
    return text.rstrip("0").rstrip(".") if "." in text else text


def number(mantissa: int, decimals: int) -> str:
    """A JSON number as Kraken v2 and Alpaca write one: trimmed, but a float keeps its ``.0``.

    >>> number(650000, 1), number(12300, 8), number(5, 0), number(-15, 1)
    ('65000.0', '0.000123', '5', '-1.5')
    """
    if not decimals:
        return str(mantissa)
    if mantissa < 0:
        return "-" + number(-mantissa, decimals)
    whole, frac = divmod(mantissa, 10**decimals)
    if not frac:
        return f"{whole}.0"
    return f"{whole}.{str(frac).rjust(decimals, '0').rstrip('0')}"


class TextCache(dict[int, str]):
    """Mantissa → decimal text, formatted once: prices and sizes repeat step after step.

    >>> prices = TextCache(lambda m: fixed(m, 2))
    >>> prices[650012], len(prices)
    ('6500.12', 1)
    """

    def __init__(self, format: Callable[[int], str]) -> None:
        super().__init__()
        self.format = format

    def __missing__(self, mantissa: int) -> str:
        if len(self) >= CACHE_LIMIT:
            self.clear()
        text = self[mantissa] = self.format(mantissa)
        return text


class TimeText:
    """RFC 3339 timestamps, formatting the date and time once per second (and a whole
    timestamp once: the frames of one batch share it)."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""
        self._micros = (-1, "")
        self._nanos = (-1, "")

    def prefix(self, ts_ns: int) -> str:
        second = ts_ns // 1_000_000_000
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return self._prefix

    def nanos(self, ts_ns: int) -> str:
        """``2026-01-02T00:00:00.123456789Z`` (Coinbase envelopes, Alpaca)."""
        if self._nanos[0] != ts_ns:
            self._nanos = (ts_ns, f"{self.prefix(ts_ns)}.{ts_ns % 1_000_000_000:09d}Z")
        return self._nanos[1]

    def micros(self, ts_ns: int) -> str:
        """``2026-01-02T00:00:00.123456Z`` (Kraken, Coinbase events)."""
        if self._micros[0] != ts_ns:
            self._micros = (ts_ns, f"{self.prefix(ts_ns)}.{ts_ns // 1000 % 1_000_000:06d}Z")
        return self._micros[1]

    def seconds(self, ts_ns: int) -> str:
        """``2026-01-02T00:00:00Z`` (bar starts, news)."""
        return f"{self.prefix(ts_ns)}Z"


_TIME = TimeText()


def rfc3339(ts_ns: int) -> str:
    """Nanosecond RFC 3339.

    >>> rfc3339(1_767_312_000_000_000_001)
    '2026-01-02T00:00:00.000000001Z'
    """
    return _TIME.nanos(ts_ns)
