//! Scenario sets for exfee: the moves of every primary risk factor, every
//! currency, the equity-volatility factor and every single stock, scenario
//! by scenario.
//!
//! A [`ScenarioSet`] is a list of scenarios; the revaluation engine asks it
//! for the moves of a block of consecutive scenarios ([`MoveBlock`]) and never
//! holds the whole set in memory. Two kinds of set exist: the fixed stress
//! set ([`ScenarioSet::fixed_stress`]) and the Monte Carlo set
//! ([`ScenarioSet::monte_carlo`]), built from a [`ScenarioSpec`]: a
//! [`ScenarioConfig`] (TOML), the factor and FX tables and a
//! [`CorrelationMatrix`] (CSV). The method is described in
//! `docs/methodology.md`. No IO happens here: callers read the files and
//! hand over their text.

// Φ⁻¹ of draw version 2 calls its AVX-512 / AVX2 builds.
#[allow(unsafe_code)]
mod as241;
// The multi-lane ChaCha20 calls its AVX-512 / AVX2 builds.
#[allow(unsafe_code)]
mod chacha;
mod config;
mod correlation;
mod draw;
mod fixed;
// The element-wise map's AVX2 build.
#[allow(unsafe_code)]
mod lanes;
// The vectorised Φ⁻¹ calls its AVX-512 / AVX2 builds (with `chacha` and
// `as241`, the crate's only `unsafe`).
#[allow(unsafe_code)]
mod quantile;
mod set;
mod spec;

#[cfg(test)]
mod illustrative;
#[cfg(test)]
mod stats_tests;

pub use as241::{normal_quantile_v2, normal_quantiles_v2};
pub use config::{
    ConfigError, Copula, DEFAULT_EQUITY_VOL_LOWER_PCT, DEFAULT_EQUITY_VOL_NAME,
    DEFAULT_EQUITY_VOL_UPPER_PCT, DEFAULT_IDIO_VOL, DEFAULT_IDIO_Z_AT_BOUND, DEFAULT_NU,
    DEFAULT_SCENARIOS, DEFAULT_Z_AT_BOUND, DrawVersion, EquityVolConfig, MAX_SCENARIOS, Marginal,
    ScenarioConfig, SingleStockConfig,
};
pub use correlation::{
    CorrelationError, CorrelationMatrix, NEAREST_MAX_ITERATIONS, NEAREST_TOLERANCE,
    NearestCorrelation, PSD_TOLERANCE, SYMMETRY_TOLERANCE, nearest_correlation, parse_correlation,
};
pub use fixed::{FixedScenario, Shock, format_move};
pub use quantile::normal_quantiles;
pub use set::{CommonKeeper, KeptDraws, MoveBlock, ScenarioSet, SingleStock};
pub use spec::{Repair, ScenarioError, ScenarioSpec};
