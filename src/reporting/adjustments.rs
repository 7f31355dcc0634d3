//! Hypothetical adjustments of a subject account — a deposit, closing
//! positions, a listed hedge — each re-checked on the whole scenario set
//! through the fee pipeline; a suggestion that does not lower the fee is
//! dropped.
//!
//! Every re-check revalues the adjusted portfolio in every scenario from the
//! engine's per-unit valuation of each holding (P&L is linear in quantity, so
//! these are the sums a full re-run of the engine makes, in the same order).

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::sync::OnceLock;

use exfee_adjust as adjust;
use exfee_fee::{FeeSchedule, Measure as FeeMeasure, Portfolio, quote};
use exfee_model::{AccountInput, Batch, Currency, Decimal, MarketData, Position};
use exfee_report::format::money;
use exfee_report::{Adjustment, AdjustmentKind};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};

use crate::fees::cents;
use exfee_engine::{AccountPnl, Moving, accounts_pnl};

use super::ReportSource;
use super::lanes::{self, Scan};
use crate::FeeLine;
use crate::adjust::{HedgeInstrument, LotTable};

/// The account-level figures a re-check needs: every re-check goes through
/// the fee pipeline ([`exfee_fee::quote`]), greater-of included.
pub(super) struct Checker<'a> {
    schedule: &'a FeeSchedule,
    scenarios: usize,
    usd_to_base: Decimal,
    inventory_fee: Option<Decimal>,
    /// The losses of the re-check under way.
    losses: RefCell<Vec<f64>>,
}

impl<'a> Checker<'a> {
    /// A checker of an account's re-checks, its loss buffer `losses` (a
    /// thread's, kept from one account to the next: see
    /// [`Checker::into_buffer`]; its contents do not matter).
    pub(super) fn new(
        schedule: &'a FeeSchedule,
        scenarios: usize,
        usd_to_base: Decimal,
        inventory_fee: Option<Decimal>,
        losses: Vec<f64>,
    ) -> Self {
        Checker {
            schedule,
            scenarios,
            usd_to_base,
            inventory_fee,
            losses: RefCell::new(losses),
        }
    }

    /// The loss buffer back, for the next account's checker.
    pub(super) fn into_buffer(self) -> Vec<f64> {
        self.losses.into_inner()
    }
}

impl Checker<'_> {
    /// (measure, daily fee actually paid) of a portfolio with scenario P&L
    /// `total` and net liquidation value `nlv`; `None` when it cannot be
    /// computed (then no suggestion is made from it).
    fn check(&self, scan: &Scan, total: &[f64], nlv: Decimal) -> Option<(Decimal, Decimal)> {
        self.check_pairs(scan, total, total, nlv, |p, _| -p)
    }

    /// [`Checker::check`] of the losses `fill` writes (into a buffer kept
    /// from one re-check to the next: the searches re-check thousands of
    /// times per account, and a fresh vector of every scenario each time
    /// cost more than the measure itself).
    fn check_losses(
        &self,
        nlv: Decimal,
        fill: impl FnOnce(&mut Vec<f64>),
    ) -> Option<(Decimal, Decimal)> {
        let mut losses = self.losses.borrow_mut();
        losses.clear();
        fill(&mut losses);
        quote(
            self.schedule,
            &Portfolio {
                losses: &losses,
                scenarios: self.scenarios,
                nlv,
                usd_to_base: self.usd_to_base,
                inventory_fee: self.inventory_fee,
            },
        )
        .ok()
        .map(|q| (q.measure, q.fee_paid))
    }

    /// The fee actually paid at an uncovered amount (the measure fixed): the
    /// pipeline on a portfolio whose one loss is that amount over a zero NLV.
    fn fee_at(&self, uncovered: Decimal) -> Decimal {
        let losses = [uncovered.to_f64().unwrap_or(f64::NAN)];
        quote(
            self.schedule,
            &Portfolio {
                losses: &losses,
                scenarios: 1,
                nlv: Decimal::ZERO,
                usd_to_base: self.usd_to_base,
                inventory_fee: self.inventory_fee,
            },
        )
        .map_or(Decimal::ZERO, |q| q.fee_paid)
    }

    /// The schedule's measure (the adjust crate uses the same type).
    fn measure(&self) -> FeeMeasure {
        self.schedule.measure
    }

    /// Whether the schedule's measure reads only the largest loss (the
    /// worst scenario measure, or a tail of one scenario).
    fn worst_only(&self) -> bool {
        self.schedule.measure.scenarios_needed(self.scenarios) == 1
    }

    /// [`Checker::check`] of the losses `loss(a[s], b[s])` over the
    /// scenarios `s` (the shorter slice's length): the searches' trial
    /// portfolios, e.g. `-(total[s] + n × unit[s])`. Under the worst
    /// scenario measure, whose quote reads only the largest loss, that loss
    /// is found in the pass that forms the losses (no buffer of every
    /// scenario's loss), over the scenarios of `scan` alone, and the quote
    /// is made from it: the same figures bit for bit. (The other measures
    /// count scenarios: they read every loss, whatever `scan` says.)
    fn check_pairs(
        &self,
        scan: &Scan,
        a: &[f64],
        b: &[f64],
        nlv: Decimal,
        loss: impl Fn(f64, f64) -> f64,
    ) -> Option<(Decimal, Decimal)> {
        if self.worst_only() && !a.is_empty() && !b.is_empty() {
            let worst = lanes::largest_loss(scan, a, b, &loss);
            return self.check_losses(nlv, |losses| losses.push(worst));
        }
        self.check_losses(nlv, |losses| {
            losses.extend(a.iter().zip(b).map(|(&x, &y)| loss(x, y)));
        })
    }
}

/// A listed hedge instrument valued by the engine: the P&L of one contract
/// (or share), in base currency, in every scenario of the set.
#[derive(Debug, Clone)]
pub(super) struct HedgeUnit {
    instrument: HedgeInstrument,
    /// `SYMBOL (FUT CCY)`, as the engine labels a holding.
    label: String,
    unit: Vec<f64>,
    /// Where `unit` may move (the engine's word for its one holding).
    moving: Moving,
}

/// The first instrument of the hedge table for factor `factor` that has a
/// price and that the engine maps to that factor with no move of its own,
/// valued per unit under the run's scenarios exactly as a position in an
/// account of base currency `base` would be.
pub(super) fn hedge_unit(
    evaluation: &ReportSource<'_>,
    market: &MarketData,
    hedges: &[HedgeInstrument],
    factor: usize,
    base: Currency,
) -> Option<HedgeUnit> {
    let set = evaluation.scenarios;
    let name = &set.factor_table().factors().get(factor)?.name;
    for candidate in hedges.iter().filter(|h| &h.factor == name) {
        let Some(instrument) = candidate.priced(market) else {
            continue;
        };
        let mut account = AccountInput::new("hedge", base);
        account.positions.push(Position {
            instrument,
            quantity: Decimal::ONE,
        });
        let batch = Batch {
            accounts: vec![account],
            market: market.clone(),
            errors: Vec::new(),
        };
        let prepared = exfee_engine::prepare(
            &batch,
            set.factor_table(),
            set.fx_table(),
            evaluation.prepared.config(),
        );
        let Ok(mut details) = accounts_pnl(&prepared, set, &[0]) else {
            continue;
        };
        let Some(detail) = details.pop() else {
            continue;
        };
        let [holding] = &detail.holdings[..] else {
            continue;
        };
        if &holding.info.class != name || holding.info.single_stock || holding.info.option {
            continue;
        }
        return Some(HedgeUnit {
            instrument: candidate.clone(),
            label: holding.info.label.clone(),
            unit: holding.unit_pnl.clone(),
            moving: detail.moving.clone(),
        });
    }
    None
}

