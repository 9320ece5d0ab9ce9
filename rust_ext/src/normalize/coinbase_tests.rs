//! Coinbase tests: the two l2_data paths, `sequence_num` gaps and duplicates per connection,
//! heartbeat counters, and trade sides (the wire's maker side turned into the aggressor).

use super::*;
use crate::engine::Engine;
use crate::event::Events;
use crate::instruments::Instruments;

fn run(frame: &[u8]) -> Events {
    let mut instruments = Instruments::new("coinbase", DEFAULT_PRECISION);
    let mut out = Events::new();
    let mut ctx = Ctx::new(&mut instruments, &mut out, 1, 0);
    super::super::normalize_frame(&mut Coinbase::default(), &mut ctx, frame);
    out
}

/// The one-pass `l2_data` path and the general path agree.
#[test]
fn l2_data_paths_agree() {
    let events = r#"[{"type":"update","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2026-08-09T21:05:48.210883Z","price_level":"65062.5","new_quantity":"0.00583"},{"side":"offer","event_time":"2026-08-09T21:05:48.210883Z","price_level":"65070","new_quantity":"0"}]}]"#;
    let leading = format!(
        r#"{{"channel":"l2_data","timestamp":"2026-08-09T21:05:48.505350477Z","sequence_num":14,"events":{events}}}"#
    );
    let trailing = format!(
        r#"{{"sequence_num":14,"events":{events},"timestamp":"2026-08-09T21:05:48.505350477Z","channel":"l2_data"}}"#
    );
    assert!(first_field_is(leading.as_bytes(), "channel", "l2_data"));
    assert!(!first_field_is(trailing.as_bytes(), "channel", "l2_data"));
    let (a, b) = (run(leading.as_bytes()), run(trailing.as_bytes()));
    assert_eq!(a.deltas.len(), 2);
    assert_eq!(a.deltas, b.deltas);
    assert!(a.rejects.is_empty() && b.rejects.is_empty());
    // A malformed hot frame still gets the general path's reject.
    let broken = leading.replace("65062.5", "65,062.5");
    assert_eq!(run(broken.as_bytes()).rejects.len(), 1);
}

const TS: &str = "2026-08-09T21:05:48.210883Z";

fn level_frame(seq: u64, kind: &str, price: &str, size: &str) -> String {
    format!(
        r#"{{"channel":"l2_data","timestamp":"{TS}","sequence_num":{seq},"events":[{{"type":"{kind}","product_id":"BTC-USD","updates":[{{"side":"bid","event_time":"{TS}","price_level":"{price}","new_quantity":"{size}"}}]}}]}}"#
    )
}

fn trades_frame(seq: u64, sides: &[&str]) -> String {
    let trades: Vec<String> = sides
        .iter()
        .enumerate()
        .map(|(i, side)| {
            format!(
                r#"{{"trade_id":"{}","product_id":"BTC-USD","price":"100.5","size":"0.1","side":"{side}","time":"{TS}"}}"#,
                i + 1
            )
        })
        .collect();
    format!(
        r#"{{"channel":"market_trades","timestamp":"{TS}","sequence_num":{seq},"events":[{{"type":"update","trades":[{}]}}]}}"#,
        trades.join(",")
    )
}

fn heartbeat_frame(seq: u64, counter: u64) -> String {
    format!(
        r#"{{"channel":"heartbeats","timestamp":"{TS}","sequence_num":{seq},"events":[{{"current_time":"x","heartbeat_counter":{counter}}}]}}"#
    )
}

fn kinds(ev: &Events) -> Vec<(StatusKind, String)> {
    ev.statuses
        .iter()
        .map(|s| (s.kind, s.message.clone()))
        .collect()
}

/// `side` on the wire is the maker's: SELL prints were taken by a buyer.
#[test]
fn trade_side_is_the_opposite_of_the_makers() {
    let ev = run(trades_frame(1, &["SELL", "BUY", "UNKNOWN"]).as_bytes());
    let sides: Vec<Aggressor> = ev.trades.iter().map(|t| t.aggressor).collect();
    assert_eq!(sides, [Aggressor::Buy, Aggressor::Sell, Aggressor::Unknown]);
    assert_eq!(ev.trades[0].trade_id, 1);
}

