"""Benchmark inputs: a deep L2 book's delta stream, and that stream in each venue's wire format.

One model drives everything: a book of ~1,000 levels a side around a fixed touch, where each
delta lands a geometric number of ticks from the touch (mean ~4), deletes 15% of the levels
it hits (~13% of all deltas) and inserts where it finds no level (~13%). Venue frames carry
what a client really sees, including the parts that cost time: Binance update ids straddling a
REST snapshot, Kraken CRC32 checksums over the top 10 (so every frame is verified), Coinbase's
connection-wide ``sequence_num``. Everything is deterministic for a seed.

``rust_ext/benches/core.rs`` generates the same shapes in Rust, for ``cargo bench``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from alphapulse import _core
from alphapulse.simulator.wire import fixed, rfc3339, trimmed

BID = _core.BID
ASK = _core.ASK
#: 2026-01-02T00:00:00Z: frames carry venue times from here on.
START_NS = 1_767_312_000_000_000_000
#: Share of deltas landing on the touch; distance from it is geometric: P(d) = p (1 - p)^d.
TOUCH_P = 0.2
DELETE_SHARE = 0.15
LEVELS_PER_SIDE = 1_000

Delta = tuple[int, int, int]  # (side, price mantissa, size mantissa); size 0 deletes


class DeltaModel:
    """Level changes of a deep book, concentrated near the touch; O(1) per delta.

    Prices are mantissas at the instrument's price precision with a tick of 1; sizes are
    mantissas at 8 decimals.
    """

    def __init__(self, rng: random.Random, center: int, levels: int = LEVELS_PER_SIDE) -> None:
        self.rng = rng
        self.touch = (center - 1, center + 1)  # (best possible bid, best possible ask)
        self.book: tuple[dict[int, int], dict[int, int]] = ({}, {})
        occupancy = 1 / (1 + DELETE_SHARE)  # the near-touch equilibrium of deletes vs inserts
        for side in (BID, ASK):
            distance = 0
            while len(self.book[side]) < levels:
                if rng.random() < occupancy:
                    self.book[side][self._price(side, distance)] = self.size()
                distance += 1
        self._log_q = math.log(1 - TOUCH_P)

    def _price(self, side: int, distance: int) -> int:
        return self.touch[BID] - distance if side == BID else self.touch[ASK] + distance

    def size(self) -> int:
        """A level size: 0.001 BTC lots, exponential with a mean of 50 lots."""
        return 100_000 * (1 + int(self.rng.expovariate(1 / 50)))

    def snapshot(self) -> list[Delta]:
        """Every level, best first per side (bids then asks)."""
        out: list[Delta] = []
        for side in (BID, ASK):
            prices = sorted(self.book[side], reverse=side == BID)
            out.extend((side, p, self.book[side][p]) for p in prices)
        return out

    def step(self) -> Delta:
        rng = self.rng
        side = rng.getrandbits(1)
        distance = int(math.log(1.0 - rng.random()) / self._log_q)
        price = self._price(side, distance)
        levels = self.book[side]
        if price in levels and rng.random() < DELETE_SHARE:
            del levels[price]
            return (side, price, 0)
        size = self.size()
        levels[price] = size
        return (side, price, size)

    def steps(self, n: int) -> list[Delta]:
        """``n`` deltas, at most one per (side, price): a venue reports a level's last state."""
        out: dict[tuple[int, int], int] = {}
        while len(out) < n:
            side, price, size = self.step()
            out[(side, price)] = size
        return [(side, price, size) for (side, price), size in out.items()]


def delta_stream(n: int, seed: int = 1, center: int = 6_500_000) -> tuple[list[Delta], list[Delta]]:
    """``(snapshot, deltas)``: a 1,000-level-a-side book and ``n`` deltas against it."""
    model = DeltaModel(random.Random(seed), center)
    snapshot = model.snapshot()
    return snapshot, [model.step() for _ in range(n)]


@dataclass(frozen=True)
class FrameSet:
    """Frames of one venue protocol, and how to bring a fresh engine to where they start."""

    name: str
    protocol: str
    kind: str  # "book" or "trade"
    frames: list[bytes]
    #: Book deltas (or trades) the frames carry in all.
    events: int
    prime: Callable[[_core.Engine], None]

    def engine(self) -> _core.Engine:
        """A fresh engine, primed (snapshot fed, pending events dropped)."""
        engine = _core.Engine(self.protocol)
        self.prime(engine)
        engine.discard()
        return engine


def _dumps(message: Any) -> bytes:
    return orjson.dumps(message)


