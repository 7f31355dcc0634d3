//! Preparing a batch: every account checked and valued, its holdings
//! mapped to shared legs, every option priced at its base.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use chrono::NaiveDate;
use exfee_model::{AccountInput, Batch, Currency, Decimal, FactorTable, FxTable, InputError};
use exfee_scenarios::SingleStock;
use rayon::prelude::*;

use crate::account::{InfoSource, LocalAccount, LocalLeg, prepare_account};
use crate::key::{Keyed, PassThrough};
use crate::leg::{Leg, LegKind, OptionLeg, OptionReport};
use crate::resolve::Resolver;

/// Settings of the revaluation engine.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Upper bound, in bytes, for the scenario P&L the engine holds at once:
    /// half for the option contracts' prices over a block of scenarios
    /// (contracts × block × 8 bytes; a block holds 64 to 2,048 scenarios),
    /// half for every leg's P&L over a panel of the block (legs × panel × 8
    /// bytes; a panel holds 8 to 256 scenarios). Results do not depend on
    /// it. Default 512 MiB.
    pub memory_budget_bytes: usize,
    /// The valuation date: options' time to expiry counts from it (ACT/365).
    pub valuation_date: NaiveDate,
    /// Stress horizon in calendar days: options are repriced this much
    /// closer to expiry in every scenario. Default 0 (instantaneous).
    pub horizon_days: u32,
    /// Floor of a scenario's implied volatility. Default 0.01.
    pub vol_floor: f64,
    /// How many worst scenarios to keep per account (for tail measures such
    /// as the average of the worst k). Default 1.
    pub tail_scenarios: usize,
}

impl EngineConfig {
    /// The defaults, valued on `valuation_date`.
    pub fn new(valuation_date: NaiveDate) -> Self {
        EngineConfig {
            memory_budget_bytes: 512 << 20,
            valuation_date,
            horizon_days: 0,
            vol_floor: 0.01,
            tail_scenarios: 1,
        }
    }
}

impl Default for EngineConfig {
    /// The defaults, valued today (UTC).
    fn default() -> Self {
        EngineConfig::new(chrono::Utc::now().date_naive())
    }
}

/// A checked account: either its holdings as (leg, quantity) pairs with its
/// NLV, or why it cannot be evaluated.
#[derive(Debug, Clone)]
pub(crate) enum PreparedAccount {
    Ready {
        nlv: Decimal,
        holdings: Vec<(usize, f64)>,
        warnings: Vec<String>,
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
    pub(crate) options: Vec<OptionReport>,
    pub(crate) config: EngineConfig,
}

impl Prepared {
    /// The single stocks the batch's valid accounts hold, sorted by symbol:
    /// the stocks a scenario set for this batch must move.
    pub fn single_stocks(&self) -> &[SingleStock] {
        &self.stocks
    }

    /// Every distinct option contract of the valid accounts, as priced.
    pub fn option_reports(&self) -> &[OptionReport] {
        &self.options
    }

    /// Number of option legs (contract × base currency) repriced per scenario.
    pub fn option_leg_count(&self) -> usize {
        self.legs
            .iter()
            .filter(|l| matches!(l.kind, LegKind::Option(_)))
            .count()
    }

