//! # exfee
//!
//! A Monte Carlo exposure-fee risk engine: every account is revalued under
//! every stress scenario of its primary risk factors; the worst loss beyond
//! its net liquidation value is the *uncovered* loss that the fee charges.
//!
//! This crate is the facade that risk desks embed. It re-exports the model
//! (accounts, instruments, market data), the scenario sets, the engine and
//! the readers and writers, and adds the few calls that tie them together:
//!
//! ```
//! use exfee::{AccountInput, Batch, CashBalance, Currency, Decimal, Instrument, InstrumentKind,
//!             MarketData, Position, ScenarioTables, EngineConfig, Outcome};
//!
//! let usd = Currency::USD;
//! let mut account = AccountInput::new("DESK-1", usd);
//! account.cash.push(CashBalance { currency: usd, amount: Decimal::from(20_000) });
//! account.positions.push(Position {
//!     instrument: Instrument { symbol: "SPY".into(), kind: InstrumentKind::Stock, currency: usd,
//!                              multiplier: Decimal::ONE, mark: Decimal::from(500) },
//!     quantity: Decimal::from(200),
//! });
//! let batch = Batch { accounts: vec![account], market: MarketData::default(), errors: vec![] };
//! let source = ScenarioTables::current().into(); // the fixed stress set
//! let evaluation = exfee::evaluate_batch(&batch, &source, &EngineConfig::default()).unwrap();
//! let Outcome::Evaluated(risk) = &evaluation.results[0].outcome else { panic!() };
//! // SPY is unmapped here, so it is a single stock: its own −50 % move is the worst.
//! assert_eq!(risk.worst_loss, Decimal::from(50_000));
//! assert_eq!(risk.worst_scenario_name.as_deref(), Some("SPY@-50%"));
//! assert_eq!(risk.uncovered, Decimal::ZERO); // NLV 120,000
//! ```
//!
//! Only what an embedder needs is flat: [`evaluate_batch`] and its options,
//! the batch and result types, [`ScenarioSource`], the fee ([`assess`]),
//! reports ([`build_reports`]) and what-if ([`WhatIf`]). Everything else is
//! in the module of its crate: [`model`], [`scenarios`], [`engine`],
//! [`pricing`], [`fee`], [`adjust`], [`report`], [`state`], [`io`],
//! [`synth`], [`calibrate`]. Engine internals are not flat:
//!
//! ```compile_fail
//! use exfee::prepare; // it is exfee::engine::prepare
//! ```
//!
//! ```
//! use exfee::engine::{prepare, single_stocks};
//! use exfee::model::{FactorTable, cents};
//! use exfee::scenarios::ScenarioSet;
//! ```

// No panic on any input (docs/reliability.md, "Panics and overflow"): no
// `unwrap`, `expect` or `panic!` in production code, and no unchecked
// `Decimal` arithmetic (it panics on overflow); clippy.toml lets primitive
// arithmetic through. The lib is checked without cfg(test); its unit tests
// (cfg(test)) may unwrap and compute freely.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]

// The few names an embedder needs are flat: evaluation, the batch it reads
// and the results it gives, the scenario source, the fee and what-if. Every
// crate is a module below (`exfee::engine`, `exfee::model`, …) for the rest.
pub use exfee_engine::{AccountResult, AccountRisk, EngineConfig, Outcome};
pub use exfee_model::{
    AccountInput, Batch, CashBalance, Currency, Decimal, Instrument, InstrumentKind, MarketData,
    Position,
};

use exfee_engine::{
    EngineError, OptionReport, Prepared, evaluate, evaluate_with_progress, prepare, single_stocks,
};
use exfee_model::{FactorTable, FxTable};
use exfee_scenarios::{
    DrawVersion, ScenarioConfig, ScenarioError, ScenarioSet, ScenarioSpec, SingleStock,
};

mod errors;
mod fees;
mod hedges;
mod lots;
pub mod night;
mod orders;
mod reporting;
mod results;
#[cfg(feature = "serve")]
#[allow(
    clippy::let_underscore_must_use,
    reason = "the page is written into a String, which cannot fail"
)]
pub mod serve;
mod whatif;

