//! Events → Arrow record batches: the schema contract with the sinks, DuckDB and users.
//!
//! One table per event kind. Every table starts with the same columns:
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `ts_event` | timestamp[ns, UTC], nullable | the venue's time; null where the venue sends none |
//! | `ts_recv` | timestamp[ns, UTC] | when we received the frame |
//! | `venue` | string | `coinbase`, `kraken`, `binance`, `alpaca`… |
//! | `instrument` | string | canonical id, `BTC-USD@coinbase` |
//! | `symbol` | string | the venue's own symbol, `BTC-USD`, `XBT/USD`, `BTCUSDT` |
//!
//! Prices and sizes appear twice: as `float64` for convenience (`price`, `size`…) and exactly,
//! as the fixed-point mantissa (`price_raw`, `size_raw`…) with `price_precision` /
//! `size_precision` decimals: `price == price_raw / 10**price_precision`.
//!
//! - `trades`: + `price`, `size`, `aggressor` (`buy`/`sell`/`unknown`: the taker's side),
//!   `trade_id` (uint64, null where the venue has none), raw columns.
//! - `quotes`: + `bid_price`, `bid_size`, `ask_price`, `ask_size`, raw columns.
//! - `book_deltas`: + `action` (`clear`/`set`), `side` (`bid`/`ask`), `price`, `size`
//!   (0 deletes the level), `sequence` (uint64, venue sequence or 0), `flags` (uint8: 1 =
//!   part of a snapshot, 2 = last delta of a venue message), raw columns.
//! - `bars`: + `interval` (duration[ns]), `open`, `high`, `low`, `close`, `volume`, `closed`,
//!   raw columns.
//! - `news`: `ts_event`, `ts_recv`, `venue`, `id`, `headline`, `summary`, `author`, `source`,
//!   `url`, `content`, `symbols` (list<string>), `updated_at`.
//! - `statuses`: + `kind` (`heartbeat`, `subscribed`, `venue`, `trading`, `venue_error`, `gap`,
//!   `checksum_failed`, `crossed`, `resync_needed`, `synced`, `duplicate`), `message`;
//!   `instrument` and
//!   `symbol` are null for connection-wide statuses.
//! - `rejects`: `ts_recv`, `venue`, `reason`, `raw` (binary): frames we could not parse.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, DurationNanosecondArray, Float64Array, Int64Array,
    RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array, UInt8Array,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::event::{Events, InstrumentIdx, Precision, NO_INSTRUMENT};
use crate::instruments::Instruments;
use crate::types::to_f64;

/// The table names, in the order [`to_batches`] returns them.
pub const TABLES: [&str; 7] = [
    "trades",
    "quotes",
    "book_deltas",
    "bars",
    "news",
    "statuses",
    "rejects",
];

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn common_fields() -> Vec<Field> {
    vec![
        Field::new("ts_event", ts_type(), true),
        Field::new("ts_recv", ts_type(), false),
        Field::new("venue", DataType::Utf8, false),
        Field::new("instrument", DataType::Utf8, false),
        Field::new("symbol", DataType::Utf8, false),
    ]
}

fn f64_fields(names: &[&str]) -> Vec<Field> {
    names
        .iter()
        .map(|n| Field::new(*n, DataType::Float64, false))
        .collect()
}

fn raw_fields(names: &[&str]) -> Vec<Field> {
    let mut out: Vec<Field> = names
        .iter()
        .map(|n| Field::new(format!("{n}_raw"), DataType::Int64, false))
        .collect();
    out.push(Field::new("price_precision", DataType::UInt8, false));
    out.push(Field::new("size_precision", DataType::UInt8, false));
    out
}

