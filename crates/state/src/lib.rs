//! The exposure fee's nightly state: an embedded SQLite database (rusqlite,
//! bundled) that remembers every account from one nightly run to the next.
//!
//! This crate is the edge that owns the state file; the rules themselves
//! (grace state machine, fee arithmetic, calendar) are the pure functions of
//! `exfee-fee`.
//!
//! - [`StateDb::open`] opens or creates the file.
//! - [`StateDb::begin_run`] starts the night's single transaction; for each
//!   account, [`Run::previous_state`] gives its state as of the nights
//!   strictly before the run's date, the caller decides tonight's status with
//!   [`exfee_fee::assess`], and [`Run::record`] stores the [`NightRecord`]
//!   and posts the calendar days accrued since the last posting (one
//!   [`LedgerRow`] per day, priced by the measurement in force on it).
//!   [`Run::commit`] makes the night durable; anything short of it changes
//!   nothing.
//! - Re-running a date replaces that date's rows (its night and what it
//!   posted): an account is never charged twice for one day.
//! - [`StateDb::ledger`], [`StateDb::ledger_rows`], [`StateDb::total_charged`], [`StateDb::nights`] and
//!   [`StateDb::summary`] read it back for reports.
//!
//! See [`StateDb`] for the tables, the storage formats and crash safety.

// No panic on any input (docs/reliability.md, "Panics and overflow"): no
// `unwrap`, `expect` or `panic!` in production code, and no unchecked
// `Decimal` arithmetic (it panics on overflow); clippy.toml lets primitive
// arithmetic through. The lib is checked without cfg(test); its unit tests
// (cfg(test)) may unwrap and compute freely.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]
#![warn(missing_docs)]

/// The columns of a `nights` row as `db::night_row` reads them, as a
/// literal (for `concat!` into statements prepared without formatting).
macro_rules! night_columns {
    () => {
        "date, status, measure, uncovered, daily_fee, days_charged, amount, currency, effective_date, accrues, basis"
    };
}

mod db;
mod error;
mod record;
mod run;

pub use db::{SCHEMA_VERSION, StateDb};
pub use error::StateError;
pub use record::{Basis, LedgerRow, NightRecord, NightRow, Recorded};
pub use run::{Checked, Checker, Prior, Run};