/// One subject account as the searches see it.
pub(super) struct Account<'a> {
    /// Per-holding scenario P&L.
    pub(super) detail: &'a AccountPnl,
    /// The account's scenario P&L.
    pub(super) total: &'a [f64],
    /// Net liquidation value.
    pub(super) nlv: Decimal,
    /// Tonight's fee.
    pub(super) fee: &'a FeeLine,
    /// Re-checks through the fee pipeline.
    pub(super) checker: &'a Checker<'a>,
    /// Base currency.
    pub(super) base: Currency,
    /// The scenarios that decide a worst loss of the account's holdings
    /// (`Scan::still` of its `detail.moving`).
    pub(super) scan: &'a Scan,
}

/// The smallest deposit (to the cent) that brings the fee to at most
/// `target`, by bisection on the uncovered amount (the fee grows with it).
fn deposit_for(checker: &Checker<'_>, uncovered: Decimal, target: Decimal) -> Decimal {
    let (mut lo, mut hi) = (Decimal::ZERO, uncovered);
    if checker.fee_at(Decimal::ZERO) > target {
        return uncovered;
    }
    for _ in 0..64 {
        // 0 <= lo <= hi <= uncovered: every difference below is exact.
        let gap = hi.saturating_sub(lo);
        if gap <= Decimal::new(1, 2) {
            break;
        }
        let mid = cents(lo.saturating_add(gap.checked_div(Decimal::TWO).unwrap_or(gap)));
        if checker.fee_at(uncovered.saturating_sub(mid)) <= target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// The adjustments that lower the account's fee, in order: deposits
/// (removing, then halving the fee), position reductions (same), a hedge.
pub(super) fn adjustments(
    a: &Account<'_>,
    hedge: Option<&HedgeUnit>,
    fx_moves: &HashMap<Currency, Vec<f64>>,
) -> Vec<Adjustment> {
    let current = a.fee.fee_paid;
    if current.is_zero() {
        return Vec::new();
    }
    let half = cents(current.checked_div(Decimal::TWO).unwrap_or(current));
    let halve = deposit_for(a.checker, a.fee.uncovered, half);
    let mut out = deposits(a, halve);
    // The fee each reduction aims at: removing the exposure fee leaves what
    // the account pays at the threshold (its inventory fee, if any).
    let removed_fee = a.checker.fee_at(a.fee.breakdown.threshold);
    let closing = Closing::new(a, fx_moves);
    out.extend(closing.reductions(halve, half, removed_fee));
    if let Some(hedge) = hedge {
        out.extend(hedged(a, hedge, removed_fee));
    }
    out
}

/// Deposits: the measure does not move, the NLV does. The one that removes
/// the fee (down to the threshold) and the smallest that halves it
/// (`halve`), each when it lowers the fee, once.
fn deposits(a: &Account<'_>, halve: Decimal) -> Vec<Adjustment> {
    let current = a.fee.fee_paid;
    let mut out: Vec<Adjustment> = Vec::new();
    // Both at least 0: the difference is exact.
    let remove = a
        .fee
        .uncovered
        .saturating_sub(a.fee.breakdown.threshold)
        .max(Decimal::ZERO);
    for (deposit, what) in [(remove, "removes"), (halve, "halves")] {
        let Some(nlv_after) = a.nlv.checked_add(deposit) else {
            continue;
        };
        let Some((measure_after, fee_after)) = a.checker.check(a.scan, a.total, nlv_after) else {
            continue;
        };
        if deposit > Decimal::ZERO
            && fee_after < current
            && !out.iter().any(|x| x.deposit == Some(deposit))
        {
            out.push(Adjustment {
                title: format!("Deposit {} {} ({what} the fee)", money(deposit), a.base),
                kind: AdjustmentKind::Deposit,
                trades: Vec::new(),
                deposit: Some(deposit),
                method: "exact".to_string(),
                fee_after,
                measure_after,
            });
        }
    }
    out
}

/// A re-check's (measure, fee), `None` when it cannot be computed.
type Quote = Option<(Decimal, Decimal)>;

/// Position reductions: what closing each holding takes away, in whole lots
/// (scenarios/lots.csv).
///
/// Closing a position quoted in a foreign currency leaves its proceeds in
/// that currency (as the trade does): per unit closed, the proceeds move by
/// `unit value × the currency's move` in each scenario.
struct Closing<'a> {
    a: &'a Account<'a>,
    /// The scenarios its worst-loss scans read: the account's, unless a
    /// position's proceeds move where its holdings are still (then all).
    scan: Scan,
    /// Per holding, the proceeds' move per unit closed, when foreign.
    proceeds: Vec<Option<Vec<f64>>>,
    /// The P&L each whole position takes away when closed (its proceeds
    /// stay), for the linear program: formed when a basket is searched
    /// (the single-position search forms one holding's row at a time).
    pnl: OnceCell<Vec<Vec<f64>>>,
    /// The re-checks made by [`Closing::single`], by (holding, units
    /// closed): both targets' searches start from closing each whole
    /// position and often step through the same counts.
    single_checks: RefCell<HashMap<(usize, u64), Quote>>,
    /// The re-checks made by [`Closing::check_closed`], by the units
    /// closed of every holding: a search's last trial is re-checked again
    /// before it is shown.
    closed_checks: RefCell<HashMap<Vec<u64>, Quote>>,
    /// The account as it is, for the bounded searches: (largest |P&L|,
    /// largest loss, a scenario holding it), `None` when they cannot be
    /// bounded (see [`Envelope`]).
    start: OnceCell<Option<(f64, f64, usize)>>,
    /// Per holding, what its bounded single-position search has learnt
    /// (both targets' searches share it); `None` when it cannot be bounded.
    envelopes: RefCell<HashMap<usize, Option<Envelope>>>,
    /// The traded value of closing each whole position.
    costs: Vec<f64>,
    /// Units in a lot, per holding.
    unit_lots: Vec<f64>,
    /// A lot as a fraction of the position, per holding (at most 1).
    lots: Vec<f64>,
}

impl<'a> Closing<'a> {
    fn new(a: &'a Account<'a>, fx_moves: &HashMap<Currency, Vec<f64>>) -> Self {
        let holdings = &a.detail.holdings;
        let proceeds: Vec<Option<Vec<f64>>> = holdings
            .iter()
            .map(|h| {
                (h.info.class != "FX" && h.info.currency != a.base && h.info.unit_value != 0.0)
                    .then(|| fx_moves.get(&h.info.currency))
                    .flatten()
                    .map(|fx| fx.iter().map(|m| h.info.unit_value * m).collect())
            })
            .collect();
        // The proceeds are the moves of a currency, which the scenarios of
        // single stocks leave alone; should one move there, every scenario
        // is read.
        let scan = if proceeds.iter().flatten().all(|p| a.scan.is_still(p)) {
            a.scan.clone()
        } else {
            Scan::all()
        };
        let costs = holdings
            .iter()
            .map(|h| (h.quantity * h.info.unit_exposure).abs())
            .collect();
        // The built-in table, read once.
        static LOTS: OnceLock<LotTable> = OnceLock::new();
        let table = LOTS.get_or_init(LotTable::default);
        let unit_lots: Vec<f64> = holdings.iter().map(|h| table.lot(&h.info)).collect();
        let lots = holdings
            .iter()
            .zip(&unit_lots)
            .map(|(h, &lot)| {
                if h.quantity == 0.0 {
                    1.0
                } else {
                    (lot / h.quantity.abs()).min(1.0)
                }
            })
            .collect();
        Self {
            a,
            scan,
            proceeds,
            pnl: OnceCell::new(),
            single_checks: RefCell::new(HashMap::new()),
            closed_checks: RefCell::new(HashMap::new()),
            start: OnceCell::new(),
            envelopes: RefCell::new(HashMap::new()),
            costs,
            unit_lots,
            lots,
        }
    }

    /// The P&L closing the whole of holding `i` takes away (its proceeds
    /// stay), in every scenario: one row of [`Closing::pnl`].
    fn pnl_row(&self, i: usize) -> Vec<f64> {
        let h = &self.a.detail.holdings[i];
        match &self.proceeds[i] {
            None => h.unit_pnl.iter().map(|u| h.quantity * u).collect(),
            Some(kept) => h
                .unit_pnl
                .iter()
                .zip(kept)
                .map(|(u, k)| h.quantity * (u - k))
                .collect(),
        }
    }

    /// Every holding's [`Closing::pnl_row`], formed on first use.
    fn pnl(&self) -> &[Vec<f64>] {
        self.pnl.get_or_init(|| {
            (0..self.a.detail.holdings.len())
                .map(|i| self.pnl_row(i))
                .collect()
        })
    }

    /// The revalued portfolio after closing `closed[i]` units of each
    /// holding, written into `adjusted` (emptied first).
    fn adjusted_into(&self, closed: &[f64], adjusted: &mut Vec<f64>) {
        adjusted.clear();
        adjusted.resize(self.a.total.len(), 0.0);
        for (holding, &c) in self.a.detail.holdings.iter().zip(closed) {
            let kept = holding.quantity - c;
            for (a, &u) in adjusted.iter_mut().zip(&holding.unit_pnl) {
                *a += kept * u;
            }
        }
        for (p, &c) in self.proceeds.iter().zip(closed) {
            if let Some(p) = p
                && c != 0.0
            {
                for (a, &m) in adjusted.iter_mut().zip(p) {
                    *a += c * m;
                }
            }
        }
    }

    /// The largest loss of [`Closing::adjusted_into`]'s portfolio, by
    /// [`lanes::largest_negated_sum`] over the same terms in the same order
    /// (each holding's kept units, then the proceeds of what is closed):
    /// `None` when that leaves it to the caller.
    fn worst_closed(&self, closed: &[f64]) -> Option<f64> {
        let holdings = &self.a.detail.holdings;
        let mut terms: Vec<(f64, &[f64])> = Vec::with_capacity(holdings.len() * 2);
        for (holding, &c) in holdings.iter().zip(closed) {
            terms.push((holding.quantity - c, &holding.unit_pnl));
        }
        for (p, &c) in self.proceeds.iter().zip(closed) {
            if let Some(p) = p
                && c != 0.0
            {
                terms.push((c, p));
            }
        }
        lanes::largest_negated_sum(&self.scan, self.a.total.len(), &terms)
    }

    /// (measure, fee) after closing `closed`: [`Checker::check`] of
    /// [`Closing::adjusted_into`] (each `closed` checked once).
    fn check_closed(&self, closed: &[f64]) -> Option<(Decimal, Decimal)> {
        let key: Vec<u64> = closed.iter().map(|c| c.to_bits()).collect();
        if let Some(&known) = self.closed_checks.borrow().get(&key) {
            return known;
        }
        let found = self.check_closed_now(closed);
        self.closed_checks.borrow_mut().insert(key, found);
        found
    }

    /// [`Closing::check_closed`], computed.
    fn check_closed_now(&self, closed: &[f64]) -> Option<(Decimal, Decimal)> {
        let checker = self.a.checker;
        if checker.worst_only() && !self.a.total.is_empty() {
            // The worst loss read off the revalued portfolio (the losses are
            // its negation), as `check_pairs` does: summed a block of
            // scenarios at a time when it can be, else from the whole
            // portfolio.
            let worst = self.worst_closed(closed).unwrap_or_else(|| {
                let mut adjusted = checker.losses.borrow_mut();
                self.adjusted_into(closed, &mut adjusted);
                lanes::largest_loss(&self.scan, &adjusted, &adjusted, |p, _| -p)
            });
            return checker.check_losses(self.a.nlv, |losses| losses.push(worst));
        }
        self.a.checker.check_losses(self.a.nlv, |losses| {
            self.adjusted_into(closed, losses);
            for l in losses.iter_mut() {
                *l = -*l;
            }
        })
    }

    /// Units closing `lots` whole lots of holding i (or all of it), signed.
    fn units(&self, i: usize, lots: f64) -> f64 {
        let holding = &self.a.detail.holdings[i];
        let size = (lots * self.unit_lots[i]).min(holding.quantity.abs());
        crate::lots::clean(size) * holding.quantity.signum()
    }

    /// Lots in holding i, the last one part-filled.
    fn lots_in(&self, i: usize) -> f64 {
        (self.a.detail.holdings[i].quantity.abs() / self.unit_lots[i]).ceil()
    }

    fn traded_value(&self, closed: &[f64]) -> f64 {
        self.a
            .detail
            .holdings
            .iter()
            .zip(closed)
            .map(|(h, c)| (c * h.info.unit_exposure).abs())
            .sum()
    }

    /// (measure, fee) after closing `closed`, when the fee meets `target`.
    fn holds(&self, closed: &[f64], target: Decimal) -> Option<(Decimal, Decimal)> {
        self.check_closed(closed)
            .filter(|&(_, fee_after)| fee_after <= target)
    }

    /// The reductions that remove the fee, then halve it (a halving only
    /// when it is a different, smaller trade).
    fn reductions(&self, halve: Decimal, half: Decimal, removed_fee: Decimal) -> Vec<Adjustment> {
        let a = self.a;
        let mut out = Vec::new();
        let mut removes: Option<(Vec<(String, Decimal)>, f64)> = None;
        let threshold = a.fee.breakdown.threshold;
        for (allowed, what, target) in [
            (threshold, "removes", removed_fee),
            (a.fee.uncovered.saturating_sub(halve), "halves", half),
        ] {
            let found = match self.single(target) {
                Some((closed, _)) => Some((closed, "exact (one position)".to_string())),
                None => self.basket(allowed, target),
            };
            let Some((closed, method)) = found else {
                continue;
            };
            let trades: Vec<(String, Decimal)> = a
                .detail
                .holdings
                .iter()
                .zip(&closed)
                .filter(|(_, c)| **c != 0.0)
                .map(|(holding, &c)| {
                    (
                        holding.info.label.clone(),
                        Decimal::from_f64(-c).map_or(Decimal::ZERO, |d| d.round_dp(8).normalize()),
                    )
                })
                .collect();
            if trades.is_empty() {
                continue;
            }
            let traded = self.traded_value(&closed);
            if what == "halves"
                && removes
                    .as_ref()
                    .is_some_and(|(r, cost)| *r == trades || traded >= *cost)
            {
                continue;
            }
            // Closing at the marks keeps the NLV.
            let Some((measure_after, fee_after)) = self.check_closed(&closed) else {
                continue;
            };
            if fee_after < a.fee.fee_paid {
                if what == "removes" {
                    removes = Some((trades.clone(), traded));
                }
                out.push(Adjustment {
                    title: format!("Reduce {} position(s) ({what} the fee)", trades.len()),
                    kind: AdjustmentKind::Reduce,
                    trades,
                    deposit: None,
                    method,
                    fee_after,
                    measure_after,
                });
            }
        }
        out
    }

    /// The account's start for the bounded searches (see
    /// [`Closing::start`]), found on first use.
    fn start(&self) -> Option<(f64, f64, usize)> {
        *self.start.get_or_init(|| {
            let total = self.a.total;
            let (raw, at, least) =
                lanes::largest_loss_where(&self.scan, total, total, total, |t, _, _| -t)?;
            // the losses are the negated P&L: |t| is at most the larger of
            // the two ends' magnitudes
            let t_max = raw.abs().max(least.abs());
            (raw != 0.0 && t_max < Envelope::SCALE).then_some((t_max, raw, at))
        })
    }

    /// Whether closing `c` units of holding `i` brings the fee to
    /// `target`, decided by the holding's [`Envelope`] or priced in full in
    /// one fused pass (the losses `−(t − k·row)` with the row formed in the
    /// pass, the same expression as [`Closing::pnl_row`]'s, so the same
    /// bits); `None` when the search cannot be bounded or the pass leaves
    /// the largest loss to the keyed path (then the caller checks it as
    /// before). Only under a measure that reads the largest loss alone.
    fn bounded(&self, i: usize, c: f64, target: Decimal) -> Option<bool> {
        let checker = self.a.checker;
        if !checker.worst_only() {
            return None;
        }
        let holding = &self.a.detail.holdings[i];
        let q = holding.quantity;
        let total = self.a.total;
        let unit = &holding.unit_pnl;
        let mut envelopes = self.envelopes.borrow_mut();
        let envelope = envelopes
            .entry(i)
            .or_insert_with(|| {
                let (t_max, raw, at) = self.start()?;
                Envelope::new(t_max, raw, at)
            })
            .as_mut()?;
        let k = c / q;
        let quote = |raw: f64| checker.check_losses(self.a.nlv, |losses| losses.push(raw));
        let decided = match &self.proceeds[i] {
            None => {
                let loss = |t: f64, u: f64, _: f64| -(t - k * (q * u));
                // a zero maximum's sign, from the keyed path (the losses
                // `check_pairs` forms from the row, the same bits)
                let zero = || {
                    Some(lanes::largest_loss(&self.scan, total, unit, |t, u| {
                        loss(t, u, u)
                    }))
                };
                envelope.decide(
                    &self.scan,
                    k,
                    (total, unit, unit),
                    &quote,
                    target,
                    loss,
                    zero,
                )
            }
            Some(kept) => {
                let loss = |t: f64, u: f64, m: f64| -(t - k * (q * (u - m)));
                envelope.decide(
                    &self.scan,
                    k,
                    (total, unit, kept),
                    &quote,
                    target,
                    loss,
                    || None,
                )
            }
        }?;
        if let Decision::Priced(found) = decided {
            self.single_checks
                .borrow_mut()
                .insert((i, c.to_bits()), found);
        }
        Some(decided.meets(target))
    }

    /// The single trade that brings the fee to `target`, if one does: the
    /// smallest number of lots of one holding (bisection), the cheapest such
    /// holding; (units closed per holding, traded value).
    fn single(&self, target: Decimal) -> Option<(Vec<f64>, f64)> {
        let a = self.a;
        let holdings = &a.detail.holdings;
        let mut candidates: Vec<[Vec<f64>; 2]> = Vec::new();
        for i in 0..holdings.len() {
            if holdings[i].quantity == 0.0 {
                continue;
            }
            // The search prices `total − c × (what closing one unit takes
            // away)`, O(scenarios) a step; the result is re-checked below in
            // the engine's summing order. The holding's row is formed when a
            // step is not known yet (or read from the basket's matrix).
            let quantity = holdings[i].quantity;
            let own_row: OnceCell<Vec<f64>> = OnceCell::new();
            let one_position = |c: f64| -> bool {
                let key = (i, c.to_bits());
                let known = self.single_checks.borrow().get(&key).copied();
                if known.is_none()
                    && let Some(decided) = self.bounded(i, c, target)
                {
                    return decided;
                }
                let found = known.unwrap_or_else(|| {
                    let row = match self.pnl.get() {
                        Some(rows) => &rows[i],
                        None => own_row.get_or_init(|| self.pnl_row(i)),
                    };
                    // the losses of `total − c / quantity × pnl`, in one pass
                    let k = c / quantity;
                    let found = a
                        .checker
                        .check_pairs(&self.scan, a.total, row, a.nlv, |t, p| -(t - k * p));
                    self.single_checks.borrow_mut().insert(key, found);
                    found
                });
                found.is_some_and(|(_, fee_after)| fee_after <= target)
            };
            let hi = self.lots_in(i);
            if !one_position(self.units(i, hi)) {
                continue;
            }
            let best = smallest_whole(hi, |k| one_position(self.units(i, k)));
            let mut closed = vec![0.0; holdings.len()];
            closed[i] = self.units(i, best);
            // one lot more if float order tipped the exact re-check
            let mut more = closed.clone();
            more[i] = self.units(i, (best + 1.0).min(hi));
            candidates.push([closed, more]);
        }
        cheapest_that_holds(
            candidates,
            |closed| self.traded_value(closed),
            |closed| self.holds(closed, target).is_some(),
        )
    }

    /// A basket: the linear program (uncovered at most `allowed`), rounded
    /// up to whole lots, then each closing stepped back a lot at a time
    /// while the re-checked fee still meets `target`; (units closed, method).
    fn basket(&self, allowed: Decimal, target: Decimal) -> Option<(Vec<f64>, String)> {
        let a = self.a;
        let holdings = &a.detail.holdings;
        // A cent of margin: the re-check rounds the measure to cents.
        let limit = a.nlv.to_f64().unwrap_or(0.0) + allowed.to_f64().unwrap_or(0.0) - 0.01;
        let problem =
            adjust::ReductionProblem::new(self.pnl(), &self.costs, limit, a.checker.measure())
                .with_lots(&self.lots);
        let reduction = adjust::reduce_positions(&problem).ok()?;
        let mut closed: Vec<f64> = (0..holdings.len())
            .map(|i| {
                let wanted = (holdings[i].quantity * reduction.fractions[i]).abs();
                self.units(i, crate::lots::clean(wanted / self.unit_lots[i]).ceil())
            })
            .collect();
        if self.holds(&closed, target).is_some() {
            for i in 0..closed.len() {
                let count = (closed[i].abs() / self.unit_lots[i]).ceil();
                let best = smallest_whole(count, |k| {
                    let mut trial = closed.clone();
                    trial[i] = self.units(i, k);
                    self.holds(&trial, target).is_some()
                });
                closed[i] = self.units(i, best);
            }
        }
        let method = match reduction.method {
            adjust::Method::LinearProgram => "linear program".to_string(),
            adjust::Method::Greedy => "greedy (largest contributor first)".to_string(),
        };
        Some((closed, method))
    }
}

/// What a bounded worst-loss search has learnt of `raw(x)`, the largest
/// loss of a family of trial portfolios whose loss in scenario `s` is a
/// line in the trial's parameter `x` evaluated in floating point: the
/// single-position closings `−(t_s − x·row_s)` (`x` the fraction closed),
/// the hedges `−(t_s + x·unit_s)` (`x` the units bought).
///
/// The exact largest loss is the upper envelope of those lines, a convex
/// function of `x`; each scenario's float loss is within
/// `u·(|t_s| + 2·|x|·|row_s|)` of its line (`u = 2⁻⁵³`: one rounding of the
/// product, one of the sum), so the float maximum is within
/// `u·(t_max + 2·|x|·row_max)` of the envelope. Hence, without pricing `x`:
///
/// - a **lower bound**: the float loss at `x` of any scenario (exactly the
///   expression the full pass evaluates) — here of the scenarios that held
///   the largest loss of the trials priced so far (the "witnesses");
/// - an **upper bound**: the chord between the priced trials on either side
///   of `x`, plus a margin of [`Envelope::SLACK`] times the scale of the
///   values (≈ 90 times the rounding bound above).
///
/// The fee a quote charges does not fall as the largest loss grows (the
/// tiers' rates are not negative, the minimum and the rounding to cents are
/// monotone, the greater of the inventory fee too), so a trial whose lower
/// bound's fee misses the target misses it, and one whose upper bound's fee
/// meets it meets it: the bisection makes the same steps and finds the same
/// count as when every trial is priced in full. Only trials the bounds
/// cannot decide are priced (in one vector pass, which also yields their
/// witness). Values are kept below [`Envelope::SCALE`], far inside what a
/// `Decimal` holds, so no quote fails on a bound where it would not on the
/// value itself.
#[derive(Debug, Clone)]
struct Envelope {
    /// (x, largest loss) of each trial priced in full, by x.
    points: Vec<(f64, f64)>,
    /// A scenario holding the largest loss of each priced trial (at most
    /// [`Envelope::WITNESSES`]).
    witnesses: Vec<usize>,
    /// The largest |t_s|.
    t_max: f64,
    /// A bound on the largest |row_s|, from the priced trials at `x ≠ 0`
    /// (`|x·row_s| ≤ t_max + |loss_s|` up to rounding): infinite until one
    /// is priced.
    row_max: f64,
    /// Whether the losses were finite in every trial priced (the bounds
    /// need it; a search that met a NaN or an infinity prices every trial).
    usable: bool,
}

/// How a bounded trial was decided.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Decision {
    /// By a bound: whether the fee meets the target.
    Bounded(bool),
    /// Priced in full: the quote.
    Priced(Quote),
}