pub use errors::{error_message, join_links};
pub use fees::{FeeContext, FeeLine, assess, measure_of, usd_to_base};
pub use orders::{Order, OrderError, orders_to_positions, what_if_answer};
pub use reporting::{
    ReportSource, Subject, build_reports, build_reports_each, build_reports_from,
    fees_by_class_rows, measure_name,
};
pub use results::{NightFees, results_header, results_row, results_rows};
pub use whatif::{
    AnswerStats, CacheStats, DEFAULT_ACCOUNT_CACHE_BYTES, DEFAULT_LEG_CACHE_BYTES, Quote, WhatIf,
    WhatIfAnswer, WhatIfBook, WhatIfError,
};

/// The vocabulary: accounts, instruments, cash, market data, factor and FX
/// tables, net liquidation value and the one rounding of money
/// (re-exported from `exfee-model`).
pub mod model {
    pub use exfee_model::*;
}

/// Scenario sets: fixed stress scenarios and Monte Carlo draws
/// (re-exported from `exfee-scenarios`).
pub mod scenarios {
    pub use exfee_scenarios::*;
}

/// The revaluation engine: preparing a batch into legs, evaluating it under
/// a scenario set, per-holding P&L (re-exported from `exfee-engine`).
pub mod engine {
    pub use exfee_engine::*;
}

/// Hypothetical adjustments (re-exported from `exfee-adjust`), with the
/// hedge instruments and lot sizes the reports try, built into the binary.
pub mod adjust {
    pub use crate::hedges::{DEFAULT_HEDGES_CSV, HedgeInstrument, default_hedges, parse_hedges};
    pub use crate::lots::{DEFAULT_LOTS_CSV, LotTable};
    pub use exfee_adjust::*;
}

/// Calibration to a price history and backtest statistics (re-exported
/// from `exfee-calibrate`).
pub mod calibrate {
    pub use exfee_calibrate::*;
}

/// The fee schedule, calendar and grace rules (re-exported from `exfee-fee`).
pub mod fee {
    pub use exfee_fee::*;
}

/// The nightly state database (re-exported from `exfee-state`).
pub mod state {
    pub use exfee_state::*;
}

/// Rendering of reports and charts (re-exported from `exfee-report`).
pub mod report {
    pub use exfee_report::*;
}

/// Option pricers (pure functions).
pub mod pricing {
    pub use exfee_pricing::*;
}

/// The instruction set of the vector kernels: the widest the CPU runs,
/// capped by `EXFEE_SIMD` (re-exported from `exfee-simd`).
pub mod simd {
    pub use exfee_simd::*;
}

/// Synthetic nightly drops of any size, reproducible from a seed.
pub mod synth {
    pub use exfee_synth::*;
}

/// Reading drops and tables, writing results (the edge of the engine).
pub mod io {
    pub use exfee_io::*;
}

/// The factor table and FX table a scenario set is built on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioTables {
    /// Primary factors and single-stock bounds.
    pub factors: FactorTable,
    /// Currencies and their bounds.
    pub fx: FxTable,
}

const CURRENT_FACTORS: &str = include_str!("../scenarios/risk-factors-current.csv");
const CURRENT_FX: &str = include_str!("../scenarios/fx-factors-current.csv");
const LEGACY_FACTORS: &str = include_str!("../scenarios/risk-factors-legacy.csv");
const LEGACY_FX: &str = include_str!("../scenarios/fx-factors-legacy.csv");

impl ScenarioTables {
    /// The current published tables (`scenarios/risk-factors-current.csv`,
    /// `scenarios/fx-factors-current.csv`), built into the binary.
    pub fn current() -> Self {
        Self::shipped(
            "risk-factors-current.csv",
            CURRENT_FACTORS,
            "fx-factors-current.csv",
            CURRENT_FX,
        )
    }

    /// The pre-2018 tables (`scenarios/*-legacy.csv`), built into the binary.
    pub fn legacy() -> Self {
        Self::shipped(
            "risk-factors-legacy.csv",
            LEGACY_FACTORS,
            "fx-factors-legacy.csv",
            LEGACY_FX,
        )
    }

