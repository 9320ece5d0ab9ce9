//! Arrow rows into a book: the `book_deltas` table (or any batch with its columns) applied to
//! an [`OrderBook`], as `OrderBook.apply_arrow` does from Python.
//!
//! Input from outside is checked before the book changes, and a batch is applied whole or
//! not at all: a null price is not a price of 0, a side of 7 is not an ask, an action that is
//! neither `clear` nor `set` is not a set. Errors name the column and the row, in the words
//! the Python reference book (`alphapulse/book.py`) uses too.
//!
//! Columns: `side` (uint8/int8 0 = bid, 1 = ask; bool is-ask; or strings `bid`/`ask`),
//! `price_raw` and `size_raw` (int64; `price`/`size` are read where the raw ones are absent),
//! optional `action` (strings `clear`/`set`; a `clear` row empties the book and its other
//! columns are not read). Sizes are never negative (0 deletes the level).

use std::sync::Arc;

use arrow_array::{
    Array, BooleanArray, Int64Array, Int8Array, LargeStringArray, StringArray, StringViewArray,
    StructArray, UInt8Array,
};

use crate::book::OrderBook;
use crate::types::Side;

/// A column of strings in any of Arrow's three layouts.
enum Strings<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> Strings<'a> {
    fn of(array: &'a Arc<dyn Array>) -> Option<Self> {
        let any = array.as_any();
        if let Some(a) = any.downcast_ref::<StringArray>() {
            Some(Strings::Utf8(a))
        } else if let Some(a) = any.downcast_ref::<LargeStringArray>() {
            Some(Strings::Large(a))
        } else {
            any.downcast_ref::<StringViewArray>().map(Strings::View)
        }
    }

    /// Row `i`, None where null.
    #[inline]
    fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Strings::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Strings::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Strings::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

