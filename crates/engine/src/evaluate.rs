use exfee_model::{Currency, Decimal, InputError, cents};
use exfee_scenarios::{MoveBlock, ScenarioSet, Shock};
use rayon::prelude::*;
use std::ops::Range;
use std::time::{Duration, Instant};

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
        // Usually nothing enters: check that with a vectorised scan first.
        let threshold = self.threshold();
        if !pnl.iter().fold(false, |any, &p| any | (p < threshold)) {
            return;
        }
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
    let stock_map = stock_map(prepared, set)?;
    let mut legs = prepared.legs.clone();
    for (index, leg) in legs.iter_mut().enumerate() {
        if keep(index) {
            bind_leg(leg, set, &stock_map)?;
        }
    }
    Ok(legs)
}

/// Legs `wanted` (indices into the batch's legs) bound to `set` as
/// [`bind_legs`] binds them, in the order of `wanted`; only these are
/// copied.
pub(crate) fn bind_some_legs(
    prepared: &Prepared,
    set: &ScenarioSet,
    wanted: &[usize],
) -> Result<Vec<Leg>, EngineError> {
    let stock_map = stock_map(prepared, set)?;
    wanted
        .iter()
        .map(|&index| {
            let mut leg = prepared
                .legs
                .get(index)
                .cloned()
                .ok_or(EngineError::TableMismatch)?;
            bind_leg(&mut leg, set, &stock_map)?;
            Ok(leg)
        })
        .collect()
}

/// Where each single stock of the batch is in `set`.
fn stock_map(prepared: &Prepared, set: &ScenarioSet) -> Result<Vec<usize>, EngineError> {
    prepared
        .stocks
        .iter()
        .map(|s| {
            set.stock_index(&s.symbol)
                .ok_or_else(|| EngineError::MissingStock(s.symbol.clone()))
        })
        .collect()
}

/// Re-indexes one leg's stock to `set`'s, checking its factor and currency.
fn bind_leg(leg: &mut Leg, set: &ScenarioSet, stock_map: &[usize]) -> Result<(), EngineError> {
    let factor_count = set.factor_table().factors().len();
    let fx_count = set.fx_table().currencies().len();
    if leg.fx.is_some_and(|i| i >= fx_count) {
        return Err(EngineError::TableMismatch);
    }
    if let Some(driver) = leg.kind.driver_mut() {
        if driver.factor >= factor_count {
            return Err(EngineError::TableMismatch);
        }
        driver.stock = driver.stock.map(|i| stock_map[i]);
    }
    Ok(())
}

/// The single-stock fixed scenarios at the end of a set, which move one
/// stock each and so are evaluated sparsely: only holdings on that stock
/// move (every other holding keeps its P&L when nothing moves, which for an
/// option aged by the horizon is its time decay). Returns where they start and, per stock of the set, its scenarios
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