    /// The engine settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
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

/// Checks every account of `batch` against the factor and FX tables, computes
/// NLVs, prices every option at its base, and collects the legs to price.
/// Accounts with input errors, or whose holdings cannot be valued (no FX
/// rate or stress bounds for a currency, no factor for a symbol, no market
/// data for an option), are kept as failed with every reason found.
pub fn prepare(
    batch: &Batch,
    factor_table: &FactorTable,
    fx_table: &FxTable,
    config: &EngineConfig,
) -> Prepared {
    let resolver = Resolver::new(&batch.market, factor_table);
    let Shared {
        accounts,
        mut legs,
        leg_stock,
        stock_vol,
        options,
        option_legs,
    } = share_legs(&batch.accounts, factor_table, |account| {
        prepare_account(account, batch, &resolver, factor_table, fx_table, config)
    });
    let options = price_bases(&mut legs, &option_legs, options);
    let stocks = bind_stocks(&mut legs, &leg_stock, stock_vol);
    Prepared {
        ids: batch.accounts.iter().map(|a| a.id.clone()).collect(),
        bases: batch.accounts.iter().map(|a| a.base_currency).collect(),
        accounts,
        legs,
        stocks,
        options,
        config: config.clone(),
    }
}

/// The batch's accounts with their legs shared.
struct Shared<'a> {
    accounts: Vec<PreparedAccount>,
    legs: Vec<Leg>,
    /// The single stock that drives each leg.
    leg_stock: Vec<Option<&'a str>>,
    /// Each single stock's own volatility (its first leg's).
    stock_vol: HashMap<String, f64>,
    /// Reports of distinct contracts, with the leg that prices them.
    options: Vec<(usize, OptionReport)>,
    /// Each option leg with its time to expiry at the base.
    option_legs: Vec<(usize, f64)>,
}

/// Shares legs across accounts, in account order so indices are the same
/// whatever the thread count; an account holding a leg twice holds it once,
/// at its first place, with the quantities summed in input order.
///
/// In three passes, so that only the distinct legs of each stretch of
/// accounts are looked up one after another: each stretch numbers its
/// distinct legs by first appearance and maps its accounts' holdings to
/// those numbers (in parallel); the stretches' distinct legs are then
/// numbered across the batch, stretch after stretch (sequentially: a leg's
/// index is its first appearance in the whole batch, as when every holding
/// is looked up in account order); then every account's holdings are
/// mapped to those indices (in parallel). The stretches change nothing but
/// the speed.
fn share_legs<'a>(
    accounts: &'a [AccountInput],
    factor_table: &FactorTable,
    prepare: impl Fn(&'a AccountInput) -> LocalAccount<'a> + Sync,
) -> Shared<'a> {
    let stretch = accounts
        .len()
        .div_ceil(rayon::current_num_threads().max(1).saturating_mul(4))
        .max(1);
    // Each stretch's accounts are prepared and numbered as they come: only
    // a stretch's distinct legs are kept, not every account's legs at once.
    let numbered: Vec<Stretch<'a>> = accounts
        .par_chunks(stretch)
        .map(|part| number_stretch(part.iter().map(&prepare)))
        .collect();

    let mut leg_index: HashMap<Keyed<'_>, usize, BuildHasherDefault<PassThrough>> =
        HashMap::default();
    let mut shared = Shared {
        accounts: Vec::new(),
        legs: Vec::new(),
        leg_stock: Vec::new(),
        stock_vol: HashMap::new(),
        options: Vec::new(),
        option_legs: Vec::new(),
    };
    let mut option_seen: HashMap<String, ()> = HashMap::new();
    let mut to_global: Vec<Vec<usize>> = Vec::with_capacity(numbered.len());
    let mut parts = Vec::with_capacity(numbered.len());
    for Stretch { distinct, accounts } in numbered {
        let mut global = Vec::with_capacity(distinct.len());
        for leg in distinct {
            let next = shared.legs.len();
            let index = *leg_index.entry(leg.key).or_insert(next);
            if index == next {
                if let Some((symbol, vol)) = leg.stock {
                    shared.stock_vol.entry(symbol.to_string()).or_insert(vol);
                }
                if let Some(facts) = &leg.option {
                    shared.option_legs.push((next, facts.time_to_expiry));
                }
                if let (Some(facts), InfoSource::Position { instrument, .. }) =
                    (&leg.option, &leg.info)
                    && option_seen
                        .insert(
                            format!("{}\u{0}{}", instrument.symbol, instrument.currency),
                            (),
                        )
                        .is_none()
                {
                    shared.options.push((next, facts.report(instrument)));
                }
                shared.leg_stock.push(leg.stock.map(|(symbol, _)| symbol));
                shared.legs.push(Leg {
                    kind: leg.kind,
                    info: leg.info.info(factor_table),
                    fx: leg.fx,
                    rate: leg.rate,
                });
            }
            global.push(index);
        }
        to_global.push(global);
        parts.push(accounts);
    }
    let legs = &shared.legs;
    let accounts: Vec<Vec<PreparedAccount>> = parts
        .into_par_iter()
        .zip(to_global)
        .map(|(accounts, global)| {
            accounts
                .into_iter()
                .map(|account| match account {
                    Numbered::Failed(errors) => PreparedAccount::Failed(errors),
                    Numbered::Ready {
                        nlv,
                        holdings,
                        warnings,
                    } => {
                        let merged = merge_holdings(
                            holdings.into_iter().map(|(local, quantity)| {
                                (global.get(local).copied().unwrap_or(usize::MAX), quantity)
                            }),
                            legs,
                        );
                        match merged {
                            Ok(holdings) => PreparedAccount::Ready {
                                nlv,
                                holdings,
                                warnings,
                            },
                            Err(error) => PreparedAccount::Failed(vec![error]),
                        }
                    }
                })
                .collect()
        })
        .collect();
    shared.accounts = accounts.into_iter().flatten().collect();
    shared
}

