//! Coinbase Advanced Trade WebSocket (`wss://advanced-trade-ws.coinbase.com`).
//!
//! ```json
//! {"channel":"l2_data","timestamp":"2026-08-09T21:05:48.505350477Z","sequence_num":14,
//!  "events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"bid",
//!  "event_time":"2026-08-09T21:05:48.210883Z","price_level":"65062.5","new_quantity":"0.00583"}]}]}
//! ```
//!
//! `sequence_num` is one counter for the whole connection (every channel), so a gap means
//! the connection lost messages and every book on it needs a resync. `market_trades.side` is
//! the *maker* side: in the shared recording of 2026-08-09 the `SELL` prints sit at or above
//! the best ask (tests/test_recordings.py proves it against the book), so the aggressor is the
//! opposite side.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::scan::first_field_is;
use super::{sequence_gap, snippet, Ctx, Normalizer};
use crate::event::{
    Bar, BookAction, BookCheck, BookDelta, Quote, StatusKind, Trade, FLAG_LAST, FLAG_SNAPSHOT,
    NO_INSTRUMENT,
};
use crate::instruments::PrecisionPolicy;
use crate::time::parse_rfc3339_ns;
use crate::types::{parse_decimal, significant_decimals, to_nanos, Aggressor, Side};

/// Coinbase trims trailing zeros, so an unseen product gets a precision that holds any value
/// it quotes; the products REST response, when fed, gives the real increments.
const DEFAULT_PRECISION: PrecisionPolicy = PrecisionPolicy::Default { price: 8, size: 8 };
const CANDLE_NS: i64 = 300_000_000_000;

#[derive(Deserialize)]
struct Envelope<'a> {
    channel: Option<&'a str>,
    timestamp: Option<&'a str>,
    sequence_num: Option<u64>,
    #[serde(borrow)]
    events: Option<&'a RawValue>,
    #[serde(rename = "type")]
    kind: Option<&'a str>,
    message: Option<String>,
}

/// An `l2_data` message read in one pass (`channel` already known).
#[derive(Deserialize)]
struct L2Envelope<'a> {
    timestamp: Option<&'a str>,
    sequence_num: u64,
    #[serde(borrow)]
    events: Vec<L2Event<'a>>,
}

#[derive(Deserialize)]
struct L2Event<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    product_id: &'a str,
    #[serde(borrow)]
    updates: Vec<L2Update<'a>>,
}

#[derive(Deserialize)]
struct L2Update<'a> {
    side: &'a str,
    event_time: &'a str,
    price_level: &'a str,
    new_quantity: &'a str,
}

#[derive(Deserialize)]
struct TradesEvent<'a> {
    #[serde(borrow)]
    trades: Vec<WireTrade<'a>>,
}

#[derive(Deserialize)]
struct WireTrade<'a> {
    product_id: &'a str,
    trade_id: &'a str,
    price: &'a str,
    size: &'a str,
    time: &'a str,
    side: &'a str,
}

#[derive(Deserialize)]
struct TickerEvent<'a> {
    #[serde(borrow)]
    tickers: Vec<WireTicker<'a>>,
}

#[derive(Deserialize)]
struct WireTicker<'a> {
    product_id: &'a str,
    best_bid: Option<&'a str>,
    best_bid_quantity: Option<&'a str>,
    best_ask: Option<&'a str>,
    best_ask_quantity: Option<&'a str>,
}

#[derive(Deserialize)]
struct CandlesEvent<'a> {
    #[serde(borrow)]
    candles: Vec<WireCandle<'a>>,
}

#[derive(Deserialize)]
struct WireCandle<'a> {
    product_id: &'a str,
    start: &'a str,
    open: &'a str,
    high: &'a str,
    low: &'a str,
    close: &'a str,
    volume: &'a str,
}

#[derive(Deserialize)]
struct HeartbeatEvent {
    /// A number on the wire (2026 recording), a string in Coinbase's docs example.
    #[serde(deserialize_with = "number_or_string")]
    heartbeat_counter: u64,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an unsigned integer, or one as a string")
        }
        fn visit_u64<E>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
            v.parse().map_err(E::custom)
        }
    }
    d.deserialize_any(V)
}

