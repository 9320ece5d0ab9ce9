//! Throughput of the core without Python: venue frames through the normalizer alone, through
//! the engine (normalize + sync checks + book apply), and deltas into a book.
//!
//! The inputs mirror `tests/benchmarks/frames.py`: a book of ~1,000 levels a side whose
//! deltas land a geometric number of ticks from the touch (mean ~4), 15% of the levels hit
//! are deleted, misses insert. Frames carry what the venue sends (Binance update ids after a
//! REST snapshot, Kraken CRC32s, Coinbase `sequence_num`), so every check runs.

use std::collections::HashMap;
use std::hint::black_box;

use _core::book::OrderBook;
use _core::checksum::kraken_crc32;
use _core::engine::Engine;
use _core::event::Events;
use _core::instruments::Instruments;
use _core::normalize::{new_normalizer, Ctx};
use _core::types::Side;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const START_NS: i64 = 1_767_312_000_000_000_000;
const LEVELS_PER_SIDE: usize = 1_000;
const TOUCH_P: f64 = 0.2;
const DELETE_SHARE: f64 = 0.15;
/// Frames fed between two `discard()`s, as the Python side batches them.
const BATCH: usize = 1_000;
const BOOK_FRAMES: usize = 10_000;
const TRADE_FRAMES: usize = 30_000;
const DELTAS: usize = 100_000;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

type Delta = (Side, i64, i64);

/// Level changes of a deep book around a fixed touch (prices in ticks, sizes at 8 decimals).
struct Model {
    rng: Rng,
    touch: (i64, i64),
    book: [HashMap<i64, i64>; 2],
}

impl Model {
    fn new(seed: u64, center: i64) -> Self {
        let mut m = Self {
            rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            touch: (center - 1, center + 1),
            book: [HashMap::new(), HashMap::new()],
        };
        for side in [Side::Bid, Side::Ask] {
            let mut distance = 0;
            while m.book[side as usize].len() < LEVELS_PER_SIDE {
                if m.rng.unit() < 1.0 / (1.0 + DELETE_SHARE) {
                    let size = m.size();
                    m.book[side as usize].insert(m.price(side, distance), size);
                }
                distance += 1;
            }
        }
        m
    }

    fn price(&self, side: Side, distance: i64) -> i64 {
        match side {
            Side::Bid => self.touch.0 - distance,
            Side::Ask => self.touch.1 + distance,
        }
    }

    fn size(&mut self) -> i64 {
        let lots = (-(1.0 - self.rng.unit()).ln() * 50.0) as i64;
        100_000 * (1 + lots)
    }

    /// Every level, best first per side.
    fn snapshot(&self) -> Vec<Delta> {
        let mut out = Vec::new();
        for side in [Side::Bid, Side::Ask] {
            let mut levels: Vec<_> = self.book[side as usize]
                .iter()
                .map(|(&p, &s)| (p, s))
                .collect();
            levels.sort_unstable();
            if side == Side::Bid {
                levels.reverse();
            }
            out.extend(levels.into_iter().map(|(p, s)| (side, p, s)));
        }
        out
    }

    fn step(&mut self) -> Delta {
        let side = if self.rng.next() & 1 == 0 {
            Side::Bid
        } else {
            Side::Ask
        };
        let distance = ((1.0 - self.rng.unit()).ln() / (1.0 - TOUCH_P).ln()) as i64;
        let price = self.price(side, distance);
        if self.book[side as usize].contains_key(&price) && self.rng.unit() < DELETE_SHARE {
            self.book[side as usize].remove(&price);
            return (side, price, 0);
        }
        let size = self.size();
        self.book[side as usize].insert(price, size);
        (side, price, size)
    }

    /// `n` deltas, one per level: a venue reports a level's last state.
    fn steps(&mut self, n: usize) -> Vec<Delta> {
        let mut out: Vec<Delta> = Vec::with_capacity(n);
        while out.len() < n {
            let d = self.step();
            match out.iter_mut().find(|o| o.0 == d.0 && o.1 == d.1) {
                Some(o) => *o = d,
                None => out.push(d),
            }
        }
        out
    }
}

/// `mantissa` at `decimals` places, fixed width (Binance, Kraken v1).
fn fixed(mantissa: i64, decimals: u32) -> String {
    let scale = 10i64.pow(decimals);
    format!(
        "{}.{:0w$}",
        mantissa / scale,
        mantissa % scale,
        w = decimals as usize
    )
}

