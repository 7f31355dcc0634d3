//! The exposure fee's rules: the fee schedule, the fee arithmetic, the
//! trading calendar and the grace-week state machine.
//!
//! Pure functions and types, no IO: the nightly state database lives in
//! `exfee-state`, the CLI reads the files.
//!
//! # From an uncovered amount to a charge
//!
//! One pipeline, [`quote`] for any portfolio and [`assess`] for a night,
//! which the batch, the reports, the adjustments and what-if all call:
//!
//! 1. The engine keeps each account's [`Measure::scenarios_needed`] worst
//!    scenario losses; [`Measure::apply`] turns them into one loss (rounded
//!    to cents), and the uncovered amount is `max(0, measure − NLV)`.
//! 2. [`daily_fee`] applies the [`FeeSchedule`]: no fee at or below the
//!    threshold; above it, marginal [`Tier`]s of annual rate on the whole
//!    uncovered amount, divided by the day count, raised to the minimum,
//!    rounded once to cents, half to even. [`FeeBreakdown`] shows every
//!    slice.
//! 3. The account pays the greater of that and an overnight inventory fee,
//!    the exposure fee on a tie ([`Quote::fee_paid`], [`ChargedFee`]).
//! 4. [`next_state`] decides from the account's [`AccountState`] whether
//!    tonight is clear, grace (notified, fee 0) or charged ([`Assessment`]).
//! 5. Every calendar day is priced by the measurement in force on it and
//!    posted by the next trading day's run (the state crate keeps that
//!    ledger; [`TradingCalendar`] says which days are trading days).
//!
//! # Calendar semantics
//!
//! The fee accrues on every calendar day and is deducted on the following
//! trading day (published). Each calendar day is priced by the measurement
//! in force on it: the last nightly run on or before it (the weekend after
//! Friday's run is priced by Friday's). Days inside the grace week are never
//! charged. A trading day's run posts every day accrued since the previous
//! posting; a day after a trading day whose run is missing is priced by the
//! last measurement and flagged estimated. The ledger itself lives in
//! `exfee-state`; [`TradingCalendar::days_charged`] is the number of
//! calendar days since the previous trading day (what a posting covers in
//! an ordinary week).
//!
//! # Grace (from the method's operating rules)
//!
//! The first night an account is subject it is [`FeeStatus::Grace`]: notified,
//! fee 0, with the date the fee takes effect (`first night + grace_days`,
//! 7 calendar days by default). It is [`FeeStatus::Charged`] from the first
//! night on or after that date on which it is still subject. Clear nights in
//! between do not restart the week; `reset_after_clear_nights` consecutive
//! clear nights (5 by default) do. See [`GraceRules`].
//!
//! # Example
//!
//! ```
//! use chrono::NaiveDate;
//! use exfee_fee::{FeeSchedule, FeeStatus, TradingCalendar, daily_fee, next_state};
//! use rust_decimal::Decimal;
//!
//! let schedule = FeeSchedule::default();
//! let calendar = TradingCalendar::default();
//! let monday = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
//!
//! // an account first found subject a week ago, still subject tonight
//! let (before, _) = next_state(None, NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(), true, schedule.grace);
//! let (_, status) = next_state(Some(&before), monday, true, schedule.grace);
//! assert_eq!(status, FeeStatus::Charged);
//!
//! let fee = daily_fee(&schedule, Decimal::from(250_000), Decimal::ONE).unwrap();
//! let days = calendar.days_charged(monday).unwrap();
//! assert_eq!(fee.daily_fee * Decimal::from(days), Decimal::new(16437, 2)); // 54.79 × 3
//! ```

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

mod calendar;
mod fee;
mod grace;
mod measure;
mod pipeline;
mod plain;
mod schedule;

pub use calendar::{CalendarError, TradingCalendar};
pub use fee::{FeeBreakdown, FeeError, TierSlice, daily_fee};
pub use grace::{AccountState, FeeStatus, GraceRules, next_state};
pub use measure::{Measure, mean_of_largest};
pub use pipeline::{Assessment, ChargedFee, Portfolio, Quote, assess, quote};
pub use schedule::{DEFAULT_FEE_TOML, DayCount, FeeSchedule, ScheduleError, Tier};
