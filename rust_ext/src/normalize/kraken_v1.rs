//! Kraken WebSocket v1 (`wss://ws.kraken.com`), as in historical captures.
//!
//! ```json
//! [992,{"b":[["354.15000000","5.00000000","1618678133.365913"]],"c":"2583817756"},"book-1000","XMR/USD"]
//! ```
//!
//! Data frames are arrays `[channelID, payload…, channelName, pair]`; a book update may carry
//! its asks and bids in two payload objects, the checksum `c` in the last. Prices and volumes
//! are fixed-width strings, so the first value seen gives an instrument's precision, and
//! the checksum is taken over those same digits.

use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{snippet, Ctx, Normalizer};
use crate::event::{
    Bar, BookAction, BookCheck, BookDelta, InstrumentIdx, Quote, StatusKind, Trade, FLAG_LAST,
    FLAG_SNAPSHOT, NO_INSTRUMENT,
};
use crate::instruments::PrecisionPolicy;
use crate::types::{parse_seconds_ns, to_nanos, Aggressor, Side};

/// `[price, volume, timestamp, ("r")]`: the optional fourth field flags a republished level.
struct Level<'a> {
    price: &'a str,
    volume: &'a str,
    time: &'a str,
}

impl<'de: 'a, 'a> Deserialize<'de> for Level<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Level<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("[price, volume, timestamp, ...]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                use serde::de::Error;
                let price = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(0, &self))?;
                let volume = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(1, &self))?;
                let time = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(2, &self))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Level {
                    price,
                    volume,
                    time,
                })
            }
        }
        d.deserialize_seq(V)
    }
}

#[derive(Deserialize)]
struct BookPayload<'a> {
    #[serde(borrow, rename = "as", default)]
    snapshot_asks: Vec<Level<'a>>,
    #[serde(borrow, rename = "bs", default)]
    snapshot_bids: Vec<Level<'a>>,
    #[serde(borrow, rename = "a", default)]
    asks: Vec<Level<'a>>,
    #[serde(borrow, rename = "b", default)]
    bids: Vec<Level<'a>>,
    #[serde(rename = "c")]
    checksum: Option<&'a str>,
}

/// `[price, volume, time, side, orderType, misc, …]`
struct WireTrade<'a> {
    price: &'a str,
    volume: &'a str,
    time: &'a str,
    side: &'a str,
}

impl<'de: 'a, 'a> Deserialize<'de> for WireTrade<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WireTrade<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("[price, volume, time, side, ...]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                use serde::de::Error;
                let mut next = |i| -> Result<&'de str, A::Error> {
                    seq.next_element()?
                        .ok_or_else(|| A::Error::invalid_length(i, &"4 fields"))
                };
                let price = next(0)?;
                let volume = next(1)?;
                let time = next(2)?;
                let side = next(3)?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(WireTrade {
                    price,
                    volume,
                    time,
                    side,
                })
            }
        }
        d.deserialize_seq(V)
    }
}

/// `"a": [price, wholeLotVolume, lotVolume]`
#[derive(Deserialize)]
struct TickerSide<'a>(&'a str, IgnoredAny, &'a str);

#[derive(Deserialize)]
struct WireTicker<'a> {
    #[serde(borrow)]
    a: TickerSide<'a>,
    #[serde(borrow)]
    b: TickerSide<'a>,
}

/// `[bid, ask, timestamp, bidVolume, askVolume]`
#[derive(Deserialize)]
struct WireSpread<'a>(&'a str, &'a str, &'a str, &'a str, &'a str);

/// `[time, etime, open, high, low, close, vwap, volume, count]`
#[derive(Deserialize)]
struct WireOhlc<'a>(
    IgnoredAny,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    IgnoredAny,
    &'a str,
    IgnoredAny,
);

#[derive(Deserialize)]
struct EventMessage<'a> {
    event: &'a str,
    status: Option<&'a str>,
    pair: Option<&'a str>,
    #[serde(rename = "errorMessage")]
    error_message: Option<String>,
}

#[derive(Default)]
pub struct KrakenV1;

impl Normalizer for KrakenV1 {
    fn venue(&self) -> &'static str {
        "kraken"
    }

    fn precision_policy(&self) -> PrecisionPolicy {
        PrecisionPolicy::FirstValue
    }

    fn frame(&mut self, ctx: &mut Ctx<'_>, data: &[u8]) -> Result<(), String> {
        match data.iter().find(|c| !c.is_ascii_whitespace()) {
            Some(b'[') => data_message(ctx, data),
            Some(b'{') => event_message(ctx, data),
            _ => Err("kraken v1: not a JSON array or object".to_owned()),
        }
    }
}

