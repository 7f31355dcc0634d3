//! `exfee run`: the nightly batch.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDate;
use exfee::engine::single_stocks;
use exfee::fee::{FeeSchedule, FeeStatus, TradingCalendar};
use exfee::io::{
    DropPaths, NavCheck, NavTolerance, StagedOutputs, neutralise_csv, read_drop, read_market,
    write_atomically, write_csv,
};
use exfee::report::{AccountFiles, AccountReport, IndexEntry, index_html};
use exfee::state::{NightRecord, StateDb};
use exfee::{
    Batch, Currency, Decimal, EngineConfig, EvaluateOptions, FeeContext, FeeLine, Outcome, Shard,
    Subject, assess, build_reports, evaluate_batch_with, usd_to_base,
};

use super::{Output, ScenarioArgs};

#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct RunArgs {
    /// The drop folder (accounts.csv, positions.csv, cash.csv, market/…). With --flex, only its
    /// market/ folder is read.
    #[arg(value_name = "DROP_DIR", required_unless_present = "flex")]
    drop_dir: Option<PathBuf>,
    /// Read positions, cash and base currencies from broker Flex Query reports, CSV or XML
    /// (files or folders of them), instead of a native drop; the broker's NAV is reconciled
    /// (reconciliation.csv).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    flex: Vec<PathBuf>,
    /// The market folder (fx.csv, factors.csv, underlyings.csv, rates.csv) for --flex.
    /// Default: DROP_DIR/market.
    #[arg(long, value_name = "DIR")]
    market: Option<PathBuf>,
    /// With --flex: how far exfee's NLV may be from the broker's NAV, in base-currency units;
    /// the tolerance is the larger of this and --nav-tolerance-pct of the NLV.
    #[arg(long, value_name = "UNITS", default_value = "1")]
    nav_tolerance: Decimal,
    /// With --flex: the relative NAV tolerance, in percent of the NLV.
    #[arg(long, value_name = "PCT", default_value = "0.01")]
    nav_tolerance_pct: Decimal,
    /// Output folder (created if needed).
    #[arg(long, value_name = "OUT_DIR", default_value = "out")]
    out: PathBuf,
    #[command(flatten)]
    scenarios: ScenarioArgs,
    /// Override the drop's accounts.csv.
    #[arg(long, value_name = "FILE")]
    accounts: Option<PathBuf>,
    /// Override the drop's positions.csv.
    #[arg(long, value_name = "FILE")]
    positions: Option<PathBuf>,
    /// Override the drop's cash.csv.
    #[arg(long, value_name = "FILE")]
    cash: Option<PathBuf>,
    /// Override the drop's market/fx.csv.
    #[arg(long, value_name = "FILE")]
    fx: Option<PathBuf>,
    /// Override the drop's market/factors.csv.
    #[arg(long, value_name = "FILE")]
    factors: Option<PathBuf>,
    /// Override the drop's market/underlyings.csv.
    #[arg(long, value_name = "FILE")]
    underlyings: Option<PathBuf>,
    /// Override the drop's market/rates.csv.
    #[arg(long, value_name = "FILE")]
    rates: Option<PathBuf>,
    /// Memory budget of the revaluation block, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    memory_budget: usize,
    /// Valuation date (YYYY-MM-DD): options' time to expiry counts from it, and the fee is
    /// charged for it. Default: the Flex reports' ReportDate (the latest, with a warning, when
    /// they differ), else today (UTC). A --date the ReportDate disagrees with is warned about.
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<NaiveDate>,
    /// Stress horizon in calendar days (options reprice this much closer to expiry).
    #[arg(long, value_name = "DAYS", default_value_t = 0)]
    horizon_days: u32,
    /// The nightly state database (grace weeks, fee ledger). Default: OUT_DIR/state.sqlite.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// The fee schedule (TOML). Default: the built-in crates/fee/default-fee.toml.
    #[arg(long, value_name = "FILE")]
    fee: Option<PathBuf>,
    /// Holidays (one YYYY-MM-DD per line): with weekends, they decide trading days.
    #[arg(long, value_name = "FILE")]
    holidays: Option<PathBuf>,
    /// Evaluate only shard I of N (a stable hash of the account id), with exactly the
    /// scenarios of the full run.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<Shard>,
    /// Do not write the per-account reports and charts.
    #[arg(long)]
    no_reports: bool,
    /// Also write PNG charts beside the SVG ones.
    #[arg(long)]
    png: bool,
    /// Allow a date earlier than the state's latest night: the later nights (and their charges)
    /// are removed from the state in the same transaction, and must be run again, in order.
    #[arg(long)]
    rewrite_history: bool,
}

