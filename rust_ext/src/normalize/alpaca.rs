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

use super::{field_error, snippet, Ctx, Normalizer};
use crate::event::{
    Bar, BookAction, BookDelta, InstrumentIdx, News, Quote, StatusKind, Trade, FLAG_LAST,
    FLAG_SNAPSHOT, NO_INSTRUMENT,
};
use crate::instruments::PrecisionPolicy;
use crate::time::parse_rfc3339_ns;
use crate::types::{parse_json_decimal, Aggressor, Side, UnixNanos};

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

    fn frame(&mut self, ctx: &mut Ctx<'_>, data: &[u8]) {
        let mark = ctx.out.mark();
        if let Err(reason) = frame(ctx, data) {
            ctx.out.rollback(mark);
            ctx.reject(reason, data);
        }
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

fn price(
    ctx: &mut Ctx<'_>,
    inst: InstrumentIdx,
    field: &str,
    raw: &RawValue,
) -> Result<i64, String> {
    let text = raw.get();
    parse_json_decimal(text.as_bytes())
        .and_then(|d| ctx.instruments.price_dec(inst, d))
        .map_err(|e| field_error(field, text, e))
}

fn size(
    ctx: &mut Ctx<'_>,
    inst: InstrumentIdx,
    field: &str,
    raw: &RawValue,
) -> Result<i64, String> {
    let text = raw.get();
    parse_json_decimal(text.as_bytes())
        .and_then(|d| ctx.instruments.size_dec(inst, d))
        .map_err(|e| field_error(field, text, e))
}

fn control(ctx: &mut Ctx<'_>, raw: &RawValue, error: bool) -> Result<(), String> {
    let c: WireControl = wire(raw)?;
    let msg = c.msg.unwrap_or_default();
    if !error {
        ctx.out
            .status(NO_INSTRUMENT, 0, ctx.ts_recv, StatusKind::Venue, msg);
        return Ok(());
    }
    let message = match c.code {
        Some(code) => format!("error {code}: {msg}"),
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
        price: price(ctx, inst, "p", t.price)?,
        size: size(ctx, inst, "s", t.size)?,
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
        bid_price: price(ctx, inst, "bp", q.bid_price)?,
        bid_size: size(ctx, inst, "bs", q.bid_size)?,
        ask_price: price(ctx, inst, "ap", q.ask_price)?,
        ask_size: size(ctx, inst, "as", q.ask_size)?,
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
        open: price(ctx, inst, "o", b.open)?,
        high: price(ctx, inst, "h", b.high)?,
        low: price(ctx, inst, "l", b.low)?,
        close: price(ctx, inst, "c", b.close)?,
        volume: size(ctx, inst, "v", b.volume)?,
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
                price: price(ctx, inst, price_field, level.price)?,
                size: size(ctx, inst, size_field, level.size)?,
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
mod tests {
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
            let mut ctx = Ctx {
                instruments: &mut instruments,
                out: &mut out,
                ts_recv: 7,
                conn: 0,
            };
            venue.frame(&mut ctx, frame.as_bytes());
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
}
