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
use exfee_fee::{FeeSchedule, Measure as FeeMeasure, daily_fee, uncovered_loss};
use exfee_model::{Currency, Decimal};
use exfee_report::{
    AccountReport, Adjustment, AdjustmentKind, Contribution, ScenarioLine, TierLine,
};
use exfee_scenarios::{MoveBlock, ScenarioSet};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};

use crate::fees::cents;
use crate::{
    AccountPnl, EngineError, Evaluation, FeeContext, FeeLine, HoldingPnl, Outcome, accounts_pnl,
};

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

/// The account-level figures a re-check needs.
struct Checker<'a> {
    schedule: &'a FeeSchedule,
    scenarios: usize,
    usd_to_base: Decimal,
}

impl Checker<'_> {
    /// (measure, daily exposure fee) of a portfolio with scenario P&L `total`
    /// and net liquidation value `nlv`.
    fn check(&self, total: &[f64], nlv: Decimal) -> (Decimal, Decimal) {
        let losses: Vec<f64> = total.iter().map(|p| -p).collect();
        let measure = self
            .schedule
            .measure
            .apply(&losses, self.scenarios)
            .map_or(Decimal::ZERO, dec);
        // An amount too large to subtract leaves no fee to compare: the
        // largest fee, so no adjustment is suggested from it.
        let Ok(uncovered) = uncovered_loss(measure, nlv) else {
            return (measure, Decimal::MAX);
        };
        let fee = daily_fee(self.schedule, uncovered, self.usd_to_base)
            .map_or(Decimal::ZERO, |b| b.daily_fee);
        (measure, fee)
    }

    /// The exposure fee at an uncovered amount.
    fn fee_at(&self, uncovered: Decimal) -> Decimal {
        daily_fee(self.schedule, uncovered, self.usd_to_base).map_or(Decimal::ZERO, |b| b.daily_fee)
    }

    /// The adjust crate's form of the schedule's measure.
    fn measure(&self) -> adjust::Measure {
        match self.schedule.measure {
            FeeMeasure::Worst => adjust::Measure::Worst,
            _ => adjust::Measure::TailAverage {
                k: self.schedule.measure.scenarios_needed(self.scenarios),
            },
        }
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
) -> Result<Vec<AccountReport>, EngineError> {
    let set = &evaluation.scenarios;
    let mut reports = Vec::with_capacity(subjects.len());
    for chunk in subjects.chunks(CHUNK) {
        let indices: Vec<usize> = chunk.iter().map(|s| s.account).collect();
        let details = accounts_pnl(&evaluation.prepared, set, &indices)?;
        // The factors whose futures could hedge each account.
        let dominant: Vec<Option<usize>> =
            details.iter().map(|d| dominant_factor(d, set)).collect();
        let mut factors: Vec<usize> = dominant.iter().flatten().copied().collect();
        factors.sort_unstable();
        factors.dedup();
        let moves = crate::factor_moves(set, &factors);
        for ((subject, detail), dominant) in chunk.iter().zip(&details).zip(&dominant) {
            let hedge_unit = dominant.and_then(|f| {
                factors
                    .binary_search(&f)
                    .ok()
                    .map(|i| (f, moves[i].as_slice()))
            });
            if let Some(report) = report(evaluation, subject, detail, hedge_unit, context) {
                reports.push(report);
            }
        }
    }
    Ok(reports)
}

/// Scenario indices ordered worst first (lower index first on a tie).
fn worst_scenarios(total: &[f64], count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..total.len()).collect();
    order.sort_by(|&a, &b| total[a].total_cmp(&total[b]).then(a.cmp(&b)));
    order.truncate(count);
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
    hedge_unit: Option<(usize, &[f64])>,
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
        detail, &total, risk.nlv, fee, &checker, base, hedge_unit, set,
    );
    let measured_fee = fee.inventory_fee.map_or(fee.breakdown.daily_fee, |inv| {
        inv.max(fee.breakdown.daily_fee)
    });
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
        daily_fee: measured_fee,
        amount_charged: fee.amount_charged,
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
        fee_by_class: fee_by_class(detail, worst_index, fee.breakdown.daily_fee),
        adjustments,
        pnl_distribution: total,
        warnings: risk.warnings.clone(),
    })
}

