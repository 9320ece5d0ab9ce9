//! Alpaca market data WebSocket: stocks (`wss://stream.data.alpaca.markets/v2/{iex|sip}`),
//! crypto (`…/v1beta3/crypto/us`) and news (`…/v1beta1/news`).
//!
//! ```json
//! [{"T":"q","S":"AMD","bx":"U","bp":87.66,"bs":1,"ax":"Q","ap":87.68,"as":4,
//!   "t":"2021-02-22T15:51:45.335689322Z","c":["R"],"z":"C"}]
//! ```
//!
//! A frame is an array of messages of any mix of types, each named by `T`. The three streams
//! use one set of type letters (stock and crypto trades are both `t`; only crypto ones carry
//! `tks`), so one normalizer serves them all. A frame is normalized whole or rejected whole.
//!
//! Prices and sizes are JSON numbers with trailing zeros trimmed; we read their text exactly.
//! With no reference data the default precision must hold every value: crypto sizes and the
//! prices of coins such as SHIB or PEPE use 9 decimals. The cost is range: a size above
//! ~9.2e9 units (a meme coin's daily volume) overflows and rejects its frame.
//!
//! Stock trades carry no side, so their aggressor is unknown. Crypto `tks` is documented as
//! the taker side; no recording has checked it yet. Daily bars are the running aggregate of
//! the day ("a partial bar up to the current time") and updated bars re-send a minute bar after
//! late trades, so neither is marked closed. Corrections, cancels, LULD bands and imbalances
//! become venue statuses: trades already emitted are not amended.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{snippet, Ctx, Normalizer};
use crate::event::{
    Bar, BookAction, BookDelta, News, Quote, StatusKind, Trade, FLAG_LAST, FLAG_SNAPSHOT,
    NO_INSTRUMENT,
};
use crate::instruments::PrecisionPolicy;
use crate::time::parse_rfc3339_ns;
use crate::types::{Aggressor, Side, UnixNanos};

const DEFAULT_PRECISION: PrecisionPolicy = PrecisionPolicy::Default { price: 9, size: 9 };
const MINUTE_NS: i64 = 60_000_000_000;
const DAY_NS: i64 = 86_400_000_000_000;

#[derive(Deserialize)]
struct WireType<'a> {
    #[serde(rename = "T", borrow)]
    kind: Cow<'a, str>,
}

#[derive(Deserialize)]
struct WireControl {
    code: Option<i64>,
    msg: Option<String>,
}

#[derive(Deserialize)]
struct WireTrade<'a> {
    #[serde(rename = "S", borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "i")]
    id: Option<u64>,
    #[serde(rename = "p", borrow)]
    price: &'a RawValue,
    #[serde(rename = "s", borrow)]
    size: &'a RawValue,
    #[serde(rename = "t", borrow)]
    time: Cow<'a, str>,
    /// Crypto only.
    #[serde(borrow)]
    tks: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireQuote<'a> {
    #[serde(rename = "S", borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "bp", borrow)]
    bid_price: &'a RawValue,
    #[serde(rename = "bs", borrow)]
    bid_size: &'a RawValue,
    #[serde(rename = "ap", borrow)]
    ask_price: &'a RawValue,
    #[serde(rename = "as", borrow)]
    ask_size: &'a RawValue,
    #[serde(rename = "t", borrow)]
    time: Cow<'a, str>,
}

#[derive(Deserialize)]
struct WireBar<'a> {
    #[serde(rename = "S", borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "o", borrow)]
    open: &'a RawValue,
    #[serde(rename = "h", borrow)]
    high: &'a RawValue,
    #[serde(rename = "l", borrow)]
    low: &'a RawValue,
    #[serde(rename = "c", borrow)]
    close: &'a RawValue,
    #[serde(rename = "v", borrow)]
    volume: &'a RawValue,
    #[serde(rename = "t", borrow)]
    time: Cow<'a, str>,
}

