//! The Exposure Fee Calculation report of each account subject to the fee,
//! with hypothetical adjustments that are re-checked on the whole scenario
//! set before they are shown.
//!
//! Every re-check revalues the adjusted portfolio in every scenario from the
//! engine's per-unit valuation of each holding (P&L is linear in quantity, so
//! these are the sums a full re-run of the engine makes, in the same order),
//! then applies the schedule's measure and fee. A suggestion that does not
//! lower the fee is dropped.

use exfee_adjust as adjust;
use exfee_fee::{FeeSchedule, Measure as FeeMeasure, Portfolio, quote};
use std::collections::HashMap;

use exfee_model::{AccountInput, Batch, Currency, Decimal, MarketData, Position};
use exfee_report::{
    AccountReport, Adjustment, AdjustmentKind, Contribution, ScenarioLine, TierLine,
};
use exfee_scenarios::{MoveBlock, ScenarioSet};
use rayon::prelude::*;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};

use crate::fees::cents;
use exfee_engine::{AccountPnl, EngineError, HoldingPnl, accounts_pnl};

use crate::adjust::{HedgeInstrument, LotTable, default_hedges};
use crate::{Evaluation, FeeContext, FeeLine, Outcome};

/// An account to report on: its index in the batch and tonight's fee.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Index of the account in the batch (and in the results).
    pub account: usize,
    /// Tonight's fee.
    pub fee: FeeLine,
    /// Units of the base currency per USD.
    pub usd_to_base: Decimal,
}

/// How many accounts' per-holding P&L are held in memory at once.
const CHUNK: usize = 32;
/// How many worst scenarios a report lists.
const WORST: usize = 5;

fn dec(value: f64) -> Decimal {
    cents(Decimal::from_f64(value).unwrap_or_default())
}

/// The account-level figures a re-check needs: every re-check goes through
/// the fee pipeline ([`exfee_fee::quote`]), greater-of included.
struct Checker<'a> {
    schedule: &'a FeeSchedule,
    scenarios: usize,
    usd_to_base: Decimal,
    inventory_fee: Option<Decimal>,
}

impl Checker<'_> {
    /// (measure, daily fee actually paid) of a portfolio with scenario P&L
    /// `total` and net liquidation value `nlv`; `None` when it cannot be
    /// computed (then no suggestion is made from it).
    fn check(&self, total: &[f64], nlv: Decimal) -> Option<(Decimal, Decimal)> {
        let losses: Vec<f64> = total.iter().map(|p| -p).collect();
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
}

/// The measure's name as a report shows it.
pub fn measure_name(measure: &FeeMeasure, scenarios: usize) -> String {
    match measure {
        FeeMeasure::Worst => "worst scenario loss".to_string(),
        FeeMeasure::TailAverage { k } => format!("average loss of the worst {k} scenarios"),
        FeeMeasure::ExpectedShortfall { level } => format!(
            "expected shortfall at {level} (average of the worst {} scenarios)",
            measure.scenarios_needed(scenarios)
        ),
    }
}

/// Builds the report of every subject account.
///
/// # Errors
///
/// [`EngineError`] when the per-holding revaluation fails (a scenario set
/// that does not fit the batch).
pub fn build_reports(
    evaluation: &Evaluation,
    subjects: &[Subject],
    context: FeeContext<'_>,
    market: &MarketData,
) -> Result<Vec<AccountReport>, EngineError> {
    let set = &evaluation.scenarios;
    let hedges = default_hedges();
    // A listed hedge per (factor, base currency), valued once.
    let mut units: HashMap<(usize, Currency), Option<HedgeUnit>> = HashMap::new();
    let mut reports = Vec::with_capacity(subjects.len());
    for chunk in subjects.chunks(CHUNK) {
        let indices: Vec<usize> = chunk.iter().map(|s| s.account).collect();
        let details = accounts_pnl(&evaluation.prepared, set, &indices)?;
        // Every currency the chunk's foreign positions are quoted in, moved
        // in one pass over the set (closing them leaves proceeds there).
        let mut currencies: Vec<Currency> = details
            .iter()
            .flat_map(|d| d.holdings.iter())
            .filter(|h| h.info.class != "FX" && h.info.unit_value != 0.0)
            .map(|h| h.info.currency)
            .collect();
        currencies.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        currencies.dedup();
        let fx_moves = currency_moves(set, &currencies);
        // The hedges first (valued once per factor and base, in order), then
        // the chunk's reports rendered in parallel, kept in subject order.
        let chunk_hedges: Vec<Option<HedgeUnit>> = chunk
            .iter()
            .zip(&details)
            .map(|(subject, detail)| {
                let base = evaluation
                    .results
                    .get(subject.account)
                    .and_then(|r| r.base_currency)
                    .unwrap_or(Currency::USD);
                dominant_factor(detail, set).and_then(|f| {
                    units
                        .entry((f, base))
                        .or_insert_with(|| hedge_unit(evaluation, market, &hedges, f, base))
                        .clone()
                })
            })
            .collect();
        let rendered: Vec<Option<AccountReport>> = chunk
            .par_iter()
            .zip(details.par_iter())
            .zip(chunk_hedges.par_iter())
            .map(|((subject, detail), hedge)| {
                report(
                    evaluation,
                    subject,
                    detail,
                    hedge.as_ref(),
                    &fx_moves,
                    context,
                )
            })
            .collect();
        reports.extend(rendered.into_iter().flatten());
    }
    Ok(reports)
}

