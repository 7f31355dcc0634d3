//! The rules of a record's fields, whatever carries the record: a row of a
//! drop's CSV file ([`crate::csvin`]), a row of a Flex report, or an order
//! the what-if service receives as JSON. One rule, one place: every reader
//! reads its fields through [`Fields`], and a position through
//! [`read_position`](crate::read_position).

use std::str::FromStr;

use chrono::NaiveDate;
use exfee_model::{Currency, Decimal, InputError};

use crate::csvin::{MAX_FIELD_BYTES, parse_decimal};

/// A record's fields by column name, and how its errors are placed (file,
/// line, column). An implementation gives the raw text of a column and the
/// error of a column; every rule on top (trimming, required values, numbers,
/// currencies, dates, prices, strikes, multipliers) is the trait's, the same
/// for every implementation.
pub trait Fields {
    /// The text of `column` as given (not trimmed); empty when the record
    /// has no such column. An error when the field is not text (UTF-8).
    ///
    /// # Errors
    ///
    /// [`InputError`] of the column when its bytes are not text.
    fn raw(&self, column: &str) -> Result<&str, InputError>;

    /// An error about one column of this record.
    fn error(&self, column: &str, reason: impl Into<String>) -> InputError;

    /// The text of a column, spaces around it trimmed; empty when the column
    /// is not in the record.
    ///
    /// # Errors
    ///
    /// As [`Fields::raw`].
    fn text(&self, column: &str) -> Result<&str, InputError> {
        self.raw(column).map(str::trim)
    }

    /// A non-empty text.
    ///
    /// # Errors
    ///
    /// `missing value` when empty.
    fn required(&self, column: &str) -> Result<&str, InputError> {
        let text = self.text(column)?;
        if text.is_empty() {
            Err(self.error(column, "missing value"))
        } else {
            Ok(text)
        }
    }

    /// A currency code.
    ///
    /// # Errors
    ///
    /// When missing or not a currency code.
    fn currency(&self, column: &str) -> Result<Currency, InputError> {
        let text = self.required(column)?;
        Currency::from_str(text).map_err(|e| self.error(column, e.to_string()))
    }

    /// A decimal number (plain notation, `.` as decimal point).
    ///
    /// # Errors
    ///
    /// When missing or not a plain decimal.
    fn decimal(&self, column: &str) -> Result<Decimal, InputError> {
        let text = self.required(column)?;
        parse_decimal(text).map_err(|reason| self.error(column, reason))
    }

    /// A decimal, or `None` when empty.
    ///
    /// # Errors
    ///
    /// When given and not a plain decimal.
    fn optional_decimal(&self, column: &str) -> Result<Option<Decimal>, InputError> {
        if self.text(column)?.is_empty() {
            Ok(None)
        } else {
            self.decimal(column).map(Some)
        }
    }

    /// A finite f64 given in plain decimal notation.
    ///
    /// # Errors
    ///
    /// When missing, not a plain decimal or out of f64's range.
    fn number(&self, column: &str) -> Result<f64, InputError> {
        use rust_decimal::prelude::ToPrimitive;
        let value = self.decimal(column)?;
        value
            .to_f64()
            .ok_or_else(|| self.error(column, format!("{value} is out of range")))
    }

    /// A number, or `None` when empty.
    ///
    /// # Errors
    ///
    /// As [`Fields::number`] when given.
    fn optional_number(&self, column: &str) -> Result<Option<f64>, InputError> {
        if self.text(column)?.is_empty() {
            Ok(None)
        } else {
            self.number(column).map(Some)
        }
    }

    /// A date, `YYYY-MM-DD` (or `YYYYMMDD`), or `None` when empty.
    ///
    /// # Errors
    ///
    /// When given and not a date.
    fn optional_date(&self, column: &str) -> Result<Option<NaiveDate>, InputError> {
        let text = self.text(column)?;
        if text.is_empty() {
            return Ok(None);
        }
        let compact = text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit());
        let format = if compact { "%Y%m%d" } else { "%Y-%m-%d" };
        NaiveDate::parse_from_str(text, format)
            .map(Some)
            .map_err(|_| self.error(column, format!("{text:?} is not a date (YYYY-MM-DD)")))
    }

    /// A price (`mark`, `MarkPrice`, an underlying's `price`): a decimal,
    /// never negative.
    ///
    /// # Errors
    ///
    /// When not a decimal, or negative.
    fn price(&self, column: &str) -> Result<Decimal, InputError> {
        let price = self.decimal(column)?;
        if price < Decimal::ZERO {
            return Err(self.error(column, format!("negative price {price}")));
        }
        Ok(price)
    }

    /// An option's strike: a decimal, never negative.
    ///
    /// # Errors
    ///
    /// When not a decimal, or negative.
    fn strike(&self, column: &str) -> Result<Decimal, InputError> {
        let strike = self.decimal(column)?;
        if strike < Decimal::ZERO {
            return Err(self.error(column, format!("negative strike {strike}")));
        }
        Ok(strike)
    }

    /// A contract multiplier: positive; empty means 1.
    ///
    /// # Errors
    ///
    /// When not a decimal, zero or negative.
    fn multiplier(&self, column: &str) -> Result<Decimal, InputError> {
        match self.optional_decimal(column)? {
            None => Ok(Decimal::ONE),
            Some(m) if m > Decimal::ZERO => Ok(m),
            Some(m) if m.is_zero() => Err(self.error(column, "zero multiplier")),
            Some(m) => Err(self.error(column, format!("negative multiplier {m}"))),
        }
    }
}

/// Why a field of `text` is refused for its length, as the CSV reader
/// refuses it (a field over [`MAX_FIELD_BYTES`]: the row is not read);
/// `None` when it is short enough. For records that do not come through
/// the CSV reader (a what-if order) but must be refused as it would.
pub fn oversize_reason(text: &str) -> Option<String> {
    (text.len() > MAX_FIELD_BYTES).then(crate::csvin::oversize_field_reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csvin::with_test_row;

    #[test]
    fn prices_strikes_and_multipliers() {
        let check = |fields: [&str; 3]| {
            with_test_row(&["mark", "strike", "multiplier"], &fields, |row| {
                let show = |r: Result<Decimal, InputError>| r.map_err(|e| e.to_string());
                (
                    show(row.price("mark")),
                    show(row.strike("strike")),
                    show(row.multiplier("multiplier")),
                )
            })
        };
        let d = |s: &str| Decimal::from_str_exact(s).unwrap();
        assert_eq!(
            check(["0", "12.5", ""]),
            (Ok(Decimal::ZERO), Ok(d("12.5")), Ok(Decimal::ONE))
        );
        assert_eq!(
            check(["-0.01", "-5", "0"]),
            (
                Err("p.csv line 2 column 1 (mark): negative price -0.01".into()),
                Err("p.csv line 2 column 2 (strike): negative strike -5".into()),
                Err("p.csv line 2 column 3 (multiplier): zero multiplier".into()),
            )
        );
        assert_eq!(
            check(["1", "1", "-100"]).2,
            Err("p.csv line 2 column 3 (multiplier): negative multiplier -100".into())
        );
    }

    #[test]
    fn a_field_is_too_long_past_the_csv_readers_limit_only() {
        assert_eq!(oversize_reason(&"x".repeat(MAX_FIELD_BYTES)), None);
        let reason = oversize_reason(&"x".repeat(MAX_FIELD_BYTES + 1)).unwrap();
        assert!(
            reason.starts_with("field longer than 65536 bytes"),
            "{reason}"
        );
    }
}