impl Decision {
    fn meets(self, target: Decimal) -> bool {
        match self {
            Decision::Bounded(meets) => meets,
            Decision::Priced(found) => found.is_some_and(|(_, fee)| fee <= target),
        }
    }
}

impl Envelope {
    /// The margin of the upper bound, relative to the scale of the values.
    const SLACK: f64 = 1e-14;
    /// Values (and bounds) beyond this are not bounded.
    const SCALE: f64 = 1e24;
    /// Witnesses kept at most.
    const WITNESSES: usize = 16;

    /// An envelope that knows the trial `x = 0` (the account as it is:
    /// largest loss `raw`, held by scenario `at`; the largest |t_s| is
    /// `t_max`), `None` when the values are too large to bound.
    fn new(t_max: f64, raw: f64, at: usize) -> Option<Self> {
        (t_max.is_finite() && t_max < Self::SCALE && raw.is_finite()).then(|| Envelope {
            points: vec![(0.0, raw)],
            witnesses: vec![at],
            t_max,
            row_max: f64::INFINITY,
            usable: true,
        })
    }

    /// The largest loss at `x` when a trial at exactly `x` was priced.
    fn known(&self, x: f64) -> Option<f64> {
        self.points
            .iter()
            .find(|(px, _)| *px == x)
            .map(|(_, raw)| *raw)
    }

