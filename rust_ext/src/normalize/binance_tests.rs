//! Binance tests: the cursor fast path and serde agree on every frame, mutated or not.

use super::*;
use crate::event::Events;
use crate::instruments::Instruments;

/// One frame through one path, on a fresh instrument table.
fn run(path: fn(&mut Ctx<'_>, &[u8]) -> Result<(), String>, frame: &[u8]) -> Events {
    let mut instruments = Instruments::new("binance", PrecisionPolicy::FirstValue);
    let mut out = Events::new();
    let mut ctx = Ctx::new(&mut instruments, &mut out, 1, 0);
    let mark = ctx.out.mark();
    if path(&mut ctx, frame).is_err() {
        ctx.out.rollback(mark);
        ctx.reject("rejected", frame);
    }
    out
}

const SEEDS: [&str; 8] = [
    r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1672515782136,"s":"BTCUSDT","t":12345,"p":"0.00100000","q":"100.00000000","T":1672515782136,"m":true,"M":true}}"#,
    r#"{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":false,"M":true}"#,
    r#"{"stream":"bnbbtc@depth","data":{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"],["0.0027","0"]]}}"#,
    r#" { "e" : "depthUpdate" , "E" : 1 , "s" : "X" , "U" : 1 , "u" : 1 , "b" : [ ] , "a" : [ [ "1.0" , "2.0" ] ] } "#,
    r#"{"e":"aggTrade","E":1,"s":"BNBBTC","a":12345,"p":"0.001","q":"100","f":100,"l":105,"T":1,"m":true,"M":true}"#,
    r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#,
    r#"{"e":"trade","E":1,"s":"A\u0042","t":1,"p":"1","q":"1","T":1,"m":true}"#,
    r#"{"e":"trade","E":1,"E":2,"s":"AB","t":1,"p":"1","q":"1","T":1,"m":true}"#,
];

const ALPHABET: &[u8] = b"\"{}[],:0123456789.-etrufalsn \\";

/// The cursor and serde must agree on every frame: same events, same rejects.
#[test]
fn fast_path_matches_serde() {
    let mut frames: Vec<Vec<u8>> = SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for _ in 0..200_000 {
        let mut f = SEEDS[rand(SEEDS.len())].as_bytes().to_vec();
        for _ in 0..1 + rand(3) {
            let at = rand(f.len() + 1);
            match rand(4) {
                0 if at < f.len() => f[at] = ALPHABET[rand(ALPHABET.len())],
                1 => f.truncate(at),
                2 => f.insert(at.min(f.len()), ALPHABET[rand(ALPHABET.len())]),
                _ => {
                    if at < f.len() {
                        f.remove(at);
                    }
                }
            }
        }
        frames.push(f);
    }
    let (mut events, mut scanned) = (0, 0);
    for f in &frames {
        let fast = run(frame, f);
        let slow = run(frame_serde, f);
        let same = fast.trades == slow.trades
            && fast.quotes == slow.quotes
            && fast.deltas == slow.deltas
            && fast.checks == slow.checks
            && fast.rejects.len() == slow.rejects.len();
        assert!(same, "paths differ on {:?}", String::from_utf8_lossy(f));
        events += fast.trades.len() + fast.deltas.len();
        scanned += usize::from(scan(f).is_some());
    }
    assert!(events > 10_000, "{events} events");
    assert!(scanned > 10_000, "the fast path took only {scanned} frames");
}
