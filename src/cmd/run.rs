//! `exfee run`: the nightly batch.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDate;
use exfee::fee::{FeeSchedule, FeeStatus, TradingCalendar};
use exfee::io::{DropPaths, NavCheck, NavTolerance, read_drop, read_market};
use exfee::night::{self, NightEvaluation};
use exfee::{Batch, Currency, Decimal, EngineConfig, FeeLine, MarketData, Outcome, Shard};

use super::charge::NightFlags;
use super::{Output, ScenarioArgs};

/// The inputs of a night and how they are evaluated: `exfee run` and
/// `exfee evaluate` take the same.
#[derive(Debug, clap::Args)]
pub struct InputArgs {
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
    /// The fee schedule (TOML). Default: the built-in crates/fee/default-fee.toml.
    #[arg(long, value_name = "FILE")]
    fee: Option<PathBuf>,
    /// Evaluate only shard I of N (a stable hash of the account id), with exactly the
    /// scenarios of the full run.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub(super) shard: Option<Shard>,
}

#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct RunArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Output folder (created if needed).
    #[arg(long, value_name = "OUT_DIR", default_value = "out")]
    out: PathBuf,
    /// The nightly state database (grace weeks, fee ledger). Default: OUT_DIR/state.sqlite.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    #[command(flatten)]
    night: NightFlags,
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

