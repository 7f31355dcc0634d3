use exfee_model::{Currency, Decimal, InputError};
use exfee_scenarios::{MoveBlock, ScenarioSet};
use rayon::prelude::*;
use rust_decimal::RoundingStrategy;

use crate::prepare::{Leg, LegDriver, LegKind, Prepared, PreparedAccount};

/// Why a prepared batch cannot be evaluated under a scenario set.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The set does not move a single stock the batch holds: it was built for
    /// another batch.
    #[error(
        "the scenario set has no own move for single stock {0}; build the set from this batch's single stocks"
    )]
    MissingStock(String),
    /// The set's factor or FX table is not the one the batch was prepared
    /// against.
    #[error(
        "the scenario set's factor or FX table differs from the one the batch was prepared with"
    )]
    TableMismatch,
    /// The set has no scenario.
    #[error("the scenario set is empty")]
    EmptySet,
}

/// The stress result of an account that could be evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRisk {
    /// Net liquidation value in base currency, rounded to cents.
    pub nlv: Decimal,
    /// Largest scenario loss in base currency (negative when even the worst
    /// scenario is a gain), rounded to cents.
    pub worst_loss: Decimal,
    /// Index of the worst scenario (the first one on a tie).
    pub worst_scenario: usize,
    /// Name of the worst scenario, for a named (fixed stress) scenario.
    pub worst_scenario_name: Option<String>,
    /// max(0, worst loss − NLV), rounded to cents.
    pub uncovered: Decimal,
}

/// What happened to an account.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Evaluated under every scenario.
    Evaluated(AccountRisk),
    /// Not evaluated, with every reason found.
    Failed(Vec<InputError>),
}

/// One account's line of the results.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountResult {
    /// The account id.
    pub account: String,
    /// Its base currency, when known.
    pub base_currency: Option<Currency>,
    /// The result or the reasons it failed.
    pub outcome: Outcome,
}

/// Cents, half-even, always shown with two decimals.
fn cents(value: Decimal) -> Decimal {
    let mut value = value.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
    value.rescale(2);
    value
}

/// Evaluates every ready account of `prepared` under every scenario of
/// `set`, in blocks of scenarios sized by the engine's memory budget.
/// Results are in input order, one per account, and do not depend on the
/// thread count: each account's sum runs over its holdings in a fixed order.
///
/// # Errors
///
/// [`EngineError`] when the set does not fit the batch (another factor
/// table, a missing single stock) or is empty.
pub fn evaluate(prepared: &Prepared, set: &ScenarioSet) -> Result<Vec<AccountResult>, EngineError> {
    if set.is_empty() {
        return Err(EngineError::EmptySet);
    }
    let factor_count = set.factor_table().factors().len();
    let fx_count = set.fx_table().currencies().len();
    // Map the batch's single stocks to the set's.
    let stock_map: Vec<usize> = prepared
        .stocks
        .iter()
        .map(|s| {
            set.stock_index(&s.symbol)
                .ok_or_else(|| EngineError::MissingStock(s.symbol.clone()))
        })
        .collect::<Result<_, _>>()?;
    let mut legs = prepared.legs.clone();
    for leg in &mut legs {
        if leg.fx.is_some_and(|i| i >= fx_count) {
            return Err(EngineError::TableMismatch);
        }
        if let LegKind::Linear { driver, .. } | LegKind::Future { driver, .. } = &mut leg.kind {
            if driver.factor >= factor_count {
                return Err(EngineError::TableMismatch);
            }
            driver.stock = driver.stock.map(|i| stock_map[i]);
        }
    }
    let stock_bounds = set.factor_table().single_stock_bounds();
    let (stock_lo, stock_hi) = (stock_bounds.lower(), stock_bounds.upper());

    let n = set.len();
    let per_scenario = 8 * legs.len().max(1);
    let block_len = (prepared.config.memory_budget_bytes / per_scenario)
        .clamp(64, n.max(64))
        .min(n);
    let mut worst: Vec<(f64, usize)> = vec![(f64::INFINITY, 0); prepared.accounts.len()];
    let mut block = MoveBlock::default();
    let mut leg_pnl = vec![0.0; legs.len() * block_len];
    let mut start = 0;
    while start < n {
        let end = (start + block_len).min(n);
        set.fill(start..end, &mut block);
        let len = block.len();
        let leg_pnl = &mut leg_pnl[..legs.len() * len];
        leg_pnl
            .par_chunks_mut(len)
            .zip(legs.par_iter())
            .for_each(|(out, leg)| price_leg(leg, &block, stock_lo, stock_hi, out));
        let leg_pnl = &*leg_pnl;
        worst
            .par_iter_mut()
            .zip(prepared.accounts.par_iter())
            .for_each_init(
                || vec![0.0; len],
                |scratch, (worst, account)| {
                    if let PreparedAccount::Ready { holdings, .. } = account {
                        scratch.resize(len, 0.0);
                        aggregate(holdings, leg_pnl, len, scratch);
                        for (offset, &pnl) in scratch.iter().enumerate() {
                            // Strict: the first scenario wins a tie. NaN never wins.
                            if pnl < worst.0 {
                                *worst = (pnl, start + offset);
                            }
                        }
                    }
                },
            );
        start = end;
    }

    Ok(prepared
        .accounts
        .iter()
        .zip(&worst)
        .enumerate()
        .map(|(i, (account, &(worst_pnl, worst_scenario)))| {
            let outcome = match account {
                PreparedAccount::Failed(errors) => Outcome::Failed(errors.clone()),
                PreparedAccount::Ready { nlv, .. } => risk(*nlv, worst_pnl, worst_scenario, set),
            };
            AccountResult {
                account: prepared.ids[i].clone(),
                base_currency: prepared.bases[i],
                outcome,
            }
        })
        .collect())
}

