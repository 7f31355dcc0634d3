use std::collections::HashMap;

use exfee_model::{
    AccountInput, Batch, Currency, Decimal, FactorTable, FxTable, InputError, Instrument,
    InstrumentKind, net_liquidation_value,
};
use exfee_scenarios::SingleStock;
use rayon::prelude::*;
use rust_decimal::prelude::ToPrimitive;

use crate::resolve::{Driver, resolve_symbol};

/// Settings of the revaluation engine.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Upper bound, in bytes, for the block of leg P&L held at once
    /// (legs × scenarios per block × 8 bytes). The block never holds fewer
    /// than 64 scenarios. Default 512 MiB.
    pub memory_budget_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            memory_budget_bytes: 512 << 20,
        }
    }
}

/// How one leg's value moves.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LegKind {
    /// Cash in a currency: value 1 per unit, moves with FX only.
    Cash,
    /// A stock, ETF, bond or coin: `value` = multiplier × mark per unit.
    Linear { value: f64, driver: LegDriver },
    /// A future: P&L per unit = `notional` × move (multiplier × mark).
    Future { notional: f64, driver: LegDriver },
}

/// A [`Driver`] with its single stock replaced by an index into
/// [`Prepared::single_stocks`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LegDriver {
    pub factor: usize,
    pub beta: f64,
    pub stock: Option<usize>,
}

/// One instrument (or cash currency) seen from one base currency: priced
/// once per scenario and shared by every account that holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Leg {
    pub kind: LegKind,
    /// The leg currency's row in the FX table, or `None` when it is the base
    /// currency (which never moves).
    pub fx: Option<usize>,
    /// Base-currency units per unit of the leg's currency.
    pub rate: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LegKey {
    Position {
        instrument: Instrument,
        base: Currency,
    },
    Cash {
        currency: Currency,
        base: Currency,
    },
}

/// A checked account: either its holdings as (leg, quantity) pairs with its
/// NLV, or why it cannot be evaluated.
#[derive(Debug, Clone)]
pub(crate) enum PreparedAccount {
    Ready {
        nlv: Decimal,
        holdings: Vec<(usize, f64)>,
    },
    Failed(Vec<InputError>),
}

/// A batch made ready for evaluation under any scenario set built on the
/// same factor and FX tables.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub(crate) ids: Vec<String>,
    pub(crate) bases: Vec<Option<Currency>>,
    pub(crate) accounts: Vec<PreparedAccount>,
    pub(crate) legs: Vec<Leg>,
    pub(crate) stocks: Vec<SingleStock>,
    pub(crate) config: EngineConfig,
}

impl Prepared {
    /// The single stocks the batch's valid accounts hold, sorted by symbol:
    /// the stocks a scenario set for this batch must move.
    pub fn single_stocks(&self) -> &[SingleStock] {
        &self.stocks
    }

    /// Number of accounts (valid or not).
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// Number of distinct legs (instrument × base currency) to price.
    pub fn leg_count(&self) -> usize {
        self.legs.len()
    }

    /// Number of (account, leg) holdings to aggregate.
    pub fn holding_count(&self) -> usize {
        self.accounts
            .iter()
            .map(|a| match a {
                PreparedAccount::Ready { holdings, .. } => holdings.len(),
                PreparedAccount::Failed(_) => 0,
            })
            .sum()
    }
}

/// A leg as found in one account, before legs are shared across accounts.
struct LocalLeg {
    key: LegKey,
    fx: Option<usize>,
    rate: f64,
    kind: LocalKind,
    quantity: f64,
}

/// One account's NLV and legs, or why it cannot be evaluated.
type LocalAccount = Result<(Decimal, Vec<LocalLeg>), Vec<InputError>>;

enum LocalKind {
    Cash,
    Linear {
        value: f64,
        driver: Driver,
        symbol: String,
    },
    Future {
        notional: f64,
        driver: Driver,
        symbol: String,
    },
}

fn to_f64(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(f64::NAN)
}

