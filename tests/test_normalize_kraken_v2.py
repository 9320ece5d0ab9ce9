"""Kraken WebSocket v2 normalizer, message by message, through ``_core.Engine("kraken")``.

Message shapes follow docs.kraken.com (WebSocket v2: book, trade, ticker, ohlc, instrument,
status, heartbeat, subscribe/unsubscribe/ping acknowledgements; the v2 book checksum guide).
Prices and quantities are JSON numbers whose text matters ("pushed onto the wire containing
full precision"), so frames are written as text here, never through ``json.dumps`` of floats.
Expected checksums are computed here from the guide's algorithm.
"""

from __future__ import annotations

import binascii
from decimal import Decimal
from pathlib import Path

import pytest

from alphapulse import _core
from tests.conftest import statuses, take_rows

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kraken_v2"
TS = 1_700_000_000_000_000_000
PAIR = "BTC/USD"
DOCS_CHECKSUM = 974_947_235
# The book fixture's "timestamp": 2023-10-06T17:35:55.440295Z.
BOOK_TS_NS = 1_696_613_755_440_295_000

Level = tuple[str, str]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def instrument_frame(symbol: str, price_precision: int, qty_precision: int) -> bytes:
    base, quote = symbol.split("/")
    return (
        '{"channel":"instrument","type":"snapshot","data":{"assets":[],"pairs":[{'
        f'"symbol":"{symbol}","base":"{base}","quote":"{quote}","status":"online",'
        f'"qty_precision":{qty_precision},"price_precision":{price_precision}'
        "}]}}"
    ).encode()


def levels(pairs: list[Level]) -> str:
    return "[" + ",".join(f'{{"price":{p},"qty":{q}}}' for p, q in pairs) + "]"


def book_frame(
    kind: str,
    bids: list[Level],
    asks: list[Level],
    crc: int | None = None,
    symbol: str = PAIR,
    timestamp: str = "2023-10-06T17:35:56.000001Z",
) -> bytes:
    checksum = "" if crc is None else f',"checksum":{crc}'
    return (
        f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{symbol}",'
        f'"bids":{levels(bids)},"asks":{levels(asks)}{checksum},"timestamp":"{timestamp}"}}]}}'
    ).encode()


