//! Binance spot WebSocket streams (raw `/ws` and combined `/stream`), and the REST depth
//! snapshot they synchronise with. Binance.US speaks the same protocol.
//!
//! ```json
//! {"stream":"nknusdt@depth@100ms","data":{"e":"depthUpdate","E":1633998512568,"s":"NKNUSDT",
//!  "U":499869753,"u":499869754,"b":[["0.35170000","4265.00000000"]],"a":[]}}
//! ```
//!
//! Book sync follows Binance's documented rules, enforced by the book engine from the
//! [`BookCheck`]s emitted here: diffs with `u <= lastUpdateId` are dropped, the first applied
//! diff straddles `lastUpdateId + 1`, and each next `U` is the previous `u + 1`.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::scan::Cursor;
use super::{snippet, Ctx, Normalizer};
use crate::event::{
    Bar, BookAction, BookCheck, BookDelta, InstrumentIdx, Quote, StatusKind, Trade, FLAG_LAST,
    FLAG_SNAPSHOT, NO_INSTRUMENT,
};
use crate::instruments::PrecisionPolicy;
use crate::types::{to_nanos, Aggressor, Side};

const MS: i64 = 1_000_000;

#[derive(Deserialize)]
struct Combined<'a> {
    #[serde(borrow)]
    data: Payload<'a>,
}

/// `b` and `a` mean levels in a depth update, prices in a bookTicker and the id in an
/// aggTrade: one pass reads whichever it is.
#[derive(Default)]
enum Flex<'a> {
    Levels(Vec<(&'a str, &'a str)>),
    Str(&'a str),
    Num(u64),
    #[default]
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Flex<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Flex<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("levels, a decimal string or an id")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Flex::Str(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Flex::Num(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut levels = Vec::with_capacity(seq.size_hint().unwrap_or(8));
                while let Some(level) = seq.next_element::<(&'de str, &'de str)>()? {
                    levels.push(level);
                }
                Ok(Flex::Levels(levels))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'a> Flex<'a> {
    fn levels(&self) -> Result<&[(&'a str, &'a str)], String> {
        match self {
            Flex::Levels(l) => Ok(l),
            Flex::Other => Ok(&[]),
            _ => Err("binance depthUpdate: b/a are not level arrays".to_owned()),
        }
    }

    fn text(&self) -> Option<&'a str> {
        match self {
            Flex::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Every payload shape, by its fields; which are present tells the kind.
#[derive(Deserialize, Default)]
struct Payload<'a> {
    /// Only set when a combined-stream envelope did not lead with `stream`.
    stream: Option<&'a str>,
    #[serde(rename = "e")]
    event: Option<&'a str>,
    #[serde(rename = "E")]
    event_time: Option<i64>,
    #[serde(rename = "s")]
    symbol: Option<&'a str>,
    // depthUpdate
    #[serde(rename = "U")]
    first_update: Option<u64>,
    #[serde(rename = "u")]
    last_update: Option<u64>,
    #[serde(rename = "b", borrow, default)]
    bids: Flex<'a>,
    #[serde(rename = "a", borrow, default)]
    asks: Flex<'a>,
    // trade / aggTrade
    #[serde(rename = "t")]
    trade_id: Option<u64>,
    #[serde(rename = "p")]
    price: Option<&'a str>,
    #[serde(rename = "q")]
    quantity: Option<&'a str>,
    #[serde(rename = "T")]
    trade_time: Option<i64>,
    #[serde(rename = "m")]
    buyer_is_maker: Option<bool>,
    // bookTicker
    #[serde(rename = "B")]
    bid_qty: Option<&'a str>,
    #[serde(rename = "A")]
    ask_qty: Option<&'a str>,
    // kline
    #[serde(rename = "k", borrow)]
    kline: Option<Kline<'a>>,
    // Subscription responses: `{"result":null,"id":1}`, `{"error":{…},"id":null}`. A null
    // here still means the field is present.
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// A field that is there, even as `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct Kline<'a> {
    #[serde(rename = "t")]
    start: i64,
    #[serde(rename = "T")]
    close_time: i64,
    #[serde(rename = "o")]
    open: &'a str,
    #[serde(rename = "h")]
    high: &'a str,
    #[serde(rename = "l")]
    low: &'a str,
    #[serde(rename = "c")]
    close: &'a str,
    #[serde(rename = "v")]
    volume: &'a str,
    #[serde(rename = "x")]
    closed: bool,
}

#[derive(Deserialize)]
struct DepthSnapshot<'a> {
    #[serde(rename = "lastUpdateId")]
    last_update_id: u64,
    #[serde(borrow)]
    bids: Vec<(&'a str, &'a str)>,
    #[serde(borrow)]
    asks: Vec<(&'a str, &'a str)>,
}

#[derive(Deserialize)]
struct ExchangeInfo<'a> {
    #[serde(borrow)]
    symbols: Vec<SymbolInfo<'a>>,
}

#[derive(Deserialize)]
struct SymbolInfo<'a> {
    symbol: &'a str,
    #[serde(rename = "baseAsset")]
    base_asset: &'a str,
    #[serde(rename = "quoteAsset")]
    quote_asset: &'a str,
}

pub struct Binance {
    venue: &'static str,
}

impl Binance {
    pub fn new(venue: &'static str) -> Self {
        Self { venue }
    }
}

impl Normalizer for Binance {
    fn venue(&self) -> &'static str {
        self.venue
    }

    /// Binance writes every decimal with 8 places, so the first value is exact.
    fn precision_policy(&self) -> PrecisionPolicy {
        PrecisionPolicy::FirstValue
    }

    fn frame(&mut self, ctx: &mut Ctx<'_>, data: &[u8]) -> Result<(), String> {
        frame(ctx, data)
    }

    fn http(&mut self, ctx: &mut Ctx<'_>, url: &str, body: &[u8]) -> Result<(), String> {
        if url.contains("/depth") {
            match query_param(url, "symbol") {
                Some(symbol) => depth_snapshot(ctx, &symbol, body),
                None => Err(format!("binance: depth url without symbol: {url}")),
            }
        } else if url.contains("/exchangeInfo") {
            exchange_info(ctx, body)
        } else {
            Ok(())
        }
    }
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_ascii_uppercase())
    })
}

