//! `exfee synth`: a realistic synthetic drop of any size.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use chrono::NaiveDate;
use exfee::synth::{SynthConfig, synthesize};

#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Number of accounts.
    #[arg(long, value_name = "N")]
    accounts: usize,
    /// Seed: the same seed gives the same drop.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Output drop folder.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Valuation date the option expiries are set from. Default: today (UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<NaiveDate>,
    /// Mean positions per account.
    #[arg(long, value_name = "N", default_value_t = 20.0)]
    mean_positions: f64,
}

pub fn run(args: SynthArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let date = args.date.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let mut config = SynthConfig::new(args.accounts, args.seed, date);
    config.mean_positions = args.mean_positions.max(1.0);
    let batch = synthesize(&config);
    exfee::io::write_drop(&args.out, &batch)?;
    let positions: usize = batch.accounts.iter().map(|a| a.positions.len()).sum();
    let cash: usize = batch.accounts.iter().map(|a| a.cash.len()).sum();
    say!(
        "exfee synth: {} accounts, {positions} positions, {cash} cash balances (seed {}, valued {date}) in {} ({:.1} s)",
        batch.accounts.len(),
        args.seed,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
