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
from collections.abc import Callable, Iterable
from typing import Any

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
        if size < 0:
            raise ValueError(f"size must not be negative, got {size}")
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

    def apply_arrow(self, batch: Any) -> int:
        """Apply every row of an Arrow record batch / struct array, or none of them.

        The same columns, checks and error messages as the Rust book's ``apply_arrow``
        (see ``alphapulse/_core.pyi``): every row is checked before the book changes.
        """
        rows = _arrow_rows(batch)
        for row in rows:
            if row is None:
                self.clear()
            else:
                self.apply(*row)
        return len(rows)

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


def _arrow_rows(batch: Any) -> list[tuple[int, int, int] | None]:
    """The rows of an Arrow batch as ``(side, price, size)``, None for a clear; ValueError
    naming the column and row of the first bad one."""
    import pyarrow as pa

    if not hasattr(batch, "__arrow_c_array__"):
        raise TypeError("expected an Arrow record batch or struct array (__arrow_c_array__)")
    table = pa.record_batch(batch)
    names = table.schema.names

    def find(*candidates: str) -> str | None:
        return next((n for n in candidates if n in names), None)

    def int64(*candidates: str) -> tuple[str, list[int | None]]:
        name = find(*candidates)
        if name is None or not pa.types.is_int64(table.schema.field(name).type):
            raise ValueError(f"needs an int64 column {candidates[0]}")
        return name, table.column(name).to_pylist()

    def is_strings(t: pa.DataType) -> bool:
        return bool(
            pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
        )

    price_name, prices = int64("price_raw", "price")
    size_name, sizes = int64("size_raw", "size")
    if "side" not in names:
        raise ValueError("needs a side column")
    side_type = table.schema.field("side").type
    side_of: Callable[[Any], int | None]
    if pa.types.is_uint8(side_type) or pa.types.is_int8(side_type):
        side_of = lambda v: v if v in (BID, ASK) else None  # noqa: E731
        wanted = "0 (bid) or 1 (ask)"
    elif pa.types.is_boolean(side_type):
        side_of = lambda v: ASK if v else BID  # noqa: E731
        wanted = ""
    elif is_strings(side_type):
        side_of = {"bid": BID, "ask": ASK}.get
        wanted = "'bid' or 'ask'"
    else:
        raise ValueError("side column must be uint8, int8, bool or string")
    sides = table.column("side").to_pylist()
    actions: list[str | None] | None = None
    if "action" in names:
        if not is_strings(table.schema.field("action").type):
            raise ValueError("action column must be strings")
        actions = table.column("action").to_pylist()

    rows: list[tuple[int, int, int] | None] = []
    for i in range(table.num_rows):

        def bad(column: str, problem: str, i: int = i) -> ValueError:
            return ValueError(f"column '{column}' row {i}: {problem}")

        if actions is not None:
            action = actions[i]
            if action is None:
                raise bad("action", "null")
            if action == "clear":
                rows.append(None)
                continue
            if action != "set":
                raise bad("action", f"'{action}' is not 'clear' or 'set'")
        raw_side = sides[i]
        if raw_side is None:
            raise bad("side", "null")
        side = side_of(raw_side)
        if side is None:
            shown = f"'{raw_side}'" if isinstance(raw_side, str) else str(raw_side)
            raise bad("side", f"{shown} is not {wanted}")
        price, size = prices[i], sizes[i]
        if price is None:
            raise bad(price_name, "null")
        if size is None:
            raise bad(size_name, "null")
        if size < 0:
            raise bad(size_name, f"negative size {size}")
        rows.append((side, price, size))
    return rows


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
