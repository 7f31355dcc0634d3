//! The Exposure Fee Calculation report of each account subject to the fee,
//! with hypothetical adjustments that are re-checked on the whole scenario
//! set before they are shown.
//!
//! A report is filled in two parts (see `exfee_report::AccountReport`): the
//! engine's (worst scenarios and their moves, contributors, the P&L
//! distribution), then the fee's ([`set_fee`] from tonight's fee line, the
//! per-class split, and the adjustments of `adjustments.rs`).

mod adjustments;
// The worst-loss loops built for AVX2 and AVX-512 (`#[target_feature]`
// calls, after checking the CPU): the only `unsafe` code of the crate.
#[allow(unsafe_code)]
mod lanes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use exfee_fee::Measure as FeeMeasure;
use exfee_model::{Currency, Decimal, MarketData};
use exfee_report::{AccountReport, Contribution, ScenarioLine, TierLine};
use exfee_scenarios::{MoveBlock, ScenarioSet};
use rayon::prelude::*;
use rust_decimal::prelude::FromPrimitive;

use crate::fees::cents;
use exfee_engine::{AccountPnl, EngineError, HoldingPnl, Moving, PnlChunks, accounts_worst};

use crate::adjust::{HedgeInstrument, default_hedges};
use crate::{AccountResult, Evaluation, FeeContext, FeeLine, Outcome};
use adjustments::{Account, Checker, HedgeUnit, adjustments, hedge_unit};
use exfee_engine::Prepared;
use lanes::{Scan, order_key};

/// What reports are built from: a prepared batch, the scenario set it was
/// evaluated under and each of its accounts' result (by index in the batch).
/// [`ReportSource::of`] an [`Evaluation`]; the nightly charge also builds it
/// over the night's own evaluation, kept from [`crate::night::evaluate`].
#[derive(Debug, Clone)]
pub struct ReportSource<'a> {
    /// The prepared batch ([`exfee_engine::accounts_pnl`] of its accounts).
    pub prepared: &'a Prepared,
    /// The scenarios the batch was evaluated under.
    pub scenarios: &'a ScenarioSet,
    /// One result per account of the batch, in its order.
    pub results: Vec<&'a AccountResult>,
}

impl<'a> ReportSource<'a> {
    /// The result of the account `subject` names when it gets a report
    /// (it was evaluated), else `None`: the one rule of which subjects
    /// [`build_reports_each`] reports on, for callers that name the
    /// reports' files before they are built.
    pub fn reported(&self, subject: &Subject) -> Option<&'a AccountResult> {
        let result = *self.results.get(subject.account)?;
        matches!(result.outcome, Outcome::Evaluated(_)).then_some(result)
    }

    /// The reports' source of an evaluation.
    pub fn of(evaluation: &'a Evaluation) -> Self {
        ReportSource {
            prepared: &evaluation.prepared,
            scenarios: &evaluation.scenarios,
            results: evaluation.results.iter().collect(),
        }
    }
}

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

/// How many subjects a chunk holds: the per-holding P&L of two chunks is
/// in memory at once (one staged, one reported; see [`build_reports_each`]).
const CHUNK: usize = 32;
/// How many worst scenarios a report lists.
const WORST: usize = 5;

fn dec(value: f64) -> Decimal {
    cents(Decimal::from_f64(value).unwrap_or_default())
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
    build_reports_from(&ReportSource::of(evaluation), subjects, context, market)
}

/// [`build_reports`] of the subjects of any [`ReportSource`].
///
/// # Errors
///
/// As [`build_reports`].
pub fn build_reports_from(
    evaluation: &ReportSource<'_>,
    subjects: &[Subject],
    context: FeeContext<'_>,
    market: &MarketData,
) -> Result<Vec<AccountReport>, EngineError> {
    build_reports_each(evaluation, subjects, context, market, |_, report| {
        Ok(report)
    })
}

