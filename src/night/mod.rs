//! The fee night as a library call, in two halves (docs/scaling.md):
//!
//! - [`evaluate`] (stateless): the accounts of a batch (or of one shard of
//!   it) under every scenario, with exactly the scenarios of the full run;
//!   any subset of accounts gives the same result for the same account.
//! - [`charge`] (stateful, once): fees, grace and the ledger against the
//!   state database in one transaction, then every output of the night
//!   (`results.csv`, `errors.csv`, `options.csv`, `changes.csv`,
//!   `fees_by_class.csv`, reports and `index.html`) published at once.
//!
//! `exfee run` is [`evaluate`] then [`charge`]; an embedder calls the same
//! two functions.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDate;
use exfee_fee::{FeeSchedule, FeeStatus, Portfolio, TradingCalendar};
use exfee_io::{NavCheck, StagedOutputs, write_atomically, write_csv};
use exfee_model::{AccountInput, Batch, Currency, Decimal, InputError, MarketData};
use exfee_report::{AccountFiles, AccountReport, IndexEntry, index_html};
use exfee_scenarios::{ScenarioSet, SingleStock};
use exfee_state::{NightRecord, NightRow, StateDb};
use rayon::prelude::*;

use crate::{
    AccountResult, EngineConfig, EvaluateOptions, FeeContext, FeeLine, OptionReport, Outcome,
    Prepared, ReportSource, ScenarioSource, Shard, Subject, assess, build_reports_each,
    evaluate_batch_with, single_stocks, usd_to_base,
};

mod store;

pub use store::{EVALUATION_FILE_SUFFIX, evaluation_files, read_evaluations, write_evaluation};

/// One account's evaluation: everything the charge needs of it. The same
/// account gives the same record whatever the other accounts evaluated with
/// it (the scenarios are the full batch's).
#[derive(Debug, Clone, PartialEq)]
pub struct AccountEvaluation {
    /// The account's place in the whole input (`results.csv` keeps it).
    pub position: u64,
    /// The engine's result.
    pub result: AccountResult,
    /// The account's inventory fee, if it has one.
    pub inventory_fee: Option<Decimal>,
    /// Units of the base currency per USD (`None` without a rate).
    pub usd_to_base: Option<Decimal>,
    /// USD per unit of the base currency (`None` without a rate): totals and
    /// rankings in USD.
    pub base_to_usd: Option<Decimal>,
    /// Whether the schedule's quote makes the account subject to the fee
    /// tonight (its report needs its positions: see
    /// [`NightEvaluation::subjects`]).
    pub subject: bool,
    /// The option contracts it holds, as priced, in the order the engine
    /// first meets them (`options.csv`).
    pub options: Vec<OptionReport>,
}

/// What every shard of a night shares.
#[derive(Debug, Clone, PartialEq)]
pub struct NightFacts {
    /// The valuation date evaluated at.
    pub date: NaiveDate,
    /// The stress horizon, in calendar days.
    pub horizon_days: u32,
    /// The revaluation block's memory budget, in bytes.
    pub memory_budget_bytes: usize,
    /// Scenarios in the set.
    pub scenario_count: usize,
    /// Fixed stress scenarios among them.
    pub fixed_count: usize,
    /// The Monte Carlo set's seed and draw version (`None` for the fixed
    /// stress set): the same seed under another version is another set.
    pub draws: Option<(u64, u32)>,
    /// The single stocks of the whole batch (the set moves each).
    pub stocks: Vec<SingleStock>,
    /// The input rows that named no account.
    pub batch_errors: Vec<InputError>,
}

/// A night's evaluation: one record per account evaluated (all of the
/// batch, or one shard's or several shards' accounts), in input order.
#[derive(Debug, Clone)]
pub struct NightEvaluation {
    /// One record per account, by position.
    pub accounts: Vec<AccountEvaluation>,
    /// What the shards share.
    pub facts: NightFacts,
    /// The subject accounts' inputs (by position) with the market data:
    /// the charge re-values them per holding for the reports.
    pub subjects: Batch,
    /// The evaluation itself, kept by [`evaluate`] for a [`charge`] in the
    /// same process (`exfee run`): the subjects' per-holding detail comes
    /// from it instead of evaluating them again. `None` when the evaluation
    /// is read back from files ([`read_evaluations`]): the charge then
    /// evaluates the subjects again, to the same bits.
    pub engine: Option<Arc<NightEngine>>,
    /// How long preparing the accounts took, inside [`evaluate`] (`None`
    /// when the evaluation is read back from files).
    pub preparation: Option<Duration>,
}