enum Sides<'a> {
    UInt8(&'a UInt8Array),
    Int8(&'a Int8Array),
    IsAsk(&'a BooleanArray),
    Names(Strings<'a>),
}

/// The columns of a batch, found and typed once.
struct Columns<'a> {
    side: Sides<'a>,
    price: (&'a str, &'a Int64Array),
    size: (&'a str, &'a Int64Array),
    action: Option<Strings<'a>>,
}

/// One row, read and checked.
enum Row {
    Clear,
    Set(Side, i64, i64),
}

fn find<'a>(array: &'a StructArray, names: &[&'a str]) -> Option<(&'a str, &'a Arc<dyn Array>)> {
    names
        .iter()
        .find_map(|n| array.column_by_name(n).map(|c| (*n, c)))
}

fn int64<'a>(
    array: &'a StructArray,
    names: &[&'a str],
) -> Result<(&'a str, &'a Int64Array), String> {
    find(array, names)
        .and_then(|(n, c)| c.as_any().downcast_ref::<Int64Array>().map(|a| (n, a)))
        .ok_or_else(|| format!("needs an int64 column {}", names[0]))
}

impl<'a> Columns<'a> {
    fn of(array: &'a StructArray) -> Result<Self, String> {
        let price = int64(array, &["price_raw", "price"])?;
        let size = int64(array, &["size_raw", "size"])?;
        let (_, side) = find(array, &["side"]).ok_or("needs a side column")?;
        let any = side.as_any();
        let side = if let Some(s) = any.downcast_ref::<UInt8Array>() {
            Sides::UInt8(s)
        } else if let Some(s) = any.downcast_ref::<Int8Array>() {
            Sides::Int8(s)
        } else if let Some(s) = any.downcast_ref::<BooleanArray>() {
            Sides::IsAsk(s)
        } else {
            Sides::Names(
                Strings::of(side).ok_or("side column must be uint8, int8, bool or string")?,
            )
        };
        let action = match find(array, &["action"]) {
            Some((_, a)) => Some(Strings::of(a).ok_or("action column must be strings")?),
            None => None,
        };
        Ok(Self {
            side,
            price,
            size,
            action,
        })
    }

    #[inline]
    fn row(&self, i: usize) -> Result<Row, String> {
        let bad = |column: &str, problem: String| format!("column '{column}' row {i}: {problem}");
        if let Some(action) = &self.action {
            match action.get(i) {
                Some("clear") => return Ok(Row::Clear),
                Some("set") => {}
                Some(other) => {
                    return Err(bad("action", format!("'{other}' is not 'clear' or 'set'")))
                }
                None => return Err(bad("action", "null".into())),
            }
        }
        let number = |value: i64| match value {
            0 => Ok(Side::Bid),
            1 => Ok(Side::Ask),
            other => Err(bad("side", format!("{other} is not 0 (bid) or 1 (ask)"))),
        };
        let null = || bad("side", "null".into());
        let side = match &self.side {
            Sides::UInt8(s) => number(s.is_valid(i).then(|| s.value(i)).ok_or_else(null)?.into())?,
            Sides::Int8(s) => number(s.is_valid(i).then(|| s.value(i)).ok_or_else(null)?.into())?,
            Sides::IsAsk(s) => match s.is_valid(i).then(|| s.value(i)).ok_or_else(null)? {
                true => Side::Ask,
                false => Side::Bid,
            },
            Sides::Names(s) => match s.get(i).ok_or_else(null)? {
                "bid" => Side::Bid,
                "ask" => Side::Ask,
                other => return Err(bad("side", format!("'{other}' is not 'bid' or 'ask'"))),
            },
        };
        let value = |(name, column): (&str, &Int64Array)| {
            column
                .is_valid(i)
                .then(|| column.value(i))
                .ok_or_else(|| bad(name, "null".into()))
        };
        let price = value(self.price)?;
        let size = value(self.size)?;
        if size < 0 {
            return Err(bad(self.size.0, format!("negative size {size}")));
        }
        Ok(Row::Set(side, price, size))
    }
}

/// Apply every row of `array` to `book`, or none: every row is checked first. Returns the
/// number of rows.
pub fn apply_batch(book: &mut OrderBook, array: &StructArray) -> Result<usize, String> {
    let columns = Columns::of(array)?;
    let n = array.len();
    for i in 0..n {
        columns.row(i)?;
    }
    for i in 0..n {
        match columns.row(i)? {
            Row::Clear => book.clear(),
            Row::Set(side, price, size) => {
                book.apply(side, price, size);
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, RecordBatch};

    fn batch(columns: Vec<(&str, ArrayRef)>) -> StructArray {
        StructArray::from(RecordBatch::try_from_iter(columns).unwrap())
    }

    fn ints(v: Vec<Option<i64>>) -> ArrayRef {
        Arc::new(Int64Array::from(v))
    }

    #[test]
    fn applies_every_side_layout_and_clear() {
        let sides: [ArrayRef; 4] = [
            Arc::new(UInt8Array::from(vec![0, 1, 0])),
            Arc::new(Int8Array::from(vec![0, 1, 0])),
            Arc::new(BooleanArray::from(vec![false, true, false])),
            Arc::new(StringArray::from(vec!["bid", "ask", "bid"])),
        ];
        for side in sides {
            let mut book = OrderBook::default();
            let rows = batch(vec![
                (
                    "action",
                    Arc::new(StringArray::from(vec!["set", "set", "clear"])),
                ),
                ("side", side),
                ("price_raw", ints(vec![Some(10), Some(11), None])),
                ("size_raw", ints(vec![Some(1), Some(2), None])),
            ]);
            assert_eq!(apply_batch(&mut book, &rows), Ok(3));
            assert_eq!(
                (book.best_bid(), book.best_ask()),
                (None, None),
                "cleared last"
            );
        }
    }

    #[test]
    fn bad_rows_are_errors_naming_column_and_row_and_change_nothing() {
        let cases: [(Vec<(&str, ArrayRef)>, &str); 6] = [
            (
                vec![
                    ("side", Arc::new(UInt8Array::from(vec![0, 7]))),
                    ("price_raw", ints(vec![Some(1), Some(2)])),
                    ("size_raw", ints(vec![Some(1), Some(1)])),
                ],
                "column 'side' row 1: 7 is not 0 (bid) or 1 (ask)",
            ),
            (
                vec![
                    ("side", Arc::new(UInt8Array::from(vec![Some(0), None]))),
                    ("price_raw", ints(vec![Some(1), Some(2)])),
                    ("size_raw", ints(vec![Some(1), Some(1)])),
                ],
                "column 'side' row 1: null",
            ),
            (
                vec![
                    ("side", Arc::new(UInt8Array::from(vec![0, 1]))),
                    ("price_raw", ints(vec![Some(1), None])),
                    ("size_raw", ints(vec![Some(1), Some(1)])),
                ],
                "column 'price_raw' row 1: null",
            ),
            (
                vec![
                    ("side", Arc::new(UInt8Array::from(vec![0, 1]))),
                    ("price", ints(vec![Some(1), Some(2)])),
                    ("size", ints(vec![Some(1), Some(-3)])),
                ],
                "column 'size' row 1: negative size -3",
            ),
            (
                vec![
                    (
                        "action",
                        Arc::new(StringArray::from(vec![Some("set"), None])),
                    ),
                    ("side", Arc::new(StringArray::from(vec!["bid", "ask"]))),
                    ("price_raw", ints(vec![Some(1), Some(2)])),
                    ("size_raw", ints(vec![Some(1), Some(1)])),
                ],
                "column 'action' row 1: null",
            ),
            (
                vec![
                    ("action", Arc::new(StringArray::from(vec!["set", "delete"]))),
                    ("side", Arc::new(StringArray::from(vec!["bid", "ask"]))),
                    ("price_raw", ints(vec![Some(1), Some(2)])),
                    ("size_raw", ints(vec![Some(1), Some(1)])),
                ],
                "column 'action' row 1: 'delete' is not 'clear' or 'set'",
            ),
        ];
        for (columns, expected) in cases {
            let mut book = OrderBook::default();
            assert_eq!(
                apply_batch(&mut book, &batch(columns)),
                Err(expected.to_owned())
            );
            assert_eq!(book, OrderBook::default(), "{expected}: row 0 not applied");
        }
    }
}
