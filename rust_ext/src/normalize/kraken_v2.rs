//! Kraken WebSocket v2 (`wss://ws.kraken.com/v2`).
//!
//! ```json
//! {"channel":"book","type":"update","data":[{"symbol":"MATIC/USD","bids":[{"price":0.5657,
//!  "qty":1098.3947558}],"asks":[],"checksum":2114181697,"timestamp":"2023-10-06T17:35:55.440295Z"}]}
//! ```
//!
//! Prices and quantities are JSON numbers. We read their text exactly (never as floats) at
//! the pair's `price_precision` / `qty_precision`, which the `instrument` channel announces;
//! the checksum is computed over those digits. Without the instrument channel, a book
//! snapshot's widest value fixes the precision. The book keeps the subscribed depth
//! (10 unless the subscription said otherwise) and is trimmed after every update.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::scan::first_field_is;
use super::{field_error, snippet, Ctx, Normalizer};
use crate::event::{
    Bar, BookAction, BookCheck, BookDelta, InstrumentIdx, Quote, StatusKind, Trade, FLAG_LAST,
    FLAG_SNAPSHOT, NO_INSTRUMENT,
};
use crate::instruments::PrecisionPolicy;
use crate::time::parse_rfc3339_ns;
use crate::types::{parse_json_decimal, to_nanos, Aggressor, RawDecimal, Side};

/// Kraken's default book depth for a v2 subscription.
pub const DEFAULT_DEPTH: usize = 10;

#[derive(Deserialize)]
struct Envelope<'a> {
    channel: Option<&'a str>,
    #[serde(rename = "type")]
    kind: Option<&'a str>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    method: Option<&'a str>,
    success: Option<bool>,
    error: Option<String>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
}

/// A `book` message read in one pass (`channel` already known).
#[derive(Deserialize)]
struct BookEnvelope<'a> {
    #[serde(rename = "type")]
    kind: Option<&'a str>,
    #[serde(borrow)]
    data: Vec<WireBook<'a>>,
}

#[derive(Deserialize)]
struct WireLevel<'a> {
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    qty: &'a RawValue,
}

#[derive(Deserialize)]
struct WireBook<'a> {
    symbol: &'a str,
    #[serde(borrow, default)]
    bids: Vec<WireLevel<'a>>,
    #[serde(borrow, default)]
    asks: Vec<WireLevel<'a>>,
    checksum: Option<u32>,
    timestamp: Option<&'a str>,
}

#[derive(Deserialize)]
struct WireTrade<'a> {
    symbol: &'a str,
    side: &'a str,
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    qty: &'a RawValue,
    trade_id: Option<u64>,
    timestamp: &'a str,
}

#[derive(Deserialize)]
struct WireTicker<'a> {
    symbol: &'a str,
    #[serde(borrow)]
    bid: &'a RawValue,
    #[serde(borrow)]
    bid_qty: &'a RawValue,
    #[serde(borrow)]
    ask: &'a RawValue,
    #[serde(borrow)]
    ask_qty: &'a RawValue,
    timestamp: Option<&'a str>,
}

#[derive(Deserialize)]
struct WireOhlc<'a> {
    symbol: &'a str,
    #[serde(borrow)]
    open: &'a RawValue,
    #[serde(borrow)]
    high: &'a RawValue,
    #[serde(borrow)]
    low: &'a RawValue,
    #[serde(borrow)]
    close: &'a RawValue,
    #[serde(borrow)]
    volume: &'a RawValue,
    interval_begin: &'a str,
    interval: i64,
}

#[derive(Deserialize)]
struct WireInstruments<'a> {
    #[serde(borrow, default)]
    pairs: Vec<WirePair<'a>>,
}

#[derive(Deserialize)]
struct WirePair<'a> {
    symbol: &'a str,
    base: Option<&'a str>,
    quote: Option<&'a str>,
    price_precision: Option<u8>,
    qty_precision: Option<u8>,
}