def _level_counts(rng: random.Random, weights: tuple[float, ...], first: int) -> int:
    return rng.choices(range(first, first + len(weights)), weights)[0]


def binance_depth(n: int, seed: int = 1) -> FrameSet:
    """Combined-stream ``depthUpdate`` frames of 3-10 levels, after a REST snapshot."""
    rng = random.Random(seed)
    model = DeltaModel(rng, center=6_500_000)  # BTCUSDT, tick 0.01
    scale = 10**6  # Binance writes 8 decimals

    def level(price: int, size: int) -> list[str]:
        return [fixed(price * scale, 8), fixed(size, 8)]

    last_id = 40_000_000_000
    snapshot = {
        "lastUpdateId": last_id,
        "bids": [level(p, s) for side, p, s in model.snapshot() if side == BID],
        "asks": [level(p, s) for side, p, s in model.snapshot() if side == ASK],
    }
    frames, events = [], 0
    ms = START_NS // 1_000_000
    for _ in range(n):
        deltas = model.steps(rng.randint(3, 10))
        events += len(deltas)
        first = last_id + 1
        last_id = first + rng.randint(len(deltas) - 1, 3 * len(deltas))
        ms += 100
        data = {
            "e": "depthUpdate",
            "E": ms,
            "s": "BTCUSDT",
            "U": first,
            "u": last_id,
            "b": [level(p, s) for side, p, s in deltas if side == BID],
            "a": [level(p, s) for side, p, s in deltas if side == ASK],
        }
        frames.append(_dumps({"stream": "btcusdt@depth@100ms", "data": data}))
    body = _dumps(snapshot)

    def prime(engine: _core.Engine) -> None:
        url = "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000"
        engine.feed_http(url, body, START_NS)

    return FrameSet("binance depthUpdate", "binance", "book", frames, events, prime)


def binance_trades(n: int, seed: int = 2) -> FrameSet:
    """Combined-stream ``trade`` frames."""
    rng = random.Random(seed)
    frames = []
    ms = START_NS // 1_000_000
    for i in range(n):
        ms += rng.randint(0, 3)
        data = {
            "e": "trade",
            "E": ms,
            "s": "BTCUSDT",
            "t": 5_000_000_000 + i,
            "p": fixed((6_500_000 + rng.randint(-50, 50)) * 10**6, 8),
            "q": fixed(1_000 * (1 + int(rng.expovariate(1 / 200))), 8),
            "T": ms - 1,
            "m": rng.random() < 0.5,
            "M": True,
        }
        frames.append(_dumps({"stream": "btcusdt@trade", "data": data}))
    return FrameSet("binance trade", "binance", "trade", frames, n, lambda _: None)


def _checksummed_book(depth: int) -> _core.OrderBook:
    """A mirror of the venue's book, to write Kraken's checksum into each frame."""
    return _core.OrderBook(depth)


def kraken_v1_book(n: int, seed: int = 3) -> FrameSet:
    """``book-1000`` updates of 1-3 levels with their CRC32, after the snapshot frame."""
    rng = random.Random(seed)
    model = DeltaModel(rng, center=650_000)  # XBT/USD, tick 0.1
    scale = 10**4  # prices written with 5 decimals
    mirror = _checksummed_book(LEVELS_PER_SIDE)
    ts_us = START_NS // 1000

    def level(price: int, size: int) -> list[str]:
        return [fixed(price * scale, 5), fixed(size, 8), fixed(ts_us, 6)]

    snap = model.snapshot()
    for side, p, s in snap:
        mirror.apply(side, p * scale, s)
    head = 336
    tail = ["book-1000", "XBT/USD"]
    snapshot = [
        head,
        {
            "as": [level(p, s) for side, p, s in snap if side == ASK],
            "bs": [level(p, s) for side, p, s in snap if side == BID],
        },
        *tail,
    ]
    frames, events = [], 0
    for _ in range(n):
        deltas = model.steps(_level_counts(rng, (0.7, 0.2, 0.1), 1))
        events += len(deltas)
        ts_us += rng.randint(100, 20_000)
        for side, p, s in deltas:
            mirror.apply(side, p * scale, s)
        asks = [level(p, s) for side, p, s in deltas if side == ASK]
        bids = [level(p, s) for side, p, s in deltas if side == BID]
        parts: list[dict[str, Any]] = []
        if asks:
            parts.append({"a": asks})
        if bids:
            parts.append({"b": bids})
        parts[-1]["c"] = str(mirror.kraken_checksum())
        frames.append(_dumps([head, *parts, *tail]))
    snapshot_frame = _dumps(snapshot)

    def prime(engine: _core.Engine) -> None:
        engine.feed(snapshot_frame, START_NS)

    return FrameSet("kraken v1 book", "kraken_v1", "book", frames, events, prime)