/// The reports of [`build_reports_from`], each handed to `each` (with the
/// subject's index in `subjects`) as soon as it is built, on the thread
/// that built it: the nightly charge renders and writes each report's files
/// there, overlapping them with the next reports' computation, and keeps
/// only what `each` returns. Subjects without a report
/// ([`ReportSource::reported`] is `None`) are skipped; the results are in
/// subject order.
///
/// The subjects go through in chunks of 32 (the holdings' P&L vectors of a
/// chunk are ≈100 MB at 100,000 accounts), as a two-stage pipeline on the
/// rayon pool: while one chunk's reports are built and handed to `each`,
/// the next chunk is staged ([`Staged`]: its P&L, totals, dominant factors,
/// hedges and new currencies' moves), so neither stage's serial parts
/// leave a core idle. Every report depends only on its own subject's data,
/// so the reports equal those built one subject at a time.
///
/// # Errors
///
/// [`EngineError`] as [`build_reports`], or the first error of `each` in
/// subject order (an error of a chunk's P&L comes after every error of
/// `each` on the earlier chunks, as one chunk after another would).
pub fn build_reports_each<T, E>(
    evaluation: &ReportSource<'_>,
    subjects: &[Subject],
    context: FeeContext<'_>,
    market: &MarketData,
    each: impl Fn(usize, AccountReport) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E>
where
    T: Send,
    E: From<EngineError> + Send,
{
    let hedges = default_hedges();
    let mut stager = Stager {
        evaluation,
        market,
        hedges: &hedges,
        units: HashMap::new(),
        pnl: PnlChunks::new(evaluation.prepared, evaluation.scenarios),
    };
    // Each currency's moves, drawn the first time a chunk holds it.
    let mut fx_moves: HashMap<Currency, Vec<f64>> = HashMap::new();
    // Pooled per-thread buffers of the reports (see `Pooled`).
    let pool = Mutex::new(Vec::new());
    let mut out = Vec::with_capacity(subjects.len());
    let mut chunks = subjects.chunks(CHUNK).enumerate();
    let mut current = match chunks.next() {
        Some((_, chunk)) => Some(stager.stage(0, chunk, &fx_moves)?),
        None => None,
    };
    while let Some(mut staged) = current.take() {
        fx_moves.extend(std::mem::take(&mut staged.new_moves));
        let next = chunks.next();
        let (staging, (built, details)) = rayon::join(
            || next.map(|(number, chunk)| stager.stage(number * CHUNK, chunk, &fx_moves)),
            || build_chunk(evaluation, staged, &fx_moves, context, &pool, &each),
        );
        stager.pnl.reclaim(details);
        for item in built.into_iter().flatten() {
            out.push(item?);
        }
        current = staging.transpose()?;
    }
    Ok(out)
}

/// A chunk of subjects made ready for its reports: its accounts' P&L, each
/// account's total and hedge, and the moves of the currencies it is the
/// first chunk to hold.
struct Staged<'s> {
    /// The chunk's subjects that have a P&L (their accounts are ready in
    /// the batch), with their index in `subjects`; `details`, `totals` and
    /// `hedges` are theirs, in this order.
    subjects: Vec<(usize, &'s Subject)>,
    details: Vec<AccountPnl>,
    totals: Vec<Vec<f64>>,
    /// Each account's [`WORST`] worst scenarios ([`worst_scenarios_moving`]):
    /// the first picks the hedge's factor, all of them are the report's.
    worst: Vec<Vec<usize>>,
    hedges: Vec<Option<Arc<HedgeUnit>>>,
    new_moves: HashMap<Currency, Vec<f64>>,
}

/// What staging keeps from one chunk to the next: the hedges valued so far
/// and the chunks' P&L (its binding to the set, the P&L vectors given back).
struct Stager<'a, 'e> {
    evaluation: &'a ReportSource<'e>,
    market: &'a MarketData,
    hedges: &'a [HedgeInstrument],
    /// A listed hedge per (factor, base currency), valued once.
    units: HashMap<(usize, Currency), Option<Arc<HedgeUnit>>>,
    /// The chunks' P&L, filling an earlier chunk's vectors again.
    pnl: PnlChunks<'a>,
}

impl Stager<'_, '_> {
    /// Stages `chunk` (its first subject is `first` in `subjects`);
    /// `fx_moves` holds the currencies' moves the earlier chunks drew.
    fn stage<'s>(
        &mut self,
        first: usize,
        chunk: &'s [Subject],
        fx_moves: &HashMap<Currency, Vec<f64>>,
    ) -> Result<Staged<'s>, EngineError> {
        let evaluation = self.evaluation;
        let set = evaluation.scenarios;
        let indices: Vec<usize> = chunk.iter().map(|s| s.account).collect();
        // Each account's P&L per scenario is summed as its holdings' is made.
        let (details, totals) = self.pnl.pnl_and_totals(&indices)?;
        // The P&L skips accounts that are not ready: each detail goes to
        // its own subject, and a subject without one gets no report.
        let mut accounts = details.iter().map(|d| d.account).peekable();
        let subjects: Vec<(usize, &Subject)> = chunk
            .iter()
            .enumerate()
            .filter(|(_, subject)| accounts.next_if_eq(&subject.account).is_some())
            .map(|(i, subject)| (first + i, subject))
            .collect();
        // Every currency the chunk's foreign positions are quoted in, moved
        // in one pass over the set (closing them leaves proceeds there) the
        // first time a chunk holds it.
        let mut currencies: Vec<Currency> = details
            .iter()
            .flat_map(|d| d.holdings.iter())
            .filter(|h| h.info.class != "FX" && h.info.unit_value != 0.0)
            .map(|h| h.info.currency)
            .collect();
        currencies.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        currencies.dedup();
        // (A currency the FX table does not move is never kept, and asking
        // for it again costs no pass: `currency_moves` skips it.)
        currencies.retain(|c| !fx_moves.contains_key(c));
        // The adjustments look their holdings' currencies up: moves of
        // currencies an earlier chunk held are the same moves.
        let new_moves = currency_moves(set, &currencies);
        // Each account's worst scenarios and dominant factor (in parallel),
        // then the hedges (valued once per factor and base).
        let (worst, factors): (Vec<Vec<usize>>, Vec<Option<usize>>) = details
            .par_iter()
            .zip(totals.par_iter())
            .map(|(detail, total)| {
                let worst = worst_scenarios_moving(total, WORST, &detail.moving);
                let factor = dominant_factor(detail, worst.first().copied(), set);
                (worst, factor)
            })
            .unzip();
        let hedges = subjects
            .iter()
            .zip(&factors)
            .map(|((_, subject), factor)| {
                let base = evaluation
                    .results
                    .get(subject.account)
                    .and_then(|r| r.base_currency)
                    .unwrap_or(Currency::USD);
                factor.and_then(|f| {
                    self.units
                        .entry((f, base))
                        .or_insert_with(|| {
                            hedge_unit(evaluation, self.market, self.hedges, f, base).map(Arc::new)
                        })
                        .clone()
                })
            })
            .collect();
        Ok(Staged {
            subjects,
            details,
            totals,
            worst,
            hedges,
            new_moves,
        })
    }
}

