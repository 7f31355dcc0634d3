//! What-if: the fee of one account before and after a proposed order,
//! without a batch run.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use exfee_engine::{Holding, LegKey, UnitPnl, account_holdings, legs_unit_pnl};
use exfee_fee::{FeeSchedule, Portfolio, quote};
use exfee_model::{AccountInput, Batch, CashBalance, Decimal, MarketData, Position};
use exfee_scenarios::{MoveBlock, ScenarioSet, SingleStock};

use crate::fees::cents;
use exfee_engine::{AccountPnl, HoldingPnl, Moving, prepare, single_stocks};
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

/// Most `market/factors.csv` rows a pooled one-account batch keeps between
/// questions (the engine's resolver resolves each row it is given: a few
/// dozen cost little; see `WhatIfBook::prepare_one`).
const POOLED_FACTOR_ROWS: usize = 64;

/// Default bytes of accounts' prepared what-if state a [`WhatIfBook`] keeps
/// (256 MiB: about 3,000 accounts under a 10,000-draw set, an account's
/// dense scenario P&L being 8 bytes a draw).
pub const DEFAULT_ACCOUNT_CACHE_BYTES: usize = 256 << 20;

/// Accounts' what-if questions against one night: the night's scenario set
/// (its dense moves drawn once and kept), the engine settings and fee
/// schedule of the run, a bounded cache of per-leg unit P&L vectors shared
/// by every account (a leg is an instrument or a cash currency seen from
/// one base currency), and a bounded cache of accounts' prepared state.
///
/// An account's scenario P&L is Σ quantity × unit P&L over its holdings in
/// the engine's order, under the very scenario set of the nightly run, with
/// its single-stock scenarios and horizon as the run has them: the figures
/// equal the run's bit for bit.
///
/// An account's first question sums its P&L in full and keeps, within the
/// account cache's budget, its holdings, tonight's figures and its P&L in
/// the dense scenarios. An order is then answered from that: the account
/// with the order is prepared again (one account: cheap), the P&L of the
/// holdings the order changes is added to the kept vector (an estimate
/// within a proven rounding bound of the engine's sum), and only the
/// scenarios that can be among the measure's worst by that bound are summed
/// again exactly, in the engine's order; the single-stock scenarios are
/// summed exactly (they are few distinct values). The measure, the worst
/// scenario and the split over classes are then those of a full
/// re-evaluation, bit for bit (docs/serve.md, *The what-if fast path*).
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
    legs: Mutex<Lru<LegKey, Arc<UnitPnl>>>,
    accounts: Mutex<Lru<String, Arc<AccountBase>>>,
    /// Answers after an order from an account's kept state / by a full sum.
    incremental: AtomicU64,
    full: AtomicU64,
}

/// What a cache holds and how it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Entries held (legs, or accounts).
    pub entries: usize,
    /// Bytes held (vectors and keys).
    pub bytes: usize,
    /// Most bytes it may hold.
    pub budget: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to compute the entry.
    pub misses: u64,
}

/// How a book answered orders: from an account's kept state (adding the
/// order's legs to its kept P&L) or by summing every holding again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AnswerStats {
    /// Orders answered from the account's kept state.
    pub incremental: u64,
    /// Orders answered by a full sum (no kept state for the account, a
    /// single stock new to the night, or too many near-ties).
    pub full: u64,
}

/// How much work a question may do: anything it needs, or only what the
/// kept state answers cheaply (no account summed in full, no leg priced, no
/// scenario set built: a few passes over the dense scenarios and the
/// account prepared alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    /// Whatever the answer needs.
    Any,
    /// From the account's kept state and the cached legs only; otherwise
    /// no answer (`None`), and nothing counted.
    KeptOnly,
}

/// Values by key, least recently used dropped first, within a byte budget.
struct Lru<K, V> {
    budget: usize,
    bytes: usize,
    tick: u64,
    /// Value, last use, bytes charged.
    map: HashMap<K, (V, u64, usize)>,
    order: BTreeMap<u64, K>,
    hits: u64,
    misses: u64,
}

fn entry_bytes(key: &LegKey, value: &UnitPnl) -> usize {
    // The vectors, the key twice (map and order) and bookkeeping.
    value.dense.len() * 8 + value.own.len() * 16 + 2 * key.len() + 128
}

impl<K: Eq + Hash + Clone, V: Clone> Lru<K, V> {
    fn new(budget: usize) -> Self {
        Lru {
            budget,
            bytes: 0,
            tick: 0,
            map: HashMap::new(),
            order: BTreeMap::new(),
            hits: 0,
            misses: 0,
        }
    }

