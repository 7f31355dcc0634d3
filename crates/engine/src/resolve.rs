use std::collections::HashMap;

use exfee_model::{AssetClass, Currency, FactorTable, InputError, MarketData};

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
        return Ok(Driver {
            factor,
            beta: mapping.beta,
            single_stock,
        });
    }
    if let Some(factor) = table.index_of_symbol(risk_symbol) {
        return Ok(Driver {
            factor,
            beta: 1.0,
            single_stock: None,
        });
    }
    let name = default_factor_name(class, currency, table).ok_or_else(|| {
        InputError::new(format!(
            "symbol {risk_symbol} ({} in {currency}) has no factor mapping and the factor table has no default factor for it",
            class.code()
        ))
    })?;
    let factor = table
        .index_of_name(name)
        .ok_or_else(|| InputError::new(format!("default factor '{name}' missing")))?;
    let single_stock =
        matches!(class, AssetClass::Stock | AssetClass::Option).then_some(DEFAULT_IDIO_VOL);
    Ok(Driver {
        factor,
        beta: 1.0,
        single_stock,
    })
}

/// The single stocks that the valid position rows of `batch` hold (accounts
/// with input errors left out), sorted by symbol: what a scenario set for the
/// batch must move. It depends only on the inputs, not on which accounts are
/// evaluated, so every shard of a batch builds the same set.
pub fn single_stocks(
    batch: &exfee_model::Batch,
    table: &FactorTable,
) -> Vec<exfee_scenarios::SingleStock> {
    // Per symbol, the volatility of the first position (in input order)
    // that resolves it as a single stock, as a stable sort by symbol and a
    // dedup keeping the first would give; once a symbol is in, later
    // positions on it cannot change it and are not resolved again (1.8 M
    // positions, 5,800 stocks at 100k accounts: no string copied or sorted
    // per position).
    let mut first: HashMap<&str, f64> = HashMap::new();
    for account in batch.accounts.iter().filter(|a| a.errors.is_empty()) {
        for position in &account.positions {
            let instrument = &position.instrument;
            let symbol = instrument.risk_symbol();
            if first.contains_key(symbol) {
                continue;
            }
            if let Ok(Driver {
                single_stock: Some(idio_vol),
                ..
            }) = resolve_symbol(
                symbol,
                instrument.asset_class(),
                instrument.currency,
                &batch.market,
                table,
            ) {
                first.insert(symbol, idio_vol);
            }
        }
    }
    let mut stocks: Vec<exfee_scenarios::SingleStock> = first
        .into_iter()
        .map(|(symbol, idio_vol)| exfee_scenarios::SingleStock {
            symbol: symbol.to_string(),
            idio_vol,
        })
        .collect();
    stocks.sort_unstable_by(|a, b| a.symbol.cmp(&b.symbol));
    stocks
}