#[derive(Deserialize)]
struct WireTradingStatus<'a> {
    #[serde(rename = "S", borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "sc", borrow)]
    status_code: Cow<'a, str>,
    #[serde(rename = "sm", borrow, default)]
    status_message: Cow<'a, str>,
    #[serde(rename = "rc", borrow, default)]
    reason_code: Cow<'a, str>,
    #[serde(rename = "rm", borrow, default)]
    reason_message: Cow<'a, str>,
    #[serde(rename = "t", borrow)]
    time: Cow<'a, str>,
}

/// Limit Up-Limit Down price band.
#[derive(Deserialize)]
struct WireLuld<'a> {
    #[serde(rename = "S", borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "u", borrow)]
    limit_up: &'a RawValue,
    #[serde(rename = "d", borrow)]
    limit_down: &'a RawValue,
    #[serde(rename = "i", borrow)]
    indicator: Cow<'a, str>,
    #[serde(rename = "t", borrow)]
    time: Cow<'a, str>,
}

#[derive(Deserialize)]
struct WireCorrection<'a> {
    #[serde(rename = "S", borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "oi", borrow)]
    original_id: &'a RawValue,
    #[serde(rename = "op", borrow)]
    original_price: &'a RawValue,
    #[serde(rename = "os", borrow)]
    original_size: &'a RawValue,
    #[serde(rename = "ci", borrow)]
    corrected_id: &'a RawValue,
    #[serde(rename = "cp", borrow)]
    corrected_price: &'a RawValue,
    #[serde(rename = "cs", borrow)]
    corrected_size: &'a RawValue,
    #[serde(rename = "t", borrow)]
    time: Cow<'a, str>,
}

/// A trade cancelled (`a` = `C`) or flagged as an error (`E`).
#[derive(Deserialize)]
struct WireCancelError<'a> {
    #[serde(rename = "S", borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "i", borrow)]
    id: &'a RawValue,
    #[serde(rename = "p", borrow)]
    price: &'a RawValue,
    #[serde(rename = "s", borrow)]
    size: &'a RawValue,
    #[serde(rename = "a", borrow)]
    action: Cow<'a, str>,
    #[serde(rename = "t", borrow)]
    time: Cow<'a, str>,
}

/// Order imbalance (`imbalances` channel): only the reference price.
#[derive(Deserialize)]
struct WireImbalance<'a> {
    #[serde(rename = "S", borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "p", borrow)]
    price: &'a RawValue,
    #[serde(rename = "t", borrow)]
    time: Cow<'a, str>,
}

#[derive(Deserialize)]
struct WireOrderbook<'a> {
    #[serde(rename = "S", borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "t", borrow)]
    time: Cow<'a, str>,
    #[serde(rename = "b", borrow, default)]
    bids: Vec<WireLevel<'a>>,
    #[serde(rename = "a", borrow, default)]
    asks: Vec<WireLevel<'a>>,
    /// The message is the whole book, not a change to it.
    #[serde(rename = "r", default)]
    reset: bool,
}

#[derive(Deserialize)]
struct WireLevel<'a> {
    #[serde(rename = "p", borrow)]
    price: &'a RawValue,
    #[serde(rename = "s", borrow)]
    size: &'a RawValue,
}

/// Text fields are owned: headlines and HTML content arrive with JSON escapes.
#[derive(Deserialize)]
struct WireNews<'a> {
    id: u64,
    headline: String,
    summary: Option<String>,
    author: Option<String>,
    #[serde(borrow)]
    created_at: Cow<'a, str>,
    #[serde(borrow)]
    updated_at: Cow<'a, str>,
    url: Option<String>,
    content: Option<String>,
    symbols: Option<Vec<String>>,
    source: Option<String>,
}

#[derive(Default)]
pub struct Alpaca;

impl Normalizer for Alpaca {
    fn venue(&self) -> &'static str {
        "alpaca"
    }

    fn precision_policy(&self) -> PrecisionPolicy {
        DEFAULT_PRECISION
    }

    fn frame(&mut self, ctx: &mut Ctx<'_>, data: &[u8]) -> Result<(), String> {
        frame(ctx, data)
    }

    /// Stock trade ids are numbered by each exchange: neither increasing nor unique per
    /// symbol.
    fn trade_ids_increase(&self) -> bool {
        false
    }
}

