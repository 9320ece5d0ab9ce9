"""A small market model: limit adds, cancels and market orders that walk the book.

Prices and sizes are fixed-point integers (``price_decimals`` / ``size_decimals``), as
everywhere in AlphaPulse. The model is deterministic for a given ``random.Random``.

Each side keeps its prices in a sorted list beside the size map, so the best level, the top
``n`` and a level's rank cost a slice or a bisection, not a sort: the exchange simulator
steps this model a few hundred thousand times a second.
"""

from __future__ import annotations

import random
from bisect import bisect_left, insort
from dataclasses import dataclass, field

BID = 0
ASK = 1


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One simulated instrument; ``base``/``quote`` name it, venues spell the symbol."""

    base: str
    quote: str
    price_decimals: int
    size_decimals: int
    mid: float
    tick: float
    lot: float

    def price(self, value: float) -> int:
        return round(value * 10.0**self.price_decimals)

    def size(self, value: float) -> int:
        return round(value * 10.0**self.size_decimals)


@dataclass(frozen=True, slots=True)
class Trade:
    aggressor: int  # BID: a buyer lifted the ask; ASK: a seller hit the bid
    price: int
    size: int


@dataclass(slots=True)
class Step:
    """What one step changed: ``(side, price, new size)`` per touched level, and trades."""

    changes: list[tuple[int, int, int]] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)


class MarketModel:
    """Order flow for one instrument around a drifting mid."""

    def __init__(self, spec: InstrumentSpec, rng: random.Random, levels: int = 40) -> None:
        self.spec = spec
        self.rng = rng
        self.tick = spec.price(spec.tick)
        self.lot = spec.size(spec.lot)
        self.book: tuple[dict[int, int], dict[int, int]] = ({}, {})
        # Ascending on both sides: the best bid is last, the best ask first.
        self.prices: tuple[list[int], list[int]] = ([], [])
        mid = spec.price(spec.mid) // self.tick * self.tick
        for i in range(levels):
            self.book[BID][mid - (i + 1) * self.tick] = self._order_size()
            self.book[ASK][mid + (i + 1) * self.tick] = self._order_size()
        for side in (BID, ASK):
            self.prices[side].extend(sorted(self.book[side]))

    def _order_size(self) -> int:
        return self.lot * max(1, int(self.rng.expovariate(1 / 40)))

    def best(self, side: int) -> int:
        prices = self.prices[side]
        return prices[-1] if side == BID else prices[0]

    def levels(self, side: int) -> list[tuple[int, int]]:
        """Levels of ``side``, best first."""
        return self.top(side, len(self.prices[side]))

    def top(self, side: int, n: int) -> list[tuple[int, int]]:
        """The best ``n`` levels of ``side``, best first."""
        sizes = self.book[side]
        if side == BID:
            prices = self.prices[BID]
            return [(p, sizes[p]) for p in reversed(prices[-n:] if n else ())]
        return [(p, sizes[p]) for p in self.prices[ASK][:n]]

    def rank(self, side: int, price: int) -> int:
        """How many levels of ``side`` are better than ``price``."""
        prices = self.prices[side]
        if side == BID:
            return len(prices) - bisect_left(prices, price + 1)
        return bisect_left(prices, price)

    def _set(self, step: Step, side: int, price: int, size: int) -> None:
        sizes = self.book[side]
        if size > 0:
            if price not in sizes:
                insort(self.prices[side], price)
            sizes[price] = size
        elif sizes.pop(price, None) is not None:
            prices = self.prices[side]
            del prices[bisect_left(prices, price)]
        step.changes.append((side, price, size))

    def step(self) -> Step:
        step = Step()
        r = self.rng.random()
        if r < 0.55:
            self._add(step)
        elif r < 0.85:
            self._cancel(step)
        else:
            self._market_order(step)
        book = self.book
        if len(book[BID]) < 12 or len(book[ASK]) < 12:
            for side in (BID, ASK):
                while len(book[side]) < 12:
                    self._add(step, side, far=True)
        return step

    def _coin(self) -> int:
        """BID or ASK, drawing exactly what ``rng.choice((BID, ASK))`` draws."""
        bits = self.rng.getrandbits
        r = bits(2)
        while r >= 2:
            r = bits(2)
        return r

    def _add(self, step: Step, side: int | None = None, far: bool = False) -> None:
        side = self._coin() if side is None else side
        bids, asks = self.prices
        tick = self.tick
        if far:
            price = bids[0] - tick if side == BID else asks[-1] + tick
        else:
            best_bid, best_ask = bids[-1], asks[0]
            spread_ticks = (best_ask - best_bid) // tick
            if spread_ticks > 1 and self.rng.random() < 0.3:
                # Improve the touch: this is how the mid drifts.
                inside = self.rng.randint(1, spread_ticks - 1)
                price = best_bid + inside * tick if side == BID else best_ask - inside * tick
            else:
                distance = int(self.rng.expovariate(1 / 4))
                price = best_bid - distance * tick if side == BID else best_ask + distance * tick
        self._set(step, side, price, self.book[side].get(price, 0) + self._order_size())

    def _cancel(self, step: Step) -> None:
        side = self._coin()
        prices = self.prices[side]
        index = min(int(self.rng.expovariate(1 / 5)), len(prices) - 1)
        price = prices[-1 - index] if side == BID else prices[index]
        size = self.book[side][price]
        remaining = 0 if self.rng.random() < 0.5 else size // 2 // self.lot * self.lot
        self._set(step, side, price, remaining)

    def _market_order(self, step: Step) -> None:
        aggressor = self._coin()
        resting = ASK if aggressor == BID else BID
        qty = self._order_size() * self.rng.randint(1, 3)
        sizes = self.book[resting]
        prices = self.prices[resting]
        # Best first, from a copy: filled levels leave the list as we walk it.
        walk = prices[::-1] if resting == BID else prices[:]
        for price in walk:
            if qty <= 0 or len(sizes) <= 1:
                break
            size = sizes[price]
            fill = min(qty, size)
            qty -= fill
            step.trades.append(Trade(aggressor, price, fill))
            self._set(step, resting, price, size - fill)
