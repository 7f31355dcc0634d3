//! The exfee data model: accounts, positions, instruments, cash, market data,
//! factor tables and net liquidation value.
//!
//! This crate does no IO. Readers at the edge (`exfee-io`) build these types
//! from files; the scenario generator and the revaluation engine consume them.
//! Money (cash, marks, NLV) is held as [`rust_decimal::Decimal`].

mod account;
mod currency;
mod error;
mod factors;
mod instrument;
mod market;
mod money;
mod nlv;

pub use account::{AccountInput, Batch, CashBalance, Position};
pub use currency::{Currency, CurrencyError};
pub use error::{InputError, SourceLocation};
pub use factors::{Bounds, FactorTable, FactorTableError, FxFactor, FxTable, PrimaryFactor};
pub use instrument::{AssetClass, Exercise, Instrument, InstrumentKind, OptionRight, OptionTerms};
pub use market::{FactorMapping, MarketData, MarketError, Underlying};
pub use money::cents;
pub use nlv::{NlvError, net_liquidation_value};

pub use rust_decimal::Decimal;