fn frame(ctx: &mut Ctx<'_>, data: &[u8]) -> Result<(), String> {
    // Documented frames are arrays; a bare object is accepted as a frame of one.
    let messages: Vec<&RawValue> = match data.iter().find(|c| !c.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice(data),
        _ => serde_json::from_slice(data).map(|m| vec![m]),
    }
    .map_err(|e| format!("alpaca: not a message frame ({e}): {}", snippet(data)))?;
    if messages.is_empty() {
        return Err("alpaca: empty message array".to_owned());
    }
    for (n, raw) in messages.iter().enumerate() {
        message(ctx, raw).map_err(|reason| {
            if messages.len() == 1 {
                format!("alpaca {reason}")
            } else {
                format!("alpaca message {} of {}: {reason}", n + 1, messages.len())
            }
        })?;
    }
    Ok(())
}

/// One message; errors name its type and, through the parse functions, the field.
fn message(ctx: &mut Ctx<'_>, raw: &RawValue) -> Result<(), String> {
    let tag: WireType = wire(raw).map_err(|e| format!("message without a type \"T\": {e}"))?;
    let kind = tag.kind.as_ref();
    let parsed = match kind {
        "success" | "error" => control(ctx, raw, kind == "error"),
        "subscription" => subscription(ctx, raw),
        "t" => trade(ctx, raw),
        "q" => quote(ctx, raw),
        "b" => bar(ctx, raw, MINUTE_NS, true),
        "u" => bar(ctx, raw, MINUTE_NS, false),
        "d" => bar(ctx, raw, DAY_NS, false),
        "s" => trading_status(ctx, raw),
        "l" => luld(ctx, raw),
        "c" => correction(ctx, raw),
        "x" => cancel_error(ctx, raw),
        "i" => imbalance(ctx, raw),
        "o" => orderbook(ctx, raw),
        "n" => news(ctx, raw),
        other => return Err(format!("unknown message type \"T\":{other:?}")),
    };
    parsed.map_err(|e| format!("{} (\"T\":{kind:?}): {e}", type_name(kind)))
}

fn type_name(kind: &str) -> &'static str {
    match kind {
        "t" => "trade",
        "q" => "quote",
        "b" => "minute bar",
        "u" => "updated bar",
        "d" => "daily bar",
        "s" => "trading status",
        "l" => "LULD",
        "c" => "correction",
        "x" => "cancel/error",
        "i" => "imbalance",
        "o" => "orderbook",
        "n" => "news",
        _ => "control",
    }
}

fn wire<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Result<T, String> {
    serde_json::from_str(raw.get()).map_err(|e| e.to_string())
}

fn time(field: &str, s: &str) -> Result<UnixNanos, String> {
    parse_rfc3339_ns(s.as_bytes())
        .ok_or_else(|| format!("bad {field} {s:?}: not an RFC 3339 timestamp"))
}

fn control(ctx: &mut Ctx<'_>, raw: &RawValue, error: bool) -> Result<(), String> {
    let c: WireControl = wire(raw)?;
    let msg = c.msg.unwrap_or_default();
    if !error {
        ctx.out
            .status(NO_INSTRUMENT, 0, ctx.ts_recv, StatusKind::Venue, msg);
        return Ok(());
    }
    // `<code>: <msg>` (`402: auth failed`), the format of every venue_error status.
    let message = match c.code {
        Some(code) => format!("{code}: {msg}"),
        None => format!("error: {msg}"),
    };
    ctx.out.status(
        NO_INSTRUMENT,
        0,
        ctx.ts_recv,
        StatusKind::VenueError,
        message,
    );
    Ok(())
}

