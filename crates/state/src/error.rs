use chrono::NaiveDate;
use exfee_fee::FeeStatus;
use std::path::PathBuf;

/// Why the state database could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file could not be opened or set up as a state database (not a
    /// SQLite file, no permission, locked, …).
    #[error("state database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The database was written by a newer exfee, with a schema this one
    /// does not know.
    #[error(
        "state database {path} has schema version {found}; this exfee reads version {supported}"
    )]
    UnsupportedSchema {
        /// The database file.
        path: PathBuf,
        /// The version found (`PRAGMA user_version`).
        found: i64,
        /// The version this build reads and writes.
        supported: i64,
    },
    /// A SQLite file without exfee's tables and schema version (an empty
    /// file, another program's database), opened for reading.
    #[error(
        "{path} is not an exfee state database (no exfee schema version or tables); nothing was written to it"
    )]
    NotAState {
        /// The file.
        path: PathBuf,
    },
    /// A statement failed (disk full, locked by another process, …). The
    /// run's transaction is rolled back when the run is dropped.
    #[error("state database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A valuation date outside the years 1 to 9999, which would not sort as
    /// `YYYY-MM-DD` text.
    #[error("valuation date {0} is outside the years 1 to 9999")]
    DateOutOfRange(NaiveDate),
    /// A night's record is not acceptable (negative money, an amount charged
    /// on a night that is not charged, …).
    #[error("account {account:?}: {reason}")]
    InvalidRecord {
        /// The account.
        account: String,
        /// What is wrong.
        reason: String,
    },
    /// The status recorded for a night is not the one the grace rules give
    /// from the account's history: the caller computed it from another
    /// state or other rules.
    #[error(
        "account {account:?} on {date}: recorded status {recorded:?}, but its history and the grace rules give {expected:?}"
    )]
    StatusMismatch {
        /// The account.
        account: String,
        /// The night.
        date: NaiveDate,
        /// The status the caller recorded.
        recorded: FeeStatus,
        /// The status [`exfee_fee::next_state`] gives.
        expected: FeeStatus,
    },
    /// A stored value cannot be read back (the file was edited by hand or
    /// damaged).
    #[error("state database: table {table}, account {account:?}: bad {column} {value:?}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The account of the row.
        account: String,
        /// The column.
        column: &'static str,
        /// The stored text.
        value: String,
    },
    /// The account's ledger holds charges in more than one currency, so they
    /// have no single total.
    #[error("account {account:?}: ledger has charges in {first} and in {second}; no single total")]
    MixedCurrencies {
        /// The account.
        account: String,
        /// One currency.
        first: String,
        /// Another.
        second: String,
    },
    /// The total of the account's charges is beyond `Decimal`'s range.
    #[error("account {account:?}: the total charged overflows")]
    Overflow {
        /// The account.
        account: String,
    },
}