/// The reports of a staged chunk, each handed to `each`, in subject order
/// (`None`: a subject without a report); with the chunk's P&L, given back.
#[allow(clippy::type_complexity)]
fn build_chunk<T, E>(
    evaluation: &ReportSource<'_>,
    staged: Staged<'_>,
    fx_moves: &HashMap<Currency, Vec<f64>>,
    context: FeeContext<'_>,
    pool: &Mutex<Vec<Buffers>>,
    each: &(impl Fn(usize, AccountReport) -> Result<T, E> + Sync),
) -> (Vec<Option<Result<T, E>>>, Vec<AccountPnl>)
where
    T: Send,
    E: Send,
{
    let Staged {
        subjects,
        details,
        totals,
        worst,
        hedges,
        ..
    } = staged;
    // One report per task: a report with its files takes about a
    // millisecond and they differ, so the last ones of a chunk are shared
    // out one by one rather than left in one thread's half.
    let built = subjects
        .par_iter()
        .zip(details.par_iter())
        .zip(totals.into_par_iter())
        .zip(worst.into_par_iter())
        .zip(hedges.par_iter())
        .with_max_len(1)
        .map_init(
            || Pooled::take(pool),
            |buffers, (((((i, subject), detail), total), worst), hedge)| {
                report(
                    evaluation,
                    subject,
                    (detail, total, worst),
                    hedge.as_deref(),
                    fx_moves,
                    context,
                    &mut buffers.buffers,
                )
                .map(|r| each(*i, r))
            },
        )
        .collect();
    (built, details)
}

/// A thread's [`Buffers`] taken from a pool and given back when dropped:
/// the reports' tasks are one report each, and a report reuses the buffers
/// of an earlier one rather than growing its own.
struct Pooled<'p> {
    buffers: Buffers,
    pool: &'p Mutex<Vec<Buffers>>,
}

impl<'p> Pooled<'p> {
    fn take(pool: &'p Mutex<Vec<Buffers>>) -> Self {
        let buffers = pool
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_default();
        Pooled { buffers, pool }
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(std::mem::take(&mut self.buffers));
        }
    }
}

/// Scenario indices ordered worst first (lower index first on a tie), every
/// scenario read (the reports read an account's still run once:
/// [`worst_scenarios_moving`]).
#[cfg(test)]
pub(crate) fn worst_scenarios(total: &[f64], count: usize) -> Vec<usize> {
    worst_among(total, count, total.len(), &[])
}