/// Without trailing zeros (Coinbase, Kraken v2 numbers).
fn trimmed(mantissa: i64, decimals: u32) -> String {
    let s = fixed(mantissa, decimals);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(",")
}

fn pick(rng: &mut Rng, weights: &[u64]) -> usize {
    let mut r = rng.range(0, weights.iter().sum::<u64>() - 1);
    for (i, w) in weights.iter().enumerate() {
        if r < *w {
            return i + 1;
        }
        r -= w;
    }
    weights.len()
}

/// What brings a fresh engine to where the frames start.
enum Prime {
    Nothing,
    Http(&'static str, Vec<u8>),
    Frames(Vec<Vec<u8>>),
}

struct FrameSet {
    name: &'static str,
    protocol: &'static str,
    prime: Prime,
    frames: Vec<Vec<u8>>,
}

impl FrameSet {
    fn engine(&self) -> Engine {
        let mut e = Engine::new(self.protocol).expect("known protocol");
        self.reference_data(e.instruments_mut());
        match &self.prime {
            Prime::Nothing => {}
            Prime::Http(url, body) => e.feed_http(url, body, START_NS),
            Prime::Frames(frames) => frames.iter().for_each(|f| e.feed(f, START_NS, 0)),
        }
        e.discard();
        e
    }

    /// Panics unless every frame is accepted and every check passes, so that the benchmark
    /// measures the path a healthy feed takes (a failed check would skip later ones).
    fn verify(&self) {
        let mut e = self.engine();
        for frame in &self.frames {
            e.feed(frame, START_NS, 0);
        }
        assert_eq!(e.rejects(), 0, "{}: frames rejected", self.name);
        assert!(
            e.out_of_sync().is_empty(),
            "{}: book out of sync",
            self.name
        );
        for (inst, _) in e.instruments().iter() {
            let stats = e.stats(inst);
            assert_eq!(
                stats.checksums_failed + stats.gaps,
                0,
                "{}: {stats:?}",
                self.name
            );
        }
    }

