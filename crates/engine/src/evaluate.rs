use exfee_model::{Currency, Decimal, InputError};
use exfee_scenarios::{MoveBlock, ScenarioSet, Shock};
use rayon::prelude::*;
use rust_decimal::RoundingStrategy;

use crate::prepare::{Leg, LegDriver, LegKind, OptionLeg, Prepared, PreparedAccount};

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
    /// The worst scenarios as (scenario index, P&L in base currency), worst
    /// first, as many as the engine's `tail_scenarios` (for tail measures).
    pub tail: Vec<(usize, f64)>,
    /// What the engine assumed for this account (e.g. a default implied
    /// volatility), in words.
    pub warnings: Vec<String>,
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

/// The worst scenarios of one account: (P&L, scenario index), worst first,
/// at most `k` of them; on equal P&L the lower index comes first.
#[derive(Debug, Clone)]
struct Tail {
    k: usize,
    entries: Vec<(f64, usize)>,
}

impl Tail {
    fn new(k: usize) -> Self {
        Tail {
            k: k.max(1),
            entries: Vec::with_capacity(k.max(1)),
        }
    }

    /// The P&L a scenario must be below to enter.
    #[inline]
    fn threshold(&self) -> f64 {
        if self.entries.len() < self.k {
            f64::INFINITY
        } else {
            self.entries[self.k - 1].0
        }
    }

    /// Offers a scenario; scenarios must be offered in increasing index
    /// order within a block, so that ties keep the earlier scenario. NaN
    /// never enters.
    #[inline]
    fn offer(&mut self, pnl: f64, index: usize) {
        if pnl < self.threshold() {
            let at = self
                .entries
                .partition_point(|&(p, i)| p < pnl || (p == pnl && i < index));
            self.entries.insert(at, (pnl, index));
            self.entries.truncate(self.k);
        }
    }

    /// Offers every scenario of a block.
    fn offer_block(&mut self, pnl: &[f64], start: usize) {
        for (offset, &p) in pnl.iter().enumerate() {
            if p < self.threshold() {
                self.offer(p, start + offset);
            }
        }
    }
}

/// The batch's legs with their single stocks re-indexed to `set`'s (only
/// the legs `keep` selects are bound; the others are left as they are).
pub(crate) fn bind_legs(
    prepared: &Prepared,
    set: &ScenarioSet,
    keep: impl Fn(usize) -> bool,
) -> Result<Vec<Leg>, EngineError> {
    let factor_count = set.factor_table().factors().len();
    let fx_count = set.fx_table().currencies().len();
    let stock_map: Vec<usize> = prepared
        .stocks
        .iter()
        .map(|s| {
            set.stock_index(&s.symbol)
                .ok_or_else(|| EngineError::MissingStock(s.symbol.clone()))
        })
        .collect::<Result<_, _>>()?;
    let mut legs = prepared.legs.clone();
    for (index, leg) in legs.iter_mut().enumerate() {
        if !keep(index) {
            continue;
        }
        if leg.fx.is_some_and(|i| i >= fx_count) {
            return Err(EngineError::TableMismatch);
        }
        if let Some(driver) = leg.kind.driver_mut() {
            if driver.factor >= factor_count {
                return Err(EngineError::TableMismatch);
            }
            driver.stock = driver.stock.map(|i| stock_map[i]);
        }
    }
    Ok(legs)
}

/// The single-stock fixed scenarios at the end of a set, which move one
/// stock each and so are evaluated sparsely: only holdings on that stock
/// move. Returns where they start and, per stock of the set, its scenarios
/// as (scenario index, own move).
pub(crate) fn sparse_stock_scenarios(set: &ScenarioSet) -> (usize, Vec<Vec<(usize, f64)>>) {
    let fixed = set.fixed();
    let first_fixed = set.len() - fixed.len();
    let tail = fixed
        .iter()
        .rev()
        .take_while(|s| matches!(s.shock, Shock::Stock { .. }))
        .count();
    let start = set.len() - tail;
    let mut by_stock = vec![Vec::new(); set.stocks().len()];
    for (offset, scenario) in fixed[fixed.len() - tail..].iter().enumerate() {
        if let Shock::Stock { index, fraction } = scenario.shock
            && let Some(list) = by_stock.get_mut(index)
        {
            list.push((first_fixed + fixed.len() - tail + offset, fraction));
        }
    }
    (start, by_stock)
}