/// The fast path: trades and depth updates read with [`Cursor`]; `None` for anything else,
/// which then takes the serde path.
fn scan(data: &[u8]) -> Option<Payload<'_>> {
    let mut c = Cursor::new(data);
    c.eat(b'{')?;
    let combined = {
        let mut probe = Cursor::new(data);
        probe.eat(b'{')?;
        probe.key() == Some("stream")
    };
    if combined {
        c.key()?;
        c.str()?;
        c.eat(b',')?;
        if c.key()? != "data" {
            return None;
        }
        c.eat(b'{')?;
    }
    let mut p = Payload::default();
    let mut seen = 0u32;
    if !c.eat_if(b'}') {
        loop {
            let key = c.key()?;
            let bit = match key {
                "e" => {
                    p.event = Some(c.str()?);
                    1
                }
                "E" => {
                    p.event_time = Some(c.i64()?);
                    2
                }
                "s" => {
                    p.symbol = Some(c.str()?);
                    4
                }
                "U" => {
                    p.first_update = Some(c.u64()?);
                    8
                }
                "u" => {
                    p.last_update = Some(c.u64()?);
                    16
                }
                "b" | "a" => {
                    let mut levels = Vec::new();
                    c.string_pairs(&mut levels)?;
                    if key == "b" {
                        p.bids = Flex::Levels(levels);
                        32
                    } else {
                        p.asks = Flex::Levels(levels);
                        64
                    }
                }
                "t" => {
                    p.trade_id = Some(c.u64()?);
                    128
                }
                "p" => {
                    p.price = Some(c.str()?);
                    256
                }
                "q" => {
                    p.quantity = Some(c.str()?);
                    512
                }
                "T" => {
                    p.trade_time = Some(c.i64()?);
                    1024
                }
                "m" => {
                    p.buyer_is_maker = Some(c.bool()?);
                    2048
                }
                // Documented fields we do not use.
                "M" | "f" | "l" => {
                    c.skip()?;
                    0
                }
                _ => return None,
            };
            if seen & bit != 0 {
                return None; // a duplicate key: serde's path reports it
            }
            seen |= bit;
            if !c.eat_if(b',') {
                break;
            }
        }
        c.eat(b'}')?;
    }
    if combined {
        c.eat(b'}')?;
    }
    c.end()?;
    matches!(p.event, Some("trade" | "depthUpdate")).then_some(p)
}

fn frame(ctx: &mut Ctx<'_>, data: &[u8]) -> Result<(), String> {
    match scan(data) {
        Some(p) => dispatch(ctx, &p, data),
        None => frame_serde(ctx, data),
    }
}

/// The general path: any message, with serde's error messages for the reject reasons.
fn frame_serde(ctx: &mut Ctx<'_>, data: &[u8]) -> Result<(), String> {
    // Combined streams wrap the payload; raw streams send it bare.
    let start = data
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(0);
    let p: Payload = if data[start..].starts_with(b"{\"stream\"") {
        serde_json::from_slice::<Combined>(data)
            .map_err(|e| format!("binance: bad message: {e}"))?
            .data
    } else {
        let p: Payload =
            serde_json::from_slice(data).map_err(|e| format!("binance: bad payload: {e}"))?;
        if p.stream.is_some() {
            serde_json::from_slice::<Combined>(data)
                .map_err(|e| format!("binance: bad message: {e}"))?
                .data
        } else {
            p
        }
    };
    dispatch(ctx, &p, data)
}

