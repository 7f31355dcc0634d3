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
//! let evaluation = exfee::evaluate_batch(&batch, &ScenarioTables::current(), &EngineConfig::default()).unwrap();
//! let Outcome::Evaluated(risk) = &evaluation.results[0].outcome else { panic!() };
//! // SPY is unmapped here, so it is a single stock: its own −50 % move is the worst.
//! assert_eq!(risk.worst_loss, Decimal::from(50_000));
//! assert_eq!(risk.worst_scenario_name.as_deref(), Some("SPY@-50%"));
//! assert_eq!(risk.uncovered, Decimal::ZERO); // NLV 120,000
//! ```

pub use exfee_engine::{
    AccountResult, AccountRisk, DEFAULT_IDIO_VOL, Driver, EngineConfig, EngineError, Outcome,
    Prepared, default_factor_name, evaluate, prepare, resolve_symbol,
};
pub use exfee_model::{
    AccountInput, AssetClass, Batch, Bounds, CashBalance, Currency, CurrencyError, Decimal,
    Exercise, FactorMapping, FactorTable, FactorTableError, FxFactor, FxTable, InputError,
    Instrument, InstrumentKind, MarketData, MarketError, NlvError, OptionRight, OptionTerms,
    Position, PrimaryFactor, SourceLocation, Underlying, net_liquidation_value,
};
pub use exfee_scenarios::{FixedScenario, MoveBlock, ScenarioSet, Shock, SingleStock, format_move};

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
}

/// Evaluates every account of `batch` under the fixed stress set built on
/// `tables` and the single stocks the batch holds.
///
/// # Errors
///
/// [`EngineError`] if the scenario set turns out empty (an empty factor and
/// FX table).
pub fn evaluate_batch(
    batch: &Batch,
    tables: &ScenarioTables,
    config: &EngineConfig,
) -> Result<Evaluation, EngineError> {
    let prepared = prepare(batch, &tables.factors, &tables.fx, config);
    let scenarios = ScenarioSet::fixed_stress(
        tables.factors.clone(),
        tables.fx.clone(),
        prepared.single_stocks().to_vec(),
    );
    let results = evaluate(&prepared, &scenarios)?;
    Ok(Evaluation {
        results,
        scenarios,
        legs: prepared.leg_count(),
        holdings: prepared.holding_count(),
    })
}
