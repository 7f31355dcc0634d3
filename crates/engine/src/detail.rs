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
    // Each row goes to the holdings that hold its leg: copied for all but
    // the last of them, which takes it (most legs are held once in a chunk).
    let mut uses = vec![0_usize; wanted.len()];
    let ready = |a: usize| match prepared.accounts.get(a) {
        Some(PreparedAccount::Ready { holdings, .. }) => Some(holdings),
        _ => None,
    };
    for holdings in accounts.iter().filter_map(|&a| ready(a)) {
        for &(leg, _) in holdings {
            uses[wanted.binary_search(&leg).unwrap_or(0)] += 1;
        }
    }
    Ok(accounts
        .iter()
        .filter_map(|&a| {
            ready(a).map(|holdings| AccountPnl {
                account: a,
                holdings: holdings
                    .iter()
                    .map(|&(leg, quantity)| {
                        let at = wanted.binary_search(&leg).unwrap_or(0);
                        uses[at] -= 1;
                        let unit_pnl = if uses[at] == 0 {
                            std::mem::take(&mut rows[at])
                        } else {
                            rows[at].clone()
                        };
                        HoldingPnl {
                            info: legs[at].info.clone(),
                            quantity,
                            unit_pnl,
                            still_pnl: stills[at],
                        }
                    })
                    .collect(),
            })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{failed, fixed_set, linear, prepared, ready};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn holdings_move_with_their_factor_and_their_own_stock() {
        // Leg 0: 10 a unit on Equity (beta 1); leg 1: 10 a unit of MSFT.
        let legs = vec![linear(10.0, None), linear(10.0, Some(0))];
        let accounts = vec![ready(&[(0, 2.0), (1, -1.0)]), failed()];
        let p = prepared(accounts, legs, &["MSFT"]);
        let set = fixed_set(&["MSFT"]);
        let pnl = accounts_pnl(&p, &set, &[0, 1]).unwrap();
        // The failed account is skipped.
        assert_eq!(pnl.len(), 1);
        assert_eq!(pnl[0].account, 0);
        let at = |name: &str| (0..set.len()).find(|&s| set.name(s) == Some(name)).unwrap();
        let (down, up) = (at("Equity@-30%"), at("Equity@+20%"));
        let (crash, jump) = (at("MSFT@-50%"), at("MSFT@+50%"));
        let [index, stock] = [&pnl[0].holdings[0], &pnl[0].holdings[1]];
        assert_eq!((index.quantity, stock.quantity), (2.0, -1.0));
        // 10 × −30 % and 10 × +20 %, in both; only MSFT moves in its own.
        for h in [index, stock] {
            assert!(close(h.unit_pnl[down], -3.0) && close(h.unit_pnl[up], 2.0));
            assert_eq!(h.still_pnl, 0.0);
        }
        assert_eq!((index.unit_pnl[crash], index.unit_pnl[jump]), (0.0, 0.0));
        assert!(close(stock.unit_pnl[crash], -5.0) && close(stock.unit_pnl[jump], 5.0));
        // Every other scenario moves neither.
        for s in (0..set.len()).filter(|s| ![down, up, crash, jump].contains(s)) {
            assert_eq!((index.unit_pnl[s], stock.unit_pnl[s]), (0.0, 0.0), "{s}");
        }
        // Account: 2 × index − 1 × stock.
        let total = pnl[0].total();
        assert!(close(total[down], -3.0) && close(total[up], 2.0));
        assert!(close(total[crash], 5.0) && close(total[jump], -5.0));
        assert!(close(pnl[0].holdings[1].pnl(crash), 5.0));
        assert_eq!(pnl[0].still_total(), 0.0);
    }

    #[test]
    fn factor_moves_are_the_factor_at_its_bounds_and_still_elsewhere() {
        let set = fixed_set(&["MSFT"]);
        let moves = factor_moves(&set, &[0]);
        let at = |name: &str| (0..set.len()).find(|&s| set.name(s) == Some(name)).unwrap();
        assert!(close(moves[0][at("Equity@-30%")], -0.3));
        assert!(close(moves[0][at("Equity@+20%")], 0.2));
        assert_eq!(moves[0][at("MSFT@-50%")], 0.0);
    }
}