    /// The value under `key` if `keep` accepts it (else counted a miss).
    fn get_if<Q>(&mut self, key: &Q, keep: impl FnOnce(&V) -> bool) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let found = self.find(key, keep);
        if found.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        found
    }

    /// The value under `key` if `keep` accepts it, made the most recently
    /// used; neither a hit nor a miss is counted (the caller counts).
    fn find<Q>(&mut self, key: &Q, keep: impl FnOnce(&V) -> bool) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (value, used, _) = self.map.get_mut(key).filter(|(v, _, _)| keep(v))?;
        if let Some(k) = self.order.remove(used) {
            self.tick += 1;
            *used = self.tick;
            self.order.insert(self.tick, k);
        }
        Some(value.clone())
    }

    /// Whether `key` is held (neither counted nor made recent).
    fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.contains_key(key)
    }

    fn get<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_if(key, |_| true)
    }

    /// Keeps `value` under `key` (replacing what was there), charged `size`
    /// bytes, dropping the least recently used entries to stay within the
    /// budget; a value larger than the whole budget is not kept.
    fn insert(&mut self, key: K, value: V, size: usize) {
        self.remove(&key);
        if size > self.budget {
            return;
        }
        while self.bytes + size > self.budget {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            if let Some((_, _, gone)) = self.map.remove(&old) {
                self.bytes = self.bytes.saturating_sub(gone);
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, key.clone());
        self.map.insert(key, (value, self.tick, size));
        self.bytes += size;
    }

    fn remove(&mut self, key: &K) {
        if let Some((_, used, size)) = self.map.remove(key) {
            self.order.remove(&used);
            self.bytes = self.bytes.saturating_sub(size);
        }
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

/// What a book keeps of an account between questions.
struct AccountBase {
    /// The account as asked about (a question on an account of the same id
    /// but other rows does not use this state).
    account: AccountInput,
    usd_to_base: Decimal,
    /// Tonight's figures.
    before: Quote,
    /// Its holdings in the engine's order.
    holdings: Vec<Holding>,
    /// Where each leg is among `holdings`.
    slot: HashMap<LegKey, usize>,
    /// Its P&L in each dense scenario of the night's set, summed as the
    /// engine sums it, and the largest Σ |quantity × unit P&L| over them;
    /// `None` when it holds a single stock the night's set does not move
    /// (its questions are then answered in full).
    dense: Option<(Vec<f64>, f64)>,
}

impl AccountBase {
    /// Bytes charged to the account cache: the vector exactly, the rest
    /// (rows, holdings' keys and descriptions) generously.
    fn bytes(&self) -> usize {
        let vector = self.dense.as_ref().map_or(0, |(d, _)| d.len() * 8);
        let holdings: usize = self
            .holdings
            .iter()
            .map(|h| 3 * h.key.len() + 256 + h.info.symbol.len() + h.info.class.len())
            .sum();
        let rows = (self.account.positions.len() + self.account.cash.len()) * 256;
        vector + holdings + rows + 1024
    }
}

/// An account valued under the night's set (or, holding a single stock the
/// night's set does not move, under its own).
struct Valued {
    nlv: Decimal,
    holdings: Vec<Holding>,
    units: Vec<Arc<UnitPnl>>,
    own_set: Option<ScenarioSet>,
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
    /// and fee schedule; at most `cache_bytes` of unit P&L vectors kept
    /// (and [`DEFAULT_ACCOUNT_CACHE_BYTES`] of accounts' state; see
    /// [`with_account_cache`](WhatIfBook::with_account_cache)).
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
            legs: Mutex::new(Lru::new(cache_bytes)),
            accounts: Mutex::new(Lru::new(DEFAULT_ACCOUNT_CACHE_BYTES)),
            incremental: AtomicU64::new(0),
            full: AtomicU64::new(0),
        }
    }

    /// The book with at most `bytes` of accounts' prepared state kept
    /// (tonight's figures, holdings and dense scenario P&L of the accounts
    /// asked about, least recently used dropped first). 0 keeps none:
    /// every order is then answered by a full sum.
    #[must_use]
    pub fn with_account_cache(self, bytes: usize) -> WhatIfBook {
        if let Ok(mut accounts) = self.accounts.lock() {
            *accounts = Lru::new(bytes);
        }
        self
    }

    /// Whether the book keeps accounts' state (its account cache has a
    /// budget).
    fn keeps_accounts(&self) -> bool {
        self.accounts.lock().is_ok_and(|c| c.budget > 0)
    }

    /// The night's scenario set.
    pub fn scenarios(&self) -> &ScenarioSet {
        &self.set
    }

    /// The unit P&L cache's size and hit counts.
    pub fn cache_stats(&self) -> CacheStats {
        self.legs.lock().map(|c| c.stats()).unwrap_or_default()
    }

    /// The account cache's size and hit counts.
    pub fn account_cache_stats(&self) -> CacheStats {
        self.accounts.lock().map(|c| c.stats()).unwrap_or_default()
    }

    /// Counts an order answered from kept state only: its account's state
    /// was found in the cache.
    fn kept_answer(&self) {
        if let Ok(mut accounts) = self.accounts.lock() {
            accounts.hits += 1;
        }
    }

    /// How orders were answered so far.
    pub fn answer_stats(&self) -> AnswerStats {
        AnswerStats {
            incremental: self.incremental.load(Ordering::Relaxed),
            full: self.full.load(Ordering::Relaxed),
        }
    }

    /// Prepares what-if questions on `account` (tonight's figures computed
    /// here, or kept from an earlier question on the same account).
    ///
    /// # Errors
    ///
    /// [`WhatIfError`] when the account cannot be evaluated.
    pub fn account(self: &Arc<Self>, account: &AccountInput) -> Result<WhatIf, WhatIfError> {
        let base = self
            .base_of(account, Work::Any)?
            .ok_or_else(|| Self::not_evaluable(account, "cannot be valued"))?;
        Ok(WhatIf {
            book: Arc::clone(self),
            account: account.clone(),
            usd_to_base: base.usd_to_base,
            before: base.before.clone(),
        })
    }

    fn not_evaluable(account: &AccountInput, reasons: impl Into<String>) -> WhatIfError {
        WhatIfError::NotEvaluable {
            account: account.id.clone(),
            reasons: reasons.into(),
        }
    }

    /// The kept state of `account`, or computed (and kept) now; with
    /// [`Work::KeptOnly`], `None` when it is not kept (not counted a miss).
    fn base_of(
        &self,
        account: &AccountInput,
        work: Work,
    ) -> Result<Option<Arc<AccountBase>>, WhatIfError> {
        // A question that may only use kept state counts its hit when it is
        // answered ([`WhatIfBook::kept_answer`]): one that is not goes on
        // to ask again with any work, which counts it.
        let kept = self.accounts.lock().ok().and_then(|mut c| {
            let same = |b: &Arc<AccountBase>| b.account == *account;
            match work {
                Work::Any => c.get_if(account.id.as_str(), same),
                Work::KeptOnly => c.find(account.id.as_str(), same),
            }
        });
        if let Some(base) = kept {
            return Ok(Some(base));
        }
        if work == Work::KeptOnly {
            return Ok(None);
        }
        let base = Arc::new(self.build_base(account)?);
        if let Ok(mut cache) = self.accounts.lock() {
            cache.insert(account.id.clone(), Arc::clone(&base), base.bytes());
        }
        Ok(Some(base))
    }

    fn build_base(&self, account: &AccountInput) -> Result<AccountBase, WhatIfError> {
        let base = account
            .base_currency
            .ok_or_else(|| Self::not_evaluable(account, "no base currency"))?;
        let usd_to_base = usd_to_base(&self.market, base)
            .map_err(|e| Self::not_evaluable(account, e.to_string()))?;
        let valued = self
            .value(account, Work::Any)?
            .ok_or_else(|| Self::not_evaluable(account, "cannot be valued"))?;
        let n = valued.own_set.as_ref().unwrap_or(&self.set).len();
        let total = scenario_total(&valued.holdings, &valued.units, n);
        let before = self.finish(account, &valued, usd_to_base, &total)?;
        let dense = valued.own_set.is_none().then(|| {
            let d = valued.units.first().map_or(0, |u| u.dense.len()).min(n);
            (
                total[..d].to_vec(),
                magnitude(&valued.holdings, &valued.units, d),
            )
        });
        let slot = valued
            .holdings
            .iter()
            .enumerate()
            .map(|(i, h)| (h.key.clone(), i))
            .collect();
        Ok(AccountBase {
            account: account.clone(),
            usd_to_base,
            before,
            holdings: valued.holdings,
            slot,
            dense,
        })
    }

    /// `account` prepared alone, as `prepare` prepares it within the batch
    /// (an account's holdings depend on it and the market only).
    ///
    /// The market it is prepared against holds, of `market/factors.csv`, the
    /// rows of the symbols its positions are driven by (each position's risk
    /// symbol: its own, or its underlying's) and at most a few dozen others;
    /// the FX rates, underlyings and rates whole. The engine reads the factor rows through
    /// its resolver, which looks a position's risk symbol up among them and
    /// otherwise falls back to the factor table (representative symbols,
    /// then the class and currency's default): every symbol looked up finds
    /// the row it finds in the whole market, or none in both, so the
    /// holdings are the same, bit for bit. The resolver resolves every row it
    /// is given when it is built, so preparing against the whole market would
    /// cost a pass over every row of the night (≈ 5,800 at 20,000 accounts)
    /// per question instead of the account's few (docs/performance.md).
    fn prepare_one(&self, account: &AccountInput) -> crate::Prepared {
        let pooled = self.batches.lock().ok().and_then(|mut pool| pool.pop());
        let mut batch = pooled.unwrap_or_else(|| Batch {
            accounts: Vec::new(),
            market: MarketData {
                factors: BTreeMap::new(),
                ..self.market.clone()
            },
            errors: Vec::new(),
        });
        // Rows of other accounts' symbols, kept from the batch's last use,
        // change nothing either: they are kept (an account asked again finds
        // its rows there) up to a few dozen, then cleared.
        if batch.market.factors.len() + account.positions.len() > POOLED_FACTOR_ROWS {
            batch.market.factors.clear();
        }
        for position in &account.positions {
            let symbol = position.instrument.risk_symbol();
            if !batch.market.factors.contains_key(symbol)
                && let Some(row) = self.market.factors.get(symbol)
            {
                batch.market.factors.insert(symbol.to_string(), row.clone());
            }
        }
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

    /// `account`'s NLV, holdings and their unit P&L (from the cache where
    /// it can); with [`Work::KeptOnly`], `None` when a leg is not in the
    /// cache or a single stock is new to the night's set.
    fn value(&self, account: &AccountInput, work: Work) -> Result<Option<Valued>, WhatIfError> {
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
        if work == Work::KeptOnly
            && (!new_stocks.is_empty()
                || !self
                    .legs
                    .lock()
                    .is_ok_and(|cache| holdings.iter().all(|holding| cache.contains(&holding.key))))
        {
            return Ok(None);
        }
        let own_set = if new_stocks.is_empty() {
            None
        } else {
            let mut stocks = self.set.stocks().to_vec();
            stocks.extend(new_stocks);
            stocks.sort_by(|a, b| a.symbol.cmp(&b.symbol));
            stocks.dedup_by(|a, b| a.symbol == b.symbol);
            Some(self.source.build(stocks).map_err(Error::from)?)
        };
        let shared = own_set.is_none();
        let set = own_set.as_ref().unwrap_or(&self.set);
        let mut units: Vec<Option<Arc<UnitPnl>>> = vec![None; holdings.len()];
        if shared && let Ok(mut cache) = self.legs.lock() {
            for (unit, holding) in units.iter_mut().zip(&holdings) {
                *unit = cache.get(&holding.key);
            }
        }
        let missing: Vec<usize> = (0..holdings.len())
            .filter(|&h| units[h].is_none())
            .collect();
        if work == Work::KeptOnly && !missing.is_empty() {
            // Dropped from the cache since it was looked at.
            return Ok(None);
        }
        let legs: Vec<usize> = missing.iter().map(|&h| holdings[h].leg).collect();
        let priced = legs_unit_pnl(&prepared, set, &legs).map_err(Error::from)?;
        for (&h, value) in missing.iter().zip(priced) {
            let value = Arc::new(value);
            if shared && let Ok(mut cache) = self.legs.lock() {
                let size = entry_bytes(&holdings[h].key, &value);
                cache.insert(holdings[h].key.clone(), Arc::clone(&value), size);
            }
            units[h] = Some(value);
        }
        let units: Vec<Arc<UnitPnl>> = units.into_iter().flatten().collect();
        if units.len() != holdings.len() {
            return Err(Self::not_evaluable(account, "a holding was not priced"));
        }
        Ok(Some(Valued {
            nlv,
            holdings,
            units,
            own_set,
        }))
    }

    /// The fee figures of a valued account from its P&L in every scenario.
    fn finish(
        &self,
        account: &AccountInput,
        valued: &Valued,
        usd_to_base: Decimal,
        total: &[f64],
    ) -> Result<Quote, WhatIfError> {
        let Some(worst) = worst_index(total) else {
            return Err(Self::not_evaluable(
                account,
                "scenario P&L is not a finite number (values too large to revalue)",
            ));
        };
        // The engine's tail never holds a NaN.
        let losses: Vec<f64> = total.iter().filter(|p| !p.is_nan()).map(|p| -p).collect();
        self.assemble(account, valued, usd_to_base, &losses, worst)
    }

    /// The fee figures of a valued account from its losses (all of them, or
    /// a part holding the ones the measure reads) and its worst scenario.
    fn assemble(
        &self,
        account: &AccountInput,
        valued: &Valued,
        usd_to_base: Decimal,
        losses: &[f64],
        worst: usize,
    ) -> Result<Quote, WhatIfError> {
        let set = valued.own_set.as_ref().unwrap_or(&self.set);
        let q = quote(
            &self.schedule,
            &Portfolio {
                losses,
                scenarios: set.len(),
                nlv: valued.nlv,
                usd_to_base,
                inventory_fee: account.inventory_fee,
            },
        )
        .map_err(|e| Self::not_evaluable(account, e.to_string()))?;
        // The split over classes in the worst scenario (the reports' rule),
        // from each holding's P&L there.
        let at_worst = AccountPnl {
            account: 0,
            holdings: valued
                .holdings
                .iter()
                .zip(&valued.units)
                .map(|(h, u)| HoldingPnl {
                    info: h.info.clone(),
                    quantity: h.quantity,
                    unit_pnl: vec![u.at(worst)],
                    still_pnl: u.still_pnl,
                })
                .collect(),
            moving: Moving::everywhere(1),
        };
        Ok(Quote {
            nlv: valued.nlv,
            measure: q.measure,
            uncovered: q.uncovered,
            daily_fee: q.breakdown.daily_fee,
            fee_paid: q.fee_paid,
            worst_scenario: crate::io::scenario_label(worst, set.name(worst)),
            by_class: crate::reporting::fee_by_class(&at_worst, 0, q.fee_paid),
        })
    }

    /// The fee figures of `adjusted` (`base`'s account with an order),
    /// from `base`'s kept P&L where it can; with [`Work::KeptOnly`], `None`
    /// where that is not enough.
    fn quote_after(
        &self,
        base: Option<&AccountBase>,
        adjusted: &AccountInput,
        usd_to_base: Decimal,
        work: Work,
    ) -> Result<Option<Quote>, WhatIfError> {
        let Some(valued) = self.value(adjusted, work)? else {
            return Ok(None);
        };
        if valued.own_set.is_none()
            && let Some(base) = base
            && let Some((dense, magnitude)) = &base.dense
        {
            let needed = self.schedule.measure.scenarios_needed(self.set.len());
            let tail = tail_after(
                base,
                dense,
                *magnitude,
                &valued.holdings,
                &valued.units,
                self.set.len(),
                needed,
            );
            if let Some(tail) = tail {
                self.incremental.fetch_add(1, Ordering::Relaxed);
                return self
                    .assemble(adjusted, &valued, usd_to_base, &tail.losses, tail.worst)
                    .map(Some);
            }
        }
        if work == Work::KeptOnly {
            return Ok(None);
        }
        self.full.fetch_add(1, Ordering::Relaxed);
        let n = valued.own_set.as_ref().unwrap_or(&self.set).len();
        let total = scenario_total(&valued.holdings, &valued.units, n);
        self.finish(adjusted, &valued, usd_to_base, &total)
            .map(Some)
    }
}

/// The largest Σ |quantity × unit P&L| over the holdings in one of the
/// first `dense` scenarios (what bounds the rounding of their sums).
fn magnitude(holdings: &[Holding], units: &[Arc<UnitPnl>], dense: usize) -> f64 {
    let mut sum = vec![0.0; dense];
    for (holding, unit) in holdings.iter().zip(units) {
        let q = holding.quantity.abs();
        for (t, &p) in sum.iter_mut().zip(&unit.dense) {
            *t += q * p.abs();
        }
    }
    // A NaN (never expected) makes the bound NaN: the fast path then
    // declines.
    exfee_engine::largest_abs(&sum)
}

/// The lowest of `values` and whether every one is finite, in eight lanes
/// (so that it vectorises).
fn lowest_finite(values: &[f64]) -> (f64, bool) {
    let mut low = [f64::INFINITY; 8];
    let mut finite = [true; 8];
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for j in 0..8 {
            let v = chunk[j];
            low[j] = if v < low[j] { v } else { low[j] };
            finite[j] &= v.is_finite();
        }
    }
    let mut lowest = low.iter().copied().fold(f64::INFINITY, f64::min);
    let mut all = finite.iter().all(|&f| f);
    for &v in rest {
        lowest = lowest.min(v);
        all &= v.is_finite();
    }
    (lowest, all)
}

