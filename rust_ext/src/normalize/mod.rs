//! Venue normalizers: raw frames in, [`Events`] out. One module per venue, each split into
//! wire structs (what the venue sends, borrowed from the frame) and parse functions.
//!
//! A normalizer never panics on input and never drops a frame silently: whatever it cannot
//! understand becomes a [`crate::event::Reject`] carrying the reason and the bytes.

pub mod alpaca;
pub mod binance;
pub mod coinbase;
pub mod kraken_v1;
pub mod kraken_v2;
pub mod scan;

use crate::event::{Events, InstrumentIdx, Mark};
use crate::instruments::{Instruments, InstrumentsMark, PrecisionPolicy};
use serde_json::value::RawValue;

use crate::types::{parse_json_decimal, DecimalError, RawDecimal, UnixNanos};

/// What a normalizer works on for one frame.
pub struct Ctx<'a> {
    pub instruments: &'a mut Instruments,
    pub out: &'a mut Events,
    pub ts_recv: UnixNanos,
    /// The connection the frame arrived on; per-connection counters are kept by it.
    pub conn: u32,
    /// Where a rejected frame rolls back to: events and instrument state.
    kept: (Mark, InstrumentsMark),
}

impl<'a> Ctx<'a> {
    pub fn new(
        instruments: &'a mut Instruments,
        out: &'a mut Events,
        ts_recv: UnixNanos,
        conn: u32,
    ) -> Self {
        let kept = (out.mark(), instruments.mark());
        Self {
            instruments,
            out,
            ts_recv,
            conn,
            kept,
        }
    }
}

impl Ctx<'_> {
    /// Whatever was pushed or changed so far stands even if the rest of the frame is
    /// rejected (Coinbase: a `sequence_num` taken, and the gap it revealed).
    pub fn keep(&mut self) {
        self.instruments.commit();
        self.kept = (self.out.mark(), self.instruments.mark());
    }

    /// The frame is rejected: undo its events and its instrument changes since the last
    /// [`Ctx::keep`], and record the reject.
    fn rollback(&mut self, reason: String, raw: &[u8]) {
        self.out.rollback(self.kept.0);
        self.instruments.rollback(self.kept.1);
        self.instruments.commit();
        self.reject(reason, raw);
    }

    pub fn reject(&mut self, reason: impl Into<String>, raw: &[u8]) {
        self.out.reject(self.ts_recv, reason, raw);
    }

    #[inline]
    pub fn price(&mut self, idx: InstrumentIdx, s: &str) -> Result<i64, String> {
        self.instruments
            .price(idx, s.as_bytes())
            .map_err(|e| field_error("price", s, e))
    }

    #[inline]
    pub fn size(&mut self, idx: InstrumentIdx, s: &str) -> Result<i64, String> {
        self.instruments
            .size(idx, s.as_bytes())
            .map_err(|e| field_error("size", s, e))
    }

    /// A trade's size: above zero (a book level's 0 means delete; a trade of 0 is malformed).
    #[inline]
    pub fn trade_size(&mut self, idx: InstrumentIdx, s: &str) -> Result<i64, String> {
        positive("size", s, self.size(idx, s)?)
    }

    /// A price sent as a JSON number, read from its text (never through a float).
    #[inline]
    pub fn json_price(
        &mut self,
        idx: InstrumentIdx,
        field: &str,
        raw: &RawValue,
    ) -> Result<i64, String> {
        json_decimal(field, raw, |d| self.instruments.price_dec(idx, d))
    }

    /// A size sent as a JSON number, read from its text.
    #[inline]
    pub fn json_size(
        &mut self,
        idx: InstrumentIdx,
        field: &str,
        raw: &RawValue,
    ) -> Result<i64, String> {
        json_decimal(field, raw, |d| self.instruments.size_dec(idx, d))
    }

    /// A trade's size sent as a JSON number: above zero.
    #[inline]
    pub fn json_trade_size(
        &mut self,
        idx: InstrumentIdx,
        field: &str,
        raw: &RawValue,
    ) -> Result<i64, String> {
        positive(field, raw.get(), self.json_size(idx, field, raw)?)
    }
}

#[inline]
fn positive(field: &str, text: &str, value: i64) -> Result<i64, String> {
    if value > 0 {
        Ok(value)
    } else {
        Err(format!(
            "bad {field} {text:?}: a trade's size must be above zero"
        ))
    }
}

