//! What-if: the fee of one account before and after a proposed order,
//! without a batch run.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use exfee_engine::{Holding, LegKey, UnitPnl, account_holdings, legs_unit_pnl};
use exfee_fee::{FeeSchedule, Portfolio, quote};
use exfee_model::{AccountInput, Batch, CashBalance, Decimal, MarketData, Position};
use exfee_scenarios::{MoveBlock, ScenarioSet, SingleStock};

use crate::fees::cents;
use exfee_engine::{AccountPnl, HoldingPnl, prepare, single_stocks};
use exfee_model::net_liquidation_value;

use crate::{EngineConfig, Error, ScenarioSource, usd_to_base};

/// Why a what-if cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum WhatIfError {
    /// No account with that id in the batch.
    #[error("no account {0} in the batch")]
    UnknownAccount(String),
    /// The account (with the order) cannot be valued.
    #[error("account {account} cannot be evaluated: {reasons}")]
    NotEvaluable {
        /// The account.
        account: String,
        /// Why, in words.
        reasons: String,
    },
    /// The scenario set or the engine failed.
    #[error(transparent)]
    Engine(#[from] Error),
}

/// An account's fee figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// Net liquidation value.
    pub nlv: Decimal,
    /// The schedule's risk measure (a loss), to cents.
    pub measure: Decimal,
    /// max(0, measure − NLV).
    pub uncovered: Decimal,
    /// The daily exposure fee at that uncovered amount (before any grace).
    pub daily_fee: Decimal,
    /// The fee the account actually pays a day (before any grace): the
    /// greater of the exposure fee and its inventory fee.
    pub fee_paid: Decimal,
    /// The worst scenario, as `results.csv` names it (its name, or `#index`
    /// of a Monte Carlo draw).
    pub worst_scenario: String,
    /// The fee paid a day (`fee_paid`) split over product classes by their
    /// loss in the worst scenario (the reports' split), largest first.
    pub by_class: Vec<(String, Decimal)>,
}

/// The fee before and after an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatIfAnswer {
    /// Tonight's figures.
    pub before: Quote,
    /// With the order filled at the marks.
    pub after: Quote,
    /// after − before fee actually paid a day.
    pub change: Decimal,
}

/// Default bytes of unit P&L vectors a [`WhatIfBook`] keeps (256 MiB: about
/// 3,300 legs under a 10,000-draw set).
pub const DEFAULT_LEG_CACHE_BYTES: usize = 256 << 20;

/// Accounts' what-if questions against one night: the night's scenario set
/// (its dense moves drawn once and kept), the engine settings and fee
/// schedule of the run, and a bounded cache of per-leg unit P&L vectors
/// shared by every account (a leg is an instrument or a cash currency seen
/// from one base currency).
///
/// An account's scenario P&L is Σ quantity × unit P&L over its holdings in
/// the engine's order, under the very scenario set of the nightly run, with
/// its single-stock scenarios and horizon as the run has them: the figures
/// equal the run's bit for bit. An order changes quantities (or adds legs):
/// the account with the order is prepared again (one account: cheap), its
/// legs' vectors are taken from the cache, only a leg not seen yet is
/// priced, and the sum is made again. Nothing per account is kept here: the
/// memory is the cache's budget and the set's kept moves.
///
/// An order on a single stock the night's set does not move (no account
/// held it tonight) is answered under the night's set with that stock
/// added, as a run of the batch with the order would build it (slower: the
/// set is built for that question; its vectors are not cached).
pub struct WhatIfBook {
    set: ScenarioSet,
    source: ScenarioSource,
    config: EngineConfig,
    schedule: FeeSchedule,
    market: MarketData,
    /// One-account batches with the market, reused (a market is not cloned
    /// per question).
    batches: Mutex<Vec<Batch>>,
    legs: Mutex<LegCache>,
}

/// What the unit P&L cache holds and how it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Legs held.
    pub entries: usize,
    /// Bytes held (vectors and keys).
    pub bytes: usize,
    /// Most bytes it may hold.
    pub budget: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to price the leg.
    pub misses: u64,
}

/// Unit P&L vectors by leg key, least recently used dropped first, within a
/// byte budget.
struct LegCache {
    budget: usize,
    bytes: usize,
    tick: u64,
    map: HashMap<LegKey, (Arc<UnitPnl>, u64)>,
    order: BTreeMap<u64, LegKey>,
    hits: u64,
    misses: u64,
}