fn risk(nlv: Decimal, worst_pnl: f64, worst_scenario: usize, set: &ScenarioSet) -> Outcome {
    let worst_loss = if worst_pnl.is_finite() {
        Decimal::from_f64_retain(-worst_pnl)
    } else {
        None
    };
    let Some(worst_loss) = worst_loss else {
        return Outcome::Failed(vec![InputError::new(
            "scenario P&L is not a finite number (values too large to revalue)",
        )]);
    };
    let worst_loss = cents(worst_loss);
    let nlv = cents(nlv);
    Outcome::Evaluated(AccountRisk {
        nlv,
        worst_loss,
        worst_scenario,
        worst_scenario_name: set.name(worst_scenario).map(str::to_string),
        uncovered: cents((worst_loss - nlv).max(Decimal::ZERO)),
    })
}

/// `out[s] = Σ quantity × leg_pnl[leg][s]`, holdings in their fixed order.
fn aggregate(holdings: &[(usize, f64)], leg_pnl: &[f64], len: usize, out: &mut [f64]) {
    out.fill(0.0);
    for &(leg, quantity) in holdings {
        let row = &leg_pnl[leg * len..(leg + 1) * len];
        for (acc, &pnl) in out.iter_mut().zip(row) {
            *acc += quantity * pnl;
        }
    }
}

/// The relative price move of what a leg's driver tracks: beta × factor
/// move, plus a single stock's own move with the total kept within the
/// single-stock bounds; never below −100 %.
#[inline]
fn driver_move(driver: &LegDriver, block: &MoveBlock, lo: f64, hi: f64, out: &mut [f64]) {
    let factor = block.factor(driver.factor);
    match driver.stock {
        Some(stock) => {
            for ((m, &f), &own) in out.iter_mut().zip(factor).zip(block.stock(stock)) {
                *m = (driver.beta * f + own).clamp(lo, hi);
            }
        }
        None => {
            for (m, &f) in out.iter_mut().zip(factor) {
                *m = (driver.beta * f).max(-1.0);
            }
        }
    }
}

/// P&L in base currency of one unit of the leg under each scenario of the
/// block: rate × (V_s × (1 + fx_s) − V_0), where V is the unit value in the
/// leg's currency (a future's V_0 is 0: its value is settled in cash).
fn price_leg(leg: &Leg, block: &MoveBlock, lo: f64, hi: f64, out: &mut [f64]) {
    let zeros;
    let fx: &[f64] = match leg.fx {
        Some(i) => block.currency(i),
        None => {
            zeros = vec![0.0; out.len()];
            &zeros
        }
    };
    let rate = leg.rate;
    match &leg.kind {
        LegKind::Cash => {
            for (o, &f) in out.iter_mut().zip(fx) {
                *o = rate * f;
            }
        }
        LegKind::Linear { value, driver } => {
            driver_move(driver, block, lo, hi, out);
            let v = rate * value;
            for (o, &f) in out.iter_mut().zip(fx) {
                *o = v * ((1.0 + *o) * (1.0 + f) - 1.0);
            }
        }
        LegKind::Future { notional, driver } => {
            driver_move(driver, block, lo, hi, out);
            let v = rate * notional;
            for (o, &f) in out.iter_mut().zip(fx) {
                *o = v * *o * (1.0 + f);
            }
        }
    }
}
