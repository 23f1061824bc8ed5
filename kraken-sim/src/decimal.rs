//! Exact decimals: values, comparisons, rounding and REST text are [`rust_decimal::Decimal`]s,
//! which keep the scale they were written with (`62702.90`, `0.00044780`), so a price never
//! touches `f64`. This module adds what the simulator needs beyond that:
//!
//! - [`parse`]: Kraken's literal grammar `[-]digits[.digits]`, strictly (rust_decimal's own
//!   parser also takes `+1`, `.5`, `1_000` and exponents).
//! - [`write`], [`write_normalized`]: the text rust_decimal's `Display` writes, appended
//!   without the formatting machinery: every ticker message carries eleven numbers, and at
//!   100 000 messages a second `Display` took 140-160 ns a number against 40-60 ns here
//!   (release build, alternating rounds on the shared 2-core host), about 10 % of a core for
//!   the simulator alone.
//! - [`ticks`]: a value as a whole number of ticks at a precision (the price walk counts ticks).

use std::str::FromStr;

pub use rust_decimal::Decimal;

/// Most fractional digits [`parse`] accepts.
pub const MAX_SCALE: u32 = 18;

/// Why a text is not a decimal the simulator can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Not of the form `[-]digits[.digits]`.
    #[error("not a plain decimal number: {0:?}")]
    Syntax(String),
    /// More than [`MAX_SCALE`] fractional digits, or more digits than 64 bits hold.
    #[error("decimal out of range: {0:?}")]
    Range(String),
}

/// Parses `[-]digits[.digits]` (no exponent, no `+`, no spaces), keeping the scale as written:
/// `"0.00044780"` has scale 8.
pub fn parse(text: &str) -> Result<Decimal, DecimalError> {
    let body = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (body.contains('.') && !digits(frac)) {
        return Err(DecimalError::Syntax(text.to_owned()));
    }
    let range = || DecimalError::Range(text.to_owned());
    if frac.len() > MAX_SCALE as usize {
        return Err(range());
    }
    let value = Decimal::from_str(text).map_err(|_| range())?;
    // As many digits as an i64 holds, so every value is a whole number of ticks.
    i64::try_from(value.mantissa()).map_err(|_| range())?;
    Ok(value)
}

/// Appends `d` as its `Display` would: every digit of its scale, a `-` when below zero.
pub fn write(out: &mut Vec<u8>, d: Decimal) {
    write_digits(out, d, false);
}

/// Appends `d.normalize()` as [`write`] would (`62703.0` as `62703`), without normalising the
/// value first (which costs more than writing it).
pub fn write_normalized(out: &mut Vec<u8>, d: Decimal) {
    write_digits(out, d, true);
}

fn write_digits(out: &mut Vec<u8>, d: Decimal, normalized: bool) {
    let Ok(mut n) = u64::try_from(d.mantissa().unsigned_abs()) else {
        let d = if normalized { d.normalize() } else { d };
        out.extend_from_slice(d.to_string().as_bytes());
        return;
    };
    let mut scale = d.scale() as usize;
    if normalized {
        while scale > 0 && n % 10 == 0 {
            n /= 10;
            scale -= 1;
        }
    }
    let mut digits = [b'0'; 40];
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
    len = len.max(scale + 1);
    // A zero is written without a sign, as the wire always had it (`Display` writes a negative
    // zero as `-0.0`).
    if d.mantissa() < 0 {
        out.push(b'-');
    }
    for i in (0..len).rev() {
        out.push(digits[i]);
        if i == scale && scale > 0 {
            out.push(b'.');
        }
    }
}

/// [`write`] into a new string.
pub fn text(d: Decimal) -> String {
    let mut out = Vec::with_capacity(24);
    write(&mut out, d);
    // `write` only produces ASCII digits, '-' and '.'.
    String::from_utf8_lossy(&out).into_owned()
}

/// `d` as a whole number of ticks of `10^-scale`, rounded half away from zero (`62702.95` is
/// 627030 ticks at scale 1); `None` when that does not fit an `i64`.
pub fn ticks(d: Decimal, scale: u32) -> Option<i64> {
    if d.scale() == scale {
        // The usual case (a price at its pair's precision), without a rescale: the walk asks
        // on every trade.
        return i64::try_from(d.mantissa()).ok();
    }
    let mut at = d;
    at.rescale(scale);
    if at.scale() != scale {
        return None;
    }
    i64::try_from(at.mantissa()).ok()
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
            let d = parse(text).expect(text);
            assert_eq!(d.to_string(), text);
            assert_eq!(super::text(d), text);
        }
    }

    #[test]
    fn write_matches_display() {
        let mut values = vec![
            Decimal::new(i64::MIN, 0),
            Decimal::new(i64::MAX, 18),
            Decimal::new(0, 5),
            Decimal::new(-17, 5),
            Decimal::from_i128_with_scale(i128::from(u64::MAX) * 1000, 3),
        ];
        let mut n: i64 = 1;
        for scale in 0..=18 {
            for _ in 0..20 {
                // A deterministic spread of magnitudes and signs.
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                values.push(Decimal::new(n >> (scale * 3), scale));
            }
        }
        assert_eq!(text(Decimal::from_parts(0, 0, 0, true, 1)), "0.0");
        for d in values {
            assert_eq!(text(d), d.to_string(), "{d:?}");
            let mut out = Vec::new();
            write_normalized(&mut out, d);
            assert_eq!(
                String::from_utf8(out).expect("ascii"),
                d.normalize().to_string()
            );
        }
    }

    #[test]
    fn parse_rejects_what_is_not_a_plain_decimal() {
        for text in [
            "", "-", ".", "1.", ".5", "1e5", "+1", " 1", "1 ", "1.2.3", "NaN", "١", "1_000",
        ] {
            assert!(
                matches!(parse(text), Err(DecimalError::Syntax(_))),
                "{text:?}"
            );
        }
        assert!(matches!(
            parse("99999999999999999999"),
            Err(DecimalError::Range(_))
        ));
        assert!(matches!(
            parse("0.0000000000000000001"),
            Err(DecimalError::Range(_))
        ));
    }

    #[test]
    fn normalize_strips_trailing_zeros_down_to_an_integer_literal() {
        assert_eq!(text(Decimal::new(580330, 1).normalize()), "58033");
        assert_eq!(text(Decimal::new(1000, 7).normalize()), "0.0001");
        assert_eq!(text(Decimal::new(0, 5).normalize()), "0");
        assert_eq!(text(Decimal::new(-17, 5).normalize()), "-0.00017");
    }

    #[test]
    fn ticks_pad_exactly_and_round_half_away_from_zero() {
        assert_eq!(ticks(Decimal::new(627029, 1), 5), Some(6_270_290_000));
        assert_eq!(ticks(Decimal::new(125, 2), 1), Some(13));
        assert_eq!(ticks(Decimal::new(-125, 2), 1), Some(-13));
        assert_eq!(ticks(Decimal::new(124, 2), 1), Some(12));
        assert_eq!(ticks(Decimal::new(i64::MAX, 0), 1), None);
    }

    #[test]
    fn values_compare_across_scales() {
        let a = parse("1.50").expect("a");
        let b = parse("1.5").expect("b");
        let c = parse("1.49999").expect("c");
        assert_eq!(a.cmp(&b), std::cmp::Ordering::Equal);
        assert!(c < a);
        assert!(Decimal::new(-1, 0) < c);
    }
}
