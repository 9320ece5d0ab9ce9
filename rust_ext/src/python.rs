//! The Python bindings: `alphapulse._core`. All PyO3 lives here; the types it wraps know
//! nothing of Python. Bulk data leaves as Arrow through the PyCapsule interface; small state
//! (a book's levels, counters) as plain tuples and dicts.

use std::ffi::CStr;

use arrow_array::ffi::{from_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{Array, RecordBatch, RecordBatchIterator, StructArray};
use arrow_schema::ArrowError;
use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCapsule, PyDict, PyTuple};

use crate::arrow::{schema, to_batches, TABLES};
use crate::book::OrderBook as CoreBook;
use crate::book_arrow::apply_batch;
use crate::checksum::{kraken_crc32, kraken_crc32_strings};
use crate::engine::{Engine as CoreEngine, InstrumentStats};
use crate::event::InstrumentIdx;
use crate::normalize::PROTOCOLS;
use crate::types::{format_fixed, parse_fixed, Side};

const SCHEMA_NAME: &CStr = c"arrow_schema";
const ARRAY_NAME: &CStr = c"arrow_array";
const STREAM_NAME: &CStr = c"arrow_array_stream";

fn arrow_err(e: ArrowError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Sizes are never negative: 0 deletes a level.
fn size_from(size: i64) -> PyResult<i64> {
    if size < 0 {
        return Err(PyValueError::new_err(format!(
            "size must not be negative, got {size}"
        )));
    }
    Ok(size)
}

fn side_from(side: u8) -> PyResult<Side> {
    match side {
        0 => Ok(Side::Bid),
        1 => Ok(Side::Ask),
        _ => Err(PyValueError::new_err(format!(
            "side must be BID (0) or ASK (1), got {side}"
        ))),
    }
}

/// One table of normalized events, readable by pyarrow, polars and DuckDB without a copy
/// through the Arrow PyCapsule interface.
#[pyclass(frozen, module = "alphapulse._core")]
pub struct EventBatch {
    name: &'static str,
    batch: RecordBatch,
}

#[pymethods]
impl EventBatch {
    /// The table name: `trades`, `quotes`, `book_deltas`, `bars`, `news`, `statuses`, `rejects`.
    #[getter]
    fn name(&self) -> &'static str {
        self.name
    }

    #[getter]
    fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    fn __len__(&self) -> usize {
        self.batch.num_rows()
    }

    fn __repr__(&self) -> String {
        format!(
            "EventBatch({:?}, rows={})",
            self.name,
            self.batch.num_rows()
        )
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema;
        let array = StructArray::from(self.batch.clone());
        let data = array.into_data();
        let ffi_array = FFI_ArrowArray::new(&data);
        let ffi_schema = FFI_ArrowSchema::try_from(data.data_type()).map_err(arrow_err)?;
        let schema_capsule = PyCapsule::new_with_value(py, ffi_schema, SCHEMA_NAME)?;
        let array_capsule = PyCapsule::new_with_value(py, ffi_array, ARRAY_NAME)?;
        PyTuple::new(py, [schema_capsule, array_capsule])
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let schema = self.batch.schema();
        let reader = RecordBatchIterator::new([Ok(self.batch.clone())], schema);
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new_with_value(py, stream, STREAM_NAME)
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, self.name)
    }
}

fn schema_capsule<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyCapsule>> {
    let schema = schema(name).ok_or_else(|| PyKeyError::new_err(name.to_owned()))?;
    let ffi = FFI_ArrowSchema::try_from(schema.as_ref()).map_err(arrow_err)?;
    PyCapsule::new_with_value(py, ffi, SCHEMA_NAME)
}

/// An Arrow schema of one event table (implements `__arrow_c_schema__`).
#[pyclass(frozen, module = "alphapulse._core")]
pub struct EventSchema {
    name: String,
}

#[pymethods]
impl EventSchema {
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.name)
    }
}

/// The Arrow schema of event table `name`.
#[pyfunction]
fn event_schema(name: &str) -> PyResult<EventSchema> {
    if schema(name).is_none() {
        return Err(PyKeyError::new_err(format!(
            "no table {name:?}; tables are {}",
            TABLES.join(", ")
        )));
    }
    Ok(EventSchema {
        name: name.to_owned(),
    })
}

/// An L2 order book of fixed-point levels (mantissas at the instrument's precision).
#[pyclass(module = "alphapulse._core")]
pub struct OrderBook {
    inner: CoreBook,
}

type Levels = Vec<(i64, i64)>;
/// `(best_bid, best_ask)`, each `(price, size)` or None.
type Bbo = (Option<(i64, i64)>, Option<(i64, i64)>);

