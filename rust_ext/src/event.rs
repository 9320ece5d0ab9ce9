//! The normalized events every venue is turned into, and the batch that collects them.
//!
//! Events refer to instruments by a small index into the [`crate::instruments::Instruments`]
//! table, so the hot path never copies a symbol string. Prices and sizes are mantissas at the
//! instrument's precision (see [`crate::types`]).

use crate::types::{Aggressor, Side, UnixNanos};

/// Index of an instrument in its [`crate::instruments::Instruments`] table.
pub type InstrumentIdx = u32;

/// The number of decimals of an event's price and size mantissas. Carried by every event, so
/// an instrument whose precision becomes known later (a Kraken v2 `instrument` message, a
/// book snapshot) never reinterprets what was already normalized.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Precision {
    pub price: u8,
    pub size: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trade {
    pub instrument: InstrumentIdx,
    pub ts_event: UnixNanos,
    pub ts_recv: UnixNanos,
    pub price: i64,
    pub size: i64,
    /// The aggressor (taker) side.
    pub aggressor: Aggressor,
    /// The venue's numeric trade id, or 0 where the venue has none (Kraken v1).
    pub trade_id: u64,
    pub precision: Precision,
}

/// Best bid and offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub instrument: InstrumentIdx,
    pub ts_event: UnixNanos,
    pub ts_recv: UnixNanos,
    pub bid_price: i64,
    pub bid_size: i64,
    pub ask_price: i64,
    pub ask_size: i64,
    pub precision: Precision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BookAction {
    /// Remove every level: the start of a snapshot.
    Clear = 0,
    /// Set the level at `price` to `size`; size 0 deletes it.
    Set = 1,
}

/// The delta is part of a snapshot (the first one of a snapshot is a `Clear`).
pub const FLAG_SNAPSHOT: u8 = 1;
/// The last delta of a venue message: the book is consistent after applying it.
pub const FLAG_LAST: u8 = 2;

/// One change to an L2 book. A snapshot is a `Clear` followed by `Set`s flagged
/// [`FLAG_SNAPSHOT`], so one stream of deltas can rebuild any book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookDelta {
    pub instrument: InstrumentIdx,
    pub ts_event: UnixNanos,
    pub ts_recv: UnixNanos,
    pub action: BookAction,
    pub side: Side,
    pub price: i64,
    pub size: i64,
    /// Venue sequence: Binance final update id `u`, Coinbase `sequence_num`, else 0.
    pub sequence: u64,
    pub flags: u8,
    pub precision: Precision,
}

impl BookDelta {
    /// The `Clear` that starts a snapshot. Its precision is filled in by the engine, once the
    /// snapshot's values have fixed it.
    pub fn clear(
        instrument: InstrumentIdx,
        ts_event: UnixNanos,
        ts_recv: UnixNanos,
        sequence: u64,
    ) -> Self {
        BookDelta {
            instrument,
            ts_event,
            ts_recv,
            action: BookAction::Clear,
            side: Side::Bid,
            price: 0,
            size: 0,
            sequence,
            flags: FLAG_SNAPSHOT,
            precision: Precision::default(),
        }
    }
}

/// An OHLCV bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub instrument: InstrumentIdx,
    /// Start of the bar.
    pub ts_event: UnixNanos,
    pub ts_recv: UnixNanos,
    /// Bar length in ns, 0 where the venue does not say.
    pub interval_ns: i64,
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub close: i64,
    pub volume: i64,
    /// Whether the venue marked the bar final.
    pub closed: bool,
    pub precision: Precision,
}

/// A news item (Alpaca news stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct News {
    pub ts_event: UnixNanos,
    pub ts_recv: UnixNanos,
    pub id: u64,
    pub headline: String,
    pub summary: String,
    pub author: String,
    pub source: String,
    pub url: String,
    pub content: String,
    pub symbols: Vec<String>,
    pub updated_at: UnixNanos,
}

/// What a status event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StatusKind {
    Heartbeat = 0,
    Subscribed = 1,
    /// The venue's own system/connection status message.
    Venue = 2,
    /// Trading status of one instrument (halts, auctions).
    Trading = 3,
    /// An error message sent by the venue.
    VenueError = 4,
    /// A sequence or heartbeat counter skipped values.
    Gap = 5,
    ChecksumFailed = 6,
    Crossed = 7,
    /// The instrument's book is out of sync and must be resynced.
    ResyncNeeded = 8,
    /// The book caught up with a snapshot and is in sync again.
    Synced = 9,
    /// A message or trade received a second time, and dropped.
    Duplicate = 10,
}