/// The whole current subscription, as `channel=[SYMBOL,…]` for each non-empty channel.
fn subscription(ctx: &mut Ctx<'_>, raw: &RawValue) -> Result<(), String> {
    let channels: BTreeMap<String, serde_json::Value> = wire(raw)?;
    let mut listed = Vec::new();
    for (channel, symbols) in channels.iter().filter(|(k, _)| k.as_str() != "T") {
        let symbols = match symbols {
            serde_json::Value::Array(list) if list.is_empty() => continue,
            serde_json::Value::Array(list) => list
                .iter()
                .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        listed.push(format!("{channel}=[{symbols}]"));
    }
    ctx.out.status(
        NO_INSTRUMENT,
        0,
        ctx.ts_recv,
        StatusKind::Subscribed,
        listed.join(" "),
    );
    Ok(())
}

fn trade(ctx: &mut Ctx<'_>, raw: &RawValue) -> Result<(), String> {
    let t: WireTrade = wire(raw)?;
    let inst = ctx.instruments.intern(&t.symbol);
    let aggressor = match t.tks.as_deref() {
        Some("B") => Aggressor::Buy,
        Some("S") => Aggressor::Sell,
        _ => Aggressor::Unknown,
    };
    let trade = Trade {
        instrument: inst,
        ts_event: time("t", &t.time)?,
        ts_recv: ctx.ts_recv,
        price: ctx.json_price(inst, "p", t.price)?,
        size: ctx.json_trade_size(inst, "s", t.size)?,
        aggressor,
        trade_id: t.id.unwrap_or(0),
        precision: ctx.instruments.precision(inst),
    };
    ctx.out.trades.push(trade);
    Ok(())
}

fn quote(ctx: &mut Ctx<'_>, raw: &RawValue) -> Result<(), String> {
    let q: WireQuote = wire(raw)?;
    let inst = ctx.instruments.intern(&q.symbol);
    let quote = Quote {
        instrument: inst,
        ts_event: time("t", &q.time)?,
        ts_recv: ctx.ts_recv,
        bid_price: ctx.json_price(inst, "bp", q.bid_price)?,
        bid_size: ctx.json_size(inst, "bs", q.bid_size)?,
        ask_price: ctx.json_price(inst, "ap", q.ask_price)?,
        ask_size: ctx.json_size(inst, "as", q.ask_size)?,
        precision: ctx.instruments.precision(inst),
    };
    ctx.out.quotes.push(quote);
    Ok(())
}

fn bar(ctx: &mut Ctx<'_>, raw: &RawValue, interval_ns: i64, closed: bool) -> Result<(), String> {
    let b: WireBar = wire(raw)?;
    let inst = ctx.instruments.intern(&b.symbol);
    let bar = Bar {
        instrument: inst,
        ts_event: time("t", &b.time)?,
        ts_recv: ctx.ts_recv,
        interval_ns,
        open: ctx.json_price(inst, "o", b.open)?,
        high: ctx.json_price(inst, "h", b.high)?,
        low: ctx.json_price(inst, "l", b.low)?,
        close: ctx.json_price(inst, "c", b.close)?,
        volume: ctx.json_size(inst, "v", b.volume)?,
        closed,
        precision: ctx.instruments.precision(inst),
    };
    ctx.out.bars.push(bar);
    Ok(())
}

/// A status about one symbol, stamped with the message's `t`.
fn symbol_status(
    ctx: &mut Ctx<'_>,
    symbol: &str,
    t: &str,
    kind: StatusKind,
    message: String,
) -> Result<(), String> {
    let ts_event = time("t", t)?;
    let inst = ctx.instruments.intern(symbol);
    ctx.out.status(inst, ts_event, ctx.ts_recv, kind, message);
    Ok(())
}

fn trading_status(ctx: &mut Ctx<'_>, raw: &RawValue) -> Result<(), String> {
    let s: WireTradingStatus = wire(raw)?;
    let message = format!(
        "sc={} sm={} rc={} rm={}",
        s.status_code, s.status_message, s.reason_code, s.reason_message
    );
    symbol_status(ctx, &s.symbol, &s.time, StatusKind::Trading, message)
}

fn luld(ctx: &mut Ctx<'_>, raw: &RawValue) -> Result<(), String> {
    let l: WireLuld = wire(raw)?;
    let message = format!(
        "luld u={} d={} i={}",
        l.limit_up.get(),
        l.limit_down.get(),
        l.indicator
    );
    symbol_status(ctx, &l.symbol, &l.time, StatusKind::Venue, message)
}

fn correction(ctx: &mut Ctx<'_>, raw: &RawValue) -> Result<(), String> {
    let c: WireCorrection = wire(raw)?;
    let message = format!(
        "correction oi={} op={} os={} -> ci={} cp={} cs={}",
        c.original_id.get(),
        c.original_price.get(),
        c.original_size.get(),
        c.corrected_id.get(),
        c.corrected_price.get(),
        c.corrected_size.get()
    );
    symbol_status(ctx, &c.symbol, &c.time, StatusKind::Venue, message)
}

fn cancel_error(ctx: &mut Ctx<'_>, raw: &RawValue) -> Result<(), String> {
    let x: WireCancelError = wire(raw)?;
    let what = match x.action.as_ref() {
        "C" => "cancel",
        "E" => "error",
        _ => "cancel/error",
    };
    let message = format!(
        "trade {what} a={} i={} p={} s={}",
        x.action,
        x.id.get(),
        x.price.get(),
        x.size.get()
    );
    symbol_status(ctx, &x.symbol, &x.time, StatusKind::Venue, message)
}

fn imbalance(ctx: &mut Ctx<'_>, raw: &RawValue) -> Result<(), String> {
    let i: WireImbalance = wire(raw)?;
    let message = format!("imbalance p={}", i.price.get());
    symbol_status(ctx, &i.symbol, &i.time, StatusKind::Venue, message)
}

fn orderbook(ctx: &mut Ctx<'_>, raw: &RawValue) -> Result<(), String> {
    let o: WireOrderbook = wire(raw)?;
    let inst = ctx.instruments.intern(&o.symbol);
    let ts_event = time("t", &o.time)?;
    let flags = if o.reset { FLAG_SNAPSHOT } else { 0 };
    let start = ctx.out.deltas.len();
    if o.reset {
        ctx.out
            .deltas
            .push(BookDelta::clear(inst, ts_event, ctx.ts_recv, 0));
    }
    for (side, levels, price_field, size_field) in [
        (Side::Bid, &o.bids, "b.p", "b.s"),
        (Side::Ask, &o.asks, "a.p", "a.s"),
    ] {
        for level in levels {
            let delta = BookDelta {
                instrument: inst,
                ts_event,
                ts_recv: ctx.ts_recv,
                action: BookAction::Set,
                side,
                price: ctx.json_price(inst, price_field, level.price)?,
                size: ctx.json_size(inst, size_field, level.size)?,
                sequence: 0,
                flags,
                precision: ctx.instruments.precision(inst),
            };
            ctx.out.deltas.push(delta);
        }
    }
    if let Some(last) = ctx.out.deltas[start..].last_mut() {
        last.flags |= FLAG_LAST;
    }
    Ok(())
}

fn news(ctx: &mut Ctx<'_>, raw: &RawValue) -> Result<(), String> {
    let n: WireNews = wire(raw)?;
    let news = News {
        ts_event: time("created_at", &n.created_at)?,
        ts_recv: ctx.ts_recv,
        id: n.id,
        headline: n.headline,
        summary: n.summary.unwrap_or_default(),
        author: n.author.unwrap_or_default(),
        source: n.source.unwrap_or_default(),
        url: n.url.unwrap_or_default(),
        content: n.content.unwrap_or_default(),
        symbols: n.symbols.unwrap_or_default(),
        updated_at: time("updated_at", &n.updated_at)?,
    };
    ctx.out.news.push(news);
    Ok(())
}

#[cfg(test)]
#[path = "alpaca_tests.rs"]
mod tests;