#[derive(Deserialize)]
struct Products<'a> {
    #[serde(borrow)]
    products: Vec<Product<'a>>,
}

#[derive(Deserialize)]
struct Product<'a> {
    product_id: &'a str,
    base_currency_id: Option<&'a str>,
    quote_currency_id: Option<&'a str>,
    price_increment: Option<&'a str>,
    quote_increment: Option<&'a str>,
    base_increment: Option<&'a str>,
}

#[derive(Default)]
struct Connection {
    last_sequence: Option<u64>,
    last_heartbeat: Option<u64>,
}

#[derive(Default)]
pub struct Coinbase {
    connections: HashMap<u32, Connection>,
}

impl Coinbase {
    /// Check `sequence_num` continuity on the frame's connection; a gap is reported and
    /// puts every book on the connection out of sync.
    fn track_sequence(
        &mut self,
        ctx: &mut Ctx<'_>,
        seq: u64,
        ts_event: i64,
    ) -> Option<&mut Connection> {
        let conn = self.connections.entry(ctx.conn).or_default();
        if conn.last_sequence == Some(seq) {
            // The same message again: drop it whole. (A lower number is a restarted
            // counter, reported as a gap below, not taken for a replay.)
            ctx.out.status(
                NO_INSTRUMENT,
                ts_event,
                ctx.ts_recv,
                StatusKind::Duplicate,
                format!("sequence_num {seq} again"),
            );
            return None;
        }
        if let Some((expected, got)) = sequence_gap(conn.last_sequence, seq) {
            ctx.out.status(
                NO_INSTRUMENT,
                ts_event,
                ctx.ts_recv,
                StatusKind::Gap,
                format!("sequence_num: expected {expected}, got {got}"),
            );
            ctx.out.check(BookCheck::ConnectionGap);
        }
        conn.last_sequence = Some(seq);
        Some(conn)
    }
}

impl Normalizer for Coinbase {
    fn venue(&self) -> &'static str {
        "coinbase"
    }

    fn precision_policy(&self) -> PrecisionPolicy {
        DEFAULT_PRECISION
    }

    fn connected(&mut self, conn: u32) {
        self.connections.remove(&conn);
    }

    /// A frame that fails after taking its sequence number still counted for gap
    /// detection: [`Ctx::keep`] keeps the gap it revealed when the rest is rolled back.
    fn frame(&mut self, ctx: &mut Ctx<'_>, data: &[u8]) -> Result<(), String> {
        // The hot channel in one pass; anything unusual takes the general path below.
        if first_field_is(data, "channel", "l2_data") {
            if let Ok(env) = serde_json::from_slice::<L2Envelope>(data) {
                let ts_event = envelope_time(env.timestamp);
                let seq = env.sequence_num;
                if self
                    .track_sequence(ctx, seq, *ts_event.as_ref().unwrap_or(&0))
                    .is_none()
                {
                    return Ok(());
                }
                ctx.keep();
                ts_event?;
                return l2_events(ctx, env.events, seq);
            }
        }
        let env: Envelope = match serde_json::from_slice(data) {
            Ok(env) => env,
            Err(e) => return Err(format!("coinbase: not a message: {e}")),
        };
        if env.kind == Some("error") {
            // `error: <Coinbase's message>`: the format every venue_error status follows.
            let msg = format!("error: {}", env.message.unwrap_or_default());
            ctx.out
                .status(NO_INSTRUMENT, 0, ctx.ts_recv, StatusKind::VenueError, msg);
            return Ok(());
        }
        let (Some(channel), Some(seq), Some(events)) = (env.channel, env.sequence_num, env.events)
        else {
            return Err(format!(
                "coinbase: message without channel/sequence_num/events: {}",
                snippet(data)
            ));
        };
        let ts_event = envelope_time(env.timestamp);
        let Some(conn) = self.track_sequence(ctx, seq, *ts_event.as_ref().unwrap_or(&0)) else {
            return Ok(());
        };
        ctx.keep();
        let ts_event = ts_event?;
        match channel {
            "l2_data" => l2_data(ctx, events.get(), seq),
            "market_trades" => market_trades(ctx, events.get()),
            "ticker" | "ticker_batch" => ticker(ctx, events.get(), ts_event),
            "candles" => candles(ctx, events.get()),
            "heartbeats" => heartbeats(ctx, events.get(), ts_event, conn),
            "subscriptions" => {
                ctx.out.status(
                    NO_INSTRUMENT,
                    ts_event,
                    ctx.ts_recv,
                    StatusKind::Subscribed,
                    events.get(),
                );
                Ok(())
            }
            "status" => {
                ctx.out.status(
                    NO_INSTRUMENT,
                    ts_event,
                    ctx.ts_recv,
                    StatusKind::Venue,
                    events.get(),
                );
                Ok(())
            }
            other => Err(format!("coinbase: unknown channel {other:?}")),
        }
    }

    fn http(&mut self, ctx: &mut Ctx<'_>, url: &str, body: &[u8]) -> Result<(), String> {
        if !url.contains("/products") {
            return Ok(());
        }
        let products: Products = serde_json::from_slice(body)
            .map_err(|e| format!("coinbase: bad products response: {e}"))?;
        for p in products.products {
            let price_inc = p.price_increment.or(p.quote_increment);
            let base_quote = p.base_currency_id.zip(p.quote_currency_id);
            ctx.instruments.define(
                p.product_id,
                base_quote,
                price_inc.and_then(increment_decimals),
                p.base_increment.and_then(increment_decimals),
            );
        }
        Ok(())
    }
}