#[pymethods]
impl OrderBook {
    #[new]
    #[pyo3(signature = (depth=None))]
    fn new(depth: Option<usize>) -> Self {
        Self {
            inner: CoreBook::new(depth),
        }
    }

    #[getter]
    fn depth(&self) -> Option<usize> {
        self.inner.depth()
    }

    /// Set the level at `price` on `side` (BID=0, ASK=1) to `size`; 0 removes it.
    fn apply(&mut self, side: u8, price: i64, size: i64) -> PyResult<bool> {
        Ok(self.inner.apply(side_from(side)?, price, size_from(size)?))
    }

    /// Apply then return `(best_bid, best_ask)`.
    fn apply_bbo(&mut self, side: u8, price: i64, size: i64) -> PyResult<Bbo> {
        self.inner.apply(side_from(side)?, price, size_from(size)?);
        Ok((self.inner.best_bid(), self.inner.best_ask()))
    }

    /// Apply an Arrow record batch or struct array (anything with `__arrow_c_array__`), all
    /// rows or none; see `book_arrow` for the columns. ValueError names a bad column and row.
    fn apply_arrow(&mut self, py: Python<'_>, batch: &Bound<'_, PyAny>) -> PyResult<usize> {
        let array = import_struct(batch)?;
        py.detach(|| apply_batch(&mut self.inner, &array))
            .map_err(PyValueError::new_err)
    }

    fn clear(&mut self) {
        self.inner.clear();
    }

    fn best_bid(&self) -> Option<(i64, i64)> {
        self.inner.best_bid()
    }

    fn best_ask(&self) -> Option<(i64, i64)> {
        self.inner.best_ask()
    }

    fn bbo(&self) -> Bbo {
        (self.inner.best_bid(), self.inner.best_ask())
    }

    /// The best `n` levels a side: `(bids, asks)`, best first.
    #[pyo3(signature = (n=10))]
    fn top(&self, n: usize) -> (Levels, Levels) {
        (
            self.inner.bids_iter().take(n).collect(),
            self.inner.asks_iter().take(n).collect(),
        )
    }

    fn bids(&self) -> Levels {
        self.inner.bids_iter().collect()
    }

    fn asks(&self) -> Levels {
        self.inner.asks_iter().collect()
    }

    fn is_crossed(&self) -> bool {
        self.inner.is_crossed()
    }

    /// Kraken's CRC32 over the top 10 levels a side.
    fn kraken_checksum(&self) -> u32 {
        kraken_crc32(&self.inner)
    }

    /// Bytes held by the book's levels.
    #[getter]
    fn nbytes(&self) -> usize {
        self.inner.heap_bytes()
    }

    fn shrink_to_fit(&mut self) {
        self.inner.shrink_to_fit();
    }

    fn __len__(&self) -> usize {
        self.inner.bid_levels() + self.inner.ask_levels()
    }

    fn __repr__(&self) -> String {
        format!(
            "OrderBook(bids={}, asks={}, best_bid={:?}, best_ask={:?})",
            self.inner.bid_levels(),
            self.inner.ask_levels(),
            self.inner.best_bid(),
            self.inner.best_ask()
        )
    }
}

fn import_struct(obj: &Bound<'_, PyAny>) -> PyResult<StructArray> {
    if !obj.hasattr("__arrow_c_array__")? {
        return Err(PyTypeError::new_err(
            "expected an Arrow record batch or struct array (__arrow_c_array__)",
        ));
    }
    let pair = obj.call_method0("__arrow_c_array__")?;
    let (schema_cap, array_cap): (Bound<'_, PyCapsule>, Bound<'_, PyCapsule>) = pair.extract()?;
    let schema_ptr = schema_cap.pointer_checked(Some(SCHEMA_NAME))?;
    let array_ptr = array_cap.pointer_checked(Some(ARRAY_NAME))?;
    // SAFETY: the capsules carry the C data interface structs their names promise; the array
    // is moved out (its release callback nulled in place), the schema only borrowed.
    let data = unsafe {
        let array = FFI_ArrowArray::from_raw(array_ptr.as_ptr().cast());
        let schema = &*schema_ptr.as_ptr().cast::<FFI_ArrowSchema>();
        from_ffi(array, schema).map_err(arrow_err)?
    };
    Ok(StructArray::from(data))
}

/// One venue protocol's normalizer, instruments and books, with integrity checks.
#[pyclass(module = "alphapulse._core")]
pub struct Engine {
    inner: CoreEngine,
}