    /// The chord bound at `x` between the priced trials around it, `None`
    /// outside them (or when it is not finite or too large).
    fn upper(&self, x: f64) -> Option<f64> {
        let after = self.points.partition_point(|(px, _)| *px < x);
        let (x1, r1) = *self.points.get(after.checked_sub(1)?)?;
        let (x2, r2) = *self.points.get(after)?;
        if !(x1 < x && x < x2) {
            return None;
        }
        let chord = r1 + (r2 - r1) * ((x - x1) / (x2 - x1));
        let reach = x1.abs().max(x2.abs()).max(x.abs());
        let scale = self.t_max + reach * self.row_max + r1.abs() + r2.abs();
        let upper = chord + Self::SLACK * scale;
        (upper.is_finite() && upper.abs() < Self::SCALE).then_some(upper)
    }

    /// Learns the priced trial `x`: its largest loss `raw` (numerically),
    /// held by `at`, and its least loss `least`.
    fn learn(&mut self, x: f64, raw: f64, at: usize, least: f64) {
        let place = self.points.partition_point(|(px, _)| *px < x);
        if self.points.get(place).is_none_or(|(px, _)| *px != x) {
            self.points.insert(place, (x, raw));
        }
        if self.witnesses.len() < Self::WITNESSES && !self.witnesses.contains(&at) {
            self.witnesses.push(at);
        }
        if x != 0.0 {
            // |fl(x·row)| ≤ |t| + |loss|·(1 + 2u), |x·row| ≤ that·(1 + u)
            let bound = (self.t_max + raw.abs().max(least.abs())) * (1.0 + 1e-14) / x.abs();
            if bound < self.row_max {
                self.row_max = bound;
            }
        }
    }