/// [`worst_scenarios`] of an account's P&L `total` whose holdings are
/// still where `moving` says ([`Moving`]): past the dense scenarios, every
/// scenario not listed holds one value (each holding's P&L when nothing
/// moves, summed the same way), and of those only the first `count` can
/// be among the `count` worst (a tie goes to the lower index). So only the
/// dense scenarios, the listed ones and those first `count` are read.
fn worst_scenarios_moving(total: &[f64], count: usize, moving: &Moving) -> Vec<usize> {
    let scan = Scan::still_keeping(&[moving], total.len(), count);
    let (prefix, extra) = scan.within(total.len());
    worst_among(total, count, prefix, extra)
}

/// The `count` worst of scenarios `..prefix` and `extra` (ascending, each
/// at or after `prefix`), ordered worst first (lower index first on a tie).
fn worst_among(total: &[f64], count: usize, prefix: usize, extra: &[usize]) -> Vec<usize> {
    // A total order (ties broken by index), so selecting the `count` first
    // and sorting only them gives exactly the head of the full sort, in
    // linear time rather than sorting every scenario.
    let order_of = |a: &usize, b: &usize| total[*a].total_cmp(&total[*b]).then(a.cmp(b));
    let dense = &total[..prefix.min(total.len())];
    let extra = || extra.iter().copied().filter(|&s| s < total.len());
    if count == 0 {
        return Vec::new();
    }
    if count == 1 {
        // The first of that order in one pass, without the index vector:
        // only a chunk whose lowest is strictly below the lowest so far
        // replaces it, by its first scenario of that value; then each extra
        // scenario (all after the chunks) only when strictly below.
        let mut worst: Option<(i64, usize)> = None;
        for (c, chunk) in dense.chunks(SCAN).enumerate() {
            let lowest = lowest_key(chunk);
            if worst.is_none_or(|(key, _)| lowest < key)
                && let Some(j) = chunk.iter().position(|&v| order_key(v) == lowest)
            {
                worst = Some((lowest, c * SCAN + j));
            }
        }
        for s in extra() {
            let key = order_key(total[s]);
            if worst.is_none_or(|(lowest, _)| key < lowest) {
                worst = Some((key, s));
            }
        }
        return worst.map(|(_, s)| s).into_iter().collect();
    }
    if count <= 16 {
        // A few (a report lists five): kept in order while passing over the
        // scenarios once; a scenario at or after the last kept is skipped
        // with one comparison, and a chunk of them with one vector pass
        // (every scenario of a later chunk comes after the last kept by
        // index, so it is skipped unless its value is strictly lower).
        let mut top: Vec<usize> = Vec::with_capacity(count + 1);
        let consider = |top: &mut Vec<usize>, s: usize| {
            if top.len() == count && top.last().is_some_and(|last| order_of(&s, last).is_ge()) {
                return;
            }
            let at = top.partition_point(|t| order_of(t, &s).is_lt());
            top.insert(at, s);
            top.truncate(count);
        };
        for (c, chunk) in dense.chunks(SCAN).enumerate() {
            if top.len() == count
                && let Some(&last) = top.last()
                && lowest_key(chunk) >= order_key(total[last])
            {
                continue;
            }
            for s in c * SCAN..c * SCAN + chunk.len() {
                consider(&mut top, s);
            }
        }
        for s in extra() {
            consider(&mut top, s);
        }
        return top;
    }
    let mut order: Vec<usize> = (0..dense.len()).chain(extra()).collect();
    if count < order.len() {
        order.select_nth_unstable_by(count - 1, order_of);
        order.truncate(count);
    }
    order.sort_unstable_by(order_of);
    order
}

/// Scenarios [`worst_scenarios`] passes over at once.
const SCAN: usize = 64;

/// The lowest [`order_key`] of `values` (`i64::MAX` for none): the key of
/// the numeric minimum in lanes when that is exact
/// ([`exfee_model::exact_min`]), else the keys themselves are ranked
/// ([`lowest_key_by_keys`]).
fn lowest_key(values: &[f64]) -> i64 {
    exfee_model::exact_min(values).map_or_else(|| lowest_key_by_keys(values), order_key)
}

/// [`lowest_key`] by the keys alone (any values).
fn lowest_key_by_keys(values: &[f64]) -> i64 {
    values
        .iter()
        .fold(i64::MAX, |lowest, &v| lowest.min(order_key(v)))
}

