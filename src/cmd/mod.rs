//! Subcommands. Exit codes: 0 all accounts evaluated; 1 the run finished but
//! some accounts (or rows) failed; 2 the run could not be done (bad usage, an
//! unreadable file or missing column, an unwritable output).

/// Prints one line of a command's human-readable summary to standard output.
/// A closed pipe (`exfee run | head`) is not an error of the command: by the
/// time a summary prints, the outputs are published and the state committed,
/// so the line is dropped instead of panicking as `println!` does.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        #[allow(clippy::let_underscore_must_use, reason = "a closed stdout drops the line")]
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod backtest;
mod bench;
mod calibrate;
mod charge;
mod evaluate;
mod ledger;
mod manifest;
mod run;
mod scenarios;
mod serve;
mod synth;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use exfee::ScenarioSource;

/// Monte Carlo exposure-fee risk engine.
#[derive(Debug, Parser)]
#[command(name = "exfee", version, about, long_about = None, after_help = run::EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// No progress bars and no log lines (errors and the summary still print).
    #[arg(long, short, global = true)]
    quiet: bool,
    /// More log detail (-v: debug, -vv: trace).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// How a command shows what it is doing: progress bars on a terminal, plain
/// log lines (tracing, on stderr) otherwise.
pub struct Output {
    terminal: bool,
    quiet: bool,
    logged: std::sync::atomic::AtomicU64,
}