/// A stretch of accounts with its distinct legs numbered by first
/// appearance: each distinct leg (as first met) and each account's
/// holdings as (number, quantity), in input order.
struct Stretch<'a> {
    distinct: Vec<LocalLeg<'a>>,
    accounts: Vec<Numbered>,
}

/// An account of a [`Stretch`].
enum Numbered {
    Ready {
        nlv: Decimal,
        /// Exact quantities, in input order (one per row).
        holdings: Vec<(usize, Decimal)>,
        warnings: Vec<String>,
    },
    Failed(Vec<InputError>),
}

/// Numbers the distinct legs of a stretch of accounts by first appearance.
fn number_stretch<'a>(locals: impl ExactSizeIterator<Item = LocalAccount<'a>>) -> Stretch<'a> {
    let mut index: HashMap<Keyed<'a>, usize, BuildHasherDefault<PassThrough>> = HashMap::default();
    let mut distinct: Vec<LocalLeg<'a>> = Vec::new();
    let mut accounts = Vec::with_capacity(locals.len());
    for local in locals {
        let (nlv, local_legs, warnings) = match local {
            Err(errors) => {
                accounts.push(Numbered::Failed(errors));
                continue;
            }
            Ok(local) => local,
        };
        let mut holdings = Vec::with_capacity(local_legs.len());
        for leg in local_legs {
            let quantity = leg.quantity;
            let number = match index.get(&leg.key) {
                Some(&number) => number,
                None => {
                    let number = distinct.len();
                    // The key is moved into the leg kept; the map holds a
                    // copy of it (a hash and borrowed parts).
                    index.insert(leg.key.clone(), number);
                    distinct.push(leg);
                    number
                }
            };
            holdings.push((number, quantity));
        }
        accounts.push(Numbered::Ready {
            nlv,
            holdings,
            warnings,
        });
    }
    Stretch { distinct, accounts }
}

/// Largest quantity (in magnitude) of an instrument the engine holds to
/// the unit: 2^53, the last integer before an `f64` can no longer hold
/// every integer (above it, 2^53 + 1 would be held as 2^53). An account
/// whose rows of an instrument sum beyond it fails, with the instrument
/// named (docs/formats.md). Cash is money, not a count: an amount is held
/// to a relative 2^-53, as every value the engine computes.
pub const MAX_QUANTITY: Decimal = Decimal::from_parts(0, 2_097_152, 0, false, 0);

