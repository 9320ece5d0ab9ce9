"""What the exchange knows about one symbol: its market, the ids it put on the wire, the
bars and ticker statistics derived from its trades, and the ground truth of what it emitted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alphapulse.simulator.encoding import TextCache, fixed
from alphapulse.simulator.market import ASK, BID, InstrumentSpec, MarketModel, Step

if TYPE_CHECKING:
    from alphapulse.simulator.server import Session

Level = tuple[int, int]


@dataclass(frozen=True, slots=True)
class TruthTrade:
    """A trade as the venue reported it. ``aggressor`` is the taker's side (buy/sell)."""

    trade_id: int
    price: int
    size: int
    aggressor: str
    ts: int


@dataclass(frozen=True, slots=True)
class BookChange:
    """One level set to ``size`` (0 removes it); ``update_id`` is Binance's update id."""

    update_id: int
    side: int
    price: int
    size: int
    ts: int


class Truth:
    """What the exchange emitted for one symbol, at the spec's precision."""

    def __init__(self, spec: InstrumentSpec, limit: int | None) -> None:
        self.price_decimals = spec.price_decimals
        self.size_decimals = spec.size_decimals
        # (ts, first update id, first trade id, step): the steps themselves, not copies.
        self._steps: deque[tuple[int, int, int, Step]] = deque(maxlen=limit)

    def record(self, ts: int, first_update: int, first_trade: int, step: Step) -> None:
        self._steps.append((ts, first_update, first_trade, step))

    @property
    def trades(self) -> list[TruthTrade]:
        """Every trade kept, oldest first (built on each call)."""
        return [
            TruthTrade(
                first_trade + i, t.price, t.size, "buy" if t.aggressor == BID else "sell", ts
            )
            for ts, _, first_trade, step in self._steps
            for i, t in enumerate(step.trades)
        ]

    def recent_trades(self, n: int) -> list[TruthTrade]:
        """The last ``n`` trades, oldest first, without walking the whole history."""
        out: list[TruthTrade] = []
        for ts, _, first_trade, step in reversed(self._steps):
            for i in range(len(step.trades) - 1, -1, -1):
                if len(out) == n:
                    return out[::-1]
                t = step.trades[i]
                side = "buy" if t.aggressor == BID else "sell"
                out.append(TruthTrade(first_trade + i, t.price, t.size, side, ts))
        return out[::-1]

    @property
    def changes(self) -> list[BookChange]:
        """Every book change kept, oldest first (built on each call)."""
        return [
            BookChange(first_update + i, side, price, size, ts)
            for ts, first_update, _, step in self._steps
            for i, (side, price, size) in enumerate(step.changes)
        ]

    @property
    def steps(self) -> int:
        """Steps kept (the oldest go first past ``truth_limit``)."""
        return len(self._steps)


@dataclass(slots=True)
class Bar:
    """OHLCV of the trades in ``[start, start + interval)``; prices at the spec's precision."""

    start: int
    interval: int
    open: int
    high: int
    low: int
    close: int
    volume: int = 0
    trades: int = 0
    #: Sum of price * size mantissas, for the VWAP.
    notional: int = 0
    first_trade_id: int = 0
    last_trade_id: int = 0


class Bars:
    """The current bar of one interval and the last closed one."""

    def __init__(self, interval_ns: int) -> None:
        self.interval = interval_ns
        self.current: Bar | None = None
        self.closed: Bar | None = None

    def roll(self, ts: int) -> None:
        if self.current is not None and ts >= self.current.start + self.interval:
            self.closed, self.current = self.current, None

    def add(self, ts: int, price: int, size: int, trade_id: int) -> None:
        self.roll(ts)
        bar = self.current
        if bar is None:
            start = ts - ts % self.interval
            bar = self.current = Bar(start, self.interval, price, price, price, price)
            bar.first_trade_id = trade_id
        elif price > bar.high:
            bar.high = price
        elif price < bar.low:
            bar.low = price
        bar.close = price
        bar.volume += size
        bar.trades += 1
        bar.notional += price * size
        bar.last_trade_id = trade_id


class SymbolState:
    """One symbol's market, its venue counters and the sessions that listen to it."""

    def __init__(
        self,
        symbol: str,
        spec: InstrumentSpec,
        model: MarketModel,
        index: int,
        limit: int | None,
        text: Callable[[int, int], str] = fixed,
    ) -> None:
        self.symbol = symbol
        self.spec = spec
        self.model = model
        #: Prices and sizes as the venue writes them.
        price_decimals, size_decimals = spec.price_decimals, spec.size_decimals
        self.price_text = TextCache(lambda m: text(m, price_decimals))
        self.size_text = TextCache(lambda m: text(m, size_decimals))
        self.sessions: list[Session] = []
        #: The last book update id (Binance ``u`` / ``lastUpdateId``), one per change.
        self.update_id = 1_000_000 * (index + 1)
        #: The last trade id.
        self.trade_id = 100_000 * (index + 1)
        self.truth = Truth(spec, limit)
        self.bars: dict[int, Bars] = {}
        # Session statistics for tickers.
        mid = model.best(BID)
        self.open = self.last = self.high = self.low = mid
        self.volume = 0
        self.notional = 0

    def record(self, step: Step, ts: int) -> None:
        first_update = self.update_id + 1
        first_trade = self.trade_id + 1
        self.update_id += len(step.changes)
        if step.trades:
            for t in step.trades:
                self.trade_id += 1
                price = t.price
                self.last = price
                if price > self.high:
                    self.high = price
                elif price < self.low:
                    self.low = price
                self.volume += t.size
                self.notional += price * t.size
                for bars in self.bars.values():
                    bars.add(ts, price, t.size, self.trade_id)
        self.truth.record(ts, first_update, first_trade, step)

    def bars_of(self, interval_ns: int) -> Bars:
        """The bars of an interval, kept from now on."""
        bars = self.bars.get(interval_ns)
        if bars is None:
            bars = self.bars[interval_ns] = Bars(interval_ns)
        return bars

    def book(self, depth: int | None = None) -> tuple[list[Level], list[Level]]:
        model = self.model
        if depth is None:
            return model.levels(BID), model.levels(ASK)
        return model.top(BID, depth), model.top(ASK, depth)