fn event_message(ctx: &mut Ctx<'_>, data: &[u8]) -> Result<(), String> {
    let msg: EventMessage =
        serde_json::from_slice(data).map_err(|e| format!("kraken v1: bad event: {e}"))?;
    let inst = msg
        .pair
        .map(|p| ctx.instruments.intern(p))
        .unwrap_or(NO_INSTRUMENT);
    let (kind, text) = match (msg.event, msg.status) {
        ("heartbeat", _) => (StatusKind::Heartbeat, String::new()),
        ("pong", _) => (StatusKind::Heartbeat, "pong".to_owned()),
        ("systemStatus", s) => (StatusKind::Venue, s.unwrap_or("").to_owned()),
        // `<event>: <Kraken's errorMessage>`, the format of every venue_error status.
        ("subscriptionStatus", Some("error")) | ("error", _) => (
            StatusKind::VenueError,
            format!(
                "{}: {}",
                msg.event,
                msg.error_message.as_deref().unwrap_or("")
            ),
        ),
        ("subscriptionStatus", s) => (StatusKind::Subscribed, s.unwrap_or("").to_owned()),
        (other, _) => return Err(format!("kraken v1: unknown event {other:?}")),
    };
    ctx.out.status(inst, 0, ctx.ts_recv, kind, text);
    Ok(())
}

fn data_message(ctx: &mut Ctx<'_>, data: &[u8]) -> Result<(), String> {
    let parts: Vec<&RawValue> =
        serde_json::from_slice(data).map_err(|e| format!("kraken v1: bad array: {e}"))?;
    if parts.len() < 4 {
        return Err(format!("kraken v1: short data message: {}", snippet(data)));
    }
    let channel: &str = serde_json::from_str(parts[parts.len() - 2].get())
        .map_err(|_| "kraken v1: channel name is not a string".to_owned())?;
    let pair: &str = serde_json::from_str(parts[parts.len() - 1].get())
        .map_err(|_| "kraken v1: pair is not a string".to_owned())?;
    let inst = ctx.instruments.intern(pair);
    let payloads = &parts[1..parts.len() - 2];
    let base = channel.split('-').next().unwrap_or(channel);
    match base {
        "book" => {
            if let Some(depth) = channel.strip_prefix("book-").and_then(|d| d.parse().ok()) {
                ctx.instruments.set_book_depth(inst, depth, true);
            }
            book(ctx, inst, payloads)
        }
        "trade" => trades(ctx, inst, payloads),
        "ticker" => ticker(ctx, inst, payloads),
        "spread" => spread(ctx, inst, payloads),
        "ohlc" => ohlc(ctx, inst, channel, payloads),
        other => Err(format!("kraken v1: unknown channel {other:?}")),
    }
}

