//! Alpaca normalizer tests: every documented message shape, from tests/fixtures/alpaca/.

use crate::event::InstrumentIdx;
use serde_json::{json, Value};

use super::*;
use crate::engine::Engine;
use crate::event::Events;
use crate::instruments::Instruments;
use crate::types::format_fixed;

fn run(frames: &[&str]) -> (Instruments, Events) {
    let mut venue = Alpaca;
    let mut instruments = Instruments::new(venue.venue(), venue.precision_policy());
    let mut out = Events::new();
    for frame in frames {
        let mut ctx = Ctx::new(&mut instruments, &mut out, 7, 0);
        super::super::normalize_frame(&mut venue, &mut ctx, frame.as_bytes());
    }
    (instruments, out)
}

/// A mantissa written the way Alpaca writes numbers: trailing zeros trimmed.
fn decimal(mantissa: i64, precision: u8) -> Value {
    let fixed = format_fixed(mantissa, precision);
    let trimmed = match fixed.contains('.') {
        true => fixed.trim_end_matches('0').trim_end_matches('.'),
        false => &fixed,
    };
    Value::from(trimmed)
}

/// The events of one kind in the terms of the fixtures' `expect`.
fn actual(inst: &Instruments, out: &Events, kind: &str) -> Vec<Value> {
    let name = |i: InstrumentIdx| inst.get(i).map(|x| x.canonical.clone());
    let price = |i: InstrumentIdx, m: i64| decimal(m, inst.price_precision(i));
    let size = |i: InstrumentIdx, m: i64| decimal(m, inst.size_precision(i));
    match kind {
        "trades" => out.trades.iter().map(|t| json!({
            "instrument": name(t.instrument), "ts_event": t.ts_event,
            "price": price(t.instrument, t.price), "size": size(t.instrument, t.size),
            "aggressor": t.aggressor.as_str(), "trade_id": t.trade_id,
        })).collect(),
        "quotes" => out.quotes.iter().map(|q| json!({
            "instrument": name(q.instrument), "ts_event": q.ts_event,
            "bid_price": price(q.instrument, q.bid_price),
            "bid_size": size(q.instrument, q.bid_size),
            "ask_price": price(q.instrument, q.ask_price),
            "ask_size": size(q.instrument, q.ask_size),
        })).collect(),
        "deltas" => out.deltas.iter().map(|d| json!({
            "instrument": name(d.instrument), "ts_event": d.ts_event,
            "action": match d.action { BookAction::Clear => "clear", BookAction::Set => "set" },
            "side": d.side.as_str(), "price": price(d.instrument, d.price),
            "size": size(d.instrument, d.size), "flags": d.flags,
        })).collect(),
        "bars" => out.bars.iter().map(|b| json!({
            "instrument": name(b.instrument), "ts_event": b.ts_event,
            "interval_ns": b.interval_ns, "open": price(b.instrument, b.open),
            "high": price(b.instrument, b.high), "low": price(b.instrument, b.low),
            "close": price(b.instrument, b.close), "volume": size(b.instrument, b.volume),
            "closed": b.closed,
        })).collect(),
        "news" => out.news.iter().map(|n| json!({
            "ts_event": n.ts_event, "updated_at": n.updated_at, "id": n.id,
            "headline": n.headline, "summary": n.summary, "author": n.author,
            "source": n.source, "url": n.url, "content": n.content, "symbols": n.symbols,
        })).collect(),
        "statuses" => out.statuses.iter().map(|s| json!({
            "instrument": name(s.instrument), "ts_event": s.ts_event,
            "kind": s.kind.as_str(), "message": s.message,
        })).collect(),
        "rejects" => out.rejects.iter().map(|r| json!({ "reason": r.reason })).collect(),
        other => panic!("unknown event kind {other}"),
    }
}

/// A file of tests/fixtures/alpaca/: the frame as written, and what it must produce.
#[derive(Deserialize)]
struct Fixture<'a> {
    #[serde(borrow)]
    frame: &'a RawValue,
    expect: Value,
}

fn fixture(text: &str) -> Fixture<'_> {
    serde_json::from_str(text).expect("fixture is JSON")
}