/// The engine's side of a night's evaluation: the prepared batch (one
/// account per [`NightEvaluation::accounts`] record, in their order) and the
/// scenario set it was evaluated under.
#[derive(Debug)]
pub struct NightEngine {
    prepared: Prepared,
    scenarios: ScenarioSet,
}

/// How [`evaluate`] runs.
pub struct EvaluateSettings<'a> {
    /// The scenarios.
    pub source: &'a ScenarioSource,
    /// The engine's configuration (valuation date, horizon, memory budget).
    pub config: &'a EngineConfig,
    /// The fee schedule: its measure decides how many worst scenarios are
    /// kept, its quote which accounts are subject.
    pub schedule: &'a FeeSchedule,
    /// Only this shard's accounts (the scenarios stay the full batch's).
    pub shard: Option<Shard>,
    /// Called with (scenarios done, scenarios in all) as evaluation goes.
    pub progress: Option<&'a (dyn Fn(usize, usize) + Sync)>,
}

/// The stateless half of the night: every account of `full` (or of the
/// settings' shard of it) under the scenarios of the full batch.
///
/// # Errors
///
/// [`crate::Error`] when the scenario set cannot be built or run.
pub fn evaluate(
    full: Batch,
    settings: &EvaluateSettings<'_>,
) -> Result<NightEvaluation, crate::Error> {
    let stocks = single_stocks(&full, settings.source.factor_table());
    let Batch {
        accounts,
        market,
        errors,
    } = full;
    let (positions, accounts): (Vec<u64>, Vec<AccountInput>) = (0_u64..)
        .zip(accounts)
        .filter(|(_, a)| settings.shard.is_none_or(|s| s.contains(&a.id)))
        .unzip();
    let batch = Batch {
        accounts,
        market,
        errors,
    };
    evaluate_part(batch, positions, stocks, settings)
}

/// [`evaluate`] of a part of a night read on its own (a Spark partition):
/// `batch` holds only the part's accounts (with every row of each) and the
/// rows of the whole input that name no account; `positions` are the
/// accounts' places in the whole input and `stocks` the whole input's single
/// stocks ([`single_stocks`] of the full batch), so that the result is the
/// one [`evaluate`] of the full batch gives for these accounts. The
/// settings' shard is not applied here.
///
/// # Errors
///
/// [`crate::Error`] when the scenario set cannot be built or run.
pub fn evaluate_part(
    batch: Batch,
    positions: Vec<u64>,
    stocks: Vec<SingleStock>,
    settings: &EvaluateSettings<'_>,
) -> Result<NightEvaluation, crate::Error> {
    let evaluation = evaluate_batch_with(
        &batch,
        settings.source,
        settings.config,
        EvaluateOptions {
            stocks: Some(stocks.clone()),
            measure: Some(settings.schedule.measure),
            progress: settings.progress,
        },
    )?;
    let scenario_count = evaluation.scenarios.len();
    let priced: HashMap<(&str, Currency), &OptionReport> = evaluation
        .options
        .iter()
        .map(|o| ((o.symbol.as_str(), o.currency), o))
        .collect();
    // Each account's record on its own (in parallel, in input order); the
    // subjects' inputs are then moved out in order.
    let records: Vec<AccountEvaluation> = positions
        .into_par_iter()
        .zip(evaluation.results)
        .zip(batch.accounts.par_iter())
        .map(|((position, result), account)| {
            account_record(
                position,
                result,
                account,
                &batch.market,
                settings.schedule,
                scenario_count,
                &priced,
            )
        })
        .collect();
    let mut subjects = Vec::new();
    for (record, account) in records.iter().zip(batch.accounts) {
        if record.subject {
            subjects.push(account);
        }
    }
    Ok(NightEvaluation {
        accounts: records,
        facts: NightFacts {
            date: settings.config.valuation_date,
            horizon_days: settings.config.horizon_days,
            memory_budget_bytes: settings.config.memory_budget_bytes,
            scenario_count,
            fixed_count: evaluation.scenarios.fixed().len(),
            draws: settings.source.draws(),
            stocks,
            batch_errors: batch.errors,
        },
        subjects: Batch {
            accounts: subjects,
            market: batch.market,
            errors: Vec::new(),
        },
        engine: Some(Arc::new(NightEngine {
            prepared: evaluation.prepared,
            scenarios: evaluation.scenarios,
        })),
        preparation: Some(evaluation.preparation),
    })
}