#[test]
fn a_sequence_gap_puts_every_synced_book_out_of_sync() {
    let mut e = Engine::new("coinbase").unwrap();
    e.feed(level_frame(1, "snapshot", "100", "1").as_bytes(), 1, 0);
    e.feed(level_frame(2, "update", "101", "1").as_bytes(), 2, 0);
    let inst = e.instruments().find("BTC-USD").unwrap();
    assert!(e.is_synced(inst) && e.connection_gaps() == 0);
    e.feed(level_frame(5, "update", "102", "1").as_bytes(), 3, 0);
    assert_eq!(e.connection_gaps(), 1);
    assert!(!e.is_synced(inst));
    assert_eq!(e.out_of_sync(), vec![inst]);
    let statuses = kinds(&e.take());
    assert!(statuses.contains(&(StatusKind::Gap, "sequence_num: expected 3, got 5".into())));
    assert!(statuses.contains(&(StatusKind::ResyncNeeded, "connection sequence gap".into())));
    // The next snapshot brings it back.
    e.feed(level_frame(6, "snapshot", "100", "2").as_bytes(), 4, 0);
    assert!(e.is_synced(inst));
}

#[test]
fn a_repeated_sequence_number_is_a_duplicate_and_a_lower_one_a_gap() {
    let mut e = Engine::new("coinbase").unwrap();
    e.feed(trades_frame(7, &["BUY"]).as_bytes(), 1, 0);
    e.feed(trades_frame(7, &["BUY"]).as_bytes(), 2, 0);
    let ev = e.take();
    assert_eq!(ev.trades.len(), 1);
    assert_eq!(
        kinds(&ev),
        [(StatusKind::Duplicate, "sequence_num 7 again".to_owned())]
    );
    e.feed(heartbeat_frame(3, 1).as_bytes(), 3, 0);
    assert_eq!(
        e.connection_gaps(),
        1,
        "a restarted counter is a gap, not a replay"
    );
}

#[test]
fn sequence_numbers_are_per_connection_and_start_over_on_connect() {
    let mut e = Engine::new("coinbase").unwrap();
    e.feed(heartbeat_frame(1, 1).as_bytes(), 1, 0);
    e.feed(heartbeat_frame(1, 1).as_bytes(), 2, 1);
    e.feed(heartbeat_frame(2, 2).as_bytes(), 3, 0);
    e.feed(heartbeat_frame(2, 2).as_bytes(), 4, 1);
    assert_eq!(e.connection_gaps(), 0);
    e.connected(0);
    e.feed(heartbeat_frame(1, 1).as_bytes(), 5, 0);
    assert_eq!(e.connection_gaps(), 0);
    assert!(kinds(&e.take())
        .iter()
        .all(|(k, _)| *k == StatusKind::Heartbeat));
}

/// A frame rejected after its sequence number was taken still counts: the next one is no
/// gap, and a gap it revealed stays reported.
#[test]
fn a_rejected_frame_keeps_its_sequence_number_and_its_gap() {
    let mut e = Engine::new("coinbase").unwrap();
    e.feed(level_frame(1, "snapshot", "100", "1").as_bytes(), 1, 0);
    e.feed(level_frame(3, "update", "-5", "1").as_bytes(), 2, 0);
    e.feed(level_frame(4, "update", "101", "1").as_bytes(), 3, 0);
    assert_eq!((e.rejects(), e.connection_gaps()), (1, 1));
    let ev = e.take();
    assert!(kinds(&ev).contains(&(StatusKind::Gap, "sequence_num: expected 2, got 3".into())));
    assert_eq!(
        ev.deltas.len(),
        3,
        "clear + snapshot level + the update after"
    );
}

#[test]
fn a_heartbeat_counter_gap_is_reported() {
    let mut e = Engine::new("coinbase").unwrap();
    e.feed(heartbeat_frame(1, 10).as_bytes(), 1, 0);
    e.feed(heartbeat_frame(2, 12).as_bytes(), 2, 0);
    let statuses = kinds(&e.take());
    assert!(statuses.contains(&(
        StatusKind::Gap,
        "heartbeat_counter: expected 11, got 12".into()
    )));
    assert_eq!(
        e.connection_gaps(),
        0,
        "heartbeat counters are no sequence gap"
    );
}