/// Feeds a fixture's frame and checks every count and listed field of its `expect`.
fn check(text: &str) -> (Instruments, Events) {
    let fx = fixture(text);
    let (inst, out) = run(&[fx.frame.get()]);
    let counts = fx.expect["counts"].as_object().expect("expect.counts");
    for (kind, count) in counts {
        let got = actual(&inst, &out, kind);
        assert_eq!(
            Some(got.len() as u64),
            count.as_u64(),
            "{kind}: {got:?} {:?}",
            out.rejects
        );
        for (i, want) in fx.expect[kind].as_array().into_iter().flatten().enumerate() {
            for (field, value) in want.as_object().expect("expected event") {
                if field == "reason_contains" {
                    let reason = got[i]["reason"].as_str().unwrap_or_default();
                    assert!(reason.contains(value.as_str().unwrap_or("?")), "{reason}");
                } else {
                    assert_eq!(&got[i][field], value, "{kind}[{i}].{field}");
                }
            }
        }
    }
    (inst, out)
}

macro_rules! fixture_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            super::check(include_str!(concat!(
                "../../../tests/fixtures/alpaca/", stringify!($name), ".json"
            )));
        }
    )*};
}

/// One test per file in tests/fixtures/alpaca/.
mod fixtures {
    fixture_tests!(
        control_connected,
        control_authenticated,
        control_error,
        control_subscription,
        crypto_subscription,
        news_subscription,
        stocks_trade,
        stocks_trade_object,
        stocks_quotes,
        stocks_bar,
        stocks_updated_bar,
        stocks_daily_bar,
        stocks_trading_status,
        stocks_luld,
        stocks_correction,
        stocks_cancel_error,
        stocks_imbalance,
        crypto_trade,
        crypto_quote,
        crypto_bar,
        crypto_orderbook,
        crypto_orderbook_update,
        news,
        reject_bad_field,
        reject_unknown_type,
        control_error_codes,
        reject_negative_price,
        reject_zero_trade_size,
        reject_negative_book_size,
    );
}

fn reasons(out: &Events) -> Vec<&str> {
    out.rejects.iter().map(|r| r.reason.as_str()).collect()
}

#[test]
fn malformed_frames_are_rejected_with_a_reason() {
    let (_, out) = run(&[
        "not json",
        "[]",
        "{}",
        "[1]",
        r#"[{"T":"t","S":"AAPL","p":1,"s":1}]"#,
        r#"[{"T":"q","S":"AMD","bp":87.66,"bs":1,"ap":87.68,"as":4,"t":"yesterday"}]"#,
    ]);
    let reasons = reasons(&out);
    assert_eq!(reasons.len(), 6, "{reasons:?}");
    assert!(reasons[0].starts_with("alpaca: not a message frame"));
    assert_eq!(reasons[1], "alpaca: empty message array");
    assert!(
        reasons[2].contains("without a type \"T\""),
        "{}",
        reasons[2]
    );
    assert!(
        reasons[3].contains("without a type \"T\""),
        "{}",
        reasons[3]
    );
    assert!(
        reasons[4].contains("trade (\"T\":\"t\"): missing field `t`"),
        "{}",
        reasons[4]
    );
    assert!(
        reasons[5].contains("quote (\"T\":\"q\"): bad t \"yesterday\""),
        "{}",
        reasons[5]
    );
    assert_eq!(out.len(), 6);
}

#[test]
fn one_bad_message_rolls_back_every_kind() {
    let (_, out) = run(&[concat!(
        r#"[{"T":"success","msg":"authenticated"},"#,
        r#"{"T":"o","S":"BTC/USD","t":"2024-03-12T10:38:50.79613221Z","r":true,"#,
        r#""b":[{"p":71859.53,"s":0.27994}],"a":[{"p":71862.1,"s":0.27813}]},"#,
        r#"{"T":"n","id":1,"headline":"h","created_at":"2024-03-12T10:38:50Z","#,
        r#""updated_at":"2024-03-12T10:38:50Z"},"#,
        r#"{"T":"o","S":"BTC/USD","t":"2024-03-12T10:38:51Z","b":[{"p":71859.53,"s":null}]}]"#,
    )]);
    assert_eq!(out.len(), 1, "{:?}", out.rejects);
    assert!(out.rejects[0].reason.contains("message 4 of 4: orderbook"));
    assert!(out.rejects[0].reason.contains("bad b.s \"null\""));
}