    // Input never reaches these panics: the tables are compiled in.
    #[allow(clippy::panic)]
    fn shipped(factor_name: &str, factors: &str, fx_name: &str, fx: &str) -> Self {
        // The shipped tables are tested to parse (tests/integration), so a
        // failure here is a build defect, not an input error.
        ScenarioTables {
            factors: exfee_io::parse_factor_table(factor_name, factors.as_bytes())
                .unwrap_or_else(|e| panic!("shipped factor table is invalid: {e}")),
            fx: exfee_io::parse_fx_table(fx_name, fx.as_bytes())
                .unwrap_or_else(|e| panic!("shipped FX table is invalid: {e}")),
        }
    }
}

/// The scenarios a batch is evaluated under.
#[derive(Debug, Clone)]
pub enum ScenarioSource {
    /// Only the fixed stress scenarios of these tables (the pre-Monte-Carlo
    /// method): each factor, currency and single stock at each bound.
    Fixed(ScenarioTables),
    /// Monte Carlo draws of every factor, plus the fixed stress scenarios
    /// when the configuration includes them (the default).
    MonteCarlo(Box<ScenarioSpec>),
}

const DEFAULT_SET: &str = include_str!("../scenarios/default.toml");
const LEGACY_SET: &str = include_str!("../scenarios/legacy.toml");
const DEFAULT_CORRELATION: &str = include_str!("../scenarios/correlation-default.csv");
const LEGACY_CORRELATION: &str = include_str!("../scenarios/correlation-legacy.csv");

/// The text of a table file built into the binary, by its name under
/// `scenarios/` (`risk-factors-current.csv`, `fx-factors-current.csv`,
/// `risk-factors-legacy.csv`, `fx-factors-legacy.csv`,
/// `correlation-default.csv`, `correlation-legacy.csv`); `None` for any
/// other name.
pub fn shipped_scenario_file(name: &str) -> Option<&'static str> {
    Some(match name {
        "risk-factors-current.csv" => CURRENT_FACTORS,
        "fx-factors-current.csv" => CURRENT_FX,
        "risk-factors-legacy.csv" => LEGACY_FACTORS,
        "fx-factors-legacy.csv" => LEGACY_FX,
        "correlation-default.csv" => DEFAULT_CORRELATION,
        "correlation-legacy.csv" => LEGACY_CORRELATION,
        _ => return None,
    })
}

impl From<ScenarioTables> for ScenarioSource {
    fn from(tables: ScenarioTables) -> Self {
        ScenarioSource::Fixed(tables)
    }
}

impl ScenarioSource {
    /// The default set, `scenarios/default.toml` (built into the binary):
    /// 10,000 Student-t draws over the current tables plus every fixed
    /// stress scenario.
    pub fn default_set() -> Self {
        Self::shipped("default.toml", DEFAULT_SET)
    }

    /// The legacy set, `scenarios/legacy.toml` (built into the binary).
    pub fn legacy_set() -> Self {
        Self::shipped("legacy.toml", LEGACY_SET)
    }

    fn shipped(name: &str, text: &str) -> Self {
        let spec = exfee_io::parse_scenario_spec(&format!("scenarios/{name}"), text, |file| {
            let text = shipped_scenario_file(file).unwrap_or("");
            Ok((format!("scenarios/{file}"), text.as_bytes().to_vec()))
        });
        // The shipped sets are tested to load (tests/integration), so a
        // failure here is a build defect, not an input error: input never
        // reaches this panic.
        #[allow(clippy::panic)]
        ScenarioSource::MonteCarlo(Box::new(
            spec.unwrap_or_else(|e| panic!("shipped scenario set {name} is invalid: {e}")),
        ))
    }

    /// The same set with `draws` Monte Carlo draws (tests, benchmarks and
    /// throughput runs use fewer or more than the configuration's); a fixed
    /// set is returned unchanged.
    ///
    /// # Errors
    ///
    /// [`ScenarioError`] when `draws` is out of the configuration's range.
    pub fn with_draws(&self, draws: usize) -> Result<Self, ScenarioError> {
        self.edited(|config| config.scenarios = draws)
    }