/// Evaluates every ready account of `prepared` under every scenario of
/// `set`, in blocks of scenarios sized by the engine's memory budget; the
/// single-stock fixed scenarios, which move one stock each, are evaluated
/// sparsely (an account's P&L there is the sum over its holdings on that
/// stock). Results are in input order, one per account, and do not depend on
/// the thread count: each account's sum runs over its holdings in a fixed
/// order.
///
/// # Errors
///
/// [`EngineError`] when the set does not fit the batch (another factor
/// table, a missing single stock) or is empty.
pub fn evaluate(prepared: &Prepared, set: &ScenarioSet) -> Result<Vec<AccountResult>, EngineError> {
    evaluate_with_progress(prepared, set, &|_, _| {})
}

/// [`evaluate`], calling `progress(scenarios done, scenarios in all)` after
/// each block of scenarios.
///
/// # Errors
///
/// As [`evaluate`].
pub fn evaluate_with_progress(
    prepared: &Prepared,
    set: &ScenarioSet,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<AccountResult>, EngineError> {
    if set.is_empty() {
        return Err(EngineError::EmptySet);
    }
    let legs = bind_legs(prepared, set, |_| true)?;
    let stock_bounds = set.factor_table().single_stock_bounds();
    let bounds = Bounds {
        lo: stock_bounds.lower(),
        hi: stock_bounds.upper(),
        vol_floor: prepared.config.vol_floor,
    };
    let k = prepared.config.tail_scenarios.min(set.len());
    let mut tails: Vec<Tail> = vec![Tail::new(k); prepared.accounts.len()];

    // Dense part: every scenario before the single-stock tail.
    let (dense_end, sparse_by_stock) = sparse_stock_scenarios(set);
    let per_scenario = 8 * legs.len().max(1);
    let block_len = (prepared.config.memory_budget_bytes / per_scenario)
        .clamp(64, dense_end.max(64))
        .min(dense_end.max(1));
    let mut block = MoveBlock::default();
    let mut leg_pnl = vec![0.0; legs.len() * block_len];
    let mut start = 0;
    while start < dense_end {
        let end = (start + block_len).min(dense_end);
        set.fill(start..end, &mut block);
        let len = block.len();
        let leg_pnl = &mut leg_pnl[..legs.len() * len];
        leg_pnl
            .par_chunks_mut(len)
            .zip(legs.par_iter())
            .for_each_init(
                || Scratch::new(len),
                |scratch, (out, leg)| price_leg(leg, &block, bounds, scratch, out),
            );
        let leg_pnl = &*leg_pnl;
        tails
            .par_iter_mut()
            .zip(prepared.accounts.par_iter())
            .for_each_init(
                || vec![0.0; len],
                |scratch, (tail, account)| {
                    if let PreparedAccount::Ready { holdings, .. } = account {
                        scratch.resize(len, 0.0);
                        aggregate(holdings, leg_pnl, len, scratch);
                        tail.offer_block(scratch, start);
                    }
                },
            );
        start = end;
        progress(start, set.len());
    }

    // Sparse part: each stock-driven leg under each of its stock's own moves.
    let leg_sparse: Vec<Vec<(usize, f64)>> = legs
        .par_iter()
        .map_init(
            || Scratch::new(1),
            |scratch, leg| {
                let Some(stock) = leg.kind.driver().and_then(|d| d.stock) else {
                    return Vec::new();
                };
                sparse_by_stock[stock]
                    .iter()
                    .map(|&(scenario, own)| (scenario, own_move_pnl(leg, own, bounds, scratch)))
                    .collect()
            },
        )
        .collect();
    let sparse_scenarios: Vec<usize> = {
        let mut all: Vec<usize> = sparse_by_stock.iter().flatten().map(|&(s, _)| s).collect();
        all.sort_unstable();
        all
    };
    tails
        .par_iter_mut()
        .zip(prepared.accounts.par_iter())
        .for_each(|(tail, account)| {
            if let PreparedAccount::Ready { holdings, .. } = account {
                offer_sparse(tail, holdings, &leg_sparse, &sparse_scenarios);
            }
        });
    progress(set.len(), set.len());

    Ok(prepared
        .accounts
        .iter()
        .zip(tails)
        .enumerate()
        .map(|(i, (account, tail))| {
            let outcome = match account {
                PreparedAccount::Failed(errors) => Outcome::Failed(errors.clone()),
                PreparedAccount::Ready { nlv, warnings, .. } => risk(*nlv, tail, set, warnings),
            };
            AccountResult {
                account: prepared.ids[i].clone(),
                base_currency: prepared.bases[i],
                outcome,
            }
        })
        .collect())
}

/// Offers an account's P&L in the sparse single-stock scenarios: the sum of
/// its holdings on the stock where it holds one, and 0 everywhere else.
fn offer_sparse(
    tail: &mut Tail,
    holdings: &[(usize, f64)],
    leg_sparse: &[Vec<(usize, f64)>],
    all: &[usize],
) {
    let mut sums: Vec<(usize, f64)> = Vec::new();
    for &(leg, quantity) in holdings {
        for &(scenario, pnl) in &leg_sparse[leg] {
            match sums.iter_mut().find(|(s, _)| *s == scenario) {
                Some((_, sum)) => *sum += quantity * pnl,
                None => sums.push((scenario, quantity * pnl)),
            }
        }
    }
    sums.sort_unstable_by_key(|&(s, _)| s);
    for &(scenario, pnl) in &sums {
        tail.offer(pnl, scenario);
    }
    // Scenarios of stocks the account does not hold leave it unchanged.
    let mut zeros = 0;
    for &scenario in all {
        if zeros == tail.k {
            break;
        }
        if sums.binary_search_by_key(&scenario, |&(s, _)| s).is_err() {
            tail.offer(0.0, scenario);
            zeros += 1;
        }
    }
}

fn risk(nlv: Decimal, tail: Tail, set: &ScenarioSet, warnings: &[String]) -> Outcome {
    let Some(&(worst_pnl, worst_scenario)) = tail.entries.first() else {
        return Outcome::Failed(vec![InputError::new(
            "scenario P&L is not a finite number (values too large to revalue)",
        )]);
    };
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
        tail: tail.entries.iter().map(|&(p, i)| (i, p)).collect(),
        warnings: warnings.to_vec(),
    })
}

