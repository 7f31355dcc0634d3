//! `exfee ledger`: the fee ledger of a state file, one row per account and
//! calendar day charged.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use exfee::io::write_csv;
use exfee::state::StateDb;

#[derive(Debug, clap::Args)]
pub struct LedgerArgs {
    /// The nightly state database.
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    /// First calendar day (YYYY-MM-DD), inclusive.
    #[arg(long, value_name = "YYYY-MM-DD")]
    from: Option<NaiveDate>,
    /// Last calendar day (YYYY-MM-DD), inclusive.
    #[arg(long, value_name = "YYYY-MM-DD")]
    to: Option<NaiveDate>,
    /// Only this account.
    #[arg(long, value_name = "ACCOUNT")]
    account: Option<String>,
    /// The CSV file to write.
    #[arg(long, value_name = "FILE.csv")]
    out: PathBuf,
}

/// The columns, in this order (issue 12).
pub const LEDGER_HEADER: [&str; 7] = [
    "account",
    "currency",
    "day",
    "measured_on",
    "posted_on",
    "amount",
    "basis",
];

pub fn run(args: LedgerArgs) -> anyhow::Result<ExitCode> {
    if !args.state.is_file() {
        anyhow::bail!("state database {} does not exist", args.state.display());
    }
    let db = StateDb::open(&args.state)
        .with_context(|| format!("state database {}", args.state.display()))?;
    let rows = db.ledger_rows(args.from, args.to, args.account.as_deref())?;
    let count = rows.len();
    write_csv(
        &args.out,
        &LEDGER_HEADER,
        rows.into_iter().map(|row| {
            [
                row.account,
                row.currency.to_string(),
                row.day.to_string(),
                row.measured_on.to_string(),
                row.posted_on.to_string(),
                row.amount.to_string(),
                row.basis.name().to_string(),
            ]
        }),
    )?;
    tracing::info!(rows = count, "ledger written to {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