/// One account's record of [`evaluate_part`]: its rates to and from USD,
/// whether tonight's quote makes it subject, and the option contracts it
/// holds as priced (in the order of its positions).
fn account_record(
    position: u64,
    result: AccountResult,
    account: &AccountInput,
    market: &MarketData,
    schedule: &FeeSchedule,
    scenario_count: usize,
    priced: &HashMap<(&str, Currency), &OptionReport>,
) -> AccountEvaluation {
    let usd = |b: Currency| usd_to_base(market, b).ok();
    let usd_to_base = result.base_currency.and_then(usd);
    let base_to_usd = result
        .base_currency
        .and_then(|b| market.fx_rate(b, Currency::USD).ok());
    let mut subject = false;
    let mut options: Vec<OptionReport> = Vec::new();
    if let (Outcome::Evaluated(risk), Some(rate)) = (&result.outcome, usd_to_base) {
        let losses = crate::fees::tail_losses(risk);
        subject = exfee_fee::quote(
            schedule,
            &Portfolio {
                losses: &losses,
                scenarios: scenario_count,
                nlv: risk.nlv,
                usd_to_base: rate,
                inventory_fee: account.inventory_fee,
            },
        )
        .is_ok_and(|q| q.subject());
        for position in &account.positions {
            let key = (
                position.instrument.symbol.as_str(),
                position.instrument.currency,
            );
            if let Some(report) = priced.get(&key)
                && !options
                    .iter()
                    .any(|o| o.symbol == report.symbol && o.currency == report.currency)
            {
                options.push((*report).clone());
            }
        }
    }
    AccountEvaluation {
        position,
        result,
        inventory_fee: account.inventory_fee,
        usd_to_base,
        base_to_usd,
        subject,
        options,
    }
}

impl NightEvaluation {
    /// Every distinct option contract, as priced, in the order the engine
    /// meets them over the whole input (`options.csv`).
    pub fn options(&self) -> Vec<OptionReport> {
        let mut seen = HashSet::new();
        self.accounts
            .iter()
            .flat_map(|a| &a.options)
            .filter(|o| seen.insert((o.symbol.clone(), o.currency)))
            .cloned()
            .collect()
    }

    /// The engine's result of every account, by position.
    pub fn results(&self) -> Vec<AccountResult> {
        self.accounts.iter().map(|a| a.result.clone()).collect()
    }
}

/// How [`charge`] runs.
pub struct ChargeSettings<'a> {
    /// The output folder: the night is published under it
    /// ([`StagedOutputs`]).
    pub out: &'a Path,
    /// The night charged.
    pub date: NaiveDate,
    /// The state database (grace weeks, fee ledger).
    pub state: &'a Path,
    /// The fee schedule.
    pub schedule: &'a FeeSchedule,
    /// The trading calendar.
    pub calendar: &'a TradingCalendar,
    /// Allow a date earlier than the state's latest night (the later nights
    /// are removed in the same transaction).
    pub rewrite_history: bool,
    /// Write the per-account reports and `index.html`.
    pub reports: bool,
    /// Also write PNG charts beside the SVG ones.
    pub png: bool,
    /// The NAV reconciliation of a Flex run (`reconciliation.csv`).
    pub reconciliation: Option<&'a [NavCheck]>,
}