#[derive(Deserialize)]
struct SubscribeResult<'a> {
    channel: Option<&'a str>,
    symbol: Option<&'a str>,
    depth: Option<usize>,
}

#[derive(Default)]
pub struct KrakenV2;

impl Normalizer for KrakenV2 {
    fn venue(&self) -> &'static str {
        "kraken"
    }

    /// v2 trims trailing zeros, so a first value says nothing about the precision. Until the
    /// `instrument` channel or a book snapshot tells, values are read at 8 decimals (each
    /// event carries the precision it was read at).
    fn precision_policy(&self) -> PrecisionPolicy {
        PrecisionPolicy::Default { price: 8, size: 8 }
    }

    fn frame(&mut self, ctx: &mut Ctx<'_>, data: &[u8]) -> Result<(), String> {
        frame(ctx, data)
    }
}

fn frame(ctx: &mut Ctx<'_>, data: &[u8]) -> Result<(), String> {
    // The hot channel in one pass; anything unusual takes the general path below.
    if first_field_is(data, "channel", "book") {
        if let Ok(env) = serde_json::from_slice::<BookEnvelope>(data) {
            return book_entries(ctx, env.data, env.kind == Some("snapshot"));
        }
    }
    let env: Envelope =
        serde_json::from_slice(data).map_err(|e| format!("kraken v2: not a message: {e}"))?;
    if let Some(method) = env.method {
        return method_response(ctx, method, &env);
    }
    let channel = env
        .channel
        .ok_or_else(|| format!("kraken v2: message without channel: {}", snippet(data)))?;
    let payload = || {
        env.data
            .map(RawValue::get)
            .ok_or_else(|| format!("kraken v2 {channel}: no data"))
    };
    match channel {
        "book" => book(ctx, payload()?, env.kind == Some("snapshot")),
        "trade" => trades(ctx, payload()?),
        "ticker" => ticker(ctx, payload()?),
        "ohlc" => ohlc(ctx, payload()?),
        "instrument" => instruments(ctx, payload()?),
        "heartbeat" => {
            ctx.out
                .status(NO_INSTRUMENT, 0, ctx.ts_recv, StatusKind::Heartbeat, "");
            Ok(())
        }
        "status" => {
            ctx.out
                .status(NO_INSTRUMENT, 0, ctx.ts_recv, StatusKind::Venue, payload()?);
            Ok(())
        }
        other => Err(format!("kraken v2: unknown channel {other:?}")),
    }
}

fn method_response(ctx: &mut Ctx<'_>, method: &str, env: &Envelope<'_>) -> Result<(), String> {
    if env.success == Some(false) {
        let msg = format!("{method}: {}", env.error.as_deref().unwrap_or("failed"));
        ctx.out
            .status(NO_INSTRUMENT, 0, ctx.ts_recv, StatusKind::VenueError, msg);
        return Ok(());
    }
    let result: Option<SubscribeResult> =
        env.result.and_then(|r| serde_json::from_str(r.get()).ok());
    let mut inst = NO_INSTRUMENT;
    let mut message = method.to_owned();
    if let Some(r) = result {
        if let Some(symbol) = r.symbol {
            inst = ctx.instruments.intern(symbol);
            if let (Some("book"), Some(depth)) = (r.channel, r.depth) {
                ctx.instruments.set_book_depth(inst, depth, false);
            }
        }
        if let Some(channel) = r.channel {
            message = format!("{method} {channel}");
        }
    }
    let kind = if method == "subscribe" {
        StatusKind::Subscribed
    } else {
        StatusKind::Venue
    };
    ctx.out.status(inst, 0, ctx.ts_recv, kind, message);
    Ok(())
}

/// A `timestamp` the venue may leave out (0, null in the tables); present but unreadable, it
/// rejects the frame.
fn optional_time(channel: &str, timestamp: Option<&str>) -> Result<i64, String> {
    timestamp.map_or(Ok(0), |t| {
        parse_rfc3339_ns(t.as_bytes())
            .ok_or_else(|| format!("kraken v2 {channel}: bad timestamp {t:?}"))
    })
}

