//! `exfee charge`: the stateful half of the night, over the evaluation
//! files of `exfee evaluate` (docs/scaling.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use chrono::NaiveDate;
use exfee::night;

use super::manifest::DateSource;
use super::run::{EXIT_CODES, Timings, finish, read_calendar, read_schedule};
use super::{Output, ScenarioArgs};

#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct ChargeArgs {
    /// Evaluation files, or folders of them (every *.evaluation.parquet), of one night: together
    /// they must hold every account once.
    #[arg(long, value_name = "DIR", num_args = 1.., required = true)]
    evaluations: Vec<PathBuf>,
    /// The night charged: the date the accounts were evaluated at.
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: NaiveDate,
    /// The nightly state database (grace weeks, fee ledger). Default: OUT_DIR/state.sqlite.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Output folder (created if needed).
    #[arg(long, value_name = "OUT_DIR")]
    out: PathBuf,
    /// The scenario set the accounts were evaluated with (the reports re-value the subject
    /// accounts holding by holding under it; a different set is refused).
    #[command(flatten)]
    scenarios: ScenarioArgs,
    /// The fee schedule (TOML): the one the accounts were evaluated with. Default: the
    /// built-in crates/fee/default-fee.toml.
    #[arg(long, value_name = "FILE")]
    fee: Option<PathBuf>,
    #[command(flatten)]
    night: NightFlags,
}

/// The flags of the charge half that `exfee run` and `exfee charge` share.
#[derive(Debug, clap::Args)]
pub(super) struct NightFlags {
    /// Holidays (one YYYY-MM-DD per line): with weekends, they decide trading days.
    #[arg(long, value_name = "FILE")]
    pub(super) holidays: Option<PathBuf>,
    /// Do not write the per-account reports and charts.
    #[arg(long)]
    pub(super) no_reports: bool,
    /// Also write PNG charts beside the SVG ones.
    #[arg(long)]
    pub(super) png: bool,
    /// Allow a date earlier than the state's latest night: the later nights (and their charges)
    /// are removed from the state in the same transaction, and must be run again, in order.
    #[arg(long)]
    pub(super) rewrite_history: bool,
}

pub fn run(args: ChargeArgs, output: &Output) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut timings = Timings::default();
    let source = args.scenarios.load()?;
    let schedule = read_schedule(args.fee.as_deref())?;
    let calendar = read_calendar(args.night.holidays.as_deref())?;
    let state_path = args
        .state
        .clone()
        .unwrap_or_else(|| args.out.join("state.sqlite"));
    night::check_date(&state_path, args.date, args.night.rewrite_history)?;
    let files = night::evaluation_files(&args.evaluations)?;
    let spinner = output.spinner("reading evaluations");
    let evaluated = timings.time("read evaluations", || {
        night::read_evaluations(&files, source.factor_table())
    })?;
    spinner.finish_and_clear();
    anyhow::ensure!(
        evaluated.facts.date == args.date,
        "the accounts were evaluated at {}, not at --date {}",
        evaluated.facts.date,
        args.date
    );
    let named = |draws: Option<(u64, u32)>| {
        draws.map_or("the fixed stress set".to_string(), |(seed, version)| {
            format!("seed {seed}, draw_version {version}")
        })
    };
    anyhow::ensure!(
        evaluated.facts.draws == source.draws(),
        "the accounts were evaluated with the scenario draws of {}, the scenario set given has \
         those of {}: charge with the scenario set the accounts were evaluated with",
        named(evaluated.facts.draws),
        named(source.draws())
    );
    let spinner = output.spinner("fees, reports and outputs");
    let charged = night::charge(
        &evaluated,
        &source,
        &night::ChargeSettings {
            out: &args.out,
            date: args.date,
            state: &state_path,
            schedule: &schedule,
            calendar: &calendar,
            rewrite_history: args.night.rewrite_history,
            reports: !args.night.no_reports,
            png: args.night.png,
            reconciliation: None,
        },
        |dir| {
            super::manifest::write_run_json(
                dir,
                &super::manifest::RunFacts {
                    date: args.date,
                    date_source: DateSource::Flag,
                    scenarios: &args.scenarios,
                    source: &source,
                    scenario_count: evaluated.facts.scenario_count,
                    fixed_count: evaluated.facts.fixed_count,
                    horizon_days: evaluated.facts.horizon_days,
                    shard: None,
                    fee: args.fee.as_deref(),
                    holidays: args.night.holidays.as_deref(),
                    inputs: files.iter().map(|f| ("evaluation", f.clone())).collect(),
                },
            )
        },
        || {},
    )?;
    spinner.finish_and_clear();
    timings.0.extend(charged.timings.iter().copied());
    let title = format!("exfee charge ({} evaluation file(s))", files.len());
    Ok(finish(
        &title,
        (args.date, DateSource::Flag),
        &evaluated,
        &charged.fees,
        &timings,
        started.elapsed(),
        &args.out,
    ))
}