/// The envelope's `timestamp`: absent is 0 (null in the tables), unreadable is a reject.
fn envelope_time(timestamp: Option<&str>) -> Result<i64, String> {
    timestamp.map_or(Ok(0), |t| rfc3339("envelope timestamp", t))
}

/// An RFC 3339 time; `context` names where it was in the reject reason.
fn rfc3339(context: &str, t: &str) -> Result<i64, String> {
    parse_rfc3339_ns(t.as_bytes()).ok_or_else(|| format!("coinbase {context}: bad time {t:?}"))
}

/// `"0.01"` → 2.
fn increment_decimals(increment: &str) -> Option<u8> {
    parse_decimal(increment.as_bytes())
        .ok()
        .map(significant_decimals)
}

fn l2_data(ctx: &mut Ctx<'_>, events: &str, seq: u64) -> Result<(), String> {
    let events: Vec<L2Event> =
        serde_json::from_str(events).map_err(|e| format!("coinbase l2_data: {e}"))?;
    l2_events(ctx, events, seq)
}

fn l2_events(ctx: &mut Ctx<'_>, events: Vec<L2Event<'_>>, seq: u64) -> Result<(), String> {
    for ev in events {
        let inst = ctx.instruments.intern(ev.product_id);
        let snapshot = match ev.kind {
            "snapshot" => true,
            "update" => false,
            other => return Err(format!("coinbase l2_data: unknown event type {other:?}")),
        };
        let start = ctx.out.deltas.len();
        if snapshot {
            let ts_event = match ev.updates.first() {
                Some(u) => rfc3339("l2_data event_time", u.event_time)?,
                None => 0,
            };
            ctx.out
                .deltas
                .push(BookDelta::clear(inst, ts_event, ctx.ts_recv, seq));
        }
        // Updates of one message mostly share their event_time: parse each distinct one once.
        let mut last_time: (&str, i64) = ("", 0);
        for u in &ev.updates {
            let side = match u.side {
                "bid" => Side::Bid,
                "offer" | "ask" => Side::Ask,
                other => return Err(format!("coinbase l2_data: unknown side {other:?}")),
            };
            let price = ctx.price(inst, u.price_level)?;
            let size = ctx.size(inst, u.new_quantity)?;
            if u.event_time != last_time.0 {
                last_time = (u.event_time, rfc3339("l2_data event_time", u.event_time)?);
            }
            ctx.out.deltas.push(BookDelta {
                instrument: inst,
                ts_event: last_time.1,
                ts_recv: ctx.ts_recv,
                action: BookAction::Set,
                side,
                price,
                size,
                sequence: seq,
                flags: if snapshot { FLAG_SNAPSHOT } else { 0 },
                precision: ctx.instruments.precision(inst),
            });
        }
        if let Some(last) = ctx.out.deltas[start..].last_mut() {
            last.flags |= FLAG_LAST;
        }
    }
    Ok(())
}

