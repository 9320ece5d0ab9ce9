"""L2 order books: the Rust core's, or a pure-Python reference behind the same interface.

``OrderBook`` is the Rust book unless ``ALPHAPULSE_CORE=python`` is set, in which case it is
:class:`PyOrderBook`. The reference exists to be obviously right, not fast: the property
tests run random delta streams through both and require identical books.

Prices and sizes are fixed-point integers at the instrument's precision
(``_core.parse_fixed("0.05005", 5) == 5005``).

>>> book = PyOrderBook()
>>> book.apply(BID, 5000, 500)
True
>>> book.apply(ASK, 5005, 500)
True
>>> book.bbo()
((5000, 500), (5005, 500))
"""

from __future__ import annotations

import binascii
import bisect
import os
from collections.abc import Iterable

from alphapulse import _core

BID = 0
ASK = 1

Level = tuple[int, int]


class PyOrderBook:
    """Reference L2 book: a dict of levels per side plus a sorted list of prices."""

    def __init__(self, depth: int | None = None) -> None:
        self._depth = depth
        self._size: tuple[dict[int, int], dict[int, int]] = ({}, {})
        # Ascending prices per side; the best bid is last, the best ask first.
        self._prices: tuple[list[int], list[int]] = ([], [])

    @property
    def depth(self) -> int | None:
        return self._depth

    def apply(self, side: int, price: int, size: int) -> bool:
        if side not in (BID, ASK):
            raise ValueError(f"side must be BID (0) or ASK (1), got {side}")
        sizes, prices = self._size[side], self._prices[side]
        if size == 0:
            if price not in sizes:
                return False
            del sizes[price]
            prices.pop(bisect.bisect_left(prices, price))
            return True
        if price not in sizes:
            bisect.insort(prices, price)
        sizes[price] = size
        if self._depth is not None and len(prices) > self._depth:
            # Drop the worst levels: the lowest bids, the highest asks.
            excess = len(prices) - self._depth
            if side == BID:
                dropped, prices[:excess] = prices[:excess], []
            else:
                dropped, prices[-excess:] = prices[-excess:], []
            for p in dropped:
                del sizes[p]
        return True

    def apply_bbo(self, side: int, price: int, size: int) -> tuple[Level | None, Level | None]:
        self.apply(side, price, size)
        return self.bbo()

    def clear(self) -> None:
        for d in self._size:
            d.clear()
        for p in self._prices:
            p.clear()

    def best_bid(self) -> Level | None:
        prices = self._prices[BID]
        return (prices[-1], self._size[BID][prices[-1]]) if prices else None

    def best_ask(self) -> Level | None:
        prices = self._prices[ASK]
        return (prices[0], self._size[ASK][prices[0]]) if prices else None

    def bbo(self) -> tuple[Level | None, Level | None]:
        return self.best_bid(), self.best_ask()

    def bids(self) -> list[Level]:
        return [(p, self._size[BID][p]) for p in reversed(self._prices[BID])]

    def asks(self) -> list[Level]:
        return [(p, self._size[ASK][p]) for p in self._prices[ASK]]

    def top(self, n: int = 10) -> tuple[list[Level], list[Level]]:
        bids = [(p, self._size[BID][p]) for p in reversed(self._prices[BID][-n:])] if n else []
        asks = [(p, self._size[ASK][p]) for p in self._prices[ASK][:n]]
        return bids, asks

    def is_crossed(self) -> bool:
        bid, ask = self.best_bid(), self.best_ask()
        return bid is not None and ask is not None and bid[0] >= ask[0]

    def kraken_checksum(self) -> int:
        """Kraken's CRC32: top 10 asks then top 10 bids, digits of price then size."""
        bids, asks = self.top(10)
        text = "".join(f"{p}{s}" for p, s in [*asks, *bids])
        return binascii.crc32(text.encode())

    def __len__(self) -> int:
        return len(self._prices[BID]) + len(self._prices[ASK])

    def __repr__(self) -> str:
        return (
            f"PyOrderBook(bids={len(self._prices[BID])}, asks={len(self._prices[ASK])}, "
            f"best_bid={self.best_bid()}, best_ask={self.best_ask()})"
        )


def kraken_checksum(asks: Iterable[tuple[str, str]], bids: Iterable[tuple[str, str]]) -> int:
    """Kraken's checksum from the venue's decimal strings, exactly as its docs describe.

    >>> kraken_checksum([("0.05005", "0.00000500")], [("0.05000", "0.00000500")])
    3851508195
    """

    def digits(s: str) -> str:
        return s.replace(".", "").lstrip("0")

    levels = [*list(asks)[:10], *list(bids)[:10]]
    return binascii.crc32("".join(digits(p) + digits(q) for p, q in levels).encode())


def core_implementation() -> str:
    """``"rust"`` or ``"python"``, from ``ALPHAPULSE_CORE`` (default rust)."""
    choice = os.environ.get("ALPHAPULSE_CORE", "rust").strip().lower()
    if choice not in ("rust", "python"):
        raise ValueError(f"ALPHAPULSE_CORE must be 'rust' or 'python', not {choice!r}")
    return choice


OrderBook: type[_core.OrderBook] | type[PyOrderBook] = (
    PyOrderBook if core_implementation() == "python" else _core.OrderBook
)

__all__ = ["ASK", "BID", "OrderBook", "PyOrderBook", "core_implementation", "kraken_checksum"]