fn entry_bytes(key: &LegKey, value: &UnitPnl) -> usize {
    // The vectors, the key twice (map and order) and bookkeeping.
    value.dense.len() * 8 + value.own.len() * 16 + 2 * key.len() + 128
}

impl LegCache {
    fn new(budget: usize) -> Self {
        LegCache {
            budget,
            bytes: 0,
            tick: 0,
            map: HashMap::new(),
            order: BTreeMap::new(),
            hits: 0,
            misses: 0,
        }
    }

    fn get(&mut self, key: &LegKey) -> Option<Arc<UnitPnl>> {
        let Some((value, used)) = self.map.get_mut(key) else {
            self.misses += 1;
            return None;
        };
        self.tick += 1;
        self.order.remove(used);
        *used = self.tick;
        self.order.insert(self.tick, key.clone());
        self.hits += 1;
        Some(Arc::clone(value))
    }

    fn insert(&mut self, key: LegKey, value: Arc<UnitPnl>) {
        let size = entry_bytes(&key, &value);
        if size > self.budget || self.map.contains_key(&key) {
            return;
        }
        while self.bytes + size > self.budget {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            if let Some((gone, _)) = self.map.remove(&old) {
                self.bytes = self.bytes.saturating_sub(entry_bytes(&old, &gone));
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, key.clone());
        self.map.insert(key, (value, self.tick));
        self.bytes += size;
    }

    fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.map.len(),
            bytes: self.bytes,
            budget: self.budget,
            hits: self.hits,
            misses: self.misses,
        }
    }
}

/// The worst scenario as the engine keeps it: the lowest P&L, the first one
/// on a tie, never a NaN nor +∞ (the engine's tail admits a scenario below
/// the current worst, starting from +∞).
fn worst_index(total: &[f64]) -> Option<usize> {
    let mut worst = (f64::INFINITY, None);
    for (i, &p) in total.iter().enumerate() {
        if p < worst.0 {
            worst = (p, Some(i));
        }
    }
    worst.1
}

impl WhatIfBook {
    /// A book for `batch` valued as tonight's run values it: the scenario
    /// set built from the batch's single stocks, the run's engine settings
    /// and fee schedule; at most `cache_bytes` of unit P&L vectors kept.
    ///
    /// # Errors
    ///
    /// [`WhatIfError::Engine`] when the scenario set cannot be built.
    pub fn new(
        batch: &Batch,
        source: &ScenarioSource,
        config: &EngineConfig,
        schedule: &FeeSchedule,
        cache_bytes: usize,
    ) -> Result<WhatIfBook, WhatIfError> {
        let set = source
            .build(single_stocks(batch, source.factor_table()))
            .map_err(Error::from)?;
        Ok(WhatIfBook::with_set(
            set,
            &batch.market,
            source,
            config,
            schedule,
            cache_bytes,
        ))
    }

    /// A book on the set a run evaluated with (`Evaluation::scenarios`,
    /// built from the batch's single stocks), its market, source, engine
    /// settings and schedule. The set's dense moves are drawn here, once.
    pub fn with_set(
        set: ScenarioSet,
        market: &MarketData,
        source: &ScenarioSource,
        config: &EngineConfig,
        schedule: &FeeSchedule,
        cache_bytes: usize,
    ) -> WhatIfBook {
        // The set keeps the draws' factor, currency and volatility moves the
        // first time any is asked for: do it now, not on the first question.
        let mut block = MoveBlock::default();
        set.fill_selected(0..1, &mut block, &[]);
        WhatIfBook {
            set,
            source: source.clone(),
            config: config.clone(),
            schedule: schedule.clone(),
            market: market.clone(),
            batches: Mutex::new(Vec::new()),
            legs: Mutex::new(LegCache::new(cache_bytes)),
        }
    }

    /// The night's scenario set.
    pub fn scenarios(&self) -> &ScenarioSet {
        &self.set
    }

    /// The unit P&L cache's size and hit counts.
    pub fn cache_stats(&self) -> CacheStats {
        self.legs.lock().map(|c| c.stats()).unwrap_or_default()
    }

