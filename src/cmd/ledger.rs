//! `exfee ledger`: the fee ledger of a state file, one row per account and
//! calendar day charged.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use exfee::io::write_csv;
use exfee::state::StateDb;

#[derive(Debug, clap::Args)]
pub struct LedgerArgs {
    /// The nightly state database (only read: never created, migrated or written).
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    /// First calendar day (YYYY-MM-DD), inclusive (compared as a date, any year).
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
    let path = &args.state;
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!("state database {} does not exist", path.display())
        }
        Err(e) => anyhow::bail!("state database {}: {e}", path.display()),
        Ok(m) if m.is_dir() => anyhow::bail!(
            "state database {} is a directory, not a state file",
            path.display()
        ),
        Ok(m) if !m.is_file() => {
            anyhow::bail!("state database {} is not a regular file", path.display())
        }
        Ok(_) => {}
    }
    // A report: the state is only read, never created, migrated or written.
    let db = StateDb::open_read_only(path)?;
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
