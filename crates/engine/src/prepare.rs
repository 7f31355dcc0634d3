use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use chrono::NaiveDate;
use exfee_model::{
    AccountInput, Batch, Currency, Decimal, Exercise, FactorTable, FxTable, InputError, Instrument,
    InstrumentKind, MarketData, OptionRight, OptionTerms, net_liquidation_value,
};
use exfee_pricing::Right;
use exfee_scenarios::SingleStock;
use rayon::prelude::*;
use rust_decimal::prelude::ToPrimitive;

use crate::resolve::{Driver, resolve_symbol};

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

/// How one leg's value moves.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LegKind {
    /// Cash in a currency: value 1 per unit, moves with FX only.
    Cash,
    /// A stock, ETF, bond or coin: `value` = multiplier × mark per unit.
    Linear { value: f64, driver: LegDriver },
    /// A future: P&L per unit = `notional` × move (multiplier × mark).
    Future { notional: f64, driver: LegDriver },
    /// An option, repriced in every scenario.
    Option(Box<OptionLeg>),
}

/// What an option leg needs to be repriced under a scenario.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OptionLeg {
    pub driver: LegDriver,
    pub right: Right,
    pub american: bool,
    pub strike: f64,
    /// Time to expiry in years in the scenarios (after the horizon).
    pub t: f64,
    pub rate: f64,
    /// Cost of carry: r − q for options on stocks and indices, 0 on futures.
    pub carry: f64,
    pub spot: f64,
    pub vol: f64,
    /// Multiplier × mark: the position value per unit as read.
    pub value: f64,
    pub multiplier: f64,
    /// Model price at the base (input spot and vol, time to expiry today).
    pub model_base: f64,
}

impl LegKind {
    pub(crate) fn driver(&self) -> Option<&LegDriver> {
        match self {
            LegKind::Cash => None,
            LegKind::Linear { driver, .. } | LegKind::Future { driver, .. } => Some(driver),
            LegKind::Option(option) => Some(&option.driver),
        }
    }

    pub(crate) fn driver_mut(&mut self) -> Option<&mut LegDriver> {
        match self {
            LegKind::Cash => None,
            LegKind::Linear { driver, .. } | LegKind::Future { driver, .. } => Some(driver),
            LegKind::Option(option) => Some(&mut option.driver),
        }
    }
}

/// An option contract as priced: the model's base price against the input
/// mark, and where its implied volatility came from.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionReport {
    /// The option's symbol.
    pub symbol: String,
    /// Its underlying.
    pub underlying: String,
    /// Its currency.
    pub currency: Currency,
    /// The mark as read.
    pub mark: Decimal,
    /// The model price at the input spot and implied volatility.
    pub model_price: f64,
    /// The implied volatility used.
    pub implied_vol: f64,
    /// Whether that volatility is the documented default (none was given).
    pub vol_defaulted: bool,
    /// Time to expiry in years (ACT/365) at the valuation date: the base
    /// price's.
    pub time_to_expiry: f64,
    /// Time to expiry in years (ACT/365) the scenarios price at: the
    /// expiry less the horizon, floored at 0 (intrinsic value once expired).
    pub scenario_time_to_expiry: f64,
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
    /// What it is, for reports and adjustments.
    pub info: LegInfo,
    /// The leg currency's row in the FX table, or `None` when it is the base
    /// currency (which never moves).
    pub fx: Option<usize>,
    /// Base-currency units per unit of the leg's currency.
    pub rate: f64,
}

/// What a leg is, in words and base-currency figures, for reports and
/// adjustments.
#[derive(Debug, Clone, PartialEq)]
pub struct LegInfo {
    /// E.g. `AAPL (STK USD)` or `cash EUR`.
    pub label: String,
    /// The instrument's symbol, or the currency code for cash.
    pub symbol: String,
    /// The primary factor that drives it, or `FX` for cash.
    pub class: String,
    /// Value of one unit in base currency at the marks (0 for a future).
    pub unit_value: f64,
    /// Exposure of one unit in base currency: its value, or a future's
    /// notional (multiplier × price).
    pub unit_exposure: f64,
    /// The currency it is quoted in (the cash currency for cash).
    pub currency: Currency,
    /// The symbol whose moves drive it (its own, or its underlying's); empty
    /// for cash.
    pub driver_symbol: String,
    /// Whether that symbol is a single stock (has a move of its own).
    pub single_stock: bool,
    /// Whether it is an option (repriced with the equity-volatility move).
    pub option: bool,
}

