"""Coinbase Advanced Trade WebSocket normalizer, message by message, through ``_core.Engine``.

Message shapes follow docs.cdp.coinbase.com (Advanced Trade WebSocket channels: l2_data,
market_trades, ticker, ticker_batch, candles, heartbeats, subscriptions, status) and the
``/api/v3/brokerage/market/products`` REST response. ``heartbeat_counter`` is a number in
the shared recording of 2026-08-09 and a string in the documentation's example.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from alphapulse import _core
from tests.conftest import statuses, take_rows

TS = 1_700_000_000_000_000_000
PRODUCTS_URL = "https://api.coinbase.com/api/v3/brokerage/market/products"
# 2023-02-09T20:32:50.714964855Z, the docs' l2_data envelope timestamp.
L2_TS = "2023-02-09T20:32:50.714964855Z"
L2_TS_NS = 1_675_974_770_714_964_855


def frame(channel: str, seq: int, events: list[dict[str, Any]], ts: str = L2_TS) -> bytes:
    return json.dumps(
        {
            "channel": channel,
            "client_id": "",
            "timestamp": ts,
            "sequence_num": seq,
            "events": events,
        }
    ).encode()


def level(
    side: str, price: str, qty: str, at: str = "2023-02-09T20:32:50.709000Z"
) -> dict[str, str]:
    return {"side": side, "event_time": at, "price_level": price, "new_quantity": qty}


def l2(seq: int, kind: str, product: str, updates: list[dict[str, str]]) -> bytes:
    return frame("l2_data", seq, [{"type": kind, "product_id": product, "updates": updates}])


def snapshot(seq: int, product: str = "BTC-USD") -> bytes:
    return l2(
        seq,
        "snapshot",
        product,
        [
            level("bid", "21921.73", "0.06317902"),
            level("bid", "21921.3", "0.02"),
            level("offer", "21921.74", "1.5"),
            level("offer", "21922.5", "0.25"),
        ],
    )


def trade(product: str, trade_id: str, price: str, size: str, side: str) -> dict[str, str]:
    return {
        "trade_id": trade_id,
        "product_id": product,
        "price": price,
        "size": size,
        "side": side,
        "time": "2019-08-14T20:42:27.265Z",
    }


def products(*entries: dict[str, Any]) -> bytes:
    return json.dumps({"products": list(entries), "num_products": len(entries)}).encode()


BTC_USD_PRODUCT = {
    "product_id": "BTC-USD",
    "price": "21921.73",
    "base_increment": "0.00000001",
    "quote_increment": "0.01",
    "price_increment": "0.01",
    "base_currency_id": "BTC",
    "quote_currency_id": "USD",
    "status": "online",
    "product_type": "SPOT",
}


# --- reference data -------------------------------------------------------------------


def test_products_rest_defines_precisions_and_canonical_ids() -> None:
    engine = _core.Engine("coinbase")
    eth = {
        "product_id": "ETH-EUR",
        "base_increment": "0.0001",
        "quote_increment": "0.001",
        "base_currency_id": "ETH",
        "quote_currency_id": "EUR",
    }
    engine.feed_http(PRODUCTS_URL, products(BTC_USD_PRODUCT, eth), TS)
    assert sorted(engine.instruments()) == [
        ("BTC-USD", "BTC-USD@coinbase", 2, 8),
        # No price_increment: quote_increment gives the price precision.
        ("ETH-EUR", "ETH-EUR@coinbase", 3, 4),
    ]
    engine.feed(
        frame(
            "market_trades",
            0,
            [{"type": "update", "trades": [trade("BTC-USD", "11", "21921.73", "0.3", "BUY")]}],
        ),
        TS,
    )
    (row,) = take_rows(engine)["trades"]
    assert (row["price_raw"], row["price_precision"]) == (2_192_173, 2)
    assert (row["size_raw"], row["size_precision"]) == (30_000_000, 8)
    assert row["price"] == pytest.approx(21921.73)


def test_unrelated_rest_response_is_ignored_and_a_bad_products_body_is_rejected() -> None:
    engine = _core.Engine("coinbase")
    engine.feed_http("https://api.coinbase.com/api/v3/brokerage/time", b'{"iso":"x"}', TS)
    assert engine.instruments() == []
    assert engine.rejects == 0
    engine.feed_http(PRODUCTS_URL, b"<html>503</html>", TS + 1)
    assert engine.rejects == 1
    (reject,) = take_rows(engine)["rejects"]
    assert reject["reason"].startswith("coinbase: bad products response")
    assert reject["raw"] == b"<html>503</html>"


def test_without_reference_data_values_are_held_at_eight_decimals() -> None:
    engine = _core.Engine("coinbase")
    engine.feed(snapshot(0), TS)
    rows = take_rows(engine)["book_deltas"]
    assert {(r["price_precision"], r["size_precision"]) for r in rows} == {(8, 8)}
    assert rows[1]["price_raw"] == 2_192_173_000_000
    assert rows[1]["size_raw"] == 6_317_902


# --- l2_data --------------------------------------------------------------------------


def test_l2_snapshot_then_update() -> None:
    engine = _core.Engine("coinbase")
    engine.feed_http(PRODUCTS_URL, products(BTC_USD_PRODUCT), TS - 1)
    engine.feed(snapshot(0), TS)
    engine.feed(
        l2(
            1,
            "update",
            "BTC-USD",
            [
                level("bid", "21921.73", "0", "2023-02-09T20:32:50.714964855Z"),
                level("offer", "21921.6", "0.1", "2023-02-09T20:32:50.714964855Z"),
            ],
        ),
        TS + 1,
    )
    rows = take_rows(engine)
    deltas = rows["book_deltas"]
    assert [
        (d["action"], d["side"], d["price_raw"], d["size_raw"], d["flags"]) for d in deltas
    ] == [
        ("clear", "bid", 0, 0, 1),
        ("set", "bid", 2_192_173, 6_317_902, 1),
        ("set", "bid", 2_192_130, 2_000_000, 1),
        ("set", "ask", 2_192_174, 150_000_000, 1),
        ("set", "ask", 2_192_250, 25_000_000, 3),
        ("set", "bid", 2_192_173, 0, 0),
        ("set", "ask", 2_192_160, 10_000_000, 2),
    ]
    assert [d["sequence"] for d in deltas] == [0] * 5 + [1] * 2
    assert [d["ts_recv"] for d in deltas] == [TS] * 5 + [TS + 1] * 2
    # ts_event is each level's event_time; the clear takes the snapshot's first one.
    assert deltas[0]["ts_event"] == 1_675_974_770_709_000_000
    assert deltas[-1]["ts_event"] == L2_TS_NS
    assert {d["instrument"] for d in deltas} == {"BTC-USD@coinbase"}
    assert {d["symbol"] for d in deltas} == {"BTC-USD"}
    assert engine.top("BTC-USD") == (
        [(2_192_130, 2_000_000)],
        [(2_192_160, 10_000_000), (2_192_174, 150_000_000), (2_192_250, 25_000_000)],
    )
    (synced,) = statuses(rows, "synced")
    assert synced["symbol"] == "BTC-USD"
    stats = engine.stats()["coinbase:BTC-USD"]
    assert (stats["snapshots"], stats["book_updates"], stats["gaps"]) == (1, 1, 0)
    assert engine.is_synced("BTC-USD")
    assert engine.out_of_sync() == []


def test_l2_crossing_update_reports_a_crossed_book() -> None:
    engine = _core.Engine("coinbase")
    engine.feed_http(PRODUCTS_URL, products(BTC_USD_PRODUCT), TS - 1)
    engine.feed(snapshot(0), TS)
    engine.feed(l2(1, "update", "BTC-USD", [level("bid", "21921.80", "1")]), TS + 1)
    (crossed,) = statuses(take_rows(engine), "crossed")
    assert crossed["symbol"] == "BTC-USD"
    assert engine.stats()["coinbase:BTC-USD"]["crossed"] == 1


# --- market_trades, ticker, candles ---------------------------------------------------


def test_market_trades_side_is_the_maker_side() -> None:
    engine = _core.Engine("coinbase")
    engine.feed_http(PRODUCTS_URL, products(BTC_USD_PRODUCT), TS - 1)
    engine.feed(
        frame(
            "market_trades",
            0,
            [
                {
                    "type": "snapshot",
                    "trades": [
                        trade("BTC-USD", "000000001", "21921.74", "0.3", "SELL"),
                        trade("BTC-USD", "000000002", "21921.73", "0.00000001", "BUY"),
                        trade("BTC-USD", "000000003", "21921.73", "1", "UNKNOWN_ORDER_SIDE"),
                    ],
                }
            ],
        ),
        TS,
    )
    trades = take_rows(engine)["trades"]
    # A SELL maker was lifted by a buyer: the aggressor bought.
    assert [t["aggressor"] for t in trades] == ["buy", "sell", "unknown"]
    assert [t["trade_id"] for t in trades] == [1, 2, 3]
    assert [t["price_raw"] for t in trades] == [2_192_174, 2_192_173, 2_192_173]
    assert [t["size_raw"] for t in trades] == [30_000_000, 1, 100_000_000]
    assert {t["ts_event"] for t in trades} == {1_565_815_347_265_000_000}
    assert {t["ts_recv"] for t in trades} == {TS}
    assert engine.stats()["coinbase:BTC-USD"]["trades"] == 3


@pytest.mark.parametrize("channel", ["ticker", "ticker_batch"])
def test_ticker_becomes_a_quote(channel: str) -> None:
    engine = _core.Engine("coinbase")
    engine.feed_http(PRODUCTS_URL, products(BTC_USD_PRODUCT), TS - 1)
    ticker = {
        "type": "ticker",
        "product_id": "BTC-USD",
        "price": "21932.98",
        "volume_24_h": "16038.28770938",
        "low_24_h": "21835.29",
        "high_24_h": "23011.18",
        "low_52_w": "15460",
        "high_52_w": "48240",
        "price_percent_chg_24_h": "-4.15775596190603",
        "best_bid": "21931.98",
        "best_bid_quantity": "8000.21",
        "best_ask": "21933.98",
        "best_ask_quantity": "8038.07770938",
    }
    ts = "2023-02-09T20:30:37.167359596Z"
    engine.feed(frame(channel, 0, [{"type": "snapshot", "tickers": [ticker]}], ts), TS)
    (quote,) = take_rows(engine)["quotes"]
    assert quote["ts_event"] == 1_675_974_637_167_359_596
    assert quote["ts_recv"] == TS
    assert (quote["bid_price_raw"], quote["bid_size_raw"]) == (2_193_198, 800_021_000_000)
    assert (quote["ask_price_raw"], quote["ask_size_raw"]) == (2_193_398, 803_807_770_938)
    assert quote["bid_price"] == pytest.approx(21931.98)
    assert quote["instrument"] == "BTC-USD@coinbase"


def test_ticker_with_an_empty_side_quotes_zero() -> None:
    engine = _core.Engine("coinbase")
    empty = {
        "product_id": "BTC-USD",
        "best_bid": "",
        "best_bid_quantity": "",
        "best_ask": "21933.98",
        "best_ask_quantity": "0.5",
    }
    engine.feed(frame("ticker", 0, [{"type": "update", "tickers": [empty]}]), TS)
    (quote,) = take_rows(engine)["quotes"]
    assert (quote["bid_price_raw"], quote["bid_size_raw"]) == (0, 0)
    assert quote["ask_price_raw"] == 2_193_398_000_000


def test_candles_are_five_minute_bars() -> None:
    engine = _core.Engine("coinbase")
    candle = {
        "start": "1688998200",
        "high": "1867.72",
        "low": "1865.63",
        "open": "1867.38",
        "close": "1866.81",
        "volume": "0.20269406",
        "product_id": "ETH-USD",
    }
    engine.feed(frame("candles", 0, [{"type": "snapshot", "candles": [candle]}]), TS)
    (bar,) = take_rows(engine)["bars"]
    assert bar["ts_event"] == 1_688_998_200_000_000_000
    assert bar["ts_recv"] == TS
    assert bar["interval"] == 300_000_000_000
    assert bar["closed"] is False
    assert [bar[f"{k}_raw"] for k in ("open", "high", "low", "close")] == [
        186_738_000_000,
        186_772_000_000,
        186_563_000_000,
        186_681_000_000,
    ]
    assert bar["volume_raw"] == 20_269_406
    assert bar["instrument"] == "ETH-USD@coinbase"


# --- statuses -------------------------------------------------------------------------


def heartbeat(seq: int, counter: int | str) -> bytes:
    return frame(
        "heartbeats",
        seq,
        [
            {
                "current_time": "2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105",
                "heartbeat_counter": counter,
            }
        ],
        "2023-06-23T20:31:26.122969572Z",
    )


def test_heartbeats_and_a_skipped_heartbeat_counter() -> None:
    engine = _core.Engine("coinbase")
    engine.feed(heartbeat(0, 3049), TS)
    engine.feed(heartbeat(1, 3050), TS + 1)
    rows = take_rows(engine)
    assert [s["kind"] for s in rows["statuses"]] == ["heartbeat", "heartbeat"]
    assert {s["ts_event"] for s in rows["statuses"]} == {1_687_552_286_122_969_572}
    assert [s["ts_recv"] for s in rows["statuses"]] == [TS, TS + 1]
    assert {s["instrument"] for s in rows["statuses"]} == {None}
    engine.feed(heartbeat(2, 3052), TS + 2)
    rows = take_rows(engine)
    assert [(s["kind"], s["message"]) for s in rows["statuses"]] == [
        ("gap", "heartbeat_counter: expected 3051, got 3052"),
        ("heartbeat", ""),
    ]
    # sequence_num did not skip: the connection lost nothing.
    assert engine.connection_gaps == 0


def test_heartbeat_counter_as_a_string_like_the_docs_example() -> None:
    engine = _core.Engine("coinbase")
    engine.feed(heartbeat(0, "3049"), TS)
    engine.feed(heartbeat(1, "3051"), TS + 1)
    assert engine.rejects == 0
    rows = take_rows(engine)
    assert [s["kind"] for s in rows["statuses"]] == ["heartbeat", "gap", "heartbeat"]


def test_subscriptions_status_and_error_messages() -> None:
    engine = _core.Engine("coinbase")
    subs = {"subscriptions": {"level2": ["BTC-USD"], "market_trades": ["BTC-USD", "ETH-USD"]}}
    engine.feed(frame("subscriptions", 0, [subs], "2023-02-09T20:29:49.753424311Z"), TS)
    status = {"type": "snapshot", "products": [{"id": "BTC-USD", "status": "online"}]}
    engine.feed(frame("status", 1, [status]), TS + 1)
    engine.feed(b'{"type":"error","message":"failure to subscribe"}', TS + 2)
    rows = take_rows(engine)
    assert [(s["kind"], s["ts_recv"]) for s in rows["statuses"]] == [
        ("subscribed", TS),
        ("venue", TS + 1),
        ("venue_error", TS + 2),
    ]
    subscribed, venue, error = rows["statuses"]
    assert json.loads(subscribed["message"]) == [subs]
    assert subscribed["ts_event"] == 1_675_974_589_753_424_311
    assert json.loads(venue["message"]) == [status]
    assert error["message"] == "error: failure to subscribe"
    assert {s["instrument"] for s in rows["statuses"]} == {None}
    assert engine.rejects == 0


# --- sequence_num ---------------------------------------------------------------------


def test_sequence_gap_puts_every_synced_book_out_of_sync_until_a_snapshot() -> None:
    engine = _core.Engine("coinbase")
    engine.feed(snapshot(0, "BTC-USD"), TS)
    engine.feed(snapshot(1, "ETH-USD"), TS + 1)
    engine.feed(l2(2, "update", "BTC-USD", [level("bid", "21921.5", "1")]), TS + 2)
    take_rows(engine)
    assert engine.out_of_sync() == []

    engine.feed(l2(4, "update", "ETH-USD", [level("bid", "1500.5", "1")]), TS + 4)
    rows = take_rows(engine)
    assert engine.connection_gaps == 1
    (gap,) = statuses(rows, "gap")
    assert gap["message"] == "sequence_num: expected 3, got 4"
    assert gap["instrument"] is None
    assert (gap["ts_event"], gap["ts_recv"]) == (L2_TS_NS, TS + 4)
    resync = statuses(rows, "resync_needed")
    assert sorted(s["symbol"] for s in resync) == ["BTC-USD", "ETH-USD"]
    assert {s["message"] for s in resync} == {"connection sequence gap"}
    assert sorted(engine.out_of_sync()) == ["BTC-USD", "ETH-USD"]
    assert not engine.is_synced("BTC-USD")
    assert {k: v["gaps"] for k, v in engine.stats().items()} == {
        "coinbase:BTC-USD": 1,
        "coinbase:ETH-USD": 1,
    }

    engine.feed(snapshot(5, "BTC-USD"), TS + 5)
    rows = take_rows(engine)
    assert [s["symbol"] for s in statuses(rows, "synced")] == ["BTC-USD"]
    assert statuses(rows, "gap") == []
    assert engine.out_of_sync() == ["ETH-USD"]
    assert engine.is_synced("BTC-USD")
    assert engine.connection_gaps == 1


def test_connected_resets_the_expected_sequence() -> None:
    engine = _core.Engine("coinbase")
    for seq in range(3):
        engine.feed(heartbeat(seq, 100 + seq), TS + seq, conn=7)
    engine.connected(7)
    # A new connection counts from 0 again, heartbeat_counter included.
    engine.feed(heartbeat(0, 5), TS + 10, conn=7)
    assert engine.connection_gaps == 0
    assert statuses(take_rows(engine), "gap") == []
    # Without a reconnect, going back to 0 is a gap (a restarted counter)...
    engine.feed(heartbeat(1, 6), TS + 11, conn=7)
    engine.feed(heartbeat(0, 7), TS + 12, conn=7)
    assert engine.connection_gaps == 1
    # ...while the same number twice is one message received twice: dropped.
    engine.feed(heartbeat(0, 7), TS + 13, conn=7)
    assert engine.connection_gaps == 1
    assert len(statuses(take_rows(engine), "duplicate")) == 1


def test_connections_keep_separate_sequences() -> None:
    engine = _core.Engine("coinbase")
    for seq in range(3):
        engine.feed(heartbeat(seq, seq), TS, conn=1)
        engine.feed(heartbeat(seq, seq), TS, conn=2)
    assert engine.connection_gaps == 0
    engine.feed(heartbeat(5, 3), TS, conn=2)
    assert engine.connection_gaps == 1


# --- malformed input ------------------------------------------------------------------


BAD_CANDLE = dict.fromkeys(("open", "high", "low", "close", "volume"), "1") | {
    "product_id": "BTC-USD",
    "start": "x",
}
BAD_FRAMES = [
    (b"\x00\xffnot json", "coinbase: not a message"),
    (b'{"channel":"l2_data","events":[]}', "coinbase: message without channel/sequence_num/events"),
    (frame("level3", 1, []), 'coinbase: unknown channel "level3"'),
    (l2(1, "bogus", "BTC-USD", []), 'coinbase l2_data: unknown event type "bogus"'),
    (
        l2(1, "update", "BTC-USD", [level("middle", "1", "1")]),
        'coinbase l2_data: unknown side "middle"',
    ),
    (l2(1, "update", "BTC-USD", [level("bid", "1,5", "1")]), 'bad price "1,5"'),
    (l2(1, "update", "BTC-USD", [level("bid", "1.5", "-")]), 'bad size "-"'),
    (
        frame(
            "market_trades",
            1,
            [{"trades": [trade("BTC-USD", "1", "1", "1", "BUY") | {"time": "yesterday"}]}],
        ),
        'coinbase market_trades: bad time "yesterday"',
    ),
    (frame("candles", 1, [{"candles": [BAD_CANDLE]}]), 'coinbase candles: bad start "x"'),
    (frame("heartbeats", 1, [{"current_time": "now"}]), "coinbase heartbeats:"),
]


@pytest.mark.parametrize(("data", "reason"), BAD_FRAMES, ids=[r for _, r in BAD_FRAMES])
def test_a_bad_frame_between_good_ones_is_rejected_alone(data: bytes, reason: str) -> None:
    engine = _core.Engine("coinbase")
    engine.feed_http(PRODUCTS_URL, products(BTC_USD_PRODUCT), TS - 1)
    engine.feed(snapshot(0), TS)
    engine.feed(data, TS + 1)
    # A rejected frame that carried sequence_num 1 still counts: the next one is 2.
    next_seq = 2 if b'"sequence_num": 1' in data else 1
    engine.feed(l2(next_seq, "update", "BTC-USD", [level("bid", "21921.5", "1")]), TS + 2)
    rows = take_rows(engine)
    (reject,) = rows["rejects"]
    assert reason in reject["reason"]
    assert reject["raw"] == data
    assert reject["ts_recv"] == TS + 1
    assert reject["venue"] == "coinbase"
    assert engine.rejects == 1
    assert engine.frames == 3
    # Nothing of the bad frame reached a table or the book; the good ones did.
    assert [d["sequence"] for d in rows["book_deltas"]] == [0] * 5 + [next_seq]
    assert engine.connection_gaps == 0
    assert engine.out_of_sync() == []
    assert engine.top("BTC-USD", 1) == ([(2_192_173, 6_317_902)], [(2_192_174, 150_000_000)])
    assert engine.top("BTC-USD")[0][1] == (2_192_150, 100_000_000)
    assert engine.stats()["coinbase:BTC-USD"]["book_updates"] == 1


def test_a_frame_is_rolled_back_whole_when_a_later_event_is_bad() -> None:
    engine = _core.Engine("coinbase")
    good = {"type": "snapshot", "product_id": "BTC-USD", "updates": [level("bid", "1.5", "1")]}
    bad = {"type": "snapshot", "product_id": "ETH-USD", "updates": [level("bid", "x", "1")]}
    data = frame("l2_data", 0, [good, bad])
    engine.feed(data, TS)
    rows = take_rows(engine)
    assert rows["book_deltas"] == []
    assert [r["raw"] for r in rows["rejects"]] == [data]
    # Not even the instruments it named, nor the precision its values would have fixed.
    assert engine.instruments() == []
    assert engine.stats() == {}


def test_products_fed_after_data_keep_the_book_consistent() -> None:
    engine = _core.Engine("coinbase")
    engine.feed(snapshot(0), TS)
    engine.feed_http(PRODUCTS_URL, products(BTC_USD_PRODUCT), TS + 1)
    engine.feed(l2(1, "update", "BTC-USD", [level("bid", "21921.72", "1")]), TS + 2)
    bids = engine.top("BTC-USD")[0]
    prices = [p for p, _ in bids]
    # Both bids are near 21921 at whatever one precision the book uses.
    assert prices[0] // prices[2] < 10
    rows = take_rows(engine)["book_deltas"]
    assert rows[1]["price"] == pytest.approx(21921.73)


# --- hardening: malformed values and venue times --------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        l2(1, "update", "BTC-USD", [level("bid", "-21921.73", "1")]),
        l2(1, "update", "BTC-USD", [level("bid", "21921.73", "-1")]),
        l2(1, "update", "BTC-USD", [level("bid", "21921.73", "1", at="2023-02-30T25:00:00Z")]),
        frame("l2_data", 1, [], ts="not a time"),
    ],
    ids=["negative price", "negative size", "bad event_time", "bad timestamp"],
)
def test_malformed_values_and_times_are_rejects(bad: bytes) -> None:
    engine = _core.Engine("coinbase")
    engine.feed(bad, TS)
    rows = take_rows(engine)
    assert (len(rows["book_deltas"]), len(rows["rejects"])) == (0, 1)


def test_zero_size_level_deletes_and_zero_size_trade_rejects() -> None:
    engine = _core.Engine("coinbase")
    engine.feed(snapshot(1), TS)
    engine.feed(l2(2, "update", "BTC-USD", [level("bid", "21921.3", "0")]), TS + 1)
    assert [p for p, _ in engine.top("BTC-USD")[0]] == [2_192_173_000_000]
    trade = {"trade_id": "1", "product_id": "BTC-USD", "price": "1", "size": "0"}
    trade |= {"side": "BUY", "time": L2_TS}
    engine.feed(frame("market_trades", 3, [{"type": "update", "trades": [trade]}]), TS + 2)
    assert engine.rejects == 1
