//! The engine: one venue's normalizer, its instruments, and a book per instrument, with the
//! venue's integrity checks (Kraken CRC32, Binance update-id sync, Coinbase sequence gaps,
//! crossed books). Frames go in; events accumulate until [`Engine::take`].
//!
//! A book that fails a check is marked out of sync and stays so (its checksums are no longer
//! verified, its diffs are buffered) until a snapshot arrives; [`Engine::out_of_sync`] names
//! the instruments the collector must resync.

use std::collections::VecDeque;

use crate::book::OrderBook;
use crate::checksum::kraken_crc32;
use crate::dedup::SeenTrades;
use crate::event::{
    BookAction, BookCheck, BookDelta, Events, InstrumentIdx, StatusKind, FLAG_LAST, FLAG_SNAPSHOT,
};
use crate::instruments::Instruments;
use crate::normalize::{new_normalizer, normalize_frame, normalize_http, Ctx, Normalizer};
use crate::types::UnixNanos;

/// Diffs kept per instrument while waiting for a snapshot (Binance); older ones are dropped
/// and the loss is reported as a gap.
pub const MAX_PENDING_DIFFS: usize = 10_000;

/// Counters per instrument; what `alphapulse replay` prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstrumentStats {
    pub trades: u64,
    pub quotes: u64,
    /// Book update messages applied (snapshots not included).
    pub book_updates: u64,
    pub snapshots: u64,
    pub checksums_verified: u64,
    pub checksums_failed: u64,
    pub gaps: u64,
    /// Times the book went from uncrossed to crossed.
    pub crossed: u64,
    /// Trades and frames dropped because they had been received already.
    pub duplicates: u64,
}

#[derive(Debug, Clone)]
struct PendingDiff {
    first: u64,
    last: u64,
    deltas: Vec<BookDelta>,
}

#[derive(Debug, Clone, Default)]
struct BookState {
    book: OrderBook,
    /// The book reflects the venue's (has had a snapshot and no failed check since).
    synced: bool,
    /// Binance: the last update id applied (the snapshot's `lastUpdateId` at first).
    last_update_id: Option<u64>,
    /// Binance: diffs received while waiting for a snapshot.
    pending: VecDeque<PendingDiff>,
    crossed: bool,
    stats: InstrumentStats,
    /// The trades it had, to drop those a venue (or a replayed frame) sends twice.
    seen_trades: SeenTrades,
}

pub struct Engine {
    normalizer: Box<dyn Normalizer>,
    instruments: Instruments,
    books: Vec<BookState>,
    events: Events,
    /// Book deltas in the order the books applied them: what `take` hands out, so that the
    /// `book_deltas` table rebuilds every book exactly (stale Binance diffs are left out,
    /// buffered ones appear after the snapshot they were applied on).
    applied: Vec<BookDelta>,
    /// How far `events.deltas` / `events.checks` have been applied to the books.
    applied_deltas: usize,
    applied_checks: usize,
    counted_trades: usize,
    counted_quotes: usize,
    frames: u64,
    rejects: u64,
    connection_gaps: u64,
    /// The venue numbers each instrument's trades upwards (see [`SeenTrades`]).
    trade_ids_increase: bool,
}

impl Engine {
    pub fn new(protocol: &str) -> Result<Self, String> {
        let normalizer = new_normalizer(protocol)?;
        let instruments = Instruments::new(normalizer.venue(), normalizer.precision_policy());
        let trade_ids_increase = normalizer.trade_ids_increase();
        Ok(Self {
            normalizer,
            instruments,
            books: Vec::new(),
            events: Events::new(),
            applied: Vec::new(),
            applied_deltas: 0,
            applied_checks: 0,
            counted_trades: 0,
            counted_quotes: 0,
            frames: 0,
            rejects: 0,
            connection_gaps: 0,
            trade_ids_increase,
        })
    }