/// The losses the measure reads and the worst scenario, from an account's
/// kept state.
struct Tail {
    /// Losses of a part of the scenarios that holds the `needed` largest.
    losses: Vec<f64>,
    worst: usize,
}

/// The measure's inputs for the account of `base` with an order (its
/// holdings `holdings`, valued `units`, in the engine's order) over the `n`
/// scenarios of the night's set, without summing every holding in every
/// scenario; `None` when it cannot vouch for them (a non-finite value, a
/// holding gone, too many near-ties): the caller then sums in full.
///
/// The kept dense P&L plus (new − old quantity) × unit P&L of the holdings
/// that changed is an estimate `A` of the engine's sum `S` of the account
/// with the order. Both are sums of at most `H + H' + m` rounded
/// operations over the same terms, so |A − S| ≤ ε with ε = (H + H' + m + 8)
/// · 2⁻⁵⁰ · Z (Higham, *Accuracy and Stability of Numerical Algorithms*,
/// §3.1: a recursive sum of products errs by at most γₙ Σ|xᵢyᵢ|, γₙ ≈ n·2⁻⁵³;
/// the constant here is four times that), Z the largest Σ |quantity × unit
/// P&L| of the kept account plus Σ (|old| + |new|) · max |unit P&L| of the
/// changed holdings. If τ is the `needed`-th lowest estimate, every
/// scenario among the `needed` lowest sums has A ≤ τ + 2ε: only those are
/// summed again exactly, in the engine's order. The single-stock scenarios
/// are summed exactly (each own scenario once, the others share one value).
fn tail_after(
    base: &AccountBase,
    dense: &[f64],
    magnitude: f64,
    holdings: &[Holding],
    units: &[Arc<UnitPnl>],
    n: usize,
    needed: usize,
) -> Option<Tail> {
    let d = dense.len();
    if d > n || units.iter().any(|u| u.dense.len() != d) || !magnitude.is_finite() {
        return None;
    }
    // The holdings the order changed, and by how much.
    let mut seen = 0;
    let mut changed: Vec<(usize, f64, f64)> = Vec::new();
    for (i, holding) in holdings.iter().enumerate() {
        // A new leg counts as changed even at quantity 0 (its unit P&L then
        // enters the estimate, which declines if it is not finite).
        let (old, new) = match base.slot.get(&holding.key) {
            Some(&j) => {
                seen += 1;
                (base.holdings.get(j)?.quantity, false)
            }
            None => (0.0, true),
        };
        if new || holding.quantity != old {
            changed.push((
                i,
                holding.quantity - old,
                old.abs() + holding.quantity.abs(),
            ));
        }
    }
    if seen != base.holdings.len() {
        return None;
    }
    let mut scratch = ESTIMATE.take();
    scratch.clear();
    scratch.extend_from_slice(dense);
    let bound = Bound {
        magnitude,
        terms: holdings.len() + base.holdings.len() + changed.len() + 8,
    };
    let tail = tail_from(&mut scratch, &changed, bound, holdings, units, n, needed);
    ESTIMATE.set(scratch);
    tail
}