fn push_levels(
    ctx: &mut Ctx<'_>,
    inst: InstrumentIdx,
    side: Side,
    levels: &[Level<'_>],
    flags: u8,
) -> Result<(), String> {
    for l in levels {
        let delta = BookDelta {
            instrument: inst,
            ts_event: parse_seconds_ns(l.time.as_bytes())
                .map_err(|e| format!("kraken v1: bad level time {:?}: {e}", l.time))?,
            ts_recv: ctx.ts_recv,
            action: BookAction::Set,
            side,
            price: ctx.price(inst, l.price)?,
            size: ctx.size(inst, l.volume)?,
            sequence: 0,
            flags,
            precision: ctx.instruments.precision(inst),
        };
        ctx.out.deltas.push(delta);
    }
    Ok(())
}

fn book(ctx: &mut Ctx<'_>, inst: InstrumentIdx, payloads: &[&RawValue]) -> Result<(), String> {
    let start = ctx.out.deltas.len();
    let mut checksum = None;
    for raw in payloads {
        let p: BookPayload =
            serde_json::from_str(raw.get()).map_err(|e| format!("kraken v1 book: {e}"))?;
        if !p.snapshot_asks.is_empty() || !p.snapshot_bids.is_empty() {
            let ts_event = p
                .snapshot_asks
                .iter()
                .chain(&p.snapshot_bids)
                .filter_map(|l| parse_seconds_ns(l.time.as_bytes()).ok())
                .max()
                .unwrap_or(0);
            ctx.out
                .deltas
                .push(BookDelta::clear(inst, ts_event, ctx.ts_recv, 0));
            push_levels(ctx, inst, Side::Ask, &p.snapshot_asks, FLAG_SNAPSHOT)?;
            push_levels(ctx, inst, Side::Bid, &p.snapshot_bids, FLAG_SNAPSHOT)?;
        }
        push_levels(ctx, inst, Side::Ask, &p.asks, 0)?;
        push_levels(ctx, inst, Side::Bid, &p.bids, 0)?;
        if let Some(c) = p.checksum {
            checksum = Some(
                c.parse::<u32>()
                    .map_err(|_| format!("kraken v1 book: bad checksum {c:?}"))?,
            );
        }
    }
    if ctx.out.deltas.len() == start {
        return Err("kraken v1 book: message without levels".to_owned());
    }
    if let Some(last) = ctx.out.deltas.last_mut() {
        last.flags |= FLAG_LAST;
    }
    if let Some(crc) = checksum {
        ctx.out.check(BookCheck::KrakenCrc {
            instrument: inst,
            crc,
        });
    }
    Ok(())
}

fn trades(ctx: &mut Ctx<'_>, inst: InstrumentIdx, payloads: &[&RawValue]) -> Result<(), String> {
    for raw in payloads {
        let list: Vec<WireTrade> =
            serde_json::from_str(raw.get()).map_err(|e| format!("kraken v1 trade: {e}"))?;
        for t in list {
            // Kraken reports the side of the order that triggered the trade: the taker.
            let aggressor = match t.side {
                "b" => Aggressor::Buy,
                "s" => Aggressor::Sell,
                _ => Aggressor::Unknown,
            };
            let trade = Trade {
                instrument: inst,
                ts_event: parse_seconds_ns(t.time.as_bytes())
                    .map_err(|e| format!("kraken v1 trade: bad time: {e}"))?,
                ts_recv: ctx.ts_recv,
                price: ctx.price(inst, t.price)?,
                size: ctx.trade_size(inst, t.volume)?,
                aggressor,
                trade_id: 0,
                precision: ctx.instruments.precision(inst),
            };
            ctx.out.trades.push(trade);
        }
    }
    Ok(())
}

fn ticker(ctx: &mut Ctx<'_>, inst: InstrumentIdx, payloads: &[&RawValue]) -> Result<(), String> {
    for raw in payloads {
        let t: WireTicker =
            serde_json::from_str(raw.get()).map_err(|e| format!("kraken v1 ticker: {e}"))?;
        let quote = Quote {
            instrument: inst,
            ts_event: 0,
            ts_recv: ctx.ts_recv,
            bid_price: ctx.price(inst, t.b.0)?,
            bid_size: ctx.size(inst, t.b.2)?,
            ask_price: ctx.price(inst, t.a.0)?,
            ask_size: ctx.size(inst, t.a.2)?,
            precision: ctx.instruments.precision(inst),
        };
        ctx.out.quotes.push(quote);
    }
    Ok(())
}

fn spread(ctx: &mut Ctx<'_>, inst: InstrumentIdx, payloads: &[&RawValue]) -> Result<(), String> {
    for raw in payloads {
        let s: WireSpread =
            serde_json::from_str(raw.get()).map_err(|e| format!("kraken v1 spread: {e}"))?;
        let quote = Quote {
            instrument: inst,
            ts_event: parse_seconds_ns(s.2.as_bytes())
                .map_err(|e| format!("kraken v1 spread: bad time: {e}"))?,
            ts_recv: ctx.ts_recv,
            bid_price: ctx.price(inst, s.0)?,
            bid_size: ctx.size(inst, s.3)?,
            ask_price: ctx.price(inst, s.1)?,
            ask_size: ctx.size(inst, s.4)?,
            precision: ctx.instruments.precision(inst),
        };
        ctx.out.quotes.push(quote);
    }
    Ok(())
}

fn ohlc(
    ctx: &mut Ctx<'_>,
    inst: InstrumentIdx,
    channel: &str,
    payloads: &[&RawValue],
) -> Result<(), String> {
    let minutes: i64 = channel
        .strip_prefix("ohlc-")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1);
    let interval_ns = to_nanos(minutes, 60_000_000_000)?;
    for raw in payloads {
        let o: WireOhlc =
            serde_json::from_str(raw.get()).map_err(|e| format!("kraken v1 ohlc: {e}"))?;
        let end = parse_seconds_ns(o.1.as_bytes())
            .map_err(|e| format!("kraken v1 ohlc: bad end time: {e}"))?;
        let bar = Bar {
            instrument: inst,
            ts_event: end.saturating_sub(interval_ns),
            ts_recv: ctx.ts_recv,
            interval_ns,
            open: ctx.price(inst, o.2)?,
            high: ctx.price(inst, o.3)?,
            low: ctx.price(inst, o.4)?,
            close: ctx.price(inst, o.5)?,
            volume: ctx.size(inst, o.7)?,
            closed: false,
            precision: ctx.instruments.precision(inst),
        };
        ctx.out.bars.push(bar);
    }
    Ok(())
}
