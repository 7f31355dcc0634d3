//! Subcommands. Exit codes: 0 all accounts evaluated; 1 the run finished but
//! some accounts (or rows) failed; 2 the run could not be done (bad usage, an
//! unreadable file or missing column, an unwritable output).

mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use exfee::ScenarioTables;

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
}

/// Runs the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(args),
    }
}

/// Where the factor and FX tables come from.
#[derive(Debug, clap::Args)]
pub struct TableArgs {
    /// Use the pre-2018 (legacy) factor and FX tables instead of the current ones.
    #[arg(long)]
    legacy: bool,
    /// A factor table CSV (factor,representative_product,symbol,lower_bound_pct,upper_bound_pct).
    #[arg(long, value_name = "FILE")]
    factor_table: Option<PathBuf>,
    /// An FX table CSV (currency,lower_bound_pct,upper_bound_pct).
    #[arg(long, value_name = "FILE")]
    fx_table: Option<PathBuf>,
}

impl TableArgs {
    /// The tables to use: the shipped ones, each replaced by a file if given.
    pub fn load(&self) -> anyhow::Result<ScenarioTables> {
        let mut tables = if self.legacy {
            ScenarioTables::legacy()
        } else {
            ScenarioTables::current()
        };
        if let Some(path) = &self.factor_table {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            tables.factors = exfee::io::parse_factor_table(
                &path.display().to_string(),
                std::io::BufReader::new(file),
            )?;
        }
        if let Some(path) = &self.fx_table {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            tables.fx = exfee::io::parse_fx_table(
                &path.display().to_string(),
                std::io::BufReader::new(file),
            )?;
        }
        Ok(tables)
    }
}
