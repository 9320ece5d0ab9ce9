//! The instruments a normalizer has seen: venue symbol, canonical id and precisions.
//!
//! Precision is per instrument and per quantity (price, size). It comes from the venue's
//! reference data when given ([`Instruments::define`]); otherwise the venue's policy decides:
//! venues that write fixed-width strings (Kraken v1, Binance) teach it with their first value,
//! venues that trim trailing zeros (Coinbase, Alpaca) fall back to a default wide enough to hold
//! every value exactly.
//!
//! A frame can change this table before it turns out to be malformed (a new symbol, a first
//! value that settles a precision, a book depth). Every such change is journaled, so that
//! [`Instruments::rollback`] undoes it with the frame's events: a rejected frame leaves no
//! trace, and a garbage symbol costs no memory.

use std::collections::HashMap;

use crate::event::{InstrumentIdx, Precision};
use crate::types::{parse_decimal, rescale, DecimalError, RawDecimal, MAX_PRECISION};

/// How to pick a precision that reference data did not give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrecisionPolicy {
    /// The number of decimals of the first value seen (fixed-width venues).
    FirstValue,
    /// A fixed default for trimmed-decimal venues.
    Default { price: u8, size: u8 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instrument {
    pub venue_symbol: String,
    /// `BASE-QUOTE@venue` (or `TICKER@venue` for stocks).
    pub canonical: String,
    pub price_precision: Option<u8>,
    pub size_precision: Option<u8>,
    /// Book depth the venue maintains for this instrument (Kraken trims to it).
    pub book_depth: Option<usize>,
    /// The precisions came from reference data, not from a policy's guess.
    pub defined: bool,
    /// Declared to trade below zero (spreads, some futures): its negative prices are valid.
    pub allow_negative_prices: bool,
}

/// What an instrument was before a change, to undo it ([`Instruments::rollback`]).
#[derive(Debug, Clone)]
struct Saved {
    idx: InstrumentIdx,
    price_precision: Option<u8>,
    size_precision: Option<u8>,
    book_depth: Option<usize>,
    defined: bool,
    /// Only reference data renames an instrument; the hot path saves no string.
    canonical: Option<String>,
}

/// The table at a point in time; see [`Instruments::mark`].
#[derive(Debug, Clone, Copy)]
pub struct InstrumentsMark {
    len: usize,
    undo: usize,
    changed: usize,
}

#[derive(Debug, Clone)]
pub struct Instruments {
    venue: &'static str,
    policy: PrecisionPolicy,
    list: Vec<Instrument>,
    by_symbol: HashMap<String, InstrumentIdx>,
    /// Instruments whose precision in use was changed by reference data: `(idx, from, to)`.
    /// The engine drains it to rescale their books.
    pub changed: Vec<(InstrumentIdx, Precision, Precision)>,
    /// Changes since the last [`Instruments::commit`], newest last.
    undo: Vec<Saved>,
}

/// Quote assets tried, longest first, to split a concatenated symbol such as `NKNUSDT`.
const KNOWN_QUOTES: [&str; 22] = [
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "DAI", "BTC", "ETH", "BNB", "EUR", "USD",
    "GBP", "TRY", "BRL", "AUD", "JPY", "XRP", "DOGE", "TRX", "UAH", "RUB",
];

impl Instruments {
    pub fn new(venue: &'static str, policy: PrecisionPolicy) -> Self {
        Self {
            venue,
            policy,
            list: Vec::new(),
            by_symbol: HashMap::new(),
            changed: Vec::new(),
            undo: Vec::new(),
        }
    }

    pub fn venue(&self) -> &'static str {
        self.venue
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn get(&self, idx: InstrumentIdx) -> Option<&Instrument> {
        self.list.get(idx as usize)
    }

    pub fn iter(&self) -> impl Iterator<Item = (InstrumentIdx, &Instrument)> {
        self.list
            .iter()
            .enumerate()
            .map(|(i, inst)| (i as InstrumentIdx, inst))
    }

    pub fn find(&self, venue_symbol: &str) -> Option<InstrumentIdx> {
        self.by_symbol.get(venue_symbol).copied()
    }

    /// The index for `venue_symbol`, registering it on first sight.
    #[inline]
    pub fn intern(&mut self, venue_symbol: &str) -> InstrumentIdx {
        if let Some(&idx) = self.by_symbol.get(venue_symbol) {
            return idx;
        }
        let canonical = canonical_id(self.venue, venue_symbol, None);
        self.insert(venue_symbol, canonical)
    }

    fn insert(&mut self, venue_symbol: &str, canonical: String) -> InstrumentIdx {
        let idx = self.list.len() as InstrumentIdx;
        self.list.push(Instrument {
            venue_symbol: venue_symbol.to_owned(),
            canonical,
            price_precision: None,
            size_precision: None,
            book_depth: None,
            defined: false,
            allow_negative_prices: false,
        });
        self.by_symbol.insert(venue_symbol.to_owned(), idx);
        idx
    }

    /// Register reference data: base/quote assets and precisions, where known.
    pub fn define(
        &mut self,
        venue_symbol: &str,
        base_quote: Option<(&str, &str)>,
        price_precision: Option<u8>,
        size_precision: Option<u8>,
    ) -> InstrumentIdx {
        let idx = match self.find(venue_symbol) {
            Some(idx) => idx,
            None => {
                let canonical = canonical_id(self.venue, venue_symbol, base_quote);
                self.insert(venue_symbol, canonical)
            }
        };
        self.save(idx, true);
        let before = (
            self.list[idx as usize].price_precision,
            self.list[idx as usize].size_precision,
        );
        let inst = &mut self.list[idx as usize];
        if let Some((base, quote)) = base_quote {
            inst.canonical = format!(
                "{}-{}@{}",
                asset_alias(base),
                asset_alias(quote),
                self.venue
            );
        }
        if price_precision.is_some() {
            inst.price_precision = price_precision.map(|p| p.min(MAX_PRECISION));
        }
        if size_precision.is_some() {
            inst.size_precision = size_precision.map(|p| p.min(MAX_PRECISION));
        }
        inst.defined |= price_precision.is_some() && size_precision.is_some();
        if let (Some(p0), Some(s0)) = before {
            let from = Precision {
                price: p0,
                size: s0,
            };
            let to = self.precision(idx);
            if from != to {
                self.changed.push((idx, from, to));
            }
        }
        idx
    }

    /// Outside frames only (reference data from the collector): changes made through it
    /// are not journaled. Frames use [`Instruments::set_precision`] and
    /// [`Instruments::set_book_depth`].
    pub fn get_mut(&mut self, idx: InstrumentIdx) -> Option<&mut Instrument> {
        self.list.get_mut(idx as usize)
    }

    /// Both precisions at once (Kraken v2 infers them from a book snapshot).
    pub fn set_precision(&mut self, idx: InstrumentIdx, price: u8, size: u8) {
        self.save(idx, false);
        let inst = &mut self.list[idx as usize];
        inst.price_precision = Some(price.min(MAX_PRECISION));
        inst.size_precision = Some(size.min(MAX_PRECISION));
    }

    /// The venue's book depth for `idx`; `only_if_unknown` keeps one already set.
    pub fn set_book_depth(&mut self, idx: InstrumentIdx, depth: usize, only_if_unknown: bool) {
        let current = self.list[idx as usize].book_depth;
        if current == Some(depth) || (only_if_unknown && current.is_some()) {
            return;
        }
        self.save(idx, false);
        self.list[idx as usize].book_depth = Some(depth);
    }

    /// Declare that `venue_symbol` trades below zero, registering it if needed.
    pub fn allow_negative_prices(&mut self, venue_symbol: &str) -> InstrumentIdx {
        let idx = self.intern(venue_symbol);
        self.list[idx as usize].allow_negative_prices = true;
        idx
    }

    /// Journal `idx` as it is now, so that [`Instruments::rollback`] can restore it.
    fn save(&mut self, idx: InstrumentIdx, with_name: bool) {
        let Some(i) = self.list.get(idx as usize) else {
            return;
        };
        self.undo.push(Saved {
            idx,
            price_precision: i.price_precision,
            size_precision: i.size_precision,
            book_depth: i.book_depth,
            defined: i.defined,
            canonical: with_name.then(|| i.canonical.clone()),
        });
    }

    /// The table now, to undo what a frame changes with [`Instruments::rollback`].
    #[inline]
    pub fn mark(&self) -> InstrumentsMark {
        InstrumentsMark {
            len: self.list.len(),
            undo: self.undo.len(),
            changed: self.changed.len(),
        }
    }

    /// Undo every change since `mark`: instruments registered since are forgotten, those
    /// changed get their earlier precisions, depth and name back.
    pub fn rollback(&mut self, mark: InstrumentsMark) {
        while self.undo.len() > mark.undo {
            let Some(s) = self.undo.pop() else { break };
            let Some(i) = self.list.get_mut(s.idx as usize) else {
                continue;
            };
            i.price_precision = s.price_precision;
            i.size_precision = s.size_precision;
            i.book_depth = s.book_depth;
            i.defined = s.defined;
            if let Some(name) = s.canonical {
                i.canonical = name;
            }
        }
        for gone in self.list.drain(mark.len.min(self.list.len())..) {
            self.by_symbol.remove(&gone.venue_symbol);
        }
        self.changed.truncate(mark.changed);
    }

    /// Keep every change so far: the journal starts over (it never outlives a frame).
    #[inline]
    pub fn commit(&mut self) {
        self.undo.clear();
    }

    /// The instrument's precisions now (0 where not yet known).
    #[inline]
    pub fn precision(&self, idx: InstrumentIdx) -> Precision {
        let i = &self.list[idx as usize];
        Precision {
            price: i.price_precision.unwrap_or(0),
            size: i.size_precision.unwrap_or(0),
        }
    }

    pub fn price_precision(&self, idx: InstrumentIdx) -> u8 {
        self.list[idx as usize].price_precision.unwrap_or(0)
    }

    pub fn size_precision(&self, idx: InstrumentIdx) -> u8 {
        self.list[idx as usize].size_precision.unwrap_or(0)
    }

    /// Parse a price string for `idx`, fixing its precision by policy on first use.
    #[inline]
    pub fn price(&mut self, idx: InstrumentIdx, s: &[u8]) -> Result<i64, DecimalError> {
        self.price_dec(idx, parse_decimal(s)?)
    }

    /// Parse a size string for `idx`, fixing its precision by policy on first use.
    #[inline]
    pub fn size(&mut self, idx: InstrumentIdx, s: &[u8]) -> Result<i64, DecimalError> {
        self.size_dec(idx, parse_decimal(s)?)
    }

    /// A price already read as a decimal (a JSON number's text, say); negative only where
    /// the instrument was declared to allow it.
    #[inline]
    pub fn price_dec(&mut self, idx: InstrumentIdx, d: RawDecimal) -> Result<i64, DecimalError> {
        let inst = &self.list[idx as usize];
        if d.mantissa < 0 && !inst.allow_negative_prices {
            return Err(DecimalError::NegativePrice);
        }
        let p = match inst.price_precision {
            Some(p) => p,
            None => self.settle(idx, true, d),
        };
        rescale(d, p)
    }

    /// A size already read as a decimal; never negative (0 deletes a book level).
    #[inline]
    pub fn size_dec(&mut self, idx: InstrumentIdx, d: RawDecimal) -> Result<i64, DecimalError> {
        if d.mantissa < 0 {
            return Err(DecimalError::Negative);
        }
        let p = match self.list[idx as usize].size_precision {
            Some(p) => p,
            None => self.settle(idx, false, d),
        };
        rescale(d, p)
    }

    /// Fix a precision not known yet by the policy (journaled: a rejected frame's first
    /// value must not decide it for the frames that follow).
    #[cold]
    fn settle(&mut self, idx: InstrumentIdx, is_price: bool, d: RawDecimal) -> u8 {
        let p = match self.policy {
            PrecisionPolicy::FirstValue => d.decimals,
            PrecisionPolicy::Default { price, size } => {
                if is_price {
                    price
                } else {
                    size
                }
            }
        };
        self.save(idx, false);
        let inst = &mut self.list[idx as usize];
        if is_price {
            inst.price_precision = Some(p);
        } else {
            inst.size_precision = Some(p);
        }
        p
    }
}

/// The common name of a venue-specific asset code (Kraken's `XBT`, `XDG`, `ZUSD`...).
pub fn asset_alias(asset: &str) -> &str {
    match asset {
        "XBT" | "XXBT" => "BTC",
        "XDG" | "XXDG" => "DOGE",
        "ZUSD" => "USD",
        "ZEUR" => "EUR",
        "ZGBP" => "GBP",
        "ZCAD" => "CAD",
        "ZJPY" => "JPY",
        "ZAUD" => "AUD",
        "XETH" => "ETH",
        "XXMR" => "XMR",
        other => other,
    }
}

/// Canonical id for a venue symbol: `BASE-QUOTE@venue`, or `SYMBOL@venue` when it has no pair.
pub fn canonical_id(venue: &str, venue_symbol: &str, base_quote: Option<(&str, &str)>) -> String {
    if let Some((base, quote)) = base_quote {
        return format!("{}-{}@{venue}", asset_alias(base), asset_alias(quote));
    }
    for sep in ['/', '-', '_'] {
        if let Some((base, quote)) = venue_symbol.split_once(sep) {
            return format!("{}-{}@{venue}", asset_alias(base), asset_alias(quote));
        }
    }
    let upper = venue_symbol.to_ascii_uppercase();
    if venue.starts_with("binance") {
        for quote in KNOWN_QUOTES {
            if let Some(base) = upper.strip_suffix(quote) {
                if !base.is_empty() {
                    return format!("{base}-{quote}@{venue}");
                }
            }
        }
    }
    format!("{upper}@{venue}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ids() {
        assert_eq!(canonical_id("kraken", "XBT/USD", None), "BTC-USD@kraken");
        assert_eq!(
            canonical_id("coinbase", "BTC-USD", None),
            "BTC-USD@coinbase"
        );
        assert_eq!(canonical_id("binance", "NKNUSDT", None), "NKN-USDT@binance");
        assert_eq!(canonical_id("binance", "lrcbtc", None), "LRC-BTC@binance");
        assert_eq!(canonical_id("alpaca", "AAPL", None), "AAPL@alpaca");
    }

    #[test]
    fn first_value_policy_learns_width() {
        let mut t = Instruments::new("kraken", PrecisionPolicy::FirstValue);
        let i = t.intern("XMR/USD");
        assert_eq!(t.price(i, b"354.15000000").unwrap(), 35_415_000_000);
        assert_eq!(t.price_precision(i), 8);
        assert_eq!(t.price(i, b"354.1").unwrap(), 35_410_000_000);
    }

    #[test]
    fn default_policy_and_definitions() {
        let mut t = Instruments::new("coinbase", PrecisionPolicy::Default { price: 8, size: 8 });
        let i = t.intern("BTC-USD");
        assert_eq!(t.price(i, b"65062.5").unwrap(), 6_506_250_000_000);
        let j = t.define("ETH-USD", None, Some(2), Some(8));
        assert_eq!(t.price(j, b"1919.4").unwrap(), 191_940);
        assert!(t.price(j, b"1919.411").is_err());
    }
}