thread_local! {
    /// The estimate's vector, one per thread: not allocated per question.
    static ESTIMATE: std::cell::Cell<Vec<f64>> = const { std::cell::Cell::new(Vec::new()) };
    /// The estimates and sparse sums τ is selected among, one per thread.
    static SELECT: std::cell::Cell<Vec<f64>> = const { std::cell::Cell::new(Vec::new()) };
}

/// What the rounding bound is made of: the kept largest Σ |q·u| and the
/// count of rounded operations (plus slack).
#[derive(Clone, Copy)]
struct Bound {
    magnitude: f64,
    terms: usize,
}

/// [`tail_after`] with the kept dense P&L copied into `estimate` and the
/// holdings that changed: (index, new − old quantity, |old| + |new|).
fn tail_from(
    estimate: &mut [f64],
    changed: &[(usize, f64, f64)],
    bound: Bound,
    holdings: &[Holding],
    units: &[Arc<UnitPnl>],
    n: usize,
    needed: usize,
) -> Option<Tail> {
    let d = estimate.len();
    let mut spread = 0.0;
    for &(i, step, weight) in changed {
        for (a, &p) in estimate.iter_mut().zip(&units[i].dense) {
            *a += step * p;
        }
        spread += weight * units[i].largest;
    }
    let terms = bound.terms as f64;
    let eps = terms * (bound.magnitude + spread) * f64::EPSILON / 4.0 + terms * f64::MIN_POSITIVE;
    if !eps.is_finite() {
        return None;
    }
    // The sparse single-stock scenarios, exactly: as `scenario_total`.
    let still = holdings
        .iter()
        .zip(units)
        .fold(0.0, |sum, (h, u)| sum + h.quantity * u.still_pnl);
    let mut own: Vec<usize> = units
        .iter()
        .flat_map(|u| u.own.iter().map(|&(s, _)| s))
        .filter(|&s| s >= d && s < n)
        .collect();
    own.sort_unstable();
    own.dedup();
    let exact_at = |s: usize| -> f64 {
        let mut sum = 0.0;
        for (holding, unit) in holdings.iter().zip(units) {
            sum += holding.quantity * unit.at(s);
        }
        sum
    };
    let own: Vec<(usize, f64)> = own.into_iter().map(|s| (s, exact_at(s))).collect();
    let still_count = (n - d) - own.len();
    let first_still = {
        let mut s = d;
        for &(o, _) in &own {
            if o == s {
                s += 1;
            } else {
                break;
            }
        }
        s
    };
    let (lowest, finite) = lowest_finite(estimate);
    if !still.is_finite() || own.iter().any(|(_, p)| !p.is_finite()) || !finite {
        return None;
    }
    // τ: the `needed`-th lowest of the estimates and the exact sparse sums.
    let copies = still_count.min(needed);
    let tau = if needed <= 1 {
        let lowest = own.iter().fold(lowest, |m, &(_, p)| m.min(p));
        if copies > 0 {
            lowest.min(still)
        } else {
            lowest
        }
    } else {
        // In a per-thread scratch vector (170 kB under the default set: not
        // allocated per question).
        let mut all = SELECT.take();
        all.clear();
        all.extend_from_slice(estimate);
        all.extend(own.iter().map(|&(_, p)| p));
        all.extend(std::iter::repeat_n(still, copies));
        let k = needed.min(all.len()).max(1) - 1;
        let tau = *all.select_nth_unstable_by(k, f64::total_cmp).1;
        SELECT.set(all);
        tau
    };
    let limit = tau + 2.0 * eps;
    // Exactly, in scenario order: the dense candidates, then the sparse
    // scenarios (own ones and the first still one stand for the others).
    let mut exact: Vec<(usize, f64)> = Vec::new();
    for (s, &a) in estimate.iter().enumerate() {
        if a <= limit {
            let p = exact_at(s);
            // (Past an overflow the bound does not hold: sum in full.)
            if !p.is_finite() || exact.len() > d / 4 + needed {
                return None;
            }
            exact.push((s, p));
        }
    }
    let mut losses: Vec<f64> = exact.iter().chain(&own).map(|&(_, p)| -p).collect();
    losses.extend(std::iter::repeat_n(-still, copies));
    let mut sparse = own;
    if still_count > 0 {
        sparse.push((first_still, still));
        sparse.sort_unstable_by_key(|&(s, _)| s);
    }
    exact.extend_from_slice(&sparse);
    let mut worst = (f64::INFINITY, None);
    for &(s, p) in &exact {
        if p < worst.0 {
            worst = (p, Some(s));
        }
    }
    Some(Tail {
        losses,
        worst: worst.1?,
    })
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
/// a [`WhatIfBook`] (the night's set, the shared unit P&L cache and the
/// account's kept state).
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
        self.answer(order, Work::Any)?
            .ok_or_else(|| WhatIfError::NotEvaluable {
                account: self.account.id.clone(),
                reasons: "not answered".into(),
            })
    }

    /// [`WhatIf::order`] when the account's kept state answers it cheaply:
    /// the account's state is in the book's account cache, every leg of the
    /// account with the order is in the unit P&L cache, no single stock is
    /// new to the night's set and the rounding bound leaves few scenarios
    /// to sum again. `None` otherwise (nothing priced, nothing summed in
    /// full: ask [`WhatIf::order`]). The answer, when given, is
    /// [`WhatIf::order`]'s, bit for bit (the same computation). The service
    /// answers these on its async threads without a hand-off
    /// (docs/serve.md).
    ///
    /// # Errors
    ///
    /// As [`WhatIf::order`].
    pub fn order_kept(&self, order: &[Position]) -> Result<Option<WhatIfAnswer>, WhatIfError> {
        self.answer(order, Work::KeptOnly)
    }

    fn answer(&self, order: &[Position], work: Work) -> Result<Option<WhatIfAnswer>, WhatIfError> {
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
        // The account's kept state (computed again if it was dropped; none
        // when the book keeps no account state: then a full sum).
        let base = if self.book.keeps_accounts() {
            match self.book.base_of(&self.account, work)? {
                Some(base) => Some(base),
                None => return Ok(None),
            }
        } else if work == Work::KeptOnly {
            return Ok(None);
        } else {
            None
        };
        let Some(after) =
            self.book
                .quote_after(base.as_deref(), &adjusted, self.usd_to_base, work)?
        else {
            return Ok(None);
        };
        if work == Work::KeptOnly {
            self.book.kept_answer();
        }
        Ok(Some(WhatIfAnswer {
            // Both fees are at least 0: the difference is exact.
            change: after.fee_paid.saturating_sub(self.before.fee_paid),
            before: self.before.clone(),
            after,
        }))
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
            largest: value.abs(),
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
        let batch = three_cash_batch();
        let k = keys(&batch);
        assert_eq!(k.len(), 3);
        // Room for two entries of 100 scenarios, not three.
        let one = entry_bytes(&k[0], &unit(100, 0.0));
        let mut cache = Lru::new(2 * one + one / 2);
        let put = |cache: &mut Lru<LegKey, Arc<UnitPnl>>, key: &LegKey, value: Arc<UnitPnl>| {
            let size = entry_bytes(key, &value);
            cache.insert(key.clone(), value, size);
        };
        put(&mut cache, &k[0], unit(100, 1.0));
        put(&mut cache, &k[1], unit(100, 2.0));
        // Using the first makes the second the least recently used.
        assert_eq!(cache.get(&k[0]).unwrap().dense[0], 1.0);
        put(&mut cache, &k[2], unit(100, 3.0));
        assert!(cache.get(&k[1]).is_none());
        assert_eq!(cache.get(&k[0]).unwrap().dense[0], 1.0);
        assert_eq!(cache.get(&k[2]).unwrap().dense[0], 3.0);
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.hits, stats.misses), (2, 3, 1));
        assert_eq!(stats.bytes, 2 * one);
        // An entry larger than the whole budget is not kept.
        put(&mut cache, &k[1], unit(1_000, 0.0));
        assert_eq!(cache.stats().entries, 2);
        // Replacing an entry charges its new size once.
        put(&mut cache, &k[2], unit(50, 4.0));
        let half = entry_bytes(&k[2], &unit(50, 0.0));
        assert_eq!(cache.stats().bytes, one + half);
        assert_eq!(cache.get(&k[2]).unwrap().dense[0], 4.0);
        // A value its predicate refuses is a miss.
        assert!(cache.get_if(&k[2], |v| v.dense.len() == 100).is_none());
        assert_eq!(cache.stats().misses, 2);
    }

    /// One USD account holding EUR, GBP and JPY cash, with their FX rates.
    fn three_cash_batch() -> Batch {
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
        Batch {
            accounts: vec![account],
            market,
            errors: Vec::new(),
        }
    }

    /// Three real holdings (cash legs in EUR, GBP, JPY seen from USD).
    fn three_holdings() -> Vec<Holding> {
        let batch = three_cash_batch();
        let prepared = prepare(
            &batch,
            &crate::ScenarioTables::current().factors,
            &crate::ScenarioTables::current().fx,
            &EngineConfig::new("2026-11-20".parse().unwrap()),
        );
        exfee_engine::account_holdings(&prepared, 0).unwrap()
    }

    fn kept(holdings: &[Holding], units: &[Arc<UnitPnl>], n: usize) -> AccountBase {
        let d = units[0].dense.len();
        let total = scenario_total(holdings, units, n);
        let zero = Quote {
            nlv: Decimal::ZERO,
            measure: Decimal::ZERO,
            uncovered: Decimal::ZERO,
            daily_fee: Decimal::ZERO,
            fee_paid: Decimal::ZERO,
            worst_scenario: String::new(),
            by_class: Vec::new(),
        };
        AccountBase {
            account: AccountInput::default(),
            usd_to_base: Decimal::ONE,
            before: zero,
            holdings: holdings.to_vec(),
            slot: holdings
                .iter()
                .enumerate()
                .map(|(i, h)| (h.key.clone(), i))
                .collect(),
            dense: Some((total[..d].to_vec(), magnitude(holdings, units, d))),
        }
    }

    /// What the fee reads of a full sum: the worst scenario and the mean of
    /// the `k` largest losses (the oracle: every scenario summed).
    fn full(holdings: &[Holding], units: &[Arc<UnitPnl>], n: usize, k: usize) -> (usize, f64) {
        let total = scenario_total(holdings, units, n);
        let mut losses: Vec<f64> = total.iter().map(|p| -p).collect();
        (
            worst_index(&total).unwrap(),
            exfee_fee::mean_of_largest(k, &mut losses),
        )
    }

    #[test]
    fn the_kept_state_gives_the_full_sums_where_a_plain_update_rounds_otherwise() {
        let mut base = three_holdings();
        for h in &mut base {
            h.quantity = 1.0;
        }
        // Near 1e16 doubles are 2 apart. Scenario 0: −1e16 − 6 either way.
        // Scenario 1: kept (−1e16 + (−1)) + (−1) = −1e16 (each sum ties to
        // even); with 3 units of the second and third legs the engine sums
        // (−1e16 + (−3)) + (−3) = −1e16 − 8, while the kept sum plus the
        // changes 2 × (−1) twice is −1e16 − 4: by that estimate scenario 0
        // would be the worst, at a loss of 1e16 + 6.
        let units = vec![
            Arc::new(UnitPnl {
                dense: vec![-1e16 - 6.0, -1e16, 5.0],
                still_pnl: 0.0,
                own: Vec::new(),
                largest: 1e16 + 6.0,
            }),
            Arc::new(UnitPnl {
                dense: vec![0.0, -1.0, 1.0],
                still_pnl: -0.5,
                own: vec![(4, 7.0)],
                largest: 1.0,
            }),
            Arc::new(UnitPnl {
                dense: vec![0.0, -1.0, 2.0],
                still_pnl: 0.25,
                own: Vec::new(),
                largest: 2.0,
            }),
        ];
        let n = 6;
        let kept = kept(&base, &units, n);
        let (dense, bound) = kept.dense.as_ref().unwrap();
        let mut after = base.clone();
        after[1].quantity = 3.0;
        after[2].quantity = 3.0;
        assert_eq!(dense[1], -1e16);
        let step = 2.0;
        assert_eq!(dense[1] - step - step, -1e16 - 4.0);
        let tail = tail_after(&kept, dense, *bound, &after, &units, n, 1).unwrap();
        assert_eq!(tail.worst, 1);
        let mut losses = tail.losses.clone();
        assert_eq!(exfee_fee::mean_of_largest(1, &mut losses), 1e16 + 8.0);
        assert_eq!(full(&after, &units, n, 1), (1, 1e16 + 8.0));
        // The two worst: (1e16 + 8 + 1e16 + 6) / 2.
        let tail = tail_after(&kept, dense, *bound, &after, &units, n, 2).unwrap();
        let mut losses = tail.losses.clone();
        assert_eq!(exfee_fee::mean_of_largest(2, &mut losses), 1e16 + 7.0);
        assert_eq!(full(&after, &units, n, 2).1, 1e16 + 7.0);
        // Six worst of six: every scenario, the single-stock ones included
        // (own 3 × 7 = 21, still 1 × 0 + 3 × (−0.5) + 3 × 0.25 = −0.75).
        let tail = tail_after(&kept, dense, *bound, &after, &units, n, 6).unwrap();
        let mut losses = tail.losses.clone();
        let all = (1e16 + 6.0 + 1e16 + 8.0 - (5.0 + 3.0 + 6.0) - 21.0 + 0.75 + 0.75) / 6.0;
        assert_eq!(exfee_fee::mean_of_largest(6, &mut losses), all);
        assert_eq!(full(&after, &units, n, 6).1, all);
    }

    #[test]
    fn the_kept_state_answers_as_a_full_sum_on_random_accounts_and_orders() {
        // A small LCG: values over many magnitudes, near-ties included.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let legs = three_holdings();
        let (d, n) = (40, 52);
        let mut checked = 0;
        for round in 0..400 {
            let held = 1 + round % 3;
            let mut base: Vec<Holding> = legs[..held].to_vec();
            for h in &mut base {
                h.quantity = ((next() - 0.5) * 2000.0).round();
            }
            let units: Vec<Arc<UnitPnl>> = (0..3)
                .map(|leg| {
                    let scale = 10f64.powf((next() * 12.0).floor());
                    // Few distinct values: many exact and near ties.
                    let dense: Vec<f64> = (0..d)
                        .map(|_| {
                            ((next() - 0.5) * 8.0).round() * scale
                                + next() * 1e-3 * scale * f64::from(u8::from(round % 2 == 0))
                        })
                        .collect();
                    Arc::new(UnitPnl {
                        largest: exfee_engine::largest_abs(&dense),
                        dense,
                        still_pnl: (next() - 0.5) * scale,
                        own: vec![(d + 2 * leg, (next() - 0.5) * 3.0 * scale)],
                    })
                })
                .collect();
            let base_units = units[..held].to_vec();
            let kept = kept(&base, &base_units, n);
            // The order: a held leg's quantity changes, or a new leg comes.
            let mut after = base.clone();
            let mut after_units = base_units.clone();
            if round % 4 == 3 && held < 3 {
                let mut new = legs[held].clone();
                new.quantity = ((next() - 0.5) * 500.0).round();
                after.insert(usize::from(round % 8 == 3), new);
                after_units.insert(usize::from(round % 8 == 3), Arc::clone(&units[held]));
            } else {
                let i = round % held;
                after[i].quantity += ((next() - 0.5) * 500.0).round();
            }
            for k in [1, 2, 5] {
                let (dense, m) = kept.dense.as_ref().unwrap();
                let Some(tail) = tail_after(&kept, dense, *m, &after, &after_units, n, k) else {
                    continue;
                };
                let mut losses = tail.losses.clone();
                let measure = exfee_fee::mean_of_largest(k, &mut losses);
                let (worst, expected) = full(&after, &after_units, n, k);
                assert_eq!(tail.worst, worst, "round {round} k {k}");
                assert_eq!(measure.to_bits(), expected.to_bits(), "round {round} k {k}");
                checked += 1;
            }
        }
        // Most cases go the fast way (ties galore decline some).
        assert!(checked > 900, "{checked}");
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