/// The account kernel: `out[s] = Σ quantity × leg_pnl[leg × len + s]` over
/// `holdings` (leg index, quantity) in their order, for the `len` scenarios
/// of a block. `leg_pnl` holds each leg's block row contiguously.
///
/// # Examples
///
/// ```
/// let leg_pnl = [1.0, 2.0, /* leg 1: */ 10.0, 20.0];
/// let mut out = [0.0; 2];
/// exfee_engine::aggregate(&[(1, 3.0), (0, -1.0)], &leg_pnl, 2, &mut out);
/// assert_eq!(out, [29.0, 58.0]);
/// ```
pub fn aggregate(holdings: &[(usize, f64)], leg_pnl: &[f64], len: usize, out: &mut [f64]) {
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

/// Per-thread buffers of the leg pricer.
pub(crate) struct Scratch {
    zeros: Vec<f64>,
    spots: Vec<f64>,
    vols: Vec<f64>,
}

impl Scratch {
    pub(crate) fn new(len: usize) -> Self {
        Scratch {
            zeros: vec![0.0; len],
            spots: vec![0.0; len],
            vols: vec![0.0; len],
        }
    }
}

/// Single-stock bounds and the implied-vol floor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub lo: f64,
    pub hi: f64,
    pub vol_floor: f64,
}

