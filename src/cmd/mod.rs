//! Subcommands. Exit codes: 0 all accounts evaluated; 1 the run finished but
//! some accounts (or rows) failed; 2 the run could not be done (bad usage, an
//! unreadable file or missing column, an unwritable output).

mod run;
mod synth;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use exfee::ScenarioSource;

/// Monte Carlo exposure-fee risk engine.
#[derive(Debug, Parser)]
#[command(name = "exfee", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate every account of a nightly drop and write results.csv.
    Run(run::RunArgs),
    /// Write a realistic synthetic nightly drop of any size.
    Synth(synth::SynthArgs),
}

/// Runs the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Synth(args) => synth::run(args),
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