/// The schema of table `name` (one of [`TABLES`]).
pub fn schema(name: &str) -> Option<SchemaRef> {
    let mut fields = match name {
        "news" => vec![
            Field::new("ts_event", ts_type(), true),
            Field::new("ts_recv", ts_type(), false),
            Field::new("venue", DataType::Utf8, false),
        ],
        "rejects" => vec![
            Field::new("ts_recv", ts_type(), false),
            Field::new("venue", DataType::Utf8, false),
        ],
        "statuses" => {
            let mut f = common_fields();
            f[3] = Field::new("instrument", DataType::Utf8, true);
            f[4] = Field::new("symbol", DataType::Utf8, true);
            f
        }
        _ => common_fields(),
    };
    match name {
        "trades" => {
            fields.extend(f64_fields(&["price", "size"]));
            fields.push(Field::new("aggressor", DataType::Utf8, false));
            fields.push(Field::new("trade_id", DataType::UInt64, true));
            fields.extend(raw_fields(&["price", "size"]));
        }
        "quotes" => {
            let cols = ["bid_price", "bid_size", "ask_price", "ask_size"];
            fields.extend(f64_fields(&cols));
            fields.extend(raw_fields(&cols));
        }
        "book_deltas" => {
            fields.push(Field::new("action", DataType::Utf8, false));
            fields.push(Field::new("side", DataType::Utf8, false));
            fields.extend(f64_fields(&["price", "size"]));
            fields.push(Field::new("sequence", DataType::UInt64, false));
            fields.push(Field::new("flags", DataType::UInt8, false));
            fields.extend(raw_fields(&["price", "size"]));
        }
        "bars" => {
            let cols = ["open", "high", "low", "close", "volume"];
            fields.push(Field::new(
                "interval",
                DataType::Duration(TimeUnit::Nanosecond),
                false,
            ));
            fields.extend(f64_fields(&cols));
            fields.push(Field::new("closed", DataType::Boolean, false));
            fields.extend(raw_fields(&cols));
        }
        "news" => {
            fields.push(Field::new("id", DataType::UInt64, false));
            for n in ["headline", "summary", "author", "source", "url", "content"] {
                fields.push(Field::new(n, DataType::Utf8, false));
            }
            fields.push(Field::new(
                "symbols",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                false,
            ));
            fields.push(Field::new("updated_at", ts_type(), true));
        }
        "statuses" => {
            fields.push(Field::new("kind", DataType::Utf8, false));
            fields.push(Field::new("message", DataType::Utf8, false));
        }
        "rejects" => {
            fields.push(Field::new("reason", DataType::Utf8, false));
            fields.push(Field::new("raw", DataType::Binary, false));
        }
        _ => return None,
    }
    Some(Arc::new(Schema::new(fields)))
}

fn ts_array(values: impl Iterator<Item = i64>, nullable: bool) -> ArrayRef {
    let arr: TimestampNanosecondArray = if nullable {
        values.map(|v| (v != 0).then_some(v)).collect()
    } else {
        values.map(Some).collect()
    };
    Arc::new(arr.with_timezone("UTC"))
}

/// Looks up instrument strings once per instrument, not once per row.
struct Names<'a> {
    venue: &'a str,
    instruments: &'a Instruments,
}

impl Names<'_> {
    fn columns(
        &self,
        n: usize,
        insts: impl Iterator<Item = InstrumentIdx> + Clone,
    ) -> Vec<ArrayRef> {
        let venue: StringArray = std::iter::repeat_n(Some(self.venue), n).collect();
        let canonical: StringArray = insts
            .clone()
            .map(|i| self.instruments.get(i).map(|x| x.canonical.as_str()))
            .collect();
        let symbol: StringArray = insts
            .map(|i| self.instruments.get(i).map(|x| x.venue_symbol.as_str()))
            .collect();
        vec![Arc::new(venue), Arc::new(canonical), Arc::new(symbol)]
    }
}

/// Per-row price and size precisions.
fn precisions(rows: impl Iterator<Item = Precision> + Clone) -> (Vec<u8>, Vec<u8>) {
    (
        rows.clone().map(|p| p.price).collect(),
        rows.map(|p| p.size).collect(),
    )
}

fn floats(raw: &[i64], precision: &[u8]) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(
        raw.iter().zip(precision).map(|(&m, &p)| to_f64(m, p)),
    ))
}

fn ints(raw: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(raw))
}

fn strings<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

/// Convert every kind of event to its record batch, in [`TABLES`] order.
pub fn to_batches(
    events: &Events,
    instruments: &Instruments,
) -> Result<Vec<(&'static str, RecordBatch)>, ArrowError> {
    let names = Names {
        venue: instruments.venue(),
        instruments,
    };
    Ok(vec![
        ("trades", trades(events, &names)?),
        ("quotes", quotes(events, &names)?),
        ("book_deltas", book_deltas(events, &names)?),
        ("bars", bars(events, &names)?),
        ("news", news(events, &names)?),
        ("statuses", statuses(events, &names)?),
        ("rejects", rejects(events, &names)?),
    ])
}

fn batch(name: &str, columns: Vec<ArrayRef>) -> Result<RecordBatch, ArrowError> {
    let schema = schema(name).ok_or_else(|| ArrowError::SchemaError(name.to_owned()))?;
    RecordBatch::try_new(schema, columns)
}