/// What [`charge`] did: each account's fee and the time of each stage.
#[derive(Debug, Clone)]
pub struct Charged {
    /// One fee per result (`None` for an account that failed).
    pub fees: Vec<Option<FeeLine>>,
    /// (stage, wall time), in order.
    pub timings: Vec<(&'static str, Duration)>,
}

/// The `changes.csv` columns.
const CHANGES_HEADER: [&str; 7] = [
    "account",
    "currency",
    "change",
    "previous_date",
    "previous_daily_fee",
    "daily_fee",
    "fee_status",
];

/// The `fees_by_class.csv` columns.
const FEES_BY_CLASS_HEADER: [&str; 4] = ["account", "currency", "class", "daily_fee"];

/// Refuses a night dated before the latest night of the state at `state`
/// (unless `rewrite_history`): checked before the evaluation, and again in
/// the state's transaction by [`charge`] (another run may write meanwhile).
///
/// # Errors
///
/// The state cannot be opened, or holds a later night.
pub fn check_date(state: &Path, date: NaiveDate, rewrite_history: bool) -> anyhow::Result<()> {
    if rewrite_history || !state.is_file() {
        return Ok(());
    }
    let db = StateDb::open(state).with_context(|| format!("state database {}", state.display()))?;
    if let Some(latest) = db.latest_date()?
        && latest > date
    {
        return Err(earlier_date_refused(state, date, latest));
    }
    Ok(())
}

/// The stateful half of the night: fees, grace and the ledger against the
/// state in one transaction, then every output, published at once under
/// `settings.out` (`extra` writes more files into the staging folder before
/// it is published, e.g. `run.json`); the state commits after the outputs
/// are published (docs/reliability.md). `after_publish` runs between the
/// two (a test hook).
///
/// # Errors
///
/// The state cannot be opened or written, the date is refused
/// ([`check_date`]), an evaluated account's base currency has no USD rate,
/// the fee arithmetic fails, or an output cannot be written; the state is
/// then unchanged.
pub fn charge(
    night: &NightEvaluation,
    source: &ScenarioSource,
    settings: &ChargeSettings<'_>,
    extra: impl FnOnce(&Path) -> anyhow::Result<()>,
    after_publish: impl FnOnce(),
) -> anyhow::Result<Charged> {
    let facts = &night.facts;
    let mut timings = Vec::new();
    std::fs::create_dir_all(settings.out)
        .with_context(|| format!("cannot create {}", settings.out.display()))?;
    let mut db = StateDb::open(settings.state)
        .with_context(|| format!("state database {}", settings.state.display()))?;
    let mut state = db.begin_run(settings.date, settings.schedule.grace, settings.calendar)?;
    forget_later_nights(&mut state, settings)?;
    let context = FeeContext {
        schedule: settings.schedule,
        calendar: settings.calendar,
        date: settings.date,
        scenarios: facts.scenario_count,
    };
    let fee_start = Instant::now();
    let Assessed {
        fees,
        subjects,
        changes,
        checked,
    } = assess_all(night, context, &state)?;
    timings.push(("fees", fee_start.elapsed()));

    // The subject accounts' per-holding detail for their reports and their
    // per-class split, from the night's own evaluation when it is kept (one
    // process), else from the subjects evaluated again (the same scenarios:
    // draws are keyed by seed, scenario and symbol): the reports' split when
    // they were built (the same function made them), else computed alone.
    let start = Instant::now();
    let again;
    let detail = match &night.engine {
        Some(engine) => ReportSource {
            prepared: &engine.prepared,
            scenarios: &engine.scenarios,
            results: night.accounts.iter().map(|a| &a.result).collect(),
        },
        None => {
            again = subject_detail(night, source, settings.schedule)?;
            ReportSource::of(&again)
        }
    };
    // The staging folder is made before the reports: each report's files
    // are written into it as soon as the report is built, while the next
    // ones are computed (nothing reads the folder before it is published).
    let staged = StagedOutputs::begin(settings.out, &settings.date.to_string())?;
    let dir = staged.dir();
    // The night's own files (results, errors, options, reconciliation,
    // changes) need nothing of the reports: they are written on a thread of
    // their own while the reports are built (the thread calling rayon only
    // waits for the pool meanwhile), so their serial formatting and writing
    // costs no wall time of its own. The reports' error, if any, is the
    // night's error, as when they came first; the staging folder is dropped
    // either way.
    let changes = std::sync::Mutex::new(Some(changes));
    let (listing, class_rows, written_night) = std::thread::scope(|scope| {
        // A thread the system cannot give is no error: the files are then
        // written here, after the reports, as before (`changes` waits in
        // the cell for whichever thread writes them).
        let write = || {
            let rows = changes
                .lock()
                .ok()
                .and_then(|mut c| c.take())
                .context("the night's changes were already taken")?;
            write_night_files(night, &fees, rows, settings, dir)
        };
        let thread = std::thread::Builder::new()
            .name("exfee-night-files".into())
            .spawn_scoped(scope, write)
            .ok();
        // Tonight's records are written into the state's open transaction
        // here, on the thread that holds it, while the reports (or the
        // per-class rows) are built on a thread of their own, which only
        // hands them to rayon and waits: the single-threaded SQLite writes
        // then cost no wall time of their own. Nothing of the reports reads
        // them back (each fee's days posted come from its checked record).
        // Without that thread, the records are written first, as before.
        // The records' error comes first, as when they were written before
        // the reports; either way nothing is published.
        let build = || report_stage(night, &detail, &subjects, context, settings, dir);
        let reports = std::thread::Builder::new()
            .name("exfee-reports".into())
            .spawn_scoped(scope, build)
            .ok();
        let recorded = state.record_checked(checked);
        let built = match reports {
            Some(reports) => reports
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("building the reports panicked"))),
            None if recorded.is_ok() => build(),
            None => Err(anyhow::anyhow!("the reports were not built")),
        };
        let built = recorded.map_err(anyhow::Error::from).and(built);
        let night_files = match thread {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("writing the night's files panicked"))),
            None => write(),
        };
        built.map(|(listing, rows, stage)| (listing, rows, (night_files, stage)))
    })?;
    let (night_files, stage) = written_night;
    timings.push((stage, start.elapsed()));
    night_files?;

    // Outputs: every file of the night into the staging folder, published
    // all at once by repointing OUT_DIR/current; the state commits after
    // (see docs/reliability.md).
    let write_start = Instant::now();
    if let Some((plan, entries)) = listing {
        plan.finish(dir, settings.date, entries)?;
    }
    write_csv(
        &dir.join("fees_by_class.csv"),
        &FEES_BY_CLASS_HEADER,
        class_rows,
    )?;
    extra(dir)?;
    staged.commit()?;
    timings.push(("write", write_start.elapsed()));
    after_publish();
    state.commit()?;
    Ok(Charged { fees, timings })
}