/// A listed hedge instrument valued by the engine: the P&L of one contract
/// (or share), in base currency, in every scenario of the set.
#[derive(Debug, Clone)]
struct HedgeUnit {
    instrument: HedgeInstrument,
    /// `SYMBOL (FUT CCY)`, as the engine labels a holding.
    label: String,
    unit: Vec<f64>,
}

/// The first instrument of the hedge table for factor `factor` that has a
/// price and that the engine maps to that factor with no move of its own,
/// valued per unit under the run's scenarios exactly as a position in an
/// account of base currency `base` would be.
fn hedge_unit(
    evaluation: &Evaluation,
    market: &MarketData,
    hedges: &[HedgeInstrument],
    factor: usize,
    base: Currency,
) -> Option<HedgeUnit> {
    let set = &evaluation.scenarios;
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
        });
    }
    None
}

/// Scenario indices ordered worst first (lower index first on a tie).
pub(crate) fn worst_scenarios(total: &[f64], count: usize) -> Vec<usize> {
    // A total order (ties broken by index), so selecting the `count` first
    // and sorting only them gives exactly the head of the full sort, in
    // linear time rather than sorting every scenario.
    let order_of = |a: &usize, b: &usize| total[*a].total_cmp(&total[*b]).then(a.cmp(b));
    let mut order: Vec<usize> = (0..total.len()).collect();
    if count == 0 {
        return Vec::new();
    }
    if count < order.len() {
        order.select_nth_unstable_by(count - 1, order_of);
        order.truncate(count);
    }
    order.sort_unstable_by(order_of);
    order
}

/// The primary factor whose holdings lose most in the account's worst
/// scenario, if any (cash, whose class is FX, is not hedged with a future).
fn dominant_factor(detail: &AccountPnl, set: &ScenarioSet) -> Option<usize> {
    let total = detail.total();
    let worst = *worst_scenarios(&total, 1).first()?;
    let mut by_class: Vec<(&str, f64)> = Vec::new();
    for holding in &detail.holdings {
        let pnl = holding.pnl(worst);
        match by_class.iter_mut().find(|(c, _)| *c == holding.info.class) {
            Some((_, sum)) => *sum += pnl,
            None => by_class.push((&holding.info.class, pnl)),
        }
    }
    by_class
        .into_iter()
        .filter(|(class, pnl)| *class != "FX" && *pnl < 0.0)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .and_then(|(class, _)| set.factor_table().index_of_name(class))
}

fn position_label(holding: &HoldingPnl) -> String {
    format!(
        "{} {}",
        format_quantity(holding.quantity),
        holding.info.label
    )
}

fn format_quantity(quantity: f64) -> String {
    Decimal::from_f64(quantity).map_or_else(
        || quantity.to_string(),
        |q| q.round_dp(4).normalize().to_string(),
    )
}

