//! Exact decimal numbers as integer units scaled by `10^-scale`.
//!
//! Kraken writes prices and quantities with the engine's precision (trailing zeros kept, integer
//! literals possible), so the simulator never lets a price touch `f64`: every number is an
//! integer count of units plus a scale, and its text is produced digit by digit.

use std::cmp::Ordering;
use std::fmt;

/// The largest scale accepted; `10^18` still fits an `i64`.
pub const MAX_SCALE: u8 = 18;

/// A decimal number `units × 10^-scale`, e.g. `Decimal::new(627029, 1)` is `62702.9`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decimal {
    units: i64,
    scale: u8,
}

/// Why a text is not a decimal the simulator can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Not of the form `[-]digits[.digits]`.
    #[error("not a plain decimal number: {0:?}")]
    Syntax(String),
    /// More than [`MAX_SCALE`] fractional digits, or too many digits for 64 bits.
    #[error("decimal out of range: {0:?}")]
    Range(String),
}

/// `10^exp` for `exp <= 18`.
pub(crate) const fn pow10(exp: u8) -> i64 {
    let mut value = 1i64;
    let mut i = 0;
    while i < exp {
        value *= 10;
        i += 1;
    }
    value
}

impl Decimal {
    /// `units × 10^-scale`; a scale above [`MAX_SCALE`] is clamped.
    pub const fn new(units: i64, scale: u8) -> Decimal {
        let scale = if scale > MAX_SCALE { MAX_SCALE } else { scale };
        Decimal { units, scale }
    }

    /// Parses `[-]digits[.digits]` (no exponent, no `+`, no spaces), keeping the scale as
    /// written: `"0.00044780"` has scale 8.
    pub fn parse(text: &str) -> Result<Decimal, DecimalError> {
        let syntax = || DecimalError::Syntax(text.to_owned());
        let range = || DecimalError::Range(text.to_owned());
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (body, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || frac.is_some_and(|f| !digits(f)) {
            return Err(syntax());
        }
        let frac = frac.unwrap_or("");
        let scale = u8::try_from(frac.len())
            .ok()
            .filter(|s| *s <= MAX_SCALE)
            .ok_or_else(range)?;
        let mut units: i64 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            units = units
                .checked_mul(10)
                .and_then(|u| u.checked_add(i64::from(b - b'0')))
                .ok_or_else(range)?;
        }
        Ok(Decimal {
            units: if negative { -units } else { units },
            scale,
        })
    }

    /// The integer units.
    pub fn units(self) -> i64 {
        self.units
    }

    /// Digits after the decimal point.
    pub fn scale(self) -> u8 {
        self.scale
    }

    /// True for values above zero.
    pub fn is_positive(self) -> bool {
        self.units > 0
    }

    /// The same value without trailing fractional zeros (`62703.0` → `62703`), the form the
    /// v2 ticker uses for prices.
    pub fn normalized(self) -> Decimal {
        let mut d = self;
        while d.scale > 0 && d.units % 10 == 0 {
            d.units /= 10;
            d.scale -= 1;
        }
        d
    }

    /// The same value with `scale` fractional digits: padding is exact; dropping digits
    /// rounds half away from zero. `None` when the result does not fit.
    pub fn rescale(self, scale: u8) -> Option<Decimal> {
        let scale = scale.min(MAX_SCALE);
        match scale.cmp(&self.scale) {
            Ordering::Equal => Some(self),
            Ordering::Greater => {
                let units = self.units.checked_mul(pow10(scale - self.scale))?;
                Some(Decimal { units, scale })
            }
            Ordering::Less => {
                let div = pow10(self.scale - scale);
                let (q, r) = (self.units / div, self.units % div);
                let units = if r.abs() * 2 >= div {
                    q + self.units.signum()
                } else {
                    q
                };
                Some(Decimal { units, scale })
            }
        }
    }

    /// Compares values regardless of scale.
    pub fn cmp_value(self, other: Decimal) -> Ordering {
        let scale = self.scale.max(other.scale);
        let widen = |d: Decimal| i128::from(d.units) * i128::from(pow10(scale - d.scale));
        widen(self).cmp(&widen(other))
    }