/// What [`report_stage`] did: the reports' plan and entries to finish (with
/// reports), the `fees_by_class.csv` rows, and the stage's name.
type ReportStage = (
    Option<(ReportFiles, Vec<IndexEntry>)>,
    Vec<Vec<String>>,
    &'static str,
);

/// The reports of the subjects written into `dir` (with their listing to
/// finish) and the per-class rows, or the per-class rows alone without
/// reports; and the stage's name for the timings.
fn report_stage(
    night: &NightEvaluation,
    detail: &ReportSource<'_>,
    subjects: &[Subject],
    context: FeeContext<'_>,
    settings: &ChargeSettings<'_>,
    dir: &Path,
) -> anyhow::Result<ReportStage> {
    if settings.reports {
        let plan = ReportFiles::plan(dir, detail, subjects)?;
        let written = build_reports_each::<_, anyhow::Error>(
            detail,
            subjects,
            context,
            &night.subjects.market,
            |i, report| plan.write(i, &report, settings.png, &night.subjects.market),
        )?;
        let mut entries = Vec::with_capacity(written.len());
        let mut rows = Vec::new();
        for (entry, class) in written {
            entries.push(entry);
            rows.extend(class);
        }
        Ok((Some((plan, entries)), rows, "reports"))
    } else {
        let rows = crate::fees_by_class_rows(detail, subjects)?;
        Ok((None, rows, "fees by class"))
    }
}

/// The night's files that need nothing of the reports, into the staging
/// folder `dir`: `results.csv`, `errors.csv`, `options.csv`,
/// `reconciliation.csv` (a Flex run) and `changes.csv`.
fn write_night_files(
    night: &NightEvaluation,
    fees: &[Option<FeeLine>],
    changes: Vec<Vec<String>>,
    settings: &ChargeSettings<'_>,
    dir: &Path,
) -> anyhow::Result<()> {
    let facts = &night.facts;
    let results = night.results();
    crate::results::write_results(&dir.join("results.csv"), &results, fees)?;
    crate::results::write_errors(&dir.join("errors.csv"), &facts.batch_errors, &results)?;
    crate::results::write_options(&dir.join("options.csv"), &night.options())?;
    if let Some(checks) = settings.reconciliation {
        let ids: HashSet<&str> = results.iter().map(|a| a.account.as_str()).collect();
        let checks: Vec<NavCheck> = checks
            .iter()
            .filter(|c| ids.contains(c.account.as_str()))
            .cloned()
            .collect();
        exfee_io::write_reconciliation(&dir.join("reconciliation.csv"), &checks)?;
    }
    write_csv(&dir.join("changes.csv"), &CHANGES_HEADER, changes)?;
    Ok(())
}

/// Refuses a night earlier than the state's latest unless
/// `--rewrite-history`, which removes the later nights in this transaction.
fn forget_later_nights(
    state: &mut exfee_state::Run<'_>,
    settings: &ChargeSettings<'_>,
) -> anyhow::Result<()> {
    let later = state.later_dates()?;
    if let (Some(first), Some(last)) = (later.first(), later.last()) {
        if !settings.rewrite_history {
            return Err(earlier_date_refused(settings.state, settings.date, *last));
        }
        let removed = state.forget_later_nights()?;
        eprintln!(
            "exfee: --rewrite-history: removed {removed} account-night(s) dated {first} to {last} \
             from the state (committed with this run); run those dates again, in order, to \
             recompute them"
        );
    }
    Ok(())
}

/// Tonight's fees, accounts in input order: each evaluated account assessed
/// against its previous state and checked, with what recording it gives
/// ([`exfee_state::Checked::recorded`]); the records to write in the open
/// state transaction ([`exfee_state::Run::record_checked`]); the changes.csv
/// rows and the accounts subject to the fee.
struct Assessed {
    fees: Vec<Option<FeeLine>>,
    subjects: Vec<Subject>,
    changes: Vec<Vec<String>>,
    checked: Vec<exfee_state::Checked>,
}