/// What makes a leg: an instrument (or a cash currency) seen from a base
/// currency. Borrowed from the batch, so that keying 2 million positions
/// copies nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LegKey<'a> {
    Position {
        instrument: &'a Instrument,
        base: Currency,
    },
    Cash {
        currency: Currency,
        base: Currency,
    },
}

/// A [`LegKey`] with its hash, computed where the key is made (in
/// parallel), so that the sequential sharing of legs only compares keys.
#[derive(Debug)]
struct Keyed<'a> {
    hash: u64,
    key: LegKey<'a>,
}

impl<'a> Keyed<'a> {
    fn new(key: LegKey<'a>) -> Self {
        let mut hasher = KeyHasher::default();
        key.hash(&mut hasher);
        Keyed {
            hash: hasher.finish(),
            key,
        }
    }
}

impl PartialEq for Keyed<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl Eq for Keyed<'_> {}

impl Hash for Keyed<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// A fast, fixed hash of leg keys (word-at-a-time multiply–rotate, with a
/// final avalanche); the map it feeds is only looked up, never iterated, so
/// its order never shows.
#[derive(Default)]
struct KeyHasher(u64);

impl KeyHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        // MurmurHash3's fmix64.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Hashes a [`Keyed`] by its precomputed hash.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }

    fn finish(&self) -> u64 {
        self.0
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

/// A leg as found in one account, before legs are shared across accounts.
/// What only a new leg needs (its [`LegInfo`], its [`OptionReport`]) is
/// built when the leg turns out to be new.
struct LocalLeg<'a> {
    key: Keyed<'a>,
    info: InfoSource<'a>,
    fx: Option<usize>,
    rate: f64,
    /// The leg, its driver's `stock` not yet set.
    kind: LegKind,
    /// The single stock that drives it, with its own volatility.
    stock: Option<(&'a str, f64)>,
    /// The option's base price and volatility, for an option leg.
    option: Option<OptionFacts>,
    quantity: f64,
}

/// What a [`LegInfo`] is made of.
enum InfoSource<'a> {
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
    fn info(&self, factor_table: &FactorTable) -> LegInfo {
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
struct OptionFacts {
    model_price: f64,
    implied_vol: f64,
    vol_defaulted: bool,
    time_to_expiry: f64,
    scenario_time_to_expiry: f64,
}

impl OptionFacts {
    fn report(&self, instrument: &Instrument) -> OptionReport {
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
type LocalAccount<'a> = Result<(Decimal, Vec<LocalLeg<'a>>, Vec<String>), Vec<InputError>>;

fn to_f64(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(f64::NAN)
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
    let locals: Vec<LocalAccount> = batch
        .accounts
        .par_iter()
        .map(|account| prepare_account(account, batch, factor_table, fx_table, config))
        .collect();

    // Share legs across accounts, in account order so indices are the same
    // whatever the thread count.
    let mut leg_index: HashMap<Keyed<'_>, usize, BuildHasherDefault<PassThrough>> =
        HashMap::default();
    let mut legs: Vec<Leg> = Vec::new();
    let mut leg_stock: Vec<Option<&str>> = Vec::new();
    let mut stock_vol: HashMap<String, f64> = HashMap::new();
    // Reports of distinct contracts, with the leg that prices them.
    let mut options: Vec<(usize, OptionReport)> = Vec::new();
    // Each option leg with its time to expiry at the base.
    let mut option_legs: Vec<(usize, f64)> = Vec::new();
    let mut option_seen: HashMap<String, ()> = HashMap::new();
    let mut accounts = Vec::with_capacity(locals.len());
    for local in locals {
        let (nlv, local_legs, warnings) = match local {
            Err(errors) => {
                accounts.push(PreparedAccount::Failed(errors));
                continue;
            }
            Ok(local) => local,
        };
        let mut holdings: Vec<(usize, f64)> = Vec::with_capacity(local_legs.len());
        // Where each leg is in `holdings`: the merge keeps the order of first
        // appearance and sums quantities in input order, in linear time.
        let mut held: HashMap<usize, usize> = HashMap::with_capacity(local_legs.len());
        for leg in local_legs {
            let next = legs.len();
            let index = *leg_index.entry(leg.key).or_insert(next);
            if index == next {
                if let Some((symbol, vol)) = leg.stock {
                    stock_vol.entry(symbol.to_string()).or_insert(vol);
                }
                if let Some(facts) = &leg.option {
                    option_legs.push((next, facts.time_to_expiry));
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
                    options.push((next, facts.report(instrument)));
                }
                leg_stock.push(leg.stock.map(|(symbol, _)| symbol));
                legs.push(Leg {
                    kind: leg.kind,
                    info: leg.info.info(factor_table),
                    fx: leg.fx,
                    rate: leg.rate,
                });
            }
            match held.entry(index) {
                std::collections::hash_map::Entry::Occupied(slot) => {
                    holdings[*slot.get()].1 += leg.quantity;
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(holdings.len());
                    holdings.push((index, leg.quantity));
                }
            }
        }
        accounts.push(PreparedAccount::Ready {
            nlv,
            holdings,
            warnings,
        });
    }

    // Each option leg's base price, once per leg (not per position), in
    // parallel.
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
    let options: Vec<OptionReport> = options
        .into_iter()
        .map(|(leg, mut report)| {
            if let LegKind::Option(option) = &legs[leg].kind {
                report.model_price = option.model_base;
            }
            report
        })
        .collect();

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

/// The option leg of `instrument` (an `OPT` or `FOP`), its base price
/// (`model_base`) not yet computed.
#[allow(clippy::too_many_arguments)]
fn option_leg(
    instrument: &Instrument,
    underlying: &str,
    on_future: bool,
    terms: &OptionTerms,
    driver: &Driver,
    factor_table: &FactorTable,
    market: &MarketData,
    config: &EngineConfig,
    warnings: &mut Vec<String>,
) -> Result<(LegKind, OptionFacts), InputError> {
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

fn prepare_account<'a>(
    account: &'a AccountInput,
    batch: &Batch,
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
                key: Keyed::new(LegKey::Cash {
                    currency: cash.currency,
                    base,
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
                quantity: to_f64(cash.amount),
            });
        }
    }
    for position in &account.positions {
        let instrument = &position.instrument;
        let class = instrument.asset_class();
        let fx = fx_of(instrument.currency, &mut errors);
        let symbol = instrument.risk_symbol();
        let driver = match resolve_symbol(symbol, class, instrument.currency, market, factor_table)
        {
            Ok(driver) => driver,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        let Some(unit) = instrument.multiplier.checked_mul(instrument.mark) else {
            errors.push(InputError::new(format!(
                "{}: multiplier × mark overflows",
                instrument.symbol
            )));
            continue;
        };
        let unit = to_f64(unit);
        let (kind, option) = match &instrument.kind {
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
            } => match option_leg(
                instrument,
                underlying,
                *on_future,
                terms,
                &driver,
                factor_table,
                market,
                config,
                &mut warnings,
            ) {
                Ok((kind, facts)) => (kind, Some(facts)),
                Err(error) => {
                    errors.push(error);
                    continue;
                }
            },
            InstrumentKind::Stock | InstrumentKind::Bond | InstrumentKind::Crypto => (
                LegKind::Linear {
                    value: unit,
                    driver: leg_driver(&driver),
                },
                None,
            ),
        };
        let Some((fx, rate)) = fx else { continue };
        let info = InfoSource::Position {
            instrument,
            factor: driver.factor,
            driver_symbol: symbol,
            single_stock: driver.single_stock.is_some(),
            rate,
            unit,
        };
        legs.push(LocalLeg {
            key: Keyed::new(LegKey::Position { instrument, base }),
            info,
            fx,
            rate,
            kind,
            stock: driver.single_stock.map(|vol| (symbol, vol)),
            option,
            quantity: to_f64(position.quantity),
        });
    }
    if errors.is_empty() {
        Ok((nlv, legs, warnings))
    } else {
        Err(errors)
    }
}