    /// Kraken v2 numbers need the pair's precisions (the `instrument` channel's).
    fn reference_data(&self, instruments: &mut Instruments) {
        if self.protocol == "kraken" {
            instruments.define("BTC/USD", Some(("BTC", "USD")), Some(1), Some(8));
        }
    }
}

fn binance_depth(n: usize) -> FrameSet {
    let mut m = Model::new(1, 6_500_000);
    let level = |p: i64, s: i64| format!(r#"["{}","{}"]"#, fixed(p * 1_000_000, 8), fixed(s, 8));
    let side =
        |ds: &[Delta], side: Side| join(ds.iter().filter(|d| d.0 == side).map(|d| level(d.1, d.2)));
    let mut last_id: u64 = 40_000_000_000;
    let snap = m.snapshot();
    let body = format!(
        r#"{{"lastUpdateId":{last_id},"bids":[{}],"asks":[{}]}}"#,
        side(&snap, Side::Bid),
        side(&snap, Side::Ask)
    );
    let mut ms = START_NS / 1_000_000;
    let frames = (0..n)
        .map(|_| {
            let count = m.rng.range(3, 10) as usize;
            let ds = m.steps(count);
            let first = last_id + 1;
            last_id = first + m.rng.range(count as u64 - 1, 3 * count as u64);
            ms += 100;
            format!(
                r#"{{"stream":"btcusdt@depth@100ms","data":{{"e":"depthUpdate","E":{ms},"s":"BTCUSDT","U":{first},"u":{last_id},"b":[{}],"a":[{}]}}}}"#,
                side(&ds, Side::Bid),
                side(&ds, Side::Ask)
            )
            .into_bytes()
        })
        .collect();
    let url = "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000";
    FrameSet {
        name: "binance_depth",
        protocol: "binance",
        prime: Prime::Http(url, body.into_bytes()),
        frames,
    }
}

fn binance_trades(n: usize) -> FrameSet {
    let mut rng = Rng(0x5eed_0002);
    let mut ms = START_NS / 1_000_000;
    let frames = (0..n)
        .map(|i| {
            ms += rng.range(0, 3) as i64;
            let price = fixed((6_499_950 + rng.range(0, 100) as i64) * 1_000_000, 8);
            let qty = fixed(1_000 * rng.range(1, 800) as i64, 8);
            let maker = rng.next() & 1 == 0;
            format!(
                r#"{{"stream":"btcusdt@trade","data":{{"e":"trade","E":{ms},"s":"BTCUSDT","t":{},"p":"{price}","q":"{qty}","T":{},"m":{maker},"M":true}}}}"#,
                5_000_000_000u64 + i as u64,
                ms - 1
            )
            .into_bytes()
        })
        .collect();
    FrameSet {
        name: "binance_trade",
        protocol: "binance",
        prime: Prime::Nothing,
        frames,
    }
}

/// Kraken frames of 1-3 levels and the checksum of a mirror book (depth 1000).
fn kraken(n: usize, v2: bool) -> FrameSet {
    let mut m = Model::new(if v2 { 4 } else { 3 }, 650_000);
    // v1 writes prices with 5 decimals, v2 at the pair's precision (1).
    let scale = if v2 { 1 } else { 10_000 };
    let mut mirror = OrderBook::new(Some(LEVELS_PER_SIDE));
    let mut ts_us = START_NS / 1000;
    let message = |ds: &[Delta], snapshot: bool, ts_us: i64, mirror: &mut OrderBook| {
        for &(side, p, s) in ds {
            mirror.apply(side, p * scale, s);
        }
        let crc = kraken_crc32(mirror);
        let levels = |side: Side| {
            join(ds.iter().filter(|d| d.0 == side).map(|&(_, p, s)| {
                if v2 {
                    format!(r#"{{"price":{},"qty":{}}}"#, trimmed(p, 1), trimmed(s, 8))
                } else {
                    let t = fixed(ts_us, 6);
                    format!(r#"["{}","{}","{t}"]"#, fixed(p * scale, 5), fixed(s, 8))
                }
            }))
        };
        let (bids, asks) = (levels(Side::Bid), levels(Side::Ask));
        let text = if v2 {
            let kind = if snapshot { "snapshot" } else { "update" };
            format!(
                r#"{{"channel":"book","type":"{kind}","data":[{{"symbol":"BTC/USD","bids":[{bids}],"asks":[{asks}],"checksum":{crc},"timestamp":"2026-01-02T00:00:00.{:06}Z"}}]}}"#,
                ts_us % 1_000_000
            )
        } else if snapshot {
            format!(r#"[336,{{"as":[{asks}],"bs":[{bids}]}},"book-1000","XBT/USD"]"#)
        } else {
            let mut parts = Vec::new();
            if !asks.is_empty() {
                parts.push(format!(r#""a":[{asks}]"#));
            }
            if !bids.is_empty() {
                parts.push(format!(r#""b":[{bids}]"#));
            }
            let last = parts.len() - 1;
            parts[last] += &format!(r#","c":"{crc}""#);
            let payloads = join(parts.into_iter().map(|p| format!("{{{p}}}")));
            format!(r#"[336,{payloads},"book-1000","XBT/USD"]"#)
        };
        text.into_bytes()
    };
    let mut prime = Vec::new();
    if v2 {
        prime.push(
            br#"{"method":"subscribe","result":{"channel":"book","symbol":"BTC/USD","depth":1000,"snapshot":true},"success":true}"#
                .to_vec(),
        );
    }
    prime.push(message(&m.snapshot(), true, ts_us, &mut mirror));
    let frames = (0..n)
        .map(|_| {
            let count = pick(&mut m.rng, &[70, 20, 10]);
            let ds = m.steps(count);
            ts_us += m.rng.range(100, 20_000) as i64;
            message(&ds, false, ts_us, &mut mirror)
        })
        .collect();
    FrameSet {
        name: if v2 {
            "kraken_v2_book"
        } else {
            "kraken_v1_book"
        },
        protocol: if v2 { "kraken" } else { "kraken_v1" },
        prime: Prime::Frames(prime),
        frames,
    }
}

fn coinbase_l2(n: usize) -> FrameSet {
    let mut m = Model::new(5, 6_500_000);
    let mut sequence = 0;
    let mut message = |ds: &[Delta], kind: &str, us: i64| {
        let stamp = format!(
            "2026-01-02T00:{:02}:{:02}.{:06}",
            us / 60_000_000 % 60,
            us / 1_000_000 % 60,
            us % 1_000_000
        );
        let updates = join(ds.iter().map(|&(side, p, s)| {
            let side = if side == Side::Bid { "bid" } else { "offer" };
            format!(
                r#"{{"side":"{side}","event_time":"{stamp}Z","price_level":"{}","new_quantity":"{}"}}"#,
                trimmed(p, 2),
                trimmed(s, 8)
            )
        }));
        sequence += 1;
        format!(
            r#"{{"channel":"l2_data","client_id":"","timestamp":"{stamp}000Z","sequence_num":{},"events":[{{"type":"{kind}","product_id":"BTC-USD","updates":[{updates}]}}]}}"#,
            sequence - 1
        )
        .into_bytes()
    };
    let mut us = 0;
    let snapshot = message(&m.snapshot(), "snapshot", us);
    let frames = (0..n)
        .map(|_| {
            let count = pick(&mut m.rng, &[45, 25, 15, 10, 5]);
            let ds = m.steps(count);
            us += m.rng.range(100, 50_000) as i64;
            message(&ds, "update", us)
        })
        .collect();
    FrameSet {
        name: "coinbase_l2",
        protocol: "coinbase",
        prime: Prime::Frames(vec![snapshot]),
        frames,
    }
}

fn frame_sets() -> Vec<FrameSet> {
    vec![
        binance_depth(BOOK_FRAMES),
        binance_trades(TRADE_FRAMES),
        kraken(BOOK_FRAMES, false),
        coinbase_l2(BOOK_FRAMES),
        kraken(BOOK_FRAMES, true),
    ]
}

/// Frames through a bare normalizer into `Events` (no books, no checks).
fn normalize(c: &mut Criterion) {
    let mut group = c.benchmark_group("normalize");
    group.sample_size(10);
    for set in frame_sets() {
        group.throughput(Throughput::Elements(set.frames.len() as u64));
        group.bench_function(set.name, |b| {
            b.iter_batched(
                || {
                    let normalizer = new_normalizer(set.protocol).expect("known protocol");
                    let policy = normalizer.precision_policy();
                    let mut instruments = Instruments::new(normalizer.venue(), policy);
                    set.reference_data(&mut instruments);
                    (normalizer, instruments, Events::new())
                },
                |(mut normalizer, mut instruments, mut out)| {
                    for chunk in set.frames.chunks(BATCH) {
                        for (i, frame) in chunk.iter().enumerate() {
                            let ts_recv = START_NS + i as i64;
                            let mut ctx = Ctx::new(&mut instruments, &mut out, ts_recv, 0);
                            _core::normalize::normalize_frame(normalizer.as_mut(), &mut ctx, frame);
                        }
                        assert!(out.rejects.is_empty(), "{}: rejected", set.name);
                        out.clear();
                    }
                    (normalizer, instruments, out)
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

/// Frames through the engine: normalize, sync checks, checksums and book apply.
fn engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    for set in frame_sets() {
        set.verify();
        group.throughput(Throughput::Elements(set.frames.len() as u64));
        group.bench_function(set.name, |b| {
            b.iter_batched(
                || set.engine(),
                |mut engine| {
                    for chunk in set.frames.chunks(BATCH) {
                        for (i, frame) in chunk.iter().enumerate() {
                            engine.feed(frame, START_NS + i as i64, 0);
                        }
                        engine.discard();
                    }
                    assert_eq!(engine.rejects(), 0, "{}: rejected", set.name);
                    engine
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

/// Deltas into a 1,000-level-a-side book.
fn book(c: &mut Criterion) {
    let mut model = Model::new(1, 6_500_000);
    let mut start = OrderBook::new(None);
    for (side, p, s) in model.snapshot() {
        start.apply(side, p, s);
    }
    let deltas: Vec<Delta> = (0..DELTAS).map(|_| model.step()).collect();
    let mut group = c.benchmark_group("book");
    group.sample_size(10);
    group.throughput(Throughput::Elements(deltas.len() as u64));
    group.bench_function("apply", |b| {
        b.iter_batched(
            || start.clone(),
            |mut book| {
                for &(side, price, size) in &deltas {
                    black_box(book.apply(side, price, size));
                }
                book
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, normalize, engine, book);
criterion_main!(benches);