fn stats_dict<'py>(py: Python<'py>, s: &InstrumentStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("trades", s.trades)?;
    d.set_item("quotes", s.quotes)?;
    d.set_item("book_updates", s.book_updates)?;
    d.set_item("snapshots", s.snapshots)?;
    d.set_item("checksums_verified", s.checksums_verified)?;
    d.set_item("checksums_failed", s.checksums_failed)?;
    d.set_item("gaps", s.gaps)?;
    d.set_item("crossed", s.crossed)?;
    d.set_item("duplicates", s.duplicates)?;
    Ok(d)
}

impl Engine {
    fn instrument(&self, symbol: &str) -> PyResult<InstrumentIdx> {
        self.inner
            .instruments()
            .find(symbol)
            .ok_or_else(|| PyKeyError::new_err(symbol.to_owned()))
    }
}

#[pymethods]
impl Engine {
    #[new]
    fn new(protocol: &str) -> PyResult<Self> {
        Ok(Self {
            inner: CoreEngine::new(protocol).map_err(PyValueError::new_err)?,
        })
    }

    #[getter]
    fn venue(&self) -> &'static str {
        self.inner.venue()
    }

    #[getter]
    fn frames(&self) -> u64 {
        self.inner.frames()
    }

    #[getter]
    fn rejects(&self) -> u64 {
        self.inner.rejects()
    }

    #[getter]
    fn connection_gaps(&self) -> u64 {
        self.inner.connection_gaps()
    }

    /// Events waiting to be taken.
    #[getter]
    fn pending_events(&self) -> usize {
        self.inner.pending().len()
    }

    /// Normalize one WebSocket frame received at `ts_recv` (ns) on connection `conn`.
    #[pyo3(signature = (data, ts_recv, conn=0))]
    fn feed(&mut self, data: &[u8], ts_recv: i64, conn: u32) {
        self.inner.feed(data, ts_recv, conn);
    }

    /// Normalize many frames at once (the GIL is released while parsing).
    #[pyo3(signature = (frames, ts_recv, conn=0))]
    fn feed_many(
        &mut self,
        py: Python<'_>,
        frames: Vec<Bound<'_, PyBytes>>,
        ts_recv: Vec<i64>,
        conn: u32,
    ) -> PyResult<()> {
        if frames.len() != ts_recv.len() {
            return Err(PyValueError::new_err("frames and ts_recv differ in length"));
        }
        let slices: Vec<&[u8]> = frames.iter().map(|f| f.as_bytes()).collect();
        let inner = &mut self.inner;
        py.detach(|| {
            for (data, ts) in slices.iter().zip(ts_recv) {
                inner.feed(data, ts, conn);
            }
        });
        Ok(())
    }

    /// A REST response: Binance depth snapshots, exchangeInfo, Coinbase products...
    fn feed_http(&mut self, url: &str, body: &[u8], ts_recv: i64) {
        self.inner.feed_http(url, body, ts_recv);
    }

    /// Connection `conn` was (re)opened: its sequence counters start over.
    fn connected(&mut self, conn: u32) {
        self.inner.connected(conn);
    }

    /// A connection closed: every synced book awaits its next snapshot.
    #[pyo3(signature = (ts_recv, reason=""))]
    fn disconnected(&mut self, ts_recv: i64, reason: &str) {
        self.inner.disconnected(ts_recv, reason);
    }

    /// Register reference data for a symbol.
    #[pyo3(signature = (symbol, base=None, quote=None, price_precision=None, size_precision=None, book_depth=None))]
    fn define(
        &mut self,
        symbol: &str,
        base: Option<&str>,
        quote: Option<&str>,
        price_precision: Option<u8>,
        size_precision: Option<u8>,
        book_depth: Option<usize>,
    ) -> String {
        let instruments = self.inner.instruments_mut();
        let idx = instruments.define(symbol, base.zip(quote), price_precision, size_precision);
        let inst = instruments.get_mut(idx).expect("just defined");
        if book_depth.is_some() {
            inst.book_depth = book_depth;
        }
        inst.canonical.clone()
    }

    /// Declare that `symbol` trades below zero: its negative prices are normalized instead
    /// of rejected. Returns its canonical id.
    fn allow_negative_prices(&mut self, symbol: &str) -> String {
        let idx = self.inner.allow_negative_prices(symbol);
        self.inner
            .instruments()
            .get(idx)
            .map(|i| i.canonical.clone())
            .unwrap_or_default()
    }

    /// Everything normalized since the last call, one `EventBatch` per table.
    fn take(&mut self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        let events = self.inner.take();
        let batches = to_batches(&events, self.inner.instruments()).map_err(arrow_err)?;
        let d = PyDict::new(py);
        for (name, batch) in batches {
            d.set_item(name, EventBatch { name, batch })?;
        }
        Ok(d.unbind())
    }

    /// Drop pending events without converting them (books and counters are kept).
    fn discard(&mut self) {
        self.inner.discard();
    }

    /// Per-instrument counters keyed `<venue>:<venue symbol>`, for instruments with data.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        let venue = self.inner.venue();
        for (idx, inst) in self.inner.instruments().iter() {
            if !self.inner.has_data(idx) {
                continue;
            }
            let key = format!("{venue}:{}", inst.venue_symbol);
            out.set_item(key, stats_dict(py, &self.inner.stats(idx))?)?;
        }
        Ok(out)
    }

    /// `[(venue symbol, canonical id, price precision, size precision)]`.
    fn instruments(&self) -> Vec<(String, String, Option<u8>, Option<u8>)> {
        self.inner
            .instruments()
            .iter()
            .map(|(_, i)| {
                (
                    i.venue_symbol.clone(),
                    i.canonical.clone(),
                    i.price_precision,
                    i.size_precision,
                )
            })
            .collect()
    }

    /// Venue symbols whose book failed a check and awaits a resync.
    fn out_of_sync(&self) -> Vec<String> {
        self.inner
            .out_of_sync()
            .into_iter()
            .filter_map(|i| self.inner.instruments().get(i))
            .map(|i| i.venue_symbol.clone())
            .collect()
    }

    fn is_synced(&self, symbol: &str) -> PyResult<bool> {
        Ok(self.inner.is_synced(self.instrument(symbol)?))
    }

    /// Mark `symbol` out of sync (the collector saw a reason the core could not).
    fn invalidate(&mut self, symbol: &str, ts_recv: i64, reason: &str) -> PyResult<()> {
        let idx = self.instrument(symbol)?;
        self.inner.invalidate(idx, ts_recv, reason);
        Ok(())
    }

    /// A copy of `symbol`'s book.
    fn book(&self, symbol: &str) -> PyResult<OrderBook> {
        let idx = self.instrument(symbol)?;
        let inner = self.inner.book(idx).cloned().unwrap_or_default();
        Ok(OrderBook { inner })
    }

    /// The best `n` levels a side of `symbol`'s book: `(bids, asks)`.
    #[pyo3(signature = (symbol, n=10))]
    fn top(&self, symbol: &str, n: usize) -> PyResult<(Levels, Levels)> {
        let idx = self.instrument(symbol)?;
        Ok(match self.inner.book(idx) {
            Some(b) => (
                b.bids_iter().take(n).collect(),
                b.asks_iter().take(n).collect(),
            ),
            None => (Vec::new(), Vec::new()),
        })
    }
}