/// Counts and wall times of one evaluation (see docs/performance.md).
///
/// The dense scenarios are evaluated block by block. For each block the
/// moves are filled and every distinct option contract is priced over the
/// whole block (once however many legs share it). Then, panel by panel (a
/// few hundred scenarios, so that the legs' P&L stay in the cache), every
/// leg's P&L is written (linear legs priced, option legs converted from
/// their contract's price) and every account aggregated. The single-stock
/// fixed scenarios are evaluated sparsely.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct EvalStats {
    /// Worker threads of the rayon pool the evaluation ran on.
    pub threads: usize,
    /// Accounts evaluated (failed accounts are not).
    pub accounts: usize,
    /// (account, leg) holdings aggregated per scenario.
    pub holdings: usize,
    /// Distinct legs priced per scenario.
    pub legs: usize,
    /// Legs that are European options.
    pub european_legs: usize,
    /// Legs that are American options.
    pub american_legs: usize,
    /// Distinct European contracts priced per scenario (the legs of one
    /// contract held from several base currencies share its model price).
    pub european_contracts: usize,
    /// Distinct American contracts priced per scenario.
    pub american_contracts: usize,
    /// Scenarios evaluated densely (every leg, every account).
    pub dense_scenarios: usize,
    /// Single-stock fixed scenarios, evaluated sparsely.
    pub sparse_scenarios: usize,
    /// Scenarios filled and priced per block (option contracts).
    pub block_len: usize,
    /// Scenarios per panel (legs' P&L written, accounts aggregated).
    pub panel_len: usize,
    /// Binding the legs to the set, laying out rows and holdings.
    pub setup: Duration,
    /// Generating the moves of the dense scenarios (`ScenarioSet::fill`).
    pub scenario_fill: Duration,
    /// Pricing the European contracts over the dense scenarios.
    pub european_pricing: Duration,
    /// Pricing the American contracts over the dense scenarios.
    pub american_pricing: Duration,
    /// Writing every leg's P&L per panel: linear legs (stocks, bonds, coins,
    /// futures, cash) priced, option legs converted from their contract's
    /// price into base-currency P&L.
    pub leg_pnl: Duration,
    /// Σ quantity × leg P&L of every account over the dense scenarios, with
    /// the worst-scenario scan.
    pub aggregation: Duration,
    /// The single-stock scenarios: pricing and aggregation.
    pub sparse: Duration,
    /// Turning each account's worst scenarios into its result.
    pub results: Duration,
    /// The whole evaluation.
    pub total: Duration,
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
    let book = Book::new(prepared, &layout.row_of);
    let (dense_end, sparse_by_stock) = sparse_stock_scenarios(set);
    let sizes = Sizes::new(
        prepared.config.memory_budget_bytes,
        layout.contracts.len(),
        legs.len(),
        dense_end,
    );
    let mut stats = EvalStats {
        threads: rayon::current_num_threads(),
        accounts: book.ready.iter().filter(|&&r| r).count(),
        holdings: book.rows.len(),
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

    // Dense part: every scenario before the single-stock tail.
    let mut block = MoveBlock::default();
    let mut prices = vec![0.0; layout.contracts.len() * sizes.block];
    let mut panel = vec![0.0; legs.len() * sizes.panel];
    let mut start = 0;
    while start < dense_end {
        let end = (start + sizes.block).min(dense_end);
        let t = Instant::now();
        set.fill(start..end, &mut block);
        stats.scenario_fill += t.elapsed();
        let len = block.len();
        let prices = &mut prices[..layout.contracts.len() * len];
        layout.price_contracts(&legs, &block, bounds, prices, &mut stats);
        let prices = &*prices;
        let mut from = 0;
        while from < len {
            let cols = from..(from + sizes.panel).min(len);
            let width = cols.len();
            let t = Instant::now();
            let panel = &mut panel[..legs.len() * width];
            layout.fill_panel(&legs, &block, prices, cols.clone(), bounds, panel);
            stats.leg_pnl += t.elapsed();
            let t = Instant::now();
            let panel = &*panel;
            tails
                .par_iter_mut()
                .enumerate()
                .with_min_len(64)
                .for_each_init(
                    || vec![0.0; width],
                    |scratch, (account, tail)| {
                        if book.ready[account] {
                            let (rows, quantities) = book.holdings(account);
                            scratch.resize(width, 0.0);
                            aggregate_rows(rows, quantities, panel, width, scratch);
                            tail.offer_block(scratch, start + cols.start);
                        }
                    },
                );
            stats.aggregation += t.elapsed();
            from = cols.end;
        }
        start = end;
        progress(start, set.len());
    }
    drop((prices, panel, block));

    // Sparse part: each stock-driven leg under each of its stock's own moves;
    // every other leg as when nothing moves (an option still ages by the
    // horizon, so its P&L there is its time decay, not zero).
    let t = Instant::now();
    let (leg_sparse, leg_still): (Vec<Vec<(usize, f64)>>, Vec<f64>) = legs
        .par_iter()
        .map_init(
            || Scratch::new(1),
            |scratch, leg| {
                let still = still_pnl(leg, prepared.config.horizon_days, bounds, scratch);
                let Some(stock) = leg.kind.driver().and_then(|d| d.stock) else {
                    return (Vec::new(), still);
                };
                let own = sparse_by_stock[stock]
                    .iter()
                    .map(|&(scenario, own)| (scenario, own_move_pnl(leg, own, bounds, scratch)))
                    .collect();
                (own, still)
            },
        )
        .unzip();
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
                offer_sparse(tail, holdings, &leg_sparse, &leg_still, &sparse_scenarios);
            }
        });
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
                PreparedAccount::Ready { nlv, warnings, .. } => risk(*nlv, tail, set, warnings),
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