impl StatusKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusKind::Heartbeat => "heartbeat",
            StatusKind::Subscribed => "subscribed",
            StatusKind::Venue => "venue",
            StatusKind::Trading => "trading",
            StatusKind::VenueError => "venue_error",
            StatusKind::Gap => "gap",
            StatusKind::ChecksumFailed => "checksum_failed",
            StatusKind::Crossed => "crossed",
            StatusKind::ResyncNeeded => "resync_needed",
            StatusKind::Synced => "synced",
            StatusKind::Duplicate => "duplicate",
        }
    }
}

/// Instrument index used for events that concern a whole connection.
pub const NO_INSTRUMENT: InstrumentIdx = u32::MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub instrument: InstrumentIdx,
    pub ts_event: UnixNanos,
    pub ts_recv: UnixNanos,
    pub kind: StatusKind,
    /// Free text: the venue's message, or what was expected and what came.
    pub message: String,
}

/// A frame (or part of one) we could not understand. The bytes are kept for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub ts_recv: UnixNanos,
    pub reason: String,
    pub raw: Vec<u8>,
}

/// An integrity check that the book engine runs at a point in the delta stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookCheck {
    /// Kraken CRC32 over the top 10 levels, valid after applying `deltas[..at]`.
    KrakenCrc { instrument: InstrumentIdx, crc: u32 },
    /// Binance diff covering update ids `first..=last`; governs `deltas[at..at+count]`.
    UpdateRange {
        instrument: InstrumentIdx,
        first: u64,
        last: u64,
        count: u32,
    },
    /// A REST snapshot that is current as of update id `last_update_id`; it is the
    /// `deltas[at..at+count]` that follow.
    SnapshotId {
        instrument: InstrumentIdx,
        last_update_id: u64,
        count: u32,
    },
    /// The connection lost messages: every book fed by it is out of sync.
    ConnectionGap,
}

/// Where in the delta stream a check applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionedCheck {
    pub at: usize,
    pub check: BookCheck,
}

/// List lengths at a point in time; see [`Events::mark`].
#[derive(Debug, Clone, Copy)]
pub struct Mark([usize; 7]);

/// Everything normalized from a run of frames, by kind, in arrival order.
#[derive(Debug, Default, Clone)]
pub struct Events {
    pub trades: Vec<Trade>,
    pub quotes: Vec<Quote>,
    pub deltas: Vec<BookDelta>,
    pub bars: Vec<Bar>,
    pub news: Vec<News>,
    pub statuses: Vec<Status>,
    pub rejects: Vec<Reject>,
    pub checks: Vec<PositionedCheck>,
}

impl Events {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.trades.len()
            + self.quotes.len()
            + self.deltas.len()
            + self.bars.len()
            + self.news.len()
            + self.statuses.len()
            + self.rejects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&mut self) {
        self.trades.clear();
        self.quotes.clear();
        self.deltas.clear();
        self.bars.clear();
        self.news.clear();
        self.statuses.clear();
        self.rejects.clear();
        self.checks.clear();
    }

    /// The lengths of every list, to roll a half-parsed frame back with [`Events::rollback`].
    pub fn mark(&self) -> Mark {
        Mark([
            self.trades.len(),
            self.quotes.len(),
            self.deltas.len(),
            self.bars.len(),
            self.news.len(),
            self.statuses.len(),
            self.checks.len(),
        ])
    }

    /// Drop everything pushed since `mark`: a frame is normalized whole or not at all.
    pub fn rollback(&mut self, mark: Mark) {
        let [t, q, d, b, n, s, c] = mark.0;
        self.trades.truncate(t);
        self.quotes.truncate(q);
        self.deltas.truncate(d);
        self.bars.truncate(b);
        self.news.truncate(n);
        self.statuses.truncate(s);
        self.checks.truncate(c);
    }

    pub fn check(&mut self, check: BookCheck) {
        self.checks.push(PositionedCheck {
            at: self.deltas.len(),
            check,
        });
    }

    pub fn reject(&mut self, ts_recv: UnixNanos, reason: impl Into<String>, raw: &[u8]) {
        self.rejects.push(Reject {
            ts_recv,
            reason: reason.into(),
            raw: raw.to_vec(),
        });
    }

    pub fn status(
        &mut self,
        instrument: InstrumentIdx,
        ts_event: UnixNanos,
        ts_recv: UnixNanos,
        kind: StatusKind,
        message: impl Into<String>,
    ) {
        self.statuses.push(Status {
            instrument,
            ts_event,
            ts_recv,
            kind,
            message: message.into(),
        });
    }
}
