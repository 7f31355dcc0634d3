use std::collections::HashMap;

use exfee_model::{AssetClass, Currency, FactorMapping, FactorTable, InputError, MarketData};
use rayon::prelude::*;

/// The documented default annualised own volatility of a single stock whose
/// `idio_vol` is empty or that is not in `market/factors.csv` (see
/// `docs/methodology.md`): the scenario sets' reference own volatility, one
/// constant in `exfee-scenarios`. Fixed stress moves do not use it; Monte
/// Carlo draws do.
pub use exfee_scenarios::DEFAULT_IDIO_VOL;

/// What moves a symbol: a primary factor with a beta, and for a single stock
/// its own move as well.
#[derive(Debug, Clone, PartialEq)]
pub struct Driver {
    /// Index of the primary factor in the factor table.
    pub factor: usize,
    /// Sensitivity to the factor's relative move.
    pub beta: f64,
    /// `Some(idio_vol)` for a single stock (a symbol with a move of its own).
    pub single_stock: Option<f64>,
}

/// The factor a symbol maps to when `market/factors.csv` does not name it
/// and it is not itself a factor's representative symbol: by asset class and
/// currency. Returns the first of the preferred names that the table has.
///
/// | class | currency → factor |
/// |---|---|
/// | stocks, options, futures, futures options | USD → Equity, EUR → European Equity, GBP → United Kingdom Equity, JPY → Japanese Equity, HKD → Hong Kong Equity, AUD → Australia Equity, KRW → Korean Equity, CNY/CNH → Mainland China Equity, INR → Indian Equity; otherwise, or when the table lacks it, Equity |
/// | bonds | USD → Treasury, EUR → EuroBund, JPY → JGB, others → Treasury2; otherwise Treasury |
/// | crypto | Crypto |
pub fn default_factor_name(
    class: AssetClass,
    currency: Currency,
    table: &FactorTable,
) -> Option<&str> {
    let preferred: &[&str] = match class {
        AssetClass::Crypto => &["Crypto"],
        AssetClass::Bond => match currency.as_str() {
            "USD" => &["Treasury"],
            "EUR" => &["EuroBund", "Treasury2", "Treasury"],
            "JPY" => &["JGB", "Treasury2", "Treasury"],
            _ => &["Treasury2", "Treasury"],
        },
        AssetClass::Stock | AssetClass::Option | AssetClass::Future | AssetClass::FutureOption => {
            match currency.as_str() {
                "EUR" => &["European Equity", "Equity"],
                "GBP" => &["United Kingdom Equity", "Equity"],
                "JPY" => &["Japanese Equity", "Equity"],
                "HKD" => &["Hong Kong Equity", "Equity"],
                "AUD" => &["Australia Equity", "Equity"],
                "KRW" => &["Korean Equity", "Equity"],
                "CNY" | "CNH" => &["Mainland China Equity", "Equity"],
                "INR" => &["Indian Equity", "Equity"],
                _ => &["Equity"],
            }
        }
    };
    preferred
        .iter()
        .find(|name| table.index_of_name(name).is_some())
        .copied()
}

/// Maps the symbol that drives a holding (`risk_symbol`, held through an
/// instrument of `class` quoted in `currency`) to its [`Driver`]:
///
/// 1. its row in `market/factors.csv`, when there is one;
/// 2. otherwise, when it is a primary factor's representative symbol (`SPX`,
///    `CL`, `TLT` …), that factor with beta 1 and no move of its own;
/// 3. otherwise the default of [`default_factor_name`] with beta 1; stocks
///    and stock options are then single stocks with [`DEFAULT_IDIO_VOL`],
///    everything else has no move of its own.
///
/// # Errors
///
/// The mapping row's own error when that row was bad; otherwise an error in
/// words when the row names a factor the table does not have, or no default
/// factor exists in the table.
pub fn resolve_symbol(
    risk_symbol: &str,
    class: AssetClass,
    currency: Currency,
    market: &MarketData,
    table: &FactorTable,
) -> Result<Driver, InputError> {
    if let Some(mapping) = market.factors.get(risk_symbol) {
        return resolve_mapping(risk_symbol, mapping, table);
    }
    if let Some(factor) = table.index_of_symbol(risk_symbol) {
        return Ok(representative(factor));
    }
    resolve_default(risk_symbol, class, currency, table)
}

/// Step 1 of [`resolve_symbol`]: the symbol's row of `market/factors.csv`.
fn resolve_mapping(
    risk_symbol: &str,
    mapping: &Result<FactorMapping, InputError>,
    table: &FactorTable,
) -> Result<Driver, InputError> {
    let mapping = mapping.as_ref().map_err(InputError::clone)?;
    let factor = table.index_of_name(&mapping.factor).ok_or_else(|| {
        InputError::new(format!(
            "symbol {risk_symbol} is mapped to factor '{}', which the factor table does not have",
            mapping.factor
        ))
    })?;
    let single_stock = mapping
        .is_single_stock()
        .then(|| mapping.idio_vol.unwrap_or(DEFAULT_IDIO_VOL));
    Ok(Driver {
        factor,
        beta: mapping.beta,
        single_stock,
    })
}

