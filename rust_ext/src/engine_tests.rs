//! Engine tests: book sync, and the hardening rules every normalizer shares (malformed
//! values, whole-frame rollback with instrument state, venue times, control statuses,
//! bounded state).

use super::*;
use crate::event::{Events, StatusKind};

/// `frames` through a fresh engine of `proto`; what came out.
fn run(proto: &str, frames: &[&str]) -> (Engine, Events) {
    let mut e = Engine::new(proto).unwrap();
    for (i, f) in frames.iter().enumerate() {
        e.feed(f.as_bytes(), 1 + i as i64, 0);
    }
    let ev = e.take();
    (e, ev)
}

fn market_data(ev: &Events) -> usize {
    ev.trades.len() + ev.quotes.len() + ev.deltas.len() + ev.bars.len()
}

#[test]
fn unknown_protocol_is_an_error() {
    assert!(Engine::new("nope").is_err());
}

#[test]
fn garbage_becomes_rejects() {
    for proto in crate::normalize::PROTOCOLS {
        let mut e = Engine::new(proto).unwrap();
        e.feed(b"\x00\xffnot json", 1, 0);
        e.feed(b"[]", 2, 0);
        e.feed(b"{}", 3, 0);
        assert_eq!(e.rejects(), 3, "{proto}");
        let ev = e.take();
        assert_eq!(ev.rejects.len(), 3);
        assert_eq!(ev.rejects[0].raw, b"\x00\xffnot json");
    }
}

#[test]
fn binance_sync_and_gap() {
    let mut e = Engine::new("binance").unwrap();
    let diff = |first: u64, last: u64, price: &str| {
        format!(
            r#"{{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":{first},"u":{last},"b":[["{price}","1.00000000"]],"a":[]}}"#
        )
    };
    // A diff before the snapshot is buffered, then applied if it straddles.
    e.feed(diff(8, 11, "100.00000000").as_bytes(), 1, 0);
    e.feed_http(
        "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000",
        br#"{"lastUpdateId":10,"bids":[["99.00000000","2.00000000"]],"asks":[["101.00000000","3.00000000"]]}"#,
        2,
    );
    let inst = e.instruments().find("BTCUSDT").unwrap();
    assert!(e.is_synced(inst));
    assert_eq!(
        e.book(inst).unwrap().best_bid(),
        Some((10_000_000_000, 100_000_000))
    );
    e.feed(diff(12, 12, "100.50000000").as_bytes(), 3, 0);
    assert_eq!(e.stats(inst).gaps, 0);
    e.feed(diff(14, 15, "100.60000000").as_bytes(), 4, 0);
    assert_eq!(e.stats(inst).gaps, 1);
    assert_eq!(e.out_of_sync(), vec![inst]);
}

// --- malformed values: negative prices, negative sizes, trades of size 0 -----------------

const CB_TS: &str = "2026-08-09T21:05:48.210883Z";

fn coinbase_level(price: &str, size: &str) -> String {
    format!(
        r#"{{"channel":"l2_data","timestamp":"{CB_TS}","sequence_num":1,"events":[{{"type":"update","product_id":"BTC-USD","updates":[{{"side":"bid","event_time":"{CB_TS}","price_level":"{price}","new_quantity":"{size}"}}]}}]}}"#
    )
}

fn coinbase_trade(price: &str, size: &str) -> String {
    format!(
        r#"{{"channel":"market_trades","timestamp":"{CB_TS}","sequence_num":1,"events":[{{"type":"update","trades":[{{"trade_id":"1","product_id":"BTC-USD","price":"{price}","size":"{size}","side":"BUY","time":"{CB_TS}"}}]}}]}}"#
    )
}

fn kraken_v2_level(price: &str, qty: &str) -> String {
    format!(
        r#"{{"channel":"book","type":"update","data":[{{"symbol":"XMR/USD","bids":[{{"price":{price},"qty":{qty}}}],"asks":[],"checksum":1}}]}}"#
    )
}

fn kraken_v2_trade(price: &str, qty: &str) -> String {
    format!(
        r#"{{"channel":"trade","type":"update","data":[{{"symbol":"XMR/USD","side":"sell","price":{price},"qty":{qty},"ord_type":"market","trade_id":1,"timestamp":"2023-09-25T07:49:37.708706Z"}}]}}"#
    )
}