/// One evaluated account's fee, checked against its earlier nights and
/// ready to be recorded: what [`assess_all`] works out on every core.
struct Assessing {
    position: usize,
    fee: FeeLine,
    checked: exfee_state::Checked,
    changes: Vec<Vec<String>>,
    /// The account's index in the batch its report detail comes from, when
    /// it is subject tonight.
    subject: Option<usize>,
    usd_to_base: Decimal,
}

/// Every account of the night through [`assess`], recorded in `state`.
///
/// In two passes with the result of one account after another: the
/// accounts' earlier nights are read from the state (in input order), then
/// each account's fee and record are worked out and checked on every core
/// (rayon; pure functions). The records are returned unwritten: [`charge`]
/// writes them in one batch of statements prepared once
/// ([`exfee_state::Run::record_checked`]) while the reports are built, and
/// each fee's days posted come from its checked record, which is what the
/// write returns. The first failure in input order stops the night, as one
/// account after another would.
fn assess_all(
    night: &NightEvaluation,
    context: FeeContext<'_>,
    state: &exfee_state::Run<'_>,
) -> anyhow::Result<Assessed> {
    // A subject's index in the batch its detail comes from: the night's own
    // evaluation (every account, as `night.accounts`) when it is kept, else
    // the batch of the subjects alone.
    let subject_index: HashMap<&str, usize> = match &night.engine {
        Some(_) => HashMap::new(),
        None => night
            .subjects
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.as_str(), i))
            .collect(),
    };
    // The earlier nights of every evaluated account, in input order, up to
    // the first account that fails here.
    let mut priors = Vec::with_capacity(night.accounts.len());
    let mut failure: Option<anyhow::Error> = None;
    for (position, record) in night.accounts.iter().enumerate() {
        let result = &record.result;
        let (Outcome::Evaluated(risk), Some(base)) = (&result.outcome, result.base_currency) else {
            continue;
        };
        let Some(rate) = record.usd_to_base else {
            failure = Some(anyhow::anyhow!(
                "account {}: no USD rate for {base}",
                result.account
            ));
            break;
        };
        // The account's earlier nights, read once: its previous state and
        // night here, the nights its posted days are priced by in the record.
        match state.prior(&result.account) {
            Ok(prior) => priors.push((position, record, risk, base, rate, prior)),
            Err(e) => {
                failure = Some(e.into());
                break;
            }
        }
    }
    let checker = state.checker();
    let assessing: Vec<anyhow::Result<Assessing>> = priors
        .par_iter()
        .map(|(position, record, risk, base, rate, prior)| {
            let (position, base, rate) = (*position, *base, *rate);
            let account = record.result.account.as_str();
            let fee = assess(context, risk, rate, record.inventory_fee, prior.state())?;
            let checked = checker.check(
                prior,
                &NightRecord {
                    status: fee.status,
                    uncovered: fee.uncovered,
                    measure: fee.measure,
                    daily_fee: fee.breakdown.daily_fee,
                    accrues: fee.accrues,
                    basis: fee.pays,
                    effective_date: fee.effective_date,
                    currency: base,
                },
            )?;
            let changes = change_rows(account, base, &fee, prior.night());
            let subject = if fee.status.is_subject() {
                let index = match &night.engine {
                    Some(_) => Some(position),
                    None => subject_index.get(account).copied(),
                }
                .filter(|_| record.subject)
                .with_context(|| {
                    format!(
                        "account {account} is subject to the fee but its evaluation holds no \
                         positions for its report: evaluate and charge with the same fee schedule"
                    )
                })?;
                Some(index)
            } else {
                None
            };
            Ok(Assessing {
                position,
                fee,
                checked,
                changes,
                subject,
                usd_to_base: rate,
            })
        })
        .collect();
    let mut ready = Vec::with_capacity(assessing.len());
    for item in assessing {
        ready.push(item?);
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let (checked, ready): (Vec<exfee_state::Checked>, Vec<_>) = ready
        .into_iter()
        .map(|a| {
            (
                a.checked,
                (a.position, a.fee, a.changes, a.subject, a.usd_to_base),
            )
        })
        .unzip();
    let mut fees: Vec<Option<FeeLine>> = vec![None; night.accounts.len()];
    let mut subjects = Vec::new();
    let mut changes: Vec<Vec<String>> = Vec::new();
    for ((position, mut fee, rows, subject, usd_to_base), checked) in
        ready.into_iter().zip(&checked)
    {
        let recorded = checked.recorded();
        fee.days_posted = recorded.days_posted();
        fee.amount_posted = recorded.amount_posted();
        changes.extend(rows);
        if let Some(account) = subject {
            subjects.push(Subject {
                account,
                fee: fee.clone(),
                usd_to_base,
            });
        }
        if let Some(slot) = fees.get_mut(position) {
            *slot = Some(fee);
        }
    }
    Ok(Assessed {
        fees,
        subjects,
        changes,
        checked,
    })
}