/// The report of one subject account, or `None` if it was not evaluated.
fn report(
    evaluation: &Evaluation,
    subject: &Subject,
    detail: &AccountPnl,
    hedge: Option<&HedgeUnit>,
    fx_moves: &HashMap<Currency, Vec<f64>>,
    context: FeeContext<'_>,
) -> Option<AccountReport> {
    let result = evaluation.results.get(subject.account)?;
    let Outcome::Evaluated(risk) = &result.outcome else {
        return None;
    };
    let set = &evaluation.scenarios;
    let base = result.base_currency.unwrap_or(Currency::USD);
    let fee = &subject.fee;
    let checker = Checker {
        schedule: context.schedule,
        scenarios: set.len(),
        usd_to_base: subject.usd_to_base,
        inventory_fee: subject.fee.inventory_fee,
    };
    let total = detail.total();
    let worst = worst_scenarios(&total, WORST);
    let worst_index = worst.first().copied().unwrap_or(0);

    let mut contributors: Vec<Contribution> = detail
        .holdings
        .iter()
        .map(|h| Contribution {
            position: position_label(h),
            scenario_index: worst_index,
            pnl: dec(h.pnl(worst_index)),
        })
        .collect();
    contributors.sort_by_key(|c| c.pnl);

    let adjustments = adjustments(
        detail, &total, risk.nlv, fee, &checker, base, hedge, fx_moves,
    );
    Some(AccountReport {
        account: result.account.clone(),
        base_currency: base.to_string(),
        valuation_date: context.date,
        nlv: risk.nlv,
        measure_name: measure_name(&context.schedule.measure, set.len()),
        measure: fee.measure,
        threshold: fee.breakdown.threshold,
        uncovered: fee.uncovered,
        fee_status: fee.status.name().to_string(),
        effective_date: fee.effective_date,
        days_charged: fee.days_charged,
        daily_fee: fee.fee_paid,
        amount_charged: fee.amount_posted,
        fee_tiers: fee
            .breakdown
            .slices
            .iter()
            .map(|s| TierLine {
                from: s.from,
                to: s.to,
                rate: s.annual_rate,
                amount: s.amount,
                daily: s.daily_amount,
            })
            .collect(),
        day_count: Some(u32::from(fee.breakdown.day_count.days())),
        minimum_daily: Some(fee.breakdown.minimum),
        minimum_applied: fee.breakdown.minimum_applied,
        inventory_fee: fee.inventory_fee,
        worst_scenarios: worst
            .iter()
            .map(|&s| ScenarioLine {
                index: s,
                name: set.name(s).map(str::to_string),
                pnl: dec(total[s]),
                moves: moves_that_matter(detail, set, s, base),
            })
            .collect(),
        contributors,
        fee_by_class: fee_by_class(detail, worst_index, fee.fee_paid),
        adjustments,
        pnl_distribution: total,
        warnings: risk.warnings.clone(),
    })
}

/// The moves of what the account holds in scenario `s`: each position's
/// total move (`SYMBOL total`), the factors its holdings map to, the currencies it holds, the equity-volatility factor
/// when it holds options, and the own moves of its single stocks; zero moves
/// left out.
fn moves_that_matter(
    detail: &AccountPnl,
    set: &ScenarioSet,
    s: usize,
    base: Currency,
) -> Vec<(String, f64)> {
    // Only the own moves of the account's single stocks are drawn.
    let stocks: Vec<usize> = detail
        .holdings
        .iter()
        .filter(|h| h.info.single_stock)
        .filter_map(|h| set.stock_index(&h.info.driver_symbol))
        .collect();
    let mut block = MoveBlock::default();
    set.fill_selected(s..s + 1, &mut block, &stocks);
    let mut moves: Vec<(String, f64)> = Vec::new();
    let mut push = |name: String, value: f64| {
        if value != 0.0 && !moves.iter().any(|(n, _)| *n == name) {
            moves.push((name, value));
        }
    };
    // Each position's total move first (β × its factor's move + its own
    // move, within the bounds): the price move, in its own currency, that
    // the scenario applies to it (options: their underlying's, when the
    // account also holds it).
    for holding in &detail.holdings {
        let info = &holding.info;
        if info.class == "FX" || info.option || info.unit_exposure == 0.0 {
            continue;
        }
        let fx = set
            .fx_table()
            .index_of(info.currency)
            .filter(|_| info.currency != base)
            .map_or(0.0, |c| block.currency(c)[0]);
        let ratio = holding.unit_pnl[s] / info.unit_exposure;
        let price_move = if crate::lots::asset_code(info) == "FUT" {
            ratio / (1.0 + fx)
        } else {
            (1.0 + ratio) / (1.0 + fx) - 1.0
        };
        // Rounded to a basis point of a basis point: float noise is not a move.
        push(
            format!("{} total", info.symbol),
            (price_move * 1e8).round() / 1e8,
        );
    }
    let table = set.factor_table();
    for holding in &detail.holdings {
        if let Some(f) = table.index_of_name(&holding.info.class) {
            push(holding.info.class.clone(), block.factor(f)[0]);
        }
    }
    for holding in &detail.holdings {
        if holding.info.currency != base
            && let Some(c) = set.fx_table().index_of(holding.info.currency)
        {
            push(holding.info.currency.to_string(), block.currency(c)[0]);
        }
    }
    if detail.holdings.iter().any(|h| h.info.option) {
        push(set.equity_vol_name().to_string(), block.vol()[0]);
    }
    for holding in &detail.holdings {
        if holding.info.single_stock
            && let Some(k) = set.stock_index(&holding.info.driver_symbol)
        {
            push(
                format!("{} (own)", holding.info.driver_symbol),
                block.stock(k)[0],
            );
        }
    }
    moves
}

