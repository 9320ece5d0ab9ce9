//! Venue book checksums.

use crate::book::OrderBook;

/// Kraken's book checksum (WS v1 and v2): CRC32 over the top 10 asks (lowest first) then the
/// top 10 bids (highest first), each level's price then quantity as the venue's decimal string
/// with the `.` removed and leading zeros stripped.
///
/// A mantissa at the instrument's precision *is* that digit string, so no formatting is
/// needed beyond printing an integer. (v2 sends JSON numbers; the book stores them at the
/// pair's `price_precision` / `qty_precision`, which makes the same rule hold.)
pub fn kraken_crc32(book: &OrderBook) -> u32 {
    // One contiguous buffer hashed once: crc32fast is only fast on long inputs.
    // 20 levels x 2 numbers x at most 20 digits.
    let mut text = [0u8; 800];
    let mut len = 0;
    let mut buf = itoa::Buffer::new();
    for (price, size) in book.asks_iter().take(10).chain(book.bids_iter().take(10)) {
        for value in [price, size] {
            let digits = buf.format(value).as_bytes();
            text[len..len + digits.len()].copy_from_slice(digits);
            len += digits.len();
        }
    }
    crc32fast::hash(&text[..len])
}

/// The same checksum from decimal strings, exactly as Kraken's documentation describes it.
pub fn kraken_crc32_strings<'a>(
    asks: impl IntoIterator<Item = (&'a str, &'a str)>,
    bids: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    let mut feed = |s: &str| {
        let digits: String = s.chars().filter(|&c| c != '.').collect();
        hasher.update(digits.trim_start_matches('0').as_bytes());
    };
    for (price, size) in asks.into_iter().take(10).chain(bids.into_iter().take(10)) {
        feed(price);
        feed(size);
    }
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{parse_fixed, Side};

    /// The example in Kraken's WebSocket documentation.
    fn docs_example() -> (Vec<String>, Vec<String>) {
        let asks = (0..10)
            .map(|i| format!("0.{:05}", 5005 + 5 * i))
            .collect::<Vec<_>>();
        let bids = [5000, 4995, 4990, 4980, 4975, 4970, 4965, 4960, 4955, 4950]
            .iter()
            .map(|p| format!("0.{p:05}"))
            .collect::<Vec<_>>();
        (asks, bids)
    }

    #[test]
    fn docs_example_from_strings() {
        let (asks, bids) = docs_example();
        let q = "0.00000500";
        let crc = kraken_crc32_strings(
            asks.iter().map(|p| (p.as_str(), q)),
            bids.iter().map(|p| (p.as_str(), q)),
        );
        assert_eq!(crc, 974_947_235);
    }

    #[test]
    fn docs_example_from_book() {
        let (asks, bids) = docs_example();
        let mut book = OrderBook::new(None);
        for p in &asks {
            book.apply(Side::Ask, parse_fixed(p.as_bytes(), 5).unwrap(), 500);
        }
        for p in &bids {
            book.apply(Side::Bid, parse_fixed(p.as_bytes(), 5).unwrap(), 500);
        }
        assert_eq!(kraken_crc32(&book), 974_947_235);
    }
}