    /// Whether the trial `x` — losses `loss(a[s], b[s], c[s])` over the
    /// `(a, b, c)` given — brings the fee `quote` makes of its largest loss
    /// to `target`: by the bounds, or priced in full (and learnt; a zero
    /// maximum's sign from `zero`, the keyed path). `None` when the search
    /// cannot be bounded, or the caller is to price the trial itself.
    #[allow(clippy::too_many_arguments)]
    fn decide(
        &mut self,
        scan: &Scan,
        x: f64,
        (a, b, c): (&[f64], &[f64], &[f64]),
        quote: &impl Fn(f64) -> Quote,
        target: Decimal,
        loss: impl Fn(f64, f64, f64) -> f64,
        zero: impl FnOnce() -> Option<f64>,
    ) -> Option<Decision> {
        if !self.usable {
            return None;
        }
        if let Some(raw) = self.known(x).filter(|raw| *raw != 0.0) {
            return Some(Decision::Priced(quote(raw)));
        }
        let meets = |raw: f64| quote(raw).is_some_and(|(_, fee)| fee <= target);
        let lower = self
            .witnesses
            .iter()
            .filter_map(|&s| Some(loss(*a.get(s)?, *b.get(s)?, *c.get(s)?)))
            .fold(
                f64::NEG_INFINITY,
                |best, value| {
                    if value > best { value } else { best }
                },
            );
        if lower.is_finite() && lower.abs() < Self::SCALE && !meets(lower) {
            return Some(Decision::Bounded(false));
        }
        if self.upper(x).is_some_and(meets) {
            return Some(Decision::Bounded(true));
        }
        let Some((raw, at, least)) = lanes::largest_loss_where(scan, a, b, c, &loss) else {
            self.usable = false;
            return None;
        };
        self.learn(x, raw, at, least);
        if raw == 0.0 {
            return zero().map(|raw| Decision::Priced(quote(raw)));
        }
        Some(Decision::Priced(quote(raw)))
    }
}