#[inline]
fn json_decimal(
    field: &str,
    raw: &RawValue,
    at_precision: impl FnOnce(RawDecimal) -> Result<i64, DecimalError>,
) -> Result<i64, String> {
    let text = raw.get();
    parse_json_decimal(text.as_bytes())
        .and_then(at_precision)
        .map_err(|e| field_error(field, text, e))
}

pub fn field_error(field: &str, value: &str, e: DecimalError) -> String {
    format!("bad {field} {value:?}: {e}")
}

pub trait Normalizer: Send + Sync {
    /// The venue's name as used in instrument ids (`kraken`, `binance`...).
    fn venue(&self) -> &'static str;

    /// How instruments of this venue get their precision when reference data is absent.
    fn precision_policy(&self) -> PrecisionPolicy;

    /// One WebSocket frame. On `Err`, the engine drops whatever the frame pushed and records
    /// a reject with the reason and the bytes: a frame is normalized whole or not at all.
    fn frame(&mut self, ctx: &mut Ctx<'_>, data: &[u8]) -> Result<(), String>;

    /// A REST response: book snapshots and reference data. Others are ignored. On `Err`,
    /// like [`Normalizer::frame`], the response leaves no trace but its reject.
    fn http(&mut self, _ctx: &mut Ctx<'_>, _url: &str, _body: &[u8]) -> Result<(), String> {
        Ok(())
    }

    /// A connection was (re)opened: per-connection sequence state starts over.
    fn connected(&mut self, _conn: u32) {}

    /// Whether the venue numbers each instrument's trades upwards, so that a high-water mark
    /// detects duplicates (see [`crate::dedup`]).
    fn trade_ids_increase(&self) -> bool {
        true
    }
}

/// Normalize one frame whole or not at all: on error, drop what it pushed, undo what it
/// changed in the instrument table (a precision settled by its first value, a symbol it
/// registered, a book depth) and record a reject with the reason and the bytes.
pub fn normalize_frame<N: Normalizer + ?Sized>(normalizer: &mut N, ctx: &mut Ctx<'_>, data: &[u8]) {
    whole_or_nothing(ctx, data, |ctx| normalizer.frame(ctx, data));
}

/// A REST response, whole or not at all, like [`normalize_frame`].
pub fn normalize_http<N: Normalizer + ?Sized>(
    normalizer: &mut N,
    ctx: &mut Ctx<'_>,
    url: &str,
    body: &[u8],
) {
    whole_or_nothing(ctx, body, |ctx| normalizer.http(ctx, url, body));
}

/// The one place input is rolled back: to the start of `raw`, or to where the normalizer
/// last called [`Ctx::keep`].
fn whole_or_nothing<'a>(
    ctx: &mut Ctx<'a>,
    raw: &[u8],
    normalize: impl FnOnce(&mut Ctx<'a>) -> Result<(), String>,
) {
    ctx.keep(); // everything before this input stands
    match normalize(ctx) {
        Ok(()) => ctx.instruments.commit(),
        Err(reason) => ctx.rollback(reason, raw),
    }
}

/// The protocols we speak, by the names the Python side uses.
pub const PROTOCOLS: [&str; 7] = [
    "coinbase",
    "kraken",
    "kraken_v1",
    "binance",
    "binance_us",
    "alpaca",
    "alpaca_news",
];

/// A normalizer for `protocol` (one of [`PROTOCOLS`]).
pub fn new_normalizer(protocol: &str) -> Result<Box<dyn Normalizer>, String> {
    Ok(match protocol {
        "coinbase" => Box::new(coinbase::Coinbase::default()),
        "kraken" | "kraken_v2" => Box::new(kraken_v2::KrakenV2),
        "kraken_v1" => Box::new(kraken_v1::KrakenV1),
        "binance" => Box::new(binance::Binance::new("binance")),
        "binance_us" => Box::new(binance::Binance::new("binance_us")),
        "alpaca" | "alpaca_news" => Box::new(alpaca::Alpaca),
        other => {
            return Err(format!(
                "unknown protocol {other:?}; expected one of {}",
                PROTOCOLS.join(", ")
            ))
        }
    })
}

/// The first `n` bytes of a frame, for reject reasons.
pub fn snippet(data: &[u8]) -> String {
    let end = data.len().min(80);
    String::from_utf8_lossy(&data[..end]).into_owned()
}

/// Expects `next` to follow `last` (if any); returns the number of values skipped.
#[inline]
pub fn sequence_gap(last: Option<u64>, next: u64) -> Option<(u64, u64)> {
    match last {
        Some(prev) if next != prev.wrapping_add(1) => Some((prev.wrapping_add(1), next)),
        _ => None,
    }
}