/// The subject accounts evaluated again, with the night's scenarios, for
/// the per-holding detail of their reports; each result is checked equal to
/// the night's (else the scenarios or market given are not the
/// evaluation's).
fn subject_detail(
    night: &NightEvaluation,
    source: &ScenarioSource,
    schedule: &FeeSchedule,
) -> anyhow::Result<crate::Evaluation> {
    let facts = &night.facts;
    let mut config = EngineConfig::new(facts.date);
    config.horizon_days = facts.horizon_days;
    config.memory_budget_bytes = facts.memory_budget_bytes;
    let detail = evaluate_batch_with(
        &night.subjects,
        source,
        &config,
        EvaluateOptions {
            stocks: Some(facts.stocks.clone()),
            measure: Some(schedule.measure),
            progress: None,
        },
    )?;
    anyhow::ensure!(
        detail.scenarios.len() == facts.scenario_count
            && detail.scenarios.fixed().len() == facts.fixed_count,
        "the scenario set has {} scenarios ({} fixed) but the evaluation was made with {} ({} \
         fixed): charge with the scenario set the accounts were evaluated with",
        detail.scenarios.len(),
        detail.scenarios.fixed().len(),
        facts.scenario_count,
        facts.fixed_count
    );
    let evaluated: HashMap<&str, &AccountResult> = night
        .accounts
        .iter()
        .filter(|a| a.subject)
        .map(|a| (a.result.account.as_str(), &a.result))
        .collect();
    for result in &detail.results {
        anyhow::ensure!(
            evaluated.get(result.account.as_str()) == Some(&result),
            "account {}: evaluated again for its report, it does not give the evaluation's \
             result: charge with the scenario set and market data it was evaluated with",
            result.account
        );
    }
    Ok(detail)
}

/// Where each report's files go in `reports/`: each account's files under
/// its safe file stem (a stem taken already goes into a numbered
/// subfolder), `files.csv` mapping account ids to stems (relative to
/// `reports/`), and `index.html` beside `reports/`. Every CSV cell goes
/// through [`exfee_io::neutralise`].
struct ReportFiles {
    /// `reports/` in the staging folder.
    dir: std::path::PathBuf,
    /// Per subject (by index), the folder of its files relative to
    /// `reports/` (empty or `n/`) and its file stem; `None` when it gets no
    /// report.
    places: Vec<Option<(String, String)>>,
    /// `files.csv`'s rows, in report order.
    names: Vec<Vec<String>>,
}

impl ReportFiles {
    /// Names every report's files before any is built (the subjects that
    /// get one: [`ReportSource::reported`]), in subject order, and creates
    /// the folders.
    fn plan(dir: &Path, source: &ReportSource<'_>, subjects: &[Subject]) -> anyhow::Result<Self> {
        let reports_dir = dir.join("reports");
        std::fs::create_dir_all(&reports_dir)
            .with_context(|| format!("cannot create {}", reports_dir.display()))?;
        let mut places = Vec::with_capacity(subjects.len());
        let mut names: Vec<Vec<String>> = Vec::new();
        // `files` is taken: reports/files.csv is the mapping.
        let mut used = HashSet::from([String::from("files")]);
        for subject in subjects {
            let Some(result) = source.reported(subject) else {
                places.push(None);
                continue;
            };
            // Stems are unique by construction (a changed id gets a hash of
            // itself). A stem taken already (an id crafted to equal another's
            // hashed stem, or `files`) goes into a numbered subfolder, where
            // its report still links its charts: no account's files are
            // overwritten.
            let stem = exfee_report::file_stem(&result.account);
            let folder = exfee_report::free_folder(&mut used, &stem);
            if !folder.is_empty() {
                let target = reports_dir.join(&folder);
                std::fs::create_dir_all(&target)
                    .with_context(|| format!("cannot create {}", target.display()))?;
            }
            names.push(vec![result.account.clone(), format!("{folder}{stem}")]);
            places.push(Some((folder, stem)));
        }
        Ok(Self {
            dir: reports_dir,
            places,
            names,
        })
    }