    /// Prepares what-if questions on `account` (tonight's figures computed
    /// here, from the cache where it can).
    ///
    /// # Errors
    ///
    /// [`WhatIfError`] when the account cannot be evaluated.
    pub fn account(self: &Arc<Self>, account: &AccountInput) -> Result<WhatIf, WhatIfError> {
        let base = account
            .base_currency
            .ok_or_else(|| WhatIfError::NotEvaluable {
                account: account.id.clone(),
                reasons: "no base currency".to_string(),
            })?;
        let usd_to_base =
            usd_to_base(&self.market, base).map_err(|e| WhatIfError::NotEvaluable {
                account: account.id.clone(),
                reasons: e.to_string(),
            })?;
        let before = self.quote_of(account, usd_to_base)?;
        Ok(WhatIf {
            book: Arc::clone(self),
            account: account.clone(),
            usd_to_base,
            before,
        })
    }

    fn not_evaluable(account: &AccountInput, reasons: impl Into<String>) -> WhatIfError {
        WhatIfError::NotEvaluable {
            account: account.id.clone(),
            reasons: reasons.into(),
        }
    }

    /// `account` prepared alone, as `prepare` prepares it within the batch
    /// (an account's holdings depend on it and the market only).
    fn prepare_one(&self, account: &AccountInput) -> crate::Prepared {
        let pooled = self.batches.lock().ok().and_then(|mut pool| pool.pop());
        let mut batch = pooled.unwrap_or_else(|| Batch {
            accounts: Vec::new(),
            market: self.market.clone(),
            errors: Vec::new(),
        });
        batch.accounts.push(account.clone());
        let prepared = prepare(
            &batch,
            self.source.factor_table(),
            self.source.fx_table(),
            &self.config,
        );
        batch.accounts.clear();
        if let Ok(mut pool) = self.batches.lock()
            && pool.len() < 64
        {
            pool.push(batch);
        }
        prepared
    }

    /// The fee figures of `account` under the night's set.
    fn quote_of(&self, account: &AccountInput, usd_to_base: Decimal) -> Result<Quote, WhatIfError> {
        let nlv = net_liquidation_value(account, &self.market)
            .map(cents)
            .map_err(|e| Self::not_evaluable(account, e.to_string()))?;
        let prepared = self.prepare_one(account);
        let holdings: Vec<Holding> = account_holdings(&prepared, 0).map_err(|errors| {
            if errors.is_empty() {
                Self::not_evaluable(account, "cannot be prepared")
            } else {
                Self::not_evaluable(account, crate::io::join_errors(&errors))
            }
        })?;
        // A single stock the night's set does not move: the set of a run of
        // the batch with this account as it now is.
        let new_stocks: Vec<SingleStock> = prepared
            .single_stocks()
            .iter()
            .filter(|s| self.set.stock_index(&s.symbol).is_none())
            .cloned()
            .collect();
        let own_set;
        let (set, shared) = if new_stocks.is_empty() {
            (&self.set, true)
        } else {
            let mut stocks = self.set.stocks().to_vec();
            stocks.extend(new_stocks);
            stocks.sort_by(|a, b| a.symbol.cmp(&b.symbol));
            stocks.dedup_by(|a, b| a.symbol == b.symbol);
            own_set = self.source.build(stocks).map_err(Error::from)?;
            (&own_set, false)
        };
        let mut units: Vec<Option<Arc<UnitPnl>>> = vec![None; holdings.len()];
        if shared && let Ok(mut cache) = self.legs.lock() {
            for (unit, holding) in units.iter_mut().zip(&holdings) {
                *unit = cache.get(&holding.key);
            }
        }
        let missing: Vec<usize> = (0..holdings.len())
            .filter(|&h| units[h].is_none())
            .collect();
        let legs: Vec<usize> = missing.iter().map(|&h| holdings[h].leg).collect();
        let priced = legs_unit_pnl(&prepared, set, &legs).map_err(Error::from)?;
        for (&h, value) in missing.iter().zip(priced) {
            let value = Arc::new(value);
            if shared && let Ok(mut cache) = self.legs.lock() {
                cache.insert(holdings[h].key.clone(), Arc::clone(&value));
            }
            units[h] = Some(value);
        }
        let units: Vec<Arc<UnitPnl>> = units.into_iter().flatten().collect();
        if units.len() != holdings.len() {
            return Err(Self::not_evaluable(account, "a holding was not priced"));
        }
        let n = set.len();
        let total = scenario_total(&holdings, &units, n);
        let Some(worst) = worst_index(&total) else {
            return Err(Self::not_evaluable(
                account,
                "scenario P&L is not a finite number (values too large to revalue)",
            ));
        };
        // The engine's tail never holds a NaN.
        let losses: Vec<f64> = total.iter().filter(|p| !p.is_nan()).map(|p| -p).collect();
        let q = quote(
            &self.schedule,
            &Portfolio {
                losses: &losses,
                scenarios: n,
                nlv,
                usd_to_base,
                inventory_fee: account.inventory_fee,
            },
        )
        .map_err(|e| Self::not_evaluable(account, e.to_string()))?;
        // The split over classes in the worst scenario (the reports' rule),
        // from each holding's P&L there.
        let at_worst = AccountPnl {
            account: 0,
            holdings: holdings
                .iter()
                .zip(&units)
                .map(|(h, u)| HoldingPnl {
                    info: h.info.clone(),
                    quantity: h.quantity,
                    unit_pnl: vec![u.at(worst)],
                    still_pnl: u.still_pnl,
                })
                .collect(),
        };
        Ok(Quote {
            nlv,
            measure: q.measure,
            uncovered: q.uncovered,
            daily_fee: q.breakdown.daily_fee,
            fee_paid: q.fee_paid,
            worst_scenario: crate::io::scenario_label(worst, set.name(worst)),
            by_class: crate::reporting::fee_by_class(&at_worst, 0, q.fee_paid),
        })
    }
}

