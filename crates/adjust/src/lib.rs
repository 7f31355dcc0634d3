//! Hypothetical adjustments that bring an account's risk measure down to a
//! limit, computed from scenario P&L vectors. Pure functions, no IO.
//!
//! The caller (the engine) provides, in base currency, the P&L of each
//! whole position in every scenario and the limit the measure must reach
//! (NLV + threshold to remove the fee, or a higher level that halves it);
//! this crate answers:
//!
//! - [`reduce_positions`]: the cheapest fractions of positions to close
//!   (never open or flip), by a linear program (good_lp with the pure-Rust
//!   microlp solver, constraint generation over the scenarios) with a greedy
//!   fallback; the [`Reduction`] says which [`Method`] answered.
//! - [`hedge`]: the smallest quantity of one hedge instrument (a factor's
//!   future or ETF) that meets the limit; [`best_hedge`]: the quantity that
//!   minimises the measure.
//! - [`Measure::evaluate`], [`reduced_pnl`], [`measure_after_reduction`]: the
//!   evaluation every reported measure uses, for checks and what-ifs.
//!
//! The measure is the fee crate's [`Measure`] (one type for the fee and
//! the adjustments), evaluated on P&L vectors by [`MeasureExt`]; losses are
//! the negated P&L. Every answer is an
//! estimate from the P&L vectors, which are linear in the fraction closed;
//! the caller re-checks it by revaluing the adjusted portfolio.
//!
//! Results are deterministic (no randomness, no dependence on hash order)
//! and no input makes the crate panic: NaN or infinite inputs are
//! [`AdjustError`]s (a panic inside the LP solver, if one ever happened,
//! is caught and the greedy method answers).
//!
//! # Example
//!
//! ```
//! use exfee_adjust::{Measure, MeasureExt, Method, ReductionProblem, hedge, reduce_positions};
//!
//! // a long stock and a short future on its index, 4 scenarios
//! let stock = vec![-500.0, -200.0, 100.0, 300.0];
//! let future = vec![150.0, 60.0, -30.0, -90.0];
//! let pnl = [stock.clone(), future];
//! let costs = [10_000.0, 3_000.0]; // market value traded to close all of each
//! let nlv = 200.0;
//! let threshold = 0.0;
//!
//! let before = Measure::Worst.evaluate(&[-350.0, -140.0, 70.0, 210.0])?;
//! assert_eq!(before, 350.0); // uncovered: 350 − 200 = 150
//!
//! let reduction = reduce_positions(&ReductionProblem::new(&pnl, &costs, nlv + threshold, Measure::Worst))?;
//! assert_eq!(reduction.method, Method::LinearProgram);
//! assert_eq!(reduction.fractions[1], 0.0); // the hedge is kept
//! assert!(reduction.measure_after <= 200.0);
//!
//! // or sell more index futures: one long future gains 15 when the stock
//! // loses 500 (the short position above is 10 of them)
//! let long_future = [-15.0, -6.0, 3.0, 9.0];
//! let total = [-350.0, -140.0, 70.0, 210.0];
//! let h = hedge(&total, &long_future, nlv, Measure::Worst)?.expect("reachable");
//! assert_eq!(h.units, -10.0); // sell 10 more: loss 350 − 150 = 200
//! assert_eq!(h.measure_after, 200.0);
//! # Ok::<(), exfee_adjust::AdjustError>(())
//! ```

mod error;
mod greedy;
mod grid;
mod hedge;
mod lp;
mod measure;
mod reduce;

pub use error::AdjustError;
pub use hedge::{Hedge, best_hedge, hedge};
pub use lp::LpFailure;
pub use measure::{Measure, MeasureExt, measure_after_reduction, reduced_pnl};
pub use reduce::{Method, ReduceOptions, Reduction, ReductionProblem, reduce_positions};
