//! The rules of the contract fields every position reader shares (the
//! native drop and the Flex reports): one rule, one place.

use exfee_model::{Decimal, InputError};

use crate::csvin::Row;

impl Row<'_> {
    /// A price (`mark`, `MarkPrice`, an underlying's `price`): a decimal,
    /// never negative.
    pub(crate) fn price(&self, column: &str) -> Result<Decimal, InputError> {
        let price = self.decimal(column)?;
        if price < Decimal::ZERO {
            return Err(self.error(column, format!("negative price {price}")));
        }
        Ok(price)
    }

    /// An option's strike: a decimal, never negative.
    pub(crate) fn strike(&self, column: &str) -> Result<Decimal, InputError> {
        let strike = self.decimal(column)?;
        if strike < Decimal::ZERO {
            return Err(self.error(column, format!("negative strike {strike}")));
        }
        Ok(strike)
    }

    /// A contract multiplier: positive; empty means 1.
    pub(crate) fn multiplier(&self, column: &str) -> Result<Decimal, InputError> {
        match self.optional_decimal(column)? {
            None => Ok(Decimal::ONE),
            Some(m) if m > Decimal::ZERO => Ok(m),
            Some(m) if m.is_zero() => Err(self.error(column, "zero multiplier")),
            Some(m) => Err(self.error(column, format!("negative multiplier {m}"))),
        }
    }
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
}