/// A hedge in whole contracts (or shares) of a listed instrument on the
/// dominant factor (scenarios/hedge-instruments.csv): the fewest that
/// bring the fee to `removed_fee`, when that lowers the fee.
fn hedged(a: &Account<'_>, hedge: &HedgeUnit, removed_fee: Decimal) -> Option<Adjustment> {
    let unit = &hedge.unit;
    let total = a.total;
    // The scenarios where the account's holdings or the hedge may move.
    let scan = Scan::still(&[&a.detail.moving, &hedge.moving], total.len());
    let holds = |n: f64| {
        a.checker
            .check_pairs(&scan, total, unit, a.nlv, |t, u| -(t + n * u))
            .filter(|&(_, fee_after)| fee_after <= removed_fee)
    };
    let nlv_f = a.nlv.to_f64().unwrap_or(0.0);
    let limit = nlv_f + a.fee.breakdown.threshold.to_f64().unwrap_or(0.0) - 0.01;
    let Ok(Some(found)) = adjust::hedge(total, unit, limit, a.checker.measure()) else {
        return None;
    };
    let mut n = found.whole_units.unwrap_or(found.units.round());
    if holds(n).is_some() {
        let sign = n.signum();
        n = sign * smallest_whole(n.abs(), |m| holds(sign * m).is_some());
    }
    if n == 0.0 {
        return None;
    }
    let (measure_after, fee_after) = a
        .checker
        .check_pairs(&scan, total, unit, a.nlv, |t, u| -(t + n * u))?;
    if fee_after >= a.fee.fee_paid {
        return None;
    }
    let count = Decimal::from_f64(n.abs()).unwrap_or_default().normalize();
    let what = if hedge.instrument.future {
        format!("{} contract(s)", hedge.instrument.symbol)
    } else {
        format!("{} share(s)", hedge.instrument.symbol)
    };
    Some(Adjustment {
        title: format!(
            "{} {count} {what} ({})",
            if n < 0.0 { "Sell" } else { "Buy" },
            hedge.instrument.name
        ),
        kind: AdjustmentKind::Hedge,
        trades: vec![(
            hedge.label.clone(),
            Decimal::from_f64(n).unwrap_or_default().normalize(),
        )],
        deposit: None,
        method: "exact".to_string(),
        fee_after,
        measure_after,
    })
}

/// Keeps in `kept` the cheaper of it and a holding's candidate trade: the
/// first of `candidates` (the count the search found, then one lot more)
/// that `holds` (the exact re-check), when it costs strictly less than the
/// trade kept. Only a cheaper trade can replace the one kept: when neither
/// candidate is, their re-checks (a pass over every holding in every
/// scenario) could change nothing, and are not made.
fn keep_cheapest(
    kept: &mut Option<(Vec<f64>, f64)>,
    candidates: [Vec<f64>; 2],
    cost: impl Fn(&[f64]) -> f64,
    holds: impl Fn(&[f64]) -> bool,
) {
    if let Some((_, least)) = kept.as_ref()
        && candidates.iter().all(|c| {
            let cheaper = cost(c) < *least;
            !cheaper
        })
    {
        return;
    }
    let Some(closed) = candidates.into_iter().find(|c| holds(c)) else {
        return;
    };
    let cost = cost(&closed);
    if kept.as_ref().is_none_or(|(_, least)| cost < *least) {
        *kept = Some((closed, cost));
    }
}

/// The trade [`keep_cheapest`] keeps of every holding's candidates in turn
/// (`candidates[j]`: holding j's count, then one lot more), with fewer
/// re-checks: the candidates are visited cheapest first (ties by holding,
/// then the count before one lot more), and the first that is its
/// holding's trade (it `holds`; one lot more only when the count does not)
/// is the answer, as no later candidate can be strictly cheaper or an
/// earlier holding at the same cost. Each candidate is re-checked at most
/// once. With a NaN cost (which no comparison orders) the candidates go
/// through [`keep_cheapest`] in holding order instead.
fn cheapest_that_holds(
    candidates: Vec<[Vec<f64>; 2]>,
    cost: impl Fn(&[f64]) -> f64,
    holds: impl Fn(&[f64]) -> bool,
) -> Option<(Vec<f64>, f64)> {
    let costs: Vec<[f64; 2]> = candidates
        .iter()
        .map(|[count, more]| [cost(count), cost(more)])
        .collect();
    if costs.iter().flatten().any(|c| c.is_nan()) {
        let mut kept = None;
        for pair in candidates {
            keep_cheapest(&mut kept, pair, &cost, &holds);
        }
        return kept;
    }
    let mut order: Vec<(usize, usize)> = (0..candidates.len())
        .flat_map(|j| [(j, 0), (j, 1)])
        .collect();
    // No NaN: `partial_cmp` orders every pair (−0 equal to +0, as `<` has it).
    order.sort_by(|&(j, w), &(k, v)| {
        costs[j][w]
            .partial_cmp(&costs[k][v])
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(j.cmp(&k))
            .then(w.cmp(&v))
    });
    let mut verdicts: Vec<[Option<bool>; 2]> = vec![[None; 2]; candidates.len()];
    let mut check = |j: usize, w: usize| -> bool {
        *verdicts[j][w].get_or_insert_with(|| holds(&candidates[j][w]))
    };
    let (j, w) = order.into_iter().find(|&(j, w)| {
        if w == 0 {
            check(j, 0)
        } else {
            !check(j, 0) && check(j, 1)
        }
    })?;
    let [count, more] = candidates.into_iter().nth(j)?;
    Some((if w == 0 { count } else { more }, costs[j][w]))
}

