//! Per-leg unit P&L over a whole scenario set, for callers that keep them
//! (the what-if fast path): an account's scenario P&L is then Σ quantity ×
//! unit P&L over its holdings in their order, the very sums `evaluate`
//! makes, and an order changes only quantities (or adds a leg).

use exfee_model::InputError;
use exfee_scenarios::{MoveBlock, ScenarioSet};
use rayon::prelude::*;

use crate::EngineError;
use crate::bind::bind_some_legs;
use crate::leg::{Leg, LegDriver, LegInfo, LegKind};
use crate::pnl::{Bounds, Scratch, own_move_pnl, price_leg, still_pnl};
use crate::prepare::{Prepared, PreparedAccount};
use crate::sparse::sparse_stock_scenarios;

/// What a leg's scenario P&L depends on, as bytes: two legs with equal keys
/// (in batches prepared with the same market, tables and engine settings,
/// priced under the same set) have the same unit P&L bit for bit, whatever
/// batch they were prepared in. A single stock is named by its symbol (not
/// its index in a batch's stocks), so keys of different batches compare.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LegKey(Vec<u8>);

impl LegKey {
    /// Bytes the key holds (for memory accounting).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the key is empty (never, for a key of a leg).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One holding of a prepared account: what it is, its leg's key and how
/// much is held.
#[derive(Debug, Clone, PartialEq)]
pub struct Holding {
    /// Index of the leg in the prepared batch (for [`legs_unit_pnl`]).
    pub leg: usize,
    /// What makes its P&L.
    pub key: LegKey,
    /// What it is.
    pub info: LegInfo,
    /// How much (negative: short or borrowed).
    pub quantity: f64,
}

/// A leg's P&L per unit in every scenario of a set, as the engine
/// evaluates it: priced in each dense scenario; in the single-stock
/// scenarios at the end of the set (evaluated sparsely), its own-move P&L in
/// its own stock's and its P&L when nothing moves in every other.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitPnl {
    /// P&L of one unit in base currency in each dense scenario (the set's
    /// scenarios before its single-stock ones).
    pub dense: Vec<f64>,
    /// P&L of one unit when nothing moves (an option's time decay over the
    /// horizon, zero otherwise): its P&L in the single-stock scenarios of
    /// stocks it does not depend on.
    pub still_pnl: f64,
    /// (scenario, P&L of one unit) in the single-stock scenarios of its own
    /// stock, in scenario order.
    pub own: Vec<(usize, f64)>,
    /// The largest |P&L of one unit| over the dense scenarios (NaN when one
    /// is NaN): what bounds the rounding of sums over them.
    pub largest: f64,
}

/// The largest |x| of `values`, NaN when one is NaN, 0 when empty.
pub fn largest_abs(values: &[f64]) -> f64 {
    values.iter().fold(0.0, |m: f64, &x| {
        if x.is_nan() || m.is_nan() {
            f64::NAN
        } else {
            m.max(x.abs())
        }
    })
}

impl UnitPnl {
    /// P&L of one unit in scenario `s` of the set.
    pub fn at(&self, s: usize) -> f64 {
        match self.dense.get(s) {
            Some(&p) => p,
            None => self
                .own
                .iter()
                .find(|&&(scenario, _)| scenario == s)
                .map_or(self.still_pnl, |&(_, p)| p),
        }
    }
}

/// The holdings of account `account` of `prepared`, in the order the
/// engine sums them, or why the account cannot be evaluated (every reason
/// found; empty for an index out of range).
///
/// # Errors
///
/// The account's input errors when it could not be prepared.
pub fn account_holdings(
    prepared: &Prepared,
    account: usize,
) -> Result<Vec<Holding>, Vec<InputError>> {
    match prepared.accounts.get(account) {
        Some(PreparedAccount::Ready { holdings, .. }) => holdings
            .iter()
            .map(|&(leg, quantity)| {
                let l = prepared.legs.get(leg).ok_or_else(Vec::new)?;
                Ok(Holding {
                    leg,
                    key: leg_key(prepared, l),
                    info: l.info.clone(),
                    quantity,
                })
            })
            .collect(),
        Some(PreparedAccount::Failed(errors)) => Err(errors.clone()),
        None => Err(Vec::new()),
    }
}

fn push_f64(out: &mut Vec<u8>, x: f64) {
    out.extend_from_slice(&x.to_bits().to_le_bytes());
}

fn push_usize(out: &mut Vec<u8>, x: usize) {
    out.extend_from_slice(&(x as u64).to_le_bytes());
}