/// P&L in base currency of one unit of the leg under each scenario of the
/// block.
pub(crate) fn price_leg(
    leg: &Leg,
    block: &MoveBlock,
    bounds: Bounds,
    scratch: &mut Scratch,
    out: &mut [f64],
) {
    let len = out.len();
    if let Some(driver) = leg.kind.driver() {
        driver_move(driver, block, bounds.lo, bounds.hi, out);
    }
    scratch.zeros.resize(len, 0.0);
    let fx: &[f64] = match leg.fx {
        Some(i) => block.currency(i),
        None => &scratch.zeros[..len],
    };
    leg_value(
        leg,
        fx,
        block.vol(),
        bounds.vol_floor,
        (&mut scratch.spots, &mut scratch.vols),
        out,
    );
}

/// P&L in base currency of one unit of a stock-driven leg when only its
/// stock moves, by `own` (clamped to the single-stock bounds).
pub(crate) fn own_move_pnl(leg: &Leg, own: f64, bounds: Bounds, scratch: &mut Scratch) -> f64 {
    let mut out = [own.clamp(bounds.lo, bounds.hi)];
    leg_value(
        leg,
        &[0.0],
        &[0.0],
        bounds.vol_floor,
        (&mut scratch.spots, &mut scratch.vols),
        &mut out,
    );
    out[0]
}

/// Turns the underlying moves in `out` into the leg's P&L per unit in base
/// currency: rate × (V_s × (1 + fx_s) − V_0), where V is the unit value in
/// the leg's currency (a future's V_0 is 0: its value is settled in cash; an
/// option's V_s is its mark plus the model's change, model(scenario) −
/// model(base), so that the base P&L is exactly zero). Cash ignores `out`.
fn leg_value(
    leg: &Leg,
    fx: &[f64],
    vol_moves: &[f64],
    vol_floor: f64,
    scratch: (&mut Vec<f64>, &mut Vec<f64>),
    out: &mut [f64],
) {
    let rate = leg.rate;
    match &leg.kind {
        LegKind::Cash => {
            for (o, &f) in out.iter_mut().zip(fx) {
                *o = rate * f;
            }
        }
        LegKind::Linear { value, .. } => {
            let v = rate * value;
            for (o, &f) in out.iter_mut().zip(fx) {
                *o = v * ((1.0 + *o) * (1.0 + f) - 1.0);
            }
        }
        LegKind::Future { notional, .. } => {
            let v = rate * notional;
            for (o, &f) in out.iter_mut().zip(fx) {
                *o = v * *o * (1.0 + f);
            }
        }
        LegKind::Option(option) => {
            reprice(option, vol_moves, vol_floor, scratch, out);
            let (m, v0, base) = (option.multiplier, option.value, option.model_base);
            for (o, &f) in out.iter_mut().zip(fx) {
                *o = rate * ((v0 + m * (*o - base)) * (1.0 + f) - v0);
            }
        }
    }
}
/// Replaces the underlying moves in `out` by the option's model price under
/// each scenario: spot × (1 + move), implied vol × (1 + vol move) floored.
fn reprice(
    option: &OptionLeg,
    vol_moves: &[f64],
    vol_floor: f64,
    (spots, vols): (&mut Vec<f64>, &mut Vec<f64>),
    out: &mut [f64],
) {
    let len = out.len();
    spots.resize(len, 0.0);
    vols.resize(len, 0.0);
    let (spots, vols) = (&mut spots[..len], &mut vols[..len]);
    for (s, &m) in spots.iter_mut().zip(out.iter()) {
        *s = option.spot * (1.0 + m);
    }
    for (v, &dv) in vols.iter_mut().zip(vol_moves) {
        *v = (option.vol * (1.0 + dv)).max(vol_floor);
    }
    let priced = if option.american {
        exfee_pricing::price_american_batch(
            option.right,
            spots,
            option.strike,
            option.t,
            option.rate,
            option.carry,
            vols,
            out,
        )
    } else {
        exfee_pricing::price_european_batch(
            option.right,
            spots,
            option.strike,
            option.t,
            option.rate,
            option.carry,
            vols,
            out,
        )
    };
    // The three slices have the block's length by construction.
    debug_assert!(priced.is_ok());
}
