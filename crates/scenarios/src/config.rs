//! The scenario-set configuration (a TOML file under `scenarios/`).

use serde::Deserialize;

/// Default number of Monte Carlo scenarios.
pub const DEFAULT_SCENARIOS: usize = 10_000;
/// Largest number of Monte Carlo scenarios a configuration may ask for.
pub const MAX_SCENARIOS: usize = 100_000_000;
/// Default degrees of freedom of the Student-t copula.
pub const DEFAULT_NU: f64 = 4.0;
/// Default |z| at which a factor's move reaches its bound.
pub const DEFAULT_Z_AT_BOUND: f64 = 3.0;
/// Default reference own volatility of a single stock (the
/// `single_stock.default_idio_vol` of a set), and the own volatility the
/// engine assumes for a single stock whose `idio_vol` is empty or that is
/// not in `market/factors.csv` (re-exported as
/// `exfee_engine::DEFAULT_IDIO_VOL`): one number, so that such a stock's own
/// move reaches the single-stock bound at `idio_z_at_bound`.
pub const DEFAULT_IDIO_VOL: f64 = 0.35;
/// Default |z| at which a reference-volatility stock's own move reaches the
/// single-stock bound.
pub const DEFAULT_IDIO_Z_AT_BOUND: f64 = 3.0;
/// Default name of the equity-volatility factor.
pub const DEFAULT_EQUITY_VOL_NAME: &str = "Equity Volatility";
/// Default lower bound of the equity-volatility move, percent of implied vol.
pub const DEFAULT_EQUITY_VOL_LOWER_PCT: f64 = -30.0;
/// Default upper bound of the equity-volatility move, percent of implied vol.
pub const DEFAULT_EQUITY_VOL_UPPER_PCT: f64 = 150.0;

/// Why a configuration is not usable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, an unknown key, a value of the wrong type.
    #[error("{file}: {message}")]
    Toml {
        /// The source, as named by the caller.
        file: String,
        /// The TOML reader's message (with line and column).
        message: String,
    },
    /// A value outside its allowed range.
    #[error("{file}: {key} = {value}: {rule}")]
    Invalid {
        /// The source.
        file: String,
        /// The key, e.g. `copula.nu`.
        key: &'static str,
        /// The value read.
        value: String,
        /// What is allowed.
        rule: &'static str,
    },
}

/// The copula joining the factors' moves. In TOML: a `[copula]` table with
/// `kind = "gaussian"` or `kind = "student-t"` (and optionally `nu`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "RawCopula")]
pub enum Copula {
    /// Gaussian copula: z' = L·z.
    Gaussian,
    /// Student-t copula with `nu` degrees of freedom: x = L·z·√(ν/W),
    /// W ~ χ²(ν), z' = Φ⁻¹(F_ν(x)). Joint extremes are more likely than
    /// under the Gaussian copula with the same matrix.
    StudentT {
        /// Degrees of freedom ν (≥ 1; default 4).
        nu: f64,
    },
}

impl Default for Copula {
    fn default() -> Self {
        Copula::StudentT { nu: DEFAULT_NU }
    }
}

