//! `exfee run`: the nightly batch.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDate;
use exfee::io::{DropPaths, read_drop, write_errors, write_options, write_results};
use exfee::{Batch, Currency, Decimal, EngineConfig, Outcome, evaluate_batch};

use super::ScenarioArgs;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The drop folder (accounts.csv, positions.csv, cash.csv, market/…).
    #[arg(value_name = "DROP_DIR")]
    drop_dir: PathBuf,
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
    /// Valuation date (YYYY-MM-DD): options' time to expiry counts from it. Default: today (UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<NaiveDate>,
    /// Stress horizon in calendar days (options reprice this much closer to expiry).
    #[arg(long, value_name = "DAYS", default_value_t = 0)]
    horizon_days: u32,
}

impl RunArgs {
    fn paths(&self) -> DropPaths {
        let mut paths = DropPaths::in_dir(&self.drop_dir);
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

/// The total of per-account amounts in USD, each converted from its base.
fn total_usd(batch: &Batch, amounts: impl Iterator<Item = (Currency, Decimal)>) -> Decimal {
    amounts
        .map(|(base, amount)| {
            batch
                .market
                .fx_rate(base, Currency::USD)
                .map_or(Decimal::ZERO, |rate| amount * rate)
        })
        .sum::<Decimal>()
        .round_dp(2)
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let source = args.scenarios.load()?;
    let batch = read_drop(&args.paths(), source.factor_table())?;
    let mut config =
        EngineConfig::new(args.date.unwrap_or_else(|| chrono::Utc::now().date_naive()));
    config.memory_budget_bytes = args.memory_budget.saturating_mul(1 << 20);
    config.horizon_days = args.horizon_days;
    let evaluation = evaluate_batch(&batch, &source, &config)?;

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let results_path = args.out.join("results.csv");
    let errors_path = args.out.join("errors.csv");
    write_errors(&errors_path, &batch.errors, &evaluation.results)?;
    write_options(&args.out.join("options.csv"), &evaluation.options)?;
    write_results(&results_path, &evaluation.results)?;

    let results = &evaluation.results;
    let failed = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .count();
    let uncovered: Vec<(Currency, Decimal)> = results
        .iter()
        .filter_map(|r| match (&r.outcome, r.base_currency) {
            (Outcome::Evaluated(risk), Some(base)) if risk.uncovered > Decimal::ZERO => {
                Some((base, risk.uncovered))
            }
            _ => None,
        })
        .collect();
    println!("exfee run {}", args.drop_dir.display());
    println!("  accounts read        {:>10}", results.len());
    println!("  evaluated            {:>10}", results.len() - failed);
    println!("  failed               {:>10}", failed);
    println!("  with uncovered loss  {:>10}", uncovered.len());
    println!(
        "  total uncovered      {:>14} USD",
        total_usd(&batch, uncovered.iter().copied())
    );
    println!(
        "  scenarios            {:>10}  ({} fixed stress)",
        evaluation.scenarios.len(),
        evaluation.scenarios.fixed().len()
    );
    println!(
        "  wall time            {:>10.2} s",
        started.elapsed().as_secs_f64()
    );
    println!("  results              {}", results_path.display());
    if failed > 0 || !batch.errors.is_empty() {
        println!(
            "exfee: {failed} account(s) failed and {} row(s) named no account; reasons in {} and {}",
            batch.errors.len(),
            results_path.display(),
            errors_path.display()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
