//! Domain primitives: fixed-point decimals, timestamps, sides.
//!
//! Prices and sizes are `i64` mantissas at the instrument's precision (number of decimals).
//! A venue's decimal string `"0.000022900"` at precision 9 is the mantissa `22900`; printing
//! the mantissa back at the same precision reproduces the string, which is what venue
//! checksums are computed over. Nothing here touches a float.

/// Nanoseconds since the Unix epoch, UTC.
pub type UnixNanos = i64;

/// The largest precision we accept: 10^18 still fits an `i64`.
pub const MAX_PRECISION: u8 = 18;

const POW10: [i64; 19] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
];

/// 10^exp for `exp <= 18`.
#[inline]
pub fn pow10(exp: u8) -> i64 {
    POW10[exp as usize]
}

/// Book side, or the aggressor side of a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    Bid = 0,
    Ask = 1,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Bid => "bid",
            Side::Ask => "ask",
        }
    }
}

/// Aggressor (taker) side of a trade. `Buy` means the buyer lifted an ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Aggressor {
    Unknown = 0,
    Buy = 1,
    Sell = 2,
}

impl Aggressor {
    pub fn as_str(self) -> &'static str {
        match self {
            Aggressor::Unknown => "unknown",
            Aggressor::Buy => "buy",
            Aggressor::Sell => "sell",
        }
    }
}

/// Why a decimal could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecimalError {
    Empty,
    InvalidChar,
    TooPrecise {
        decimals: u8,
        precision: u8,
    },
    Overflow,
    /// A negative size, or a negative venue time.
    Negative,
    /// A negative price on an instrument not declared to trade below zero.
    NegativePrice,
}

impl std::fmt::Display for DecimalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecimalError::Empty => write!(f, "empty decimal"),
            DecimalError::InvalidChar => write!(f, "invalid character in decimal"),
            DecimalError::TooPrecise {
                decimals,
                precision,
            } => write!(
                f,
                "decimal has {decimals} significant decimals, instrument precision is {precision}"
            ),
            DecimalError::Overflow => write!(f, "decimal overflows 64-bit fixed point"),
            DecimalError::Negative => write!(f, "negative value where none is allowed"),
            DecimalError::NegativePrice => write!(
                f,
                "negative price on an instrument not declared to allow them (allow_negative_prices)"
            ),
        }
    }
}

/// A decimal as written: `mantissa * 10^-decimals`, digits exactly as the venue sent them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawDecimal {
    pub mantissa: i64,
    pub decimals: u8,
}

/// Parse a plain decimal (`"-12.3400"`, `"5"`, `"1e-3"` is rejected) keeping every written digit.
#[inline]
pub fn parse_decimal(s: &[u8]) -> Result<RawDecimal, DecimalError> {
    let (neg, digits) = match s.first() {
        None => return Err(DecimalError::Empty),
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(DecimalError::Empty);
    }
    let mut mantissa: i64 = 0;
    let mut decimals: u8 = 0;
    let mut seen_dot = false;
    let mut seen_digit = false;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                seen_digit = true;
                mantissa = mantissa
                    .checked_mul(10)
                    .and_then(|m| m.checked_add(i64::from(c - b'0')))
                    .ok_or(DecimalError::Overflow)?;
                if seen_dot {
                    decimals += 1;
                    if decimals > MAX_PRECISION {
                        return Err(DecimalError::Overflow);
                    }
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => return Err(DecimalError::InvalidChar),
        }
    }
    if !seen_digit {
        return Err(DecimalError::Empty);
    }
    Ok(RawDecimal {
        mantissa: if neg { -mantissa } else { mantissa },
        decimals,
    })
}

/// Parse a JSON number's text (`1.5`, `-2`, `1e-05`, `2.5E3`) as an exact decimal.
pub fn parse_json_decimal(s: &[u8]) -> Result<RawDecimal, DecimalError> {
    let Some(e) = s.iter().position(|&c| c == b'e' || c == b'E') else {
        return parse_decimal(s);
    };
    let base = parse_decimal(&s[..e])?;
    let exp_text = std::str::from_utf8(&s[e + 1..]).map_err(|_| DecimalError::InvalidChar)?;
    let exp: i32 = exp_text.parse().map_err(|_| DecimalError::InvalidChar)?;
    let decimals = i32::from(base.decimals) - exp;
    if decimals > i32::from(MAX_PRECISION) {
        return Err(DecimalError::Overflow);
    }
    if decimals >= 0 {
        return Ok(RawDecimal {
            mantissa: base.mantissa,
            decimals: decimals as u8,
        });
    }
    if -decimals > i32::from(MAX_PRECISION) {
        return Err(DecimalError::Overflow);
    }
    let mantissa = base
        .mantissa
        .checked_mul(pow10((-decimals) as u8))
        .ok_or(DecimalError::Overflow)?;
    Ok(RawDecimal {
        mantissa,
        decimals: 0,
    })
}

