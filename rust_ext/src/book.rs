//! An L2 order book: price levels per side, kept sorted with the best level last.
//!
//! Keeping the best level at the end of a `Vec` makes the common case (changes near the top)
//! a short binary search plus a short `memmove`, and reading the top of book O(1). Levels are
//! fixed-point mantissas (see [`crate::types`]).

use crate::event::Precision;
use crate::types::{pow10, Side};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Level {
    price: i64,
    size: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderBook {
    /// Ascending by price: the best (highest) bid is last.
    bids: Vec<Level>,
    /// Descending by price: the best (lowest) ask is last.
    asks: Vec<Level>,
    /// Levels kept per side; the venue's subscribed depth (Kraken trims to it).
    depth: Option<usize>,
}

impl OrderBook {
    pub fn new(depth: Option<usize>) -> Self {
        Self {
            bids: Vec::new(),
            asks: Vec::new(),
            depth,
        }
    }

    pub fn depth(&self) -> Option<usize> {
        self.depth
    }

    pub fn set_depth(&mut self, depth: Option<usize>) {
        self.depth = depth;
    }

    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    /// Set the level at `price` to `size` (0 removes it). Returns false for a delete of a
    /// level that was not there, which venues do send and which is harmless.
    #[inline]
    pub fn apply(&mut self, side: Side, price: i64, size: i64) -> bool {
        let levels = match side {
            Side::Bid => &mut self.bids,
            Side::Ask => &mut self.asks,
        };
        let found = match side {
            Side::Bid => search_ascending(levels, price),
            Side::Ask => search_descending(levels, price),
        };
        match (found, size) {
            (Ok(i), 0) => {
                levels.remove(i);
                true
            }
            (Ok(i), _) => {
                levels[i].size = size;
                true
            }
            (Err(_), 0) => false,
            (Err(i), _) => {
                levels.insert(i, Level { price, size });
                if let Some(depth) = self.depth {
                    if levels.len() > depth {
                        // The worst levels sit at the front.
                        let excess = levels.len() - depth;
                        levels.drain(..excess);
                    }
                }
                true
            }
        }
    }

    #[inline]
    pub fn best_bid(&self) -> Option<(i64, i64)> {
        self.bids.last().map(|l| (l.price, l.size))
    }

    #[inline]
    pub fn best_ask(&self) -> Option<(i64, i64)> {
        self.asks.last().map(|l| (l.price, l.size))
    }

    /// Best bid at or above best ask.
    #[inline]
    pub fn is_crossed(&self) -> bool {
        match (self.bids.last(), self.asks.last()) {
            (Some(b), Some(a)) => b.price >= a.price,
            _ => false,
        }
    }

    /// Bids from the best down.
    pub fn bids_iter(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.bids.iter().rev().map(|l| (l.price, l.size))
    }

    /// Asks from the best up.
    pub fn asks_iter(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.asks.iter().rev().map(|l| (l.price, l.size))
    }

    pub fn bid_levels(&self) -> usize {
        self.bids.len()
    }

    pub fn ask_levels(&self) -> usize {
        self.asks.len()
    }

    /// Re-express every level at another precision. False (and the book unchanged) when a
    /// value would lose digits or overflow.
    pub fn rescale(&mut self, from: Precision, to: Precision) -> bool {
        let convert = |v: i64, from: u8, to: u8| -> Option<i64> {
            if to >= from {
                v.checked_mul(pow10(to - from))
            } else {
                let div = pow10(from - to);
                (v % div == 0).then_some(v / div)
            }
        };
        let mut bids = self.bids.clone();
        let mut asks = self.asks.clone();
        for l in bids.iter_mut().chain(asks.iter_mut()) {
            match (
                convert(l.price, from.price, to.price),
                convert(l.size, from.size, to.size),
            ) {
                (Some(p), Some(s)) => *l = Level { price: p, size: s },
                _ => return false,
            }
        }
        self.bids = bids;
        self.asks = asks;
        true
    }

    /// Bytes held by the level vectors (capacity, not length).
    pub fn heap_bytes(&self) -> usize {
        (self.bids.capacity() + self.asks.capacity()) * std::mem::size_of::<Level>()
    }

    pub fn shrink_to_fit(&mut self) {
        self.bids.shrink_to_fit();
        self.asks.shrink_to_fit();
    }
}

#[inline]
fn search_ascending(levels: &[Level], price: i64) -> Result<usize, usize> {
    // Most changes land near the top of book, which is the end of the vector.
    if let Some(last) = levels.last() {
        if price > last.price {
            return Err(levels.len());
        }
    }
    levels.binary_search_by(|l| l.price.cmp(&price))
}

#[inline]
fn search_descending(levels: &[Level], price: i64) -> Result<usize, usize> {
    if let Some(last) = levels.last() {
        if price < last.price {
            return Err(levels.len());
        }
    }
    levels.binary_search_by(|l| price.cmp(&l.price))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_sides_sorted_best_first() {
        let mut b = OrderBook::new(None);
        b.apply(Side::Bid, 100, 1);
        b.apply(Side::Bid, 102, 2);
        b.apply(Side::Bid, 101, 3);
        b.apply(Side::Ask, 105, 1);
        b.apply(Side::Ask, 103, 2);
        b.apply(Side::Ask, 104, 3);
        assert_eq!(b.best_bid(), Some((102, 2)));
        assert_eq!(b.best_ask(), Some((103, 2)));
        assert_eq!(
            b.bids_iter().map(|l| l.0).collect::<Vec<_>>(),
            [102, 101, 100]
        );
        assert_eq!(
            b.asks_iter().map(|l| l.0).collect::<Vec<_>>(),
            [103, 104, 105]
        );
        assert!(!b.is_crossed());
        b.apply(Side::Bid, 103, 1);
        assert!(b.is_crossed());
    }

    #[test]
    fn zero_size_deletes_and_updates_replace() {
        let mut b = OrderBook::new(None);
        b.apply(Side::Bid, 100, 1);
        b.apply(Side::Bid, 100, 7);
        assert_eq!(b.best_bid(), Some((100, 7)));
        assert!(b.apply(Side::Bid, 100, 0));
        assert_eq!(b.best_bid(), None);
        assert!(!b.apply(Side::Bid, 100, 0));
    }

    #[test]
    fn depth_trims_the_worst_levels() {
        let mut b = OrderBook::new(Some(2));
        for p in [10, 11, 12] {
            b.apply(Side::Bid, p, 1);
        }
        for p in [15, 14, 13] {
            b.apply(Side::Ask, p, 1);
        }
        assert_eq!(b.bids_iter().map(|l| l.0).collect::<Vec<_>>(), [12, 11]);
        assert_eq!(b.asks_iter().map(|l| l.0).collect::<Vec<_>>(), [13, 14]);
    }
}