/// Scenarios per block at most: beyond this the per-call cost of the
/// American pricer (its boundary grid) is amortised.
const MAX_BLOCK: usize = 2048;
/// Scenarios per panel at most: the legs' P&L over a panel (legs × 256 × 8
/// bytes, 120 MiB for 60,000 legs, much less for the popular legs most
/// holdings are on) stays in the last-level cache while every account that
/// holds a leg reads it.
const MAX_PANEL: usize = 256;

/// Block and panel lengths.
struct Sizes {
    block: usize,
    panel: usize,
}

impl Sizes {
    /// Within the memory budget the contracts' prices over a block
    /// (contracts × block × 8 bytes) and the legs' P&L over a panel (legs ×
    /// panel × 8 bytes) each take at most half; a block holds at least 64
    /// scenarios and a panel at least 8, whatever the budget.
    fn new(budget: usize, contracts: usize, legs: usize, dense: usize) -> Self {
        let half = budget / 2;
        let block = (half / (8 * contracts.max(1))).clamp(64, MAX_BLOCK);
        let block = block.min(dense.max(1));
        let panel = (half / (8 * legs.max(1))).clamp(8, MAX_PANEL);
        let panel = panel.min(block);
        Sizes { block, panel }
    }
}

/// Where each leg's P&L goes in a panel, and the distinct option contracts.
///
/// Rows are ordered by how many accounts hold the leg, most first, so that
/// the P&L most holdings read are packed together in the cache. Contracts
/// are the distinct (option terms, driver) of the option legs, European ones
/// first.
struct Layout {
    /// Panel row of each leg.
    row_of: Vec<usize>,
    /// What each row holds.
    rows: Vec<RowSource>,
    /// The leg whose terms each contract uses.
    contracts: Vec<usize>,
    /// Index of the first American contract.
    american_from: usize,
    /// Option legs: European, American.
    option_legs: [usize; 2],
}

/// How a row of a panel is computed.
#[derive(Clone, Copy)]
enum RowSource {
    /// Priced from the block's moves.
    Leg(usize),
    /// An option leg: its contract's price over the block, converted.
    Option { leg: usize, contract: usize },
}

/// What an option's model price under a scenario depends on (bit patterns),
/// so that legs with equal keys share one model price per scenario.
#[derive(PartialEq, Eq, Hash)]
struct ContractKey {
    factor: usize,
    stock: Option<usize>,
    american: bool,
    call: bool,
    bits: [u64; 7],
}

impl ContractKey {
    fn of(option: &OptionLeg) -> Self {
        let d = &option.driver;
        ContractKey {
            factor: d.factor,
            stock: d.stock,
            american: option.american,
            call: matches!(option.right, exfee_pricing::Right::Call),
            bits: [
                d.beta.to_bits(),
                option.strike.to_bits(),
                option.t.to_bits(),
                option.rate.to_bits(),
                option.carry.to_bits(),
                option.spot.to_bits(),
                option.vol.to_bits(),
            ],
        }
    }
}

