//! Duplicate trades: which trades an instrument has had, in memory that never grows.
//!
//! Venues send trades twice (the recent trades a resubscription replays, a frame replayed
//! after a reconnect), so the engine drops trades it has had. It must not remember every id
//! for that: a collector runs for weeks at thousands of trades a second.
//!
//! - Venues that number each instrument's trades upwards (Coinbase, Kraken v2, Binance) need
//!   only a high-water mark and a bitmap of the [`WINDOW`] ids below it: 512 bytes an
//!   instrument. Trades arrive out of order by a few ids at most (Coinbase lists a
//!   `market_trades` snapshot newest first), so a late trade within the window is told from a
//!   duplicate exactly. An id more than [`WINDOW`] below the mark means the venue restarted
//!   its count (a simulator or testnet reset) or replayed data older than the window; the two
//!   cannot be told apart, and dropping every trade until the count passes the old mark would
//!   lose real data, so the window starts over at that id.
//! - Alpaca's stock trade ids are numbered by each exchange, so they neither increase nor are
//!   unique per symbol. There the last [`RECENT`] to 2×[`RECENT`] trades are remembered by a
//!   fingerprint of id, time, price and size (two exchanges' trades that share an id differ in
//!   the rest), in two generations of sets: the older is dropped whole when the newer is full.
//!   A set that only grows and is cleared keeps its allocation; one that removes as it inserts
//!   fills with tombstones and reallocates (the single set of 4,096 ids used before grew its
//!   table that way).

use std::collections::HashSet;

use crate::event::Trade;

/// Ids below the high-water mark that are told apart exactly.
pub const WINDOW: u64 = 4096;
const WORDS: usize = (WINDOW / 64) as usize;

/// Trades remembered where ids do not increase.
pub const RECENT: usize = 4096;

/// The trades one instrument has had; see the module docs.
#[derive(Debug, Clone, Default)]
pub enum SeenTrades {
    /// No trade with an id yet.
    #[default]
    Empty,
    /// Ids increase: the highest one, and which of the [`WINDOW`] ids up to it were seen
    /// (id `k` is bit `k % WINDOW`).
    Increasing { high: u64, bits: Box<[u64; WORDS]> },
    /// Ids do not increase: fingerprints of the trades since `current` was emptied, and of
    /// the [`RECENT`] before.
    Recent {
        current: HashSet<u64>,
        previous: HashSet<u64>,
    },
}

impl SeenTrades {
    /// Remember `trade`; false when it was had already (a duplicate). `increasing` says
    /// how the venue numbers trades; it is fixed for an instrument by its first trade.
    #[inline]
    pub fn insert(&mut self, trade: &Trade, increasing: bool) -> bool {
        match self {
            SeenTrades::Empty => {
                *self = if increasing {
                    SeenTrades::Increasing {
                        high: trade.trade_id,
                        bits: Box::new([0; WORDS]),
                    }
                } else {
                    SeenTrades::Recent {
                        current: HashSet::with_capacity(RECENT),
                        previous: HashSet::with_capacity(RECENT),
                    }
                };
                self.insert(trade, increasing)
            }
            SeenTrades::Increasing { high, bits } => insert_increasing(high, bits, trade.trade_id),
            SeenTrades::Recent { current, previous } => {
                let key = fingerprint(trade);
                if current.contains(&key) || previous.contains(&key) {
                    return false;
                }
                if current.len() == RECENT {
                    previous.clear();
                    std::mem::swap(current, previous);
                }
                current.insert(key);
                true
            }
        }
    }

    /// Bytes held on the heap: what the bound is about.
    pub fn heap_bytes(&self) -> usize {
        match self {
            SeenTrades::Empty => 0,
            SeenTrades::Increasing { .. } => WORDS * 8,
            // hashbrown: a control byte beside each 8-byte slot.
            SeenTrades::Recent { current, previous } => {
                (current.capacity() + previous.capacity()) * (8 + 1)
            }
        }
    }
}

