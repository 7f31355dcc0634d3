//! The one rounding of money to cents, used by every crate that shows or
//! stores an amount, and the one way money is shown in text (reports,
//! reasons of errors, `reconciliation.csv` messages).

use rust_decimal::{Decimal, RoundingStrategy};

/// Cents: rounded half to even, always with exactly two decimals, and never
/// a negative zero (`-0.004` and an f64 `-0.0` both become `0.00`, not
/// `-0.00`).
///
/// # Examples
///
/// ```
/// use exfee_model::{Decimal, cents};
/// let d = |s: &str| s.parse::<Decimal>().unwrap();
/// assert_eq!(cents(d("0.125")).to_string(), "0.12");
/// assert_eq!(cents(d("0.135")).to_string(), "0.14");
/// assert_eq!(cents(d("-0.004")).to_string(), "0.00");
/// assert_eq!(cents(d("7")).to_string(), "7.00");
/// ```
pub fn cents(value: Decimal) -> Decimal {
    let mut value = value.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
    value.rescale(2);
    if value.is_zero() {
        value.set_sign_positive(true);
    }
    value
}

/// Money as shown to people: rounded to cents (half to even, as [`cents`]),
/// thousands separated by commas, an ASCII minus, never `-0.00`:
/// `-1,234,567.89`.
///
/// # Examples
///
/// ```
/// use exfee_model::{Decimal, money};
/// let d = |s: &str| s.parse::<Decimal>().unwrap();
/// assert_eq!(money(d("-1234567.891")), "-1,234,567.89");
/// assert_eq!(money(d("0.125")), "0.12");
/// ```
pub fn money(value: Decimal) -> String {
    fixed(value, 2)
}

/// `value` rounded half to even to exactly `dp` decimals, thousands
/// separated by commas, an ASCII minus (none on a value that rounds to
/// zero).
pub fn fixed(value: Decimal, dp: u32) -> String {
    let r = value.round_dp_with_strategy(dp, RoundingStrategy::MidpointNearestEven);
    let neg = r.is_sign_negative() && !r.is_zero();
    let digits = format!("{:.*}", dp as usize, r.abs());
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i.to_string(), Some(f.to_string())),
        None => (digits.clone(), None),
    };
    let mut out = String::with_capacity(digits.len() + int.len() / 3 + 1);
    if neg {
        out.push('-');
    }
    out.push_str(&group_thousands(&int));
    if let Some(f) = frac {
        out.push('.');
        out.push_str(&f);
    }
    out
}

/// A string of digits with a comma between each group of three from the
/// right: `1234567` → `1,234,567`.
pub fn group_thousands(int: &str) -> String {
    let bytes = int.as_bytes();
    let mut out = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in bytes.iter().enumerate() {
        if i > 0 && (bytes.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(*c as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn zero_is_never_negative() {
        for text in ["-0", "-0.00", "-0.004", "-0.005", "0.004", "-0.0000001"] {
            let c = cents(d(text));
            assert_eq!(c.to_string(), "0.00", "{text}");
            assert!(!c.is_sign_negative(), "{text}");
        }
        let negative_zero = Decimal::from_f64_retain(-0.0).unwrap();
        assert_eq!(cents(negative_zero).to_string(), "0.00");
        assert_eq!(
            serde_like(cents(negative_zero)),
            "0.00",
            "JSON writes the Decimal's string"
        );
    }

    fn serde_like(value: Decimal) -> String {
        value.to_string()
    }

    #[test]
    fn half_to_even_with_two_decimals() {
        assert_eq!(cents(d("2.675")).to_string(), "2.68");
        assert_eq!(cents(d("2.665")).to_string(), "2.66");
        assert_eq!(cents(d("-2.675")).to_string(), "-2.68");
        assert_eq!(cents(d("-0.006")).to_string(), "-0.01");
        assert_eq!(cents(d("12")).to_string(), "12.00");
    }

    #[test]
    fn money_is_cents_with_thousands_separated() {
        assert_eq!(money(d("-1234567.891")), "-1,234,567.89");
        assert_eq!(money(d("1234567.895")), "1,234,567.90");
        assert_eq!(money(d("999.995")), "1,000.00");
        assert_eq!(money(d("0.005")), "0.00", "half to even");
        assert_eq!(money(d("0.015")), "0.02", "half to even");
        assert_eq!(money(d("-0.001")), "0.00", "no negative zero");
        assert_eq!(money(d("100")), "100.00");
        assert_eq!(money(d("-100000")), "-100,000.00");
    }

    #[test]
    fn fixed_and_grouping() {
        assert_eq!(fixed(d("1234.5"), 0), "1,234");
        assert_eq!(fixed(d("1235.5"), 0), "1,236");
        assert_eq!(fixed(d("-12.3456"), 3), "-12.346");
        assert_eq!(group_thousands(""), "");
        assert_eq!(group_thousands("123"), "123");
        assert_eq!(group_thousands("1234"), "1,234");
        assert_eq!(group_thousands("123456"), "123,456");
        assert_eq!(group_thousands("1234567"), "1,234,567");
    }
}
