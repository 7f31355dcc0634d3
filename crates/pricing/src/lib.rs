//! Option pricers for the exfee engine: pure `f64` functions, no IO.
//!
//! - [`gbs`]: generalised Black-Scholes-Merton with cost of carry `b` (Haug's
//!   notation), with the special cases [`bsm`] (dividend yield `q`, `b = r - q`)
//!   and [`black76`] (futures, `b = 0`).
//! - [`american`]: the engine's American price, the Andersen-Lake-Offengenden
//!   (2016) integral-equation method (fixed-point exercise boundary, tabulated
//!   per vol node): bit for bit [`price_american_batch`] on one scenario, close
//!   to [`american_alo`] (boundary solved at the exact vol, the scalar
//!   reference); within 0.05 % of value or 1e-5 × strike of a binomial tree
//!   over moneyness 0.7-1.3, vol 15-60 %, 3 months-2 years.
//!   [`american_baw`] (Barone-Adesi-Whaley 1987, the fallback outside ALO's
//!   domain) and [`american_bs2002`] (Bjerksund-Stensland 2002) are kept as
//!   references. All are floored by the European and intrinsic values.
//! - [`price_european_batch`] / [`price_american_batch`]: one contract under
//!   many (spot, vol) scenarios, the engine's hot loop. Both run a vectorised
//!   kernel selected at run time by CPU feature (AVX-512 / AVX2+FMA /
//!   portable); single-threaded on an AVX-512 core about 100 M European and
//!   35 M American evaluations per second.
//!
//! Every pricer is total: finite inputs never give NaN or panic; degenerate
//! inputs (`t <= 0`, `sigma <= 0`, `s <= 0`, `k <= 0`, huge `sigma`) give the
//! corresponding limit, documented on each function.
//!
//! Conventions: `s` spot (or futures price `f`), `k` strike, `t` time to expiry
//! in years, `r` continuously compounded risk-free rate, `b` cost of carry,
//! `sigma` lognormal volatility, all annualised.
//!
//! # Examples
//!
//! ```
//! use exfee_pricing::{Right, american, bsm};
//!
//! let euro = bsm(Right::Put, 100.0, 100.0, 1.0, 0.05, 0.0, 0.2);
//! let amer = american(Right::Put, 100.0, 100.0, 1.0, 0.05, 0.05, 0.2);
//! assert!(amer > euro);
//! ```

mod alo;
mod american;
#[allow(
    unsafe_code,
    reason = "the SIMD kernels: run-time dispatch to #[target_feature] functions, each call with its SAFETY comment"
)]
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    reason = "grid indices: clamped to [0, GRID_INTERVALS] or masked with & (GRID_INTERVALS - 1) before each cast"
)]
mod batch;
mod baw;
mod bs2002;
mod european;
mod fastmath;
mod normal;
mod right;
#[cfg(test)]
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "tree step counts (at most a few thousand) as powi exponents"
)]
mod tree;

pub use alo::american_alo;
pub use american::{american, price_american_batch};
pub use batch::{LengthMismatch, price_european_batch};
pub use baw::american_baw;
pub use bs2002::american_bs2002;
pub use european::{black76, bsm, gbs};
pub use right::Right;