/// The key of `leg` (of `prepared`).
fn leg_key(prepared: &Prepared, leg: &Leg) -> LegKey {
    let mut out = Vec::with_capacity(96);
    match leg.fx {
        Some(i) => {
            out.push(1);
            push_usize(&mut out, i);
        }
        None => out.push(0),
    }
    push_f64(&mut out, leg.rate);
    let driver = |out: &mut Vec<u8>, d: &LegDriver| {
        push_usize(out, d.factor);
        push_f64(out, d.beta);
        match d.stock.and_then(|s| prepared.stocks.get(s)) {
            Some(stock) => {
                out.push(1);
                push_usize(out, stock.symbol.len());
                out.extend_from_slice(stock.symbol.as_bytes());
            }
            None => out.push(0),
        }
    };
    match &leg.kind {
        LegKind::Cash => out.push(b'C'),
        LegKind::Linear { value, driver: d } => {
            out.push(b'L');
            push_f64(&mut out, *value);
            driver(&mut out, d);
        }
        LegKind::Future {
            notional,
            driver: d,
        } => {
            out.push(b'F');
            push_f64(&mut out, *notional);
            driver(&mut out, d);
        }
        LegKind::Option(o) => {
            out.push(b'O');
            driver(&mut out, &o.driver);
            out.push(u8::from(matches!(o.right, exfee_pricing::Right::Call)));
            out.push(u8::from(o.american));
            for x in [
                o.strike,
                o.t,
                o.rate,
                o.carry,
                o.spot,
                o.vol,
                o.value,
                o.multiplier,
                o.model_base,
            ] {
                push_f64(&mut out, x);
            }
        }
    }
    LegKey(out)
}

/// The unit P&L of legs `legs` (indices into `prepared`'s legs) in every
/// scenario of `set`, in the order of `legs`: the values
/// [`accounts_pnl`](crate::accounts_pnl) gives their holdings (dense
/// scenarios priced from the set's moves; in a single-stock scenario a leg
/// on that stock has its own-move P&L and every other leg its P&L when
/// nothing moves), the single-stock scenarios kept sparse. Only the single
/// stocks these legs read are drawn.
///
/// # Errors
///
/// [`EngineError`] as [`evaluate`](crate::evaluate): the set must move
/// every single stock of `prepared`; [`EngineError::TableMismatch`] for a
/// leg index out of range.
pub fn legs_unit_pnl(
    prepared: &Prepared,
    set: &ScenarioSet,
    legs: &[usize],
) -> Result<Vec<UnitPnl>, EngineError> {
    if legs.is_empty() {
        return Ok(Vec::new());
    }
    if set.is_empty() {
        return Err(EngineError::EmptySet);
    }
    let bound = bind_some_legs(prepared, set, legs)?;
    let stock_bounds = set.factor_table().single_stock_bounds();
    let bounds = Bounds {
        lo: stock_bounds.lower(),
        hi: stock_bounds.upper(),
        vol_floor: prepared.config.vol_floor,
    };
    let (dense_end, sparse_by_stock) = sparse_stock_scenarios(set);
    let mut stocks: Vec<usize> = bound
        .iter()
        .filter_map(|leg| leg.kind.driver().and_then(|d| d.stock))
        .collect();
    stocks.sort_unstable();
    stocks.dedup();
    let mut rows: Vec<Vec<f64>> = vec![vec![0.0; dense_end]; bound.len()];
    // The dense scenarios block by block (the set keeps the draws' moves, so
    // filling is a copy), each leg priced over the block.
    let mut block = MoveBlock::default();
    let mut start = 0;
    while start < dense_end {
        let end = (start + 2048).min(dense_end);
        set.fill_selected(start..end, &mut block, &stocks);
        rows.par_iter_mut().zip(bound.par_iter()).for_each_init(
            || Scratch::new(end - start),
            |scratch, (row, leg)| price_leg(leg, &block, bounds, scratch, &mut row[start..end]),
        );
        start = end;
    }
    let horizon = prepared.config.horizon_days;
    Ok(rows
        .into_par_iter()
        .zip(bound.par_iter())
        .map_init(
            || Scratch::new(1),
            |scratch, (row, leg)| {
                let own = match leg.kind.driver().and_then(|d| d.stock) {
                    Some(stock) => sparse_by_stock[stock]
                        .iter()
                        .map(|&(scenario, own)| (scenario, own_move_pnl(leg, own, bounds, scratch)))
                        .collect(),
                    None => Vec::new(),
                };
                UnitPnl {
                    largest: largest_abs(&row),
                    dense: row,
                    still_pnl: still_pnl(leg, horizon, bounds, scratch),
                    own,
                }
            },
        )
        .collect())
}