/// Step 2 of [`resolve_symbol`]: a factor's representative symbol.
fn representative(factor: usize) -> Driver {
    Driver {
        factor,
        beta: 1.0,
        single_stock: None,
    }
}

/// Step 3 of [`resolve_symbol`]: the default factor of the class and
/// currency.
fn resolve_default(
    risk_symbol: &str,
    class: AssetClass,
    currency: Currency,
    table: &FactorTable,
) -> Result<Driver, InputError> {
    let name = default_factor_name(class, currency, table).ok_or_else(|| {
        InputError::new(format!(
            "symbol {risk_symbol} ({} in {currency}) has no factor mapping and the factor table has no default factor for it",
            class.code()
        ))
    })?;
    let factor = table
        .index_of_name(name)
        .ok_or_else(|| InputError::new(format!("default factor '{name}' missing")))?;
    Ok(default_driver(factor, class))
}

/// The driver of a symbol that takes the default factor `factor`.
fn default_driver(factor: usize, class: AssetClass) -> Driver {
    let single_stock =
        matches!(class, AssetClass::Stock | AssetClass::Option).then_some(DEFAULT_IDIO_VOL);
    Driver {
        factor,
        beta: 1.0,
        single_stock,
    }
}

/// Every asset class (the defaults [`Resolver`] finds once).
const CLASSES: [AssetClass; 6] = [
    AssetClass::Stock,
    AssetClass::Future,
    AssetClass::Option,
    AssetClass::FutureOption,
    AssetClass::Bond,
    AssetClass::Crypto,
];

/// [`resolve_symbol`] for the many positions of one batch, with the same
/// results: each row of `market/factors.csv` resolved once, the symbols
/// (mapped, and the factors' representative ones) found by hash instead of
/// a tree walk and string scans per position, the default factor of each
/// class and currency the batch's FX rates name found once.
pub(crate) struct Resolver<'a> {
    table: &'a FactorTable,
    mapped: HashMap<&'a str, Result<Driver, InputError>, foldhash::fast::FixedState>,
    representative: HashMap<&'a str, usize, foldhash::fast::FixedState>,
    defaults: HashMap<(AssetClass, Currency), usize, foldhash::fast::FixedState>,
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(market: &'a MarketData, table: &'a FactorTable) -> Self {
        let mapped = market
            .factors
            .iter()
            .map(|(symbol, mapping)| (symbol.as_str(), resolve_mapping(symbol, mapping, table)))
            .collect();
        let mut representative = HashMap::default();
        for (index, factor) in table.factors().iter().enumerate() {
            // The first factor with the symbol, as `index_of_symbol`.
            representative
                .entry(factor.symbol.as_str())
                .or_insert(index);
        }
        let mut defaults = HashMap::default();
        for &currency in market.fx.keys() {
            for class in CLASSES {
                if let Some(factor) = default_factor_name(class, currency, table)
                    .and_then(|name| table.index_of_name(name))
                {
                    defaults.insert((class, currency), factor);
                }
            }
        }
        Resolver {
            table,
            mapped,
            representative,
            defaults,
        }
    }

    /// [`resolve_symbol`] of the resolver's market and table.
    pub(crate) fn resolve(
        &self,
        risk_symbol: &str,
        class: AssetClass,
        currency: Currency,
    ) -> Result<Driver, InputError> {
        if let Some(driver) = self.mapped.get(risk_symbol) {
            return driver.clone();
        }
        if let Some(&factor) = self.representative.get(risk_symbol) {
            return Ok(representative(factor));
        }
        match self.defaults.get(&(class, currency)) {
            Some(&factor) => Ok(default_driver(factor, class)),
            None => resolve_default(risk_symbol, class, currency, self.table),
        }
    }
}