/// Rescale a written decimal to `precision`. Extra decimals are accepted only if they are zeros.
#[inline]
pub fn rescale(d: RawDecimal, precision: u8) -> Result<i64, DecimalError> {
    if precision > MAX_PRECISION {
        return Err(DecimalError::Overflow);
    }
    if d.decimals <= precision {
        d.mantissa
            .checked_mul(pow10(precision - d.decimals))
            .ok_or(DecimalError::Overflow)
    } else {
        let div = pow10(d.decimals - precision);
        if d.mantissa % div != 0 {
            return Err(DecimalError::TooPrecise {
                decimals: significant_decimals(d),
                precision,
            });
        }
        Ok(d.mantissa / div)
    }
}

/// The number of decimals once trailing zeros are dropped.
pub fn significant_decimals(d: RawDecimal) -> u8 {
    let mut m = d.mantissa;
    let mut dec = d.decimals;
    while dec > 0 && m % 10 == 0 {
        m /= 10;
        dec -= 1;
    }
    dec
}

/// Parse a decimal straight to a mantissa at `precision`.
#[inline]
pub fn parse_fixed(s: &[u8], precision: u8) -> Result<i64, DecimalError> {
    rescale(parse_decimal(s)?, precision)
}

/// Format a mantissa at `precision` as a decimal string with exactly `precision` decimals.
pub fn format_fixed(mantissa: i64, precision: u8) -> String {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(mantissa.unsigned_abs());
    let p = precision as usize;
    let mut out = String::with_capacity(digits.len() + 3);
    if mantissa < 0 {
        out.push('-');
    }
    if p == 0 {
        out.push_str(digits);
    } else if digits.len() > p {
        out.push_str(&digits[..digits.len() - p]);
        out.push('.');
        out.push_str(&digits[digits.len() - p..]);
    } else {
        out.push_str("0.");
        for _ in digits.len()..p {
            out.push('0');
        }
        out.push_str(digits);
    }
    out
}

/// A mantissa as a float, for display only.
#[inline]
pub fn to_f64(mantissa: i64, precision: u8) -> f64 {
    mantissa as f64 / pow10(precision) as f64
}

/// `value` in units of `unit_ns` nanoseconds, as nanoseconds; an error where that overflows
/// or is negative (no venue time or interval is before 1970 or below zero).
#[inline]
pub fn to_nanos(value: i64, unit_ns: i64) -> Result<UnixNanos, String> {
    if value < 0 {
        return Err(format!("time {value} is negative"));
    }
    value
        .checked_mul(unit_ns)
        .ok_or_else(|| format!("time {value} x {unit_ns} ns is out of range"))
}

/// Parse decimal seconds (`"1618678133.365913"`) to nanoseconds, exactly.
pub fn parse_seconds_ns(s: &[u8]) -> Result<UnixNanos, DecimalError> {
    let d = parse_decimal(s)?;
    if d.mantissa < 0 {
        return Err(DecimalError::Negative);
    }
    if d.decimals > 9 {
        let div = pow10(d.decimals - 9);
        return Ok(d.mantissa / div);
    }
    d.mantissa
        .checked_mul(pow10(9 - d.decimals))
        .ok_or(DecimalError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_written_digits() {
        let d = parse_decimal(b"0.000022900").unwrap();
        assert_eq!(
            d,
            RawDecimal {
                mantissa: 22900,
                decimals: 9
            }
        );
        assert_eq!(format_fixed(d.mantissa, d.decimals), "0.000022900");
        assert_eq!(parse_fixed(b"354.15000000", 8).unwrap(), 35_415_000_000);
        assert_eq!(format_fixed(35_415_000_000, 8), "354.15000000");
        assert_eq!(parse_fixed(b"-1.5", 2).unwrap(), -150);
        assert_eq!(parse_fixed(b"7", 3).unwrap(), 7000);
    }

    #[test]
    fn rescale_rejects_lost_digits() {
        assert_eq!(parse_fixed(b"1.2300", 2).unwrap(), 123);
        assert!(matches!(
            parse_fixed(b"1.234", 2),
            Err(DecimalError::TooPrecise {
                decimals: 3,
                precision: 2
            })
        ));
    }

    #[test]
    fn bad_input_is_an_error() {
        for bad in [
            &b""[..],
            b"-",
            b".",
            b"1.2.3",
            b"1e5",
            b"abc",
            b"99999999999999999999",
        ] {
            assert!(parse_decimal(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_numbers_with_exponents() {
        let d = parse_json_decimal(b"1e-05").unwrap();
        assert_eq!(rescale(d, 8).unwrap(), 1000);
        assert_eq!(
            rescale(parse_json_decimal(b"2.5E3").unwrap(), 0).unwrap(),
            2500
        );
        assert_eq!(
            rescale(parse_json_decimal(b"65000.1").unwrap(), 1).unwrap(),
            650_001
        );
        assert!(parse_json_decimal(b"1e").is_err());
    }

    #[test]
    fn seconds_to_nanos() {
        assert_eq!(
            parse_seconds_ns(b"1618678133.365913").unwrap(),
            1_618_678_133_365_913_000
        );
        assert_eq!(parse_seconds_ns(b"1").unwrap(), 1_000_000_000);
        assert_eq!(parse_seconds_ns(b"-1.5"), Err(DecimalError::Negative));
        assert!(to_nanos(-1, 1_000_000).is_err());
    }
}
