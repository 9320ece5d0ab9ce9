"""Binance spot WebSocket normalizer, message by message, through ``_core.Engine("binance")``.

Message shapes follow developers.binance.com (spot WebSocket streams: trade, aggTrade,
kline, bookTicker, depthUpdate, raw ``/ws`` and combined ``/stream`` forms, live
subscribe responses; REST ``/api/v3/depth`` and ``/api/v3/exchangeInfo``), with every
decimal written at 8 places as the exchange does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from alphapulse import _core
from tests.conftest import statuses, take_rows

TS = 1_700_000_000_000_000_000
DEPTH_URL = "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000"
E_MS = 1_672_515_782_136

Levels = list[list[str]]


def combined(stream: str, payload: dict[str, Any]) -> bytes:
    return json.dumps({"stream": stream, "data": payload}, separators=(",", ":")).encode()


def raw(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def px(value: float) -> str:
    return f"{value:.8f}"


def diff(first: int, last: int, bids: Levels | None = None, asks: Levels | None = None) -> bytes:
    payload = {
        "e": "depthUpdate",
        "E": E_MS,
        "s": "BTCUSDT",
        "U": first,
        "u": last,
        "b": bids or [],
        "a": asks or [],
    }
    return combined("btcusdt@depth@100ms", payload)


def depth_body(last_update_id: int, bids: Levels, asks: Levels) -> bytes:
    return json.dumps({"lastUpdateId": last_update_id, "bids": bids, "asks": asks}).encode()


def mantissa(value: float) -> int:
    return _core.parse_fixed(px(value), 8)


def book(engine: _core.Engine) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """The BTCUSDT book as floats, best first, for readable assertions."""
    bids, asks = engine.top("BTCUSDT", 100)
    return (
        [(p / 1e8, s / 1e8) for p, s in bids],
        [(p / 1e8, s / 1e8) for p, s in asks],
    )


TRADE = {
    "e": "trade",
    "E": E_MS,
    "s": "BTCUSDT",
    "t": 12345,
    "p": "16540.12000000",
    "q": "0.00150000",
    "T": E_MS - 1,
    "m": True,
    "M": True,
}


# --- trades ---------------------------------------------------------------------------


def test_trade_in_combined_and_raw_stream_forms() -> None:
    engine, other = _core.Engine("binance"), _core.Engine("binance")
    engine.feed(combined("btcusdt@trade", TRADE), TS)
    other.feed(raw(TRADE), TS + 1)
    (first,) = take_rows(engine)["trades"]
    (second,) = take_rows(other)["trades"]
    assert first | {"ts_recv": 0} == second | {"ts_recv": 0}
    assert (first["ts_recv"], second["ts_recv"]) == (TS, TS + 1)
    assert first["trade_id"] == 12345
    # m: the buyer was the maker, so the seller was the aggressor.
    assert first["aggressor"] == "sell"
    # ts_event is the trade time T, in ms.
    assert first["ts_event"] == (E_MS - 1) * 1_000_000
    assert (first["price_raw"], first["size_raw"]) == (1_654_012_000_000, 150_000)
    assert (first["price_precision"], first["size_precision"]) == (8, 8)
    assert first["price"] == pytest.approx(16540.12)
    assert (first["venue"], first["instrument"], first["symbol"]) == (
        "binance",
        "BTC-USDT@binance",
        "BTCUSDT",
    )
    assert engine.stats()["binance:BTCUSDT"]["trades"] == 1
    # The same trade again is a duplicate, dropped and counted.
    engine.feed(raw(TRADE), TS + 2)
    assert take_rows(engine)["trades"] == []
    assert engine.stats()["binance:BTCUSDT"]["duplicates"] == 1


def test_agg_trade_id_comes_from_field_a() -> None:
    engine = _core.Engine("binance")
    agg = {
        "e": "aggTrade",
        "E": E_MS,
        "s": "BNBBTC",
        "a": 26129,
        "p": "0.01633102",
        "q": "4.70443515",
        "f": 27781,
        "l": 27781,
        "T": E_MS,
        "m": False,
        "M": True,
    }
    engine.feed(combined("bnbbtc@aggTrade", agg), TS)
    (trade,) = take_rows(engine)["trades"]
    assert trade["trade_id"] == 26129
    assert trade["aggressor"] == "buy"
    assert (trade["price_raw"], trade["size_raw"]) == (1_633_102, 470_443_515)
    assert trade["ts_event"] == E_MS * 1_000_000
    assert trade["instrument"] == "BNB-BTC@binance"


# --- kline, bookTicker ----------------------------------------------------------------


def kline(start_ms: int, close_ms: int, interval: str, closed: bool) -> dict[str, Any]:
    return {
        "e": "kline",
        "E": E_MS,
        "s": "BNBBTC",
        "k": {
            "t": start_ms,
            "T": close_ms,
            "s": "BNBBTC",
            "i": interval,
            "f": 100,
            "L": 200,
            "o": "0.00100000",
            "c": "0.00200000",
            "h": "0.00250000",
            "l": "0.00150000",
            "v": "1000.00000000",
            "n": 100,
            "x": closed,
            "q": "1.00000000",
            "V": "500.00000000",
            "Q": "0.50000000",
            "B": "123456",
        },
    }


def test_kline_interval_and_closed_flag() -> None:
    engine = _core.Engine("binance")
    start = 1_672_515_780_000
    engine.feed(combined("bnbbtc@kline_1m", kline(start, start + 59_999, "1m", False)), TS)
    engine.feed(raw(kline(start, start + 59_999, "1m", True)), TS + 1)
    engine.feed(raw(kline(1_672_513_200_000, 1_672_516_799_999, "1h", True)), TS + 2)
    bars = take_rows(engine)["bars"]
    assert [b["closed"] for b in bars] == [False, True, True]
    assert [b["interval"] for b in bars] == [60_000_000_000, 60_000_000_000, 3_600_000_000_000]
    assert [b["ts_event"] for b in bars] == [
        start * 1_000_000,
        start * 1_000_000,
        1_672_513_200_000_000_000,
    ]
    assert [bars[0][f"{k}_raw"] for k in ("open", "high", "low", "close", "volume")] == [
        100_000,
        250_000,
        150_000,
        200_000,
        100_000_000_000,
    ]
    assert [b["ts_recv"] for b in bars] == [TS, TS + 1, TS + 2]


def test_book_ticker_becomes_a_quote() -> None:
    engine = _core.Engine("binance")
    ticker = {
        "u": 400900217,
        "s": "BNBUSDT",
        "b": "25.35190000",
        "B": "31.21000000",
        "a": "25.36520000",
        "A": "40.66000000",
    }
    engine.feed(raw(ticker), TS)
    engine.feed(combined("bnbusdt@bookTicker", ticker), TS + 1)
    quotes = take_rows(engine)["quotes"]
    assert len(quotes) == 2
    for q in quotes:
        assert (q["bid_price_raw"], q["bid_size_raw"]) == (2_535_190_000, 3_121_000_000)
        assert (q["ask_price_raw"], q["ask_size_raw"]) == (2_536_520_000, 4_066_000_000)
        # bookTicker has no event time.
        assert q["ts_event"] is None
        assert q["instrument"] == "BNB-USDT@binance"
    assert engine.stats()["binance:BNBUSDT"]["quotes"] == 2


# --- subscription responses -----------------------------------------------------------


def test_subscribe_response_is_a_subscribed_status() -> None:
    engine = _core.Engine("binance")
    engine.feed(b'{"result":null,"id":1}', TS)
    assert engine.rejects == 0
    (status,) = take_rows(engine)["statuses"]
    assert (status["kind"], status["message"], status["ts_recv"]) == ("subscribed", "id 1", TS)


def test_list_subscriptions_response_is_a_subscribed_status() -> None:
    engine = _core.Engine("binance")
    engine.feed(b'{"result":["btcusdt@aggTrade"],"id":3}', TS)
    (status,) = take_rows(engine)["statuses"]
    assert (status["kind"], status["message"]) == ("subscribed", "id 3")


def test_error_response_is_a_venue_error() -> None:
    engine = _core.Engine("binance")
    engine.feed(b'{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":3}', TS)
    (status,) = take_rows(engine)["statuses"]
    assert status["kind"] == "venue_error"
    assert status["message"] == "2: Invalid request: invalid stream"
    assert (status["instrument"], status["ts_recv"]) == (None, TS)
    assert engine.rejects == 0


def test_error_response_to_a_malformed_request_is_a_venue_error() -> None:
    engine = _core.Engine("binance")
    engine.feed(
        b'{"error":{"code":2,"msg":"Invalid request: missing field `method`"},"id":null}', TS
    )
    assert engine.rejects == 0
    (status,) = take_rows(engine)["statuses"]
    assert status["kind"] == "venue_error"


# --- depth sync -----------------------------------------------------------------------


def test_depth_sync_with_buffered_stale_straddling_continuing_and_skipped_diffs() -> None:
    engine = _core.Engine("binance")
    # Before the snapshot: one diff entirely older than it, one straddling it.
    engine.feed(diff(5, 7, bids=[[px(99.5), px(9)]]), TS)
    engine.feed(diff(8, 11, bids=[[px(100), px(1)]]), TS + 1)
    assert engine.out_of_sync() == []
    assert book(engine) == ([], [])
    engine.feed_http(DEPTH_URL, depth_body(10, [[px(99), px(2)]], [[px(101), px(3)]]), TS + 2)
    assert book(engine) == ([(100, 1), (99, 2)], [(101, 3)])
    assert engine.is_synced("BTCUSDT")
    rows = take_rows(engine)
    assert [s["symbol"] for s in statuses(rows, "synced")] == ["BTCUSDT"]
    deltas = rows["book_deltas"]
    # In the order the book applied them: the stale diff (u=7) never was, the buffered
    # straddling one (u=11) after the snapshot.
    assert [(d["action"], d["sequence"], d["flags"]) for d in deltas] == [
        ("clear", 10, 1),
        ("set", 10, 1),
        ("set", 10, 3),
        ("set", 11, 2),
    ]
    assert deltas[3]["ts_event"] == E_MS * 1_000_000
    # The REST snapshot has no venue time.
    assert {d["ts_event"] for d in deltas[:3]} == {None}
    assert {d["ts_recv"] for d in deltas[:3]} == {TS + 2}

    engine.feed(diff(12, 12, bids=[[px(100.5), px(1)]]), TS + 3)  # U == previous u + 1
    engine.feed(diff(11, 12, bids=[[px(98), px(5)]]), TS + 4)  # u <= last applied: dropped
    engine.feed(diff(13, 14, asks=[[px(100.75), px(4)], [px(101), px(0)]]), TS + 5)
    assert book(engine) == ([(100.5, 1), (100, 1), (99, 2)], [(100.75, 4)])
    stats = engine.stats()["binance:BTCUSDT"]
    assert (stats["snapshots"], stats["book_updates"], stats["gaps"]) == (1, 3, 0)
    assert statuses(take_rows(engine), "gap") == []

    engine.feed(diff(16, 17, bids=[[px(100.6), px(1)]]), TS + 6)  # 15 is missing
    rows = take_rows(engine)
    (gap,) = statuses(rows, "gap")
    assert gap["message"] == "update ids: expected 15, got 16..=17"
    assert (gap["symbol"], gap["ts_recv"]) == ("BTCUSDT", TS + 6)
    assert [s["symbol"] for s in statuses(rows, "resync_needed")] == ["BTCUSDT"]
    assert engine.stats()["binance:BTCUSDT"]["gaps"] == 1
    assert engine.out_of_sync() == ["BTCUSDT"]
    assert not engine.is_synced("BTCUSDT")
    # The diff after the hole was not applied.
    assert book(engine)[0][0] == (100.5, 1)

    # Diffs keep arriving while the collector fetches a new snapshot: they wait for it.
    engine.feed(diff(18, 18, asks=[[px(100.9), px(7)]]), TS + 7)
    engine.feed_http(DEPTH_URL, depth_body(16, [[px(100.5), px(2)]], [[px(100.75), px(4)]]), TS + 8)
    assert engine.out_of_sync() == []
    assert engine.is_synced("BTCUSDT")
    assert book(engine) == ([(100.6, 1), (100.5, 2)], [(100.75, 4), (100.9, 7)])
    stats = engine.stats()["binance:BTCUSDT"]
    assert (stats["snapshots"], stats["book_updates"], stats["gaps"]) == (2, 5, 1)
    assert [s["symbol"] for s in statuses(take_rows(engine), "synced")] == ["BTCUSDT"]


def test_first_diff_after_the_snapshot_must_reach_it() -> None:
    engine = _core.Engine("binance")
    engine.feed_http(DEPTH_URL, depth_body(100, [[px(99), px(2)]], [[px(101), px(3)]]), TS)
    engine.feed(diff(102, 103, bids=[[px(100), px(1)]]), TS + 1)
    assert engine.stats()["binance:BTCUSDT"]["gaps"] == 1
    assert engine.out_of_sync() == ["BTCUSDT"]
    assert book(engine) == ([(99, 2)], [(101, 3)])


def test_raw_stream_diffs_sync_too() -> None:
    engine = _core.Engine("binance")
    engine.feed_http(DEPTH_URL, depth_body(10, [[px(99), px(2)]], [[px(101), px(3)]]), TS)
    payload = {"e": "depthUpdate", "E": E_MS, "s": "BTCUSDT", "U": 11, "u": 12}
    engine.feed(raw(payload | {"b": [[px(99), px(0)]], "a": []}), TS + 1)
    assert book(engine) == ([], [(101, 3)])
    assert engine.stats()["binance:BTCUSDT"]["book_updates"] == 1


def test_depth_snapshot_symbol_comes_from_the_url() -> None:
    engine = _core.Engine("binance")
    url = "https://api.binance.com/api/v3/depth?limit=5000&symbol=ethbtc"
    engine.feed_http(url, depth_body(1, [[px(0.05), px(1)]], []), TS)
    assert engine.top("ETHBTC") == ([(mantissa(0.05), mantissa(1))], [])
    assert engine.instruments() == [("ETHBTC", "ETH-BTC@binance", 8, 8)]


# --- reference data, protocols --------------------------------------------------------


def test_exchange_info_names_base_and_quote_assets() -> None:
    engine = _core.Engine("binance")
    info = {
        "timezone": "UTC",
        "serverTime": 1_565_246_363_776,
        "rateLimits": [],
        "exchangeFilters": [],
        "symbols": [
            {
                "symbol": "BTCPLN",
                "status": "TRADING",
                "baseAsset": "BTC",
                "baseAssetPrecision": 8,
                "quoteAsset": "PLN",
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "filters": [{"filterType": "PRICE_FILTER", "tickSize": "1.00000000"}],
            }
        ],
    }
    engine.feed_http("https://api.binance.com/api/v3/exchangeInfo", json.dumps(info).encode(), TS)
    # Tick sizes are not precisions: the wire's 8 places are.
    assert engine.instruments() == [("BTCPLN", "BTC-PLN@binance", None, None)]
    engine.feed(raw(TRADE | {"s": "BTCPLN"}), TS + 1)
    (trade,) = take_rows(engine)["trades"]
    assert (trade["instrument"], trade["price_precision"]) == ("BTC-PLN@binance", 8)


def test_binance_us_is_its_own_venue() -> None:
    engine = _core.Engine("binance_us")
    assert engine.venue == "binance_us"
    engine.feed(raw(TRADE | {"s": "BTCUSD"}), TS)
    (trade,) = take_rows(engine)["trades"]
    assert (trade["venue"], trade["instrument"]) == ("binance_us", "BTC-USD@binance_us")


# --- malformed input ------------------------------------------------------------------


BAD_FRAMES = [
    # Frames that are not JSON, or not the JSON expected: the reason names the venue.
    (b"\xff\xfe", "binance"),
    (b"not json", "binance"),
    (b'{"stream":"btcusdt@trade","data":', "binance"),
    (diff(11, 11, bids=[[px(1)]]), "binance"),
    (raw({"e": "24hrTicker", "s": "BTCUSDT"}), 'binance: unknown event "24hrTicker"'),
    (raw({"foo": 1}), "binance: unknown message"),
    (raw({"e": "depthUpdate", "s": "BTCUSDT", "b": []}), "binance depthUpdate without U/u"),
    (diff(11, 11, bids=[[px(100), px(1)], ["1e2", px(1)]]), 'bad price "1e2"'),
    (raw({k: v for k, v in TRADE.items() if k != "p"}), "binance trade without p/q/T"),
    (raw({k: v for k, v in TRADE.items() if k != "s"}), "binance: payload without symbol"),
    (raw(TRADE | {"q": "0.000000001"}), 'bad size "0.000000001"'),
    (raw({"e": "kline", "E": E_MS, "s": "BTCUSDT"}), "binance kline without k"),
    (raw({"s": "BTCUSDT", "b": 1, "B": "1", "a": "2", "A": "1"}), "binance bookTicker without"),
]


@pytest.mark.parametrize(("data", "reason"), BAD_FRAMES, ids=[r for _, r in BAD_FRAMES])
def test_a_bad_frame_between_good_ones_is_rejected_alone(data: bytes, reason: str) -> None:
    engine = _core.Engine("binance")
    engine.feed_http(DEPTH_URL, depth_body(10, [[px(99), px(2)]], [[px(101), px(3)]]), TS)
    engine.feed(data, TS + 1)
    engine.feed(diff(11, 11, bids=[[px(99.5), px(1)]]), TS + 2)
    rows = take_rows(engine)
    (reject,) = rows["rejects"]
    assert reason in reject["reason"]
    assert (reject["raw"], reject["ts_recv"], reject["venue"]) == (data, TS + 1, "binance")
    assert engine.rejects == 1
    assert engine.frames == 2
    assert [d["ts_recv"] for d in rows["book_deltas"]] == [TS] * 3 + [TS + 2]
    assert rows["trades"] == rows["quotes"] == rows["bars"] == []
    assert book(engine) == ([(99.5, 1), (99, 2)], [(101, 3)])
    assert engine.stats()["binance:BTCUSDT"]["gaps"] == 0
    assert engine.out_of_sync() == []


def test_bad_rest_responses_are_rejected() -> None:
    engine = _core.Engine("binance")
    engine.feed_http("https://api.binance.com/api/v3/depth?limit=10", b"{}", TS)
    engine.feed_http(DEPTH_URL, b'{"code":-1121,"msg":"Invalid symbol."}', TS + 1)
    engine.feed_http("https://api.binance.com/api/v3/exchangeInfo", b"[]", TS + 2)
    engine.feed_http("https://api.binance.com/api/v3/time", b'{"serverTime":1}', TS + 3)
    rows = take_rows(engine)
    assert [r["reason"].split(":")[0] for r in rows["rejects"]] == [
        "binance",
        "binance depth snapshot",
        "binance exchangeInfo",
    ]
    assert [r["raw"] for r in rows["rejects"]] == [
        b"{}",
        b'{"code":-1121,"msg":"Invalid symbol."}',
        b"[]",
    ]
    assert "depth url without symbol" in rows["rejects"][0]["reason"]
    assert engine.rejects == 3
    assert rows["book_deltas"] == []


def test_book_deltas_table_rebuilds_the_engine_book() -> None:
    engine = _core.Engine("binance")
    engine.feed(diff(8, 11, bids=[[px(100), px(1)]]), TS)
    engine.feed_http(DEPTH_URL, depth_body(10, [[px(99), px(2)]], [[px(101), px(3)]]), TS + 1)
    engine.feed(diff(9, 11, asks=[[px(100.5), px(9)]]), TS + 2)
    replayed = _core.OrderBook()
    replayed.apply_arrow(engine.take()["book_deltas"])
    assert replayed.top(100) == engine.top("BTCUSDT", 100)


# --- hardening: control messages, malformed values ------------------------------------


@pytest.mark.parametrize("wrap", [raw, lambda p: combined("btcusdt@trade", p)])
def test_server_shutdown_is_a_venue_status(wrap: Any) -> None:
    engine = _core.Engine("binance")
    engine.feed(wrap({"e": "serverShutdown", "E": 1_770_123_456_789}), TS)
    assert engine.rejects == 0
    (status,) = take_rows(engine)["statuses"]
    assert (status["kind"], status["message"]) == ("venue", "serverShutdown")
    assert (status["ts_event"], status["instrument"]) == (1_770_123_456_789_000_000, None)


@pytest.mark.parametrize(
    ("price", "qty"),
    [("-5.00000000", "1.00000000"), ("100.00000000", "-5.00000000"), ("100.00000000", "0")],
)
def test_negative_price_negative_or_zero_size_trade_is_a_reject(price: str, qty: str) -> None:
    engine = _core.Engine("binance")
    engine.feed(raw({**TRADE, "p": price, "q": qty}), TS)
    rows = take_rows(engine)
    assert (len(rows["trades"]), len(rows["rejects"])) == (0, 1)


def test_a_declared_instrument_may_trade_below_zero() -> None:
    engine = _core.Engine("binance")
    assert engine.allow_negative_prices("BTCUSDT") == "BTC-USDT@binance"
    engine.feed(raw({**TRADE, "p": "-5.00000000"}), TS)
    (trade,) = take_rows(engine)["trades"]
    assert trade["price_raw"] == -500_000_000
    engine.feed(raw({**TRADE, "p": "-5.00000000", "q": "-1.00000000"}), TS)
    assert engine.rejects == 1


def test_a_rejected_frame_does_not_fix_the_precision() -> None:
    engine = _core.Engine("binance")
    engine.feed(raw({**TRADE, "p": "16540.12", "q": "-1.00000000"}), TS)
    engine.feed(raw({**TRADE, "p": "16540.12345678"}), TS + 1)
    rows = take_rows(engine)
    assert (len(rows["trades"]), len(rows["rejects"])) == (1, 1)
    assert rows["trades"][0]["price_precision"] == 8
    assert engine.instruments() == [("BTCUSDT", "BTC-USDT@binance", 8, 8)]


def test_a_negative_depth_level_is_a_reject() -> None:
    engine = _core.Engine("binance")
    engine.feed_http(DEPTH_URL, depth_body(10, [[px(99), px(1)]], [[px(101), px(1)]]), TS)
    engine.feed(diff(11, 11, bids=[[px(100), "-1.00000000"]]), TS + 1)
    engine.feed(diff(11, 11, bids=[["-100.00000000", px(1)]]), TS + 2)
    assert engine.rejects == 2
    assert book(engine) == ([(99.0, 1.0)], [(101.0, 1.0)])