class Book:
    """The reference book: Decimal levels, trimmed to ``depth``, checksummed as in the guide."""

    def __init__(self, price_precision: int, qty_precision: int, depth: int = 10) -> None:
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.pp, self.qp, self.depth = price_precision, qty_precision, depth

    def update(self, bids: list[Level], asks: list[Level]) -> int:
        for side, new, desc in ((self.bids, bids, True), (self.asks, asks, False)):
            for p, q in new:
                if Decimal(q) == 0:
                    side.pop(Decimal(p), None)
                else:
                    side[Decimal(p)] = Decimal(q)
            keep = sorted(side, reverse=desc)[: self.depth]
            for price in list(side):
                if price not in keep:
                    del side[price]
        return self.checksum()

    def checksum(self) -> int:
        def digits(d: Decimal, precision: int) -> str:
            return f"{d:.{precision}f}".replace(".", "").lstrip("0")

        asks = sorted(self.asks.items())[:10]
        bids = sorted(self.bids.items(), reverse=True)[:10]
        text = "".join(digits(p, self.pp) + digits(q, self.qp) for p, q in asks + bids)
        return binascii.crc32(text.encode())

    def mantissas(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        def fixed(side: dict[Decimal, Decimal], desc: bool) -> list[tuple[int, int]]:
            return [
                (int(p.scaleb(self.pp)), int(side[p].scaleb(self.qp)))
                for p in sorted(side, reverse=desc)
            ]

        return fixed(self.bids, True), fixed(self.asks, False)


DOCS_BIDS = [(f"0.0{p}", "0.00000500") for p in (5000, 4995, 4990, 4980, 4975, 4970, 4965, 4960)]
DOCS_BIDS += [("0.04955", "0.00000500"), ("0.04950", "0.00000500")]
DOCS_ASKS = [(f"0.{5005 + 5 * i:05d}", "0.00000500") for i in range(10)]


def docs_engine() -> tuple[_core.Engine, Book]:
    """Instrument channel, then the guide's book: the recommended order."""
    engine = _core.Engine("kraken")
    engine.feed(fixture("instrument_snapshot.json"), TS - 1)
    engine.feed(fixture("book_snapshot_docs_checksum.json"), TS)
    book = Book(5, 8)
    book.update(DOCS_BIDS, DOCS_ASKS)
    return engine, book


# --- book and checksum ----------------------------------------------------------------


def test_reference_book_reproduces_the_guide_checksum() -> None:
    book = Book(5, 8)
    assert book.update(DOCS_BIDS, DOCS_ASKS) == DOCS_CHECKSUM


def test_docs_checksum_verifies_with_the_instrument_channel() -> None:
    engine, expected = docs_engine()
    assert engine.instruments() == [(PAIR, "BTC-USD@kraken", 5, 8)]
    rows = take_rows(engine)
    deltas = rows["book_deltas"]
    assert len(deltas) == 21
    assert (deltas[0]["action"], deltas[0]["flags"]) == ("clear", 1)
    assert [d["side"] for d in deltas[1:]] == ["bid"] * 10 + ["ask"] * 10
    assert [d["flags"] for d in deltas[1:]] == [1] * 19 + [3]
    assert [d["price_raw"] for d in deltas[1:4]] == [5000, 4995, 4990]
    assert {d["size_raw"] for d in deltas[1:]} == {500}
    assert {(d["price_precision"], d["size_precision"]) for d in deltas} == {(5, 8)}
    assert {d["ts_event"] for d in deltas} == {BOOK_TS_NS}
    assert {d["ts_recv"] for d in deltas} == {TS}
    assert deltas[1]["price"] == pytest.approx(0.05)
    assert engine.top(PAIR, 20) == expected.mantissas()
    assert [s["symbol"] for s in statuses(rows, "synced")] == [PAIR]
    stats = engine.stats()["kraken:BTC/USD"]
    assert (stats["checksums_verified"], stats["checksums_failed"]) == (1, 0)
    assert stats["snapshots"] == 1


def test_docs_checksum_verifies_without_the_instrument_channel() -> None:
    engine = _core.Engine("kraken")
    engine.feed(fixture("book_snapshot_docs_checksum.json"), TS)
    assert engine.instruments() == [(PAIR, "BTC-USD@kraken", 5, 8)]
    stats = engine.stats()["kraken:BTC/USD"]
    assert (stats["checksums_verified"], stats["checksums_failed"]) == (1, 0)


def test_without_the_instrument_channel_the_snapshot_sets_precision() -> None:
    engine = _core.Engine("kraken")
    bids = [("65000.1", "0.12345678"), ("64999.9", "1.5")]
    asks = [("65000.25", "0.1")]
    engine.feed(book_frame("snapshot", bids, asks), TS)
    # The widest value of each kind fixes the precision, so every level is exact.
    assert engine.instruments() == [(PAIR, "BTC-USD@kraken", 2, 8)]
    assert engine.top(PAIR) == (
        [(6_500_010, 12_345_678), (6_499_990, 150_000_000)],
        [(6_500_025, 10_000_000)],
    )
    assert engine.rejects == 0


def test_update_is_applied_trimmed_to_depth_and_verified() -> None:
    engine, expected = docs_engine()
    take_rows(engine)
    bids = [("0.04985", "0.00000700"), ("0.05001", "0.00000100")]
    asks = [("0.05005", "0"), ("0.05003", "0.00000200")]
    crc = expected.update(bids, asks)
    engine.feed(book_frame("update", bids, asks, crc), TS + 1)
    rows = take_rows(engine)
    deltas = rows["book_deltas"]
    assert [(d["side"], d["price_raw"], d["size_raw"], d["flags"]) for d in deltas] == [
        ("bid", 4985, 700, 0),
        ("bid", 5001, 100, 0),
        ("ask", 5005, 0, 0),
        ("ask", 5003, 200, 2),
    ]
    assert {d["ts_event"] for d in deltas} == {1_696_613_756_000_001_000}
    bids_now, asks_now = engine.top(PAIR, 50)
    # Two bids were inserted into a 10-deep book: the two worst are gone.
    assert len(bids_now) == 10 and bids_now[-1][0] == 4960
    assert len(asks_now) == 10
    assert engine.top(PAIR, 50) == expected.mantissas()
    stats = engine.stats()["kraken:BTC/USD"]
    assert (stats["checksums_verified"], stats["checksums_failed"]) == (2, 0)
    assert stats["book_updates"] == 1


def test_wrong_checksum_marks_the_book_out_of_sync_until_a_snapshot() -> None:
    engine, expected = docs_engine()
    bids = [("0.05000", "0.00000600")]
    good = expected.update(bids, [])
    engine.feed(book_frame("update", bids, [], good ^ 1), TS + 1)
    rows = take_rows(engine)
    (failed,) = statuses(rows, "checksum_failed")
    assert failed["message"] == f"expected {good ^ 1}, computed {good}"
    assert failed["symbol"] == PAIR
    assert [s["symbol"] for s in statuses(rows, "resync_needed")] == [PAIR]
    assert engine.out_of_sync() == [PAIR]

    more = [("0.05000", "0.00000700")]
    engine.feed(book_frame("update", more, [], expected.update(more, [])), TS + 2)
    stats = engine.stats()["kraken:BTC/USD"]
    assert (stats["checksums_verified"], stats["checksums_failed"]) == (1, 1)

    engine.feed(fixture("book_snapshot_docs_checksum.json"), TS + 3)
    assert engine.out_of_sync() == []
    stats = engine.stats()["kraken:BTC/USD"]
    assert (stats["checksums_verified"], stats["checksums_failed"]) == (2, 1)


def test_numbers_with_exponents_are_read_exactly() -> None:
    engine = _core.Engine("kraken")
    engine.feed(instrument_frame(PAIR, 5, 8), TS - 1)
    bids = [("1e-05", "5e-06"), ("5E-5", "2.5e3")]
    asks = [("1.5E-4", "1E-8")]
    expected = Book(5, 8)
    crc = expected.update(bids, asks)
    engine.feed(book_frame("snapshot", bids, asks, crc), TS)
    assert engine.top(PAIR) == ([(5, 250_000_000_000), (1, 500)], [(15, 1)])
    assert engine.top(PAIR) == expected.mantissas()
    assert engine.stats()["kraken:BTC/USD"]["checksums_verified"] == 1
    trade = (
        '{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy",'
        '"price":2e-05,"qty":1.25E+2,"ord_type":"limit","trade_id":1,'
        '"timestamp":"2023-09-25T07:49:37.708706Z"}]}'
    )
    engine.feed(trade.encode(), TS + 1)
    trades = take_rows(engine)["trades"]
    assert [(t["price_raw"], t["size_raw"]) for t in trades] == [(2, 12_500_000_000)]
    assert engine.rejects == 0


# --- subscription acknowledgements ----------------------------------------------------


def wide_book(n: int) -> tuple[list[Level], list[Level]]:
    bids = [(f"{1000 - i}.5", "1.00000000") for i in range(n)]
    asks = [(f"{1001 + i}.5", "2.00000000") for i in range(n)]
    return bids, asks


def test_subscribe_ack_depth_sets_the_trimming_depth() -> None:
    engine = _core.Engine("kraken")
    engine.feed(instrument_frame(PAIR, 1, 8), TS - 1)
    ack = (
        b'{"method":"subscribe","result":{"channel":"book","depth":25,"snapshot":true,'
        b'"symbol":"BTC/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z",'
        b'"time_out":"2023-09-25T09:04:31.742648Z"}'
    )
    engine.feed(ack, TS)
    engine.feed(book_frame("snapshot", *wide_book(30)), TS + 1)
    bids, asks = engine.top(PAIR, 100)
    assert (len(bids), len(asks)) == (25, 25)
    assert (bids[-1][0], asks[-1][0]) == (9_765, 10_255)
    assert engine.book(PAIR).depth == 25
    rows = take_rows(engine)
    (subscribed,) = statuses(rows, "subscribed")
    assert (subscribed["message"], subscribed["symbol"], subscribed["ts_recv"]) == (
        "subscribe book",
        PAIR,
        TS,
    )


def test_without_an_ack_the_book_keeps_ten_levels() -> None:
    engine = _core.Engine("kraken")
    engine.feed(instrument_frame(PAIR, 1, 8), TS - 1)
    engine.feed(book_frame("snapshot", *wide_book(30)), TS)
    bids, asks = engine.top(PAIR, 100)
    assert (len(bids), len(asks)) == (10, 10)
    assert engine.book(PAIR).depth == 10


def test_failed_request_is_a_venue_error() -> None:
    engine = _core.Engine("kraken")
    engine.feed(
        b'{"error":"Currency pair not supported","method":"subscribe","success":false,'
        b'"symbol":"BTC/ABC","time_in":"2023-09-25T09:04:31.742599Z",'
        b'"time_out":"2023-09-25T09:04:31.742648Z"}',
        TS,
    )
    (error,) = take_rows(engine)["statuses"]
    assert (error["kind"], error["message"]) == (
        "venue_error",
        "subscribe: Currency pair not supported",
    )
    assert (error["instrument"], error["ts_recv"]) == (None, TS)
    assert engine.instruments() == []
    assert engine.rejects == 0


def test_other_method_responses_are_venue_statuses() -> None:
    engine = _core.Engine("kraken")
    engine.feed(
        b'{"method":"unsubscribe","result":{"channel":"ticker","symbol":"ALGO/USD"},'
        b'"success":true,"time_in":"2023-09-25T09:04:31.742599Z",'
        b'"time_out":"2023-09-25T09:04:31.742648Z"}',
        TS,
    )
    engine.feed(
        b'{"method":"pong","req_id":101,"time_in":"2023-09-24T14:10:23.799685Z",'
        b'"time_out":"2023-09-24T14:10:23.799703Z"}',
        TS + 1,
    )
    rows = take_rows(engine)
    assert [(s["kind"], s["message"], s["symbol"]) for s in rows["statuses"]] == [
        ("venue", "unsubscribe ticker", "ALGO/USD"),
        ("venue", "pong", None),
    ]


# --- trade, ticker, ohlc, heartbeat, status -------------------------------------------


def test_trades_side_is_the_taker_side() -> None:
    engine = _core.Engine("kraken")
    engine.feed(instrument_frame("MATIC/USD", 4, 8), TS - 1)
    engine.feed(
        b'{"channel":"trade","type":"update","data":['
        b'{"symbol":"MATIC/USD","side":"sell","price":0.5117,"qty":40.0,"ord_type":"market",'
        b'"trade_id":4665906,"timestamp":"2023-09-25T07:49:37.708706Z"},'
        b'{"symbol":"MATIC/USD","side":"buy","price":0.5118,"qty":12.33409375,"ord_type":"limit",'
        b'"trade_id":4665907,"timestamp":"2023-09-25T07:49:37.708706Z"}]}',
        TS,
    )
    trades = take_rows(engine)["trades"]
    assert [t["aggressor"] for t in trades] == ["sell", "buy"]
    assert [t["trade_id"] for t in trades] == [4_665_906, 4_665_907]
    assert [(t["price_raw"], t["size_raw"]) for t in trades] == [
        (5117, 4_000_000_000),
        (5118, 1_233_409_375),
    ]
    assert {t["ts_event"] for t in trades} == {1_695_628_177_708_706_000}
    assert {t["ts_recv"] for t in trades} == {TS}
    assert {t["instrument"] for t in trades} == {"MATIC-USD@kraken"}
    assert engine.stats()["kraken:MATIC/USD"]["trades"] == 2


def test_ticker_becomes_a_quote() -> None:
    engine = _core.Engine("kraken")
    engine.feed(instrument_frame("ALGO/USD", 5, 8), TS - 1)
    engine.feed(
        b'{"channel":"ticker","type":"snapshot","data":[{"symbol":"ALGO/USD","bid":0.10025,'
        b'"bid_qty":740.0,"ask":0.10036,"ask_qty":1361.44813783,"last":0.10035,'
        b'"volume":997038.98383185,"vwap":0.10148,"low":0.09979,"high":0.10285,'
        b'"change":-0.00017,"change_pct":-0.17}]}',
        TS,
    )
    (quote,) = take_rows(engine)["quotes"]
    assert (quote["bid_price_raw"], quote["bid_size_raw"]) == (10_025, 74_000_000_000)
    assert (quote["ask_price_raw"], quote["ask_size_raw"]) == (10_036, 136_144_813_783)
    # This ticker has no timestamp field: no venue time.
    assert (quote["ts_event"], quote["ts_recv"]) == (None, TS)
    assert engine.stats()["kraken:ALGO/USD"]["quotes"] == 1


def test_docs_ticker_as_the_first_message_of_a_pair() -> None:
    engine = _core.Engine("kraken")
    engine.feed(
        b'{"channel":"ticker","type":"snapshot","data":[{"symbol":"ALGO/USD","bid":0.10025,'
        b'"bid_qty":740.0,"ask":0.10036,"ask_qty":1361.44813783,"last":0.10035,'
        b'"volume":997038.98383185,"vwap":0.10148,"low":0.09979,"high":0.10285,'
        b'"change":-0.00017,"change_pct":-0.17}]}',
        TS,
    )
    assert engine.rejects == 0
    (quote,) = take_rows(engine)["quotes"]
    assert quote["ask_size"] == pytest.approx(1361.44813783)


def test_ohlc_becomes_a_bar() -> None:
    engine = _core.Engine("kraken")
    engine.feed(instrument_frame("MATIC/USD", 4, 8), TS - 1)
    engine.feed(
        b'{"channel":"ohlc","type":"update","timestamp":"2023-10-04T16:26:30.524394914Z",'
        b'"data":[{"symbol":"MATIC/USD","open":0.5624,"high":0.5628,"low":0.5622,'
        b'"close":0.5627,"trades":12,"volume":30927.68066226,"vwap":0.5626,'
        b'"interval_begin":"2023-10-04T16:25:00.000000000Z","interval":5,'
        b'"timestamp":"2023-10-04T16:30:00.000000Z"}]}',
        TS,
    )
    (bar,) = take_rows(engine)["bars"]
    assert bar["ts_event"] == 1_696_436_700_000_000_000
    assert bar["interval"] == 300_000_000_000
    assert [bar[f"{k}_raw"] for k in ("open", "high", "low", "close", "volume")] == [
        5624,
        5628,
        5622,
        5627,
        3_092_768_066_226,
    ]
    assert bar["closed"] is False


def test_heartbeat_and_status_channels() -> None:
    engine = _core.Engine("kraken")
    engine.feed(b'{"channel":"heartbeat"}', TS)
    status = (
        b'{"channel":"status","data":[{"api_version":"v2","connection_id":12393906104898154338,'
        b'"system":"online","version":"2.0.0"}],"type":"update"}'
    )
    engine.feed(status, TS + 1)
    rows = take_rows(engine)
    assert [(s["kind"], s["ts_recv"], s["instrument"]) for s in rows["statuses"]] == [
        ("heartbeat", TS, None),
        ("venue", TS + 1, None),
    ]
    assert '"system":"online"' in rows["statuses"][1]["message"]
    assert engine.rejects == 0


# --- malformed input ------------------------------------------------------------------


BAD_FRAMES = [
    (b"not json", "kraken v2: not a message"),
    (b'{"type":"update","data":[]}', "kraken v2: message without channel"),
    (b'{"channel":"book","type":"update"}', "kraken v2 book: no data"),
    (b'{"channel":"status","type":"update"}', "kraken v2 status: no data"),
    (b'{"channel":"level3","type":"update","data":[]}', 'kraken v2: unknown channel "level3"'),
    (b'{"channel":"instrument","type":"snapshot","data":5}', "kraken v2 instrument:"),
    (b'{"channel":"book","type":"update","data":[{"bids":[]}]}', "kraken v2 book:"),
    (book_frame("update", [('"0.05000"', "0.00000100")], []), "bad price"),
    (
        book_frame("update", [("0.050001", "0.00000100")], []),
        'bad price "0.050001": decimal has 6 significant decimals, instrument precision is 5',
    ),
    (
        # The first level is fine, the second is not: neither may reach the book.
        book_frame("update", [("0.05000", "0.00000100"), ("0.04995", "0.000000001")], []),
        'bad qty "0.000000001"',
    ),
    (
        b'{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy",'
        b'"price":0.05,"qty":1,"trade_id":1,"timestamp":"yesterday"}]}',
        'kraken v2 trade: bad timestamp "yesterday"',
    ),
    (b'{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD"}]}', "kraken v2 ticker:"),
    (
        b'{"channel":"ohlc","type":"update","data":[{"symbol":"BTC/USD","open":1,"high":1,'
        b'"low":1,"close":1,"volume":1,"interval_begin":"soon","interval":5}]}',
        'kraken v2 ohlc: bad interval_begin "soon"',
    ),
]


@pytest.mark.parametrize(("data", "reason"), BAD_FRAMES, ids=[r for _, r in BAD_FRAMES])
def test_a_bad_frame_between_good_ones_is_rejected_alone(data: bytes, reason: str) -> None:
    engine, expected = docs_engine()
    engine.feed(data, TS + 1)
    bids = [("0.05000", "0.00000600")]
    engine.feed(book_frame("update", bids, [], expected.update(bids, [])), TS + 2)
    rows = take_rows(engine)
    (reject,) = rows["rejects"]
    assert reason in reject["reason"]
    assert (reject["raw"], reject["ts_recv"], reject["venue"]) == (data, TS + 1, "kraken")
    assert engine.rejects == 1
    assert engine.frames == 4
    assert [d["ts_recv"] for d in rows["book_deltas"]] == [TS] * 21 + [TS + 2]
    assert rows["trades"] == rows["quotes"] == rows["bars"] == []
    assert engine.top(PAIR, 20) == expected.mantissas()
    stats = engine.stats()["kraken:BTC/USD"]
    assert (stats["checksums_verified"], stats["checksums_failed"]) == (2, 0)
    assert engine.instruments() == [(PAIR, "BTC-USD@kraken", 5, 8)]


# --- hardening: malformed values, times and venue errors ------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        book_frame("update", [("-0.5657", "1.5")], []),
        book_frame("update", [("0.5657", "-1.5")], []),
        book_frame("update", [("0.5657", "1.5")], [], timestamp="2023-10-06"),
    ],
    ids=["negative price", "negative qty", "bad timestamp"],
)
def test_malformed_book_updates_are_rejects(bad: bytes) -> None:
    engine = _core.Engine("kraken")
    engine.feed(instrument_frame(PAIR, 4, 8), TS - 1)
    engine.feed(bad, TS)
    rows = take_rows(engine)
    assert (len(rows["book_deltas"]), len(rows["rejects"])) == (0, 1)


def test_zero_qty_trade_is_a_reject() -> None:
    engine = _core.Engine("kraken")
    engine.feed(
        b'{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"sell",'
        b'"price":65000.1,"qty":0,"ord_type":"market","trade_id":1,'
        b'"timestamp":"2023-09-25T07:49:37.708706Z"}]}',
        TS,
    )
    assert engine.rejects == 1
    assert engine.instruments() == []


def test_invalid_book_depth_is_a_venue_error() -> None:
    engine = _core.Engine("kraken")
    engine.feed(
        b'{"error":"Invalid depth","method":"subscribe","success":false,'
        b'"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}',
        TS,
    )
    (error,) = take_rows(engine)["statuses"]
    assert (error["kind"], error["message"]) == ("venue_error", "subscribe: Invalid depth")