/// The moves of what the account holds in scenario `s`: the factors its
/// holdings map to, the currencies it holds, the equity-volatility factor
/// when it holds options, and the own moves of its single stocks; zero moves
/// left out.
fn moves_that_matter(
    detail: &AccountPnl,
    set: &ScenarioSet,
    s: usize,
    base: Currency,
) -> Vec<(String, f64)> {
    let mut block = MoveBlock::default();
    set.fill(s..s + 1, &mut block);
    let mut moves: Vec<(String, f64)> = Vec::new();
    let mut push = |name: String, value: f64| {
        if value != 0.0 && !moves.iter().any(|(n, _)| *n == name) {
            moves.push((name, value));
        }
    };
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
/// class's loss in the worst scenario (classes that gain get none).
fn fee_by_class(detail: &AccountPnl, worst: usize, fee: Decimal) -> Vec<(String, Decimal)> {
    let mut classes: Vec<(String, f64)> = Vec::new();
    for holding in &detail.holdings {
        let pnl = holding.pnl(worst);
        match classes.iter_mut().find(|(c, _)| *c == holding.info.class) {
            Some((_, sum)) => *sum += pnl,
            None => classes.push((holding.info.class.clone(), pnl)),
        }
    }
    let losses: f64 = classes.iter().map(|(_, p)| (-p).max(0.0)).sum();
    if losses <= 0.0 {
        return Vec::new();
    }
    let mut out: Vec<(String, Decimal)> = classes
        .into_iter()
        .map(|(class, pnl)| {
            let share = Decimal::from_f64((-pnl).max(0.0) / losses).unwrap_or_default();
            (class, fee.checked_mul(share).map_or(Decimal::ZERO, cents))
        })
        .filter(|(_, fee)| !fee.is_zero())
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
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
    hedge_unit: Option<(usize, &[f64])>,
    set: &ScenarioSet,
) -> Vec<Adjustment> {
    let current = fee.breakdown.daily_fee;
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
        let (measure_after, fee_after) = checker.check(total, nlv_after);
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
    let pnl: Vec<Vec<f64>> = detail
        .holdings
        .iter()
        .map(|h| h.unit_pnl.iter().map(|u| h.quantity * u).collect())
        .collect();
    let costs: Vec<f64> = detail
        .holdings
        .iter()
        .map(|h| (h.quantity * h.info.unit_exposure).abs())
        .collect();
    let lots: Vec<f64> = detail
        .holdings
        .iter()
        .map(|h| {
            if h.quantity == 0.0 {
                1.0
            } else {
                (1.0_f64 / h.quantity.abs()).min(1.0)
            }
        })
        .collect();
    let nlv_f = nlv.to_f64().unwrap_or(0.0);
    for (allowed, what) in [
        (threshold, "removes"),
        (fee.uncovered.saturating_sub(halve), "halves"),
    ] {
        // A cent of margin: the re-check rounds the measure to cents.
        let limit = nlv_f + allowed.to_f64().unwrap_or(0.0) - 0.01;
        let problem =
            adjust::ReductionProblem::new(&pnl, &costs, limit, checker.measure()).with_lots(&lots);
        let Ok(reduction) = adjust::reduce_positions(&problem) else {
            continue;
        };
        let mut trades = Vec::new();
        let mut adjusted = vec![0.0; total.len()];
        for (holding, &fraction) in detail.holdings.iter().zip(&reduction.fractions) {
            let closed = (holding.quantity * fraction).round();
            let closed = if holding.info.class == "FX" {
                (holding.quantity * fraction * 100.0).round() / 100.0
            } else {
                closed
            };
            let kept = holding.quantity - closed;
            for (a, &u) in adjusted.iter_mut().zip(&holding.unit_pnl) {
                *a += kept * u;
            }
            if closed != 0.0 {
                trades.push((
                    holding.info.label.clone(),
                    Decimal::from_f64(-closed).unwrap_or_default(),
                ));
            }
        }
        if trades.is_empty() {
            continue;
        }
        // Closing at the marks keeps the NLV.
        let (measure_after, fee_after) = checker.check(&adjusted, nlv);
        if fee_after < current {
            out.push(Adjustment {
                title: format!("Reduce {} position(s) ({what} the fee)", trades.len()),
                kind: AdjustmentKind::Reduce,
                trades,
                deposit: None,
                method: match reduction.method {
                    adjust::Method::LinearProgram => "linear program".to_string(),
                    adjust::Method::Greedy => "greedy (largest contributor first)".to_string(),
                },
                fee_after,
                measure_after,
            });
        }
    }

    // A hedge with the dominant factor's future (notional in base currency).
    if let Some((factor, unit)) = hedge_unit {
        let name = &set.factor_table().factors()[factor];
        let limit = nlv_f + threshold.to_f64().unwrap_or(0.0) - 0.01;
        if let Ok(Some(hedge)) = adjust::hedge(total, unit, limit, checker.measure()) {
            let notional = hedge.whole_units.unwrap_or(hedge.units.round());
            let hedged: Vec<f64> = total
                .iter()
                .zip(unit)
                .map(|(t, u)| t + notional * u)
                .collect();
            let (measure_after, fee_after) = checker.check(&hedged, nlv);
            if fee_after < current && notional != 0.0 {
                let label = format!("{} future ({}), notional in {base}", name.symbol, name.name);
                out.push(Adjustment {
                    title: format!(
                        "{} {} {base} notional of {} futures ({})",
                        if notional < 0.0 { "Sell" } else { "Buy" },
                        group(Decimal::from_f64(notional.abs()).unwrap_or_default()),
                        name.symbol,
                        name.name
                    ),
                    kind: AdjustmentKind::Hedge,
                    trades: vec![(label, Decimal::from_f64(notional).unwrap_or_default())],
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