    /// The same set under draw version `version` (docs/methodology.md §4.1;
    /// `exfee bench --draw-version`); a fixed set is returned unchanged.
    ///
    /// # Errors
    ///
    /// [`ScenarioError`] when the set cannot be built again (it could be
    /// before, so in practice never).
    pub fn with_draw_version(&self, version: DrawVersion) -> Result<Self, ScenarioError> {
        self.edited(|config| config.draw_version = version)
    }

    /// The same Monte Carlo set with its configuration edited by `edit`; a
    /// fixed set unchanged.
    fn edited(&self, edit: impl FnOnce(&mut ScenarioConfig)) -> Result<Self, ScenarioError> {
        match self {
            ScenarioSource::Fixed(_) => Ok(self.clone()),
            ScenarioSource::MonteCarlo(spec) => {
                let mut config = spec.config().clone();
                edit(&mut config);
                Ok(ScenarioSource::MonteCarlo(Box::new(
                    spec.with_config(config)?,
                )))
            }
        }
    }

    /// Only the fixed stress scenarios of this source's tables.
    pub fn fixed_only(&self) -> Self {
        ScenarioSource::Fixed(ScenarioTables {
            factors: self.factor_table().clone(),
            fx: self.fx_table().clone(),
        })
    }

    /// What names a Monte Carlo set's draws: its seed and its draw version
    /// (`None` for the fixed stress set).
    pub fn draws(&self) -> Option<(u64, u32)> {
        match self {
            ScenarioSource::Fixed(_) => None,
            ScenarioSource::MonteCarlo(spec) => {
                let config = spec.config();
                Some((config.seed, config.draw_version.number()))
            }
        }
    }

    /// The factor table.
    pub fn factor_table(&self) -> &FactorTable {
        match self {
            ScenarioSource::Fixed(tables) => &tables.factors,
            ScenarioSource::MonteCarlo(spec) => spec.factor_table(),
        }
    }

    /// The FX table.
    pub fn fx_table(&self) -> &FxTable {
        match self {
            ScenarioSource::Fixed(tables) => &tables.fx,
            ScenarioSource::MonteCarlo(spec) => spec.fx_table(),
        }
    }

    /// The scenario set for a batch holding these single stocks.
    ///
    /// # Errors
    ///
    /// [`ScenarioError`] when the Monte Carlo set cannot be built (e.g. a
    /// stock's own volatility is not a finite positive number).
    pub fn build(&self, stocks: Vec<SingleStock>) -> Result<ScenarioSet, ScenarioError> {
        match self {
            ScenarioSource::Fixed(tables) => Ok(ScenarioSet::fixed_stress(
                tables.factors.clone(),
                tables.fx.clone(),
                stocks,
            )),
            ScenarioSource::MonteCarlo(spec) => ScenarioSet::monte_carlo(spec, stocks),
        }
    }
}

/// Why a batch could not be evaluated at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scenario set could not be built.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The engine could not run the set on the batch.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The result of evaluating a batch.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// One result per account, in input order.
    pub results: Vec<AccountResult>,
    /// The scenario set the batch was evaluated under.
    pub scenarios: ScenarioSet,
    /// Distinct legs (instrument × base currency) priced per scenario.
    pub legs: usize,
    /// (account, leg) holdings aggregated per scenario.
    pub holdings: usize,
    /// Option legs repriced per scenario.
    pub option_legs: usize,
    /// Every distinct option contract, as priced.
    pub options: Vec<OptionReport>,
    /// The prepared batch (for per-holding detail: [`engine::accounts_pnl`]).
    pub prepared: Prepared,
    /// How long preparing the batch took (wall time; [`engine::prepare`]):
    /// `exfee run` shows it as a stage of its own.
    pub preparation: std::time::Duration,
}

/// A deterministic share of a batch's accounts: shard `index` of `count`
/// holds the accounts whose id hashes (FNV-1a, 64 bits, stable across
/// platforms and releases) to `index` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: u64,
    /// How many shards.
    pub count: u64,
}