/// The exit codes, as `exfee run --help` shows them.
pub(super) const EXIT_CODES: &str = "Exit codes:
  0  every account was evaluated
  1  the run finished and its outputs were written, but some accounts (or rows) failed:
     reasons in OUT_DIR/results.csv and OUT_DIR/errors.csv
  2  the run could not be done (bad usage, an unreadable input, a date earlier than the
     state's latest without --rewrite-history, an unwritable output or state)";

fn parse_shard(text: &str) -> Result<Shard, String> {
    Shard::parse(text).ok_or_else(|| format!("{text:?} is not I/N with 0 <= I < N"))
}

impl RunArgs {
    fn paths(&self) -> DropPaths {
        let mut paths = match (&self.drop_dir, &self.market) {
            (Some(dir), _) => DropPaths::in_dir(dir),
            (None, Some(market)) => DropPaths::in_dir(market.parent().unwrap_or(Path::new("."))),
            (None, None) => DropPaths::in_dir(Path::new(".")),
        };
        if let Some(market) = &self.market {
            paths.fx = market.join("fx.csv");
            paths.factors = market.join("factors.csv");
            paths.underlyings = market.join("underlyings.csv");
            paths.rates = market.join("rates.csv");
        }
        for (slot, value) in [
            (&mut paths.accounts, &self.accounts),
            (&mut paths.positions, &self.positions),
            (&mut paths.cash, &self.cash),
            (&mut paths.fx, &self.fx),
            (&mut paths.factors, &self.factors),
            (&mut paths.underlyings, &self.underlyings),
            (&mut paths.rates, &self.rates),
        ] {
            if let Some(path) = value {
                *slot = path.clone();
            }
        }
        paths
    }
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

/// Tonight's changes of one account against its previous night in the
/// state: `newly_subject` (subject tonight, clear or unknown before),
/// `entering_charge` (charged tonight, not charged before), `cleared` (clear
/// tonight, subject before), `fee_up` / `fee_down` (the daily fee it accrues
/// moved by more than 25 % of the previous night's, both nights subject).
fn change_rows(
    account: &str,
    base: Currency,
    fee: &FeeLine,
    previous: Option<&exfee::state::NightRow>,
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
    {
        let limit = before * Decimal::new(25, 2);
        if fee.accrues - before > limit {
            kinds.push("fee_up");
        } else if before - fee.accrues > limit {
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

/// Stage timings for the summary.
#[derive(Default)]
struct Timings(Vec<(&'static str, Duration)>);

impl Timings {
    fn time<T>(&mut self, stage: &'static str, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let value = f();
        self.0.push((stage, start.elapsed()));
        value
    }
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    // One bounded reader for configuration files (docs/reliability.md).
    Ok(exfee::io::read_bounded_text(
        path,
        exfee::io::MAX_CONFIG_BYTES,
    )?)
}

/// Every input file (or Flex folder) of the run, with its role, for
/// `run.json`.
fn input_files(args: &RunArgs) -> Vec<(&'static str, PathBuf)> {
    let paths = args.paths();
    let mut files: Vec<(&'static str, PathBuf)> = Vec::new();
    if args.flex.is_empty() {
        files.push(("accounts", paths.accounts));
        files.push(("positions", paths.positions));
        files.push(("cash", paths.cash));
    } else {
        files.extend(args.flex.iter().map(|p| ("flex", p.clone())));
    }
    files.push(("fx", paths.fx));
    files.push(("factors", paths.factors));
    files.push(("underlyings", paths.underlyings));
    files.push(("rates", paths.rates));
    files
}

/// The batch, the dates the input says it was taken for (each Flex
/// account's report date; none for a native drop) and, with --flex, every
/// account's NAV reconciliation (`reconciliation.csv`).
fn read_inputs(
    args: &RunArgs,
    source: &exfee::ScenarioSource,
) -> anyhow::Result<(Batch, Vec<NaiveDate>, Option<Vec<NavCheck>>)> {
    let paths = args.paths();
    if args.flex.is_empty() {
        return Ok((read_drop(&paths, source.factor_table())?, Vec::new(), None));
    }
    let (market, errors) = read_market(&paths, source.factor_table())?;
    let mut read = exfee::io::read_flex_report(&args.flex, market)?;
    let dates = read.report_dates();
    anyhow::ensure!(
        args.nav_tolerance >= Decimal::ZERO && args.nav_tolerance_pct >= Decimal::ZERO,
        "--nav-tolerance and --nav-tolerance-pct must not be negative"
    );
    let tolerance = NavTolerance {
        units: args.nav_tolerance,
        fraction: args.nav_tolerance_pct / Decimal::ONE_HUNDRED,
    };
    let checks = exfee::io::reconcile_nav(&mut read, tolerance);
    let mut batch = read.batch;
    batch.errors.extend(errors);
    Ok((batch, dates, Some(checks)))
}

/// The valuation date: `--date`; else the input's own date (the latest
/// when it has several); else today (UTC). Warns when `--date` and the
/// input's dates disagree, or the input's dates disagree among themselves.
fn valuation_date(
    flag: Option<NaiveDate>,
    input: &[NaiveDate],
) -> (NaiveDate, super::manifest::DateSource) {
    use super::manifest::DateSource;
    let listed = || {
        input
            .iter()
            .map(NaiveDate::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (flag, input.last()) {
        (Some(date), _) => {
            if input.iter().any(|d| *d != date) {
                eprintln!(
                    "exfee: warning: valuing at --date {date}, but the input's ReportDate is {}",
                    listed()
                );
            }
            (date, DateSource::Flag)
        }
        (None, Some(&latest)) => {
            if input.len() > 1 {
                eprintln!(
                    "exfee: warning: the input's reports carry several ReportDates ({}); valuing \
                     at the latest, {latest} (give --date to choose)",
                    listed()
                );
            }
            (latest, DateSource::Input)
        }
        (None, None) => (chrono::Utc::now().date_naive(), DateSource::Today),
    }
}

pub fn run(args: RunArgs, output: &Output) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut timings = Timings::default();
    let source = args.scenarios.load()?;
    let schedule = match &args.fee {
        Some(path) => FeeSchedule::from_toml_str(&read_text(path)?)
            .with_context(|| format!("fee schedule {}", path.display()))?,
        None => FeeSchedule::default(),
    };
    let calendar = match &args.holidays {
        Some(path) => TradingCalendar::parse_holidays(&read_text(path)?)
            .with_context(|| format!("holidays {}", path.display()))?,
        None => TradingCalendar::default(),
    };

    let spinner = output.spinner("reading inputs");
    let (full, input_dates, mut reconciliation) =
        timings.time("read", || read_inputs(&args, &source))?;
    let (date, date_source) = valuation_date(args.date, &input_dates);
    let state_path = args
        .state
        .clone()
        .unwrap_or_else(|| args.out.join("state.sqlite"));
    // Refused before the evaluation; checked again in the state's
    // transaction below (another run may have written meanwhile).
    if !args.rewrite_history && state_path.is_file() {
        let db = StateDb::open(&state_path)
            .with_context(|| format!("state database {}", state_path.display()))?;
        if let Some(latest) = db.latest_date()?
            && latest > date
        {
            return Err(earlier_date_refused(&state_path, date, latest));
        }
    }
    spinner.finish_and_clear();
    let positions: usize = full.accounts.iter().map(|a| a.positions.len()).sum();
    tracing::info!(accounts = full.accounts.len(), positions, "read inputs");
    let stocks = single_stocks(&full, source.factor_table());
    let batch = match args.shard {
        Some(shard) => shard.filter(full),
        None => full,
    };
    if let Some(checks) = &mut reconciliation {
        let ids: std::collections::HashSet<&str> =
            batch.accounts.iter().map(|a| a.id.as_str()).collect();
        checks.retain(|c| ids.contains(c.account.as_str()));
    }

    let mut config = EngineConfig::new(date);
    config.memory_budget_bytes = args.memory_budget.saturating_mul(1 << 20);
    config.horizon_days = args.horizon_days;
    let bar = output.bar("revaluation", "scenarios");
    let progress = |done: usize, all: usize| {
        bar.set_length(all as u64);
        bar.set_position(done as u64);
        output.log_progress("revaluation", done, all);
    };
    let evaluation = timings.time("scenarios + revaluation", || {
        evaluate_batch_with(
            &batch,
            &source,
            &config,
            EvaluateOptions {
                stocks: Some(stocks),
                measure: Some(schedule.measure),
                progress: Some(&progress),
            },
        )
    })?;
    bar.finish_and_clear();

    // Fees, against the state before tonight, in one transaction.
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut db = StateDb::open(&state_path)
        .with_context(|| format!("state database {}", state_path.display()))?;
    let mut night = db.begin_run(date, schedule.grace, &calendar)?;
    let later = night.later_dates()?;
    if let (Some(first), Some(last)) = (later.first(), later.last()) {
        if !args.rewrite_history {
            return Err(earlier_date_refused(&state_path, date, *last));
        }
        let removed = night.forget_later_nights()?;
        eprintln!(
            "exfee: --rewrite-history: removed {removed} account-night(s) dated {first} to {last} \
             from the state (committed with this run); run those dates again, in order, to \
             recompute them"
        );
    }
    let context = FeeContext {
        schedule: &schedule,
        calendar: &calendar,
        date,
        scenarios: evaluation.scenarios.len(),
    };
    let mut fees: Vec<Option<FeeLine>> = Vec::with_capacity(evaluation.results.len());
    let mut subjects = Vec::new();
    let mut changes: Vec<Vec<String>> = Vec::new();
    let fee_start = Instant::now();
    for (index, (result, account)) in evaluation.results.iter().zip(&batch.accounts).enumerate() {
        let (Outcome::Evaluated(risk), Some(base)) = (&result.outcome, result.base_currency) else {
            fees.push(None);
            continue;
        };
        let rate = usd_to_base(&batch.market, base)?;
        let previous = night.previous_state(&result.account)?;
        let previous_night = night.previous_night(&result.account)?;
        let mut fee = assess(
            context,
            risk,
            rate,
            account.inventory_fee,
            previous.as_ref(),
        )?;
        let recorded = night.record(
            &result.account,
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
        fee.days_posted = recorded.days_posted();
        fee.amount_posted = recorded.amount_posted();
        changes.extend(change_rows(
            &result.account,
            base,
            &fee,
            previous_night.as_ref(),
        ));
        if fee.status.is_subject() {
            subjects.push(Subject {
                account: index,
                fee: fee.clone(),
                usd_to_base: rate,
            });
        }
        fees.push(Some(fee));
    }
    timings.0.push(("fees", fee_start.elapsed()));

    // Reports of the subject accounts.
    let reports = if args.no_reports {
        Vec::new()
    } else {
        let spinner = output.spinner("reports and adjustments");
        let reports = timings.time("reports", || {
            build_reports(&evaluation, &subjects, context, &batch.market)
        })?;
        spinner.finish_and_clear();
        reports
    };

    // The per-class split of every subject account: the reports' when they
    // were built (the same function made them), else computed alone.
    let class_rows: Vec<Vec<String>> = if args.no_reports {
        timings.time("fees by class", || {
            exfee::fees_by_class_rows(&evaluation, &subjects)
        })?
    } else {
        reports
            .iter()
            .flat_map(|r| {
                r.fee_by_class.iter().map(|(class, fee)| {
                    vec![
                        r.account.clone(),
                        r.base_currency.clone(),
                        class.clone(),
                        fee.to_string(),
                    ]
                })
            })
            .collect()
    };

    // Outputs: every file of the run into a fresh staging folder, published
    // all at once by repointing OUT_DIR/current; the state commits after
    // (see docs/reliability.md).
    let write_start = Instant::now();
    let results_path = args.out.join("results.csv");
    let errors_path = args.out.join("errors.csv");
    let staged = StagedOutputs::begin(&args.out, &date.to_string())?;
    write_outputs(
        staged.dir(),
        &args,
        date,
        &evaluation,
        &batch,
        &fees,
        &reports,
        reconciliation.as_deref(),
    )?;
    write_csv(&staged.dir().join("changes.csv"), &CHANGES_HEADER, changes)?;
    write_csv(
        &staged.dir().join("fees_by_class.csv"),
        &["account", "currency", "class", "daily_fee"],
        class_rows,
    )?;
    super::manifest::write_run_json(
        staged.dir(),
        &super::manifest::RunFacts {
            date,
            date_source,
            scenarios: &args.scenarios,
            source: &source,
            scenario_count: evaluation.scenarios.len(),
            fixed_count: evaluation.scenarios.fixed().len(),
            horizon_days: args.horizon_days,
            shard: args.shard.map(|s| format!("{}/{}", s.index, s.count)),
            fee: args.fee.as_deref(),
            holidays: args.holidays.as_deref(),
            inputs: input_files(&args),
        },
    )?;
    staged.commit()?;
    timings.0.push(("write", write_start.elapsed()));
    pause_for_kill_test();
    night.commit()?;

    summary(
        &args,
        (date, date_source),
        &batch,
        &evaluation,
        &fees,
        &timings,
        started.elapsed(),
        &results_path,
    );
    let failed = evaluation
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .count();
    if failed > 0 || !batch.errors.is_empty() {
        say!(
            "exfee: {failed} account(s) failed and {} row(s) named no account; reasons in {} and {}",
            batch.errors.len(),
            results_path.display(),
            errors_path.display()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes every output of the run into `dir` (the staging folder):
/// `results.csv`, `errors.csv`, `options.csv` and, with reports,
/// `reports/` (each account's files under its safe file stem, and
/// `files.csv` mapping account ids to stems, relative to `reports/`) and
/// `index.html`; with --flex, `reconciliation.csv`. Every CSV cell goes
/// through [`exfee::io::neutralise`].
#[allow(clippy::too_many_arguments)]
fn write_outputs(
    dir: &Path,
    args: &RunArgs,
    date: NaiveDate,
    evaluation: &exfee::Evaluation,
    batch: &Batch,
    fees: &[Option<FeeLine>],
    reports: &[AccountReport],
    reconciliation: Option<&[NavCheck]>,
) -> anyhow::Result<()> {
    write_csv(
        &dir.join("results.csv"),
        &exfee::results_header(),
        evaluation
            .results
            .iter()
            .zip(fees)
            .map(|(result, fee)| exfee::results_row(result, fee.as_ref())),
    )?;
    exfee::io::write_errors(&dir.join("errors.csv"), &batch.errors, &evaluation.results)?;
    exfee::io::write_options(&dir.join("options.csv"), &evaluation.options)?;
    if let Some(checks) = reconciliation {
        exfee::io::write_reconciliation(&dir.join("reconciliation.csv"), checks)?;
    }
    if args.no_reports {
        return Ok(());
    }
    let reports_dir = dir.join("reports");
    std::fs::create_dir_all(&reports_dir)
        .with_context(|| format!("cannot create {}", reports_dir.display()))?;
    let mut entries: Vec<IndexEntry> = Vec::new();
    let mut names: Vec<Vec<String>> = Vec::new();
    // `files` is taken: reports/files.csv is the mapping.
    let mut used = std::collections::HashSet::from([String::from("files")]);
    for report in reports {
        let files = AccountFiles::render(report, args.png)?;
        // Stems are unique by construction (a changed id gets a hash of
        // itself). A stem taken already (an id crafted to equal another's
        // hashed stem, or `files`) goes into a numbered subfolder, where its
        // report still links its charts: no account's files are overwritten.
        let mut folder = String::new();
        let mut n = 1;
        while !used.insert(format!("{folder}{}", files.stem)) {
            n += 1;
            folder = format!("{n}/");
        }
        let target = reports_dir.join(&folder);
        std::fs::create_dir_all(&target)
            .with_context(|| format!("cannot create {}", target.display()))?;
        for (name, bytes) in files.files() {
            let path = target.join(&name);
            if name.ends_with(".csv") {
                // The report's CSV, with every cell neutralised as ours are.
                let text = neutralise_csv(&String::from_utf8_lossy(bytes))
                    .with_context(|| format!("report CSV {name}"))?;
                write_atomically(&path, |out| out.write_all(text.as_bytes()))?;
            } else {
                write_atomically(&path, |out| out.write_all(bytes))?;
            }
        }
        names.push(vec![
            report.account.clone(),
            format!("{folder}{}", files.stem),
        ]);
        let mut entry = files.index_entry(report, &format!("reports/{folder}"));
        entry.daily_fee_usd = report
            .base_currency
            .parse::<Currency>()
            .ok()
            .and_then(|c| in_usd(batch, c, report.daily_fee));
        entries.push(entry);
    }
    // Ranked by the daily fee in USD (amounts in different currencies are
    // not comparable as they are).
    entries.sort_by(|a, b| {
        b.daily_fee_usd
            .cmp(&a.daily_fee_usd)
            .then(a.account.cmp(&b.account))
    });
    write_csv(
        &reports_dir.join("files.csv"),
        &["account", "file_stem"],
        names,
    )?;
    let title = format!("exfee: accounts subject to the exposure fee on {date}");
    let page = index_html(&entries, &title);
    write_atomically(&dir.join("index.html"), |out| {
        out.write_all(page.as_bytes())
    })?;
    Ok(())
}

/// Test hook of the kill test (tests/integration/reliability.rs): with
/// `EXFEE_TEST_PAUSE_AFTER_PUBLISH_MS` set, waits that long between
/// publishing the outputs and committing the state, so the test can kill a
/// run inside that window. Unset (always, outside that test), it does nothing.
fn pause_for_kill_test() {
    if let Some(ms) = std::env::var("EXFEE_TEST_PAUSE_AFTER_PUBLISH_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// Why a run of `date` is refused when the state holds nights up to
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

/// `amount` of `currency` in USD, to cents; `None` without a rate or when
/// the product overflows a `Decimal`.
fn in_usd(batch: &Batch, currency: Currency, amount: Decimal) -> Option<Decimal> {
    let rate = batch.market.fx_rate(currency, Currency::USD).ok()?;
    amount.checked_mul(rate).map(exfee::model::cents)
}

/// Sums per-account amounts converted to USD, in words: the sum to cents, or
/// why there is none (checked arithmetic: never a panic).
fn total_usd(batch: &Batch, amounts: impl Iterator<Item = (Currency, Decimal)>) -> String {
    let mut total = Decimal::ZERO;
    for (base, amount) in amounts {
        if batch.market.fx_rate(base, Currency::USD).is_err() {
            return format!("n/a (no USD rate for {base})");
        }
        let Some(usd) = in_usd(batch, base, amount) else {
            return "too large to total".to_string();
        };
        let Some(sum) = total.checked_add(usd) else {
            return "too large to total".to_string();
        };
        total = sum;
    }
    exfee::model::cents(total).to_string()
}

#[allow(clippy::too_many_arguments)]
fn summary(
    args: &RunArgs,
    (date, date_source): (NaiveDate, super::manifest::DateSource),
    batch: &Batch,
    evaluation: &exfee::Evaluation,
    fees: &[Option<FeeLine>],
    timings: &Timings,
    wall: Duration,
    results_path: &Path,
) {
    let results = &evaluation.results;
    let failed = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .count();
    let lines: Vec<(&exfee::AccountResult, &FeeLine)> = results
        .iter()
        .zip(fees)
        .filter_map(|(r, f)| f.as_ref().map(|f| (r, f)))
        .collect();
    let uncovered: Vec<(Currency, Decimal)> = lines
        .iter()
        .filter(|(_, f)| f.uncovered > Decimal::ZERO)
        .filter_map(|(r, f)| r.base_currency.map(|c| (c, f.uncovered)))
        .collect();
    let charged: Vec<(Currency, Decimal)> = lines
        .iter()
        .filter(|(_, f)| f.amount_posted > Decimal::ZERO)
        .filter_map(|(r, f)| r.base_currency.map(|c| (c, f.amount_posted)))
        .collect();
    let grace = lines
        .iter()
        .filter(|(_, f)| matches!(f.status, FeeStatus::Grace { .. }))
        .count();
    let source = match (&args.drop_dir, args.flex.is_empty()) {
        (_, false) => format!("{} Flex file(s)", args.flex.len()),
        (Some(dir), true) => dir.display().to_string(),
        (None, true) => String::new(),
    };
    let shard = args
        .shard
        .map(|s| format!(" (shard {}/{})", s.index, s.count))
        .unwrap_or_default();
    say!("exfee run {source}{shard}");
    say!(
        "  {:<24}{:>16}  ({})",
        "valuation date",
        date.to_string(),
        date_source.describe()
    );
    say!("  {:<24}{:>16}", "accounts read", results.len());
    say!("  {:<24}{:>16}", "evaluated", results.len() - failed);
    say!("  {:<24}{:>16}", "failed", failed);
    say!("  {:<24}{:>16}", "with uncovered loss", uncovered.len());
    say!("  {:<24}{:>16}", "in grace week", grace);
    say!("  {:<24}{:>16}", "charged", charged.len());
    say!(
        "  {:<24}{:>16} USD",
        "total uncovered",
        total_usd(batch, uncovered.iter().copied())
    );
    say!(
        "  {:<24}{:>16} USD",
        "total fees charged",
        total_usd(batch, charged.iter().copied())
    );
    say!(
        "  {:<24}{:>16}  ({} fixed stress)",
        "scenarios",
        evaluation.scenarios.len(),
        evaluation.scenarios.fixed().len()
    );
    say!("  {:<24}{:>16.2} s", "wall time", wall.as_secs_f64());
    for (stage, time) in &timings.0 {
        say!("    {:<22}{:>16.2} s", stage, time.as_secs_f64());
    }
    // Ranked by the daily fee in USD: amounts in different currencies are
    // not comparable as they are (an account with no USD figure goes last).
    let mut top: Vec<(&exfee::AccountResult, &FeeLine, Option<Decimal>)> = lines
        .iter()
        .filter(|(_, f)| f.breakdown.daily_fee > Decimal::ZERO)
        .map(|&(r, f)| {
            let usd = r
                .base_currency
                .and_then(|c| in_usd(batch, c, f.breakdown.daily_fee));
            (r, f, usd)
        })
        .collect();
    top.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.account.cmp(&b.0.account)));
    if !top.is_empty() {
        say!("  top accounts by daily fee (ranked in USD):");
        say!(
            "    {:<20}{:>8}{:>16}{:>12}{:>10}{:>14}",
            "account",
            "status",
            "uncovered",
            "daily fee",
            "charged",
            "daily fee USD"
        );
        for (result, fee, usd) in top.iter().take(10) {
            let base = result
                .base_currency
                .map(|c| c.to_string())
                .unwrap_or_default();
            let mut id = result.account.clone();
            if id.chars().count() > 19 {
                id = id.chars().take(18).collect::<String>() + "…";
            }
            let usd = usd.map_or_else(|| "n/a".to_string(), |u| u.to_string());
            say!(
                "    {:<20}{:>8}{:>16}{:>12}{:>10} {base}{usd:>14}",
                id,
                fee.status.name(),
                fee.uncovered,
                fee.breakdown.daily_fee,
                fee.amount_posted
            );
        }
    }
    say!("  results: {}", results_path.display());
}