fn dispatch(ctx: &mut Ctx<'_>, p: &Payload<'_>, data: &[u8]) -> Result<(), String> {
    let ts_event = match p.event_time {
        Some(ms) => to_nanos(ms, MS)?,
        None => 0,
    };
    match p.event {
        Some("depthUpdate") => depth_update(ctx, p, ts_event),
        Some("trade") | Some("aggTrade") => trade(ctx, p),
        Some("kline") => kline(ctx, p, ts_event),
        // The server closes the connection soon (Binance's WebSocket stream docs: "establish
        // a new connection as soon as possible"): the collector must act, so a status.
        Some("serverShutdown") => {
            ctx.out.status(
                NO_INSTRUMENT,
                ts_event,
                ctx.ts_recv,
                StatusKind::Venue,
                "serverShutdown",
            );
            Ok(())
        }
        Some(other) => Err(format!("binance: unknown event {other:?}")),
        None if p.bid_qty.is_some() && p.ask_qty.is_some() => book_ticker(ctx, p, ts_event),
        None if p.id.is_some() && p.error.is_some() => {
            let msg = p.error.map(error_message).unwrap_or_default();
            ctx.out
                .status(NO_INSTRUMENT, 0, ctx.ts_recv, StatusKind::VenueError, msg);
            Ok(())
        }
        None if p.id.is_some() && p.result.is_some() => {
            let msg =
                p.id.map(|id| format!("id {}", id.get()))
                    .unwrap_or_default();
            ctx.out
                .status(NO_INSTRUMENT, 0, ctx.ts_recv, StatusKind::Subscribed, msg);
            Ok(())
        }
        None => Err(format!("binance: unknown message: {}", snippet(data))),
    }
}

#[derive(Deserialize)]
struct WireError {
    code: i64,
    msg: String,
}

/// `{"code":2,"msg":"Invalid request"}` → `2: Invalid request`; any other shape as
/// `error: <its JSON>`.
fn error_message(raw: &RawValue) -> String {
    match serde_json::from_str::<WireError>(raw.get()) {
        Ok(e) => format!("{}: {}", e.code, e.msg),
        Err(_) => format!("error: {}", raw.get()),
    }
}

fn symbol<'a>(p: &Payload<'a>) -> Result<&'a str, String> {
    p.symbol
        .ok_or_else(|| "binance: payload without symbol".to_owned())
}

fn push_levels(
    ctx: &mut Ctx<'_>,
    inst: InstrumentIdx,
    side: Side,
    levels: &[(&str, &str)],
    ts_event: i64,
    sequence: u64,
    flags: u8,
) -> Result<(), String> {
    for (price, qty) in levels {
        let delta = BookDelta {
            instrument: inst,
            ts_event,
            ts_recv: ctx.ts_recv,
            action: BookAction::Set,
            side,
            price: ctx.price(inst, price)?,
            size: ctx.size(inst, qty)?,
            sequence,
            flags,
            precision: ctx.instruments.precision(inst),
        };
        ctx.out.deltas.push(delta);
    }
    Ok(())
}

fn depth_update(ctx: &mut Ctx<'_>, p: &Payload<'_>, ts_event: i64) -> Result<(), String> {
    let inst = ctx.instruments.intern(symbol(p)?);
    let (Some(first), Some(last)) = (p.first_update, p.last_update) else {
        return Err("binance depthUpdate without U/u".to_owned());
    };
    let bids = p.bids.levels()?;
    let asks = p.asks.levels()?;
    ctx.out.check(BookCheck::UpdateRange {
        instrument: inst,
        first,
        last,
        count: (bids.len() + asks.len()) as u32,
    });
    push_levels(ctx, inst, Side::Bid, bids, ts_event, last, 0)?;
    push_levels(ctx, inst, Side::Ask, asks, ts_event, last, 0)?;
    if let Some(d) = ctx.out.deltas.last_mut() {
        if d.instrument == inst && d.sequence == last {
            d.flags |= FLAG_LAST;
        }
    }
    Ok(())
}