impl Shard {
    /// Reads `i/n` with 0 ≤ i < n.
    ///
    /// # Examples
    ///
    /// ```
    /// let shard = exfee::Shard::parse("1/3").unwrap();
    /// assert_eq!((shard.index, shard.count), (1, 3));
    /// assert!(exfee::Shard::parse("3/3").is_none());
    /// ```
    pub fn parse(text: &str) -> Option<Shard> {
        let (i, n) = text.split_once('/')?;
        let (index, count) = (i.trim().parse().ok()?, n.trim().parse().ok()?);
        (count > 0 && index < count).then_some(Shard { index, count })
    }

    /// Whether account `id` belongs to this shard.
    pub fn contains(&self, id: &str) -> bool {
        Shard::index_of(id, self.count) == Some(self.index)
    }

    /// The shard of `count` that account `id` belongs to (`None` when
    /// `count` is 0): FNV-1a (64 bits) of the id's UTF-8 bytes, modulo
    /// `count`.
    ///
    /// # Examples
    ///
    /// ```
    /// // FNV-1a of "a" is 0xaf63dc4c8601ec8c (the reference vector).
    /// assert_eq!(exfee::Shard::index_of("a", 1000), Some(0xaf63_dc4c_8601_ec8c % 1000));
    /// assert_eq!(exfee::Shard::index_of("a", 0), None);
    /// ```
    pub fn index_of(id: &str, count: u64) -> Option<u64> {
        let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        hash.checked_rem(count)
    }

    /// The batch with only this shard's accounts (market data and
    /// batch-level errors kept).
    pub fn filter(&self, batch: Batch) -> Batch {
        Batch {
            accounts: batch
                .accounts
                .into_iter()
                .filter(|a| self.contains(&a.id))
                .collect(),
            ..batch
        }
    }
}

/// How [`evaluate_batch_with`] runs.
#[derive(Default)]
pub struct EvaluateOptions<'a> {
    /// The single stocks the scenario set moves; `None`: those of the batch
    /// ([`engine::single_stocks`]). A shard passes the full batch's, so that every
    /// shard runs exactly the scenarios of the full run.
    pub stocks: Option<Vec<SingleStock>>,
    /// Keep enough worst scenarios per account for this fee measure.
    pub measure: Option<exfee_fee::Measure>,
    /// Called with (scenarios done, scenarios in all) as evaluation goes.
    pub progress: Option<&'a (dyn Fn(usize, usize) + Sync)>,
}

/// Evaluates every account of `batch` under the scenarios of `source`,
/// built for the single stocks the batch holds.
///
/// # Errors
///
/// [`Error`] when the scenario set cannot be built or is empty.
pub fn evaluate_batch(
    batch: &Batch,
    source: &ScenarioSource,
    config: &EngineConfig,
) -> Result<Evaluation, Error> {
    evaluate_batch_with(batch, source, config, EvaluateOptions::default())
}

/// [`evaluate_batch`] with options: the set's single stocks, the fee measure
/// to keep enough worst scenarios for, and a progress callback.
///
/// # Errors
///
/// [`Error`] when the scenario set cannot be built or is empty.
pub fn evaluate_batch_with(
    batch: &Batch,
    source: &ScenarioSource,
    config: &EngineConfig,
    options: EvaluateOptions<'_>,
) -> Result<Evaluation, Error> {
    let stocks = options
        .stocks
        .unwrap_or_else(|| single_stocks(batch, source.factor_table()));
    let scenarios = source.build(stocks)?;
    let mut config = config.clone();
    if let Some(measure) = &options.measure {
        config.tail_scenarios = measure.scenarios_needed(scenarios.len()).max(1);
    }
    let started = std::time::Instant::now();
    let prepared = prepare(batch, source.factor_table(), source.fx_table(), &config);
    let preparation = started.elapsed();
    let results = match options.progress {
        Some(progress) => evaluate_with_progress(&prepared, &scenarios, progress)?,
        None => evaluate(&prepared, &scenarios)?,
    };
    Ok(Evaluation {
        results,
        legs: prepared.leg_count(),
        holdings: prepared.holding_count(),
        option_legs: prepared.option_leg_count(),
        options: prepared.option_reports().to_vec(),
        scenarios,
        prepared,
        preparation,
    })
}
