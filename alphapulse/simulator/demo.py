"""The demo capture: a simulated session on Kraken (v1), Coinbase and Binance.

Written in the venues' real wire formats with their own checksums and sequence numbers,
so that replaying it exercises the same code paths as a live recording.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from alphapulse.capture import CaptureWriter
from alphapulse.simulator.market import InstrumentSpec, MarketModel, Step
from alphapulse.simulator.wire import BinanceFeed, CoinbaseFeed, KrakenV1Feed

#: Instruments every demo venue lists.
DEMO_INSTRUMENTS = (
    InstrumentSpec(
        "BTC", "USD", price_decimals=1, size_decimals=8, mid=65000.0, tick=0.1, lot=0.0001
    ),
    InstrumentSpec(
        "ETH", "USD", price_decimals=2, size_decimals=8, mid=1900.0, tick=0.01, lot=0.001
    ),
)

#: Simulated start: 2026-01-02T00:00:00Z, so that demo captures are reproducible.
START_NS = 1_767_312_000_000_000_000


class Feed(Protocol):
    def open(self, w: CaptureWriter, ts: int) -> None: ...
    def heartbeat(self, w: CaptureWriter, ts: int) -> None: ...
    def on_step(self, w: CaptureWriter, ts: int, model: MarketModel, step: Step) -> None: ...


@dataclass
class DemoStats:
    frames: int = 0
    steps: int = 0
    venues: list[str] = field(default_factory=list)


def write_demo_capture(
    path: str | Path, *, seconds: float = 30.0, seed: int = 7, steps_per_second: float = 150.0
) -> DemoStats:
    """Simulate ``seconds`` of market time on three venues and write the capture."""
    rng = random.Random(seed)
    feeds: list[tuple[Feed, list[MarketModel]]] = []
    for make in (KrakenV1Feed, CoinbaseFeed, BinanceFeed):
        models = {
            f"{s.base}-{s.quote}": MarketModel(s, random.Random(rng.random()))
            for s in DEMO_INSTRUMENTS
        }
        feeds.append((make(models), list(models.values())))
    stats = DemoStats(venues=["kraken_v1", "coinbase", "binance"])
    with CaptureWriter(path, meta={"source": "alphapulse demo", "seed": seed}) as w:
        ts = START_NS
        for feed, _ in feeds:
            feed.open(w, ts)
        end = START_NS + int(seconds * 1e9)
        next_heartbeat = START_NS + 1_000_000_000
        while ts < end:
            ts += max(1000, int(rng.expovariate(steps_per_second) * 1e9))
            while ts >= next_heartbeat:
                for feed, _ in feeds:
                    feed.heartbeat(w, next_heartbeat)
                next_heartbeat += 1_000_000_000
            feed, venue_models = feeds[rng.randrange(len(feeds))]
            model = venue_models[rng.randrange(len(venue_models))]
            feed.on_step(w, ts, model, model.step())
            stats.steps += 1
        stats.frames = w.records
    return stats