impl Layout {
    fn new(prepared: &Prepared, legs: &[Leg]) -> Self {
        // Contracts, European first, each in order of first leg.
        let mut keys: std::collections::HashMap<ContractKey, usize> =
            std::collections::HashMap::new();
        let mut by_kind: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        // (kind, index within the kind) of each option leg's contract.
        let mut contract_of: Vec<Option<(usize, usize)>> = vec![None; legs.len()];
        let mut option_legs = [0; 2];
        for (index, leg) in legs.iter().enumerate() {
            if let LegKind::Option(option) = &leg.kind {
                let kind = usize::from(option.american);
                option_legs[kind] += 1;
                let next = by_kind[kind].len();
                let at = *keys.entry(ContractKey::of(option)).or_insert(next);
                if at == next {
                    by_kind[kind].push(index);
                }
                contract_of[index] = Some((kind, at));
            }
        }
        let american_from = by_kind[0].len();
        let [mut contracts, american] = by_kind;
        contracts.extend(american);

        // Rows by popularity.
        let mut holders = vec![0u32; legs.len()];
        for account in &prepared.accounts {
            if let PreparedAccount::Ready { holdings, .. } = account {
                for &(leg, _) in holdings {
                    holders[leg] = holders[leg].saturating_add(1);
                }
            }
        }
        let mut order: Vec<usize> = (0..legs.len()).collect();
        order.sort_by_key(|&leg| (std::cmp::Reverse(holders[leg]), leg));
        let mut row_of = vec![0; legs.len()];
        let rows = order
            .iter()
            .enumerate()
            .map(|(row, &leg)| {
                row_of[leg] = row;
                match contract_of[leg] {
                    None => RowSource::Leg(leg),
                    Some((kind, at)) => RowSource::Option {
                        leg,
                        contract: if kind == 1 { american_from + at } else { at },
                    },
                }
            })
            .collect();
        Layout {
            row_of,
            rows,
            contracts,
            american_from,
            option_legs,
        }
    }

    /// Prices every contract over `block` into `prices` (one row of the
    /// block's length per contract).
    fn price_contracts(
        &self,
        legs: &[Leg],
        block: &MoveBlock,
        bounds: Bounds,
        prices: &mut [f64],
        stats: &mut EvalStats,
    ) {
        let len = block.len();
        let (european, american) = prices.split_at_mut(self.american_from * len);
        let (european_legs, american_legs) = self.contracts.split_at(self.american_from);
        for (rows, contracts, time) in [
            (european, european_legs, &mut stats.european_pricing),
            (american, american_legs, &mut stats.american_pricing),
        ] {
            let t = Instant::now();
            rows.par_chunks_mut(len)
                .zip(contracts.par_iter())
                .for_each_init(
                    || Scratch::new(len),
                    |scratch, (out, &leg)| {
                        if let LegKind::Option(option) = &legs[leg].kind {
                            driver_move(&option.driver, block, 0..len, bounds.lo, bounds.hi, out);
                            reprice(
                                option,
                                block.vol(),
                                bounds.vol_floor,
                                (&mut scratch.spots, &mut scratch.vols),
                                out,
                            );
                        }
                    },
                );
            *time += t.elapsed();
        }
    }

    /// Every leg's P&L over scenarios `cols` of the block into `panel` (one
    /// row of `cols.len()` per leg, in layout order).
    fn fill_panel(
        &self,
        legs: &[Leg],
        block: &MoveBlock,
        prices: &[f64],
        cols: Range<usize>,
        bounds: Bounds,
        panel: &mut [f64],
    ) {
        let (len, width) = (block.len(), cols.len());
        panel
            .par_chunks_mut(width)
            .zip(self.rows.par_iter())
            .with_min_len(64)
            .for_each_init(
                || Scratch::new(width),
                |scratch, (out, &source)| match source {
                    RowSource::Leg(leg) => {
                        price_leg_cols(&legs[leg], block, cols.clone(), bounds, scratch, out);
                    }
                    RowSource::Option { leg, contract } => {
                        let leg = &legs[leg];
                        let LegKind::Option(option) = &leg.kind else {
                            return;
                        };
                        let model = &prices[contract * len..(contract + 1) * len][cols.clone()];
                        scratch.zeros.resize(width, 0.0);
                        let fx: &[f64] = match leg.fx {
                            Some(i) => &block.currency(i)[cols.clone()],
                            None => &scratch.zeros[..width],
                        };
                        let rate = leg.rate;
                        let (m, v0, base) = (option.multiplier, option.value, option.model_base);
                        // As in `leg_value`.
                        for ((o, &p), &f) in out.iter_mut().zip(model).zip(fx) {
                            *o = rate * ((v0 + m * (p - base)) * (1.0 + f) - v0);
                        }
                    }
                },
            );
    }
}

/// Every ready account's holdings as panel rows and quantities, flat, in
/// each account's summing order.
struct Book {
    ready: Vec<bool>,
    offsets: Vec<usize>,
    rows: Vec<u32>,
    quantities: Vec<f64>,
}

