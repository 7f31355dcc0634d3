//! Per-holding scenario P&L of chosen accounts: what reports, adjustments
//! and what-if questions need, beyond each account's worst scenarios.

use std::ops::Range;

use exfee_scenarios::{KeptDraws, MoveBlock, ScenarioSet};
use rayon::prelude::*;

use crate::EngineError;
use crate::bind::{bind_some_legs, bind_some_legs_mapped, stock_map};
use crate::leg::{Leg, LegInfo};
use crate::pnl::{Bounds, Moves, Scratch, own_move_pnl, price_leg, still_pnl};
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
    /// The scenarios where a holding's P&L may differ from its P&L when
    /// nothing moves: in every other scenario each holding's `unit_pnl` is
    /// its `still_pnl`, bit for bit.
    pub moving: Moving,
}

/// Where the holdings of an [`AccountPnl`] may move: every scenario before
/// `dense_end`, and the listed ones from there on. In each scenario from
/// `dense_end` on that is not listed, every holding's unit P&L is its
/// [`HoldingPnl::still_pnl`], bit for bit (the single-stock scenarios of
/// stocks none of its holdings depends on), so the account's P&L there is
/// one value, the same in all of them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Moving {
    /// The scenarios before this one may move any holding.
    pub dense_end: usize,
    /// The scenarios from `dense_end` on that may move a holding
    /// (ascending, each once): the single-stock scenarios of the stocks
    /// its holdings depend on, and the scenarios that move nothing (where
    /// the engine values every holding at zero).
    pub sparse: Vec<usize>,
}

impl Moving {
    /// Every one of `len` scenarios may move: nothing is known to be still.
    pub fn everywhere(len: usize) -> Self {
        Moving {
            dense_end: len,
            sparse: Vec::new(),
        }
    }
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
/// on chunks of accounts for large batches ([`PnlChunks`] keeps what one
/// chunk's call can give the next).
///
/// # Errors
///
/// [`EngineError`] as [`evaluate`](crate::evaluate).
pub fn accounts_pnl(
    prepared: &Prepared,
    set: &ScenarioSet,
    accounts: &[usize],
) -> Result<Vec<AccountPnl>, EngineError> {
    PnlChunks::new(prepared, set).pnl(accounts)
}

/// [`accounts_pnl`] of chunk after chunk of one batch's accounts under one
/// set, keeping from one chunk to the next what does not depend on the
/// chunk: the binding of the batch's single stocks to the set's (looked up
/// by symbol once, not once per chunk), the set's single-stock scenarios,
/// the block of moves, and the holdings' P&L vectors given back
/// ([`PnlChunks::reclaim`]) after a chunk's reports, filled again for the
/// next instead of having fresh pages zeroed for every chunk. Every element
/// of a reused vector is written: the results equal [`accounts_pnl`]'s.
#[derive(Debug)]
pub struct PnlChunks<'a> {
    prepared: &'a Prepared,
    set: &'a ScenarioSet,
    /// Bound at the first chunk (an error is the same error for every
    /// chunk, so it is found again rather than kept).
    bound: Option<Bound>,
    vectors: Vec<Vec<f64>>,
    block: MoveBlock,
}

/// What [`PnlChunks`] binds once: where each single stock of the batch is
/// in the set, the set's single-stock scenarios and bounds.
#[derive(Debug)]
struct Bound {
    stock_map: Vec<usize>,
    sparse: Sparse,
    bounds: Bounds,
}

impl<'a> PnlChunks<'a> {
    /// Nothing bound or kept yet: the first chunk binds.
    pub fn new(prepared: &'a Prepared, set: &'a ScenarioSet) -> Self {
        PnlChunks {
            prepared,
            set,
            bound: None,
            vectors: Vec::new(),
            block: MoveBlock::default(),
        }
    }

    /// [`accounts_pnl`] of `accounts`.
    ///
    /// # Errors
    ///
    /// As [`accounts_pnl`].
    pub fn pnl(&mut self, accounts: &[usize]) -> Result<Vec<AccountPnl>, EngineError> {
        Ok(self.chunk(accounts, false)?.0)
    }

    /// [`accounts_pnl`] of `accounts`, with each account's
    /// [`AccountPnl::total`] (same order, bit for bit the same sums), summed
    /// while its holdings' P&L is made: the dense scenarios block by block
    /// while the block's P&L is in cache, and in the single-stock scenarios
    /// of stocks it does not hold its P&L when nothing moves, summed once.
    ///
    /// # Errors
    ///
    /// As [`accounts_pnl`].
    pub fn pnl_and_totals(
        &mut self,
        accounts: &[usize],
    ) -> Result<(Vec<AccountPnl>, Vec<Vec<f64>>), EngineError> {
        self.chunk(accounts, true)
    }

    /// Gives the holdings' P&L vectors of `details` back, for the next
    /// chunk to fill.
    pub fn reclaim(&mut self, details: Vec<AccountPnl>) {
        self.vectors.extend(
            details
                .into_iter()
                .flat_map(|d| d.holdings.into_iter().map(|h| h.unit_pnl))
                .filter(|v| v.capacity() > 0),
        );
    }

    /// The binding, made at the first call.
    fn bound(&mut self) -> Result<&Bound, EngineError> {
        if self.bound.is_none() {
            self.bound = Some(Bound {
                stock_map: stock_map(self.prepared, self.set)?,
                sparse: Sparse::of(self.set),
                bounds: set_bounds(self.prepared, self.set),
            });
        }
        self.bound.as_ref().ok_or(EngineError::TableMismatch)
    }