/// Checks every account of `batch` against the factor and FX tables, computes
/// NLVs and collects the legs to price. Accounts with input errors, or whose
/// holdings cannot be valued (no FX rate or stress bounds for a currency, no
/// factor for a symbol, an instrument without a pricer), are kept as failed
/// with every reason found.
pub fn prepare(
    batch: &Batch,
    factor_table: &FactorTable,
    fx_table: &FxTable,
    config: &EngineConfig,
) -> Prepared {
    let locals: Vec<LocalAccount> = batch
        .accounts
        .par_iter()
        .map(|account| prepare_account(account, batch, factor_table, fx_table))
        .collect();

    // Share legs across accounts, in account order so indices are the same
    // whatever the thread count.
    let mut leg_index: HashMap<LegKey, usize> = HashMap::new();
    let mut legs: Vec<Leg> = Vec::new();
    let mut stock_vol: HashMap<String, f64> = HashMap::new();
    let mut pending: Vec<(Option<String>, usize)> = Vec::new();
    let mut accounts = Vec::with_capacity(locals.len());
    for local in locals {
        match local {
            Err(errors) => accounts.push(PreparedAccount::Failed(errors)),
            Ok((nlv, local_legs)) => {
                let mut holdings: Vec<(usize, f64)> = Vec::with_capacity(local_legs.len());
                for leg in local_legs {
                    let next = legs.len();
                    let index = *leg_index.entry(leg.key).or_insert(next);
                    if index == next {
                        let (kind, symbol) = match leg.kind {
                            LocalKind::Cash => (LegKind::Cash, None),
                            LocalKind::Linear {
                                value,
                                driver,
                                symbol,
                            } => {
                                record_stock(&mut stock_vol, &driver, &symbol);
                                (
                                    LegKind::Linear {
                                        value,
                                        driver: leg_driver(&driver),
                                    },
                                    driver.single_stock.map(|_| symbol),
                                )
                            }
                            LocalKind::Future {
                                notional,
                                driver,
                                symbol,
                            } => {
                                record_stock(&mut stock_vol, &driver, &symbol);
                                (
                                    LegKind::Future {
                                        notional,
                                        driver: leg_driver(&driver),
                                    },
                                    driver.single_stock.map(|_| symbol),
                                )
                            }
                        };
                        pending.push((symbol, index));
                        legs.push(Leg {
                            kind,
                            fx: leg.fx,
                            rate: leg.rate,
                        });
                    }
                    match holdings.iter_mut().find(|(i, _)| *i == index) {
                        Some((_, quantity)) => *quantity += leg.quantity,
                        None => holdings.push((index, leg.quantity)),
                    }
                }
                accounts.push(PreparedAccount::Ready { nlv, holdings });
            }
        }
    }

    let mut stocks: Vec<SingleStock> = stock_vol
        .into_iter()
        .map(|(symbol, idio_vol)| SingleStock { symbol, idio_vol })
        .collect();
    stocks.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    for (symbol, index) in pending {
        if let Some(symbol) = symbol {
            let position = stocks.binary_search_by(|s| s.symbol.cmp(&symbol)).ok();
            match &mut legs[index].kind {
                LegKind::Linear { driver, .. } | LegKind::Future { driver, .. } => {
                    driver.stock = position
                }
                LegKind::Cash => {}
            }
        }
    }

    Prepared {
        ids: batch.accounts.iter().map(|a| a.id.clone()).collect(),
        bases: batch.accounts.iter().map(|a| a.base_currency).collect(),
        accounts,
        legs,
        stocks,
        config: config.clone(),
    }
}

fn record_stock(stock_vol: &mut HashMap<String, f64>, driver: &Driver, symbol: &str) {
    if let Some(vol) = driver.single_stock {
        stock_vol.entry(symbol.to_string()).or_insert(vol);
    }
}

fn leg_driver(driver: &Driver) -> LegDriver {
    LegDriver {
        factor: driver.factor,
        beta: driver.beta,
        stock: None,
    }
}

fn prepare_account(
    account: &AccountInput,
    batch: &Batch,
    factor_table: &FactorTable,
    fx_table: &FxTable,
) -> LocalAccount {
    if !account.errors.is_empty() {
        return Err(account.errors.clone());
    }
    let Some(base) = account.base_currency else {
        return Err(vec![InputError::new("account has no base currency")]);
    };
    let market = &batch.market;
    let mut errors = Vec::new();
    let nlv = match net_liquidation_value(account, market) {
        Ok(nlv) => nlv,
        Err(e) => {
            errors.push(InputError::new(e.to_string()));
            Decimal::ZERO
        }
    };

    // FX leg data for a currency held by this account.
    let fx_of =
        |currency: Currency, errors: &mut Vec<InputError>| -> Option<(Option<usize>, f64)> {
            let rate = match market.fx_rate(currency, base) {
                Ok(rate) => to_f64(rate),
                Err(e) => {
                    errors.push(InputError::new(e.to_string()));
                    return None;
                }
            };
            if currency == base {
                return Some((None, rate));
            }
            match fx_table.index_of(currency) {
                Some(index) => Some((Some(index), rate)),
                None => {
                    errors.push(InputError::new(format!(
                        "currency {currency} has no stress bounds in the FX factor table"
                    )));
                    None
                }
            }
        };

    let mut legs = Vec::with_capacity(account.positions.len() + account.cash.len());
    for cash in &account.cash {
        if let Some((fx, rate)) = fx_of(cash.currency, &mut errors) {
            legs.push(LocalLeg {
                key: LegKey::Cash {
                    currency: cash.currency,
                    base,
                },
                fx,
                rate,
                kind: LocalKind::Cash,
                quantity: to_f64(cash.amount),
            });
        }
    }
    for position in &account.positions {
        let instrument = &position.instrument;
        let class = instrument.asset_class();
        if let InstrumentKind::Option { .. } = instrument.kind {
            errors.push(InputError::new(format!(
                "{} {}: options are not supported yet",
                class.code(),
                instrument.symbol
            )));
            continue;
        }
        let fx = fx_of(instrument.currency, &mut errors);
        let symbol = instrument.risk_symbol().to_string();
        let driver = match resolve_symbol(&symbol, class, instrument.currency, market, factor_table)
        {
            Ok(driver) => driver,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        let Some((fx, rate)) = fx else { continue };
        let Some(unit) = instrument.multiplier.checked_mul(instrument.mark) else {
            errors.push(InputError::new(format!(
                "{}: multiplier × mark overflows",
                instrument.symbol
            )));
            continue;
        };
        let unit = to_f64(unit);
        let kind = if instrument.settles_daily() {
            LocalKind::Future {
                notional: unit,
                driver,
                symbol,
            }
        } else {
            LocalKind::Linear {
                value: unit,
                driver,
                symbol,
            }
        };
        legs.push(LocalLeg {
            key: LegKey::Position {
                instrument: instrument.clone(),
                base,
            },
            fx,
            rate,
            kind,
            quantity: to_f64(position.quantity),
        });
    }
    if errors.is_empty() {
        Ok((nlv, legs))
    } else {
        Err(errors)
    }
}
