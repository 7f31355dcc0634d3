//! One account checked and valued: its NLV and its legs as found in it,
//! before legs are shared across the batch.

use exfee_model::{
    AccountInput, Batch, CashBalance, Currency, Decimal, Exercise, FactorTable, FxTable,
    InputError, Instrument, InstrumentKind, MarketData, OptionRight, OptionTerms, Position,
    net_liquidation_value,
};
use exfee_pricing::Right;
use rust_decimal::prelude::ToPrimitive;

use crate::EngineConfig;
use crate::key::{Keyed, LegKey};
use crate::leg::{LegDriver, LegInfo, LegKind, OptionLeg, OptionReport};
use crate::resolve::{Driver, Resolver};

/// A leg as found in one account, before legs are shared across accounts.
/// What only a new leg needs (its [`LegInfo`], its [`OptionReport`]) is
/// built when the leg turns out to be new.
pub(crate) struct LocalLeg<'a> {
    pub(crate) key: Keyed<'a>,
    pub(crate) info: InfoSource<'a>,
    pub(crate) fx: Option<usize>,
    pub(crate) rate: f64,
    /// The leg, its driver's `stock` not yet set.
    pub(crate) kind: LegKind,
    /// The single stock that drives it, with its own volatility.
    pub(crate) stock: Option<(&'a str, f64)>,
    /// The option's base price and volatility, for an option leg.
    pub(crate) option: Option<OptionFacts>,
    /// Exact: an account's rows of one leg are summed in decimal, then
    /// converted once ([`crate::prepare`]'s `merge_holdings`).
    pub(crate) quantity: Decimal,
}

/// What a [`LegInfo`] is made of.
pub(crate) enum InfoSource<'a> {
    Cash {
        currency: Currency,
        rate: f64,
    },
    Position {
        instrument: &'a Instrument,
        /// The primary factor that drives it.
        factor: usize,
        driver_symbol: &'a str,
        single_stock: bool,
        /// Base-currency units per unit of its currency.
        rate: f64,
        /// Multiplier × mark.
        unit: f64,
    },
}

impl InfoSource<'_> {
    pub(crate) fn info(&self, factor_table: &FactorTable) -> LegInfo {
        match *self {
            InfoSource::Cash { currency, rate } => LegInfo {
                label: format!("cash {currency}"),
                symbol: currency.to_string(),
                class: "FX".to_string(),
                unit_value: rate,
                unit_exposure: rate,
                currency,
                driver_symbol: String::new(),
                single_stock: false,
                option: false,
            },
            InfoSource::Position {
                instrument,
                factor,
                driver_symbol,
                single_stock,
                rate,
                unit,
            } => {
                let class = instrument.asset_class();
                LegInfo {
                    label: format!(
                        "{} ({} {})",
                        instrument.symbol,
                        class.code(),
                        instrument.currency
                    ),
                    symbol: instrument.symbol.clone(),
                    class: factor_table.factors()[factor].name.clone(),
                    unit_value: if instrument.settles_daily() {
                        0.0
                    } else {
                        rate * unit
                    },
                    unit_exposure: rate * unit,
                    currency: instrument.currency,
                    driver_symbol: driver_symbol.to_string(),
                    single_stock,
                    option: class.is_option(),
                }
            }
        }
    }
}

/// An option's base price and implied volatility: its [`OptionReport`]
/// without the names.
pub(crate) struct OptionFacts {
    pub(crate) model_price: f64,
    pub(crate) implied_vol: f64,
    pub(crate) vol_defaulted: bool,
    pub(crate) time_to_expiry: f64,
    pub(crate) scenario_time_to_expiry: f64,
}

impl OptionFacts {
    pub(crate) fn report(&self, instrument: &Instrument) -> OptionReport {
        OptionReport {
            symbol: instrument.symbol.clone(),
            underlying: instrument.risk_symbol().to_string(),
            currency: instrument.currency,
            mark: instrument.mark,
            model_price: self.model_price,
            implied_vol: self.implied_vol,
            vol_defaulted: self.vol_defaulted,
            time_to_expiry: self.time_to_expiry,
            scenario_time_to_expiry: self.scenario_time_to_expiry,
        }
    }
}

