use std::collections::BTreeSet;

use rust_decimal::Decimal;

use crate::Currency;

/// A stress range in percent, e.g. −30 / +20.
#[derive(Debug, Copy, Clone, PartialEq, Eq)]
pub struct Bounds {
    /// Lower bound in percent (≤ 0, ≥ −100).
    pub lower_pct: Decimal,
    /// Upper bound in percent (≥ 0).
    pub upper_pct: Decimal,
}

impl Bounds {
    /// Checks −100 ≤ lower ≤ 0 ≤ upper and lower < upper.
    ///
    /// # Errors
    ///
    /// [`FactorTableError::BadBounds`] naming `what` when they do not hold.
    pub fn new(
        what: &str,
        lower_pct: Decimal,
        upper_pct: Decimal,
    ) -> Result<Self, FactorTableError> {
        if lower_pct < Decimal::from(-100)
            || lower_pct > Decimal::ZERO
            || upper_pct < Decimal::ZERO
            || lower_pct >= upper_pct
        {
            return Err(FactorTableError::BadBounds {
                what: what.to_string(),
                lower: lower_pct,
                upper: upper_pct,
            });
        }
        Ok(Bounds {
            lower_pct,
            upper_pct,
        })
    }

    /// Lower bound as a fraction (−0.30 for −30 %).
    pub fn lower(&self) -> f64 {
        pct_to_fraction(self.lower_pct)
    }

    /// Upper bound as a fraction (0.20 for +20 %).
    pub fn upper(&self) -> f64 {
        pct_to_fraction(self.upper_pct)
    }
}

fn pct_to_fraction(pct: Decimal) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    // A division by 100 cannot overflow; checked all the same (no panic path).
    pct.checked_div(Decimal::ONE_HUNDRED)
        .and_then(|fraction| fraction.to_f64())
        .unwrap_or(0.0)
}

/// A primary risk factor: a named market move represented by an index, ETF or
/// future, with its stress bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryFactor {
    /// Factor name, e.g. `Equity` (the key used by `market/factors.csv`).
    pub name: String,
    /// The representative product, e.g. `S&P 500 Index`.
    pub representative: String,
    /// The representative symbol, e.g. `SPX`.
    pub symbol: String,
    /// Stress bounds.
    pub bounds: Bounds,
}

/// Why a factor table is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactorTableError {
    /// Bounds out of order or out of range.
    #[error(
        "bad bounds for {what}: lower {lower}%, upper {upper}% (need -100 <= lower <= 0 <= upper, lower < upper)"
    )]
    BadBounds {
        /// The factor or currency.
        what: String,
        /// Lower bound read.
        lower: Decimal,
        /// Upper bound read.
        upper: Decimal,
    },
    /// Two rows for one name, symbol or currency.
    #[error("{0} appears twice in the factor table")]
    Duplicate(String),
    /// No row with an empty symbol (the single-stock bounds).
    #[error(
        "no single-stock row (a row with an empty symbol, e.g. 'Individual Stocks') in the factor table"
    )]
    NoSingleStockRow,
    /// More than one row with an empty symbol.
    #[error("more than one row with an empty symbol: {0} and {1}")]
    TwoSingleStockRows(String, String),
}

/// The primary factors and the single-stock bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorTable {
    factors: Vec<PrimaryFactor>,
    single_stock_name: String,
    single_stock: Bounds,
}

impl FactorTable {
    /// Builds a table from its rows. The one row with an empty symbol (e.g.
    /// `Individual Stocks`) gives the single-stock bounds; every other row is
    /// a primary factor.
    ///
    /// # Errors
    ///
    /// [`FactorTableError`] for duplicate names or symbols, or a missing or
    /// doubled single-stock row.
    pub fn new(rows: Vec<PrimaryFactor>) -> Result<Self, FactorTableError> {
        let mut names = BTreeSet::new();
        let mut symbols = BTreeSet::new();
        let mut single: Option<(String, Bounds)> = None;
        let mut factors = Vec::new();
        for row in rows {
            if !names.insert(row.name.clone()) {
                return Err(FactorTableError::Duplicate(row.name));
            }
            if row.symbol.is_empty() {
                if let Some((first, _)) = &single {
                    return Err(FactorTableError::TwoSingleStockRows(
                        first.clone(),
                        row.name,
                    ));
                }
                single = Some((row.name, row.bounds));
                continue;
            }
            if !symbols.insert(row.symbol.clone()) {
                return Err(FactorTableError::Duplicate(row.symbol));
            }
            factors.push(row);
        }
        let (single_stock_name, single_stock) = single.ok_or(FactorTableError::NoSingleStockRow)?;
        Ok(FactorTable {
            factors,
            single_stock_name,
            single_stock,
        })
    }