impl Output {
    fn new(quiet: bool, verbose: u8) -> Self {
        use std::io::IsTerminal;
        let terminal = std::io::stderr().is_terminal();
        let level = match (quiet, verbose) {
            (true, _) => "error",
            (false, 0) if terminal => "warn",
            (false, 0) => "info",
            (false, 1) => "debug",
            _ => "trace",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_env("EXFEE_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
        // A second initialisation (tests) is harmless: keep the first.
        #[allow(clippy::let_underscore_must_use, reason = "the first subscriber stays")]
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_ansi(terminal)
            .try_init();
        Output {
            terminal,
            quiet,
            logged: std::sync::atomic::AtomicU64::new(u64::MAX),
        }
    }

    fn show_bars(&self) -> bool {
        self.terminal && !self.quiet
    }

    /// A spinner for a stage of unknown length (hidden off a terminal).
    pub fn spinner(&self, stage: &str) -> indicatif::ProgressBar {
        if !self.show_bars() {
            tracing::info!("{stage}");
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(stage.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }

    /// A progress bar counting `unit` (hidden off a terminal).
    pub fn bar(&self, stage: &str, unit: &str) -> indicatif::ProgressBar {
        if !self.show_bars() {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(0);
        let style = indicatif::ProgressStyle::with_template(&format!(
            "{{msg:>12}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, {{eta}} left)"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(stage.to_string());
        bar
    }

    /// Off a terminal, a log line at every tenth of a stage.
    pub fn log_progress(&self, stage: &str, done: usize, all: usize) {
        if self.show_bars() || all == 0 {
            return;
        }
        let tenth = (done * 10 / all) as u64;
        let previous = self
            .logged
            .swap(tenth, std::sync::atomic::Ordering::Relaxed);
        if previous != tenth {
            tracing::info!("{stage}: {}% ({done}/{all})", tenth * 10);
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate every account of a nightly drop and write results.csv.
    Run(Box<run::RunArgs>),
    /// The stateless half of `run`: evaluate the accounts (or one shard of them) and write the
    /// evaluation as Parquet.
    Evaluate(Box<evaluate::EvaluateArgs>),
    /// The stateful half of `run`: fees, grace, ledger and every output, from evaluation files.
    Charge(Box<charge::ChargeArgs>),
    /// Write a realistic synthetic nightly drop of any size.
    Synth(synth::SynthArgs),
    /// Write a scenario set as CSV (one row per scenario, one column per factor, currency and
    /// held symbol).
    Scenarios(scenarios::ScenariosArgs),
    /// Evaluate a synthetic batch in memory and print the throughput of each stage.
    Bench(bench::BenchArgs),
    /// Serve what-if questions on tonight's batch over HTTP (see docs/serve.md).
    Serve(Box<serve::ServeArgs>),
    /// Estimate a scenario set (correlations, copula, betas, own volatilities) from a price
    /// history.
    Calibrate(calibrate::CalibrateArgs),
    /// Backtest a drop's portfolios against a price history with sets calibrated day by day.
    Backtest(backtest::BacktestArgs),
    /// Write the seeded synthetic price history (GARCH(1,1), Student-t innovations).
    History(calibrate::HistoryArgs),
    /// Write the fee ledger of a state file: one row per account and calendar day charged.
    Ledger(ledger::LedgerArgs),
}

impl Cli {
    /// Whether the command is the long-running what-if service (`serve`),
    /// which keeps the allocator's defaults (src/main.rs).
    pub fn is_service(&self) -> bool {
        matches!(self.command, Command::Serve(_))
    }
}

/// The exit code of a command that finished and wrote its outputs
/// (`exfee --help`): 1 when some accounts (or rows, or account-days) failed,
/// else 0. The one place of the rule for `run`, `charge`, `backtest` and
/// `scenarios`.
pub(crate) fn finished(some_failed: bool) -> ExitCode {
    if some_failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    // An `EXFEE_SIMD` that names no instruction set is refused rather than
    // run uncapped (docs/performance.md).
    exfee::simd::check_env().map_err(anyhow::Error::msg)?;
    let output = Output::new(cli.quiet, cli.verbose);
    match cli.command {
        Command::Run(args) => run::run(*args, &output),
        Command::Evaluate(args) => evaluate::run(*args, &output),
        Command::Charge(args) => charge::run(*args, &output),
        Command::Synth(args) => synth::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Scenarios(args) => scenarios::run(args),
        Command::Serve(args) => serve::run(*args),
        Command::Calibrate(args) => calibrate::run(args),
        Command::Backtest(args) => backtest::run(args, &output),
        Command::History(args) => calibrate::history(args),
        Command::Ledger(args) => ledger::run(args),
    }
}

/// Which scenario set to use.
#[derive(Debug, clap::Args)]
pub struct ScenarioArgs {
    /// A scenario-set configuration (TOML; see docs/methodology.md). Default: the built-in
    /// scenarios/default.toml (10,000 Monte Carlo draws plus every fixed stress scenario).
    #[arg(long, value_name = "FILE", conflicts_with = "legacy")]
    scenario_set: Option<PathBuf>,
    /// Use the built-in legacy set (scenarios/legacy.toml: the pre-2018 bounds).
    #[arg(long)]
    legacy: bool,
    /// Only the fixed stress scenarios of the set's tables (each factor, currency and single
    /// stock at each bound), no Monte Carlo draws.
    #[arg(long)]
    fixed_only: bool,
}

impl ScenarioArgs {
    /// The scenario source these flags name.
    pub fn load(&self) -> anyhow::Result<ScenarioSource> {
        let source = match &self.scenario_set {
            Some(path) => ScenarioSource::MonteCarlo(Box::new(
                exfee::io::read_scenario_spec(path)
                    .with_context(|| format!("scenario set {}", path.display()))?,
            )),
            None if self.legacy => ScenarioSource::legacy_set(),
            None => ScenarioSource::default_set(),
        };
        if let ScenarioSource::MonteCarlo(spec) = &source
            && let Some(repair) = spec.repair()
        {
            eprintln!(
                "exfee: the correlation matrix was not positive semi-definite; repaired to the nearest correlation \
                 matrix (Frobenius change {:.3e}, largest entry change {:.3e})",
                repair.frobenius_change, repair.max_entry_change
            );
        }
        Ok(if self.fixed_only {
            source.fixed_only()
        } else {
            source
        })
    }
}