fn trades(e: &Events, names: &Names<'_>) -> Result<RecordBatch, ArrowError> {
    let t = &e.trades;
    let insts = t.iter().map(|x| x.instrument);
    let (pp, sp) = precisions(t.iter().map(|x| x.precision));
    let price: Vec<i64> = t.iter().map(|x| x.price).collect();
    let size: Vec<i64> = t.iter().map(|x| x.size).collect();
    let mut cols = vec![
        ts_array(t.iter().map(|x| x.ts_event), true),
        ts_array(t.iter().map(|x| x.ts_recv), false),
    ];
    cols.extend(names.columns(t.len(), insts));
    cols.push(floats(&price, &pp));
    cols.push(floats(&size, &sp));
    cols.push(strings(t.iter().map(|x| x.aggressor.as_str())));
    cols.push(Arc::new(
        t.iter()
            .map(|x| (x.trade_id != 0).then_some(x.trade_id))
            .collect::<UInt64Array>(),
    ));
    cols.push(ints(price));
    cols.push(ints(size));
    cols.push(Arc::new(UInt8Array::from(pp)));
    cols.push(Arc::new(UInt8Array::from(sp)));
    batch("trades", cols)
}

fn quotes(e: &Events, names: &Names<'_>) -> Result<RecordBatch, ArrowError> {
    let q = &e.quotes;
    let insts = q.iter().map(|x| x.instrument);
    let (pp, sp) = precisions(q.iter().map(|x| x.precision));
    let bp: Vec<i64> = q.iter().map(|x| x.bid_price).collect();
    let bs: Vec<i64> = q.iter().map(|x| x.bid_size).collect();
    let ap: Vec<i64> = q.iter().map(|x| x.ask_price).collect();
    let asz: Vec<i64> = q.iter().map(|x| x.ask_size).collect();
    let mut cols = vec![
        ts_array(q.iter().map(|x| x.ts_event), true),
        ts_array(q.iter().map(|x| x.ts_recv), false),
    ];
    cols.extend(names.columns(q.len(), insts));
    cols.push(floats(&bp, &pp));
    cols.push(floats(&bs, &sp));
    cols.push(floats(&ap, &pp));
    cols.push(floats(&asz, &sp));
    cols.extend([ints(bp), ints(bs), ints(ap), ints(asz)]);
    cols.push(Arc::new(UInt8Array::from(pp)));
    cols.push(Arc::new(UInt8Array::from(sp)));
    batch("quotes", cols)
}

fn book_deltas(e: &Events, names: &Names<'_>) -> Result<RecordBatch, ArrowError> {
    let d = &e.deltas;
    let insts = d.iter().map(|x| x.instrument);
    let (pp, sp) = precisions(d.iter().map(|x| x.precision));
    let price: Vec<i64> = d.iter().map(|x| x.price).collect();
    let size: Vec<i64> = d.iter().map(|x| x.size).collect();
    let mut cols = vec![
        ts_array(d.iter().map(|x| x.ts_event), true),
        ts_array(d.iter().map(|x| x.ts_recv), false),
    ];
    cols.extend(names.columns(d.len(), insts));
    cols.push(strings(d.iter().map(|x| match x.action {
        crate::event::BookAction::Clear => "clear",
        crate::event::BookAction::Set => "set",
    })));
    cols.push(strings(d.iter().map(|x| x.side.as_str())));
    cols.push(floats(&price, &pp));
    cols.push(floats(&size, &sp));
    cols.push(Arc::new(UInt64Array::from_iter_values(
        d.iter().map(|x| x.sequence),
    )));
    cols.push(Arc::new(UInt8Array::from_iter_values(
        d.iter().map(|x| x.flags),
    )));
    cols.push(ints(price));
    cols.push(ints(size));
    cols.push(Arc::new(UInt8Array::from(pp)));
    cols.push(Arc::new(UInt8Array::from(sp)));
    batch("book_deltas", cols)
}

fn bars(e: &Events, names: &Names<'_>) -> Result<RecordBatch, ArrowError> {
    let b = &e.bars;
    let insts = b.iter().map(|x| x.instrument);
    let (pp, sp) = precisions(b.iter().map(|x| x.precision));
    let o: Vec<i64> = b.iter().map(|x| x.open).collect();
    let h: Vec<i64> = b.iter().map(|x| x.high).collect();
    let l: Vec<i64> = b.iter().map(|x| x.low).collect();
    let c: Vec<i64> = b.iter().map(|x| x.close).collect();
    let v: Vec<i64> = b.iter().map(|x| x.volume).collect();
    let mut cols = vec![
        ts_array(b.iter().map(|x| x.ts_event), true),
        ts_array(b.iter().map(|x| x.ts_recv), false),
    ];
    cols.extend(names.columns(b.len(), insts));
    cols.push(Arc::new(DurationNanosecondArray::from_iter_values(
        b.iter().map(|x| x.interval_ns),
    )));
    cols.extend([
        floats(&o, &pp),
        floats(&h, &pp),
        floats(&l, &pp),
        floats(&c, &pp),
        floats(&v, &sp),
    ]);
    cols.push(Arc::new(BooleanArray::from_iter(
        b.iter().map(|x| Some(x.closed)),
    )));
    cols.extend([ints(o), ints(h), ints(l), ints(c), ints(v)]);
    cols.push(Arc::new(UInt8Array::from(pp)));
    cols.push(Arc::new(UInt8Array::from(sp)));
    batch("bars", cols)
}

