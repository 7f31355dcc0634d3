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

#![warn(missing_docs)]

mod db;
mod error;
mod record;
mod run;

pub use db::{SCHEMA_VERSION, StateDb};
pub use error::StateError;
pub use record::{Basis, LedgerRow, NightRecord, NightRow, Recorded};
pub use run::Run;