fn number(raw: &RawValue, field: &str) -> Result<RawDecimal, String> {
    parse_json_decimal(raw.get().as_bytes()).map_err(|e| field_error(field, raw.get(), e))
}

/// Without reference data, the widest value of a snapshot fixes the precision (replacing the
/// provisional default), so that the checksum is computed over the right digits. Written
/// decimals count, trailing zeros included: Kraken sends full precision on the wire.
fn infer_precision(ctx: &mut Ctx<'_>, inst: InstrumentIdx, b: &WireBook<'_>) -> Result<(), String> {
    let Some(i) = ctx.instruments.get(inst) else {
        return Ok(());
    };
    if i.defined {
        return Ok(());
    }
    let (mut price_dp, mut qty_dp) = (0u8, 0u8);
    for l in b.bids.iter().chain(&b.asks) {
        price_dp = price_dp.max(number(l.price, "price")?.decimals);
        qty_dp = qty_dp.max(number(l.qty, "qty")?.decimals);
    }
    ctx.instruments.set_precision(inst, price_dp, qty_dp);
    Ok(())
}

fn book(ctx: &mut Ctx<'_>, data: &str, snapshot: bool) -> Result<(), String> {
    let books: Vec<WireBook> =
        serde_json::from_str(data).map_err(|e| format!("kraken v2 book: {e}"))?;
    book_entries(ctx, books, snapshot)
}

fn book_entries(ctx: &mut Ctx<'_>, books: Vec<WireBook<'_>>, snapshot: bool) -> Result<(), String> {
    for b in books {
        let inst = ctx.instruments.intern(b.symbol);
        ctx.instruments.set_book_depth(inst, DEFAULT_DEPTH, true);
        let ts_event = optional_time("book", b.timestamp)?;
        let flags = if snapshot { FLAG_SNAPSHOT } else { 0 };
        if snapshot {
            infer_precision(ctx, inst, &b)?;
            ctx.out
                .deltas
                .push(BookDelta::clear(inst, ts_event, ctx.ts_recv, 0));
        }
        for (side, levels) in [(Side::Bid, &b.bids), (Side::Ask, &b.asks)] {
            for l in levels {
                let delta = BookDelta {
                    instrument: inst,
                    ts_event,
                    ts_recv: ctx.ts_recv,
                    action: BookAction::Set,
                    side,
                    price: ctx.json_price(inst, "price", l.price)?,
                    size: ctx.json_size(inst, "qty", l.qty)?,
                    sequence: 0,
                    flags,
                    precision: ctx.instruments.precision(inst),
                };
                ctx.out.deltas.push(delta);
            }
        }
        if let Some(d) = ctx.out.deltas.last_mut() {
            d.flags |= FLAG_LAST;
        }
        if let Some(crc) = b.checksum {
            ctx.out.check(BookCheck::KrakenCrc {
                instrument: inst,
                crc,
            });
        }
    }
    Ok(())
}

fn trades(ctx: &mut Ctx<'_>, data: &str) -> Result<(), String> {
    let list: Vec<WireTrade> =
        serde_json::from_str(data).map_err(|e| format!("kraken v2 trade: {e}"))?;
    for t in list {
        let inst = ctx.instruments.intern(t.symbol);
        // v2 `side` is the taker's side.
        let aggressor = match t.side {
            "buy" => Aggressor::Buy,
            "sell" => Aggressor::Sell,
            _ => Aggressor::Unknown,
        };
        let trade = Trade {
            instrument: inst,
            ts_event: parse_rfc3339_ns(t.timestamp.as_bytes())
                .ok_or_else(|| format!("kraken v2 trade: bad timestamp {:?}", t.timestamp))?,
            ts_recv: ctx.ts_recv,
            price: ctx.json_price(inst, "price", t.price)?,
            size: ctx.json_trade_size(inst, "qty", t.qty)?,
            aggressor,
            trade_id: t.trade_id.unwrap_or(0),
            precision: ctx.instruments.precision(inst),
        };
        ctx.out.trades.push(trade);
    }
    Ok(())
}