fn news(e: &Events, names: &Names<'_>) -> Result<RecordBatch, ArrowError> {
    let n = &e.news;
    let venue: StringArray = std::iter::repeat_n(Some(names.venue), n.len()).collect();
    let mut symbols = ListBuilder::new(StringBuilder::new());
    for item in n {
        for s in &item.symbols {
            symbols.values().append_value(s);
        }
        symbols.append(true);
    }
    let cols: Vec<ArrayRef> = vec![
        ts_array(n.iter().map(|x| x.ts_event), true),
        ts_array(n.iter().map(|x| x.ts_recv), false),
        Arc::new(venue),
        Arc::new(UInt64Array::from_iter_values(n.iter().map(|x| x.id))),
        strings(n.iter().map(|x| x.headline.as_str())),
        strings(n.iter().map(|x| x.summary.as_str())),
        strings(n.iter().map(|x| x.author.as_str())),
        strings(n.iter().map(|x| x.source.as_str())),
        strings(n.iter().map(|x| x.url.as_str())),
        strings(n.iter().map(|x| x.content.as_str())),
        Arc::new(symbols.finish()),
        ts_array(n.iter().map(|x| x.updated_at), true),
    ];
    batch("news", cols)
}

fn statuses(e: &Events, names: &Names<'_>) -> Result<RecordBatch, ArrowError> {
    let s = &e.statuses;
    let venue: StringArray = std::iter::repeat_n(Some(names.venue), s.len()).collect();
    let inst = |i: InstrumentIdx| {
        (i != NO_INSTRUMENT)
            .then(|| names.instruments.get(i))
            .flatten()
    };
    let canonical: StringArray = s
        .iter()
        .map(|x| inst(x.instrument).map(|i| i.canonical.as_str()))
        .collect();
    let symbol: StringArray = s
        .iter()
        .map(|x| inst(x.instrument).map(|i| i.venue_symbol.as_str()))
        .collect();
    let cols: Vec<ArrayRef> = vec![
        ts_array(s.iter().map(|x| x.ts_event), true),
        ts_array(s.iter().map(|x| x.ts_recv), false),
        Arc::new(venue),
        Arc::new(canonical),
        Arc::new(symbol),
        strings(s.iter().map(|x| x.kind.as_str())),
        strings(s.iter().map(|x| x.message.as_str())),
    ];
    batch("statuses", cols)
}

fn rejects(e: &Events, names: &Names<'_>) -> Result<RecordBatch, ArrowError> {
    let r = &e.rejects;
    let venue: StringArray = std::iter::repeat_n(Some(names.venue), r.len()).collect();
    let cols: Vec<ArrayRef> = vec![
        ts_array(r.iter().map(|x| x.ts_recv), false),
        Arc::new(venue),
        strings(r.iter().map(|x| x.reason.as_str())),
        Arc::new(BinaryArray::from_iter_values(
            r.iter().map(|x| x.raw.as_slice()),
        )),
    ];
    batch("rejects", cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;

    #[test]
    fn every_table_has_a_schema_and_builds_empty() {
        let e = Engine::new("kraken_v1").unwrap();
        let batches = to_batches(e.pending(), e.instruments()).unwrap();
        assert_eq!(batches.len(), TABLES.len());
        for ((name, b), expected) in batches.iter().zip(TABLES) {
            assert_eq!(*name, expected);
            assert_eq!(b.num_rows(), 0);
            assert_eq!(b.schema(), schema(name).unwrap());
        }
    }

    #[test]
    fn trades_carry_exact_and_float_prices() {
        let mut e = Engine::new("kraken_v1").unwrap();
        e.feed(
            br#"[993,[["354.11000000","0.89594024","1618678142.557535","s","l",""]],"trade","XMR/USD"]"#,
            5,
            0,
        );
        let batches = to_batches(e.pending(), e.instruments()).unwrap();
        let trades = &batches[0].1;
        assert_eq!(trades.num_rows(), 1);
        let price = trades
            .column_by_name("price_raw")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(price.value(0), 35_411_000_000);
        let instrument = trades
            .column_by_name("instrument")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(instrument.value(0), "XMR-USD@kraken");
    }
}
