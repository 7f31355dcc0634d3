//! Per-holding scenario P&L of chosen accounts: what reports, adjustments
//! and what-if questions need, beyond each account's worst scenarios.

use exfee_scenarios::{MoveBlock, ScenarioSet};
use rayon::prelude::*;

use crate::EngineError;
use crate::bind::bind_some_legs;
use crate::leg::LegInfo;
use crate::pnl::{Bounds, Scratch, own_move_pnl, price_leg, still_pnl};
use crate::prepare::{Prepared, PreparedAccount};
use crate::sparse::sparse_stock_scenarios;

/// One holding of an account with its P&L per unit in every scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldingPnl {
    /// What is held.
    pub info: LegInfo,
    /// How much (negative: short or borrowed).
    pub quantity: f64,
    /// P&L of one unit in base currency, per scenario of the set.
    pub unit_pnl: Vec<f64>,
    /// P&L of one unit when nothing moves: its time decay over the horizon
    /// for an option, zero otherwise. This is its P&L in the single-stock
    /// scenarios of stocks it does not depend on.
    pub still_pnl: f64,
}

impl HoldingPnl {
    /// P&L of the whole holding in scenario `s`.
    pub fn pnl(&self, s: usize) -> f64 {
        self.quantity * self.unit_pnl[s]
    }
}

/// An account's holdings with their scenario P&L vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountPnl {
    /// Index of the account in the batch.
    pub account: usize,
    /// The holdings, in the order the engine sums them.
    pub holdings: Vec<HoldingPnl>,
}

impl AccountPnl {
    /// The account's P&L per scenario: Σ quantity × unit P&L, summed in
    /// holding order — the same sums `evaluate` makes.
    pub fn total(&self) -> Vec<f64> {
        let n = self.holdings.first().map_or(0, |h| h.unit_pnl.len());
        let mut total = vec![0.0; n];
        for holding in &self.holdings {
            for (t, &p) in total.iter_mut().zip(&holding.unit_pnl) {
                *t += holding.quantity * p;
            }
        }
        total
    }

    /// The account's P&L when nothing moves (Σ quantity × still P&L, in
    /// holding order): its P&L in the scenarios of single stocks it does
    /// not hold.
    pub fn still_total(&self) -> f64 {
        self.holdings
            .iter()
            .fold(0.0, |sum, h| sum + h.quantity * h.still_pnl)
    }
}

/// The per-holding scenario P&L of `accounts` (indices into the batch) under
/// every scenario of `set`, in one pass over the set. Accounts that could not
/// be evaluated are skipped. Memory is holdings × scenarios × 8 bytes: call it
/// on chunks of accounts for large batches.
///
/// # Errors
///
/// [`EngineError`] as [`evaluate`](crate::evaluate).
pub fn accounts_pnl(
    prepared: &Prepared,
    set: &ScenarioSet,
    accounts: &[usize],
) -> Result<Vec<AccountPnl>, EngineError> {
    // The legs these accounts hold, each priced once.
    let mut wanted: Vec<usize> = accounts
        .iter()
        .filter_map(|&a| match prepared.accounts.get(a) {
            Some(PreparedAccount::Ready { holdings, .. }) => {
                Some(holdings.iter().map(|&(leg, _)| leg))
            }
            _ => None,
        })
        .flatten()
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    // Only these legs are copied and bound (`legs[i]` is leg `wanted[i]`).
    let legs = bind_some_legs(prepared, set, &wanted)?;
    let stock_bounds = set.factor_table().single_stock_bounds();
    let bounds = Bounds {
        lo: stock_bounds.lower(),
        hi: stock_bounds.upper(),
        vol_floor: prepared.config.vol_floor,
    };
    let n = set.len();
    let (dense_end, sparse_by_stock) = sparse_stock_scenarios(set);
    let mut rows: Vec<Vec<f64>> = vec![vec![0.0; n]; wanted.len()];
    // Only the own moves these legs read are drawn (and the set keeps them
    // for the next call).
    let mut stocks: Vec<usize> = legs
        .iter()
        .filter_map(|leg| leg.kind.driver().and_then(|d| d.stock))
        .collect();
    stocks.sort_unstable();
    stocks.dedup();
    let block_len = 1024.min(dense_end.max(1));
    let mut block = MoveBlock::default();
    let mut start = 0;
    while start < dense_end {
        let end = (start + block_len).min(dense_end);
        set.fill_selected(start..end, &mut block, &stocks);
        rows.par_iter_mut().zip(legs.par_iter()).for_each_init(
            || Scratch::new(end - start),
            |scratch, (row, leg)| price_leg(leg, &block, bounds, scratch, &mut row[start..end]),
        );
        start = end;
    }
    // The single-stock scenarios: a leg moves in its own stock's, and is as
    // when nothing moves in every other (an option ages by the horizon).
    let stills: Vec<f64> = rows
        .par_iter_mut()
        .zip(legs.par_iter())
        .map_init(
            || Scratch::new(1),
            |scratch, (row, leg)| {
                let still = still_pnl(leg, prepared.config.horizon_days, bounds, scratch);
                for &(scenario, _) in sparse_by_stock.iter().flatten() {
                    row[scenario] = still;
                }
                if let Some(stock) = leg.kind.driver().and_then(|d| d.stock) {
                    for &(scenario, own) in &sparse_by_stock[stock] {
                        row[scenario] = own_move_pnl(leg, own, bounds, scratch);
                    }
                }
                still
            },
        )
        .collect();
    Ok(accounts
        .iter()
        .filter_map(|&a| match prepared.accounts.get(a) {
            Some(PreparedAccount::Ready { holdings, .. }) => Some(AccountPnl {
                account: a,
                holdings: holdings
                    .iter()
                    .map(|&(leg, quantity)| {
                        let at = wanted.binary_search(&leg).unwrap_or(0);
                        HoldingPnl {
                            info: legs[at].info.clone(),
                            quantity,
                            unit_pnl: rows[at].clone(),
                            still_pnl: stills[at],
                        }
                    })
                    .collect(),
            }),
            _ => None,
        })
        .collect())
}

/// The moves of primary factors `factors` (indices in the factor table) in
/// every scenario of `set`: one vector per factor. A unit future on a factor
/// (notional 1 in base currency) has exactly these P&L; it does not move in
/// the single-stock scenarios.
pub fn factor_moves(set: &ScenarioSet, factors: &[usize]) -> Vec<Vec<f64>> {
    let n = set.len();
    let (dense_end, _) = sparse_stock_scenarios(set);
    let mut columns = vec![vec![0.0; n]; factors.len()];
    let mut block = MoveBlock::default();
    let mut start = 0;
    while start < dense_end {
        let end = (start + 4096).min(dense_end);
        set.fill_selected(start..end, &mut block, &[]);
        for (column, &factor) in columns.iter_mut().zip(factors) {
            column[start..end].copy_from_slice(block.factor(factor));
        }
        start = end;
    }
    columns
}
