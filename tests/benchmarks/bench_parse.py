"""Venue frames from Python into typed values, ours against msgspec, on the same frames.

Ours: ``Engine.feed_many`` in batches of ``BATCH`` frames (the GIL released), then
``take()``, on an engine primed with the venue's snapshot: parsing, exact fixed-point
decimals, ns timestamps, sync checks (update ids, Kraken CRC32s, sequence numbers), book
apply and the rows as Arrow batches all count. The peers (``parse_peers``) decode the very
same frame objects in the same rounds: msgspec into Structs with string decimals, and into
Structs with ``Decimal`` and ``datetime``, the closest a decoder comes to our work.
"""

from __future__ import annotations

from collections.abc import Callable

from alphapulse._core import Engine
from tests.benchmarks import parse_peers
from tests.benchmarks.frames import FRAME_SETS, START_NS, FrameSet
from tests.benchmarks.measure import FULL, Figure, Plan, Row, interleaved, timing

BATCH = 1_000
FRAMES = {"book": 20_000, "trade": 50_000}
TARGET = {"book": 1e6, "trade": 3e6}
#: Against the work-matched peer (msgspec exact): decode-only is not the same work.
MIN_RATIO = 5.0

WORK = {
    "ours (parse)": "Engine.feed_many + take() per 1,000 frames: parse, exact fixed-point "
    "prices/sizes, ns timestamps, sync checks (update ids, CRC32, sequence), book apply, "
    "rows into Arrow batches",
    "ours feed()": "the same, Engine.feed once per frame (a caller without batching)",
    "ours no Arrow": "the same, discard() instead of take(): events dropped, no Arrow rows "
    "(the figure the README quoted before)",
    "msgspec str": "msgspec.json.Decoder into typed Structs; prices/sizes stay the venue's "
    "strings (Kraken v2 numbers as msgspec.Raw); no checks, no book, no Arrow",
    "msgspec exact": "the same Structs with prices/sizes as Decimal and RFC3339 times as "
    "datetime (exact values, decoded in C); no checks, no book, no Arrow",
}


def _batches(fs: FrameSet) -> list[tuple[list[bytes], list[int]]]:
    stamps = list(range(START_NS, START_NS + len(fs.frames)))
    return [
        (fs.frames[i : i + BATCH], stamps[i : i + BATCH]) for i in range(0, len(fs.frames), BATCH)
    ]


def ours(fs: FrameSet, arrow: bool = True) -> Callable[[Engine], None]:
    """``feed_many`` a batch, then ``take()`` its rows as Arrow (or ``discard()`` them)."""
    batches = _batches(fs)

    def run(engine: Engine) -> None:
        feed_many, after = engine.feed_many, engine.take if arrow else engine.discard
        for frames, ts in batches:
            feed_many(frames, ts)
            after()

    return run


def ours_per_frame(fs: FrameSet) -> Callable[[Engine], None]:
    """``Engine.feed`` once per frame, ``take()`` every ``BATCH`` frames."""
    pairs = list(zip(fs.frames, range(START_NS, START_NS + len(fs.frames)), strict=True))

    def run(engine: Engine) -> None:
        feed, take = engine.feed, engine.take
        for i, (frame, ts) in enumerate(pairs):
            feed(frame, ts)
            if i % BATCH == BATCH - 1:
                take()

    return run


def peer(fs: FrameSet, variant: str) -> Callable[[list[bytes]], None]:
    decode = parse_peers.decoder(fs.name, variant)

    def run(frames: list[bytes]) -> None:
        for frame in frames:
            decode(frame)

    return run


def verify(fs: FrameSet) -> None:
    """Our run rejects nothing and leaves every book in sync; each peer decodes every frame."""
    engine = fs.engine()
    ours(fs)(engine)
    failed = sum(s["checksums_failed"] + s["gaps"] for s in engine.stats().values())
    if engine.rejects or engine.out_of_sync() or failed:
        raise AssertionError(f"{fs.name}: frames rejected or books out of sync: {engine.stats()}")
    for variant in parse_peers.VARIANTS:
        peer(fs, variant)(fs.frames)  # raises msgspec.ValidationError on a mismatch


def compare(fs: FrameSet, plan: Plan) -> list[Row]:
    verify(fs)
    sides = {
        "ours": timing(ours(fs), fs.engine),
        "msgspec str": timing(peer(fs, "str"), lambda: fs.frames),
        "msgspec exact": timing(peer(fs, "exact"), lambda: fs.frames),
    }
    variants = fs.protocol == "binance" and fs.kind == "book"
    if variants:
        sides["ours feed()"] = timing(ours_per_frame(fs), fs.engine)
        sides["ours no Arrow"] = timing(ours(fs, arrow=False), fs.engine)
    times = interleaved(sides, plan.repeats)
    n = len(fs.frames)
    mine = Figure.rate(times["ours"], n)
    each = fs.events / n
    note = (
        f"{each:.1f} {'levels' if fs.kind == 'book' else 'trades'}/frame, "
        f"{sum(map(len, fs.frames)) / n:.0f} B/frame, {n:,} frames: "
        f"{mine.median * each / 1e6:.2f}M events/s"
    )
    rows = [
        Row(
            f"{fs.name} frames/s",
            mine,
            target=TARGET[fs.kind],
            peer=Figure.rate(times["msgspec str"], n),
            peer_name="msgspec str",
            note=note,
        ),
        Row(
            f"{fs.name} frames/s",
            mine,
            peer=Figure.rate(times["msgspec exact"], n),
            peer_name="msgspec exact",
            min_ratio=MIN_RATIO,
        ),
    ]
    if variants:
        for side in ("ours feed()", "ours no Arrow"):
            figure = Figure.rate(times[side], n)
            rows.append(Row(f"{fs.name} frames/s, {side}", figure, target=TARGET[fs.kind]))
    return rows


def run(plan: Plan = FULL) -> list[Row]:
    print(
        "Frames to typed values from Python, ours (feed_many + take, batches of 1,000 frames) "
        f"vs msgspec, interleaved, {plan.repeats} rounds"
    )
    rows = []
    for make in FRAME_SETS:
        full = FRAMES["trade"] if make.__name__.endswith("trades") else FRAMES["book"]
        for row in compare(make(plan.size(full)), plan):
            print(row.report())
            rows.append(row)
    return rows