/// One account's NLV, legs and warnings, or why it cannot be evaluated.
pub(crate) type LocalAccount<'a> =
    Result<(Decimal, Vec<LocalLeg<'a>>, Vec<String>), Vec<InputError>>;

pub(crate) fn to_f64(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(f64::NAN)
}

fn leg_driver(driver: &Driver) -> LegDriver {
    LegDriver {
        factor: driver.factor,
        beta: driver.beta,
        stock: None,
    }
}

/// The documented default implied volatility of an option whose underlying
/// has none in `market/underlyings.csv`: by what drives the underlying.
pub fn default_implied_vol(factor_name: &str, single_stock: bool) -> f64 {
    if single_stock {
        return 0.40;
    }
    let name = factor_name.to_ascii_lowercase();
    if name.contains("crypto") {
        0.70
    } else if name.contains("gas") {
        0.60
    } else if name.contains("oil") || name.contains("co2") {
        0.40
    } else if name.contains("equity") {
        0.20
    } else if ["treasury", "bond", "bund", "jgb", "bax"]
        .iter()
        .any(|w| name.contains(w))
    {
        0.10
    } else {
        0.30
    }
}

/// An option position as read: what [`option_leg`] values.
#[derive(Clone, Copy)]
struct OptionInput<'a> {
    instrument: &'a Instrument,
    underlying: &'a str,
    on_future: bool,
    terms: &'a OptionTerms,
    driver: &'a Driver,
}

/// The option leg of `instrument` (an `OPT` or `FOP`), its base price
/// (`model_base`) not yet computed.
fn option_leg(
    option: &OptionInput<'_>,
    context: &AccountContext<'_>,
    warnings: &mut Vec<String>,
) -> Result<(LegKind, OptionFacts), InputError> {
    let OptionInput {
        instrument,
        underlying,
        on_future,
        terms,
        driver,
    } = *option;
    let (market, factor_table, config) = (context.market, context.factor_table, context.config);
    let what = format!("{} {}", instrument.asset_class().code(), instrument.symbol);
    let spot_row = match market.underlyings.get(underlying) {
        None => {
            return Err(InputError::new(format!(
                "{what}: no market/underlyings.csv row for its underlying {underlying}"
            )));
        }
        Some(Err(e)) => return Err(e.clone()),
        Some(Ok(row)) => row,
    };
    if spot_row.currency != instrument.currency {
        return Err(InputError::new(format!(
            "{what}: quoted in {} but its underlying {underlying} in {} (quanto options are not supported)",
            instrument.currency, spot_row.currency
        )));
    }
    let rate = match market.rates.get(&instrument.currency) {
        None => {
            return Err(InputError::new(format!(
                "{what}: no market/rates.csv row for {}",
                instrument.currency
            )));
        }
        Some(Err(e)) => return Err(e.clone()),
        Some(Ok(rate)) => *rate,
    };
    let days = terms
        .expiry
        .signed_duration_since(config.valuation_date)
        .num_days();
    if days < 0 {
        return Err(InputError::new(format!(
            "{what}: expired on {} (valuation date {})",
            terms.expiry, config.valuation_date
        )));
    }
    let t_base = days as f64 / 365.0;
    let t = ((days - i64::from(config.horizon_days)).max(0)) as f64 / 365.0;
    let (vol, vol_defaulted) = match spot_row.implied_vol {
        Some(vol) => (vol, false),
        None => {
            let factor = &factor_table.factors()[driver.factor].name;
            let vol = default_implied_vol(factor, driver.single_stock.is_some());
            warnings.push(format!(
                "{what}: no implied volatility for {underlying}; used the default {vol} for {}",
                if driver.single_stock.is_some() {
                    "single stocks"
                } else {
                    factor.as_str()
                }
            ));
            (vol, true)
        }
    };
    let right = match terms.right {
        OptionRight::Call => Right::Call,
        OptionRight::Put => Right::Put,
    };
    let american = terms.exercise == Exercise::American;
    let carry = if on_future {
        0.0
    } else {
        rate - spot_row.dividend_yield
    };
    let spot = to_f64(spot_row.price);
    let strike = to_f64(terms.strike);
    // The base price (`model_base`) is computed once per leg, after legs
    // are shared: see `base_price`.
    let model_base = f64::NAN;
    let multiplier = to_f64(instrument.multiplier);
    let facts = OptionFacts {
        model_price: model_base,
        implied_vol: vol,
        vol_defaulted,
        time_to_expiry: t_base,
        scenario_time_to_expiry: t,
    };
    let leg = OptionLeg {
        driver: leg_driver(driver),
        right,
        american,
        strike,
        t,
        rate,
        carry,
        spot,
        vol,
        value: multiplier * to_f64(instrument.mark),
        multiplier,
        model_base,
    };
    Ok((LegKind::Option(Box::new(leg)), facts))
}

