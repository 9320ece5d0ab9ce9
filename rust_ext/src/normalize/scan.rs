//! A minimal JSON cursor for the hottest messages.
//!
//! Venue frames on the hot path are flat and plain: ASCII strings without escapes, integers,
//! booleans, arrays of string pairs. Reading them with this cursor skips serde's generic
//! machinery. It never guesses: anything it does not expect (an escape, a float where an
//! integer belongs, a non-ASCII byte) makes it return `None`, and the caller falls back to the
//! serde path, which produces the reject reason. Both paths must yield the same events; the
//! tests feed every frame through both.

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Non-zero when some byte of `word` equals `b` (exact for ASCII words, which is all we scan).
#[inline]
fn has_byte(word: u64, b: u8) -> u64 {
    let x = word ^ (LOW_BITS * u64::from(b));
    x.wrapping_sub(LOW_BITS) & !x & HIGH_BITS
}

pub struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    pub fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consume `c` (after whitespace).
    #[inline]
    pub fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek()? == c).then(|| self.pos += 1)
    }

    /// Consume `c` if it is next; report whether it was.
    #[inline]
    pub fn eat_if(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// An ASCII string without escapes.
    #[inline]
    pub fn str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        // Eight bytes at a time while none is a quote, a backslash or non-ASCII.
        while let Some(chunk) = self.bytes.get(self.pos..self.pos + 8) {
            let word = u64::from_le_bytes(chunk.try_into().ok()?);
            if has_byte(word, b'"') | has_byte(word, b'\\') | (word & HIGH_BITS) != 0 {
                break;
            }
            self.pos += 8;
        }
        loop {
            match *self.bytes.get(self.pos)? {
                b'"' => break,
                b'\\' | 0x80..=0xff => return None,
                _ => self.pos += 1,
            }
        }
        let raw = &self.bytes[start..self.pos];
        self.pos += 1;
        // SAFETY: every byte of `raw` was just checked to be ASCII, which is valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(raw) })
    }

    /// An object key and its colon.
    #[inline]
    pub fn key(&mut self) -> Option<&'a str> {
        let k = self.str()?;
        self.eat(b':')?;
        Some(k)
    }

    /// The text of a JSON number.
    #[inline]
    pub fn number_text(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.pos;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
            self.pos += 1;
        }
        if self.pos == start {
            return None;
        }
        std::str::from_utf8(&self.bytes[start..self.pos]).ok()
    }

    #[inline]
    pub fn u64(&mut self) -> Option<u64> {
        self.ws();
        let start = self.pos;
        let mut v: u64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.pos += 1;
        }
        let leading_zero = self.pos - start > 1 && self.bytes[start] == b'0';
        if self.pos == start || leading_zero || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(v)
    }

    #[inline]
    pub fn i64(&mut self) -> Option<i64> {
        self.ws();
        let neg = self.peek() == Some(b'-');
        if neg {
            self.pos += 1;
        }
        let v = i64::try_from(self.u64()?).ok()?;
        Some(if neg { -v } else { v })
    }

    #[inline]
    pub fn bool(&mut self) -> Option<bool> {
        self.ws();
        if self.bytes[self.pos..].starts_with(b"true") {
            self.pos += 4;
            Some(true)
        } else if self.bytes[self.pos..].starts_with(b"false") {
            self.pos += 5;
            Some(false)
        } else {
            None
        }
    }

    /// Whether the next value is `c` (`"`, `[`, `{`…), without consuming it.
    #[inline]
    pub fn at(&mut self, c: u8) -> bool {
        self.ws();
        self.peek() == Some(c)
    }

    /// `[["a","b"],…]` into `out`.
    #[inline]
    pub fn string_pairs(&mut self, out: &mut Vec<(&'a str, &'a str)>) -> Option<()> {
        self.eat(b'[')?;
        if self.eat_if(b']') {
            return Some(());
        }
        loop {
            self.eat(b'[')?;
            let a = self.str()?;
            self.eat(b',')?;
            let b = self.str()?;
            self.eat(b']')?;
            out.push((a, b));
            if !self.eat_if(b',') {
                break;
            }
        }
        self.eat(b']')
    }

    /// Skip any value: strings, numbers, literals, and nested arrays or objects.
    pub fn skip(&mut self) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'"' => self.str().map(|_| ()),
            b'[' | b'{' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'[' | b'{' => {
                            depth += 1;
                            self.pos += 1;
                        }
                        b']' | b'}' => {
                            depth -= 1;
                            self.pos += 1;
                            if depth == 0 {
                                return Some(());
                            }
                        }
                        b'"' => {
                            self.str()?;
                        }
                        _ => self.pos += 1,
                    }
                }
            }
            b't' | b'f' => self.bool().map(|_| ()),
            b'n' if self.bytes[self.pos..].starts_with(b"null") => {
                self.pos += 4;
                Some(())
            }
            _ => self.number_text().map(|_| ()),
        }
    }

    /// Only whitespace is left.
    pub fn end(&mut self) -> Option<()> {
        self.ws();
        (self.pos == self.bytes.len()).then_some(())
    }
}

/// Whether a JSON object's first field is `key` with the string `value`: lets a normalizer
/// pick a typed one-pass parse before reading the message.
pub fn first_field_is(data: &[u8], key: &str, value: &str) -> bool {
    let mut c = Cursor::new(data);
    c.eat(b'{').is_some() && c.key() == Some(key) && c.str() == Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_flat_values() {
        let mut c =
            Cursor::new(br#" {"a": "x", "n": -12, "b": true, "p": [["1","2"],["3","4"]]} "#);
        c.eat(b'{').unwrap();
        assert_eq!(c.key(), Some("a"));
        assert_eq!(c.str(), Some("x"));
        c.eat(b',').unwrap();
        assert_eq!(c.key(), Some("n"));
        assert_eq!(c.i64(), Some(-12));
        c.eat(b',').unwrap();
        assert_eq!(c.key(), Some("b"));
        assert_eq!(c.bool(), Some(true));
        c.eat(b',').unwrap();
        assert_eq!(c.key(), Some("p"));
        let mut pairs = Vec::new();
        c.string_pairs(&mut pairs).unwrap();
        assert_eq!(pairs, [("1", "2"), ("3", "4")]);
        c.eat(b'}').unwrap();
        assert!(c.end().is_some());
    }

    #[test]
    fn declines_what_it_does_not_expect() {
        assert_eq!(Cursor::new(br#""a\"b""#).str(), None);
        assert_eq!(Cursor::new("\"é\"".as_bytes()).str(), None);
        assert_eq!(Cursor::new(br#""0123456789abcdefg\"""#).str(), None);
        assert_eq!(
            Cursor::new(br#""0123456789abcdefg""#).str(),
            Some("0123456789abcdefg")
        );
        assert_eq!(Cursor::new("\"0123456789é\"".as_bytes()).str(), None);
        assert_eq!(
            Cursor::new(b"\"0123456789\x7f\"").str(),
            Some("0123456789\x7f")
        );
        assert_eq!(Cursor::new(b"1.5").u64(), None);
        assert_eq!(Cursor::new(b"01").u64(), None);
        assert_eq!(Cursor::new(b"99999999999999999999").u64(), None);
        let mut c = Cursor::new(br#"{"x":[1,{"y":"]"}],"z":null} 7"#);
        c.skip().unwrap();
        assert_eq!(c.u64(), Some(7));
    }
}