    fn chunk(
        &mut self,
        accounts: &[usize],
        with_totals: bool,
    ) -> Result<(Vec<AccountPnl>, Vec<Vec<f64>>), EngineError> {
        let (prepared, set) = (self.prepared, self.set);
        self.bound()?;
        let PnlChunks {
            bound,
            vectors: spare,
            block,
            ..
        } = self;
        let Some(Bound {
            stock_map,
            sparse,
            bounds,
        }) = bound.as_ref()
        else {
            return Err(EngineError::TableMismatch);
        };
        let bounds = *bounds;
        // The legs these accounts hold, each priced once.
        let mut wanted: Vec<usize> = accounts
            .iter()
            .filter_map(|&a| ready(prepared, a))
            .flat_map(|holdings| holdings.iter().map(|&(leg, _)| leg))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        // Only these legs are copied and bound (`legs[i]` is leg `wanted[i]`).
        let legs = bind_some_legs_mapped(prepared, set, stock_map, &wanted)?;
        // Each ready account's holdings as (row of the leg, quantity).
        let holdings: Vec<(usize, Vec<(usize, f64)>)> = accounts
            .iter()
            .filter_map(|&a| {
                let rows = ready(prepared, a)?
                    .iter()
                    .map(|&(leg, q)| (wanted.binary_search(&leg).unwrap_or(0), q))
                    .collect();
                Some((a, rows))
            })
            .collect();
        let n = set.len();
        let dense_end = sparse.dense_end;
        let mut rows: Vec<Vec<f64>> = (0..wanted.len()).map(|_| vector(spare, n)).collect();
        // The totals are new vectors (they leave with the reports), grown
        // block by block without being zeroed first; an account holding
        // nothing has an empty total, as `AccountPnl::total` gives it.
        let mut totals: Vec<Vec<f64>> = if with_totals {
            holdings
                .iter()
                .map(|(_, h)| Vec::with_capacity(if h.is_empty() { 0 } else { n }))
                .collect()
        } else {
            Vec::new()
        };
        // Only the columns the legs read are filled: their stocks' own
        // moves, their factors' and currencies' (and the volatility's).
        let stocks = held_stocks(&legs);
        let (factors, currencies) = read_columns(&legs);
        let block_len = dense_block_len(dense_end);
        // The draws' moves the set keeps, read in place by the blocks of
        // draws only; the block holding the dense fixed scenarios (or every
        // block, beyond the set's budget for kept stocks) is filled.
        let kept = set.kept_draws(&stocks);
        let mut start = 0;
        while start < dense_end {
            let end = (start + block_len).min(dense_end);
            let price = |moves: &(dyn Moves + Sync), rows: &mut Vec<Vec<f64>>| {
                rows.par_iter_mut().zip(legs.par_iter()).for_each_init(
                    || Scratch::new(end - start),
                    |scratch, (row, leg)| {
                        price_leg(leg, moves, bounds, scratch, &mut row[start..end]);
                    },
                );
            };
            match &kept {
                Some(kept) if end <= kept.len() => price(
                    &DrawsView {
                        kept,
                        range: start..end,
                    },
                    &mut rows,
                ),
                _ => {
                    set.fill_selected_columns(start..end, block, &stocks, &factors, &currencies);
                    price(&*block, &mut rows);
                }
            }
            let rows = &rows;
            totals
                .par_iter_mut()
                .zip(holdings.par_iter())
                .for_each(|(total, (_, held))| add_block(total, held, rows, start..end));
            start = end;
        }
        // The single-stock scenarios: a leg moves in its own stock's, and is as
        // when nothing moves in every other (an option ages by the horizon).
        // Every scenario from `dense_end` on is a stock's or moves nothing.
        let stills: Vec<f64> = rows
            .par_iter_mut()
            .zip(legs.par_iter())
            .map_init(
                || Scratch::new(1),
                |scratch, (row, leg)| {
                    let still = still_pnl(leg, prepared.config.horizon_days, bounds, scratch);
                    if let Some(sparse_part) = row.get_mut(dense_end..) {
                        sparse_part.fill(still);
                    }
                    // Scenarios past the dense ones that move no stock (none in
                    // the sets exfee builds) move nothing: zero, as a new vector.
                    for &scenario in &sparse.unmoved {
                        row[scenario] = 0.0;
                    }
                    if let Some(stock) = leg.kind.driver().and_then(|d| d.stock) {
                        for &(scenario, own) in &sparse.by_stock[stock] {
                            row[scenario] = own_move_pnl(leg, own, bounds, scratch);
                        }
                    }
                    still
                },
            )
            .collect();
        // Where each account's holdings may move past the dense scenarios.
        let movings: Vec<Moving> = holdings
            .iter()
            .map(|(_, held)| moving(held, &legs, sparse))
            .collect();
        if with_totals {
            let rows = &rows;
            totals
                .par_iter_mut()
                .zip(holdings.par_iter())
                .zip(movings.par_iter())
                .for_each(|((total, (_, held)), moving)| {
                    add_sparse(total, n, held, rows, &stills, moving);
                });
        }
        // Each row goes to the holdings that hold its leg: copied for all but
        // the last of them, which takes it (most legs are held once in a chunk).
        let mut uses = vec![0_usize; wanted.len()];
        for (_, held) in &holdings {
            for &(row, _) in held {
                uses[row] += 1;
            }
        }
        let details = holdings
            .into_iter()
            .zip(movings)
            .map(|((account, held), moving)| AccountPnl {
                account,
                moving,
                holdings: held
                    .into_iter()
                    .map(|(at, quantity)| {
                        uses[at] -= 1;
                        let unit_pnl = if uses[at] == 0 {
                            std::mem::take(&mut rows[at])
                        } else {
                            let mut copy = vector(spare, 0);
                            copy.extend_from_slice(&rows[at]);
                            copy
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
            .collect();
        Ok((details, totals))
    }
}

/// Appends an account's P&L in dense scenarios `block` to `total`: Σ
/// quantity × unit P&L over its holdings `held` (row, quantity), summed in
/// holding order from zero as [`AccountPnl::total`] sums it.
fn add_block(total: &mut Vec<f64>, held: &[(usize, f64)], rows: &[Vec<f64>], block: Range<usize>) {
    let Some((&(first, quantity), rest)) = held.split_first() else {
        return;
    };
    let from = total.len();
    total.extend(
        rows[first][block.clone()]
            .iter()
            .map(|&p| 0.0 + quantity * p),
    );
    for &(row, quantity) in rest {
        for (t, &p) in total[from..].iter_mut().zip(&rows[row][block.clone()]) {
            *t += quantity * p;
        }
    }
}

/// Appends an account's P&L in the single-stock scenarios to `total` (its
/// dense scenarios' already there), summed as [`add_block`] sums: in a
/// scenario of a stock it does not hold every holding has its P&L when
/// nothing moves, so all those are one sum; the scenarios where its
/// holdings may move (`moving`: those of the stocks it holds and those
/// moving nothing) are summed from the rows one by one.
fn add_sparse(
    total: &mut Vec<f64>,
    n: usize,
    held: &[(usize, f64)],
    rows: &[Vec<f64>],
    stills: &[f64],
    moving: &Moving,
) {
    if held.is_empty() {
        return;
    }
    let still = held
        .iter()
        .fold(0.0, |sum, &(row, quantity)| sum + quantity * stills[row]);
    total.resize(n, still);
    let at = |s: usize| {
        held.iter()
            .fold(0.0, |sum, &(row, quantity)| sum + quantity * rows[row][s])
    };
    for &s in &moving.sparse {
        total[s] = at(s);
    }
}

/// Where an account holding `held` (row, quantity) may move: the dense
/// scenarios, its stocks' single-stock scenarios and those moving nothing
/// — the only ones past `dense_end` where the rows are not their still
/// P&L, and those [`add_sparse`] sums one by one.
fn moving(held: &[(usize, f64)], legs: &[Leg], sparse: &Sparse) -> Moving {
    let mut scenarios: Vec<usize> = held
        .iter()
        .filter_map(|&(row, _)| legs[row].kind.driver().and_then(|d| d.stock))
        .flat_map(|stock| sparse.by_stock[stock].iter().map(|&(s, _)| s))
        .chain(sparse.unmoved.iter().copied())
        .collect();
    scenarios.sort_unstable();
    scenarios.dedup();
    Moving {
        dense_end: sparse.dense_end,
        sparse: scenarios,
    }
}

/// A vector of `len` elements, taken from `spare` when it has one (its
/// contents are stale: the caller writes every element), else new.
fn vector(spare: &mut Vec<Vec<f64>>, len: usize) -> Vec<f64> {
    match spare.pop() {
        Some(mut v) => {
            v.resize(len, 0.0);
            v
        }
        None => vec![0.0; len],
    }
}

/// The holdings of account `a` of the batch when it is ready.
fn ready(prepared: &Prepared, a: usize) -> Option<&[(usize, f64)]> {
    match prepared.accounts.get(a) {
        Some(PreparedAccount::Ready { holdings, .. }) => Some(holdings),
        _ => None,
    }
}

/// The set's single-stock bounds and the batch's volatility floor.
fn set_bounds(prepared: &Prepared, set: &ScenarioSet) -> Bounds {
    let stock_bounds = set.factor_table().single_stock_bounds();
    Bounds {
        lo: stock_bounds.lower(),
        hi: stock_bounds.upper(),
        vol_floor: prepared.config.vol_floor,
    }
}

/// The single stocks `legs` depend on (only their own moves are drawn).
fn held_stocks(legs: &[Leg]) -> Vec<usize> {
    let mut stocks: Vec<usize> = legs
        .iter()
        .filter_map(|leg| leg.kind.driver().and_then(|d| d.stock))
        .collect();
    stocks.sort_unstable();
    stocks.dedup();
    stocks
}

/// The moves of draws `range` that a set keeps, read in place as a block
/// of them.
struct DrawsView<'k, 'a> {
    kept: &'k KeptDraws<'a>,
    range: Range<usize>,
}

impl Moves for DrawsView<'_, '_> {
    fn factor(&self, index: usize) -> &[f64] {
        &self.kept.factor(index)[self.range.clone()]
    }
    fn currency(&self, index: usize) -> &[f64] {
        &self.kept.currency(index)[self.range.clone()]
    }
    fn stock(&self, index: usize) -> &[f64] {
        &self.kept.stock(index)[self.range.clone()]
    }
    fn vol(&self) -> &[f64] {
        &self.kept.vol()[self.range.clone()]
    }
    fn len(&self) -> usize {
        self.range.len()
    }
}

/// The factors and currencies `legs` read (what [`price_leg`] reads of a
/// block besides stocks and the volatility: each driver's factor, each
/// leg's currency), sorted, once each.
fn read_columns(legs: &[Leg]) -> (Vec<usize>, Vec<usize>) {
    let mut factors: Vec<usize> = legs
        .iter()
        .filter_map(|leg| leg.kind.driver().map(|d| d.factor))
        .collect();
    factors.sort_unstable();
    factors.dedup();
    let mut currencies: Vec<usize> = legs.iter().filter_map(|leg| leg.fx).collect();
    currencies.sort_unstable();
    currencies.dedup();
    (factors, currencies)
}

/// Scenarios per block of the dense pass: the legs are priced block by
/// block over the same ranges in [`accounts_pnl`] and [`accounts_worst`],
/// so each scenario's price comes from the same pricer call on the same
/// lanes in both.
fn dense_block_len(dense_end: usize) -> usize {
    1024.min(dense_end.max(1))
}

/// The set's single-stock scenarios (see [`sparse_stock_scenarios`]).
#[derive(Debug)]
struct Sparse {
    /// Where they start: scenarios before are priced densely.
    dense_end: usize,
    /// Per stock of the set, its scenarios as (index, own move).
    by_stock: Vec<Vec<(usize, f64)>>,
    /// Scenarios from `dense_end` on that move no stock, in order.
    unmoved: Vec<usize>,
}

impl Sparse {
    fn of(set: &ScenarioSet) -> Self {
        let (dense_end, by_stock) = sparse_stock_scenarios(set);
        let mut moved = vec![false; set.len().saturating_sub(dense_end)];
        for &(s, _) in by_stock.iter().flatten() {
            if let Some(m) = s.checked_sub(dense_end).and_then(|i| moved.get_mut(i)) {
                *m = true;
            }
        }
        let unmoved = (dense_end..set.len())
            .filter(|&s| !moved[s - dense_end])
            .collect();
        Sparse {
            dense_end,
            by_stock,
            unmoved,
        }
    }
}

/// An account's worst scenario and its holdings' P&L there: what the
/// per-class split of its fee needs, without its P&L in every scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountWorst {
    /// The worst scenario: the first of lowest [`AccountPnl::total`] in
    /// [`f64::total_cmp`]'s order.
    pub scenario: usize,
    /// The account's P&L there (`total()[scenario]`, the same sum).
    pub total: f64,
    /// The account's holdings, each with a one-element `unit_pnl`: its
    /// P&L per unit in `scenario`.
    pub at_worst: AccountPnl,
}

/// At most this many distinct legs are priced over one block of scenarios
/// at once by [`accounts_worst`] (8 KiB each at 1,024 scenarios: 64 MiB).
const WORST_LEGS: usize = 8192;

/// Each of `accounts`' (indices into the batch) worst scenario and its
/// holdings' unit P&L there, exactly as [`accounts_pnl`] followed by
/// [`AccountPnl::total`] and the first of its lowest values would find them,
/// but streamed: the legs are priced block by block as there (same blocks,
/// same pricer calls), each account's P&L in a block is summed holding by
/// holding in holding order as `total` sums it, and only the running worst
/// is kept. Many accounts are done in one pass over the set (legs shared by
/// them are priced once), so memory is at most [`WORST_LEGS`] legs × one
/// block, not holdings × scenarios.
///
/// In the single-stock scenarios an account's P&L is its P&L when nothing
/// moves except in the scenarios of the stocks it holds: those are summed
/// one by one, and of every other such scenario only the first can be the
/// worst (the later ones tie with it). One entry per account, in order:
/// `None` for an account that is not ready or holds nothing.
///
/// # Errors
///
/// [`EngineError`] as [`evaluate`](crate::evaluate).
pub fn accounts_worst(
    prepared: &Prepared,
    set: &ScenarioSet,
    accounts: &[usize],
) -> Result<Vec<Option<AccountWorst>>, EngineError> {
    accounts_worst_in(prepared, set, accounts, WORST_LEGS)
}

/// [`accounts_worst`] pricing at most `max_legs` distinct legs at once
/// (more when one account holds more).
fn accounts_worst_in(
    prepared: &Prepared,
    set: &ScenarioSet,
    accounts: &[usize],
    max_legs: usize,
) -> Result<Vec<Option<AccountWorst>>, EngineError> {
    let mut out = Vec::with_capacity(accounts.len());
    let mut counted = vec![false; prepared.legs.len()];
    let mut rows = Vec::new();
    let mut first = 0;
    while first < accounts.len() {
        // The next group: accounts in order while their distinct legs fit.
        let mut wanted: Vec<usize> = Vec::new();
        let mut last = first;
        while last < accounts.len() {
            let holdings = ready(prepared, accounts[last]).unwrap_or(&[]);
            // A leg the batch does not have: refused as `accounts_pnl` does.
            if holdings.iter().any(|&(leg, _)| leg >= counted.len()) {
                return Err(EngineError::TableMismatch);
            }
            let new = holdings
                .iter()
                .filter(|&&(leg, _)| counted.get(leg).is_some_and(|c| !c))
                .count();
            if last > first && wanted.len() + new > max_legs {
                break;
            }
            for &(leg, _) in holdings {
                if let Some(c) = counted.get_mut(leg)
                    && !*c
                {
                    *c = true;
                    wanted.push(leg);
                }
            }
            last += 1;
        }
        for &leg in &wanted {
            counted[leg] = false;
        }
        wanted.sort_unstable();
        out.extend(group_worst(
            prepared,
            set,
            &accounts[first..last],
            &wanted,
            &mut rows,
        )?);
        first = last;
    }
    Ok(out)
}

/// One account's pass in [`accounts_worst`]: its holdings as (row of the
/// leg, quantity), its worst so far (P&L, scenario) and its holdings' unit
/// P&L there.
struct Running {
    holdings: Vec<(usize, f64)>,
    worst: Option<(f64, usize)>,
    units: Vec<f64>,
}

impl Running {
    /// Keeps `value` in `scenario` as the worst when it is lower in
    /// [`f64::total_cmp`]'s order than the worst so far (a tie keeps the
    /// scenario offered first); whether it was kept.
    fn offer(&mut self, value: f64, scenario: usize) -> bool {
        let lower = self
            .worst
            .is_none_or(|(worst, _)| value.total_cmp(&worst).is_lt());
        if lower {
            self.worst = Some((value, scenario));
        }
        lower
    }
}

/// [`accounts_worst`] of accounts holding only legs `wanted` (sorted),
/// `rows` a buffer kept between groups.
fn group_worst(
    prepared: &Prepared,
    set: &ScenarioSet,
    accounts: &[usize],
    wanted: &[usize],
    rows: &mut Vec<f64>,
) -> Result<Vec<Option<AccountWorst>>, EngineError> {
    let legs = bind_some_legs(prepared, set, wanted)?;
    let bounds = set_bounds(prepared, set);
    let sparse = Sparse::of(set);
    let dense_end = sparse.dense_end;
    let mut running: Vec<Option<Running>> = accounts
        .iter()
        .map(|&a| {
            let holdings = ready(prepared, a)?;
            (!holdings.is_empty()).then(|| Running {
                holdings: holdings
                    .iter()
                    .map(|&(leg, q)| (wanted.binary_search(&leg).unwrap_or(0), q))
                    .collect(),
                worst: None,
                units: vec![0.0; holdings.len()],
            })
        })
        .collect();
    let stocks = held_stocks(&legs);
    let block_len = dense_block_len(dense_end);
    rows.clear();
    rows.resize(legs.len() * block_len, 0.0);
    let mut block = MoveBlock::default();
    let mut start = 0;
    while start < dense_end {
        let end = (start + block_len).min(dense_end);
        let width = end - start;
        set.fill_selected(start..end, &mut block, &stocks);
        rows.par_chunks_mut(block_len)
            .zip(legs.par_iter())
            .for_each_init(
                || Scratch::new(width),
                |scratch, (row, leg)| price_leg(leg, &block, bounds, scratch, &mut row[..width]),
            );
        let rows: &[f64] = rows;
        running.par_iter_mut().flatten().for_each_init(
            || vec![0.0; width],
            |total, account| {
                // The block's totals, summed as `AccountPnl::total` sums.
                total.clear();
                total.resize(width, 0.0);
                for &(row, quantity) in &account.holdings {
                    let pnl = &rows[row * block_len..row * block_len + width];
                    for (t, &p) in total.iter_mut().zip(pnl) {
                        *t += quantity * p;
                    }
                }
                let mut found = None;
                for (j, &value) in total.iter().enumerate() {
                    if account.offer(value, start + j) {
                        found = Some(j);
                    }
                }
                if let Some(j) = found {
                    for (unit, &(row, _)) in account.units.iter_mut().zip(&account.holdings) {
                        *unit = rows[row * block_len + j];
                    }
                }
            },
        );
        start = end;
    }
    // Each leg's P&L when nothing moves and in its own stock's scenarios.
    let (stills, own): (Vec<f64>, Vec<Vec<(usize, f64)>>) = legs
        .par_iter()
        .map_init(
            || Scratch::new(1),
            |scratch, leg| {
                let still = still_pnl(leg, prepared.config.horizon_days, bounds, scratch);
                let own = leg
                    .kind
                    .driver()
                    .and_then(|d| d.stock)
                    .map(|stock| {
                        sparse.by_stock[stock]
                            .iter()
                            .map(|&(s, m)| (s, own_move_pnl(leg, m, bounds, scratch)))
                            .collect()
                    })
                    .unwrap_or_default();
                (still, own)
            },
        )
        .unzip();
    let mut moved: Vec<usize> = sparse.by_stock.iter().flatten().map(|&(s, _)| s).collect();
    moved.sort_unstable();
    // A leg's unit P&L in single-stock scenario `s` (as `accounts_pnl`
    // writes it): its own move's in its stock's, zero in one moving no
    // stock, its P&L when nothing moves in the others.
    let unit = |row: usize, s: usize| -> f64 {
        if let Some(&(_, p)) = own[row].iter().find(|&&(o, _)| o == s) {
            p
        } else if moved.binary_search(&s).is_ok() {
            stills[row]
        } else {
            0.0
        }
    };
    running.par_iter_mut().flatten().for_each(|account| {
        // The scenarios of the stocks it holds, and the first of the others
        // moving a stock and of those moving none: every other scenario
        // ties with the first of its kind, which comes before it.
        let mut candidates: Vec<usize> = account
            .holdings
            .iter()
            .flat_map(|&(row, _)| own[row].iter().map(|&(s, _)| s))
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let own_scenarios = candidates.clone();
        candidates.extend(
            moved
                .iter()
                .find(|s| own_scenarios.binary_search(s).is_err())
                .copied(),
        );
        candidates.extend(sparse.unmoved.first().copied());
        candidates.sort_unstable();
        for s in candidates {
            let value = account
                .holdings
                .iter()
                .fold(0.0, |sum, &(row, quantity)| sum + quantity * unit(row, s));
            if account.offer(value, s) {
                for (u, &(row, _)) in account.units.iter_mut().zip(&account.holdings) {
                    *u = unit(row, s);
                }
            }
        }
    });
    Ok(accounts
        .iter()
        .zip(running)
        .map(|(&a, running)| {
            let running = running?;
            let (total, scenario) = running.worst?;
            let holdings = running
                .holdings
                .iter()
                .zip(&running.units)
                .map(|(&(row, quantity), &unit)| HoldingPnl {
                    info: legs[row].info.clone(),
                    quantity,
                    unit_pnl: vec![unit],
                    still_pnl: stills[row],
                })
                .collect();
            Some(AccountWorst {
                scenario,
                total,
                at_worst: AccountPnl {
                    account: a,
                    holdings,
                    moving: Moving::everywhere(1),
                },
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

    /// A Monte Carlo set of `draws` draws over Equity, EUR and the equity
    /// volatility, with the fixed scenarios, moving single `stocks`.
    fn monte_carlo_set(draws: usize, stocks: &[&str]) -> ScenarioSet {
        use crate::testkit::{equity_and_stocks, single_stocks};
        use exfee_model::{Bounds as FactorBounds, Decimal, FxFactor, FxTable};
        use exfee_scenarios::{ScenarioConfig, ScenarioSpec, parse_correlation};
        let pct = |p: i64| Decimal::from(p);
        let table = equity_and_stocks();
        let fx = FxTable::new(vec![FxFactor {
            currency: "EUR".parse().unwrap(),
            bounds: FactorBounds::new("EUR", pct(-10), pct(10)).unwrap(),
        }])
        .unwrap();
        let config = ScenarioConfig::parse(
            "set.toml",
            &format!(
                "factor_table = 'f'\nfx_table = 'x'\ncorrelation = 'c'\nseed = 7\nscenarios = {draws}\n"
            ),
        )
        .unwrap();
        let matrix = parse_correlation(
            "c.csv",
            ",Equity,EUR,Equity Volatility\nEquity,1,0.2,-0.7\nEUR,0.2,1,0.1\nEquity Volatility,-0.7,0.1,1\n"
                .as_bytes(),
        )
        .unwrap();
        let spec = ScenarioSpec::new(config, table, fx, matrix).unwrap();
        ScenarioSet::monte_carlo(&spec, single_stocks(stocks)).unwrap()
    }

    /// Legs of every kind: an index, AAPL, MSFT, an American put on AAPL, a
    /// European put on MSFT, EUR cash, AAPL quoted in EUR, an index future.
    fn every_kind() -> Vec<Leg> {
        use crate::leg::LegKind;
        use crate::testkit::{leg, put};
        let mut american = put(true, 100.0, 5.0);
        american.driver = crate::testkit::driver(Some(0));
        let mut european = put(false, 95.0, 3.0);
        european.driver = crate::testkit::driver(Some(1));
        let mut cash = leg(LegKind::Cash, 1.1);
        cash.fx = Some(0);
        cash.info.class = "FX".into();
        let mut in_euros = linear(40.0, Some(0));
        in_euros.fx = Some(0);
        in_euros.rate = 1.1;
        let future = leg(
            LegKind::Future {
                notional: 250.0,
                driver: crate::testkit::driver(None),
            },
            1.0,
        );
        let mut legs = vec![
            linear(10.0, None),
            linear(20.0, Some(0)),
            linear(30.0, Some(1)),
            leg(LegKind::Option(Box::new(american)), 1.0),
            leg(LegKind::Option(Box::new(european)), 1.0),
            cash,
            in_euros,
            future,
        ];
        for (i, leg) in legs.iter_mut().enumerate() {
            // Two classes, so that a per-class split has something to split.
            if leg.info.class != "FX" {
                leg.info.class = if i % 2 == 0 { "Equity" } else { "Stocks" }.into();
            }
            leg.info.label = format!("leg {i}");
        }
        legs
    }

    /// The oracle: the first scenario of lowest total in the full matrix,
    /// by a plain sort of every scenario.
    fn worst_by_matrix(detail: &AccountPnl) -> Option<(usize, f64)> {
        let total = detail.total();
        let mut order: Vec<usize> = (0..total.len()).collect();
        order.sort_by(|&a, &b| total[a].total_cmp(&total[b]).then(a.cmp(&b)));
        order.first().map(|&s| (s, total[s]))
    }

    fn assert_worst_equals_matrix(p: &Prepared, set: &ScenarioSet, max_legs: usize) -> usize {
        let accounts: Vec<usize> = (0..p.accounts.len()).collect();
        let streamed = accounts_worst_in(p, set, &accounts, max_legs).unwrap();
        assert_eq!(streamed.len(), accounts.len());
        let matrix = accounts_pnl(p, set, &accounts).unwrap();
        let mut compared = 0;
        for (a, worst) in streamed.iter().enumerate() {
            let detail = matrix.iter().find(|d| d.account == a);
            let want = detail.and_then(worst_by_matrix);
            match (worst, want) {
                (None, None) => {}
                (Some(worst), Some((scenario, total))) => {
                    let detail = detail.unwrap();
                    assert_eq!(worst.scenario, scenario, "account {a}");
                    assert_eq!(worst.total.to_bits(), total.to_bits(), "account {a}");
                    assert_eq!(worst.at_worst.account, a);
                    let holdings = &worst.at_worst.holdings;
                    assert_eq!(holdings.len(), detail.holdings.len());
                    for (h, d) in holdings.iter().zip(&detail.holdings) {
                        assert_eq!(h.info, d.info);
                        assert_eq!(h.quantity.to_bits(), d.quantity.to_bits());
                        assert_eq!(h.unit_pnl.len(), 1);
                        assert_eq!(h.unit_pnl[0].to_bits(), d.unit_pnl[scenario].to_bits());
                        assert_eq!(h.still_pnl.to_bits(), d.still_pnl.to_bits());
                        assert_eq!(h.pnl(0).to_bits(), d.pnl(scenario).to_bits());
                    }
                    compared += 1;
                }
                (got, want) => panic!("account {a}: {got:?} against {want:?}"),
            }
        }
        compared
    }

    #[test]
    fn the_streamed_worst_is_the_matrix_worst_by_hand() {
        // As above: 2 × index − 1 × MSFT; its totals are −3, 2, 5 and −5 in
        // Equity@−30 %, Equity@+20 %, MSFT@−50 % and MSFT@+50 %, zero
        // elsewhere: the worst is MSFT@+50 % (−5), where the index holding
        // gains nothing and the short stock loses 5 a unit.
        let legs = vec![linear(10.0, None), linear(10.0, Some(0))];
        let accounts = vec![ready(&[(0, 2.0), (1, -1.0)]), failed(), ready(&[])];
        let p = prepared(accounts, legs, &["MSFT"]);
        let set = fixed_set(&["MSFT"]);
        let worst = accounts_worst(&p, &set, &[0, 1, 2]).unwrap();
        let at = |name: &str| (0..set.len()).find(|&s| set.name(s) == Some(name)).unwrap();
        let first = worst[0].as_ref().unwrap();
        assert_eq!(first.scenario, at("MSFT@+50%"));
        assert!(close(first.total, -5.0));
        let units: Vec<f64> = first
            .at_worst
            .holdings
            .iter()
            .map(|h| h.unit_pnl[0])
            .collect();
        assert!(close(units[0], 0.0) && close(units[1], 5.0), "{units:?}");
        // Failed, and holding nothing: no worst scenario.
        assert_eq!((worst[1].is_none(), worst[2].is_none()), (true, true));
        // A leg the batch does not have is refused, as the matrix refuses it.
        let p = prepared(vec![ready(&[(5, 1.0)])], vec![linear(1.0, None)], &[]);
        assert_eq!(
            accounts_worst(&p, &set, &[0]).unwrap_err(),
            accounts_pnl(&p, &set, &[0]).unwrap_err()
        );
    }

    #[test]
    fn the_streamed_worst_equals_the_matrix_on_every_kind_of_holding_and_ties() {
        // 2,500 draws: three dense blocks (the last one short), then the
        // fixed scenarios, the single stocks' last.
        let set = monte_carlo_set(2500, &["AAPL", "MSFT"]);
        let mut p = prepared(
            vec![
                ready(&[(0, 2.0), (1, -1.0)]),
                // Long and short the same stock: zero in every scenario, a
                // tie everywhere (the first scenario is the worst).
                ready(&[(1, 3.0), (1, -3.0)]),
                failed(),
                ready(&[]),
                // An American put, EUR cash and a stock quoted in EUR.
                ready(&[(3, 5.0), (5, 1000.0), (6, 2.0)]),
                // One single stock: its worst is its own crash scenario.
                ready(&[(2, 10.0)]),
                // Nothing held in any quantity: zero everywhere.
                ready(&[(5, 0.0), (0, 0.0)]),
                // A short European put hedged by the index and a future.
                ready(&[(4, -3.0), (0, 1.0), (7, 2.0)]),
                // Cash only: it moves with EUR, and in no stock's scenario.
                ready(&[(5, 100.0)]),
                // Every leg, some held twice.
                ready(&[
                    (7, -1.0),
                    (6, 1.0),
                    (5, -50.0),
                    (4, 2.0),
                    (3, 1.0),
                    (2, -1.0),
                    (1, 4.0),
                    (0, 1.0),
                    (1, -4.0),
                ]),
            ],
            every_kind(),
            &["AAPL", "MSFT"],
        );
        let dense_end = sparse_stock_scenarios(&set).0;
        assert!(dense_end > 2 * 1024 && !dense_end.is_multiple_of(1024));
        // Every group size, one leg at a time up to all at once.
        for max_legs in [1, 2, 3, 8, WORST_LEGS] {
            assert_eq!(assert_worst_equals_matrix(&p, &set, max_legs), 8);
        }
        // Ties at the first scenario, and the crash of the single stock.
        let worst = accounts_worst(&p, &set, &[1, 5, 6]).unwrap();
        assert_eq!(worst[0].as_ref().unwrap().scenario, 0);
        assert_eq!(worst[2].as_ref().unwrap().scenario, 0);
        // The single stock (30 a unit, 10 held) loses most at its lower
        // bound, −50 %: 150, in its crash scenario and in any draw that
        // reaches the bound; the first of them is the worst.
        let crash = (0..set.len())
            .find(|&s| set.name(s) == Some("MSFT@-50%"))
            .unwrap();
        let single = worst[1].as_ref().unwrap();
        assert!(close(single.total, -150.0), "{}", single.total);
        assert!(single.scenario <= crash);
        // Options aged by a horizon: their P&L when nothing moves is not
        // zero, so every single-stock scenario of another stock is a tie.
        p.config.horizon_days = 30;
        assert_eq!(assert_worst_equals_matrix(&p, &set, 3), 8);
    }

    #[test]
    fn the_worst_scenario_among_ties_in_the_single_stock_scenarios_is_the_first() {
        // Fixed scenarios only: Equity at its bounds, then AAPL, MSFT, TSLA
        // at theirs. A long put on AAPL aged 30 days loses its time decay in
        // every scenario that does not move AAPL; held short, that is a
        // gain, and cash held at zero adds nothing.
        let set = fixed_set(&["AAPL", "MSFT", "TSLA"]);
        let mut option = crate::testkit::put(false, 100.0, 0.0);
        option.driver = crate::testkit::driver(Some(0));
        let legs = vec![
            crate::testkit::leg(crate::leg::LegKind::Option(Box::new(option)), 1.0),
            linear(10.0, Some(1)),
        ];
        let mut p = prepared(
            vec![
                ready(&[(0, 1.0)]),
                ready(&[(0, -1.0)]),
                ready(&[(1, 1.0), (1, -1.0)]),
            ],
            legs,
            &["AAPL", "MSFT"],
        );
        p.config.horizon_days = 30;
        assert_eq!(assert_worst_equals_matrix(&p, &set, 1), 3);
        assert_eq!(assert_worst_equals_matrix(&p, &set, 2), 3);
    }

    /// The bits of every account's holdings (quantity, still P&L, unit
    /// P&L): equality of these is equality bit for bit (`==` on `f64` takes
    /// −0 for 0 and never NaN for NaN).
    #[allow(clippy::type_complexity)]
    fn bits(details: &[AccountPnl]) -> Vec<(usize, Vec<(u64, u64, Vec<u64>)>)> {
        details
            .iter()
            .map(|d| {
                let holdings = d
                    .holdings
                    .iter()
                    .map(|h| {
                        let unit = h.unit_pnl.iter().map(|p| p.to_bits()).collect();
                        (h.quantity.to_bits(), h.still_pnl.to_bits(), unit)
                    })
                    .collect();
                (d.account, holdings)
            })
            .collect()
    }

    fn total_bits(total: &[f64]) -> Vec<u64> {
        total.iter().map(|t| t.to_bits()).collect()
    }

    #[test]
    fn reused_vectors_give_the_same_pnl_as_new_ones() {
        let set = monte_carlo_set(1100, &["AAPL", "MSFT"]);
        let p = prepared(
            vec![
                ready(&[(0, 2.0), (1, -1.0), (3, 1.0)]),
                ready(&[(3, 5.0), (5, 1000.0), (6, 2.0), (1, 1.0)]),
                ready(&[(4, -3.0), (0, 1.0), (7, 2.0), (2, 1.0)]),
            ],
            every_kind(),
            &["AAPL", "MSFT"],
        );
        let fresh = accounts_pnl(&p, &set, &[0, 1, 2]).unwrap();
        // Spare vectors full of NaN, longer and shorter than the set.
        let mut chunks = PnlChunks::new(&p, &set);
        chunks.vectors = [0, 5, set.len(), set.len() + 9, 3 * set.len()]
            .iter()
            .cycle()
            .take(20)
            .map(|&len| vec![f64::NAN; len])
            .collect();
        let reused = chunks.pnl(&[0, 1, 2]).unwrap();
        assert_eq!(bits(&reused), bits(&fresh));
        // Given back, and used again for another chunk.
        chunks.reclaim(reused);
        assert!(chunks.vectors.len() >= 12);
        let (again, totals) = chunks.pnl_and_totals(&[2, 0]).unwrap();
        assert_eq!(
            bits(&again),
            bits(&accounts_pnl(&p, &set, &[2, 0]).unwrap())
        );
        for (detail, total) in again.iter().zip(&totals) {
            assert_eq!(total_bits(total), total_bits(&detail.total()));
        }
    }

    /// The oracle of a leg's unit P&L in every scenario: the whole set
    /// filled in one block with every stock's moves (`fill`, not the kept
    /// columns of `fill_selected`), every scenario priced the same way, the
    /// single-stock ones too (no sparse shortcut).
    fn slow_unit_pnl(p: &Prepared, set: &ScenarioSet) -> Vec<Vec<f64>> {
        let legs = crate::bind::bind_legs(p, set, |_| true).unwrap();
        let bounds = set_bounds(p, set);
        let mut block = MoveBlock::default();
        set.fill(0..set.len(), &mut block);
        legs.iter()
            .map(|leg| {
                let mut out = vec![0.0; set.len()];
                let mut scratch = Scratch::new(set.len());
                price_leg(leg, &block, bounds, &mut scratch, &mut out);
                // An option aged by the horizon: its P&L when nothing moves
                // where its driver does not move (the single-stock
                // scenarios of other stocks), as the dense pricing ages it
                // in every scenario.
                out
            })
            .collect()
    }

    fn near(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn chunks_pnl_and_totals_equal_the_slow_sums_over_every_scenario() {
        // 2,500 draws (three dense blocks, the last one short), the fixed
        // scenarios, the single stocks' last; options aged 30 days, so that
        // every holding of an option moves in every scenario.
        let set = monte_carlo_set(2500, &["AAPL", "MSFT"]);
        let mut p = prepared(
            vec![
                ready(&[(0, 2.0), (1, -1.0)]),
                ready(&[(1, 3.0), (1, -3.0)]),
                failed(),
                ready(&[]),
                ready(&[(3, 5.0), (5, 1000.0), (6, 2.0)]),
                ready(&[(2, 10.0)]),
                // Zero quantities: −0 products where the P&L is negative.
                ready(&[(5, 0.0), (0, 0.0), (4, -0.0)]),
                ready(&[(4, -3.0), (0, 1.0), (7, 2.0)]),
                ready(&[(5, 100.0)]),
                ready(&[
                    (7, -1.0),
                    (6, 1.0),
                    (5, -50.0),
                    (4, 2.0),
                    (3, 1.0),
                    (2, -1.0),
                    (1, 4.0),
                    (0, 1.0),
                    (1, -4.0),
                ]),
            ],
            every_kind(),
            &["AAPL", "MSFT"],
        );
        p.config.horizon_days = 30;
        let slow = slow_unit_pnl(&p, &set);
        let mut chunks = PnlChunks::new(&p, &set);
        let mut seen = Vec::new();
        let (mut skipped, mut listed_moving) = (0, 0);
        // Chunk after chunk, one of them holding the same account twice.
        for chunk in [&[0, 1, 2][..], &[3, 4, 5, 6], &[7, 8, 9, 7]] {
            let (details, totals) = chunks.pnl_and_totals(chunk).unwrap();
            // As `accounts_pnl` of the chunk alone, bit for bit.
            assert_eq!(
                bits(&details),
                bits(&accounts_pnl(&p, &set, chunk).unwrap())
            );
            assert_eq!(details.len(), totals.len());
            for (detail, total) in details.iter().zip(&totals) {
                let a = detail.account;
                seen.push(a);
                // The sums `total` makes, bit for bit.
                assert_eq!(
                    total_bits(total),
                    total_bits(&detail.total()),
                    "account {a}"
                );
                let crate::prepare::PreparedAccount::Ready { holdings, .. } = &p.accounts[a] else {
                    panic!("account {a} is not ready");
                };
                assert_eq!(detail.holdings.len(), holdings.len());
                if holdings.is_empty() {
                    assert!(total.is_empty());
                    continue;
                }
                assert_eq!(total.len(), set.len());
                for s in 0..set.len() {
                    // The slow way: Σ quantity × unit P&L, scenario by
                    // scenario, every holding priced in every scenario.
                    let mut want = 0.0;
                    for (h, &(leg, quantity)) in detail.holdings.iter().zip(holdings) {
                        assert_eq!(h.quantity.to_bits(), quantity.to_bits());
                        assert!(
                            near(h.unit_pnl[s], slow[leg][s]),
                            "account {a} leg {leg} scenario {s}"
                        );
                        want += quantity * slow[leg][s];
                    }
                    assert!(
                        near(total[s], want),
                        "account {a} scenario {s}: {} against {want}",
                        total[s]
                    );
                }
                // Where the holdings may move: from `dense_end` on, every
                // scenario not listed prices each holding (the slow way) as
                // when nothing moves, and its vector holds its still P&L
                // there bit for bit.
                let moving = &detail.moving;
                assert!(moving.sparse.windows(2).all(|w| w[0] < w[1]), "account {a}");
                assert!(
                    moving
                        .sparse
                        .iter()
                        .all(|&s| moving.dense_end <= s && s < set.len())
                );
                let slow_at = |leg: usize, s: usize| slow[leg][s];
                for s in moving.dense_end..set.len() {
                    let moved = detail
                        .holdings
                        .iter()
                        .zip(holdings)
                        .any(|(h, &(leg, _))| !near(slow_at(leg, s), h.still_pnl));
                    if moving.sparse.binary_search(&s).is_ok() {
                        listed_moving += usize::from(moved);
                        continue;
                    }
                    skipped += 1;
                    assert!(!moved, "account {a} scenario {s} moves but is not listed");
                    for h in &detail.holdings {
                        assert_eq!(h.unit_pnl[s].to_bits(), h.still_pnl.to_bits());
                    }
                }
            }
            chunks.reclaim(details);
        }
        assert_eq!(seen, vec![0, 1, 3, 4, 5, 6, 7, 8, 9, 7]);
        // scenarios skipped, and listed ones where a holding does move
        assert!(
            skipped > 10 && listed_moving > 10,
            "{skipped} {listed_moving}"
        );
    }

    #[test]
    fn a_batch_stock_is_found_in_the_set_by_symbol_once_for_every_chunk() {
        // The batch holds MSFT only (its stock 0), the set moves AAPL and
        // MSFT (its stock 1): 10 a unit of MSFT moves with the index and
        // MSFT's own move, within −50 %..+50 %, and not in AAPL's scenarios.
        let set = monte_carlo_set(300, &["AAPL", "MSFT"]);
        let p = prepared(
            vec![ready(&[(0, 2.0)]), ready(&[(0, -1.0)])],
            vec![linear(10.0, Some(0))],
            &["MSFT"],
        );
        let mut block = MoveBlock::default();
        set.fill(0..set.len(), &mut block);
        let msft = set.stock_index("MSFT").unwrap();
        assert_eq!(msft, 1);
        let mut chunks = PnlChunks::new(&p, &set);
        for (account, quantity) in [(0, 2.0), (1, -1.0)] {
            let (details, totals) = chunks.pnl_and_totals(&[account]).unwrap();
            let unit = &details[0].holdings[0].unit_pnl;
            for s in 0..set.len() {
                let by_hand = 10.0 * (block.factor(0)[s] + block.stock(msft)[s]).clamp(-0.5, 0.5);
                assert!(
                    near(unit[s], by_hand),
                    "scenario {s}: {} against {by_hand}",
                    unit[s]
                );
                assert!(near(totals[0][s], quantity * by_hand), "scenario {s}");
            }
            let at = |name: &str| (0..set.len()).find(|&s| set.name(s) == Some(name)).unwrap();
            assert_eq!(unit[at("AAPL@-50%")], 0.0);
            assert!(close(unit[at("MSFT@-50%")], -5.0));
            assert!(close(totals[0][at("MSFT@+50%")], quantity * 5.0));
        }
        // A batch stock the set does not move: refused at every chunk.
        let p = prepared(
            vec![ready(&[(0, 1.0)])],
            vec![linear(1.0, Some(0))],
            &["TSLA"],
        );
        let mut chunks = PnlChunks::new(&p, &set);
        for _ in 0..2 {
            assert_eq!(
                chunks.pnl(&[0]).unwrap_err(),
                EngineError::MissingStock("TSLA".into())
            );
        }
    }
}