/// How a standard normal score z' becomes a move inside [lower, upper]. In
/// TOML: a `[marginal]` table with `kind = "tail"` (and optionally
/// `z_at_bound`) or `kind = "uniform"`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "RawMarginal")]
pub enum Marginal {
    /// move = upper·z'/z_b for z' ≥ 0, |lower|·z'/z_b for z' < 0, clipped to
    /// [lower, upper]: each bound is reached with probability 1 − Φ(z_b).
    Tail {
        /// z_b, the |z'| at which the move reaches its bound (> 0; default 3).
        z_at_bound: f64,
    },
    /// move = lower + Φ(z')·(upper − lower): uniform over the range.
    Uniform,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum CopulaKind {
    Gaussian,
    StudentT,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCopula {
    kind: CopulaKind,
    nu: Option<f64>,
}

impl TryFrom<RawCopula> for Copula {
    type Error = &'static str;

    fn try_from(raw: RawCopula) -> Result<Self, Self::Error> {
        match (raw.kind, raw.nu) {
            (CopulaKind::Gaussian, None) => Ok(Copula::Gaussian),
            (CopulaKind::Gaussian, Some(_)) => {
                Err("`nu` applies to the student-t copula only, not to kind = \"gaussian\"")
            }
            (CopulaKind::StudentT, nu) => Ok(Copula::StudentT {
                nu: nu.unwrap_or(DEFAULT_NU),
            }),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum MarginalKind {
    Tail,
    Uniform,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMarginal {
    kind: MarginalKind,
    z_at_bound: Option<f64>,
}

impl TryFrom<RawMarginal> for Marginal {
    type Error = &'static str;

    fn try_from(raw: RawMarginal) -> Result<Self, Self::Error> {
        match (raw.kind, raw.z_at_bound) {
            (MarginalKind::Uniform, None) => Ok(Marginal::Uniform),
            (MarginalKind::Uniform, Some(_)) => {
                Err("`z_at_bound` applies to the tail marginal only, not to kind = \"uniform\"")
            }
            (MarginalKind::Tail, z) => Ok(Marginal::Tail {
                z_at_bound: z.unwrap_or(DEFAULT_Z_AT_BOUND),
            }),
        }
    }
}

impl Default for Marginal {
    fn default() -> Self {
        Marginal::Tail {
            z_at_bound: DEFAULT_Z_AT_BOUND,
        }
    }
}

/// Which definition turns a set's seed into draws (`draw_version` in TOML:
/// 1 or 2, default 1). A set is its configuration *and* its draw version:
/// the same seed under two versions gives two different sets, and every
/// output that names a set's seed names its version too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Deserialize)]
#[serde(try_from = "i64")]
pub enum DrawVersion {
    /// The draws of every set before version 2 existed, bit for bit:
    /// a single stock's own score is statrs' Φ⁻¹,
    /// −√2·`erfc_inv`(2p) (`docs/methodology.md`).
    #[default]
    V1,
    /// Version 1 but for the single stocks' own scores: Φ⁻¹ by Wichura's
    /// AS 241 with its own logarithm, IEEE basic operations only
    /// ([`normal_quantile_v2`](crate::normal_quantile_v2)), the same bits in
    /// scalar and vector code on every machine; each score is version 1's to
    /// within 2·10⁻¹⁵ relative.
    V2,
}

impl DrawVersion {
    /// The number written in TOML and in outputs (1, 2).
    pub fn number(self) -> u32 {
        match self {
            DrawVersion::V1 => 1,
            DrawVersion::V2 => 2,
        }
    }
}

impl TryFrom<i64> for DrawVersion {
    type Error = String;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            1 => Ok(DrawVersion::V1),
            2 => Ok(DrawVersion::V2),
            other => Err(format!(
                "draw_version = {other} is not a draw version: 1 (the draws of sets before \
                 version 2, the default) or 2 (own moves by AS 241, docs/methodology.md)"
            )),
        }
    }
}

/// Settings of single stocks' own (idiosyncratic) moves.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SingleStockConfig {
    /// Reference own volatility σ_ref (> 0; default 0.35): a stock with
    /// this volatility reaches the single-stock bound at |z| =
    /// `idio_z_at_bound`; a stock's own scale is σ/σ_ref.
    pub default_idio_vol: f64,
    /// |z| at which a reference stock's own move reaches the bound (> 0;
    /// default 3).
    pub idio_z_at_bound: f64,
}

impl Default for SingleStockConfig {
    fn default() -> Self {
        SingleStockConfig {
            default_idio_vol: DEFAULT_IDIO_VOL,
            idio_z_at_bound: DEFAULT_IDIO_Z_AT_BOUND,
        }
    }
}

/// The equity-volatility factor: relative moves of implied volatility.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EquityVolConfig {
    /// Its name in the correlation matrix (default `Equity Volatility`).
    pub name: String,
    /// Lower bound, percent relative change of implied volatility
    /// (−100 ≤ lower ≤ 0; default −30).
    pub lower_pct: f64,
    /// Upper bound, percent (≥ 0, > lower; default +150).
    pub upper_pct: f64,
}

impl Default for EquityVolConfig {
    fn default() -> Self {
        EquityVolConfig {
            name: DEFAULT_EQUITY_VOL_NAME.to_string(),
            lower_pct: DEFAULT_EQUITY_VOL_LOWER_PCT,
            upper_pct: DEFAULT_EQUITY_VOL_UPPER_PCT,
        }
    }
}

/// A scenario-set configuration. File names are relative to the
/// configuration file; resolving and reading them is the caller's job.
///
/// # Examples
///
/// ```
/// use exfee_scenarios::{Copula, ScenarioConfig};
///
/// let config = ScenarioConfig::parse("set.toml", r#"
///     factor_table = "risk-factors-current.csv"
///     fx_table = "fx-factors-current.csv"
///     correlation = "correlation-default.csv"
///     seed = 7
/// "#).unwrap();
/// assert_eq!(config.scenarios, 10_000);
/// assert_eq!(config.copula, Copula::StudentT { nu: 4.0 });
/// assert!(config.include_fixed);
///
/// let err = ScenarioConfig::parse("set.toml", "sede = 7").unwrap_err();
/// assert!(err.to_string().contains("unknown field"));
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioConfig {
    /// Factor table CSV (bounds of every primary factor and of single stocks).
    pub factor_table: String,
    /// FX table CSV (bounds of every currency).
    pub fx_table: String,
    /// Correlation matrix CSV over every factor, currency and the
    /// equity-volatility factor.
    pub correlation: String,
    /// Number of Monte Carlo scenarios (default 10,000; at most
    /// [`MAX_SCENARIOS`]).
    #[serde(default = "default_scenarios")]
    pub scenarios: usize,
    /// Seed of every draw (required).
    pub seed: u64,
    /// The copula (default Student-t, ν = 4).
    #[serde(default)]
    pub copula: Copula,
    /// The marginal mapping (default `tail`, z_b = 3).
    #[serde(default)]
    pub marginal: Marginal,
    /// Repair a matrix that is not positive semi-definite to the nearest
    /// correlation matrix instead of rejecting it (default false).
    #[serde(default)]
    pub repair_correlation: bool,
    /// Single-stock settings.
    #[serde(default)]
    pub single_stock: SingleStockConfig,
    /// The equity-volatility factor.
    #[serde(default)]
    pub equity_vol: EquityVolConfig,
    /// Append the fixed stress scenarios after the draws (default true).
    #[serde(default = "default_true")]
    pub include_fixed: bool,
    /// The definition of the draws (default 1: the draws of every set
    /// written before version 2 existed, bit for bit).
    #[serde(default)]
    pub draw_version: DrawVersion,
}

fn default_scenarios() -> usize {
    DEFAULT_SCENARIOS
}

fn default_true() -> bool {
    true
}

impl ScenarioConfig {
    /// Parses and validates a configuration; `source` names it in errors.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Toml`] for malformed TOML, unknown keys and wrong
    /// types; [`ConfigError::Invalid`] for values out of range (see
    /// [`ScenarioConfig::validate`]).
    pub fn parse(source: &str, text: &str) -> Result<Self, ConfigError> {
        // Numbers are plain decimals (no `1_000`, `0x10`, `inf`), as everywhere.
        exfee_model::check_toml_numbers(text).map_err(|message| ConfigError::Toml {
            file: source.to_string(),
            message,
        })?;
        let config: ScenarioConfig = toml::from_str(text).map_err(|e| ConfigError::Toml {
            file: source.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.validate(source)?;
        Ok(config)
    }

    /// Checks every value's range: `scenarios` ≤ [`MAX_SCENARIOS`] and a set
    /// that is not empty; ν ≥ 1 and finite; z_b, the reference idio vol and
    /// its z finite and > 0; the equity-volatility bounds −100 ≤ lower ≤ 0 ≤
    /// upper, lower < upper, finite; a non-empty equity-volatility name.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the first bad key.
    pub fn validate(&self, source: &str) -> Result<(), ConfigError> {
        let invalid = |key, value: String, rule| ConfigError::Invalid {
            file: source.to_string(),
            key,
            value,
            rule,
        };
        if self.scenarios > MAX_SCENARIOS {
            return Err(invalid(
                "scenarios",
                self.scenarios.to_string(),
                "at most 100,000,000",
            ));
        }
        if self.scenarios == 0 && !self.include_fixed {
            return Err(invalid(
                "scenarios",
                "0".into(),
                "the set would be empty: ask for scenarios or keep include_fixed = true",
            ));
        }
        if let Copula::StudentT { nu } = self.copula
            && !(nu.is_finite() && nu >= 1.0)
        {
            return Err(invalid(
                "copula.nu",
                nu.to_string(),
                "degrees of freedom must be finite and at least 1 (use the gaussian copula for the limit)",
            ));
        }
        if let Marginal::Tail { z_at_bound } = self.marginal
            && !(z_at_bound.is_finite() && z_at_bound > 0.0)
        {
            return Err(invalid(
                "marginal.z_at_bound",
                z_at_bound.to_string(),
                "must be finite and > 0",
            ));
        }
        let stock = self.single_stock;
        if !(stock.default_idio_vol.is_finite() && stock.default_idio_vol > 0.0) {
            return Err(invalid(
                "single_stock.default_idio_vol",
                stock.default_idio_vol.to_string(),
                "must be finite and > 0",
            ));
        }
        if !(stock.idio_z_at_bound.is_finite() && stock.idio_z_at_bound > 0.0) {
            return Err(invalid(
                "single_stock.idio_z_at_bound",
                stock.idio_z_at_bound.to_string(),
                "must be finite and > 0",
            ));
        }
        let vol = &self.equity_vol;
        if vol.name.trim().is_empty() {
            return Err(invalid(
                "equity_vol.name",
                format!("{:?}", vol.name),
                "must not be empty",
            ));
        }
        let (lower, upper) = (vol.lower_pct, vol.upper_pct);
        let ordered = lower.is_finite()
            && upper.is_finite()
            && (-100.0..=0.0).contains(&lower)
            && upper >= 0.0
            && lower < upper;
        if !ordered {
            return Err(invalid(
                "equity_vol",
                format!("lower_pct {lower}, upper_pct {upper}"),
                "need finite -100 <= lower_pct <= 0 <= upper_pct and lower_pct < upper_pct",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str =
        "factor_table = \"f.csv\"\nfx_table = \"x.csv\"\ncorrelation = \"c.csv\"\nseed = 1\n";

    fn parse(extra: &str) -> Result<ScenarioConfig, ConfigError> {
        ScenarioConfig::parse("s.toml", &format!("{BASE}{extra}"))
    }

    #[test]
    fn defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.scenarios, DEFAULT_SCENARIOS);
        assert_eq!(c.copula, Copula::StudentT { nu: 4.0 });
        assert_eq!(c.marginal, Marginal::Tail { z_at_bound: 3.0 });
        assert!(!c.repair_correlation);
        assert_eq!(c.single_stock, SingleStockConfig::default());
        assert_eq!(c.equity_vol, EquityVolConfig::default());
        assert!(c.include_fixed);
        assert_eq!(c.draw_version, DrawVersion::V1);
    }

    #[test]
    fn draw_version_is_1_or_2() {
        assert_eq!(
            parse("draw_version = 1\n").unwrap().draw_version,
            DrawVersion::V1
        );
        let two = parse("draw_version = 2\n").unwrap();
        assert_eq!(two.draw_version, DrawVersion::V2);
        assert_eq!(two.draw_version.number(), 2);
        // Everything else of the set is unchanged by the key.
        let one = parse("").unwrap();
        assert_eq!(
            ScenarioConfig {
                draw_version: DrawVersion::V1,
                ..two
            },
            one
        );
        for (value, expected) in [
            ("0", "draw_version = 0 is not a draw version: 1"),
            ("3", "draw_version = 3 is not a draw version: 1"),
            ("-1", "draw_version = -1 is not a draw version"),
            ("\"2\"", "invalid type: string"),
            ("2.0", "invalid type: floating point"),
        ] {
            let err = parse(&format!("draw_version = {value}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{value}: {err}");
            assert!(err.contains("line 5"), "{value}: {err}");
        }
    }

    #[test]
    fn reads_every_key() {
        let c = parse(
            "scenarios = 500\nrepair_correlation = true\ninclude_fixed = false\n\
             [copula]\nkind = \"gaussian\"\n\
             [marginal]\nkind = \"uniform\"\n\
             [single_stock]\ndefault_idio_vol = 0.3\nidio_z_at_bound = 2.5\n\
             [equity_vol]\nname = \"VIX\"\nlower_pct = -40\nupper_pct = 200.5\n",
        )
        .unwrap();
        assert_eq!(c.scenarios, 500);
        assert_eq!(c.copula, Copula::Gaussian);
        assert_eq!(c.marginal, Marginal::Uniform);
        assert_eq!(c.single_stock.idio_z_at_bound, 2.5);
        assert_eq!(c.equity_vol.name, "VIX");
        assert_eq!(c.equity_vol.upper_pct, 200.5);
        let t =
            parse("[copula]\nkind = \"student-t\"\nnu = 6\n[marginal]\nkind = \"tail\"\n").unwrap();
        assert_eq!(t.copula, Copula::StudentT { nu: 6.0 });
        assert_eq!(t.marginal, Marginal::Tail { z_at_bound: 3.0 });
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        for (extra, expected) in [
            ("colour = 1\n", "unknown field `colour`"),
            (
                "[copula]\nkind = \"gaussian\"\nnu = 4\n",
                "`nu` applies to the student-t",
            ),
            (
                "[copula]\nkind = \"student-t\"\nmu = 4\n",
                "unknown field `mu`",
            ),
            ("[copula]\nnu = 4\n", "missing field `kind`"),
            (
                "[marginal]\nkind = \"uniform\"\nz_at_bound = 2\n",
                "applies to the tail",
            ),
            ("[marginal]\nkind = \"tail\"\nz = 2\n", "unknown field `z`"),
            (
                "[copula]\nkind = \"clayton\"\n",
                "unknown variant `clayton`",
            ),
            ("[single_stock]\nidio = 1\n", "unknown field `idio`"),
            ("[equity_vol]\nupper = 1\n", "unknown field `upper`"),
            ("scenarios = -1\n", "scenarios"),
            (
                "[copula]\nkind = \"student-t\"\nnu = 0.5\n",
                "copula.nu = 0.5",
            ),
            (
                "[copula]\nkind = \"student-t\"\nnu = inf\n",
                "line 7: inf is not a plain decimal number",
            ),
            // Issue 10: only plain decimals are numbers (TOML would read 1000).
            (
                "scenarios = 1_000\n",
                "line 5: 1_000 is not a plain decimal number",
            ),
            (
                "[marginal]\nkind = \"tail\"\nz_at_bound = 0\n",
                "marginal.z_at_bound = 0",
            ),
            (
                "[single_stock]\ndefault_idio_vol = nan\n",
                "nan is not a plain decimal number",
            ),
            (
                "[single_stock]\nidio_z_at_bound = -3\n",
                "idio_z_at_bound = -3",
            ),
            (
                "[equity_vol]\nlower_pct = 10\n",
                "equity_vol = lower_pct 10",
            ),
            ("[equity_vol]\nname = \" \"\n", "equity_vol.name"),
            ("scenarios = 0\ninclude_fixed = false\n", "would be empty"),
            ("scenarios = 100000001\n", "at most"),
        ] {
            let err = parse(extra).unwrap_err().to_string();
            assert!(err.contains(expected), "{extra:?}: {err}");
            assert!(err.starts_with("s.toml"), "{err}");
        }
        let missing = ScenarioConfig::parse("s.toml", "seed = 1").unwrap_err();
        assert!(missing.to_string().contains("missing field"), "{missing}");
    }
}