fn market_trades(ctx: &mut Ctx<'_>, events: &str) -> Result<(), String> {
    let events: Vec<TradesEvent> =
        serde_json::from_str(events).map_err(|e| format!("coinbase market_trades: {e}"))?;
    for ev in events {
        for t in ev.trades {
            let inst = ctx.instruments.intern(t.product_id);
            // `side` is the maker's side; the aggressor took the other one.
            let aggressor = match t.side {
                "SELL" => Aggressor::Buy,
                "BUY" => Aggressor::Sell,
                _ => Aggressor::Unknown,
            };
            let trade = Trade {
                instrument: inst,
                ts_event: rfc3339("market_trades", t.time)?,
                ts_recv: ctx.ts_recv,
                price: ctx.price(inst, t.price)?,
                size: ctx.trade_size(inst, t.size)?,
                aggressor,
                trade_id: t.trade_id.parse().unwrap_or(0),
                precision: ctx.instruments.precision(inst),
            };
            ctx.out.trades.push(trade);
        }
    }
    Ok(())
}

fn ticker(ctx: &mut Ctx<'_>, events: &str, ts_event: i64) -> Result<(), String> {
    let events: Vec<TickerEvent> =
        serde_json::from_str(events).map_err(|e| format!("coinbase ticker: {e}"))?;
    for ev in events {
        for t in ev.tickers {
            let inst = ctx.instruments.intern(t.product_id);
            fn field(v: Option<&str>) -> &str {
                v.filter(|s| !s.is_empty()).unwrap_or("0")
            }
            let quote = Quote {
                instrument: inst,
                ts_event,
                ts_recv: ctx.ts_recv,
                bid_price: ctx.price(inst, field(t.best_bid))?,
                bid_size: ctx.size(inst, field(t.best_bid_quantity))?,
                ask_price: ctx.price(inst, field(t.best_ask))?,
                ask_size: ctx.size(inst, field(t.best_ask_quantity))?,
                precision: ctx.instruments.precision(inst),
            };
            ctx.out.quotes.push(quote);
        }
    }
    Ok(())
}

fn candles(ctx: &mut Ctx<'_>, events: &str) -> Result<(), String> {
    let events: Vec<CandlesEvent> =
        serde_json::from_str(events).map_err(|e| format!("coinbase candles: {e}"))?;
    for ev in events {
        for c in ev.candles {
            let inst = ctx.instruments.intern(c.product_id);
            let start: i64 = c
                .start
                .parse()
                .map_err(|_| format!("coinbase candles: bad start {:?}", c.start))?;
            let bar = Bar {
                instrument: inst,
                ts_event: to_nanos(start, 1_000_000_000)?,
                ts_recv: ctx.ts_recv,
                interval_ns: CANDLE_NS,
                open: ctx.price(inst, c.open)?,
                high: ctx.price(inst, c.high)?,
                low: ctx.price(inst, c.low)?,
                close: ctx.price(inst, c.close)?,
                volume: ctx.size(inst, c.volume)?,
                closed: false,
                precision: ctx.instruments.precision(inst),
            };
            ctx.out.bars.push(bar);
        }
    }
    Ok(())
}

fn heartbeats(
    ctx: &mut Ctx<'_>,
    events: &str,
    ts_event: i64,
    conn: &mut Connection,
) -> Result<(), String> {
    let events: Vec<HeartbeatEvent> =
        serde_json::from_str(events).map_err(|e| format!("coinbase heartbeats: {e}"))?;
    for hb in events {
        if let Some((expected, got)) = sequence_gap(conn.last_heartbeat, hb.heartbeat_counter) {
            ctx.out.status(
                NO_INSTRUMENT,
                ts_event,
                ctx.ts_recv,
                StatusKind::Gap,
                format!("heartbeat_counter: expected {expected}, got {got}"),
            );
        }
        conn.last_heartbeat = Some(hb.heartbeat_counter);
        ctx.out.status(
            NO_INSTRUMENT,
            ts_event,
            ctx.ts_recv,
            StatusKind::Heartbeat,
            String::new(),
        );
    }
    Ok(())
}

#[cfg(test)]
#[path = "coinbase_tests.rs"]
mod tests;