fn depth_snapshot(ctx: &mut Ctx<'_>, symbol: &str, body: &[u8]) -> Result<(), String> {
    let snap: DepthSnapshot =
        serde_json::from_slice(body).map_err(|e| format!("binance depth snapshot: {e}"))?;
    let inst = ctx.instruments.intern(symbol);
    let seq = snap.last_update_id;
    ctx.out.check(BookCheck::SnapshotId {
        instrument: inst,
        last_update_id: seq,
        count: (snap.bids.len() + snap.asks.len() + 1) as u32,
    });
    ctx.out
        .deltas
        .push(BookDelta::clear(inst, 0, ctx.ts_recv, seq));
    push_levels(ctx, inst, Side::Bid, &snap.bids, 0, seq, FLAG_SNAPSHOT)?;
    push_levels(ctx, inst, Side::Ask, &snap.asks, 0, seq, FLAG_SNAPSHOT)?;
    if let Some(d) = ctx.out.deltas.last_mut() {
        d.flags |= FLAG_LAST;
    }
    Ok(())
}

/// exchangeInfo gives each symbol's base and quote asset. Its tick and step sizes are not
/// used as precisions: book levels can be finer than today's `stepSize` (the 2021-10-12
/// recording has NKNUSDT quantities of 0.3 under a step of 1), while every wire decimal has
/// exactly 8 places.
fn exchange_info(ctx: &mut Ctx<'_>, body: &[u8]) -> Result<(), String> {
    let info: ExchangeInfo =
        serde_json::from_slice(body).map_err(|e| format!("binance exchangeInfo: {e}"))?;
    for s in info.symbols {
        ctx.instruments
            .define(s.symbol, Some((s.base_asset, s.quote_asset)), None, None);
    }
    Ok(())
}

fn trade(ctx: &mut Ctx<'_>, p: &Payload<'_>) -> Result<(), String> {
    let inst = ctx.instruments.intern(symbol(p)?);
    let (Some(price), Some(qty), Some(time)) = (p.price, p.quantity, p.trade_time) else {
        return Err("binance trade without p/q/T".to_owned());
    };
    // `m`: the buyer was the maker, so the seller was the aggressor.
    let aggressor = match p.buyer_is_maker {
        Some(true) => Aggressor::Sell,
        Some(false) => Aggressor::Buy,
        None => Aggressor::Unknown,
    };
    let trade = Trade {
        instrument: inst,
        ts_event: to_nanos(time, MS)?,
        ts_recv: ctx.ts_recv,
        price: ctx.price(inst, price)?,
        size: ctx.trade_size(inst, qty)?,
        aggressor,
        // aggTrade's id is `a`, the field depth updates use for asks.
        trade_id: p
            .trade_id
            .or(match p.asks {
                Flex::Num(id) => Some(id),
                _ => None,
            })
            .unwrap_or(0),
        precision: ctx.instruments.precision(inst),
    };
    ctx.out.trades.push(trade);
    Ok(())
}

fn book_ticker(ctx: &mut Ctx<'_>, p: &Payload<'_>, ts_event: i64) -> Result<(), String> {
    let inst = ctx.instruments.intern(symbol(p)?);
    let (bid, ask) = (p.bids.text(), p.asks.text());
    let (Some(bid), Some(ask), Some(bid_qty), Some(ask_qty)) = (bid, ask, p.bid_qty, p.ask_qty)
    else {
        return Err("binance bookTicker without b/a/B/A".to_owned());
    };
    let quote = Quote {
        instrument: inst,
        ts_event,
        ts_recv: ctx.ts_recv,
        bid_price: ctx.price(inst, bid)?,
        bid_size: ctx.size(inst, bid_qty)?,
        ask_price: ctx.price(inst, ask)?,
        ask_size: ctx.size(inst, ask_qty)?,
        precision: ctx.instruments.precision(inst),
    };
    ctx.out.quotes.push(quote);
    Ok(())
}

fn kline(ctx: &mut Ctx<'_>, p: &Payload<'_>, _ts_event: i64) -> Result<(), String> {
    let inst = ctx.instruments.intern(symbol(p)?);
    let Some(k) = &p.kline else {
        return Err("binance kline without k".to_owned());
    };
    let bar = Bar {
        instrument: inst,
        ts_event: to_nanos(k.start, MS)?,
        ts_recv: ctx.ts_recv,
        interval_ns: to_nanos(k.close_time.saturating_add(1).saturating_sub(k.start), MS)?,
        open: ctx.price(inst, k.open)?,
        high: ctx.price(inst, k.high)?,
        low: ctx.price(inst, k.low)?,
        close: ctx.price(inst, k.close)?,
        volume: ctx.size(inst, k.volume)?,
        closed: k.closed,
        precision: ctx.instruments.precision(inst),
    };
    ctx.out.bars.push(bar);
    Ok(())
}

#[cfg(test)]
#[path = "binance_tests.rs"]
mod tests;