/// An account's holdings with each leg held once, at its first place, with
/// its quantities summed exactly (in decimal, checked) and converted to
/// the engine's `f64` once, after the sum: rows that offset each other
/// leave exactly the rest. `legs` are the batch's legs (the holdings'
/// indices point into it), for their names and kinds.
///
/// # Errors
///
/// The leg whose sum is not exact in a decimal (beyond its 28 significant
/// digits: it would be rounded, or overflow), or the instrument whose
/// sum is beyond [`MAX_QUANTITY`] in magnitude (the engine could not hold
/// it to the unit).
fn merge_holdings(
    holdings_in: impl ExactSizeIterator<Item = (usize, Decimal)>,
    legs: &[Leg],
) -> Result<Vec<(usize, f64)>, InputError> {
    let label = |leg: usize| legs.get(leg).map_or("a holding", |l| l.info.label.as_str());
    let mut holdings: Vec<(usize, Decimal)> = Vec::with_capacity(holdings_in.len());
    let add = |holdings: &mut Vec<(usize, Decimal)>, at: usize, quantity: Decimal| {
        let Some(slot) = holdings.get_mut(at) else {
            return Ok(());
        };
        // Exact or refused: a decimal sum that does not fit is rounded to
        // fewer places than its terms have, or overflows. (A zero sum may
        // come back with fewer places, exactly: `holds_places`.)
        let scale = slot.1.scale().max(quantity.scale());
        match slot.1.checked_add(quantity) {
            Some(sum) if exfee_model::holds_places(sum, scale) => {
                slot.1 = sum;
                Ok(())
            }
            _ => Err(InputError::new(format!(
                "{}: the account's rows of it cannot be summed exactly (a decimal holds 28 \
                 significant digits)",
                label(slot.0)
            ))),
        }
    };
    if holdings_in.len() <= 32 {
        // A short account: a scan of what it holds beats a map.
        for (index, quantity) in holdings_in {
            match holdings.iter().position(|(held, _)| *held == index) {
                Some(at) => add(&mut holdings, at, quantity)?,
                None => holdings.push((index, quantity)),
            }
        }
    } else {
        // Where each leg is in `holdings`: the merge keeps the order of
        // first appearance, in linear time.
        let mut held: HashMap<usize, usize> = HashMap::with_capacity(holdings_in.len());
        for (index, quantity) in holdings_in {
            match held.entry(index) {
                std::collections::hash_map::Entry::Occupied(slot) => {
                    add(&mut holdings, *slot.get(), quantity)?;
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(holdings.len());
                    holdings.push((index, quantity));
                }
            }
        }
    }
    holdings
        .into_iter()
        .map(|(index, quantity)| {
            let cash = legs
                .get(index)
                .is_some_and(|l| matches!(l.kind, LegKind::Cash));
            if !cash && quantity.abs() > MAX_QUANTITY {
                return Err(InputError::new(format!(
                    "{}: quantity {quantity} (the account's rows of it summed) is beyond what the \
                     engine holds to the unit (at most {MAX_QUANTITY} = 2^53 in magnitude)",
                    label(index)
                )));
            }
            Ok((index, crate::account::to_f64(quantity)))
        })
        .collect()
}

/// Prices each option leg at its base, once per leg (not per position), in
/// parallel, and puts the prices in the contracts' reports.
fn price_bases(
    legs: &mut [Leg],
    option_legs: &[(usize, f64)],
    options: Vec<(usize, OptionReport)>,
) -> Vec<OptionReport> {
    let base_prices: Vec<f64> = option_legs
        .par_iter()
        .map(|&(leg, t)| match &legs[leg].kind {
            LegKind::Option(option) => base_price(option, t),
            _ => f64::NAN,
        })
        .collect();
    for (&(leg, _), price) in option_legs.iter().zip(base_prices) {
        if let LegKind::Option(option) = &mut legs[leg].kind {
            option.model_base = price;
        }
    }
    options
        .into_iter()
        .map(|(leg, mut report)| {
            if let LegKind::Option(option) = &legs[leg].kind {
                report.model_price = option.model_base;
            }
            report
        })
        .collect()
}

/// The batch's single stocks sorted by symbol, each leg's driver pointing
/// at its stock among them.
fn bind_stocks(
    legs: &mut [Leg],
    leg_stock: &[Option<&str>],
    stock_vol: HashMap<String, f64>,
) -> Vec<SingleStock> {
    let mut stocks: Vec<SingleStock> = stock_vol
        .into_iter()
        .map(|(symbol, idio_vol)| SingleStock { symbol, idio_vol })
        .collect();
    stocks.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    for (leg, symbol) in legs.iter_mut().zip(leg_stock) {
        if let (Some(symbol), Some(driver)) = (symbol, leg.kind.driver_mut()) {
            driver.stock = stocks
                .binary_search_by(|s| s.symbol.as_str().cmp(symbol))
                .ok();
        }
    }
    stocks
}