/// The account's scenario P&L: Σ quantity × unit P&L in holding order (the
/// engine's sums) over the `n` scenarios of the set.
fn scenario_total(holdings: &[Holding], units: &[Arc<UnitPnl>], n: usize) -> Vec<f64> {
    // Σ quantity × unit P&L in holding order: the engine's sums. In the
    // single-stock scenarios of stocks the account does not hold every
    // holding is at its no-move P&L: the account's P&L there is its
    // still total (the engine's sparse evaluation, which leaves out the
    // holdings that are zero there: the same values).
    let dense = units.first().map_or(0, |u| u.dense.len()).min(n);
    let mut total = vec![0.0; n];
    for (holding, unit) in holdings.iter().zip(units) {
        let q = holding.quantity;
        for (t, &p) in total[..dense].iter_mut().zip(&unit.dense) {
            *t += q * p;
        }
    }
    let still = holdings
        .iter()
        .zip(units)
        .fold(0.0, |sum, (h, u)| sum + h.quantity * u.still_pnl);
    total[dense..].fill(still);
    let mut own: Vec<usize> = units
        .iter()
        .flat_map(|u| u.own.iter().map(|&(s, _)| s))
        .filter(|&s| s >= dense && s < n)
        .collect();
    own.sort_unstable();
    own.dedup();
    for &s in &own {
        let mut sum = 0.0;
        for (holding, unit) in holdings.iter().zip(units) {
            sum += holding.quantity * unit.at(s);
        }
        total[s] = sum;
    }
    total
}

/// Answers "what does this order do to the fee?" for one account, through
/// a [`WhatIfBook`] (the night's set and the shared unit P&L cache).
///
/// The answer equals a full re-evaluation of the batch with the order
/// applied (tonight's figures equal `exfee run`'s).
///
/// # Examples
///
/// See `examples/what_if.rs`.
pub struct WhatIf {
    book: Arc<WhatIfBook>,
    account: AccountInput,
    usd_to_base: Decimal,
    before: Quote,
}

impl WhatIf {
    /// Prepares what-if questions on `account_id` of `batch`, valued as
    /// tonight's run values it: the same scenario set (built here from the
    /// batch's single stocks), engine settings and fee schedule. For many
    /// accounts build one [`WhatIfBook`] and ask it ([`WhatIfBook::account`]):
    /// the set and the unit P&L are then shared.
    ///
    /// # Errors
    ///
    /// [`WhatIfError`] when the account is unknown or cannot be evaluated.
    pub fn new(
        batch: &Batch,
        account_id: &str,
        source: &ScenarioSource,
        config: &EngineConfig,
        schedule: &FeeSchedule,
    ) -> Result<WhatIf, WhatIfError> {
        let account = batch
            .accounts
            .iter()
            .find(|a| a.id == account_id)
            .ok_or_else(|| WhatIfError::UnknownAccount(account_id.to_string()))?;
        let book = Arc::new(WhatIfBook::new(
            batch,
            source,
            config,
            schedule,
            DEFAULT_LEG_CACHE_BYTES,
        )?);
        book.account(account)
    }

    /// Tonight's figures.
    pub fn before(&self) -> &Quote {
        &self.before
    }