/// Kraken's book checksum from decimal strings, `[(price, qty)]` best first.
#[pyfunction]
fn kraken_checksum(asks: Vec<(String, String)>, bids: Vec<(String, String)>) -> u32 {
    kraken_crc32_strings(
        asks.iter().map(|(p, q)| (p.as_str(), q.as_str())),
        bids.iter().map(|(p, q)| (p.as_str(), q.as_str())),
    )
}

/// `"0.0500"` at precision 5 → `5000`. Raises ValueError on bad input or lost digits.
#[pyfunction(name = "parse_fixed")]
fn py_parse_fixed(text: &str, precision: u8) -> PyResult<i64> {
    parse_fixed(text.as_bytes(), precision)
        .map_err(|e| PyValueError::new_err(format!("{text:?}: {e}")))
}

/// `5000` at precision 5 → `"0.05000"`.
#[pyfunction(name = "format_fixed")]
fn py_format_fixed(mantissa: i64, precision: u8) -> PyResult<String> {
    if precision > crate::types::MAX_PRECISION {
        return Err(PyValueError::new_err("precision above 18"));
    }
    Ok(format_fixed(mantissa, precision))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_class::<OrderBook>()?;
    m.add_class::<EventBatch>()?;
    m.add_class::<EventSchema>()?;
    m.add_function(wrap_pyfunction!(event_schema, m)?)?;
    m.add_function(wrap_pyfunction!(kraken_checksum, m)?)?;
    m.add_function(wrap_pyfunction!(py_parse_fixed, m)?)?;
    m.add_function(wrap_pyfunction!(py_format_fixed, m)?)?;
    m.add("BID", 0u8)?;
    m.add("ASK", 1u8)?;
    m.add("TABLES", TABLES.to_vec())?;
    m.add("PROTOCOLS", PROTOCOLS.to_vec())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