    /// Renders and writes the files of subject `i`'s report; returns its
    /// `index.html` line and its `fees_by_class.csv` rows.
    fn write(
        &self,
        i: usize,
        report: &AccountReport,
        png: bool,
        market: &MarketData,
    ) -> anyhow::Result<(IndexEntry, Vec<Vec<String>>)> {
        let (folder, stem) = self
            .places
            .get(i)
            .and_then(Option::as_ref)
            .with_context(|| format!("account {}: its report was not planned", report.account))?;
        let files = AccountFiles::render(report, png)?;
        let target = self.dir.join(folder);
        // The report's CSV comes rendered with every cell through
        // `exfee_io::neutralise` (`exfee_report::csv`): no re-parse here.
        for (name, bytes) in files.files() {
            write_atomically(&target.join(&name), |out| out.write_all(bytes))?;
        }
        let mut entry = exfee_report::index_entry(report, stem, &format!("reports/{folder}"));
        entry.daily_fee_usd = report
            .base_currency
            .parse::<Currency>()
            .ok()
            .and_then(|c| in_usd(market, c, report.daily_fee));
        let rows = report
            .fee_by_class
            .iter()
            .map(|(class, fee)| {
                vec![
                    report.account.clone(),
                    report.base_currency.clone(),
                    class.clone(),
                    fee.to_string(),
                ]
            })
            .collect();
        Ok((entry, rows))
    }

    /// Writes `reports/files.csv` and `index.html` (`entries`: the index
    /// lines of the reports written, ranked here by the daily fee in USD:
    /// amounts in different currencies are not comparable as they are).
    fn finish(
        self,
        dir: &Path,
        date: NaiveDate,
        mut entries: Vec<IndexEntry>,
    ) -> anyhow::Result<()> {
        entries.sort_by(|a, b| {
            b.daily_fee_usd
                .cmp(&a.daily_fee_usd)
                .then(a.account.cmp(&b.account))
        });
        write_csv(
            &self.dir.join("files.csv"),
            &["account", "file_stem"],
            self.names,
        )?;
        let title = format!("exfee: accounts subject to the exposure fee on {date}");
        let page = index_html(&entries, &title);
        write_atomically(&dir.join("index.html"), |out| {
            out.write_all(page.as_bytes())
        })?;
        Ok(())
    }
}

/// Tonight's changes of one account against its previous night in the
/// state: `newly_subject` (subject tonight, clear or unknown before),
/// `entering_charge` (charged tonight, not charged before), `cleared` (clear
/// tonight, subject before), `fee_up` / `fee_down` (the daily fee it accrues
/// moved by more than 25 % of the previous night's, both nights subject).
fn change_rows(
    account: &str,
    base: Currency,
    fee: &FeeLine,
    previous: Option<&NightRow>,
) -> Vec<Vec<String>> {
    let was_subject = previous.is_some_and(|p| p.record.status.is_subject());
    let was_charged = previous.is_some_and(|p| p.record.status == FeeStatus::Charged);
    let before = previous.map(|p| p.record.accrues);
    let mut kinds = Vec::new();
    if fee.status.is_subject() && !was_subject {
        kinds.push("newly_subject");
    }
    if fee.status == FeeStatus::Charged && !was_charged {
        kinds.push("entering_charge");
    }
    if !fee.status.is_subject() && was_subject {
        kinds.push("cleared");
    }
    if let Some(before) = before
        && fee.status.is_subject()
        && was_subject
        && before > Decimal::ZERO
        && let Some(limit) = before.checked_mul(Decimal::new(25, 2))
    {
        if fee.accrues.checked_sub(before).is_some_and(|up| up > limit) {
            kinds.push("fee_up");
        } else if before
            .checked_sub(fee.accrues)
            .is_some_and(|down| down > limit)
        {
            kinds.push("fee_down");
        }
    }
    kinds
        .into_iter()
        .map(|kind| {
            vec![
                account.to_string(),
                base.to_string(),
                kind.to_string(),
                previous.map(|p| p.date.to_string()).unwrap_or_default(),
                before.map(|b| b.to_string()).unwrap_or_default(),
                fee.accrues.to_string(),
                fee.status.name().to_string(),
            ]
        })
        .collect()
}

/// Why a night of `date` is refused when the state holds nights up to
/// `latest`, later than it.
fn earlier_date_refused(state: &Path, date: NaiveDate, latest: NaiveDate) -> anyhow::Error {
    anyhow::anyhow!(
        "the state {} already holds nights up to {latest}, after {date}: a run of an earlier \
         date would be charged from a history that ignores them and leave them stale; run \
         {latest} or later, or give --rewrite-history to remove the nights after {date} and \
         then run those dates again, in order",
        state.display()
    )
}

/// `amount` of `currency` in USD at the market's rates, to cents; `None`
/// without a rate or when the product overflows a `Decimal`.
pub fn in_usd(market: &MarketData, currency: Currency, amount: Decimal) -> Option<Decimal> {
    let rate = market.fx_rate(currency, Currency::USD).ok()?;
    amount.checked_mul(rate).map(exfee_model::cents)
}
