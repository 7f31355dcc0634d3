use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::{Currency, InputError};

/// How a symbol moves: its primary factor (by name, as in the factor table),
/// its beta to that factor, and its own (idiosyncratic) volatility.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorMapping {
    /// Primary factor name, e.g. `Equity` or `Oil (Crude Oil)`.
    pub factor: String,
    /// Sensitivity to the factor's relative move.
    pub beta: f64,
    /// Annualised own volatility: `None` means the documented single-stock
    /// default; `Some(0.0)` means the symbol has no move of its own and is not
    /// a single stock.
    pub idio_vol: Option<f64>,
}

impl FactorMapping {
    /// Whether the symbol is a single stock (it has a move of its own).
    pub fn is_single_stock(&self) -> bool {
        self.idio_vol != Some(0.0)
    }
}

/// An option underlying's market data (`market/underlyings.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct Underlying {
    /// Quote currency.
    pub currency: Currency,
    /// Price of one unit.
    pub price: Decimal,
    /// Implied volatility (decimal fraction), when given.
    pub implied_vol: Option<f64>,
    /// Continuous dividend yield (decimal fraction).
    pub dividend_yield: f64,
}

/// Why market data cannot value something.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MarketError {
    /// `market/fx.csv` has no row for the currency.
    #[error("unknown currency {0}: no FX rate in market/fx.csv")]
    NoFxRate(Currency),
    /// The currency's row in `market/fx.csv` is bad.
    #[error("no usable FX rate for {currency}: {source}")]
    BadFxRate {
        /// The currency.
        currency: Currency,
        /// What was wrong with its row.
        source: InputError,
    },
}

/// The market data of a run. Each entry is either a valid value or the error
/// of the row that should have given it, so that a bad row fails exactly the
/// accounts that need it.
#[derive(Debug, Clone, Default)]
pub struct MarketData {
    /// USD per unit of each currency (USD itself is always 1).
    pub fx: BTreeMap<Currency, Result<Decimal, InputError>>,
    /// Symbol → factor mapping (`market/factors.csv`).
    pub factors: BTreeMap<String, Result<FactorMapping, InputError>>,
    /// Option underlyings (`market/underlyings.csv`).
    pub underlyings: BTreeMap<String, Result<Underlying, InputError>>,
    /// Continuously compounded rate per currency (`market/rates.csv`).
    pub rates: BTreeMap<Currency, Result<f64, InputError>>,
}

impl MarketData {
    /// Market data with just these FX rates (USD per unit).
    ///
    /// # Examples
    ///
    /// ```
    /// use exfee_model::{Currency, Decimal, MarketData};
    /// let eur: Currency = "EUR".parse().unwrap();
    /// let market = MarketData::with_fx([(eur, Decimal::new(140, 2))]);
    /// assert_eq!(market.fx_rate(eur, Currency::USD).unwrap(), Decimal::new(140, 2));
    /// ```
    pub fn with_fx(rates: impl IntoIterator<Item = (Currency, Decimal)>) -> Self {
        MarketData {
            fx: rates.into_iter().map(|(c, r)| (c, Ok(r))).collect(),
            ..MarketData::default()
        }
    }

    /// USD per unit of `currency`.
    ///
    /// # Errors
    ///
    /// [`MarketError::NoFxRate`] when there is no row for the currency,
    /// [`MarketError::BadFxRate`] when its row was invalid.
    pub fn usd_per_unit(&self, currency: Currency) -> Result<Decimal, MarketError> {
        match self.fx.get(&currency) {
            Some(Ok(rate)) => Ok(*rate),
            Some(Err(source)) => Err(MarketError::BadFxRate {
                currency,
                source: source.clone(),
            }),
            None if currency == Currency::USD => Ok(Decimal::ONE),
            None => Err(MarketError::NoFxRate(currency)),
        }
    }

    /// Units of `to` per unit of `from`.
    ///
    /// # Errors
    ///
    /// As [`MarketData::usd_per_unit`], for either currency.
    pub fn fx_rate(&self, from: Currency, to: Currency) -> Result<Decimal, MarketError> {
        if from == to {
            return Ok(Decimal::ONE);
        }
        let from_usd = self.usd_per_unit(from)?;
        let to_usd = self.usd_per_unit(to)?;
        // Rates are validated positive when read; a zero here would be a bug
        // in the reader, so it is reported rather than divided by.
        from_usd
            .checked_div(to_usd)
            .ok_or(MarketError::NoFxRate(to))
    }
}