impl InputArgs {
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

/// Stage timings for the summary.
#[derive(Default)]
pub(super) struct Timings(pub(super) Vec<(&'static str, Duration)>);

impl Timings {
    pub(super) fn time<T>(&mut self, stage: &'static str, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let value = f();
        self.0.push((stage, start.elapsed()));
        value
    }
}

pub(super) fn read_text(path: &Path) -> anyhow::Result<String> {
    // One bounded reader for configuration files (docs/reliability.md).
    Ok(exfee::io::read_bounded_text(
        path,
        exfee::io::MAX_CONFIG_BYTES,
    )?)
}

/// The fee schedule of `--fee` (TOML, through the bounded reader), or the
/// built-in one.
pub(super) fn read_schedule(path: Option<&Path>) -> anyhow::Result<FeeSchedule> {
    let Some(path) = path else {
        return Ok(FeeSchedule::default());
    };
    FeeSchedule::from_toml_str(&read_text(path)?)
        .with_context(|| format!("fee schedule {}", path.display()))
}

/// The trading calendar of `--holidays` (through the bounded reader), or
/// weekends only.
pub(super) fn read_calendar(path: Option<&Path>) -> anyhow::Result<TradingCalendar> {
    let Some(path) = path else {
        return Ok(TradingCalendar::default());
    };
    TradingCalendar::parse_holidays(&read_text(path)?)
        .with_context(|| format!("holidays {}", path.display()))
}

/// Every input file (or Flex folder) of the run, with its role, for
/// `run.json`.
fn input_files(args: &InputArgs) -> Vec<(&'static str, PathBuf)> {
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
    args: &InputArgs,
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

/// The inputs of a night, read and evaluated: what `exfee run` charges and
/// `exfee evaluate` writes.
pub(super) struct Evaluated {
    pub source: exfee::ScenarioSource,
    pub schedule: FeeSchedule,
    pub date: NaiveDate,
    pub date_source: super::manifest::DateSource,
    pub reconciliation: Option<Vec<NavCheck>>,
    pub night: NightEvaluation,
    pub timings: Timings,
}

/// Reads the inputs `args` name and evaluates them (the stateless half);
/// `check` sees the valuation date before the evaluation starts (to refuse
/// a night early).
pub(super) fn evaluate_inputs(
    args: &InputArgs,
    output: &Output,
    check: impl FnOnce(NaiveDate) -> anyhow::Result<()>,
) -> anyhow::Result<Evaluated> {
    let mut timings = Timings::default();
    let source = args.scenarios.load()?;
    let schedule = read_schedule(args.fee.as_deref())?;
    let spinner = output.spinner("reading inputs");
    let (full, input_dates, reconciliation) =
        timings.time("read", || read_inputs(args, &source))?;
    let (date, date_source) = valuation_date(args.date, &input_dates);
    check(date)?;
    spinner.finish_and_clear();
    let positions: usize = full.accounts.iter().map(|a| a.positions.len()).sum();
    tracing::info!(accounts = full.accounts.len(), positions, "read inputs");

    let mut config = EngineConfig::new(date);
    config.memory_budget_bytes = args.memory_budget.saturating_mul(1 << 20);
    config.horizon_days = args.horizon_days;
    let bar = output.bar("revaluation", "scenarios");
    let progress = |done: usize, all: usize| {
        bar.set_length(all as u64);
        bar.set_position(done as u64);
        output.log_progress("revaluation", done, all);
    };
    let night = timings.time("scenarios + revaluation", || {
        night::evaluate(
            full,
            &night::EvaluateSettings {
                source: &source,
                config: &config,
                schedule: &schedule,
                shard: args.shard,
                progress: Some(&progress),
            },
        )
    })?;
    bar.finish_and_clear();
    // Preparing the accounts (checks, NLVs, shared legs, options priced at
    // their base) is a stage of its own, inside the evaluation: shown before
    // the rest of it.
    if let Some(preparation) = night.preparation
        && let Some((_, evaluation)) = timings.0.pop()
    {
        timings.0.push(("prepare", preparation));
        timings.0.push((
            "scenarios + revaluation",
            evaluation.saturating_sub(preparation),
        ));
    }
    Ok(Evaluated {
        source,
        schedule,
        date,
        date_source,
        reconciliation,
        night,
        timings,
    })
}

/// What the summary's first line names as the night's source.
fn source_line(args: &InputArgs) -> String {
    let source = match (&args.drop_dir, args.flex.is_empty()) {
        (_, false) => format!("{} Flex file(s)", args.flex.len()),
        (Some(dir), true) => dir.display().to_string(),
        (None, true) => String::new(),
    };
    let shard = args
        .shard
        .map(|s| format!(" (shard {}/{})", s.index, s.count))
        .unwrap_or_default();
    format!("{source}{shard}")
}

pub fn run(args: RunArgs, output: &Output) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let calendar = read_calendar(args.night.holidays.as_deref())?;
    let state_path = args
        .state
        .clone()
        .unwrap_or_else(|| args.out.join("state.sqlite"));
    // Refused before the evaluation; checked again in the state's
    // transaction by the charge (another run may have written meanwhile).
    let Evaluated {
        source,
        schedule,
        date,
        date_source,
        reconciliation,
        night: evaluated,
        mut timings,
    } = evaluate_inputs(&args.input, output, |date| {
        night::check_date(&state_path, date, args.night.rewrite_history)
    })?;
    let input = &args.input;
    let spinner = output.spinner("fees, reports and outputs");
    let charged = night::charge(
        &evaluated,
        &source,
        &night::ChargeSettings {
            out: &args.out,
            date,
            state: &state_path,
            schedule: &schedule,
            calendar: &calendar,
            rewrite_history: args.night.rewrite_history,
            reports: !args.night.no_reports,
            png: args.night.png,
            reconciliation: reconciliation.as_deref(),
        },
        |dir| {
            super::manifest::write_run_json(
                dir,
                &super::manifest::RunFacts {
                    date,
                    date_source,
                    scenarios: &input.scenarios,
                    source: &source,
                    scenario_count: evaluated.facts.scenario_count,
                    fixed_count: evaluated.facts.fixed_count,
                    horizon_days: input.horizon_days,
                    shard: input.shard.map(|s| format!("{}/{}", s.index, s.count)),
                    fee: input.fee.as_deref(),
                    holidays: args.night.holidays.as_deref(),
                    inputs: input_files(input),
                },
            )
        },
        pause_for_kill_test,
    )?;
    spinner.finish_and_clear();
    timings.0.extend(charged.timings.iter().copied());
    let title = format!("exfee run {}", source_line(input));
    Ok(finish(
        &title,
        (date, date_source),
        &evaluated,
        &charged.fees,
        &timings,
        started.elapsed(),
        &args.out,
    ))
}

/// Prints the summary of a charged night and says which exit code it
/// earns (1 when an account or a row failed).
pub(super) fn finish(
    title: &str,
    date: (NaiveDate, super::manifest::DateSource),
    evaluated: &NightEvaluation,
    fees: &[Option<FeeLine>],
    timings: &Timings,
    wall: Duration,
    out: &Path,
) -> ExitCode {
    let results_path = out.join("results.csv");
    let errors_path = out.join("errors.csv");
    summary(title, date, evaluated, fees, timings, wall, &results_path);
    let failed = evaluated
        .accounts
        .iter()
        .filter(|a| matches!(a.result.outcome, Outcome::Failed(_)))
        .count();
    let unnamed = evaluated.facts.batch_errors.len();
    if failed > 0 || unnamed > 0 {
        say!(
            "exfee: {failed} account(s) failed and {unnamed} row(s) named no account; reasons in {} and {}",
            results_path.display(),
            errors_path.display()
        );
    }
    super::finished(failed > 0 || unnamed > 0)
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

/// Sums per-account amounts converted to USD, in words: the sum to cents, or
/// why there is none (checked arithmetic: never a panic).
fn total_usd(market: &MarketData, amounts: impl Iterator<Item = (Currency, Decimal)>) -> String {
    let mut total = Decimal::ZERO;
    for (base, amount) in amounts {
        if market.fx_rate(base, Currency::USD).is_err() {
            return format!("n/a (no USD rate for {base})");
        }
        let Some(usd) = night::in_usd(market, base, amount) else {
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
    title: &str,
    (date, date_source): (NaiveDate, super::manifest::DateSource),
    night: &NightEvaluation,
    fees: &[Option<FeeLine>],
    timings: &Timings,
    wall: Duration,
    results_path: &Path,
) {
    let market = &night.subjects.market;
    let results: Vec<&exfee::AccountResult> = night.accounts.iter().map(|a| &a.result).collect();
    let failed = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .count();
    let lines: Vec<(&exfee::AccountResult, &FeeLine)> = results
        .iter()
        .copied()
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
    say!("{title}");
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
        total_usd(market, uncovered.iter().copied())
    );
    say!(
        "  {:<24}{:>16} USD",
        "total fees charged",
        total_usd(market, charged.iter().copied())
    );
    say!(
        "  {:<24}{:>16}  ({} fixed stress)",
        "scenarios",
        night.facts.scenario_count,
        night.facts.fixed_count
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
                .and_then(|c| night::in_usd(market, c, f.breakdown.daily_fee));
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