#[test]
fn aggressor_comes_from_the_crypto_taker_side_only() {
    let trade = |tks: &str| {
        format!(
            r#"[{{"T":"t","S":"BTC/USD","p":71857.1,"s":0.001,"t":"2024-03-12T10:27:48Z","i":9{tks}}}]"#
        )
    };
    let frames = [
        trade(r#","tks":"B""#),
        trade(r#","tks":"S""#),
        trade(r#","tks":"-""#),
        trade(""),
    ];
    let (_, out) = run(&frames.iter().map(String::as_str).collect::<Vec<_>>());
    let sides: Vec<_> = out.trades.iter().map(|t| t.aggressor).collect();
    use Aggressor::{Buy, Sell, Unknown};
    assert_eq!(sides, [Buy, Sell, Unknown, Unknown]);
}

#[test]
fn nine_decimals_hold_meme_coin_prices_and_exponents() {
    let (inst, out) = run(&[
        r#"[{"T":"q","S":"SHIB/USD","bp":0.000012345,"bs":1e8,"ap":1.2346e-5,"as":12000000.5,"t":"2024-03-12T10:29:43Z"}]"#,
        r#"[{"T":"q","S":"SHIB/USD","bp":0.0000123451,"bs":1,"ap":0.0000124,"as":1,"t":"2024-03-12T10:29:44Z"}]"#,
    ]);
    let q = &out.quotes[0];
    let i = q.instrument;
    assert_eq!(
        inst.get(i).map(|x| x.canonical.as_str()),
        Some("SHIB-USD@alpaca")
    );
    assert_eq!((q.bid_price, q.ask_price), (12_345, 12_346));
    assert_eq!(
        (q.bid_size, q.ask_size),
        (100_000_000_000_000_000, 12_000_000_500_000_000)
    );
    assert_eq!(out.quotes.len(), 1);
    assert!(reasons(&out)[0].contains("bad bp \"0.0000123451\": decimal has 10"));
}

#[test]
fn strings_with_escapes_decode_and_optional_news_fields_default() {
    let (inst, out) = run(&[
        r#"[{"T":"t","S":"ETH\/USD","p":3990.5,"s":0.1,"t":"2024-03-12T10:27:48Z","i":1,"tks":"B"}]"#,
        r#"[{"T":"n","id":7,"headline":"Caf\u00e9 \"quotes\"","created_at":"2024-03-12T10:00:00Z","updated_at":"2024-03-12T10:05:00.5Z","url":null}]"#,
    ]);
    let name = inst
        .get(out.trades[0].instrument)
        .map(|x| x.canonical.as_str());
    assert_eq!(name, Some("ETH-USD@alpaca"));
    let n = &out.news[0];
    assert_eq!(n.headline, "Café \"quotes\"");
    assert_eq!(
        (n.url.as_str(), n.summary.as_str(), n.symbols.len()),
        ("", "", 0)
    );
    assert_eq!(n.updated_at - n.ts_event, 300_500_000_000);
}

#[test]
fn orderbook_snapshot_then_update_builds_the_engine_book() {
    let snapshot = include_str!("../../../tests/fixtures/alpaca/crypto_orderbook.json");
    let update = include_str!("../../../tests/fixtures/alpaca/crypto_orderbook_update.json");
    let mut engine = Engine::new("alpaca").expect("alpaca protocol");
    engine.feed(fixture(snapshot).frame.get().as_bytes(), 1, 0);
    engine.feed(fixture(update).frame.get().as_bytes(), 2, 0);
    let inst = engine.instruments().find("BTC/USD").expect("interned");
    assert!(engine.is_synced(inst));
    let book = engine.book(inst).expect("book");
    // 23474 was deleted by the update; 23476 resized to 0.35.
    assert_eq!(book.best_bid(), Some((23_475_000_000_000, 124_000_000)));
    assert_eq!(book.best_ask(), Some((23_476_000_000_000, 350_000_000)));
    assert_eq!(engine.stats(inst).book_updates, 1);
    assert_eq!(engine.rejects(), 0);
}