fn ticker(ctx: &mut Ctx<'_>, data: &str) -> Result<(), String> {
    let list: Vec<WireTicker> =
        serde_json::from_str(data).map_err(|e| format!("kraken v2 ticker: {e}"))?;
    for t in list {
        let inst = ctx.instruments.intern(t.symbol);
        let quote = Quote {
            instrument: inst,
            ts_event: optional_time("ticker", t.timestamp)?,
            ts_recv: ctx.ts_recv,
            bid_price: ctx.json_price(inst, "price", t.bid)?,
            bid_size: ctx.json_size(inst, "qty", t.bid_qty)?,
            ask_price: ctx.json_price(inst, "price", t.ask)?,
            ask_size: ctx.json_size(inst, "qty", t.ask_qty)?,
            precision: ctx.instruments.precision(inst),
        };
        ctx.out.quotes.push(quote);
    }
    Ok(())
}

fn ohlc(ctx: &mut Ctx<'_>, data: &str) -> Result<(), String> {
    let list: Vec<WireOhlc> =
        serde_json::from_str(data).map_err(|e| format!("kraken v2 ohlc: {e}"))?;
    for o in list {
        let inst = ctx.instruments.intern(o.symbol);
        let bar = Bar {
            instrument: inst,
            ts_event: parse_rfc3339_ns(o.interval_begin.as_bytes()).ok_or_else(|| {
                format!("kraken v2 ohlc: bad interval_begin {:?}", o.interval_begin)
            })?,
            ts_recv: ctx.ts_recv,
            interval_ns: to_nanos(o.interval, 60_000_000_000)?,
            open: ctx.json_price(inst, "price", o.open)?,
            high: ctx.json_price(inst, "price", o.high)?,
            low: ctx.json_price(inst, "price", o.low)?,
            close: ctx.json_price(inst, "price", o.close)?,
            volume: ctx.json_size(inst, "qty", o.volume)?,
            closed: false,
            precision: ctx.instruments.precision(inst),
        };
        ctx.out.bars.push(bar);
    }
    Ok(())
}

fn instruments(ctx: &mut Ctx<'_>, data: &str) -> Result<(), String> {
    let info: WireInstruments =
        serde_json::from_str(data).map_err(|e| format!("kraken v2 instrument: {e}"))?;
    for p in info.pairs {
        ctx.instruments.define(
            p.symbol,
            p.base.zip(p.quote),
            p.price_precision,
            p.qty_precision,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Events;
    use crate::instruments::Instruments;

    fn run(frame: &[u8]) -> Events {
        let mut instruments = Instruments::new("kraken", KrakenV2.precision_policy());
        let mut out = Events::new();
        let mut ctx = Ctx::new(&mut instruments, &mut out, 1, 0);
        super::super::normalize_frame(&mut KrakenV2, &mut ctx, frame);
        out
    }

    /// The one-pass `book` path and the general path agree.
    #[test]
    fn book_paths_agree() {
        let data = r#"[{"symbol":"MATIC/USD","bids":[{"price":0.5666,"qty":4831.75496356}],"asks":[{"price":0.5668,"qty":4410.79769741}],"checksum":2439117997}]"#;
        let leading = format!(r#"{{"channel":"book","type":"snapshot","data":{data}}}"#);
        let trailing = format!(r#"{{"data":{data},"type":"snapshot","channel":"book"}}"#);
        let (a, b) = (run(leading.as_bytes()), run(trailing.as_bytes()));
        assert_eq!(a.deltas.len(), 3);
        assert_eq!(a.deltas, b.deltas);
        assert_eq!(a.checks, b.checks);
        let broken = leading.replace("0.5666", "0.5.666");
        assert_eq!(run(broken.as_bytes()).rejects.len(), 1);
    }
}
