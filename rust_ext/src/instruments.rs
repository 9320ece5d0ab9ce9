//! The instruments a normalizer has seen: venue symbol, canonical id and precisions.
//!
//! Precision is per instrument and per quantity (price, size). It comes from the venue's
//! reference data when given ([`Instruments::define`]); otherwise the venue's policy decides:
//! venues that write fixed-width strings (Kraken v1, Binance) teach it with their first value,
//! venues that trim trailing zeros (Coinbase, Alpaca) fall back to a default wide enough to hold
//! every value exactly.

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

    pub fn get_mut(&mut self, idx: InstrumentIdx) -> Option<&mut Instrument> {
        self.list.get_mut(idx as usize)
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

    /// A price already read as a decimal (a JSON number's text, say).
    #[inline]
    pub fn price_dec(&mut self, idx: InstrumentIdx, d: RawDecimal) -> Result<i64, DecimalError> {
        let policy = self.policy;
        let slot = &mut self.list[idx as usize].price_precision;
        rescale(d, settle(slot, policy, true, d))
    }

    /// A size already read as a decimal.
    #[inline]
    pub fn size_dec(&mut self, idx: InstrumentIdx, d: RawDecimal) -> Result<i64, DecimalError> {
        let policy = self.policy;
        let slot = &mut self.list[idx as usize].size_precision;
        rescale(d, settle(slot, policy, false, d))
    }
}

/// The precision in `slot`, fixing it by `policy` if it is not known yet.
#[inline]
fn settle(slot: &mut Option<u8>, policy: PrecisionPolicy, is_price: bool, d: RawDecimal) -> u8 {
    if let Some(p) = *slot {
        return p;
    }
    let p = match policy {
        PrecisionPolicy::FirstValue => d.decimals,
        PrecisionPolicy::Default { price, size } => {
            if is_price {
                price
            } else {
                size
            }
        }
    };
    *slot = Some(p);
    p
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