impl Book {
    fn new(prepared: &Prepared, row_of: &[usize]) -> Self {
        let mut book = Book {
            ready: Vec::with_capacity(prepared.accounts.len()),
            offsets: Vec::with_capacity(prepared.accounts.len() + 1),
            rows: Vec::with_capacity(prepared.holding_count()),
            quantities: Vec::with_capacity(prepared.holding_count()),
        };
        book.offsets.push(0);
        for account in &prepared.accounts {
            if let PreparedAccount::Ready { holdings, .. } = account {
                book.ready.push(true);
                for &(leg, quantity) in holdings {
                    // Fewer than 2^32 legs: a panel of them would not fit in memory.
                    book.rows.push(row_of[leg] as u32);
                    book.quantities.push(quantity);
                }
            } else {
                book.ready.push(false);
            }
            book.offsets.push(book.rows.len());
        }
        book
    }

    fn holdings(&self, account: usize) -> (&[u32], &[f64]) {
        let range = self.offsets[account]..self.offsets[account + 1];
        (&self.rows[range.clone()], &self.quantities[range])
    }
}

/// Offers an account's P&L in the sparse single-stock scenarios. In a
/// scenario of stock X each holding on X has its own-move P&L and every
/// other holding its P&L when nothing moves (`leg_still`: zero for all but
/// options aged by a horizon). Each scenario's sum runs over the holdings in
/// their order, as [`accounts_pnl`](crate::accounts_pnl) sums them; holdings
/// that are zero in every sparse scenario are left out (they add nothing).
fn offer_sparse(
    tail: &mut Tail,
    holdings: &[(usize, f64)],
    leg_sparse: &[Vec<(usize, f64)>],
    leg_still: &[f64],
    all: &[usize],
) {
    if all.is_empty() {
        return;
    }
    let moving: Vec<(usize, f64)> = holdings
        .iter()
        .filter(|&&(leg, _)| !leg_sparse[leg].is_empty() || leg_still[leg] != 0.0)
        .copied()
        .collect();
    // The account's P&L in the scenarios of stocks it does not hold.
    let still = moving
        .iter()
        .fold(0.0, |sum, &(leg, quantity)| sum + quantity * leg_still[leg]);
    let mut own: Vec<usize> = moving
        .iter()
        .flat_map(|&(leg, _)| leg_sparse[leg].iter().map(|&(s, _)| s))
        .collect();
    own.sort_unstable();
    own.dedup();
    for &scenario in &own {
        let mut sum = 0.0;
        for &(leg, quantity) in &moving {
            let pnl = leg_sparse[leg]
                .iter()
                .find(|&&(s, _)| s == scenario)
                .map_or(leg_still[leg], |&(_, p)| p);
            sum += quantity * pnl;
        }
        tail.offer(sum, scenario);
    }
    // Scenarios of stocks the account does not hold: nothing it holds moves.
    let mut offered = 0;
    for &scenario in all {
        if offered == tail.k {
            break;
        }
        if own.binary_search(&scenario).is_err() {
            tail.offer(still, scenario);
            offered += 1;
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
    let Some(gap) = worst_loss.checked_sub(nlv) else {
        return Outcome::Failed(vec![InputError::new(format!(
            "amount too large: the worst loss {worst_loss} less the net liquidation value {nlv} \
             does not fit a Decimal (about 7.9e28)"
        ))]);
    };
    Outcome::Evaluated(AccountRisk {
        nlv,
        worst_loss,
        worst_scenario,
        worst_scenario_name: set.name(worst_scenario).map(str::to_string),
        uncovered: cents(gap.max(Decimal::ZERO)),
        tail: tail.entries.iter().map(|&(p, i)| (i, p)).collect(),
        warnings: warnings.to_vec(),
    })
}

/// The account kernel: `out[s] = Σ quantity × leg_pnl[leg × len + s]` over
/// `holdings` (leg index, quantity) in their order, for the `len` scenarios
/// of a block. `leg_pnl` holds each leg's block row contiguously.
///
/// Each scenario's sum is `((0 + q₁·p₁) + q₂·p₂) + …` with every product and
/// sum rounded (no fused multiply-add), so the result is the same bit for
/// bit on every CPU and whichever kernel runs: AVX-512 or AVX2 when the CPU
/// has them (chosen at run time), else the portable build.
///
/// # Examples
///
/// ```
/// let leg_pnl = [1.0, 2.0, /* leg 1: */ 10.0, 20.0];
/// let mut out = [0.0; 2];
/// exfee_engine::aggregate(&[(1, 3.0), (0, -1.0)], &leg_pnl, 2, &mut out);
/// assert_eq!(out, [29.0, 58.0]);
/// ```
///
/// # Panics
///
/// If a leg's row `leg × len .. (leg + 1) × len` is outside `leg_pnl`, or
/// `out` is longer than `len`.
pub fn aggregate(holdings: &[(usize, f64)], leg_pnl: &[f64], len: usize, out: &mut [f64]) {
    assert!(out.len() <= len, "out is longer than a leg's row");
    let get = |h: usize| holdings[h];
    dispatch(holdings.len(), &get, leg_pnl, len, 0, out);
}

/// [`aggregate`] over holdings given as panel rows (of `len` scenarios) and
/// quantities.
fn aggregate_rows(rows: &[u32], quantities: &[f64], panel: &[f64], len: usize, out: &mut [f64]) {
    let n = rows.len().min(quantities.len());
    let get = |h: usize| (rows[h] as usize, quantities[h]);
    dispatch(n, &get, panel, len, 0, out);
}

/// The widest aggregation kernel this CPU runs (checked once).
#[derive(Clone, Copy, PartialEq, Eq)]
enum AggKernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

fn agg_kernel() -> AggKernel {
    use std::sync::OnceLock;
    static KERNEL: OnceLock<AggKernel> = OnceLock::new();
    *KERNEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return AggKernel::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return AggKernel::Avx2;
            }
        }
        AggKernel::Portable
    })
}

