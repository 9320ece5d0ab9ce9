"""Kraken WebSocket v1 normalizer, message by message, through ``_core.Engine("kraken_v1")``.

Message shapes follow docs.kraken.com (WebSocket v1: book, trade, ticker, spread, ohlc,
heartbeat, systemStatus, subscriptionStatus, error; the v1 book checksum guide). Expected
checksums are computed here from decimal strings, as the guide describes, independently of
the Rust implementation.
"""

from __future__ import annotations

import binascii
import json
from decimal import Decimal
from typing import Any

import pytest

from alphapulse import _core
from tests.conftest import statuses, take_rows

TS = 1_700_000_000_000_000_000
PAIR = "XBT/USD"
VOLUME = "0.00000500"
# Kraken's checksum guide: asks 0.05005…0.05050, these bids, every volume 0.00000500.
DOCS_ASKS = [f"0.{5005 + 5 * i:05d}" for i in range(10)]
DOCS_BIDS = [f"0.0{p}" for p in (5000, 4995, 4990, 4980, 4975, 4970, 4965, 4960, 4955, 4950)]
DOCS_CHECKSUM = 974_947_235

Side = dict[str, str]


def checksum(asks: Side, bids: Side) -> int:
    """The guide's algorithm over ``{price string: volume string}`` books."""

    def digits(s: str) -> str:
        return s.replace(".", "").lstrip("0")

    top_asks = sorted(asks.items(), key=lambda kv: Decimal(kv[0]))[:10]
    top_bids = sorted(bids.items(), key=lambda kv: Decimal(kv[0]), reverse=True)[:10]
    text = "".join(digits(p) + digits(q) for p, q in top_asks + top_bids)
    return binascii.crc32(text.encode())


def apply(book: Side, levels: list[list[str]], depth: int, best_first_desc: bool) -> None:
    """A reference book side: set or delete, then keep the best ``depth``."""
    for price, volume, *_ in levels:
        if Decimal(volume) == 0:
            book.pop(price, None)
        else:
            book[price] = volume
    keep = sorted(book, key=Decimal, reverse=best_first_desc)[:depth]
    for price in list(book):
        if price not in keep:
            del book[price]


def message(*payload: Any, channel: str = "book-10", pair: str = PAIR) -> bytes:
    return json.dumps([336, *payload, channel, pair]).encode()


def snapshot_frame(
    asks: list[str], bids: list[str], channel: str = "book-10", volume: str = VOLUME
) -> bytes:
    return message(
        {
            "as": [[p, volume, "1582905487.684110"] for p in asks],
            "bs": [[p, volume, "1582905487.684120"] for p in bids],
        },
        channel=channel,
    )