/// What every leg of one account is valued against.
struct AccountContext<'a> {
    base: Currency,
    resolver: &'a Resolver<'a>,
    market: &'a MarketData,
    factor_table: &'a FactorTable,
    fx_table: &'a FxTable,
    config: &'a EngineConfig,
    /// What [`AccountContext::fx_of`] gave for each currency asked (an
    /// account holds a few currencies over many rows).
    fx: std::cell::RefCell<Vec<FxOf>>,
}

/// A currency and what [`AccountContext::fx_of`] gives for it.
type FxOf = (Currency, Result<(Option<usize>, f64), InputError>);

impl AccountContext<'_> {
    /// A currency held by the account: its row in the FX table (`None` for
    /// the base currency) and its rate to the base, or why it has none.
    fn fx_of(&self, currency: Currency) -> Result<(Option<usize>, f64), InputError> {
        let mut known = self.fx.borrow_mut();
        if let Some((_, fx)) = known.iter().find(|(held, _)| *held == currency) {
            return fx.clone();
        }
        let fx = self.fx_uncached(currency);
        known.push((currency, fx.clone()));
        fx
    }

    /// [`AccountContext::fx_of`] worked out.
    fn fx_uncached(&self, currency: Currency) -> Result<(Option<usize>, f64), InputError> {
        let rate = match self.market.fx_rate(currency, self.base) {
            Ok(rate) => to_f64(rate),
            Err(e) => return Err(InputError::new(e.to_string())),
        };
        if currency == self.base {
            return Ok((None, rate));
        }
        match self.fx_table.index_of(currency) {
            Some(index) => Ok((Some(index), rate)),
            None => Err(InputError::new(format!(
                "currency {currency} has no stress bounds in the FX factor table"
            ))),
        }
    }

    /// The leg of a cash balance.
    fn cash_leg<'a>(&self, cash: &CashBalance) -> Result<LocalLeg<'a>, InputError> {
        let (fx, rate) = self.fx_of(cash.currency)?;
        Ok(LocalLeg {
            key: Keyed::new(LegKey::Cash {
                currency: cash.currency,
                base: self.base,
            }),
            info: InfoSource::Cash {
                currency: cash.currency,
                rate,
            },
            fx,
            rate,
            kind: LegKind::Cash,
            stock: None,
            option: None,
            quantity: cash.amount,
        })
    }

    /// The leg of a position, or `None` with the reasons in `errors` (its
    /// currency's first, then its own).
    fn position_leg<'a>(
        &self,
        position: &'a Position,
        errors: &mut Vec<InputError>,
        warnings: &mut Vec<String>,
    ) -> Option<LocalLeg<'a>> {
        let instrument = &position.instrument;
        let class = instrument.asset_class();
        let fx = self.fx_of(instrument.currency).map_err(|e| errors.push(e));
        let symbol = instrument.risk_symbol();
        let driver = self
            .resolver
            .resolve(symbol, class, instrument.currency)
            .map_err(|e| errors.push(e))
            .ok()?;
        let Some(unit) = instrument.multiplier.checked_mul(instrument.mark) else {
            errors.push(InputError::new(format!(
                "{}: multiplier × mark overflows",
                instrument.symbol
            )));
            return None;
        };
        let unit = to_f64(unit);
        let (kind, option) = match &instrument.kind {
            InstrumentKind::Future {
                expiry: Some(expiry),
                ..
            } if *expiry < self.config.valuation_date => {
                // Settled: its moves are no longer the account's (a short
                // expired future would hedge a long position that is not
                // hedged any more).
                errors.push(InputError::new(format!(
                    "{} {}: expired on {expiry} (valuation date {})",
                    class.code(),
                    instrument.symbol,
                    self.config.valuation_date
                )));
                return None;
            }
            InstrumentKind::Future { .. } => (
                LegKind::Future {
                    notional: unit,
                    driver: leg_driver(&driver),
                },
                None,
            ),
            InstrumentKind::Option {
                underlying,
                on_future,
                terms,
            } => {
                let option = OptionInput {
                    instrument,
                    underlying,
                    on_future: *on_future,
                    terms,
                    driver: &driver,
                };
                let (kind, facts) = option_leg(&option, self, warnings)
                    .map_err(|e| errors.push(e))
                    .ok()?;
                (kind, Some(facts))
            }
            InstrumentKind::Stock | InstrumentKind::Bond | InstrumentKind::Crypto => (
                LegKind::Linear {
                    value: unit,
                    driver: leg_driver(&driver),
                },
                None,
            ),
        };
        let (fx, rate) = fx.ok()?;
        let info = InfoSource::Position {
            instrument,
            factor: driver.factor,
            driver_symbol: symbol,
            single_stock: driver.single_stock.is_some(),
            rate,
            unit,
        };
        Some(LocalLeg {
            key: Keyed::new(LegKey::Position {
                instrument,
                base: self.base,
            }),
            info,
            fx,
            rate,
            kind,
            stock: driver.single_stock.map(|vol| (symbol, vol)),
            option,
            quantity: position.quantity,
        })
    }
}

