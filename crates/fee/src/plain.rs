//! Decimals in a fee schedule, read by the one number rule of exfee
//! ([`exfee_model::parse_plain_decimal`]): a TOML integer, a TOML float (its
//! shortest decimal form) or a string holding a plain decimal. A string such
//! as `"5_00"` is refused (`rust_decimal`'s own reader would take it as 500).

use rust_decimal::Decimal;
use serde::de::{Deserializer, Error, Visitor};

struct PlainDecimal;

impl Visitor<'_> for PlainDecimal {
    type Value = Decimal;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a plain decimal number (like 0.05 or \"1234.56\")")
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<Decimal, E> {
        if !v.is_finite() {
            return Err(E::custom(format!("{v} is not a finite number")));
        }
        exfee_model::parse_plain_decimal(&v.to_string()).map_err(E::custom)
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Decimal, E> {
        exfee_model::parse_plain_decimal(v.trim()).map_err(E::custom)
    }
}

/// `#[serde(deserialize_with = "plain::decimal")]`.
pub(crate) fn decimal<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    deserializer.deserialize_any(PlainDecimal)
}

/// `#[serde(default, deserialize_with = "plain::optional")]`: the field is
/// `None` only when left out.
pub(crate) fn optional<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Decimal>, D::Error> {
    deserializer.deserialize_any(PlainDecimal).map(Some)
}