/// The option's model price at its input spot and implied volatility with
/// `t` years to expiry. The base is priced by the same batch kernel as the
/// scenarios, so that a scenario that moves nothing gives exactly zero P&L.
fn base_price(option: &OptionLeg, t: f64) -> f64 {
    let mut out = [0.0];
    let (spots, vols) = ([option.spot], [option.vol]);
    let priced = if option.american {
        exfee_pricing::price_american_batch(
            option.right,
            &spots,
            option.strike,
            t,
            option.rate,
            option.carry,
            &vols,
            &mut out,
        )
    } else {
        exfee_pricing::price_european_batch(
            option.right,
            &spots,
            option.strike,
            t,
            option.rate,
            option.carry,
            &vols,
            &mut out,
        )
    };
    priced.map_or(f64::NAN, |()| out[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use exfee_model::{AccountInput, Bounds, CashBalance, FxFactor, MarketData};
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn cash(currency: Currency, amount: &str) -> CashBalance {
        CashBalance {
            currency,
            amount: dec(amount),
        }
    }

    /// EUR at 1.25 USD with FX bounds ±10 %; accounts in USD.
    fn tables() -> (Currency, MarketData, FxTable) {
        let eur: Currency = "EUR".parse().unwrap();
        let market = MarketData::with_fx([(eur, dec("1.25"))]);
        let fx = FxTable::new(vec![FxFactor {
            currency: eur,
            bounds: Bounds::new("EUR", dec("-10"), dec("10")).unwrap(),
        }])
        .unwrap();
        (eur, market, fx)
    }

    fn prepared(accounts: Vec<AccountInput>, market: MarketData, fx: &FxTable) -> Prepared {
        let batch = Batch {
            accounts,
            market,
            errors: Vec::new(),
        };
        let factors = crate::testkit::fixed_set(&[]).factor_table().clone();
        prepare(
            &batch,
            &factors,
            fx,
            &EngineConfig::new(NaiveDate::default()),
        )
    }

    #[test]
    fn each_holding_takes_its_own_currencys_rate_and_error() {
        // Base GBP (1.60 USD); EUR at 1.20 USD (0.75 GBP), JPY at 0.008 USD
        // (0.005 GBP) with bounds, CHF at 1.00 USD without: cash in EUR,
        // JPY, CHF, EUR, CHF, JPY, GBP. Each leg has its currency's rate;
        // the account fails with one error per CHF row.
        let currencies: Vec<Currency> = ["GBP", "EUR", "JPY", "CHF"]
            .iter()
            .map(|c| c.parse().unwrap())
            .collect();
        let [gbp, eur, jpy, chf] = currencies[..] else {
            panic!("four currencies");
        };
        let market = MarketData::with_fx([
            (gbp, dec("1.60")),
            (eur, dec("1.20")),
            (jpy, dec("0.008")),
            (chf, dec("1.00")),
        ]);
        let fx = FxTable::new(
            [(eur, "EUR"), (jpy, "JPY")]
                .into_iter()
                .map(|(currency, code)| FxFactor {
                    currency,
                    bounds: Bounds::new(code, dec("-10"), dec("10")).unwrap(),
                })
                .collect(),
        )
        .unwrap();
        let rows = [eur, jpy, chf, eur, chf, jpy, gbp];
        let mut failing = AccountInput::new("F", gbp);
        failing.cash = rows.iter().map(|&c| cash(c, "1")).collect();
        let mut ready = AccountInput::new("R", gbp);
        ready.cash = rows
            .iter()
            .filter(|&&c| c != chf)
            .map(|&c| cash(c, "1"))
            .collect();
        let p = prepared(vec![failing, ready], market, &fx);
        let PreparedAccount::Failed(errors) = &p.accounts[0] else {
            panic!("CHF has no stress bounds");
        };
        assert_eq!(errors.len(), 2);
        assert!(errors.iter().all(|e| e.to_string().contains("CHF")));
        // R's legs: EUR, JPY, GBP in that order, at 0.75, 0.005 and 1.
        let rates: Vec<(Option<usize>, f64)> = p.legs.iter().map(|l| (l.fx, l.rate)).collect();
        assert_eq!(rates, vec![(Some(0), 0.75), (Some(1), 0.005), (None, 1.0)]);
    }

    #[test]
    fn legs_are_shared_across_accounts_and_merged_within_one() {
        let (eur, market, fx) = tables();
        let mut a = AccountInput::new("A", Currency::USD);
        a.cash = vec![
            cash(eur, "100"),
            cash(Currency::USD, "10"),
            cash(eur, "-40"),
        ];
        let mut b = AccountInput::new("B", Currency::USD);
        b.cash = vec![cash(Currency::USD, "5"), cash(eur, "2")];
        let p = prepared(vec![a, b], market, &fx);
        // Two legs: EUR cash (first seen) and USD cash, both from USD.
        assert_eq!(p.leg_count(), 2);
        assert_eq!(p.legs[0].info.label, "cash EUR");
        assert_eq!(p.legs[0].rate, 1.25);
        assert_eq!(p.legs[0].fx, Some(0));
        assert_eq!(p.legs[1].fx, None);
        // A: EUR 100 − 40 = 60 at its first place; B in its own order.
        let PreparedAccount::Ready { holdings, nlv, .. } = &p.accounts[0] else {
            panic!("ready");
        };
        assert_eq!(holdings, &vec![(0, 60.0), (1, 10.0)]);
        // NLV: 60 × 1.25 + 10 = 85.
        assert_eq!(*nlv, dec("85"));
        let PreparedAccount::Ready { holdings, .. } = &p.accounts[1] else {
            panic!("ready");
        };
        assert_eq!(holdings, &vec![(1, 5.0), (0, 2.0)]);
        assert_eq!(p.holding_count(), 4);
        assert_eq!(p.ids, vec!["A".to_string(), "B".to_string()]);
    }

    #[test]
    fn offsetting_rows_leave_exactly_the_rest_or_fail() {
        let (eur, market, fx) = tables();
        let ready = |account: &PreparedAccount| match account {
            PreparedAccount::Ready { holdings, .. } => holdings.clone(),
            PreparedAccount::Failed(errors) => panic!("{errors:?}"),
        };
        // 950 USD, then +10^17 and −10^17: 950 exactly (in f64, 950 + 10^17
        // is 10^17 + 944: the unit is lost at that size).
        let mut a = AccountInput::new("A", Currency::USD);
        a.cash = vec![
            cash(Currency::USD, "950"),
            cash(Currency::USD, "100000000000000000"),
            cash(Currency::USD, "-100000000000000000"),
        ];
        // The same with ±10^26, and with 40 rows (the merge through a map):
        // 950 then 39 rows of ±10^17 (20 up, 19 down) then −10^17: 950.
        let mut b = a.clone();
        b.id = "B".into();
        b.cash[1].amount = dec("100000000000000000000000000");
        b.cash[2].amount = dec("-100000000000000000000000000");
        let mut c = AccountInput::new("C", Currency::USD);
        c.cash.push(cash(Currency::USD, "950"));
        for i in 0..39 {
            let sign = if i % 2 == 0 { "" } else { "-" };
            c.cash
                .push(cash(Currency::USD, &format!("{sign}100000000000000000")));
        }
        c.cash.push(cash(Currency::USD, "-100000000000000000"));
        // Cash is money, not a count: beyond 2^53 it is held to a relative
        // 2^-53 (2^53 + 1 as 2^53), with no error; EUR in first.
        let mut d = AccountInput::new("D", Currency::USD);
        d.cash = vec![
            cash(eur, "9007199254740992"),
            cash(Currency::USD, "9007199254740990"),
            cash(Currency::USD, "3"),
        ];
        // 10^27 + 0.5 fits a decimal's 28 digits; 10^28 + 0.01 does not (it
        // would be rounded to 10^28): the account fails.
        let mut e = AccountInput::new("E", Currency::USD);
        e.cash = vec![
            cash(Currency::USD, "1000000000000000000000000000"),
            cash(Currency::USD, "0.5"),
            cash(Currency::USD, "-1000000000000000000000000000"),
        ];
        let mut f = AccountInput::new("F", Currency::USD);
        f.cash = vec![
            cash(Currency::USD, "10000000000000000000000000000"),
            cash(Currency::USD, "0.01"),
        ];
        // A zero with places beside a whole number (10 + 0.0, and −0.0): Decimal
        // returns the other term, with fewer places, exactly. It failed the
        // account as a rounding.
        let mut g = AccountInput::new("G", Currency::USD);
        g.cash = vec![
            cash(Currency::USD, "10"),
            cash(Currency::USD, "0.0"),
            cash(Currency::USD, "-0.00"),
        ];
        let p = prepared(vec![a, b, c, d, e, f, g], market, &fx);
        // Legs: USD cash (first seen), then EUR cash (D's).
        assert_eq!(ready(&p.accounts[0]), vec![(0, 950.0)]);
        assert_eq!(ready(&p.accounts[1]), vec![(0, 950.0)]);
        assert_eq!(ready(&p.accounts[2]), vec![(0, 950.0)]);
        assert_eq!(
            ready(&p.accounts[3]),
            vec![(1, 9_007_199_254_740_992.0), (0, 9_007_199_254_740_992.0)]
        );
        assert_eq!(ready(&p.accounts[4]), vec![(0, 0.5)]);
        // Its NLV, the same sum, is refused first (`NlvError::Inexact`).
        let PreparedAccount::Failed(errors) = &p.accounts[5] else {
            panic!("10^28 + 0.01 is not a decimal");
        };
        assert_eq!(
            errors[0].to_string(),
            "net liquidation value cannot be held to the cent: its sum needs more digits than a \
             Decimal holds (about 28)"
        );
        assert_eq!(ready(&p.accounts[6]), vec![(0, 10.0)]);
        assert_eq!(MAX_QUANTITY, dec("9007199254740992"));
    }

    #[test]
    fn legs_are_numbered_by_first_appearance_whatever_the_threads() {
        // 300 accounts in five base currencies holding cash in four (no
        // USD: it has no stress bounds) in a pseudo-random order (some
        // twice, some failing):
        // the legs and every account's holdings equal a plain sequential
        // numbering worked out here, on 1, 2 and 7 threads (stretches of
        // different lengths).
        let codes = ["EUR", "GBP", "JPY", "CHF"];
        let currencies: Vec<Currency> = codes.iter().map(|c| c.parse().unwrap()).collect();
        let market = MarketData::with_fx(currencies.iter().map(|&c| (c, dec("1.5"))));
        let fx = FxTable::new(
            currencies
                .iter()
                .zip(codes)
                .map(|(&currency, code)| FxFactor {
                    currency,
                    bounds: Bounds::new(code, dec("-10"), dec("10")).unwrap(),
                })
                .collect(),
        )
        .unwrap();
        let all: Vec<Currency> = std::iter::once(Currency::USD).chain(currencies).collect();
        let mut seed = 11_u64;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            usize::try_from((seed >> 33) % n).unwrap()
        };
        let mut accounts = Vec::new();
        for i in 0..300 {
            let base = all[next(5)];
            let mut account = AccountInput::new(format!("A{i}"), base);
            for j in 0..next(40) {
                account.cash.push(cash(all[1 + next(4)], &format!("{j}.5")));
            }
            if next(25) == 0 {
                account.base_currency = None; // fails
            }
            accounts.push(account);
        }
        // The oracle: legs (currency, base) in order of first appearance;
        // each account's legs at their first place, quantities summed in
        // input order.
        let mut legs: Vec<(Currency, Currency)> = Vec::new();
        let mut expected: Vec<Option<Vec<(usize, f64)>>> = Vec::new();
        for account in &accounts {
            let Some(base) = account.base_currency else {
                expected.push(None);
                continue;
            };
            let mut holdings: Vec<(usize, f64)> = Vec::new();
            for c in &account.cash {
                let key = (c.currency, base);
                let index = legs.iter().position(|l| *l == key).unwrap_or_else(|| {
                    legs.push(key);
                    legs.len() - 1
                });
                let quantity: f64 = c.amount.to_string().parse().unwrap();
                match holdings.iter_mut().find(|h| h.0 == index) {
                    Some(h) => h.1 += quantity,
                    None => holdings.push((index, quantity)),
                }
            }
            expected.push(Some(holdings));
        }
        for threads in [1, 2, 7] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let p = pool.install(|| prepared(accounts.clone(), market.clone(), &fx));
            assert_eq!(p.leg_count(), legs.len(), "{threads} threads");
            for (leg, (currency, base)) in p.legs.iter().zip(&legs) {
                assert_eq!(leg.info.label, format!("cash {currency}"));
                let foreign = *currency != *base;
                assert_eq!(leg.fx.is_some(), foreign, "{threads} threads");
            }
            for (i, (account, want)) in p.accounts.iter().zip(&expected).enumerate() {
                match (account, want) {
                    (PreparedAccount::Ready { holdings, .. }, Some(want)) => {
                        assert_eq!(holdings, want, "account {i}, {threads} threads");
                    }
                    (PreparedAccount::Failed(_), None) => {}
                    _ => panic!("account {i}, {threads} threads"),
                }
            }
        }
    }

    #[test]
    fn an_account_fails_with_every_reason_and_the_rest_goes_on() {
        let (eur, market, _) = tables();
        let gbp: Currency = "GBP".parse().unwrap();
        // No FX bounds for EUR, no USD rate for GBP.
        let mut a = AccountInput::new("A", Currency::USD);
        a.cash = vec![cash(eur, "1"), cash(gbp, "1")];
        let no_base = AccountInput {
            id: "B".into(),
            ..AccountInput::default()
        };
        let mut ok = AccountInput::new("C", Currency::USD);
        ok.cash = vec![cash(Currency::USD, "1")];
        let p = prepared(vec![a, no_base, ok], market, &FxTable::new(vec![]).unwrap());
        let PreparedAccount::Failed(errors) = &p.accounts[0] else {
            panic!("failed");
        };
        assert!(errors.len() >= 2, "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.reason == "currency EUR has no stress bounds in the FX factor table")
        );
        let PreparedAccount::Failed(errors) = &p.accounts[1] else {
            panic!("failed");
        };
        assert_eq!(errors[0].reason, "account has no base currency");
        assert!(matches!(p.accounts[2], PreparedAccount::Ready { .. }));
        // Legs come from valid accounts only.
        assert_eq!(p.leg_count(), 1);
    }

    #[test]
    fn single_stocks_are_sorted_and_legs_point_at_theirs() {
        let mut legs = vec![
            crate::testkit::linear(1.0, None),
            crate::testkit::linear(1.0, None),
            crate::testkit::leg(LegKind::Cash, 1.0),
        ];
        let vols = HashMap::from([("MSFT".to_string(), 0.3), ("AAPL".to_string(), 0.4)]);
        let stocks = bind_stocks(&mut legs, &[Some("MSFT"), Some("AAPL"), None], vols);
        let symbols: Vec<&str> = stocks.iter().map(|s| s.symbol.as_str()).collect();
        assert_eq!(symbols, ["AAPL", "MSFT"]);
        assert_eq!(stocks[0].idio_vol, 0.4);
        assert_eq!(legs[0].kind.driver().unwrap().stock, Some(1));
        assert_eq!(legs[1].kind.driver().unwrap().stock, Some(0));
    }

    #[test]
    fn options_are_priced_at_their_base_time() {
        let put = crate::testkit::put(false, 100.0, f64::NAN);
        let mut legs = vec![crate::testkit::leg(LegKind::Option(Box::new(put)), 1.0)];
        price_bases(&mut legs, &[(0, 1.0)], Vec::new());
        let LegKind::Option(option) = &legs[0].kind else {
            unreachable!()
        };
        // The textbook price at the base time (1 year), not the scenarios' (0.5).
        let textbook = exfee_pricing::gbs(
            exfee_pricing::Right::Put,
            100.0,
            100.0,
            1.0,
            0.03,
            0.01,
            0.2,
        );
        assert!(
            (option.model_base - textbook).abs() < 1e-9 * textbook,
            "{}",
            option.model_base
        );
    }
}