/// Checks one account and values what it holds: its NLV, its legs (cash
/// first, then positions, in input order) and what was assumed, or every
/// reason it cannot be evaluated.
pub(crate) fn prepare_account<'a>(
    account: &'a AccountInput,
    batch: &Batch,
    resolver: &Resolver<'_>,
    factor_table: &FactorTable,
    fx_table: &FxTable,
    config: &EngineConfig,
) -> LocalAccount<'a> {
    if !account.errors.is_empty() {
        return Err(account.errors.clone());
    }
    let Some(base) = account.base_currency else {
        return Err(vec![InputError::new("account has no base currency")]);
    };
    let market = &batch.market;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    // The fee converts USD amounts (threshold, tiers, minimum) to the base
    // currency: an account whose base has no usable USD rate (its own row or
    // the USD row of market/fx.csv is bad) fails here, with that row's error,
    // rather than stopping the run at the fee.
    if let Err(e) = market.fx_rate(Currency::USD, base) {
        errors.push(InputError::new(e.to_string()));
    }
    let nlv = match net_liquidation_value(account, market) {
        Ok(nlv) => nlv,
        Err(e) => {
            errors.push(InputError::new(e.to_string()));
            Decimal::ZERO
        }
    };
    let context = AccountContext {
        base,
        resolver,
        market,
        factor_table,
        fx_table,
        config,
        fx: std::cell::RefCell::new(Vec::new()),
    };
    let mut legs = Vec::with_capacity(account.positions.len() + account.cash.len());
    for cash in &account.cash {
        match context.cash_leg(cash) {
            Ok(leg) => legs.push(leg),
            Err(e) => errors.push(e),
        }
    }
    for position in &account.positions {
        if let Some(leg) = context.position_leg(position, &mut errors, &mut warnings) {
            legs.push(leg);
        }
    }
    if errors.is_empty() {
        Ok((nlv, legs, warnings))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_vols_follow_the_documented_table() {
        assert_eq!(default_implied_vol("Equity", true), 0.40);
        assert_eq!(default_implied_vol("Crypto", false), 0.70);
        assert_eq!(default_implied_vol("Natural Gas", false), 0.60);
        assert_eq!(default_implied_vol("Crude Oil", false), 0.40);
        assert_eq!(default_implied_vol("EU CO2", false), 0.40);
        assert_eq!(default_implied_vol("Equity (US)", false), 0.20);
        assert_eq!(default_implied_vol("US Treasury 10Y", false), 0.10);
        assert_eq!(default_implied_vol("JGB", false), 0.10);
        assert_eq!(default_implied_vol("Gold", false), 0.30);
    }

    #[test]
    fn decimals_become_the_nearest_double() {
        assert_eq!(to_f64(Decimal::new(125, 2)), 1.25);
        assert_eq!(to_f64(Decimal::new(-3, 0)), -3.0);
    }
}