#[inline]
fn insert_increasing(high: &mut u64, bits: &mut [u64; WORDS], id: u64) -> bool {
    let slot = |k: u64| ((k / 64) as usize % WORDS, 1u64 << (k % 64));
    if id > *high {
        // The ids passed over were last used WINDOW ids ago: free their bits.
        if id - *high >= WINDOW {
            bits.fill(0);
        } else {
            for k in *high + 1..id {
                let (w, b) = slot(k);
                bits[w] &= !b;
            }
        }
        let (w, b) = slot(id);
        bits[w] |= b;
        *high = id;
        return true;
    }
    if *high - id >= WINDOW {
        // A restarted count (or a replay older than the window): start over from here.
        bits.fill(0);
        let (w, b) = slot(id);
        bits[w] |= b;
        *high = id;
        return true;
    }
    let (w, b) = slot(id);
    let new = bits[w] & b == 0;
    bits[w] |= b;
    new
}

/// A trade's identity where the id alone is not unique: each field folded in through
/// splitmix64's finaliser (a collision needs two of the last few thousand trades to agree).
fn fingerprint(t: &Trade) -> u64 {
    let mix = |mut h: u64| {
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    };
    let mut h = mix(t.trade_id);
    for v in [t.ts_event as u64, t.price as u64, t.size as u64] {
        h = mix(h ^ v);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Precision;
    use crate::types::Aggressor;

    fn trade(id: u64, ts: i64) -> Trade {
        Trade {
            instrument: 0,
            ts_event: ts,
            ts_recv: 0,
            price: 100,
            size: 1,
            aggressor: Aggressor::Buy,
            trade_id: id,
            precision: Precision::default(),
        }
    }

    /// A million trades take no more memory than ten thousand, in either mode.
    #[test]
    fn memory_is_bounded() {
        for increasing in [true, false] {
            let mut seen = SeenTrades::default();
            let mut after_10k = 0;
            for id in 1..=1_000_000u64 {
                assert!(seen.insert(&trade(id, id as i64), increasing));
                if id == 10_000 {
                    after_10k = seen.heap_bytes();
                }
            }
            assert_eq!(seen.heap_bytes(), after_10k, "increasing={increasing}");
            assert!(after_10k <= 256 * 1024, "{after_10k} bytes");
        }
    }

    /// Late trades within the window are new; a second sight of any recent one is not.
    #[test]
    fn reordered_trades_are_not_duplicates() {
        let mut seen = SeenTrades::default();
        // Batches listed newest first (a Coinbase market_trades snapshot), then neighbours
        // swapped, then a jump past the window.
        let mut ids: Vec<u64> = Vec::new();
        for batch in (0..20u64).map(|b| (b * 50 + 1..=b * 50 + 50).rev()) {
            ids.extend(batch);
        }
        for pair in (1001..=2000u64).collect::<Vec<_>>().chunks(2) {
            ids.extend(pair.iter().rev());
        }
        ids.push(2000 + 10 * WINDOW);
        ids.push(2000 + 10 * WINDOW - 5);
        for &id in &ids {
            assert!(seen.insert(&trade(id, 0), true), "{id} is new");
        }
        for &id in &ids[ids.len() - 2..] {
            assert!(!seen.insert(&trade(id, 0), true), "{id} again");
        }
        // Far below the mark: the venue counts from 1 again, and those trades are new.
        for id in 1..=10 {
            assert!(seen.insert(&trade(id, 0), true), "{id} after a restart");
            assert!(
                !seen.insert(&trade(id, 0), true),
                "{id} again after a restart"
            );
        }
        // Recent ids come back as duplicates after the bitmap wrapped many times.
        let mut seen = SeenTrades::default();
        for id in 1..=100_000u64 {
            assert!(seen.insert(&trade(id, 0), true));
            if id > 3 {
                assert!(!seen.insert(&trade(id - 3, 0), true));
            }
        }
    }

    /// Where ids repeat across exchanges, the same id with other fields is a new trade.
    #[test]
    fn recent_window_uses_the_whole_trade() {
        let mut seen = SeenTrades::default();
        assert!(seen.insert(&trade(7, 1), false));
        assert!(seen.insert(&trade(7, 2), false));
        assert!(!seen.insert(&trade(7, 1), false));
        for id in 1_000..1_000 + RECENT as u64 - 1 {
            assert!(seen.insert(&trade(id, 0), false));
        }
        assert!(
            !seen.insert(&trade(7, 2), false),
            "within the last RECENT trades"
        );
        for id in 100..100 + 2 * RECENT as u64 {
            seen.insert(&trade(id, 0), false);
        }
        // Pushed out by 2 x RECENT later trades: remembered no more.
        assert!(seen.insert(&trade(7, 1), false));
    }
}