/// The single stocks that the valid position rows of `batch` hold (accounts
/// with input errors left out), sorted by symbol: what a scenario set for the
/// batch must move. It depends only on the inputs, not on which accounts are
/// evaluated, so every shard of a batch builds the same set.
pub fn single_stocks(
    batch: &exfee_model::Batch,
    table: &FactorTable,
) -> Vec<exfee_scenarios::SingleStock> {
    let resolver = Resolver::new(&batch.market, table);
    // Each account's single-stock positions (symbol, own volatility), in
    // parallel; then the first of each symbol in input order, sorted.
    let held: Vec<Vec<(&str, f64)>> = batch
        .accounts
        .par_iter()
        .map(|account| {
            if !account.errors.is_empty() {
                return Vec::new();
            }
            let mut stocks: Vec<(&str, f64)> = Vec::new();
            for position in &account.positions {
                let instrument = &position.instrument;
                let symbol = instrument.risk_symbol();
                if stocks.last().is_some_and(|&(last, _)| last == symbol) {
                    continue; // the same stock again: the first counts
                }
                if let Ok(Driver {
                    single_stock: Some(idio_vol),
                    ..
                }) = resolver.resolve(symbol, instrument.asset_class(), instrument.currency)
                {
                    stocks.push((symbol, idio_vol));
                }
            }
            stocks
        })
        .collect();
    let mut first: HashMap<&str, f64, foldhash::fast::FixedState> = HashMap::default();
    for (symbol, idio_vol) in held.into_iter().flatten() {
        first.entry(symbol).or_insert(idio_vol);
    }
    let mut stocks: Vec<exfee_scenarios::SingleStock> = first
        .into_iter()
        .map(|(symbol, idio_vol)| exfee_scenarios::SingleStock {
            symbol: symbol.to_string(),
            idio_vol,
        })
        .collect();
    stocks.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    stocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use exfee_model::{Bounds, Decimal, PrimaryFactor};

    /// The resolver gives what `resolve_symbol` gives, for mapped symbols
    /// (good, bad, naming an unknown factor), representative symbols and
    /// defaults of every class, in currencies with and without an FX rate.
    #[test]
    fn the_resolver_resolves_as_resolve_symbol() {
        let factor = |name: &str, symbol: &str| PrimaryFactor {
            name: name.into(),
            representative: String::new(),
            symbol: symbol.into(),
            bounds: Bounds::new(name, Decimal::from(-30), Decimal::from(20)).unwrap(),
        };
        let table = FactorTable::new(vec![
            factor("Equity", "SPX"),
            factor("European Equity", "SX5E"),
            factor("Treasury", "TLT"),
            factor("JGB", "JGB"),
            factor("Crypto", "BTC"),
            factor("Individual Stocks", ""),
        ])
        .unwrap();
        let (eur, jpy, chf): (Currency, Currency, Currency) = (
            "EUR".parse().unwrap(),
            "JPY".parse().unwrap(),
            "CHF".parse().unwrap(),
        );
        let mut market = MarketData::with_fx([(eur, Decimal::ONE), (jpy, Decimal::ONE)]);
        let mapping = |factor: &str, beta: f64, idio_vol: Option<f64>| {
            Ok(FactorMapping {
                factor: factor.into(),
                beta,
                idio_vol,
            })
        };
        market
            .factors
            .insert("AAPL".into(), mapping("Equity", 1.2, Some(0.3)));
        market
            .factors
            .insert("SAP".into(), mapping("European Equity", 0.9, None));
        market
            .factors
            .insert("ETF".into(), mapping("Equity", 1.0, Some(0.0)));
        market
            .factors
            .insert("ODD".into(), mapping("Moon", 1.0, None));
        market
            .factors
            .insert("BAD".into(), Err(InputError::new("a bad row")));
        let resolver = Resolver::new(&market, &table);
        let mut checked = 0;
        for symbol in [
            "AAPL", "SAP", "ETF", "ODD", "BAD", "SPX", "TLT", "BTC", "XYZ", "",
        ] {
            for class in CLASSES {
                for currency in [Currency::USD, eur, jpy, chf] {
                    assert_eq!(
                        resolver.resolve(symbol, class, currency),
                        resolve_symbol(symbol, class, currency, &market, &table),
                        "{symbol} {class:?} {currency}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 10 * 6 * 4);
        // What the cases are, worked out by hand from the three steps.
        let usd = Currency::USD;
        assert_eq!(
            resolver.resolve("SPX", AssetClass::Option, usd),
            Ok(Driver {
                factor: 0,
                beta: 1.0,
                single_stock: None
            })
        );
        assert_eq!(
            resolver
                .resolve("XYZ", AssetClass::Bond, jpy)
                .unwrap()
                .factor,
            3
        );
        assert_eq!(
            resolver.resolve("XYZ", AssetClass::Stock, eur),
            Ok(Driver {
                factor: 1,
                beta: 1.0,
                single_stock: Some(DEFAULT_IDIO_VOL)
            })
        );
        assert_eq!(
            resolver.resolve("SAP", AssetClass::Future, usd),
            Ok(Driver {
                factor: 1,
                beta: 0.9,
                single_stock: Some(DEFAULT_IDIO_VOL)
            })
        );
        assert_eq!(
            resolver.resolve("BAD", AssetClass::Stock, usd),
            Err(InputError::new("a bad row"))
        );
    }
}