#[inline]
fn dispatch<G: Fn(usize) -> (usize, f64)>(
    n: usize,
    get: &G,
    leg_pnl: &[f64],
    len: usize,
    offset: usize,
    out: &mut [f64],
) {
    match agg_kernel() {
        AggKernel::Portable => agg_portable(n, get, leg_pnl, len, offset, out),
        // SAFETY: `agg_kernel` yields these only when the CPU has the features.
        #[cfg(target_arch = "x86_64")]
        AggKernel::Avx2 => unsafe { agg_avx2(n, get, leg_pnl, len, offset, out) },
        #[cfg(target_arch = "x86_64")]
        AggKernel::Avx512 => unsafe { agg_avx512(n, get, leg_pnl, len, offset, out) },
    }
}

fn agg_portable<G: Fn(usize) -> (usize, f64)>(
    n: usize,
    get: &G,
    leg_pnl: &[f64],
    len: usize,
    offset: usize,
    out: &mut [f64],
) {
    agg_body::<16, G>(n, get, leg_pnl, len, offset, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn agg_avx2<G: Fn(usize) -> (usize, f64)>(
    n: usize,
    get: &G,
    leg_pnl: &[f64],
    len: usize,
    offset: usize,
    out: &mut [f64],
) {
    agg_body::<32, G>(n, get, leg_pnl, len, offset, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn agg_avx512<G: Fn(usize) -> (usize, f64)>(
    n: usize,
    get: &G,
    leg_pnl: &[f64],
    len: usize,
    offset: usize,
    out: &mut [f64],
) {
    agg_body::<64, G>(n, get, leg_pnl, len, offset, out);
}

/// Register-blocked Σ: `W` scenarios at a time stay in registers while every
/// holding's `W` P&L are added in, so each P&L is loaded once and each sum
/// stored once. Per scenario the operations and their order are those of
/// the plain loop `out[s] = 0; for h { out[s] += q_h × p_h[s] }`.
#[inline(always)]
fn agg_body<const W: usize, G: Fn(usize) -> (usize, f64)>(
    n: usize,
    get: &G,
    leg_pnl: &[f64],
    len: usize,
    offset: usize,
    out: &mut [f64],
) {
    let width = out.len();
    let mut col = 0;
    while col + W <= width {
        let mut acc = [0.0f64; W];
        for h in 0..n {
            if PREFETCH > 0 && h + PREFETCH < n {
                let (ahead, _) = get(h + PREFETCH);
                let at = ahead * len + offset + col;
                prefetch_row::<W>(leg_pnl, at);
            }
            let (leg, quantity) = get(h);
            let at = leg * len + offset + col;
            let row: &[f64; W] = leg_pnl[at..at + W].try_into().unwrap_or(&[0.0; W]);
            for (a, &p) in acc.iter_mut().zip(row) {
                *a += quantity * p;
            }
        }
        out[col..col + W].copy_from_slice(&acc);
        col += W;
    }
    while col + 8 <= width {
        let mut acc = [0.0f64; 8];
        for h in 0..n {
            let (leg, quantity) = get(h);
            let at = leg * len + offset + col;
            let row: &[f64; 8] = leg_pnl[at..at + 8].try_into().unwrap_or(&[0.0; 8]);
            for (a, &p) in acc.iter_mut().zip(row) {
                *a += quantity * p;
            }
        }
        out[col..col + 8].copy_from_slice(&acc);
        col += 8;
    }
    for (c, o) in out.iter_mut().enumerate().skip(col) {
        let mut acc = 0.0;
        for h in 0..n {
            let (leg, quantity) = get(h);
            acc += quantity * leg_pnl[leg * len + offset + c];
        }
        *o = acc;
    }
}

const PREFETCH: usize = 2;

/// Asks for `W` P&L from `at` on to be brought into the cache.
#[inline(always)]
fn prefetch_row<const W: usize>(leg_pnl: &[f64], at: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let base = leg_pnl.as_ptr().wrapping_add(at);
        for line in (0..W).step_by(8) {
            // SAFETY: SSE is part of the x86_64 baseline; a prefetch never
            // faults, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(line).cast::<i8>()) };
        }
    }
}

/// The relative price move of what a leg's driver tracks over scenarios
/// `cols` of the block: beta × factor move, plus a single stock's own move
/// with the total kept within the single-stock bounds; never below −100 %.
#[inline]
fn driver_move(
    driver: &LegDriver,
    block: &MoveBlock,
    cols: Range<usize>,
    lo: f64,
    hi: f64,
    out: &mut [f64],
) {
    let factor = &block.factor(driver.factor)[cols.clone()];
    match driver.stock {
        Some(stock) => {
            let own = &block.stock(stock)[cols];
            for ((m, &f), &own) in out.iter_mut().zip(factor).zip(own) {
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
    price_leg_cols(leg, block, 0..block.len(), bounds, scratch, out);
}

/// [`price_leg`] over scenarios `cols` of the block (`out` has their count).
fn price_leg_cols(
    leg: &Leg,
    block: &MoveBlock,
    cols: Range<usize>,
    bounds: Bounds,
    scratch: &mut Scratch,
    out: &mut [f64],
) {
    let len = out.len();
    if let Some(driver) = leg.kind.driver() {
        driver_move(driver, block, cols.clone(), bounds.lo, bounds.hi, out);
    }
    scratch.zeros.resize(len, 0.0);
    let fx: &[f64] = match leg.fx {
        Some(i) => &block.currency(i)[cols.clone()],
        None => &scratch.zeros[..len],
    };
    leg_value(
        leg,
        fx,
        &block.vol()[cols],
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

/// P&L in base currency of one unit of the leg when nothing moves: zero
/// but for an option repriced at the horizon (its time decay). Only an
/// option can move without a move: aged by a horizon (`horizon_days` > 0),
/// or with an implied volatility below the floor the scenarios apply;
/// anything else is exactly zero and is not priced.
pub(crate) fn still_pnl(
    leg: &Leg,
    horizon_days: u32,
    bounds: Bounds,
    scratch: &mut Scratch,
) -> f64 {
    match &leg.kind {
        LegKind::Option(option) if horizon_days > 0 || option.vol < bounds.vol_floor => {}
        _ => return 0.0,
    }
    let mut out = [0.0];
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain loop every kernel must match bit for bit.
    fn naive(holdings: &[(usize, f64)], leg_pnl: &[f64], len: usize, out: &mut [f64]) {
        out.fill(0.0);
        for &(leg, quantity) in holdings {
            for (s, acc) in out.iter_mut().enumerate() {
                *acc += quantity * leg_pnl[leg * len + s];
            }
        }
    }

    /// A fixed pseudo-random stream (no RNG crate needed).
    fn stream(seed: u64) -> impl FnMut() -> f64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Values of every magnitude and sign, so rounding order matters.
            ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 10f64.powi((x % 13) as i32 - 6)
        }
    }

    #[test]
    fn every_kernel_matches_the_plain_loop_bit_for_bit() {
        let mut next = stream(7);
        let legs = 37;
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 130, 256, 301] {
            let leg_pnl: Vec<f64> = (0..legs * len).map(|_| next()).collect();
            for count in [0, 1, 2, 5, 20, 75] {
                let holdings: Vec<(usize, f64)> = (0..count)
                    .map(|h| ((h * 11 + len) % legs, next() * 1e3))
                    .collect();
                let mut expected = vec![f64::NAN; len];
                naive(&holdings, &leg_pnl, len, &mut expected);
                let get = |h: usize| holdings[h];
                let mut outs = Vec::new();
                let mut out = vec![f64::NAN; len];
                agg_portable(count, &get, &leg_pnl, len, 0, &mut out);
                outs.push(("portable", out));
                #[cfg(target_arch = "x86_64")]
                {
                    if std::arch::is_x86_feature_detected!("avx2") {
                        let mut out = vec![f64::NAN; len];
                        // SAFETY: the CPU has AVX2.
                        unsafe { agg_avx2(count, &get, &leg_pnl, len, 0, &mut out) };
                        outs.push(("avx2", out));
                    }
                    if std::arch::is_x86_feature_detected!("avx512f") {
                        let mut out = vec![f64::NAN; len];
                        // SAFETY: the CPU has AVX-512F.
                        unsafe { agg_avx512(count, &get, &leg_pnl, len, 0, &mut out) };
                        outs.push(("avx512", out));
                    }
                }
                let mut out = vec![f64::NAN; len];
                aggregate(&holdings, &leg_pnl, len, &mut out);
                outs.push(("aggregate", out));
                for (name, out) in outs {
                    let same = out
                        .iter()
                        .zip(&expected)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "{name}: len {len}, {count} holdings");
                }
            }
        }
    }

    #[test]
    fn panel_rows_are_read_from_their_offset() {
        // Two legs, rows of 4; aggregate scenarios 1..3 only.
        let leg_pnl = [1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0];
        let get = |h: usize| [(1, 2.0), (0, -1.0)][h];
        let mut out = [0.0; 2];
        agg_portable(2, &get, &leg_pnl, 4, 1, &mut out);
        assert_eq!(out, [38.0, 57.0]);
    }

    #[test]
    fn the_block_scan_keeps_the_worst_first_and_the_earliest_on_ties() {
        for k in [1, 3] {
            let pnl = [5.0, -1.0, f64::NAN, -3.0, -3.0, 2.0, -0.5, -3.0];
            let mut fast = Tail::new(k);
            fast.offer_block(&pnl[..4], 100);
            fast.offer_block(&pnl[4..], 104);
            let mut slow = Tail::new(k);
            for (i, &p) in pnl.iter().enumerate() {
                slow.offer(p, 100 + i);
            }
            assert_eq!(fast.entries, slow.entries);
            assert_eq!(fast.entries[0], (-3.0, 103));
        }
    }

    #[test]
    fn blocks_and_panels_stay_within_their_bounds() {
        let sizes = Sizes::new(512 << 20, 7_000, 60_000, 10_154);
        assert_eq!((sizes.block, sizes.panel), (MAX_BLOCK, MAX_PANEL));
        // A tiny budget still makes progress.
        let sizes = Sizes::new(1, 7_000, 60_000, 10_154);
        assert_eq!((sizes.block, sizes.panel), (64, 8));
        // Never more than the dense scenarios, a panel never beyond its block.
        let sizes = Sizes::new(512 << 20, 0, 10, 5);
        assert_eq!((sizes.block, sizes.panel), (5, 5));
    }
}