    /// Appends the text with exactly `scale` fractional digits.
    pub fn write_to(self, out: &mut Vec<u8>) {
        let mut digits = [0u8; 20];
        let mut n = self.units.unsigned_abs();
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            n /= 10;
            len += 1;
            if n == 0 {
                break;
            }
        }
        // Enough leading zeros that there is at least one integer digit.
        let scale = usize::from(self.scale);
        while len <= scale {
            digits[len] = b'0';
            len += 1;
        }
        if self.units < 0 {
            out.push(b'-');
        }
        for i in (0..len).rev() {
            out.push(digits[i]);
            if i == scale && scale > 0 {
                out.push(b'.');
            }
        }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = Vec::with_capacity(24);
        self.write_to(&mut buf);
        // write_to only produces ASCII digits, '-' and '.'.
        f.write_str(&String::from_utf8_lossy(&buf))
    }
}

impl std::str::FromStr for Decimal {
    type Err = DecimalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decimal::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_exactly_including_trailing_zeros() {
        for text in [
            "0",
            "58033",
            "62702.9",
            "0.00044780",
            "740.0",
            "-0.00017",
            "-239.4",
            "0.1000000",
            "1.000",
            "-5",
        ] {
            let d = Decimal::parse(text).expect(text);
            assert_eq!(d.to_string(), text);
        }
    }

    #[test]
    fn parse_rejects_what_is_not_a_plain_decimal() {
        for text in [
            "", "-", ".", "1.", ".5", "1e5", "+1", " 1", "1 ", "1.2.3", "NaN", "١",
        ] {
            assert!(
                matches!(Decimal::parse(text), Err(DecimalError::Syntax(_))),
                "{text:?}"
            );
        }
        assert!(matches!(
            Decimal::parse("99999999999999999999"),
            Err(DecimalError::Range(_))
        ));
        assert!(matches!(
            Decimal::parse("0.0000000000000000001"),
            Err(DecimalError::Range(_))
        ));
    }

    #[test]
    fn normalized_strips_trailing_zeros_down_to_an_integer_literal() {
        assert_eq!(Decimal::new(580330, 1).normalized().to_string(), "58033");
        assert_eq!(Decimal::new(1000, 7).normalized().to_string(), "0.0001");
        assert_eq!(Decimal::new(0, 5).normalized().to_string(), "0");
        assert_eq!(Decimal::new(-17, 5).normalized().to_string(), "-0.00017");
    }

    #[test]
    fn rescale_pads_exactly_and_rounds_half_away_from_zero() {
        assert_eq!(
            Decimal::new(627029, 1)
                .rescale(5)
                .map(|d| d.to_string())
                .as_deref(),
            Some("62702.90000")
        );
        assert_eq!(Decimal::new(125, 2).rescale(1), Some(Decimal::new(13, 1)));
        assert_eq!(Decimal::new(-125, 2).rescale(1), Some(Decimal::new(-13, 1)));
        assert_eq!(Decimal::new(124, 2).rescale(1), Some(Decimal::new(12, 1)));
        assert_eq!(Decimal::new(i64::MAX, 0).rescale(1), None);
    }

    #[test]
    fn values_compare_across_scales() {
        let a = Decimal::parse("1.50").expect("a");
        let b = Decimal::parse("1.5").expect("b");
        let c = Decimal::parse("1.49999").expect("c");
        assert_eq!(a.cmp_value(b), Ordering::Equal);
        assert_eq!(c.cmp_value(a), Ordering::Less);
        assert_eq!(Decimal::new(-1, 0).cmp_value(c), Ordering::Less);
    }

    #[test]
    fn extreme_units_are_written_without_overflow() {
        assert_eq!(
            Decimal::new(i64::MIN, 0).to_string(),
            "-9223372036854775808"
        );
        assert_eq!(
            Decimal::new(i64::MAX, 18).to_string(),
            "9.223372036854775807"
        );
    }
}
