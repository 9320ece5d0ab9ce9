"""A small market model: limit adds, cancels and market orders that walk the book.

Prices and sizes are fixed-point integers (``price_decimals`` / ``size_decimals``), as
everywhere in AlphaPulse. The model is deterministic for a given ``random.Random``.
"""

from __future__ import annotations

import random
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
        mid = spec.price(spec.mid) // self.tick * self.tick
        for i in range(levels):
            self.book[BID][mid - (i + 1) * self.tick] = self._order_size()
            self.book[ASK][mid + (i + 1) * self.tick] = self._order_size()

    def _order_size(self) -> int:
        return self.lot * max(1, int(self.rng.expovariate(1 / 40)))

    def best(self, side: int) -> int:
        levels = self.book[side]
        return max(levels) if side == BID else min(levels)

    def levels(self, side: int) -> list[tuple[int, int]]:
        """Levels of ``side``, best first."""
        prices = sorted(self.book[side], reverse=side == BID)
        return [(p, self.book[side][p]) for p in prices]

    def _set(self, step: Step, side: int, price: int, size: int) -> None:
        if size > 0:
            self.book[side][price] = size
        else:
            self.book[side].pop(price, None)
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
        for side in (BID, ASK):
            while len(self.book[side]) < 12:
                self._add(step, side, far=True)
        return step

    def _add(self, step: Step, side: int | None = None, far: bool = False) -> None:
        side = self.rng.choice((BID, ASK)) if side is None else side
        best_bid, best_ask = self.best(BID), self.best(ASK)
        spread_ticks = (best_ask - best_bid) // self.tick
        if far:
            worst = min(self.book[side]) if side == BID else max(self.book[side])
            price = worst - self.tick if side == BID else worst + self.tick
        elif spread_ticks > 1 and self.rng.random() < 0.3:
            # Improve the touch: this is how the mid drifts.
            inside = self.rng.randint(1, spread_ticks - 1)
            price = best_bid + inside * self.tick if side == BID else best_ask - inside * self.tick
        else:
            distance = int(self.rng.expovariate(1 / 4))
            price = (
                best_bid - distance * self.tick if side == BID else best_ask + distance * self.tick
            )
        self._set(step, side, price, self.book[side].get(price, 0) + self._order_size())

    def _cancel(self, step: Step) -> None:
        side = self.rng.choice((BID, ASK))
        levels = self.levels(side)
        index = min(int(self.rng.expovariate(1 / 5)), len(levels) - 1)
        price, size = levels[index]
        remaining = 0 if self.rng.random() < 0.5 else size // 2 // self.lot * self.lot
        self._set(step, side, price, remaining)

    def _market_order(self, step: Step) -> None:
        aggressor = self.rng.choice((BID, ASK))
        resting = ASK if aggressor == BID else BID
        qty = self._order_size() * self.rng.randint(1, 3)
        for price, size in self.levels(resting):
            if qty <= 0 or len(self.book[resting]) <= 1:
                break
            fill = min(qty, size)
            qty -= fill
            step.trades.append(Trade(aggressor, price, fill))
            self._set(step, resting, price, size - fill)