    /// The fee before and after filling `order` (positions to add, signed
    /// quantities, at their marks).
    ///
    /// # Errors
    ///
    /// [`WhatIfError`] when the account with the order cannot be valued.
    pub fn order(&self, order: &[Position]) -> Result<WhatIfAnswer, WhatIfError> {
        // Filled at the marks: the cash moves the other way (futures settle
        // their variation margin later, so they move no cash now).
        let mut adjusted = self.account.clone();
        for position in order {
            adjusted.positions.push(position.clone());
            let instrument = &position.instrument;
            let value = instrument.market_value(position.quantity).ok_or_else(|| {
                WhatIfError::NotEvaluable {
                    account: self.account.id.clone(),
                    reasons: format!("{}: order value overflows", instrument.symbol),
                }
            })?;
            if !value.is_zero() {
                adjusted.cash.push(CashBalance {
                    currency: instrument.currency,
                    // Negation is exact (the Decimal range is symmetric).
                    amount: Decimal::ZERO.saturating_sub(value),
                });
            }
        }
        let after = self.book.quote_of(&adjusted, self.usd_to_base)?;
        Ok(WhatIfAnswer {
            // Both fees are at least 0: the difference is exact.
            change: after.fee_paid.saturating_sub(self.before.fee_paid),
            before: self.before.clone(),
            after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(len: usize, value: f64) -> Arc<UnitPnl> {
        Arc::new(UnitPnl {
            dense: vec![value; len],
            still_pnl: 0.0,
            own: Vec::new(),
        })
    }

    fn keys(book: &Batch) -> Vec<LegKey> {
        // Keys of real legs: cash in three currencies seen from USD.
        let prepared = prepare(
            book,
            &crate::ScenarioTables::current().factors,
            &crate::ScenarioTables::current().fx,
            &EngineConfig::new("2026-11-20".parse().unwrap()),
        );
        exfee_engine::account_holdings(&prepared, 0)
            .unwrap()
            .into_iter()
            .map(|h| h.key)
            .collect()
    }

    #[test]
    fn the_leg_cache_drops_the_least_recently_used_within_its_budget() {
        let mut account = AccountInput::new("A", exfee_model::Currency::USD);
        for (code, amount) in [("EUR", 1), ("GBP", 2), ("JPY", 3)] {
            account.cash.push(CashBalance {
                currency: code.parse().unwrap(),
                amount: Decimal::from(amount),
            });
        }
        let mut market = MarketData::default();
        for (code, rate) in [("EUR", "1.1"), ("GBP", "1.25"), ("JPY", "0.0064")] {
            market
                .fx
                .insert(code.parse().unwrap(), Ok(rate.parse().unwrap()));
        }
        let batch = Batch {
            accounts: vec![account],
            market,
            errors: Vec::new(),
        };
        let k = keys(&batch);
        assert_eq!(k.len(), 3);
        // Room for two entries of 100 scenarios, not three.
        let one = entry_bytes(&k[0], &unit(100, 0.0));
        let mut cache = LegCache::new(2 * one + one / 2);
        cache.insert(k[0].clone(), unit(100, 1.0));
        cache.insert(k[1].clone(), unit(100, 2.0));
        // Using the first makes the second the least recently used.
        assert_eq!(cache.get(&k[0]).unwrap().dense[0], 1.0);
        cache.insert(k[2].clone(), unit(100, 3.0));
        assert!(cache.get(&k[1]).is_none());
        assert_eq!(cache.get(&k[0]).unwrap().dense[0], 1.0);
        assert_eq!(cache.get(&k[2]).unwrap().dense[0], 3.0);
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.hits, stats.misses), (2, 3, 1));
        assert_eq!(stats.bytes, 2 * one);
        // An entry larger than the whole budget is not kept.
        cache.insert(k[1].clone(), unit(1_000, 0.0));
        assert_eq!(cache.stats().entries, 2);
    }

    #[test]
    fn the_worst_scenario_is_the_first_lowest_never_nan() {
        assert_eq!(worst_index(&[1.0, -3.0, f64::NAN, -3.0]), Some(1));
        assert_eq!(worst_index(&[f64::NAN, 2.0]), Some(1));
        assert_eq!(worst_index(&[f64::NAN, f64::INFINITY]), None);
        assert_eq!(worst_index(&[f64::NEG_INFINITY, -1.0]), Some(0));
        assert_eq!(worst_index(&[]), None);
    }
}
