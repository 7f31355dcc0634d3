//! The exfee data model: accounts, positions, instruments, cash, market data,
//! factor tables and net liquidation value.
//!
//! This crate does no IO. Readers at the edge (`exfee-io`) build these types
//! from files; the scenario generator and the revaluation engine consume them.
//! Money (cash, marks, NLV) is held as [`rust_decimal::Decimal`].

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

mod account;
mod cell;
mod currency;
mod error;
mod factors;
mod instrument;
mod market;
mod money;
mod nlv;
mod number;
mod order;

pub use account::{AccountInput, Batch, CashBalance, Position};
pub use cell::neutralise;
pub use currency::{Currency, CurrencyError};
pub use error::{InputError, SourceLocation};
pub use factors::{Bounds, FactorTable, FactorTableError, FxFactor, FxTable, PrimaryFactor};
pub use instrument::{AssetClass, Exercise, Instrument, InstrumentKind, OptionRight, OptionTerms};
pub use market::{FactorMapping, MarketData, MarketError, Underlying};
pub use money::{cents, fixed, group_thousands, money};
pub use nlv::{NlvError, net_liquidation_value};
pub use number::{check_toml_numbers, holds_places, is_plain_decimal, parse_plain_decimal};
pub use order::{exact_max, exact_min, total_order_key};

pub use rust_decimal::Decimal;
