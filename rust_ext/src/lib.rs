//! AlphaPulse market-data core: venue frames → typed events → L2 books → Arrow.
//!
//! Pure computation with no knowledge of Python; the bindings live in `python.rs` behind
//! the `python` feature, so `cargo test` and `cargo bench` run without an interpreter.

pub mod arrow;
pub mod book;
pub mod book_arrow;
pub mod checksum;
pub mod dedup;
pub mod engine;
pub mod event;
pub mod instruments;
pub mod normalize;
pub mod time;
pub mod types;

#[cfg(feature = "python")]
mod python;