    pub fn venue(&self) -> &'static str {
        self.normalizer.venue()
    }

    pub fn instruments(&self) -> &Instruments {
        &self.instruments
    }

    pub fn instruments_mut(&mut self) -> &mut Instruments {
        &mut self.instruments
    }

    /// Declare that `venue_symbol` trades below zero: its negative prices are normalized
    /// instead of rejected. (Sizes are never negative, and a trade's never zero.)
    pub fn allow_negative_prices(&mut self, venue_symbol: &str) -> InstrumentIdx {
        self.instruments.allow_negative_prices(venue_symbol)
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    pub fn rejects(&self) -> u64 {
        self.rejects
    }

    /// Sequence gaps that concern a whole connection (Coinbase `sequence_num`).
    pub fn connection_gaps(&self) -> u64 {
        self.connection_gaps
    }

    /// Events normalized since the last [`Engine::take`].
    pub fn pending(&self) -> &Events {
        &self.events
    }

    /// Normalize one WebSocket frame and apply it to the books.
    pub fn feed(&mut self, data: &[u8], ts_recv: UnixNanos, conn: u32) {
        self.frames += 1;
        let rejects_before = self.events.rejects.len();
        let mut ctx = Ctx::new(&mut self.instruments, &mut self.events, ts_recv, conn);
        normalize_frame(self.normalizer.as_mut(), &mut ctx, data);
        self.rejects += (self.events.rejects.len() - rejects_before) as u64;
        self.rescale_changed(ts_recv);
        self.apply_new();
    }

    /// A REST response (depth snapshot, reference data).
    pub fn feed_http(&mut self, url: &str, body: &[u8], ts_recv: UnixNanos) {
        let rejects_before = self.events.rejects.len();
        let mut ctx = Ctx::new(&mut self.instruments, &mut self.events, ts_recv, u32::MAX);
        normalize_http(self.normalizer.as_mut(), &mut ctx, url, body);
        self.rejects += (self.events.rejects.len() - rejects_before) as u64;
        self.rescale_changed(ts_recv);
        self.apply_new();
    }

    /// A connection (re)opened: its sequence counters start over.
    pub fn connected(&mut self, conn: u32) {
        self.normalizer.connected(conn);
    }

    /// Everything normalized since the last call; `deltas` in the order they were applied.
    pub fn take(&mut self) -> Events {
        self.reset_cursors();
        let mut events = std::mem::take(&mut self.events);
        events.deltas = std::mem::take(&mut self.applied);
        events.checks.clear();
        events
    }

    /// Drop accumulated events (books and counters are kept).
    pub fn discard(&mut self) {
        self.events.clear();
        self.applied.clear();
        self.reset_cursors();
    }

    /// Reference data changed the precision of instruments already in use: bring their books
    /// to the new precision, or, where that would lose digits, resync them.
    fn rescale_changed(&mut self, ts_recv: UnixNanos) {
        if self.instruments.changed.is_empty() {
            return;
        }
        for (inst, from, to) in std::mem::take(&mut self.instruments.changed) {
            let Some(state) = self.books.get_mut(inst as usize) else {
                continue;
            };
            if !state.book.rescale(from, to) {
                state.book.clear();
                self.mark_out_of_sync(
                    inst,
                    ts_recv,
                    format!("precision changed from {from:?} to {to:?}"),
                );
            }
        }
    }

    fn reset_cursors(&mut self) {
        self.applied_deltas = 0;
        self.applied_checks = 0;
        self.counted_trades = 0;
        self.counted_quotes = 0;
    }

    pub fn book(&self, inst: InstrumentIdx) -> Option<&OrderBook> {
        self.books.get(inst as usize).map(|b| &b.book)
    }

    pub fn stats(&self, inst: InstrumentIdx) -> InstrumentStats {
        self.books
            .get(inst as usize)
            .map(|b| b.stats)
            .unwrap_or_default()
    }

    /// Whether any market data (book, trade or quote) arrived for `inst`.
    pub fn has_data(&self, inst: InstrumentIdx) -> bool {
        self.books.get(inst as usize).is_some_and(|b| {
            let s = &b.stats;
            s.trades + s.quotes + s.book_updates + s.snapshots > 0
        })
    }

    pub fn is_synced(&self, inst: InstrumentIdx) -> bool {
        self.books.get(inst as usize).is_some_and(|b| b.synced)
    }

    /// Instruments whose book has data but failed a check and awaits a snapshot.
    pub fn out_of_sync(&self) -> Vec<InstrumentIdx> {
        self.books
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.synced && b.stats.book_updates + b.stats.snapshots > 0)
            .map(|(i, _)| i as InstrumentIdx)
            .collect()
    }

    /// A connection closed: until their next snapshot, the books it fed are not the venue's.
    /// (Books are not tied to connections, so every book of this engine is marked; a venue
    /// with several connections uses one engine per connection.)
    pub fn disconnected(&mut self, ts_recv: UnixNanos, reason: &str) {
        for inst in 0..self.books.len() as InstrumentIdx {
            if self.books[inst as usize].synced {
                self.mark_out_of_sync(inst, ts_recv, format!("disconnected: {reason}"));
            }
        }
    }

    /// Mark an instrument out of sync from outside (e.g. the collector saw a stalled channel).
    pub fn invalidate(&mut self, inst: InstrumentIdx, ts_recv: UnixNanos, why: &str) {
        self.ensure_book(inst);
        self.mark_out_of_sync(inst, ts_recv, why.to_owned());
    }

    fn ensure_book(&mut self, inst: InstrumentIdx) {
        let needed = inst as usize + 1;
        if self.books.len() < needed {
            self.books.resize_with(needed, BookState::default);
        }
    }

    /// Count trades and quotes per instrument as they arrive, so stats do not depend on
    /// when events are taken.
    fn count_market_data(&mut self) {
        // Count new trades, dropping any whose id this instrument already had.
        let mut kept = self.counted_trades;
        for i in self.counted_trades..self.events.trades.len() {
            let inst = self.events.trades[i].instrument;
            self.ensure_book(inst);
            let trade = &self.events.trades[i];
            let id = trade.trade_id;
            let state = &mut self.books[inst as usize];
            if id != 0 && !state.seen_trades.insert(trade, self.trade_ids_increase) {
                state.stats.duplicates += 1;
                let ts = self.events.trades[i].ts_recv;
                self.events
                    .status(inst, 0, ts, StatusKind::Duplicate, format!("trade {id}"));
                continue;
            }
            state.stats.trades += 1;
            self.events.trades.swap(kept, i);
            kept += 1;
        }
        self.events.trades.truncate(kept);
        for i in self.counted_quotes..self.events.quotes.len() {
            let inst = self.events.quotes[i].instrument;
            self.ensure_book(inst);
            self.books[inst as usize].stats.quotes += 1;
        }
        self.counted_trades = self.events.trades.len();
        self.counted_quotes = self.events.quotes.len();
    }

    fn apply_new(&mut self) {
        self.count_market_data();
        let n_deltas = self.events.deltas.len();
        let n_checks = self.events.checks.len();
        let mut di = self.applied_deltas;
        let mut ci = self.applied_checks;
        while di < n_deltas || ci < n_checks {
            if ci < n_checks && self.events.checks[ci].at <= di {
                let check = self.events.checks[ci];
                ci += 1;
                di = self.run_check(check.check, di);
            } else {
                let d = self.events.deltas[di];
                di += 1;
                self.apply_delta(&d);
            }
        }
        self.applied_deltas = n_deltas;
        self.applied_checks = n_checks;
    }

    /// Runs a check positioned at delta `di`; returns where delta processing resumes.
    fn run_check(&mut self, check: BookCheck, di: usize) -> usize {
        match check {
            BookCheck::KrakenCrc { instrument, crc } => {
                self.verify_kraken(instrument, crc);
                di
            }
            BookCheck::UpdateRange {
                instrument,
                first,
                last,
                count,
            } => {
                let end = di + count as usize;
                self.sequenced_range(instrument, first, last, di..end);
                end
            }
            BookCheck::SnapshotId {
                instrument,
                last_update_id,
                count,
            } => {
                let end = di + count as usize;
                let deltas = self.events.deltas[di..end].to_vec();
                self.sequenced_snapshot(instrument, last_update_id, &deltas);
                end
            }
            BookCheck::ConnectionGap => {
                self.connection_gaps += 1;
                let ts = self.events.statuses.last().map_or(0, |s| s.ts_recv);
                for inst in 0..self.books.len() as InstrumentIdx {
                    if self.books[inst as usize].synced {
                        self.books[inst as usize].stats.gaps += 1;
                        self.mark_out_of_sync(inst, ts, "connection sequence gap".to_owned());
                    }
                }
                di
            }
        }
    }

    fn apply_delta(&mut self, d: &BookDelta) {
        self.ensure_book(d.instrument);
        let state = &mut self.books[d.instrument as usize];
        let mut out = *d;
        match d.action {
            BookAction::Clear => {
                // The normalizer pushed the clear before the values that fixed the precision.
                out.precision = self.instruments.precision(d.instrument);
                let depth = self
                    .instruments
                    .get(d.instrument)
                    .and_then(|i| i.book_depth);
                state.book.clear();
                state.book.set_depth(depth);
                state.stats.snapshots += 1;
                if !state.synced {
                    state.synced = true;
                    self.events.status(
                        d.instrument,
                        d.ts_event,
                        d.ts_recv,
                        StatusKind::Synced,
                        "snapshot",
                    );
                }
            }
            BookAction::Set => {
                state.book.apply(d.side, d.price, d.size);
            }
        }
        self.applied.push(out);
        if d.flags & FLAG_LAST != 0 {
            self.end_of_message(d);
        }
    }

    fn end_of_message(&mut self, d: &BookDelta) {
        let state = &mut self.books[d.instrument as usize];
        if d.flags & FLAG_SNAPSHOT == 0 {
            state.stats.book_updates += 1;
        }
        let crossed = state.book.is_crossed();
        if crossed && !state.crossed {
            state.stats.crossed += 1;
            let msg = format!(
                "best bid {:?} >= best ask {:?}",
                state.book.best_bid().map(|l| l.0),
                state.book.best_ask().map(|l| l.0)
            );
            self.events.status(
                d.instrument,
                d.ts_event,
                d.ts_recv,
                StatusKind::Crossed,
                msg,
            );
        }
        self.books[d.instrument as usize].crossed = crossed;
    }

    fn verify_kraken(&mut self, inst: InstrumentIdx, expected: u32) {
        self.ensure_book(inst);
        let state = &mut self.books[inst as usize];
        if !state.synced {
            return;
        }
        let got = kraken_crc32(&state.book);
        if got == expected {
            state.stats.checksums_verified += 1;
        } else {
            state.stats.checksums_failed += 1;
            let ts = self.events.deltas.last().map_or(0, |d| d.ts_recv);
            self.events.status(
                inst,
                0,
                ts,
                StatusKind::ChecksumFailed,
                format!("expected {expected}, computed {got}"),
            );
            self.mark_out_of_sync(
                inst,
                ts,
                format!("checksum failed: expected {expected}, computed {got}"),
            );
        }
    }

    fn mark_out_of_sync(&mut self, inst: InstrumentIdx, ts_recv: UnixNanos, why: String) {
        let state = &mut self.books[inst as usize];
        state.synced = false;
        state.last_update_id = None;
        self.events
            .status(inst, 0, ts_recv, StatusKind::ResyncNeeded, why);
    }

    fn sequenced_snapshot(
        &mut self,
        inst: InstrumentIdx,
        last_update_id: u64,
        deltas: &[BookDelta],
    ) {
        self.ensure_book(inst);
        for d in deltas {
            self.apply_delta(d);
        }
        let state = &mut self.books[inst as usize];
        state.synced = true;
        state.last_update_id = Some(last_update_id);
        let pending = std::mem::take(&mut state.pending);
        for p in pending {
            self.sequenced_diff(inst, p.first, p.last, p.deltas);
        }
    }

    /// A diff whose deltas sit in `events.deltas[range]`: applied in place in the common
    /// case (a book in sync, the next update id), copied only to buffer or report it.
    fn sequenced_range(
        &mut self,
        inst: InstrumentIdx,
        first: u64,
        last: u64,
        range: std::ops::Range<usize>,
    ) {
        self.ensure_book(inst);
        if let Some(applied) = self.books[inst as usize].last_update_id {
            if last <= applied {
                return; // Older than the book: Binance says drop it.
            }
            if first <= applied + 1 {
                for i in range.clone() {
                    let d = self.events.deltas[i];
                    self.apply_delta(&d);
                }
                let state = &mut self.books[inst as usize];
                if range.is_empty() {
                    state.stats.book_updates += 1;
                }
                state.last_update_id = Some(last);
                return;
            }
        }
        let deltas = self.events.deltas[range].to_vec();
        self.sequenced_diff(inst, first, last, deltas);
    }

    fn sequenced_diff(
        &mut self,
        inst: InstrumentIdx,
        first: u64,
        last: u64,
        deltas: Vec<BookDelta>,
    ) {
        self.ensure_book(inst);
        let state = &mut self.books[inst as usize];
        let Some(applied) = state.last_update_id else {
            // No snapshot yet (or since a gap): keep the diff for when one arrives.
            state.pending.push_back(PendingDiff {
                first,
                last,
                deltas,
            });
            if state.pending.len() > MAX_PENDING_DIFFS {
                state.pending.pop_front();
            }
            return;
        };
        if last <= applied {
            return; // Older than the book: Binance says drop it.
        }
        if first > applied + 1 {
            state.stats.gaps += 1;
            let ts = deltas.first().map_or(0, |d| d.ts_recv);
            let msg = format!("update ids: expected {}, got {first}..={last}", applied + 1);
            self.events
                .status(inst, 0, ts, StatusKind::Gap, msg.clone());
            self.mark_out_of_sync(inst, ts, msg);
            self.books[inst as usize].pending.push_back(PendingDiff {
                first,
                last,
                deltas,
            });
            return;
        }
        for d in &deltas {
            self.apply_delta(d);
        }
        if deltas.is_empty() {
            self.books[inst as usize].stats.book_updates += 1;
        }
        self.books[inst as usize].last_update_id = Some(last);
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