    /// The primary factors, in table order.
    pub fn factors(&self) -> &[PrimaryFactor] {
        &self.factors
    }

    /// The bounds of a single stock's total move.
    pub fn single_stock_bounds(&self) -> Bounds {
        self.single_stock
    }

    /// The name of the single-stock row (e.g. `Individual Stocks`).
    pub fn single_stock_name(&self) -> &str {
        &self.single_stock_name
    }

    /// Index of the factor with this name.
    pub fn index_of_name(&self, name: &str) -> Option<usize> {
        self.factors.iter().position(|f| f.name == name)
    }

    /// Index of the factor whose representative symbol is `symbol`.
    pub fn index_of_symbol(&self, symbol: &str) -> Option<usize> {
        self.factors.iter().position(|f| f.symbol == symbol)
    }
}

/// A currency's stress bounds against any base currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FxFactor {
    /// The currency.
    pub currency: Currency,
    /// Stress bounds of its value against the account's base currency.
    pub bounds: Bounds,
}

/// The FX stress table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FxTable {
    currencies: Vec<FxFactor>,
}

impl FxTable {
    /// Builds the table.
    ///
    /// # Errors
    ///
    /// [`FactorTableError::Duplicate`] when a currency appears twice.
    pub fn new(rows: Vec<FxFactor>) -> Result<Self, FactorTableError> {
        let mut seen = BTreeSet::new();
        for row in &rows {
            if !seen.insert(row.currency) {
                return Err(FactorTableError::Duplicate(row.currency.to_string()));
            }
        }
        Ok(FxTable { currencies: rows })
    }

    /// The rows, in table order.
    pub fn currencies(&self) -> &[FxFactor] {
        &self.currencies
    }

    /// Index of a currency's row.
    pub fn index_of(&self, currency: Currency) -> Option<usize> {
        self.currencies.iter().position(|f| f.currency == currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn row(name: &str, symbol: &str, lo: &str, hi: &str) -> PrimaryFactor {
        PrimaryFactor {
            name: name.into(),
            representative: String::new(),
            symbol: symbol.into(),
            bounds: Bounds::new(name, pct(lo), pct(hi)).unwrap(),
        }
    }

    #[test]
    fn single_stock_row_is_split_out() {
        let table = FactorTable::new(vec![
            row("Equity", "SPX", "-30", "20"),
            row("Individual Stocks", "", "-50", "50"),
            row("Crypto", "NYXBT", "-100", "93.9"),
        ])
        .unwrap();
        assert_eq!(table.factors().len(), 2);
        assert_eq!(table.single_stock_bounds().lower(), -0.5);
        assert_eq!(table.index_of_symbol("NYXBT"), Some(1));
        assert!((table.factors()[1].bounds.upper() - 0.939).abs() < 1e-15);
    }

    #[test]
    fn rejects_bad_tables() {
        assert!(Bounds::new("x", pct("5"), pct("10")).is_err());
        assert!(Bounds::new("x", pct("-101"), pct("10")).is_err());
        assert!(Bounds::new("x", pct("0"), pct("0")).is_err());
        assert_eq!(
            FactorTable::new(vec![row("Equity", "SPX", "-30", "20")]),
            Err(FactorTableError::NoSingleStockRow)
        );
        assert!(matches!(
            FactorTable::new(vec![
                row("Equity", "SPX", "-30", "20"),
                row("Equity", "ES", "-30", "20"),
                row("Individual Stocks", "", "-50", "50"),
            ]),
            Err(FactorTableError::Duplicate(_))
        ));
    }
}