/// The daily fee split over product classifications in proportion to each
/// class's loss in the worst scenario (classes that gain get none), in
/// cents that add up to the fee exactly (largest remainders get the cents
/// left over by rounding down; a tie goes to the class listed first).
pub(crate) fn fee_by_class(
    detail: &AccountPnl,
    worst: usize,
    fee: Decimal,
) -> Vec<(String, Decimal)> {
    let mut classes: Vec<(String, f64)> = Vec::new();
    for holding in &detail.holdings {
        let pnl = holding.pnl(worst);
        match classes.iter_mut().find(|(c, _)| *c == holding.info.class) {
            Some((_, sum)) => *sum += pnl,
            None => classes.push((holding.info.class.clone(), pnl)),
        }
    }
    let losses: f64 = classes.iter().map(|(_, p)| (-p).max(0.0)).sum();
    if losses <= 0.0 || !losses.is_finite() || fee <= Decimal::ZERO {
        return Vec::new();
    }
    let cent = Decimal::new(1, 2);
    let mut parts: Vec<(String, Decimal, Decimal)> = classes
        .into_iter()
        .map(|(class, pnl)| {
            let share = Decimal::from_f64((-pnl).max(0.0) / losses).unwrap_or_default();
            let exact = fee.checked_mul(share).unwrap_or(Decimal::ZERO);
            let floor = exact
                .checked_div(cent)
                .and_then(|units| units.floor().checked_mul(cent))
                .unwrap_or(Decimal::ZERO);
            (class, floor, exact.saturating_sub(floor))
        })
        .collect();
    let allotted = parts
        .iter()
        .fold(Decimal::ZERO, |sum, p| sum.saturating_add(p.1));
    let mut left = fee
        .saturating_sub(allotted)
        .checked_div(cent)
        .map_or(Decimal::ZERO, |c| c.round());
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|&a, &b| parts[b].2.cmp(&parts[a].2).then(a.cmp(&b)));
    for i in order {
        if left <= Decimal::ZERO {
            break;
        }
        if parts[i].2 > Decimal::ZERO || parts[i].1 > Decimal::ZERO {
            parts[i].1 = parts[i].1.saturating_add(cent);
            left = left.saturating_sub(Decimal::ONE);
        }
    }
    let mut out: Vec<(String, Decimal)> = parts
        .into_iter()
        .map(|(class, amount, _)| (class, cents(amount)))
        .filter(|(_, fee)| !fee.is_zero())
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// `fees_by_class.csv`: the per-class split of the daily fee (the fee the
/// account pays a day at tonight's measurement, grace nights included) of
/// every subject account, rows `account, currency, class, daily_fee`.
///
/// # Errors
///
/// [`EngineError`] when the per-holding revaluation fails.
pub fn fees_by_class_rows(
    evaluation: &Evaluation,
    subjects: &[Subject],
) -> Result<Vec<Vec<String>>, EngineError> {
    let set = &evaluation.scenarios;
    let mut rows = Vec::new();
    for chunk in subjects.chunks(CHUNK) {
        let indices: Vec<usize> = chunk.iter().map(|s| s.account).collect();
        let details = accounts_pnl(&evaluation.prepared, set, &indices)?;
        for (subject, detail) in chunk.iter().zip(&details) {
            let Some(result) = evaluation.results.get(subject.account) else {
                continue;
            };
            let total = detail.total();
            let Some(&worst) = worst_scenarios(&total, 1).first() else {
                continue;
            };
            let base = result
                .base_currency
                .map(|c| c.to_string())
                .unwrap_or_default();
            for (class, fee) in fee_by_class(detail, worst, subject.fee.fee_paid) {
                rows.push(vec![
                    result.account.clone(),
                    base.clone(),
                    class,
                    fee.to_string(),
                ]);
            }
        }
    }
    Ok(rows)
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

#[allow(clippy::too_many_arguments)]
fn adjustments(
    detail: &AccountPnl,
    total: &[f64],
    nlv: Decimal,
    fee: &FeeLine,
    checker: &Checker<'_>,
    base: Currency,
    hedge: Option<&HedgeUnit>,
    fx_moves: &HashMap<Currency, Vec<f64>>,
) -> Vec<Adjustment> {
    let current = fee.fee_paid;
    if current.is_zero() {
        return Vec::new();
    }
    let threshold = fee.breakdown.threshold;
    let half = cents(current.checked_div(Decimal::TWO).unwrap_or(current));
    let mut out = Vec::new();

    // Deposits: the measure does not move, the NLV does.
    // Both at least 0: the difference is exact.
    let remove = fee.uncovered.saturating_sub(threshold).max(Decimal::ZERO);
    let halve = deposit_for(checker, fee.uncovered, half);
    for (deposit, what) in [(remove, "removes"), (halve, "halves")] {
        let Some(nlv_after) = nlv.checked_add(deposit) else {
            continue;
        };
        let Some((measure_after, fee_after)) = checker.check(total, nlv_after) else {
            continue;
        };
        if deposit > Decimal::ZERO
            && fee_after < current
            && !out.iter().any(|a: &Adjustment| a.deposit == Some(deposit))
        {
            out.push(Adjustment {
                title: format!(
                    "Deposit {} {base} ({what} the fee)",
                    crate::reporting::group(deposit)
                ),
                kind: AdjustmentKind::Deposit,
                trades: Vec::new(),
                deposit: Some(deposit),
                method: "exact".to_string(),
                fee_after,
                measure_after,
            });
        }
    }

    // Position reductions: the measure must come down to NLV + the uncovered
    // amount that leaves the target fee.
    // Closing a position quoted in a foreign currency leaves its proceeds
    // in that currency (as the trade does): per unit closed, the proceeds
    // move by `unit value × the currency's move` in each scenario.
    let proceeds: Vec<Option<Vec<f64>>> = detail
        .holdings
        .iter()
        .map(|h| {
            (h.info.class != "FX" && h.info.currency != base && h.info.unit_value != 0.0)
                .then(|| fx_moves.get(&h.info.currency))
                .flatten()
                .map(|fx| fx.iter().map(|m| h.info.unit_value * m).collect())
        })
        .collect();
    // The P&L each whole position takes away when closed (its proceeds
    // stay), for the linear program.
    let pnl: Vec<Vec<f64>> = detail
        .holdings
        .iter()
        .zip(&proceeds)
        .map(|(h, kept)| match kept {
            None => h.unit_pnl.iter().map(|u| h.quantity * u).collect(),
            Some(kept) => h
                .unit_pnl
                .iter()
                .zip(kept)
                .map(|(u, k)| h.quantity * (u - k))
                .collect(),
        })
        .collect();
    let costs: Vec<f64> = detail
        .holdings
        .iter()
        .map(|h| (h.quantity * h.info.unit_exposure).abs())
        .collect();
    // Trading units: whole lots of each holding (scenarios/lots.csv).
    let table = LotTable::default();
    let unit_lots: Vec<f64> = detail.holdings.iter().map(|h| table.lot(&h.info)).collect();
    let lots: Vec<f64> = detail
        .holdings
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
    let nlv_f = nlv.to_f64().unwrap_or(0.0);
    // The fee each reduction aims at: removing the exposure fee leaves what
    // the account pays at the threshold (its inventory fee, if any).
    let removed_fee = checker.fee_at(threshold);
    // The revalued portfolio after closing `closed[i]` units of each holding.
    let adjusted_pnl = |closed: &[f64]| -> Vec<f64> {
        let mut adjusted = vec![0.0; total.len()];
        for (holding, &c) in detail.holdings.iter().zip(closed) {
            let kept = holding.quantity - c;
            for (a, &u) in adjusted.iter_mut().zip(&holding.unit_pnl) {
                *a += kept * u;
            }
        }
        for (p, &c) in proceeds.iter().zip(closed) {
            if let Some(p) = p
                && c != 0.0
            {
                for (a, &m) in adjusted.iter_mut().zip(p) {
                    *a += c * m;
                }
            }
        }
        adjusted
    };
    // Units closing `lots` whole lots of holding i (or all of it), signed.
    let units = |i: usize, lots: f64| -> f64 {
        let holding = &detail.holdings[i];
        let size = (lots * unit_lots[i]).min(holding.quantity.abs());
        crate::lots::clean(size) * holding.quantity.signum()
    };
    let lots_in = |i: usize| (detail.holdings[i].quantity.abs() / unit_lots[i]).ceil();
    let traded_value = |closed: &[f64]| -> f64 {
        detail
            .holdings
            .iter()
            .zip(closed)
            .map(|(h, c)| (c * h.info.unit_exposure).abs())
            .sum()
    };
    let mut removes: Option<(Vec<(String, Decimal)>, f64)> = None;
    for (allowed, what, target) in [
        (threshold, "removes", removed_fee),
        (fee.uncovered.saturating_sub(halve), "halves", half),
    ] {
        let holds = |closed: &[f64]| {
            checker
                .check(&adjusted_pnl(closed), nlv)
                .filter(|&(_, fee_after)| fee_after <= target)
        };
        // The single trade that does it, if one does: the smallest number of
        // lots of one holding (bisection), the cheapest such holding.
        let mut single: Option<(Vec<f64>, f64)> = None;
        for i in 0..detail.holdings.len() {
            if detail.holdings[i].quantity == 0.0 {
                continue;
            }
            // The search prices `total − c × (what closing one unit takes
            // away)`, O(scenarios) a step; the result is re-checked below in
            // the engine's summing order.
            let quantity = detail.holdings[i].quantity;
            let one_position = |c: f64| -> bool {
                let trial: Vec<f64> = total
                    .iter()
                    .zip(&pnl[i])
                    .map(|(t, p)| t - c / quantity * p)
                    .collect();
                checker
                    .check(&trial, nlv)
                    .is_some_and(|(_, fee_after)| fee_after <= target)
            };
            let hi = lots_in(i);
            if !one_position(units(i, hi)) {
                continue;
            }
            let best = smallest_whole(hi, |k| one_position(units(i, k)));
            let mut closed = vec![0.0; detail.holdings.len()];
            closed[i] = units(i, best);
            // The exact re-check; one lot more if float order tipped it.
            if holds(&closed).is_none() {
                closed[i] = units(i, (best + 1.0).min(hi));
                if holds(&closed).is_none() {
                    continue;
                }
            }
            let cost = traded_value(&closed);
            if single.as_ref().is_none_or(|(_, c)| cost < *c) {
                single = Some((closed, cost));
            }
        }
        let (closed, method) = match single {
            Some((closed, _)) => (closed, "exact (one position)".to_string()),
            None => {
                // A basket: the linear program, rounded up to whole lots,
                // then each closing stepped back a lot at a time while the
                // re-checked fee still meets the target.
                // A cent of margin: the re-check rounds the measure to cents.
                let limit = nlv_f + allowed.to_f64().unwrap_or(0.0) - 0.01;
                let problem = adjust::ReductionProblem::new(&pnl, &costs, limit, checker.measure())
                    .with_lots(&lots);
                let Ok(reduction) = adjust::reduce_positions(&problem) else {
                    continue;
                };
                let mut closed: Vec<f64> = (0..detail.holdings.len())
                    .map(|i| {
                        let wanted = (detail.holdings[i].quantity * reduction.fractions[i]).abs();
                        units(i, crate::lots::clean(wanted / unit_lots[i]).ceil())
                    })
                    .collect();
                if holds(&closed).is_some() {
                    for i in 0..closed.len() {
                        let count = (closed[i].abs() / unit_lots[i]).ceil();
                        let best = smallest_whole(count, |k| {
                            let mut trial = closed.clone();
                            trial[i] = units(i, k);
                            holds(&trial).is_some()
                        });
                        closed[i] = units(i, best);
                    }
                }
                let method = match reduction.method {
                    adjust::Method::LinearProgram => "linear program".to_string(),
                    adjust::Method::Greedy => "greedy (largest contributor first)".to_string(),
                };
                (closed, method)
            }
        };
        let trades: Vec<(String, Decimal)> = detail
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
        let traded = traded_value(&closed);
        // "Halves" only when it is a different, smaller trade than "removes".
        if what == "halves"
            && removes
                .as_ref()
                .is_some_and(|(r, cost)| *r == trades || traded >= *cost)
        {
            continue;
        }
        // Closing at the marks keeps the NLV.
        let Some((measure_after, fee_after)) = checker.check(&adjusted_pnl(&closed), nlv) else {
            continue;
        };
        if fee_after < current {
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

    // A hedge in whole contracts (or shares) of a listed instrument on the
    // dominant factor (scenarios/hedge-instruments.csv): the fewest that
    // remove the fee.
    if let Some(hedge) = hedge {
        let unit = &hedge.unit;
        let hedged =
            |n: f64| -> Vec<f64> { total.iter().zip(unit).map(|(t, u)| t + n * u).collect() };
        let holds = |n: f64| {
            checker
                .check(&hedged(n), nlv)
                .filter(|&(_, fee_after)| fee_after <= removed_fee)
        };
        let limit = nlv_f + threshold.to_f64().unwrap_or(0.0) - 0.01;
        if let Ok(Some(found)) = adjust::hedge(total, unit, limit, checker.measure()) {
            let mut n = found.whole_units.unwrap_or(found.units.round());
            if holds(n).is_some() {
                let sign = n.signum();
                n = sign * smallest_whole(n.abs(), |m| holds(sign * m).is_some());
            }
            if n != 0.0
                && let Some((measure_after, fee_after)) = checker.check(&hedged(n), nlv)
                && fee_after < current
            {
                let count = Decimal::from_f64(n.abs()).unwrap_or_default().normalize();
                let what = if hedge.instrument.future {
                    format!("{} contract(s)", hedge.instrument.symbol)
                } else {
                    format!("{} share(s)", hedge.instrument.symbol)
                };
                out.push(Adjustment {
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
                });
            }
        }
    }
    out
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

/// The moves of `currencies` in every scenario (the move of a leg quoted in
/// that currency, whatever the account's base), in one pass over the set;
/// a currency the FX table does not move is left out.
fn currency_moves(set: &ScenarioSet, currencies: &[Currency]) -> HashMap<Currency, Vec<f64>> {
    let columns: Vec<(Currency, usize)> = currencies
        .iter()
        .filter_map(|&c| set.fx_table().index_of(c).map(|i| (c, i)))
        .collect();
    let n = set.len();
    let mut out: HashMap<Currency, Vec<f64>> = columns
        .iter()
        .map(|&(c, _)| (c, Vec::with_capacity(n)))
        .collect();
    if columns.is_empty() {
        return out;
    }
    let mut block = MoveBlock::default();
    let mut start = 0;
    while start < n {
        let end = (start + 4096).min(n);
        // Currencies only: no stock's own move is drawn.
        set.fill_selected(start..end, &mut block, &[]);
        for &(c, i) in &columns {
            if let Some(column) = out.get_mut(&c) {
                column.extend_from_slice(block.currency(i));
            }
        }
        start = end;
    }
    out
}

/// `1234567.8` → `1,234,567.80`.
pub(crate) fn group(value: Decimal) -> String {
    let value = cents(value);
    let text = value.abs().to_string();
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!(
        "{}{grouped}.{frac}",
        if value.is_sign_negative() && !value.is_zero() {
            "-"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::worst_scenarios;

    #[test]
    fn worst_scenarios_are_the_head_of_the_full_order() {
        // Ties (broken by the lower index), signed zeros, NaN and infinities:
        // the oracle is the plain sort of every scenario.
        let mut total: Vec<f64> = (0..500)
            .map(|i: i32| f64::from(i * 7919 % 101) - 50.0)
            .collect();
        total.extend([0.0, -0.0, f64::NAN, f64::NEG_INFINITY, f64::INFINITY, -50.0]);
        let mut full: Vec<usize> = (0..total.len()).collect();
        full.sort_by(|&a, &b| total[a].total_cmp(&total[b]).then(a.cmp(&b)));
        for count in [0, 1, 2, 5, 17, 505, 506, 507, 600] {
            let want: Vec<usize> = full.iter().copied().take(count).collect();
            assert_eq!(worst_scenarios(&total, count), want, "count {count}");
        }
        assert_eq!(worst_scenarios(&[], 3), Vec::<usize>::new());
        // The worst of a small vector by hand: -3 at index 1 before -3 at 3.
        assert_eq!(worst_scenarios(&[1.0, -3.0, 2.0, -3.0], 2), vec![1, 3]);
    }
}