/// The primary factor whose holdings lose most in the account's worst
/// scenario `worst` ([`worst_scenarios`]' first), if any (cash, whose class
/// is FX, is not hedged with a future).
fn dominant_factor(detail: &AccountPnl, worst: Option<usize>, set: &ScenarioSet) -> Option<usize> {
    let worst = worst?;
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

/// A thread's buffers, kept from one report to the next.
#[derive(Default)]
struct Buffers {
    /// The worst scenarios' moves.
    block: MoveBlock,
    /// The losses of the adjustments' re-checks (see [`Checker::new`]).
    losses: Vec<f64>,
}

/// The report of one subject account, or `None` if it was not evaluated.
/// `total` is the account's scenario P&L ([`AccountPnl::total`]), `worst`
/// its [`WORST`] worst scenarios ([`worst_scenarios`] of `total`).
fn report(
    evaluation: &ReportSource<'_>,
    subject: &Subject,
    (detail, total, worst): (&AccountPnl, Vec<f64>, Vec<usize>),
    hedge: Option<&HedgeUnit>,
    fx_moves: &HashMap<Currency, Vec<f64>>,
    context: FeeContext<'_>,
    buffers: &mut Buffers,
) -> Option<AccountReport> {
    let result = evaluation.reported(subject)?;
    let Outcome::Evaluated(risk) = &result.outcome else {
        return None;
    };
    let set = evaluation.scenarios;
    let base = result.base_currency.unwrap_or(Currency::USD);
    let worst_index = worst.first().copied().unwrap_or(0);
    let checker = Checker::new(
        context.schedule,
        set.len(),
        subject.usd_to_base,
        subject.fee.inventory_fee,
        std::mem::take(&mut buffers.losses),
    );
    let scan = Scan::still(&[&detail.moving], total.len());
    let account = Account {
        detail,
        total: &total,
        nlv: risk.nlv,
        fee: &subject.fee,
        checker: &checker,
        base,
        scan: &scan,
    };
    let by_class = fee_by_class(detail, worst_index, subject.fee.fee_paid);
    let adjustments = adjustments(&account, hedge, fx_moves);
    buffers.losses = checker.into_buffer();
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
    let own = OwnStocks::of(detail, set);
    // The engine's part, then the fee's.
    let mut report = AccountReport {
        account: result.account.clone(),
        base_currency: base.to_string(),
        valuation_date: context.date,
        nlv: risk.nlv,
        worst_scenarios: worst
            .iter()
            .map(|&s| ScenarioLine {
                index: s,
                name: set.name(s).map(str::to_string),
                pnl: dec(total[s]),
                moves: moves_that_matter(detail, set, &own, s, base, &mut buffers.block),
            })
            .collect(),
        contributors,
        pnl_distribution: total,
        warnings: risk.warnings.clone(),
        ..AccountReport::default()
    };
    set_fee(
        &mut report,
        &subject.fee,
        measure_name(&context.schedule.measure, set.len()),
    );
    report.fee_by_class = by_class;
    report.adjustments = adjustments;
    Some(report)
}

/// Sets the fee's figures of `report` from tonight's fee line (the
/// per-class split and the adjustments, which need the scenario P&L, are set
/// apart).
pub(crate) fn set_fee(report: &mut AccountReport, fee: &FeeLine, measure_name: String) {
    report.measure_name = measure_name;
    report.measure = fee.measure;
    report.threshold = fee.breakdown.threshold;
    report.uncovered = fee.uncovered;
    report.fee_status = fee.status.name().to_string();
    report.effective_date = fee.effective_date;
    report.days_charged = fee.days_charged;
    report.daily_fee = fee.fee_paid;
    report.amount_charged = fee.amount_posted;
    report.fee_tiers = fee
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
        .collect();
    report.day_count = Some(u32::from(fee.breakdown.day_count.days()));
    report.minimum_daily = Some(fee.breakdown.minimum);
    report.minimum_applied = fee.breakdown.minimum_applied;
    report.inventory_fee = fee.inventory_fee;
}

/// Where each holding's moves are in the set, looked up by name once per
/// account rather than once per worst scenario: its single stock (`None`
/// for a holding that is not a single stock's, or whose stock the set
/// lacks), its class's factor and its currency's column; and, derived from
/// them, the stocks (in holding order), factors and currencies
/// [`moves_that_matter`] fills, the only ones it reads.
struct OwnStocks {
    by_holding: Vec<Option<usize>>,
    factor_of: Vec<Option<usize>>,
    currency_of: Vec<Option<usize>>,
    stocks: Vec<usize>,
    factors: Vec<usize>,
    currencies: Vec<usize>,
}

impl OwnStocks {
    fn of(detail: &AccountPnl, set: &ScenarioSet) -> Self {
        let holdings = &detail.holdings;
        let by_holding: Vec<Option<usize>> = holdings
            .iter()
            .map(|h| {
                if h.info.single_stock {
                    set.stock_index(&h.info.driver_symbol)
                } else {
                    None
                }
            })
            .collect();
        let factor_of: Vec<Option<usize>> = holdings
            .iter()
            .map(|h| set.factor_table().index_of_name(&h.info.class))
            .collect();
        let currency_of: Vec<Option<usize>> = holdings
            .iter()
            .map(|h| set.fx_table().index_of(h.info.currency))
            .collect();
        let stocks = by_holding.iter().flatten().copied().collect();
        let columns = |of: &[Option<usize>]| {
            let mut columns: Vec<usize> = of.iter().flatten().copied().collect();
            columns.sort_unstable();
            columns.dedup();
            columns
        };
        OwnStocks {
            factors: columns(&factor_of),
            currencies: columns(&currency_of),
            by_holding,
            factor_of,
            currency_of,
            stocks,
        }
    }
}

/// The moves of what the account holds in scenario `s`: each position's
/// total move (`SYMBOL total`), the factors its holdings map to, the currencies it holds, the equity-volatility factor
/// when it holds options, and the own moves of its single stocks (`own`,
/// [`OwnStocks::of`] the account); zero moves left out.
fn moves_that_matter(
    detail: &AccountPnl,
    set: &ScenarioSet,
    own: &OwnStocks,
    s: usize,
    base: Currency,
    block: &mut MoveBlock,
) -> Vec<(String, f64)> {
    // Only the own moves of the account's single stocks are drawn, and
    // only the factor and currency columns read below are copied.
    set.fill_selected_columns(s..s + 1, block, &own.stocks, &own.factors, &own.currencies);
    moves_in(detail, set, own, s, base, block)
}

/// [`moves_that_matter`] of scenario `s` read from `block`, filled with
/// that scenario alone (at least the stocks, factors and currencies of
/// `own`).
fn moves_in(
    detail: &AccountPnl,
    set: &ScenarioSet,
    own: &OwnStocks,
    s: usize,
    base: Currency,
    block: &MoveBlock,
) -> Vec<(String, f64)> {
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
    for (holding, currency) in detail.holdings.iter().zip(&own.currency_of) {
        let info = &holding.info;
        if info.class == "FX" || info.option || info.unit_exposure == 0.0 {
            continue;
        }
        let fx = currency
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
    for (holding, factor) in detail.holdings.iter().zip(&own.factor_of) {
        if let Some(f) = *factor {
            push(holding.info.class.clone(), block.factor(f)[0]);
        }
    }
    for (holding, currency) in detail.holdings.iter().zip(&own.currency_of) {
        if holding.info.currency != base
            && let Some(c) = *currency
        {
            push(holding.info.currency.to_string(), block.currency(c)[0]);
        }
    }
    if detail.holdings.iter().any(|h| h.info.option) {
        push(set.equity_vol_name().to_string(), block.vol()[0]);
    }
    for (holding, stock) in detail.holdings.iter().zip(&own.by_holding) {
        if let Some(k) = *stock {
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
    evaluation: &ReportSource<'_>,
    subjects: &[Subject],
) -> Result<Vec<Vec<String>>, EngineError> {
    // Only each subject's worst scenario (the first of lowest
    // `AccountPnl::total`, as `worst_scenarios` picks it) and its holdings'
    // P&L there: streamed over the set for all subjects at once.
    let indices: Vec<usize> = subjects.iter().map(|s| s.account).collect();
    let worst = accounts_worst(evaluation.prepared, evaluation.scenarios, &indices)?;
    let mut rows = Vec::new();
    for (subject, worst) in subjects.iter().zip(worst) {
        let (Some(result), Some(worst)) = (evaluation.results.get(subject.account), worst) else {
            continue;
        };
        let base = result
            .base_currency
            .map(|c| c.to_string())
            .unwrap_or_default();
        for (class, fee) in fee_by_class(&worst.at_worst, 0, subject.fee.fee_paid) {
            rows.push(vec![
                result.account.clone(),
                base.clone(),
                class,
                fee.to_string(),
            ]);
        }
    }
    Ok(rows)
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

#[cfg(test)]
mod tests {
    use super::{
        Moving, OwnStocks, lowest_key, moves_in, moves_that_matter, order_key, worst_scenarios,
        worst_scenarios_moving,
    };
    use exfee_engine::EngineConfig;
    use exfee_scenarios::MoveBlock;

    #[test]
    fn a_worst_scenarios_moves_are_those_of_the_whole_scenario() {
        // Oracle: the same moves read from the scenario filled whole (every
        // factor, currency and stock of the set, `ScenarioSet::fill`). The
        // report fills only the columns the account's holdings read, into
        // one block reused from scenario to scenario and account to account
        // (stale columns must never be read).
        let date = "2026-11-20".parse().unwrap();
        let batch = exfee_synth::synthesize(&exfee_synth::SynthConfig::new(30, 11, date));
        let source = crate::ScenarioSource::default_set().with_draws(40).unwrap();
        let evaluation = crate::evaluate_batch(&batch, &source, &EngineConfig::new(date)).unwrap();
        let set = &evaluation.scenarios;
        let accounts: Vec<usize> = (0..batch.accounts.len()).collect();
        let details = exfee_engine::accounts_pnl(&evaluation.prepared, set, &accounts).unwrap();
        assert!(details.len() > 20);
        // the draws, the fixed scenarios after them, and the last ones
        let scenarios: Vec<usize> = (0..60)
            .chain((60..set.len()).step_by(97))
            .chain(set.len().saturating_sub(3)..set.len())
            .filter(|&s| s < set.len())
            .collect();
        let (mut block, mut whole) = (MoveBlock::default(), MoveBlock::default());
        // moves compared: positions' totals, own moves, the rest (factors,
        // currencies, the volatility)
        let mut compared = [0_usize; 3];
        for detail in &details {
            let base = evaluation.results[detail.account].base_currency.unwrap();
            let own = OwnStocks::of(detail, set);
            for &s in &scenarios {
                let got = moves_that_matter(detail, set, &own, s, base, &mut block);
                set.fill(s..s + 1, &mut whole);
                let want = moves_in(detail, set, &own, s, base, &whole);
                let bits = |m: &[(String, f64)]| {
                    m.iter()
                        .map(|(n, v)| (n.clone(), v.to_bits()))
                        .collect::<Vec<_>>()
                };
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "account {} scenario {s}",
                    detail.account
                );
                for (name, _) in &got {
                    let kind = if name.ends_with(" total") {
                        0
                    } else if name.ends_with(" (own)") {
                        1
                    } else {
                        2
                    };
                    compared[kind] += 1;
                }
            }
        }
        // many moves of every kind compared
        assert!(compared.iter().all(|&n| n > 200), "{compared:?}");
    }

    #[test]
    fn the_lowest_key_is_the_least_key_of_the_plain_fold() {
        // Oracle: the plain fold of every value's total-order key (the
        // loop before the numeric lanes). Lengths around the eight lanes,
        // the minimum at every place, ties, ±0 (alone and beside the
        // minimum), ±∞, NaNs of both signs, subnormals, 1e300.
        let specials = [
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0xfff8_0000_0000_0001),
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            5e-324,
            -5e-324,
            1e300,
            -1e300,
            -2.5,
            7.0,
        ];
        let oracle = |values: &[f64]| {
            values
                .iter()
                .map(|v| order_key(*v))
                .fold(i64::MAX, i64::min)
        };
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for len in 0..=40 {
            for trial in 0..60 {
                let mut values: Vec<f64> = (0..len)
                    .map(|_| {
                        let r = next();
                        match trial % 4 {
                            // small integers: many exact ties
                            0 => f64::from(u32::try_from(r % 7).unwrap_or(0)) - 3.0,
                            1 => f64::from(u32::try_from(r % 1000).unwrap_or(0)) + 0.5,
                            _ => specials[usize::try_from(r % 13).unwrap_or(0)],
                        }
                    })
                    .collect();
                assert_eq!(lowest_key(&values), oracle(&values), "{values:?}");
                // one special value at every place of a plain vector
                if trial < 13 && len > 0 {
                    for at in 0..len {
                        let mut one = values.clone();
                        for v in &mut one {
                            *v = v.abs() + 1.0;
                            if !v.is_finite() {
                                *v = 2.0;
                            }
                        }
                        one[at] = specials[trial];
                        assert_eq!(lowest_key(&one), oracle(&one), "{one:?}");
                    }
                }
                values.reverse();
                assert_eq!(lowest_key(&values), oracle(&values), "{values:?}");
            }
        }
        assert_eq!(lowest_key(&[]), i64::MAX);
        assert_eq!(lowest_key(&[0.0, -0.0, 1.0]), order_key(-0.0));
        assert_eq!(lowest_key(&[1.0, -f64::NAN, -1.0]), order_key(-f64::NAN));
    }

    #[test]
    fn the_order_key_orders_as_total_cmp() {
        // Every pair of special values: NaNs of both signs, infinities,
        // signed zeros, subnormals, the extremes.
        let values = [
            f64::from_bits(0xfff8_0000_0000_0001),
            -f64::NAN,
            f64::NEG_INFINITY,
            f64::MIN,
            -1.5,
            -f64::MIN_POSITIVE,
            -5e-324,
            -0.0,
            0.0,
            5e-324,
            f64::MIN_POSITIVE,
            1.5,
            f64::MAX,
            f64::INFINITY,
            f64::NAN,
            f64::from_bits(0x7ff8_0000_0000_0001),
        ];
        for a in values {
            for b in values {
                assert_eq!(
                    order_key(a).cmp(&order_key(b)),
                    a.total_cmp(&b),
                    "{a:?} ({:x}) against {b:?} ({:x})",
                    a.to_bits(),
                    b.to_bits()
                );
            }
        }
    }

    #[test]
    fn the_worst_scenarios_of_long_vectors_span_the_scan_chunks() {
        // Lows late, ties across the 64-scenario chunks, a negative NaN
        // (the lowest of all in `total_cmp`'s order) and −0 before 0; the
        // oracle is the plain sort of every scenario.
        let base: Vec<f64> = (0..1000_i32)
            .map(|i| f64::from((i * 7919) % 211) - 100.0)
            .collect();
        let mut cases = vec![base.clone()];
        let mut ties = base.clone();
        for s in [63, 64, 127, 128, 999] {
            ties[s] = -500.0;
        }
        cases.push(ties.clone());
        ties[700] = -f64::NAN;
        cases.push(ties);
        let mut zeros = vec![0.0; 300];
        zeros[200] = -0.0;
        zeros[250] = -0.0;
        cases.push(zeros);
        cases.push(vec![7.0; 130]);
        for total in &cases {
            let mut full: Vec<usize> = (0..total.len()).collect();
            full.sort_by(|&a, &b| total[a].total_cmp(&total[b]).then(a.cmp(&b)));
            for count in [1, 2, 5, 16, 17] {
                let want: Vec<usize> = full.iter().copied().take(count).collect();
                assert_eq!(worst_scenarios(total, count), want, "count {count}");
            }
        }
        // By hand: the first of the −500s, then the NaN case's NaN first.
        assert_eq!(worst_scenarios(&cases[1], 1), vec![63]);
        assert_eq!(worst_scenarios(&cases[2], 2), vec![700, 63]);
        assert_eq!(worst_scenarios(&cases[3], 3), vec![200, 250, 0]);
    }

    #[test]
    fn the_worst_scenarios_of_an_account_read_one_still_run_as_its_first_ones() {
        // An account's P&L over 200 dense scenarios, then 700 single-stock
        // ones: those listed in its `Moving` take any value, every other one
        // the account's still P&L. The oracle is the plain sort of every
        // scenario, for still values that are the lowest of all, tie the
        // dense worst, sit in the middle, are −0 beside dense +0 and NaN,
        // with the listed scenarios first, last, in runs and none.
        let dense_end = 200;
        let len = 900;
        let dense: Vec<f64> = (0..200_i32)
            .map(|i| f64::from((i * 7919) % 97) - 48.0)
            .collect();
        let listings: [Vec<usize>; 5] = [
            vec![],
            vec![200, 201, 202, 450, 899],
            (200..260).chain([700, 703]).collect(),
            vec![899],
            (300..900).step_by(3).collect(),
        ];
        for listed in &listings {
            let moving = Moving {
                dense_end,
                sparse: listed.clone(),
            };
            for still in [
                -1e9,
                -48.0,
                3.5,
                -0.0,
                0.0,
                f64::NAN,
                -f64::NAN,
                f64::INFINITY,
            ] {
                let mut total = dense.clone();
                total.resize(len, still);
                for (k, &s) in listed.iter().enumerate() {
                    total[s] = [-48.0, -1e12, 5.0, -0.0][k % 4];
                }
                let mut full: Vec<usize> = (0..len).collect();
                full.sort_by(|&a, &b| total[a].total_cmp(&total[b]).then(a.cmp(&b)));
                for count in [0, 1, 2, 5, 16, 17, 40] {
                    let want: Vec<usize> = full.iter().copied().take(count).collect();
                    assert_eq!(
                        worst_scenarios_moving(&total, count, &moving),
                        want,
                        "still {still}, count {count}, listed {listed:?}"
                    );
                }
            }
        }
        // By hand: still −1e9 everywhere unlisted, nothing listed: the first
        // five still scenarios, 200 to 204.
        let mut total = dense.clone();
        total.resize(len, -1e9);
        let moving = Moving {
            dense_end,
            sparse: vec![],
        };
        assert_eq!(
            worst_scenarios_moving(&total, 5, &moving),
            vec![200, 201, 202, 203, 204]
        );
        // An account with no scenario past the dense ones reads them all.
        let moving = Moving::everywhere(dense_end);
        assert_eq!(
            worst_scenarios_moving(&dense, 5, &moving),
            worst_scenarios(&dense, 5)
        );
    }

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
