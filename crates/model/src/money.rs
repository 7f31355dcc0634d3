//! The one rounding of money to cents, used by every crate that shows or
//! stores an amount.

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
}
