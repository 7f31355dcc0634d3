//! The evaluation: every ready account of a prepared batch under every
//! scenario of a set, keeping each account's worst scenarios.

use std::time::Instant;

use exfee_scenarios::{MoveBlock, ScenarioSet};
use rayon::prelude::*;

use crate::bind::bind_legs;
use crate::kernel::Kernel;
use crate::layout::{Book, Layout, Sizes, aggregate_panel};
use crate::leg::Leg;
use crate::pnl::Bounds;
use crate::prepare::{Prepared, PreparedAccount};
use crate::result::{AccountResult, EngineError, EvalStats, Outcome, risk};
use crate::sparse::{evaluate_sparse, sparse_stock_scenarios};
use crate::tail::Tail;

/// Evaluates every ready account of `prepared` under every scenario of
/// `set`, in blocks of scenarios sized by the engine's memory budget; the
/// single-stock fixed scenarios, which move one stock each, are evaluated
/// sparsely (an account's P&L there is the sum over its holdings on that
/// stock, plus every other holding's P&L when nothing moves: an option's
/// time decay over the horizon, zero otherwise). Results are in input order, one per account, and do not depend on
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
    evaluate_with_stats(prepared, set, progress).map(|(results, _)| results)
}

/// [`evaluate_with_progress`], also returning counts and wall times of its
/// stages.
///
/// # Errors
///
/// As [`evaluate`].
pub fn evaluate_with_stats(
    prepared: &Prepared,
    set: &ScenarioSet,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<(Vec<AccountResult>, EvalStats), EngineError> {
    let started = Instant::now();
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
    let layout = Layout::new(prepared, &legs);
    let book = Book::with_rows(prepared, &layout.row_of);
    let (dense_end, sparse_by_stock) = sparse_stock_scenarios(set);
    let sizes = Sizes::new(
        prepared.config.memory_budget_bytes,
        layout.contracts.len(),
        legs.len(),
        dense_end,
    );
    let mut stats = EvalStats {
        threads: rayon::current_num_threads(),
        accounts: (0..book.account_count())
            .filter(|&a| book.is_ready(a))
            .count(),
        holdings: book.offsets().last().copied().unwrap_or(0),
        legs: legs.len(),
        european_legs: layout.option_legs[0],
        american_legs: layout.option_legs[1],
        european_contracts: layout.american_from,
        american_contracts: layout.contracts.len() - layout.american_from,
        dense_scenarios: dense_end,
        sparse_scenarios: set.len() - dense_end,
        block_len: sizes.block,
        panel_len: sizes.panel,
        setup: started.elapsed(),
        ..EvalStats::default()
    };
    let dense = Dense {
        set,
        legs: &legs,
        layout: &layout,
        book: &book,
        sizes: &sizes,
        bounds,
    };
    dense.evaluate(dense_end, &mut tails, &mut stats, progress);

    let t = Instant::now();
    evaluate_sparse(prepared, &legs, &sparse_by_stock, bounds, &mut tails);
    progress(set.len(), set.len());
    stats.sparse = t.elapsed();

    let t = Instant::now();
    let results = prepared
        .accounts
        .par_iter()
        .zip(tails)
        .enumerate()
        .map(|(i, (account, tail))| {
            let outcome = match account {
                PreparedAccount::Failed(errors) => Outcome::Failed(errors.clone()),
                PreparedAccount::Ready { nlv, warnings, .. } => {
                    risk(*nlv, &tail, |s| set.name(s).map(str::to_string), warnings)
                }
            };
            AccountResult {
                account: prepared.ids[i].clone(),
                base_currency: prepared.bases[i],
                outcome,
            }
        })
        .collect();
    stats.results = t.elapsed();
    stats.total = started.elapsed();
    Ok((results, stats))
}

/// What the dense part of an evaluation works with.
struct Dense<'a> {
    set: &'a ScenarioSet,
    legs: &'a [Leg],
    layout: &'a Layout,
    book: &'a Book,
    sizes: &'a Sizes,
    bounds: Bounds,
}

impl Dense<'_> {
    /// Every scenario before the single-stock tail (`..dense_end`), block by
    /// block: the block's moves filled and its option contracts priced, then
    /// panel by panel every leg's P&L written and every account aggregated.
    fn evaluate(
        &self,
        dense_end: usize,
        tails: &mut [Tail],
        stats: &mut EvalStats,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) {
        let (layout, legs, sizes) = (self.layout, self.legs, self.sizes);
        let kernel = Kernel::detected();
        let mut block = MoveBlock::default();
        let mut prices = vec![0.0; layout.contracts.len() * sizes.block];
        let mut panel = vec![0.0; legs.len() * sizes.panel];
        let mut moves = Vec::new();
        // The draws' factor, currency and volatility moves, kept from the
        // fills for whoever reads them again (a night's reports or per-class
        // rows: `ScenarioSet::kept_draws`), rather than drawn twice.
        let mut common = self.set.common_keeper();
        let mut start = 0;
        while start < dense_end {
            let end = (start + sizes.block).min(dense_end);
            let t = Instant::now();
            self.set.fill(start..end, &mut block);
            if let Some(common) = &mut common {
                common.take(&block);
            }
            stats.scenario_fill += t.elapsed();
            let len = block.len();
            let prices = &mut prices[..layout.contracts.len() * len];
            layout.price_contracts(legs, &block, self.bounds, prices, stats);
            let prices = &*prices;
            let mut from = 0;
            while from < len {
                let cols = from..(from + sizes.panel).min(len);
                let width = cols.len();
                let t = Instant::now();
                let panel = &mut panel[..legs.len() * width];
                layout.fill_panel(
                    legs,
                    &block,
                    prices,
                    cols.clone(),
                    self.bounds,
                    &mut moves,
                    panel,
                );
                stats.leg_pnl += t.elapsed();
                let t = Instant::now();
                aggregate_panel(self.book, kernel, panel, width, start + cols.start, tails);
                stats.aggregation += t.elapsed();
                from = cols.end;
            }
            start = end;
            progress(start, self.set.len());
        }
        if let Some(common) = common {
            common.keep();
        }
    }
}
