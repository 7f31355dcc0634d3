//! # exfee-calibrate
//!
//! Scenario-model parameters estimated from a daily price history, and the
//! statistics of a backtest. No IO: the history comes in as text, the
//! files go out as text; `exfee calibrate` and `exfee backtest` read and
//! write them. The method is in docs/methodology.md §13–14.

mod calibrate;
pub mod generate;
mod history;
pub mod render;
pub mod stats;

#[cfg(test)]
mod tests;

pub use calibrate::{
    Calibration, CalibrationError, GroupedNu, Options, Role, StockFit, TRADING_DAYS, Variable,
    calibrate, check_window, role_of,
};
pub use exfee_scenarios::{Copula, CorrelationMatrix, DEFAULT_Z_AT_BOUND, Marginal};
pub use history::{History, HistoryError, parse_history};
pub use nalgebra::DMatrix;