class Book:
    """The reference book a test expects, fed alongside the engine."""

    def __init__(self, asks: list[str], bids: list[str], depth: int = 10) -> None:
        self.asks = dict.fromkeys(asks, VOLUME)
        self.bids = dict.fromkeys(bids, VOLUME)
        self.depth = depth

    def update(self, asks: list[list[str]], bids: list[list[str]]) -> int:
        apply(self.asks, asks, self.depth, best_first_desc=False)
        apply(self.bids, bids, self.depth, best_first_desc=True)
        return checksum(self.asks, self.bids)

    def mantissas(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        def fixed(side: Side, desc: bool) -> list[tuple[int, int]]:
            prices = sorted(side, key=Decimal, reverse=desc)
            return [(_core.parse_fixed(p, 5), _core.parse_fixed(side[p], 8)) for p in prices]

        return fixed(self.bids, True), fixed(self.asks, False)


def update_frame(asks: list[list[str]], bids: list[list[str]], crc: int | str) -> bytes:
    """The guide's shape: asks in one object, bids and the checksum in the next."""
    return message({"a": asks}, {"b": bids, "c": str(crc)})


def synced_engine() -> tuple[_core.Engine, Book]:
    engine = _core.Engine("kraken_v1")
    engine.feed(snapshot_frame(DOCS_ASKS, DOCS_BIDS), TS)
    return engine, Book(DOCS_ASKS, DOCS_BIDS)


# --- book -----------------------------------------------------------------------------


def test_reference_checksum_matches_the_guide() -> None:
    assert checksum(dict.fromkeys(DOCS_ASKS, VOLUME), dict.fromkeys(DOCS_BIDS, VOLUME)) == (
        DOCS_CHECKSUM
    )


def test_snapshot_rows_precision_and_book() -> None:
    engine, expected = synced_engine()
    rows = take_rows(engine)
    deltas = rows["book_deltas"]
    assert len(deltas) == 21
    clear, *levels = deltas
    assert (clear["action"], clear["flags"]) == ("clear", 1)
    # The snapshot's time is its latest level's.
    assert clear["ts_event"] == 1_582_905_487_684_120_000
    assert [d["side"] for d in levels] == ["ask"] * 10 + ["bid"] * 10
    assert [d["flags"] for d in levels] == [1] * 19 + [3]
    assert levels[0]["ts_event"] == 1_582_905_487_684_110_000
    assert [d["price_raw"] for d in levels[:3]] == [5005, 5010, 5015]
    assert {(d["size_raw"], d["price_precision"], d["size_precision"]) for d in levels} == {
        (500, 5, 8)
    }
    assert {d["ts_recv"] for d in deltas} == {TS}
    assert {(d["instrument"], d["symbol"]) for d in deltas} == {("BTC-USD@kraken", PAIR)}
    assert [s["symbol"] for s in statuses(rows, "synced")] == [PAIR]
    assert engine.top(PAIR, 20) == expected.mantissas()
    assert engine.book(PAIR).kraken_checksum() == DOCS_CHECKSUM
    stats = engine.stats()["kraken:XBT/USD"]
    # Snapshots carry no checksum; nothing is verified yet.
    assert (stats["snapshots"], stats["book_updates"], stats["checksums_verified"]) == (1, 0, 0)
    assert engine.instruments() == [(PAIR, "BTC-USD@kraken", 5, 8)]


def test_update_with_asks_and_bids_objects_and_checksum() -> None:
    engine, expected = synced_engine()
    take_rows(engine)
    asks = [["0.05005", "0.00001000", "1582905488.100000"]]
    bids = [
        ["0.04990", "0.00000000", "1582905488.200000"],
        ["0.04985", "0.00000700", "1582905488.300000"],
    ]
    crc = expected.update(asks, bids)
    assert crc != DOCS_CHECKSUM
    engine.feed(update_frame(asks, bids, crc), TS + 1)
    rows = take_rows(engine)
    deltas = rows["book_deltas"]
    assert [(d["side"], d["price_raw"], d["size_raw"], d["flags"]) for d in deltas] == [
        ("ask", 5005, 1000, 0),
        ("bid", 4990, 0, 0),
        ("bid", 4985, 700, 2),
    ]
    assert [d["ts_event"] for d in deltas] == [
        1_582_905_488_100_000_000,
        1_582_905_488_200_000_000,
        1_582_905_488_300_000_000,
    ]
    assert engine.top(PAIR, 20) == expected.mantissas()
    stats = engine.stats()["kraken:XBT/USD"]
    assert (stats["checksums_verified"], stats["checksums_failed"]) == (1, 0)
    assert stats["book_updates"] == 1
    assert statuses(rows, "checksum_failed") == []


def test_update_in_one_object_and_republished_levels() -> None:
    engine, expected = synced_engine()
    asks = [["0.05050", "0.00000000", "1582905488.100000"]]
    # The level that comes back into the top 10 is republished with an "r" flag.
    republished = [["0.05055", "0.00000500", "1582905488.100000", "r"]]
    crc = expected.update(asks + republished, [])
    engine.feed(message({"a": asks + republished, "c": str(crc)}), TS + 1)
    assert engine.rejects == 0
    assert engine.top(PAIR, 20) == expected.mantissas()
    assert engine.stats()["kraken:XBT/USD"]["checksums_verified"] == 1


def test_wrong_checksum_marks_the_book_out_of_sync_until_a_snapshot() -> None:
    engine, expected = synced_engine()
    bids = [["0.05000", "0.00000600", "1582905488.100000"]]
    good = expected.update([], bids)
    engine.feed(update_frame([], bids, good + 1), TS + 1)
    rows = take_rows(engine)
    (failed,) = statuses(rows, "checksum_failed")
    assert failed["message"] == f"expected {good + 1}, computed {good}"
    assert (failed["symbol"], failed["ts_recv"]) == (PAIR, TS + 1)
    (resync,) = statuses(rows, "resync_needed")
    assert resync["symbol"] == PAIR
    assert engine.out_of_sync() == [PAIR]
    assert not engine.is_synced(PAIR)
    stats = engine.stats()["kraken:XBT/USD"]
    assert (stats["checksums_verified"], stats["checksums_failed"]) == (0, 1)

    # Out of sync: later checksums, right or wrong, are not counted.
    more = [["0.05000", "0.00000700", "1582905488.200000"]]
    engine.feed(update_frame([], more, expected.update([], more)), TS + 2)
    engine.feed(update_frame([], more, 12345), TS + 3)
    stats = engine.stats()["kraken:XBT/USD"]
    assert (stats["checksums_verified"], stats["checksums_failed"]) == (0, 1)
    assert statuses(take_rows(engine), "checksum_failed") == []

    engine.feed(snapshot_frame(DOCS_ASKS, DOCS_BIDS), TS + 4)
    assert engine.out_of_sync() == []
    assert [s["symbol"] for s in statuses(take_rows(engine), "synced")] == [PAIR]
    expected = Book(DOCS_ASKS, DOCS_BIDS)
    engine.feed(update_frame([], more, expected.update([], more)), TS + 5)
    stats = engine.stats()["kraken:XBT/USD"]
    assert (stats["checksums_verified"], stats["checksums_failed"]) == (1, 1)
    assert stats["snapshots"] == 2


def test_book_is_trimmed_to_the_channel_depth() -> None:
    engine, expected = synced_engine()
    asks = [["0.05003", "0.00000100", "1582905488.100000"]]
    bids = [["0.05001", "0.00000200", "1582905488.100000"]]
    crc = expected.update(asks, bids)
    engine.feed(update_frame(asks, bids, crc), TS + 1)
    bids_now, asks_now = engine.top(PAIR, 50)
    assert (len(bids_now), len(asks_now)) == (10, 10)
    assert asks_now[0] == (5003, 100) and asks_now[-1][0] == 5045
    assert bids_now[0] == (5001, 200) and bids_now[-1][0] == 4955
    assert engine.book(PAIR).depth == 10
    assert engine.stats()["kraken:XBT/USD"]["checksums_verified"] == 1


def test_deeper_channel_keeps_more_levels() -> None:
    engine = _core.Engine("kraken_v1")
    asks = [f"0.{5005 + 5 * i:05d}" for i in range(12)]
    bids = [f"0.0{5000 - 5 * i}" for i in range(12)]
    engine.feed(snapshot_frame(asks, bids, channel="book-25"), TS)
    expected = Book(asks, bids, depth=25)
    new = [["0.05003", "0.00000100", "1582905488.100000"]]
    crc = expected.update(new, [])
    engine.feed(message({"a": new, "c": str(crc)}, channel="book-25"), TS + 1)
    bids_now, asks_now = engine.top(PAIR, 50)
    assert (len(bids_now), len(asks_now)) == (12, 13)
    assert engine.book(PAIR).depth == 25
    assert engine.stats()["kraken:XBT/USD"]["checksums_verified"] == 1


# --- trade, ticker, spread, ohlc ------------------------------------------------------


def test_trades_side_is_the_taker_side() -> None:
    engine = _core.Engine("kraken_v1")
    engine.feed(
        message(
            [
                ["5541.20000", "0.15850568", "1534614057.321597", "s", "l", ""],
                ["6060.00000", "0.02455000", "1534614057.324998", "b", "m", ""],
            ],
            channel="trade",
        ),
        TS,
    )
    trades = take_rows(engine)["trades"]
    assert [t["aggressor"] for t in trades] == ["sell", "buy"]
    assert [t["ts_event"] for t in trades] == [1_534_614_057_321_597_000, 1_534_614_057_324_998_000]
    assert [(t["price_raw"], t["size_raw"]) for t in trades] == [
        (554_120_000, 15_850_568),
        (606_000_000, 2_455_000),
    ]
    assert {(t["price_precision"], t["size_precision"]) for t in trades} == {(5, 8)}
    # v1 trades have no id.
    assert {t["trade_id"] for t in trades} == {None}
    assert {t["ts_recv"] for t in trades} == {TS}
    assert trades[0]["price"] == pytest.approx(5541.2)
    assert engine.stats()["kraken:XBT/USD"]["trades"] == 2


def test_ticker_becomes_a_quote_of_lot_volumes() -> None:
    engine = _core.Engine("kraken_v1")
    ticker = {
        "a": ["355.24000000", 27, "27.19106411"],
        "b": ["354.32000000", 6, "6.87748868"],
        "c": ["355.23000000", "1.20454360"],
        "v": ["17858.85261084", "33470.74135600"],
        "p": ["355.33503706", "349.16721624"],
        "t": [6481, 10283],
        "l": ["340.88000000", "333.87000000"],
        "h": ["368.00000000", "368.00000000"],
        "o": ["340.88000000", "335.21000000"],
    }
    engine.feed(message(ticker, channel="ticker", pair="XMR/USD"), TS)
    (quote,) = take_rows(engine)["quotes"]
    assert (quote["bid_price_raw"], quote["bid_size_raw"]) == (35_432_000_000, 687_748_868)
    assert (quote["ask_price_raw"], quote["ask_size_raw"]) == (35_524_000_000, 2_719_106_411)
    assert quote["ts_event"] is None
    assert quote["ts_recv"] == TS
    assert quote["instrument"] == "XMR-USD@kraken"


def test_spread_becomes_a_quote_with_its_time() -> None:
    engine = _core.Engine("kraken_v1")
    spread = ["5698.40000", "5700.00000", "1542057299.545897", "1.01234567", "0.98765432"]
    engine.feed(message(spread, channel="spread"), TS)
    (quote,) = take_rows(engine)["quotes"]
    assert quote["ts_event"] == 1_542_057_299_545_897_000
    assert (quote["bid_price_raw"], quote["bid_size_raw"]) == (569_840_000, 101_234_567)
    assert (quote["ask_price_raw"], quote["ask_size_raw"]) == (570_000_000, 98_765_432)


def test_ohlc_bar_starts_one_interval_before_its_end_time() -> None:
    engine = _core.Engine("kraken_v1")
    candle = [
        "1542057314.748456",
        "1542057600.000000",
        "3586.70000",
        "3586.80000",
        "3586.60000",
        "3586.60000",
        "3586.68894",
        "0.03373000",
        2,
    ]
    engine.feed(message(candle, channel="ohlc-5"), TS)
    (bar,) = take_rows(engine)["bars"]
    assert bar["interval"] == 300_000_000_000
    assert bar["ts_event"] == 1_542_057_300_000_000_000
    assert [bar[f"{k}_raw"] for k in ("open", "high", "low", "close", "volume")] == [
        358_670_000,
        358_680_000,
        358_660_000,
        358_660_000,
        3_373_000,
    ]
    assert bar["closed"] is False


# --- events ---------------------------------------------------------------------------


def test_event_messages_become_statuses() -> None:
    engine = _core.Engine("kraken_v1")
    frames = [
        {"event": "heartbeat"},
        {"event": "pong", "reqid": 42},
        {
            "connectionID": 18239578009413566319,
            "event": "systemStatus",
            "status": "online",
            "version": "1.8.3",
        },
        {
            "channelID": 336,
            "channelName": "book-10",
            "event": "subscriptionStatus",
            "pair": PAIR,
            "status": "subscribed",
            "subscription": {"depth": 10, "name": "book"},
        },
        {
            "errorMessage": "Subscription depth not supported",
            "event": "subscriptionStatus",
            "pair": PAIR,
            "status": "error",
            "subscription": {"depth": 42, "name": "book"},
        },
        {"errorMessage": "Malformed request", "event": "error"},
    ]
    for i, f in enumerate(frames):
        engine.feed(json.dumps(f).encode(), TS + i)
    rows = take_rows(engine)
    assert [(s["kind"], s["message"], s["symbol"]) for s in rows["statuses"]] == [
        ("heartbeat", "", None),
        ("heartbeat", "pong", None),
        ("venue", "online", None),
        ("subscribed", "subscribed", PAIR),
        ("venue_error", "subscriptionStatus: Subscription depth not supported", PAIR),
        ("venue_error", "error: Malformed request", None),
    ]
    assert [s["ts_recv"] for s in rows["statuses"]] == [TS + i for i in range(6)]
    assert {s["ts_event"] for s in rows["statuses"]} == {None}
    assert engine.rejects == 0


# --- malformed input ------------------------------------------------------------------


def bad_update(asks: list[list[str]], crc: str = "1") -> bytes:
    return message({"a": asks, "c": crc})


BAD_FRAMES = [
    (b"not json", "kraken v1: not a JSON array or object"),
    (b"[336, {}]", "kraken v1: short data message"),
    (b'{"event": 7}', "kraken v1: bad event"),
    (b'{"event": "bogus"}', 'kraken v1: unknown event "bogus"'),
    (json.dumps([336, {"a": []}, "book-10", 7]).encode(), "kraken v1: pair is not a string"),
    (message([], channel="fills"), 'kraken v1: unknown channel "fills"'),
    (message({"c": "1"}), "kraken v1 book: message without levels"),
    (bad_update([["0.05005", "0.00000100", "1582905488.1"]], crc="x1"), 'bad checksum "x1"'),
    (bad_update([["0.05005", "0.00000100", "noon"]]), 'bad level time "noon"'),
    (bad_update([["0.05005", "0.00000100"]]), "kraken v1 book:"),
    (
        bad_update([["0.050051", "0.00000100", "1582905488.1"]]),
        'bad price "0.050051": decimal has 6 significant decimals, instrument precision is 5',
    ),
    (
        # The first level is fine, the second is not: neither may reach the book.
        bad_update([["0.05005", "0.00000100", "1582905488.1"], ["0.05010", "lots", "1.0"]]),
        'bad size "lots"',
    ),
    (message([["5541,2", "0.1", "1.0", "s", "l", ""]], channel="trade"), 'bad price "5541,2"'),
    (message([["5541.20000", "0.1", "1.0"]], channel="trade"), "kraken v1 trade:"),
    (message({"a": ["1.0", 1]}, channel="ticker"), "kraken v1 ticker:"),
    (message(["1", "2", "x", "1", "1"], channel="spread"), "kraken v1 spread: bad time"),
    (message(["1", "x"] + ["1.0"] * 6 + [2], channel="ohlc-5"), "kraken v1 ohlc: bad end time"),
]


@pytest.mark.parametrize(("data", "reason"), BAD_FRAMES, ids=[r for _, r in BAD_FRAMES])
def test_a_bad_frame_between_good_ones_is_rejected_alone(data: bytes, reason: str) -> None:
    engine, expected = synced_engine()
    engine.feed(data, TS + 1)
    bids = [["0.05000", "0.00000600", "1582905488.100000"]]
    engine.feed(update_frame([], bids, expected.update([], bids)), TS + 2)
    rows = take_rows(engine)
    (reject,) = rows["rejects"]
    assert reason in reject["reason"]
    assert (reject["raw"], reject["ts_recv"], reject["venue"]) == (data, TS + 1, "kraken")
    assert engine.rejects == 1
    assert engine.frames == 3
    # The bad frame left no rows and no trace in the book; the good update verified.
    assert [d["ts_recv"] for d in rows["book_deltas"]] == [TS] * 21 + [TS + 2]
    assert rows["trades"] == rows["quotes"] == rows["bars"] == []
    assert engine.top(PAIR, 20) == expected.mantissas()
    stats = engine.stats()["kraken:XBT/USD"]
    assert (stats["checksums_verified"], stats["checksums_failed"]) == (1, 0)
    assert engine.out_of_sync() == []


# --- hardening: malformed values --------------------------------------------------------


def test_a_negative_price_never_enters_the_book() -> None:
    engine = _core.Engine("kraken_v1")
    engine.feed(snapshot_frame(["354.20000000"], ["354.10000000"]), TS)
    update = message({"b": [["-354.15000000", "5.00000000", "1618678133.365913"]]})
    engine.feed(update, TS + 1)
    assert engine.rejects == 1
    assert [p for p, _ in engine.top(PAIR)[0]] == [35_410_000_000]
    engine.allow_negative_prices(PAIR)
    engine.feed(update, TS + 2)
    assert engine.rejects == 1
    assert [p for p, _ in engine.top(PAIR)[0]] == [35_410_000_000, -35_415_000_000]


def test_zero_volume_trade_and_negative_volume_level_are_rejects() -> None:
    engine = _core.Engine("kraken_v1")
    trade = [["354.11000000", "0.00000000", "1618678142.557535", "b", "l", ""]]
    engine.feed(message(trade, channel="trade"), TS)
    engine.feed(message({"b": [["354.1", "-1.0", "1618678133.365913"]]}), TS + 1)
    rows = take_rows(engine)
    assert (len(rows["trades"]), len(rows["book_deltas"]), len(rows["rejects"])) == (0, 0, 2)
    assert engine.instruments() == [], "a rejected frame leaves no instrument behind"
