//! `exfee evaluate`: the stateless half of the night, written as Parquet
//! (docs/scaling.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use exfee::Outcome;
use exfee::night::{self, EVALUATION_FILE_SUFFIX};

use super::Output;
use super::run::{InputArgs, evaluate_inputs};

#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    input: InputArgs,
    /// The folder the evaluation file goes into (created if needed):
    /// `shard-I-of-N.evaluation.parquet` (`all.evaluation.parquet` without --shard).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// The name of a shard's evaluation file.
pub fn file_name(shard: Option<exfee::Shard>) -> String {
    match shard {
        Some(s) => format!("shard-{}-of-{}{EVALUATION_FILE_SUFFIX}", s.index, s.count),
        None => format!("all{EVALUATION_FILE_SUFFIX}"),
    }
}

pub fn run(args: EvaluateArgs, output: &Output) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let evaluated = evaluate_inputs(&args.input, output, |_| Ok(()))?;
    if evaluated.reconciliation.is_some() {
        eprintln!(
            "exfee: warning: the Flex NAV reconciliation (reconciliation.csv) is written by \
             `exfee run` only, not by evaluate and charge"
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let path = args.out.join(file_name(args.input.shard));
    let write = Instant::now();
    night::write_evaluation(&path, &evaluated.night)?;
    let night = &evaluated.night;
    let failed = night
        .accounts
        .iter()
        .filter(|a| matches!(a.result.outcome, Outcome::Failed(_)))
        .count();
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    say!("exfee evaluate {}", path.display());
    say!(
        "  {:<24}{:>16}",
        "valuation date",
        evaluated.date.to_string()
    );
    say!("  {:<24}{:>16}", "accounts", night.accounts.len());
    say!("  {:<24}{:>16}", "failed", failed);
    say!(
        "  {:<24}{:>16}",
        "subject (reports)",
        night.subjects.accounts.len()
    );
    say!(
        "  {:<24}{:>16}  ({} fixed stress)",
        "scenarios",
        night.facts.scenario_count,
        night.facts.fixed_count
    );
    say!("  {:<24}{:>16}", "bytes written", bytes);
    say!(
        "  {:<24}{:>16.2} s",
        "wall time",
        started.elapsed().as_secs_f64()
    );
    for (stage, time) in &evaluated.timings.0 {
        say!("    {:<22}{:>16.2} s", stage, time.as_secs_f64());
    }
    say!(
        "    {:<22}{:>16.2} s",
        "write",
        write.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