fn kraken_v1_level(price: &str, volume: &str) -> String {
    format!(r#"[992,{{"b":[["{price}","{volume}","1618678133.365913"]]}},"book-10","XMR/USD"]"#)
}

fn kraken_v1_trade(price: &str, volume: &str) -> String {
    format!(r#"[7,[["{price}","{volume}","1618678142.557535","b","l",""]],"trade","XMR/USD"]"#)
}

fn binance_level(price: &str, qty: &str) -> String {
    format!(
        r#"{{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":1,"b":[["{price}","{qty}"]],"a":[]}}"#
    )
}

fn binance_trade(price: &str, qty: &str) -> String {
    format!(r#"{{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"{price}","q":"{qty}","T":1,"m":true}}"#)
}

fn alpaca_level(price: &str, size: &str) -> String {
    format!(
        r#"[{{"T":"o","S":"BTC/USD","t":"2024-03-12T10:27:48.858228144Z","b":[{{"p":{price},"s":{size}}}],"a":[]}}]"#
    )
}

fn alpaca_trade(price: &str, size: &str) -> String {
    format!(
        r#"[{{"T":"t","S":"BTC/USD","i":1,"p":{price},"s":{size},"t":"2021-02-22T15:51:44Z"}}]"#
    )
}

type Frame = fn(&str, &str) -> String;

/// Per protocol: its symbol, a book level frame and a trade frame.
const VENUES: [(&str, &str, Frame, Frame); 6] = [
    ("coinbase", "BTC-USD", coinbase_level, coinbase_trade),
    ("kraken", "XMR/USD", kraken_v2_level, kraken_v2_trade),
    ("kraken_v1", "XMR/USD", kraken_v1_level, kraken_v1_trade),
    ("binance", "BTCUSDT", binance_level, binance_trade),
    ("binance_us", "BTCUSDT", binance_level, binance_trade),
    ("alpaca", "BTC/USD", alpaca_level, alpaca_trade),
];

/// One frame through a fresh engine: (rejects, market data events).
fn outcome(proto: &str, allow: Option<&str>, frame: &str) -> (usize, usize) {
    let mut e = Engine::new(proto).unwrap();
    if let Some(symbol) = allow {
        e.allow_negative_prices(symbol);
    }
    e.feed(frame.as_bytes(), 1, 0);
    // Pending, not taken: Binance buffers a diff until its snapshot.
    let ev = e.pending();
    (ev.rejects.len(), market_data(ev))
}

#[test]
fn negative_prices_and_sizes_are_malformed_in_every_venue() {
    for (proto, symbol, level, trade) in VENUES {
        let ok = (0, 1);
        let rejected = (1, 0);
        assert_eq!(outcome(proto, None, &level("354.15", "5.0")), ok, "{proto}");
        assert_eq!(
            outcome(proto, None, &level("354.15", "0")),
            ok,
            "{proto}: 0 deletes"
        );
        assert_eq!(
            outcome(proto, None, &level("-354.15", "5.0")),
            rejected,
            "{proto}"
        );
        assert_eq!(
            outcome(proto, None, &level("354.15", "-5.0")),
            rejected,
            "{proto}"
        );
        assert_eq!(outcome(proto, None, &trade("100.5", "0.25")), ok, "{proto}");
        assert_eq!(
            outcome(proto, None, &trade("-100.5", "0.25")),
            rejected,
            "{proto}"
        );
        assert_eq!(
            outcome(proto, None, &trade("100.5", "-5.0")),
            rejected,
            "{proto}"
        );
        assert_eq!(
            outcome(proto, None, &trade("100.5", "0")),
            rejected,
            "{proto}"
        );
        // Declared to trade below zero: negative prices are normalized, sizes still not.
        let allow = Some(symbol);
        assert_eq!(
            outcome(proto, allow, &level("-354.15", "5.0")),
            ok,
            "{proto}"
        );
        assert_eq!(
            outcome(proto, allow, &trade("-100.5", "0.25")),
            ok,
            "{proto}"
        );
        assert_eq!(
            outcome(proto, allow, &level("-354.15", "-5.0")),
            rejected,
            "{proto}"
        );
        assert_eq!(
            outcome(proto, allow, &trade("-100.5", "0")),
            rejected,
            "{proto}"
        );
    }
}

#[test]
fn a_declared_negative_price_keeps_its_sign() {
    let mut e = Engine::new("kraken_v1").unwrap();
    let inst = e.allow_negative_prices("XMR/USD");
    e.feed(
        kraken_v1_trade("-37.63000000", "1.00000000").as_bytes(),
        1,
        0,
    );
    let ev = e.take();
    assert_eq!(ev.trades[0].price, -3_763_000_000);
    assert_eq!(ev.trades[0].instrument, inst);
    let reason = {
        e.feed(
            kraken_v1_trade("-1.00000000", "1.00000000").as_bytes(),
            2,
            0,
        );
        let mut other = Engine::new("kraken_v1").unwrap();
        other.feed(
            kraken_v1_trade("-1.00000000", "1.00000000").as_bytes(),
            2,
            0,
        );
        other.take().rejects[0].reason.clone()
    };
    assert!(reason.contains("allow_negative_prices"), "{reason}");
}

// --- a frame is normalized whole or not at all, instrument state included ---------------

#[test]
fn a_rejected_frame_does_not_settle_a_precision() {
    // Binance and Kraken v1 learn a precision from the first value. The rejected trade's
    // price (2 decimals) came before its bad size.
    for (proto, trade) in [
        ("binance", binance_trade as Frame),
        ("kraken_v1", kraken_v1_trade as Frame),
    ] {
        let mut e = Engine::new(proto).unwrap();
        e.feed(trade("100.00", "-5.00000000").as_bytes(), 1, 0);
        e.feed(trade("100.12345678", "5.00000000").as_bytes(), 2, 0);
        let ev = e.take();
        assert_eq!((ev.rejects.len(), ev.trades.len()), (1, 1), "{proto}");
        assert_eq!(ev.trades[0].precision.price, 8, "{proto}");
    }
}

#[test]
fn a_rejected_frame_registers_no_instrument_and_sets_no_depth() {
    let mut e = Engine::new("kraken_v1").unwrap();
    for i in 0..10_000 {
        let frame = format!(r#"[1,{{"b":[["-1.0","1.0","1.0"]]}},"book-25","S{i}/USD"]"#);
        e.feed(frame.as_bytes(), i, 0);
    }
    assert_eq!(e.rejects(), 10_000);
    assert!(
        e.instruments().is_empty(),
        "garbage symbols must cost no memory"
    );
    // An accepted frame keeps its instrument; a later rejected one does not change it.
    e.feed(kraken_v1_level("1.0", "1.0").as_bytes(), 1, 0);
    let frame = r#"[1,{"b":[["-1.0","1.0","1.0"]]},"book-25","XMR/USD"]"#;
    e.feed(frame.as_bytes(), 2, 0);
    let inst = e.instruments().find("XMR/USD").unwrap();
    assert_eq!(e.instruments().get(inst).unwrap().book_depth, Some(10));
    assert_eq!(e.instruments().len(), 1);
}

#[test]
fn a_rejected_kraken_v2_snapshot_keeps_the_precision_it_had() {
    let mut e = Engine::new("kraken").unwrap();
    let snapshot = |price: &str| {
        format!(
            r#"{{"channel":"book","type":"snapshot","data":[{{"symbol":"XMR/USD","bids":[{{"price":{price},"qty":1.5}}],"asks":[],"checksum":1}}]}}"#
        )
    };
    e.feed(snapshot("354.15").as_bytes(), 1, 0);
    let inst = e.instruments().find("XMR/USD").unwrap();
    let before = e.instruments().precision(inst);
    e.feed(snapshot("-354.1234").as_bytes(), 2, 0);
    assert_eq!(e.rejects(), 1);
    assert_eq!(e.instruments().precision(inst), before);
}

#[test]
fn reference_data_in_a_rejected_response_is_undone() {
    let mut e = Engine::new("binance").unwrap();
    let url = "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000";
    e.feed_http(
        url,
        br#"{"lastUpdateId":1,"bids":[["1.00","1"]],"asks":[["-2.0","1"]]}"#,
        1,
    );
    assert_eq!(e.rejects(), 1);
    assert!(e.instruments().is_empty());
    e.feed(binance_trade("1.12345678", "1.00000000").as_bytes(), 2, 0);
    assert_eq!(e.take().trades[0].precision.price, 8);
}

// --- venue times --------------------------------------------------------------------------

#[test]
fn a_bad_venue_time_is_a_reject_not_zero() {
    let bad_envelope = coinbase_level("1", "1").replace(
        r#""timestamp":"2026-08-09T21:05:48.210883Z""#,
        r#""timestamp":"yesterday""#,
    );
    let bad_event_time = coinbase_level("1", "1").replace(
        r#""event_time":"2026-08-09T21:05:48.210883Z""#,
        r#""event_time":"2026-13-09T21:05:48Z""#,
    );
    let cases = [
        ("coinbase", bad_envelope),
        ("coinbase", bad_event_time),
        (
            "kraken",
            kraken_v2_level("1", "1").replace(
                r#""checksum":1"#,
                r#""checksum":1,"timestamp":"2023-10-06 17:35""#,
            ),
        ),
        (
            "kraken",
            r#"{"channel":"ticker","type":"update","data":[{"symbol":"XMR/USD","bid":1,"bid_qty":1,"ask":2,"ask_qty":1,"timestamp":"nope"}]}"#.to_owned(),
        ),
        ("kraken_v1", kraken_v1_level("1.0", "1.0").replace("1618678133.365913", "-5")),
        ("binance", binance_trade("1.0", "1.0").replace(r#""T":1"#, r#""T":-1"#)),
        ("binance", binance_level("1.0", "1.0").replace(r#""E":1"#, r#""E":-1"#)),
        ("alpaca", alpaca_trade("1", "1").replace("2021-02-22T15:51:44Z", "2021-02-22")),
    ];
    for (proto, frame) in cases {
        let (_, ev) = run(proto, &[&frame]);
        assert_eq!(
            (ev.rejects.len(), market_data(&ev)),
            (1, 0),
            "{proto}: {frame}"
        );
    }
    // Absent (where the venue may omit it) is still fine: null in the tables.
    let (_, ev) = run("kraken", &[&kraken_v2_level("1", "1")]);
    assert_eq!((ev.rejects.len(), ev.deltas[0].ts_event), (0, 0));
}

// --- control messages become statuses --------------------------------------------------------

fn statuses(proto: &str, frame: &str) -> Vec<(StatusKind, String, i64)> {
    let (e, ev) = run(proto, &[frame]);
    assert_eq!(e.rejects(), 0, "{proto}: {frame}");
    ev.statuses
        .iter()
        .map(|s| (s.kind, s.message.clone(), s.ts_event))
        .collect()
}

#[test]
fn control_messages_are_statuses_in_a_stable_format() {
    let shutdown = vec![(
        StatusKind::Venue,
        "serverShutdown".to_owned(),
        1_770_123_456_789_000_000,
    )];
    for frame in [
        r#"{"e":"serverShutdown","E":1770123456789}"#,
        r#"{"stream":"btcusdt@trade","data":{"e":"serverShutdown","E":1770123456789}}"#,
    ] {
        assert_eq!(statuses("binance", frame), shutdown);
        assert_eq!(statuses("binance_us", frame), shutdown);
    }
    let error = |m: &str| vec![(StatusKind::VenueError, m.to_owned(), 0)];
    for (code, text) in [
        (401, "not authenticated"),
        (402, "auth failed"),
        (406, "connection limit exceeded"),
        (409, "insufficient subscription"),
    ] {
        let frame = format!(r#"[{{"T":"error","code":{code},"msg":"{text}"}}]"#);
        assert_eq!(
            statuses("alpaca", &frame),
            error(&format!("{code}: {text}"))
        );
    }
    assert_eq!(
        statuses(
            "binance",
            r#"{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":3}"#
        ),
        error("2: Invalid request: invalid stream")
    );
    assert_eq!(
        statuses(
            "kraken",
            r#"{"error":"Invalid depth","method":"subscribe","success":false,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}"#
        ),
        error("subscribe: Invalid depth")
    );
    assert_eq!(
        statuses(
            "coinbase",
            r#"{"type":"error","message":"failure to subscribe"}"#
        ),
        error("error: failure to subscribe")
    );
    assert_eq!(
        statuses(
            "kraken_v1",
            r#"{"errorMessage":"Subscription depth not supported","event":"subscriptionStatus","status":"error","pair":"XBT/USD"}"#
        ),
        error("subscriptionStatus: Subscription depth not supported")
    );
}
