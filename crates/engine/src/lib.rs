//! The exfee revaluation engine.
//!
//! [`prepare`] checks every account of a [`Batch`](exfee_model::Batch),
//! computes its NLV, maps each holding to what drives it (a primary factor,
//! a beta, a single stock's own move) and collects the distinct *legs*
//! (an instrument or a cash currency, seen from one base currency) that the
//! batch holds. [`evaluate`] then walks the scenario set block by block:
//! it prices every leg once per scenario (rayon over legs) and aggregates
//! each account's P&L as Σ quantity × leg P&L (rayon over accounts), keeping
//! each account's worst scenario. Memory is bounded by the block size,
//! whatever the number of scenarios. No IO happens here.

// No panic on any input (docs/reliability.md, "Panics and overflow"): no
// `unwrap`, `expect` or `panic!` in production code, and no unchecked
// `Decimal` arithmetic (it panics on overflow); clippy.toml lets primitive
// arithmetic through. The lib is checked without cfg(test); its unit tests
// (cfg(test)) may unwrap and compute freely.
//
// All the engine's `unsafe` (the SIMD aggregation kernels) is in `kernel`;
// it is denied everywhere else, and every `unsafe` block says why it is
// sound.
#![deny(
    unsafe_code,
    clippy::undocumented_unsafe_blocks,
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
mod bind;
mod detail;
mod evaluate;
#[allow(unsafe_code)]
mod kernel;
mod key;
mod layout;
mod leg;
mod pnl;
mod prepare;
mod resolve;
mod result;
mod sparse;
mod tail;
#[cfg(test)]
mod testkit;
mod unit;

pub use account::default_implied_vol;
pub use detail::{
    AccountPnl, AccountWorst, HoldingPnl, Moving, PnlChunks, accounts_pnl, accounts_worst,
    factor_moves,
};
pub use evaluate::{evaluate, evaluate_with_progress, evaluate_with_stats};
pub use kernel::{Kernel, aggregate, aggregate_with};
pub use layout::{Book, aggregate_panel};
pub use leg::{LegInfo, OptionReport};
pub use prepare::{EngineConfig, MAX_QUANTITY, Prepared, prepare};
pub use resolve::{DEFAULT_IDIO_VOL, Driver, default_factor_name, resolve_symbol, single_stocks};
pub use result::{AccountResult, AccountRisk, EngineError, EvalStats, Outcome};
pub use tail::Tail;
pub use unit::{Holding, LegKey, UnitPnl, account_holdings, largest_abs, legs_unit_pnl};