def _json_number(mantissa: int, decimals: int) -> orjson.Fragment:
    """Kraken v2 writes JSON numbers without trailing zeros; keep their exact text."""
    return orjson.Fragment(trimmed(mantissa, decimals))


def kraken_v2_book(n: int, seed: int = 4) -> FrameSet:
    """``book`` updates (depth 1000) of 1-3 levels with their checksum, after a snapshot."""
    rng = random.Random(seed)
    model = DeltaModel(rng, center=650_000)  # BTC/USD, price_precision 1
    mirror = _checksummed_book(LEVELS_PER_SIDE)
    ts = START_NS

    def level(price: int, size: int) -> dict[str, orjson.Fragment]:
        return {"price": _json_number(price, 1), "qty": _json_number(size, 8)}

    def message(kind: str, deltas: list[Delta], ts: int) -> bytes:
        book = {
            "symbol": "BTC/USD",
            "bids": [level(p, s) for side, p, s in deltas if side == BID],
            "asks": [level(p, s) for side, p, s in deltas if side == ASK],
            "checksum": mirror.kraken_checksum(),
            "timestamp": rfc3339(ts)[:-4] + "Z",  # microseconds, as Kraken writes them
        }
        return _dumps({"channel": "book", "type": kind, "data": [book]})

    snap = model.snapshot()
    for side, p, s in snap:
        mirror.apply(side, p, s)
    snapshot_frame = message("snapshot", snap, ts)
    frames, events = [], 0
    for _ in range(n):
        deltas = model.steps(_level_counts(rng, (0.7, 0.2, 0.1), 1))
        events += len(deltas)
        ts += rng.randint(100, 20_000) * 1000
        for side, p, s in deltas:
            mirror.apply(side, p, s)
        frames.append(message("update", deltas, ts))
    subscribed = _dumps(
        {
            "method": "subscribe",
            "result": {"channel": "book", "symbol": "BTC/USD", "depth": 1000, "snapshot": True},
            "success": True,
            "time_in": "2026-01-02T00:00:00.000000Z",
            "time_out": "2026-01-02T00:00:00.000100Z",
        }
    )

    def prime(engine: _core.Engine) -> None:
        engine.define("BTC/USD", "BTC", "USD", price_precision=1, size_precision=8)
        engine.feed(subscribed, START_NS)
        engine.feed(snapshot_frame, START_NS)

    return FrameSet("kraken v2 book", "kraken", "book", frames, events, prime)


def coinbase_l2(n: int, seed: int = 5) -> FrameSet:
    """``l2_data`` updates of 1-5 levels with consecutive ``sequence_num``, after a snapshot."""
    rng = random.Random(seed)
    model = DeltaModel(rng, center=6_500_000)  # BTC-USD, tick 0.01
    ts = START_NS
    sequence = 0

    def message(kind: str, deltas: list[Delta]) -> bytes:
        nonlocal sequence
        stamp = rfc3339(ts)
        updates = [
            {
                "side": "bid" if side == BID else "offer",
                "event_time": stamp[:-4] + "Z",
                "price_level": trimmed(p, 2),
                "new_quantity": trimmed(s, 8),
            }
            for side, p, s in deltas
        ]
        events = [{"type": kind, "product_id": "BTC-USD", "updates": updates}]
        out = {
            "channel": "l2_data",
            "client_id": "",
            "timestamp": stamp,
            "sequence_num": sequence,
            "events": events,
        }
        sequence += 1
        return _dumps(out)

    snapshot_frame = message("snapshot", model.snapshot())
    frames, events = [], 0
    for _ in range(n):
        deltas = model.steps(_level_counts(rng, (0.45, 0.25, 0.15, 0.1, 0.05), 1))
        events += len(deltas)
        ts += rng.randint(100, 50_000) * 1000
        frames.append(message("update", deltas))

    def prime(engine: _core.Engine) -> None:
        engine.feed(snapshot_frame, START_NS)

    return FrameSet("coinbase l2_data", "coinbase", "book", frames, events, prime)


#: Every frame set the parse benchmark runs, by the throughput target that applies.
FRAME_SETS: tuple[Callable[[int], FrameSet], ...] = (
    binance_depth,
    kraken_v1_book,
    coinbase_l2,
    kraken_v2_book,
    binance_trades,
)
