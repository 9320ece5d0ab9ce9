"""msgspec, the parse benchmark's peer: typed Structs for each frame set, in two variants.

- ``str``: prices and sizes stay the venue's decimal strings (Kraken v2's JSON numbers stay
  their raw text, ``msgspec.Raw``): decode only, the peer's best case.
- ``exact``: prices and sizes become ``Decimal`` and RFC3339 times ``datetime``, both
  decoded in msgspec's C code: exact values, which is the part of our work (exact
  fixed-point, ns timestamps) a decoder can do. Neither variant checks sequence numbers or
  checksums, keeps a book or builds Arrow rows.

This module does not use ``from __future__ import annotations``: the Structs are built in a
function, and msgspec must see the field types themselves, not names it cannot resolve.
"""

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import msgspec

VARIANTS = ("str", "exact")


def peer_types(variant: str) -> dict[str, object]:
    """The msgspec type of each frame set's frames, by frame-set name."""
    if variant not in VARIANTS:
        raise ValueError(f"variant {variant!r}: one of {VARIANTS}")
    exact = variant == "exact"
    num: type = Decimal if exact else str
    number: type = Decimal if exact else msgspec.Raw  # a JSON number, not a string
    stamp: type = datetime if exact else str

    class BinanceDepth(msgspec.Struct, gc=False):
        e: str
        E: int
        s: str
        U: int
        u: int
        b: list[tuple[num, num]]  # type: ignore[valid-type]
        a: list[tuple[num, num]]  # type: ignore[valid-type]

    class BinanceDepthFrame(msgspec.Struct, gc=False):
        stream: str
        data: BinanceDepth

    class BinanceTrade(msgspec.Struct, gc=False):
        e: str
        E: int
        s: str
        t: int
        p: num  # type: ignore[valid-type]
        q: num  # type: ignore[valid-type]
        T: int
        m: bool

    class BinanceTradeFrame(msgspec.Struct, gc=False):
        stream: str
        data: BinanceTrade

    class KrakenV1Book(msgspec.Struct, gc=False):
        # Levels are [price, volume, time]; the frames carry no "r" (republished) flag.
        a: list[tuple[num, num, str]] = []  # type: ignore[valid-type]
        b: list[tuple[num, num, str]] = []  # type: ignore[valid-type]
        c: str | None = None
        snapshot_asks: list[tuple[num, num, str]] = msgspec.field(  # type: ignore[valid-type]
            default_factory=list, name="as"
        )
        snapshot_bids: list[tuple[num, num, str]] = msgspec.field(  # type: ignore[valid-type]
            default_factory=list, name="bs"
        )

    class KrakenV2Level(msgspec.Struct, gc=False):
        price: number  # type: ignore[valid-type]
        qty: number  # type: ignore[valid-type]

    class KrakenV2Book(msgspec.Struct, gc=False):
        symbol: str
        bids: list[KrakenV2Level]
        asks: list[KrakenV2Level]
        checksum: int
        timestamp: stamp  # type: ignore[valid-type]

    class KrakenV2Frame(msgspec.Struct, gc=False):
        channel: str
        type: str
        data: list[KrakenV2Book]

    class CoinbaseLevel(msgspec.Struct, gc=False):
        side: str
        event_time: stamp  # type: ignore[valid-type]
        price_level: num  # type: ignore[valid-type]
        new_quantity: num  # type: ignore[valid-type]

    class CoinbaseL2Event(msgspec.Struct, gc=False):
        type: str
        product_id: str
        updates: list[CoinbaseLevel]

    class CoinbaseFrame(msgspec.Struct, gc=False):
        channel: str
        client_id: str
        timestamp: stamp  # type: ignore[valid-type]
        sequence_num: int
        events: list[CoinbaseL2Event]

    return {
        "binance depthUpdate": BinanceDepthFrame,
        "binance trade": BinanceTradeFrame,
        # [channelID, payload, (payload,) channelName, pair]
        "kraken v1 book": list[int | str | KrakenV1Book],
        "kraken v2 book": KrakenV2Frame,
        "coinbase l2_data": CoinbaseFrame,
    }


def decoder(frame_set: str, variant: str) -> Callable[[bytes], object]:
    decode: Callable[[bytes], object] = msgspec.json.Decoder(peer_types(variant)[frame_set]).decode
    return decode