/// The smallest whole number `k` in `0..=hi` for which `ok(k)` holds, given
/// that `ok(hi)` does: a bisection that assumes more is never worse (closing
/// or hedging more of what loses), so the answer is where stepping back one
/// unit at a time would stop, found in at most 200 steps whatever the size
/// (quantities beyond 2^53 included).
fn smallest_whole(hi: f64, ok: impl Fn(f64) -> bool) -> f64 {
    let (mut lo, mut hi) = (-1.0_f64, hi);
    for _ in 0..200 {
        if hi - lo <= 1.0 {
            break;
        }
        let mid = ((lo + hi) / 2.0).floor();
        if mid <= lo || mid >= hi {
            break;
        }
        if ok(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_whole_finds_the_first_count_that_does_it() {
        assert_eq!(smallest_whole(20.0, |k| k >= 7.0), 7.0);
        assert_eq!(smallest_whole(20.0, |_| true), 0.0);
        assert_eq!(smallest_whole(20.0, |k| k >= 20.0), 20.0);
        assert_eq!(smallest_whole(1.0, |k| k >= 1.0), 1.0);
        // far beyond what stepping one at a time could reach
        let big = 9.0e15;
        assert_eq!(
            smallest_whole(big, |k| k >= 123_456_789_012.0),
            123_456_789_012.0
        );
    }

    #[test]
    fn a_worst_loss_check_equals_the_check_of_every_loss() {
        let all = Scan::all();
        // The default schedule's measure is the worst loss: the fused
        // check must give the quote of the whole loss vector.
        let schedule = FeeSchedule::default();
        let checker = Checker::new(&schedule, 40, Decimal::ONE, None, Vec::new());
        let total: Vec<f64> = (0..40)
            .map(|s| -1000.0 * f64::from(s % 7) + 250.0)
            .collect();
        let unit: Vec<f64> = (0..40).map(|s| 30.0 * f64::from(s % 5) - 60.0).collect();
        let nlv = Decimal::from(2_000);
        for n in [-40.0, -3.0, 0.0, 2.5, 17.0] {
            let every: Vec<f64> = total.iter().zip(&unit).map(|(t, u)| -(t + n * u)).collect();
            let want = checker.check_losses(nlv, |losses| losses.extend(&every));
            let got = checker.check_pairs(&all, &total, &unit, nlv, |t, u| -(t + n * u));
            assert_eq!(got, want, "n {n}");
            assert!(want.is_some());
        }
        // no scenario: no quote, either way
        assert_eq!(checker.check_pairs(&all, &[], &[], nlv, |t, u| t + u), None);
    }

    /// Deterministic pseudo-random numbers in [0, 1).
    fn uniform(state: &mut u64) -> f64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        f64::from(u32::try_from(*state >> 40).unwrap()) / f64::from(1_u32 << 24)
    }

    /// Trial families `(total, row)`: random books, exact ties (duplicated
    /// scenarios, lines through one point), extremes far apart in
    /// magnitude, one scenario, a closing that takes every loss away (a
    /// zero maximum), a row of zeros.
    fn families() -> Vec<(Vec<f64>, Vec<f64>)> {
        let mut state = 7_u64;
        let mut out = Vec::new();
        for n in [1_usize, 2, 33, 600] {
            let mut total = Vec::with_capacity(n);
            let mut row = Vec::with_capacity(n);
            for _ in 0..n {
                let t = 50_000.0 - 300_000.0 * uniform(&mut state);
                total.push(t);
                row.push(t * (0.3 + 0.9 * uniform(&mut state)) + 1000.0 * uniform(&mut state));
            }
            out.push((total, row));
        }
        // ties: every scenario twice, and lines crossing at x = 1/2
        let (t, r) = out[2].clone();
        out.push(([t.clone(), t].concat(), [r.clone(), r].concat()));
        let total: Vec<f64> = (0..64)
            .map(|s| -1000.0 * f64::from(s % 8) - 4000.0)
            .collect();
        let row: Vec<f64> = total.iter().map(|t| 2.0 * (t + 8000.0)).collect();
        out.push((total, row));
        // extremes: 1e20 next to 1e-300
        let total: Vec<f64> = (0..40)
            .map(|s| {
                if s % 3 == 0 {
                    -1e20
                } else {
                    -1e-300 * f64::from(s)
                }
            })
            .collect();
        let row: Vec<f64> = (0..40)
            .map(|s| if s % 3 == 0 { -9.9e19 } else { 1e-300 })
            .collect();
        out.push((total, row));
        // closing all of it leaves nothing; a row of zeros
        let total: Vec<f64> = (0..50).map(|s| -100.0 * f64::from(s)).collect();
        out.push((total.clone(), total.clone()));
        out.push((total, vec![0.0; 50]));
        out
    }

    #[test]
    fn a_bounded_bisection_decides_every_step_as_pricing_it_in_full() {
        let all = Scan::all();
        // Oracle: every trial priced in full through the fee pipeline (the
        // plain `check_pairs`). The bounded search must give the same
        // answer at every step it is asked (so the same bisection), over
        // lot sizes, targets on the fee's steps and between them, and the
        // families above; and it must price fewer trials than it is asked.
        let schedule = FeeSchedule::default();
        let (mut asked, mut priced) = (0_usize, 0_usize);
        for (total, row) in families() {
            let checker = Checker::new(&schedule, total.len(), Decimal::ONE, None, Vec::new());
            for nlv in [Decimal::ZERO, Decimal::from(20_000)] {
                let exact =
                    |k: f64| checker.check_pairs(&all, &total, &row, nlv, |t, p| -(t - k * p));
                for hi in [1.0, 7.0, 100.0, 1000.0] {
                    let mut targets = Vec::new();
                    for n in [0.0, (hi / 3.0_f64).floor(), (hi / 2.0_f64).floor(), hi] {
                        if let Some((_, fee)) = exact(n / hi) {
                            targets.extend([
                                fee,
                                fee + Decimal::new(1, 2),
                                fee - Decimal::new(1, 2),
                            ]);
                        }
                    }
                    for target in targets {
                        let plain = |n: f64| exact(n / hi).is_some_and(|(_, fee)| fee <= target);
                        let start =
                            lanes::largest_loss_where(&all, &total, &total, &total, |t, _, _| -t);
                        let envelope = RefCell::new(start.and_then(|(raw, at, least)| {
                            Envelope::new(raw.abs().max(least.abs()), raw, at)
                                .filter(|_| raw != 0.0)
                        }));
                        let quote = |raw: f64| checker.check_losses(nlv, |l| l.push(raw));
                        let bounded = |n: f64| {
                            let k = n / hi;
                            let want = plain(n);
                            let decided = envelope.borrow_mut().as_mut().and_then(|e| {
                                let loss = |t: f64, p: f64, _: f64| -(t - k * p);
                                let zero = || {
                                    Some(lanes::largest_loss(&all, &total, &row, |t, p| {
                                        loss(t, p, p)
                                    }))
                                };
                                e.decide(&all, k, (&total, &row, &row), &quote, target, loss, zero)
                            });
                            let got = decided.map_or(want, |d| d.meets(target));
                            assert_eq!(got, want, "n {n} of {hi}, target {target}, nlv {nlv}");
                            (got, decided)
                        };
                        let log = RefCell::new(Vec::new());
                        let found = smallest_whole(hi, |n| {
                            let (got, decided) = bounded(n);
                            log.borrow_mut().push(decided);
                            got
                        });
                        assert_eq!(found, smallest_whole(hi, plain));
                        let log = log.into_inner();
                        asked += log.len();
                        priced += log
                            .iter()
                            .filter(|d| !matches!(d, Some(Decision::Bounded(_))))
                            .count();
                    }
                }
            }
        }
        assert!(asked > 1000, "{asked}");
        assert!(priced * 2 < asked, "priced {priced} of {asked}");
    }

    #[test]
    fn keeping_the_cheapest_skips_only_re_checks_that_change_nothing_in_turn_or_cheapest_first() {
        // Oracle: the loop as it was, every candidate re-checked (first,
        // then one lot more), the first that holds kept when strictly
        // cheaper. Costs include ties, NaN, ±inf and ±0; the verdicts are
        // arbitrary (not monotone), so no assumption of the search is used.
        // A candidate is [cost, holds (1) or not, holding, which one].
        let values = [
            0.0,
            -0.0,
            1.0,
            2.0,
            2.0,
            5.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let mut state = 11_u64;
        let mut below = |n: u64| {
            uniform(&mut state);
            ((state >> 40) & 0xFFFF) % n
        };
        let (mut checks, mut oracle_checks, mut ordered_checks) = (0_usize, 0_usize, 0_usize);
        for _ in 0..4000 {
            let n = 1 + below(8);
            let holdings: Vec<[Vec<f64>; 2]> = (0..n)
                .map(|i| {
                    let mut one = |j: u32, p: u64| {
                        let cost = values[usize::try_from(below(9)).unwrap()];
                        let holds = if below(10) < p { 1.0 } else { 0.0 };
                        vec![
                            cost,
                            holds,
                            f64::from(u32::try_from(i).unwrap()),
                            f64::from(j),
                        ]
                    };
                    [one(0, 6), one(1, 8)]
                })
                .collect();
            let mut want: Option<(Vec<f64>, f64)> = None;
            for pair in &holdings {
                let mut found = None;
                for c in pair {
                    oracle_checks += 1;
                    if c[1] == 1.0 {
                        found = Some((c.clone(), c[0]));
                        break;
                    }
                }
                if let Some((closed, cost)) = found
                    && want.as_ref().is_none_or(|(_, least)| cost < *least)
                {
                    want = Some((closed, cost));
                }
            }
            let mut got = None;
            let counted = std::cell::Cell::new(0_usize);
            for pair in &holdings {
                keep_cheapest(
                    &mut got,
                    pair.clone(),
                    |c| c[0],
                    |c| {
                        counted.set(counted.get() + 1);
                        c[1] == 1.0
                    },
                );
            }
            checks += counted.get();
            let bits = |x: &Option<(Vec<f64>, f64)>| {
                x.as_ref().map(|(c, k)| {
                    (
                        c.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        k.to_bits(),
                    )
                })
            };
            assert_eq!(bits(&got), bits(&want), "{holdings:?}");
            // The same trade, cheapest candidate first, each re-checked at
            // most once.
            let counted = std::cell::Cell::new(0_usize);
            let ordered = cheapest_that_holds(
                holdings.clone(),
                |c| c[0],
                |c| {
                    counted.set(counted.get() + 1);
                    c[1] == 1.0
                },
            );
            assert_eq!(bits(&ordered), bits(&want), "{holdings:?}");
            assert!(counted.get() <= 2 * holdings.len());
            ordered_checks += counted.get();
        }
        assert!(checks < oracle_checks, "{checks} of {oracle_checks}");
        assert!(
            ordered_checks < checks,
            "{ordered_checks} ordered, {checks} in turn"
        );
    }

    #[test]
    fn the_deposit_that_halves_the_fee_is_found_to_the_cent() {
        // The default schedule: 5% a year on the first 100,000, 365 days, a
        // 1.00 minimum, no threshold. 73,000 uncovered costs
        // 73,000 × 0.05 / 365 = 10.00 a day; the fee is at most 5.00 while
        // u × 0.05 / 365 rounds (half to even) to 5.00 or less: u ≤ 36,536.50
        // (exactly 5.005, rounded to 5.00). So the deposit is
        // 73,000 − 36,536.50 = 36,463.50; a cent less leaves 5.01.
        let schedule = FeeSchedule::default();
        let checker = Checker::new(&schedule, 1, Decimal::ONE, None, Vec::new());
        let uncovered = Decimal::from(73_000);
        assert_eq!(checker.fee_at(uncovered), Decimal::new(1000, 2));
        let half = Decimal::new(500, 2);
        assert_eq!(
            deposit_for(&checker, uncovered, half),
            Decimal::new(3_646_350, 2)
        );
        // a target below the minimum charge: only removing it all does it
        assert_eq!(
            deposit_for(&checker, uncovered, Decimal::new(50, 2)),
            uncovered
        );
    }

    #[test]
    fn the_adjustments_read_only_the_scenarios_that_decide_them() {
        // Oracle: the same searches reading every scenario (the account's
        // and the hedge's P&L said to move everywhere). The still scans
        // skip the single-stock scenarios of stocks neither holds, where
        // every vector they read holds one value: the adjustments must be
        // the same, figure for figure. Synthetic accounts of every kind
        // (stocks, options, futures, foreign positions), each given four
        // fifths of its risk measure as NLV so that most are uncovered.
        use crate::reporting::{ReportSource, currency_moves, dominant_factor, worst_scenarios};
        use exfee_engine::{EngineConfig, Outcome};

        let date = "2026-11-20".parse().unwrap();
        let batch = exfee_synth::synthesize(&exfee_synth::SynthConfig::new(120, 5, date));
        let scenarios = crate::ScenarioSource::default_set().with_draws(40).unwrap();
        let evaluation =
            crate::evaluate_batch(&batch, &scenarios, &EngineConfig::new(date)).unwrap();
        let source = ReportSource::of(&evaluation);
        let set = &evaluation.scenarios;
        let n = set.len();
        let schedule = FeeSchedule::default();
        let calendar = exfee_fee::TradingCalendar::default();
        let context = crate::FeeContext {
            schedule: &schedule,
            calendar: &calendar,
            date,
            scenarios: n,
        };
        let hedges = crate::adjust::default_hedges();
        let accounts: Vec<usize> = (0..batch.accounts.len()).collect();
        let details = accounts_pnl(&evaluation.prepared, set, &accounts).unwrap();
        // adjustments compared by kind (deposit, reduce, hedge); accounts
        // whose scans skip scenarios
        let (mut compared, mut skipping) = ([0_usize; 3], 0);
        for detail in &details {
            let result = &evaluation.results[detail.account];
            let Outcome::Evaluated(risk) = &result.outcome else {
                continue;
            };
            let base = result.base_currency.unwrap();
            let measured = crate::assess(context, risk, Decimal::ONE, None, None).unwrap();
            let mut risk = risk.clone();
            risk.nlv = cents(measured.measure * Decimal::new(8, 1));
            let fee = crate::assess(context, &risk, Decimal::ONE, None, None).unwrap();
            let total = detail.total();
            let worst = worst_scenarios(&total, 1).first().copied();
            let hedge = dominant_factor(detail, worst, set)
                .and_then(|f| hedge_unit(&source, &batch.market, &hedges, f, base));
            let mut currencies: Vec<Currency> =
                detail.holdings.iter().map(|h| h.info.currency).collect();
            currencies.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            currencies.dedup();
            let fx_moves = currency_moves(set, &currencies);
            let checker = Checker::new(&schedule, n, Decimal::ONE, None, Vec::new());
            let adjusted = |detail: &AccountPnl, hedge: Option<&HedgeUnit>| {
                let scan = Scan::still(&[&detail.moving], n);
                let account = Account {
                    detail,
                    total: &total,
                    nlv: risk.nlv,
                    fee: &fee,
                    checker: &checker,
                    base,
                    scan: &scan,
                };
                adjustments(&account, hedge, &fx_moves)
            };
            let got = adjusted(detail, hedge.as_ref());
            let mut everywhere = detail.clone();
            everywhere.moving = Moving::everywhere(n);
            let hedge_everywhere = hedge.clone().map(|mut h| {
                h.moving = Moving::everywhere(n);
                h
            });
            let want = adjusted(&everywhere, hedge_everywhere.as_ref());
            assert_eq!(got, want, "account {}", detail.account);
            for a in &got {
                compared[a.kind as usize] += 1;
            }
            if Scan::still(&[&detail.moving], n).reads(n) < n {
                skipping += 1;
            }
        }
        assert!(compared.iter().all(|&c| c >= 10), "{compared:?}");
        assert!(
            skipping * 10 >= details.len() * 9,
            "{skipping} of {}",
            details.len()
        );
    }
}
