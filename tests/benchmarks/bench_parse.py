"""Parse + normalise + book apply from Python, against msgspec's typed decoding.

Ours: ``Engine.feed_many`` in batches of ``BATCH`` frames (the GIL released), with
``discard()`` between batches, on an engine primed with the venue's snapshot: normalize, sync
checks, Kraken CRC32s and book apply all count. The peer: ``msgspec.json.Decoder`` with
``msgspec.Struct`` types for the same frames, decode only, which is the peer's best case
(it produces no fixed-point values, checks nothing and keeps no book).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import msgspec

from alphapulse._core import Engine
from tests.benchmarks.frames import FRAME_SETS, START_NS, FrameSet
from tests.benchmarks.measure import Figure, Row, timed

BATCH = 1_000
FRAMES = {"book": 20_000, "trade": 50_000}
TARGET = {"book": 1e6, "trade": 3e6}
MIN_RATIO = 5.0


class BinanceDepth(msgspec.Struct, gc=False):
    e: str
    E: int
    s: str
    U: int
    u: int
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]


class BinanceDepthFrame(msgspec.Struct, gc=False):
    stream: str
    data: BinanceDepth


class BinanceTrade(msgspec.Struct, gc=False):
    e: str
    E: int
    s: str
    t: int
    p: str
    q: str
    T: int
    m: bool


class BinanceTradeFrame(msgspec.Struct, gc=False):
    stream: str
    data: BinanceTrade


class KrakenV1Book(msgspec.Struct, gc=False):
    # Levels are [price, volume, time] plus an optional "r" (republished) flag.
    a: list[list[str]] = []
    b: list[list[str]] = []
    c: str | None = None
    snapshot_asks: list[list[str]] = msgspec.field(default_factory=list, name="as")
    snapshot_bids: list[list[str]] = msgspec.field(default_factory=list, name="bs")


# [channelID, payload, (payload,) channelName, pair]
KrakenV1Frame = list[int | str | KrakenV1Book]


class KrakenV2Level(msgspec.Struct, gc=False):
    price: float  # the peer's best case: floats, not the exact decimal text
    qty: float


class KrakenV2Book(msgspec.Struct, gc=False):
    symbol: str
    bids: list[KrakenV2Level]
    asks: list[KrakenV2Level]
    checksum: int
    timestamp: str


class KrakenV2Frame(msgspec.Struct, gc=False):
    channel: str
    type: str
    data: list[KrakenV2Book]


class CoinbaseLevel(msgspec.Struct, gc=False):
    side: str
    event_time: str
    price_level: str
    new_quantity: str


class CoinbaseL2Event(msgspec.Struct, gc=False):
    type: str
    product_id: str
    updates: list[CoinbaseLevel]


class CoinbaseFrame(msgspec.Struct, gc=False):
    channel: str
    client_id: str
    timestamp: str
    sequence_num: int
    events: list[CoinbaseL2Event]


PEER_TYPES: dict[str, object] = {
    "binance depthUpdate": BinanceDepthFrame,
    "binance trade": BinanceTradeFrame,
    "kraken v1 book": KrakenV1Frame,
    "kraken v2 book": KrakenV2Frame,
    "coinbase l2_data": CoinbaseFrame,
}


def ours(fs: FrameSet) -> Figure:
    stamps = list(range(START_NS, START_NS + len(fs.frames)))
    batches = [
        (fs.frames[i : i + BATCH], stamps[i : i + BATCH]) for i in range(0, len(fs.frames), BATCH)
    ]

    def run(engine: Engine) -> None:
        feed_many, discard = engine.feed_many, engine.discard
        for frames, ts in batches:
            feed_many(frames, ts)
            discard()

    times = timed(run, fs.engine)
    check = fs.engine()
    run(check)
    if check.rejects or check.out_of_sync() or _failed_checks(check):
        raise AssertionError(f"{fs.name}: frames rejected or books out of sync: {check.stats()}")
    return Figure.rate(times, len(fs.frames))


def _failed_checks(engine: Engine) -> int:
    return sum(s["checksums_failed"] + s["gaps"] for s in engine.stats().values())


def ours_per_frame(fs: FrameSet) -> Figure:
    """``Engine.feed`` once per frame: what a caller without batching pays."""
    stamps = list(range(START_NS, START_NS + len(fs.frames)))
    pairs = list(zip(fs.frames, stamps, strict=True))

    def run(engine: Engine) -> None:
        feed, discard = engine.feed, engine.discard
        for i, (frame, ts) in enumerate(pairs):
            feed(frame, ts)
            if i % BATCH == BATCH - 1:
                discard()

    return Figure.rate(timed(run, fs.engine), len(fs.frames))


def peer(fs: FrameSet) -> Figure:
    decode: Callable[[bytes], object] = msgspec.json.Decoder(PEER_TYPES[fs.name]).decode

    def run(frames: list[bytes]) -> None:
        for frame in frames:
            decode(frame)

    return Figure.rate(timed(run, lambda: fs.frames), len(fs.frames))


def peer_with_decimals(fs: FrameSet) -> Figure:
    """msgspec decode, then every level to ``Decimal`` as cryptofeed normalises them."""
    decode: Callable[[bytes], BinanceDepthFrame] = msgspec.json.Decoder(BinanceDepthFrame).decode

    def run(frames: list[bytes]) -> None:
        for frame in frames:
            data = decode(frame).data
            [(Decimal(p), Decimal(q)) for p, q in data.b]
            [(Decimal(p), Decimal(q)) for p, q in data.a]

    return Figure.rate(timed(run, lambda: fs.frames), len(fs.frames))


def run() -> list[Row]:
    print("Parse + normalise + book apply from Python (feed_many, batches of 1,000 frames)")
    rows = []
    for make in FRAME_SETS:
        fs = make(FRAMES["trade"] if make.__name__.endswith("trades") else FRAMES["book"])
        mine, theirs = ours(fs), peer(fs)
        per_frame = fs.events / len(fs.frames)
        row = Row(
            f"{fs.name} frames/s",
            mine,
            target=TARGET[fs.kind],
            peer=theirs,
            peer_name="msgspec",
            min_ratio=MIN_RATIO,
            note=f"{per_frame:.1f} {'levels' if fs.kind == 'book' else 'trades'}/frame, "
            f"{sum(map(len, fs.frames)) / len(fs.frames):.0f} B/frame: "
            f"{fmt_events(mine, per_frame)}",
        )
        print(row.report())
        rows.append(row)
        if fs.protocol == "binance" and fs.kind == "book":
            extra = [
                Row(f"{fs.name} frames/s, feed() per frame", ours_per_frame(fs)),
                Row(
                    f"{fs.name} frames/s vs decode + Decimal",
                    mine,
                    peer=peer_with_decimals(fs),
                    peer_name="msgspec+Decimal",
                ),
            ]
            for row in extra:
                print(row.report())
            rows.extend(extra)
    return rows


def fmt_events(figure: Figure, per_frame: float) -> str:
    return f"{figure.median * per_frame / 1e6:.2f}M events/s"
