//! A configuration with its tables and matrix loaded and checked together.

use std::collections::BTreeSet;

use exfee_model::{Bounds, FactorTable, FxTable};
use nalgebra::DMatrix;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

use crate::correlation::{Factor, PSD_TOLERANCE};
use crate::{
    ConfigError, CorrelationError, CorrelationMatrix, ScenarioConfig, nearest_correlation,
};

/// Why a scenario set cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    /// The configuration is not valid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The correlation matrix is not valid.
    #[error(transparent)]
    Correlation(#[from] CorrelationError),
    /// The matrix's variables are not exactly the tables' factors, currencies
    /// and the equity-volatility factor.
    #[error(
        "{file}: the correlation matrix's names do not match the factor tables: {}{}",
        list(
            "missing (a factor, currency or the equity-volatility factor with no row)",
            missing
        ),
        list("not in the tables", extra)
    )]
    NamesMismatch {
        /// The matrix's source.
        file: String,
        /// Expected names the matrix lacks.
        missing: Vec<String>,
        /// Names of the matrix that no table has.
        extra: Vec<String>,
    },
    /// Two variables (a factor, a currency, the equity-volatility factor)
    /// share a name, so the matrix cannot tell them apart.
    #[error(
        "{name:?} names two variables (a factor, a currency or the equity-volatility factor); names must be distinct"
    )]
    NameCollision {
        /// The shared name.
        name: String,
    },
    /// A single stock's own volatility is negative or not finite.
    #[error("single stock {symbol}: own volatility {vol} must be finite and >= 0")]
    BadIdioVol {
        /// The stock.
        symbol: String,
        /// Its volatility.
        vol: f64,
    },
}

/// How [`ScenarioSpec::new`] names the configuration in errors (it does not
/// know its file).
const CONFIG_SOURCE: &str = "scenario configuration";

fn list(label: &str, names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!("{label}: {}; ", names.join(", "))
    }
}

/// What repairing a correlation matrix changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Repair {
    /// Smallest eigenvalue of the matrix as given.
    pub min_eigenvalue: f64,
    /// Frobenius norm of the change, ‖used − given‖_F.
    pub frobenius_change: f64,
    /// Largest change of one entry.
    pub max_entry_change: f64,
    /// Iterations of the alternating projections.
    pub iterations: usize,
    /// Whether the projections met their tolerance.
    pub converged: bool,
}

/// A configuration together with its factor table, FX table and correlation
/// matrix, checked against each other; the input of
/// [`ScenarioSet::monte_carlo`](crate::ScenarioSet::monte_carlo).
///
/// The variables drawn are, in this order: the primary factors (factor-table
/// order), the currencies (FX-table order), the equity-volatility factor.
///
/// # Examples
///
/// ```
/// use exfee_model::{Bounds, Decimal, FactorTable, FxTable, PrimaryFactor};
/// use exfee_scenarios::{ScenarioConfig, ScenarioSpec, parse_correlation};
///
/// let pct = |p: i64| Decimal::from(p);
/// let table = FactorTable::new(vec![
///     PrimaryFactor { name: "Equity".into(), representative: "S&P 500".into(), symbol: "SPX".into(),
///                     bounds: Bounds::new("Equity", pct(-30), pct(20)).unwrap() },
///     PrimaryFactor { name: "Individual Stocks".into(), representative: String::new(), symbol: String::new(),
///                     bounds: Bounds::new("stocks", pct(-50), pct(50)).unwrap() },
/// ]).unwrap();
/// let config = ScenarioConfig::parse("set.toml",
///     "factor_table = 'f.csv'\nfx_table = 'x.csv'\ncorrelation = 'c.csv'\nseed = 1\n").unwrap();
/// let matrix = parse_correlation("c.csv",
///     ",Equity,Equity Volatility\nEquity,1,-0.7\nEquity Volatility,-0.7,1\n".as_bytes()).unwrap();
/// let spec = ScenarioSpec::new(config, table, FxTable::new(vec![]).unwrap(), matrix).unwrap();
/// assert_eq!(spec.variable_names(), ["Equity", "Equity Volatility"]);
/// assert!(spec.repair().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct ScenarioSpec {
    config: ScenarioConfig,
    factor_table: FactorTable,
    fx_table: FxTable,
    correlation: CorrelationMatrix,
    names: Vec<String>,
    used: DMatrix<f64>,
    factor: Factor,
    repair: Option<Repair>,
    equity_vol_bounds: Bounds,
}

impl ScenarioSpec {
    /// Checks the configuration, maps the matrix onto the tables' variables
    /// by name, checks positive semi-definiteness (repairing the matrix when
    /// `repair_correlation` asks) and factors it.
    ///
    /// # Errors
    ///
    /// [`ScenarioError::Config`] for a bad value; [`ScenarioError::NamesMismatch`]
    /// listing every missing and every extra name; [`ScenarioError::NameCollision`];
    /// [`CorrelationError::NotPositiveSemidefinite`] when the matrix is not PSD
    /// and repair is off.
    pub fn new(
        config: ScenarioConfig,
        factor_table: FactorTable,
        fx_table: FxTable,
        correlation: CorrelationMatrix,
    ) -> Result<Self, ScenarioError> {
        config.validate(CONFIG_SOURCE)?;
        let mut names: Vec<String> = factor_table
            .factors()
            .iter()
            .map(|f| f.name.clone())
            .collect();
        names.extend(
            fx_table
                .currencies()
                .iter()
                .map(|c| c.currency.as_str().to_string()),
        );
        names.push(config.equity_vol.name.clone());
        let mut seen = BTreeSet::new();
        for name in &names {
            if !seen.insert(name.as_str()) {
                return Err(ScenarioError::NameCollision { name: name.clone() });
            }
        }
        let given: BTreeSet<&str> = correlation.names().iter().map(String::as_str).collect();
        let missing: Vec<String> = names
            .iter()
            .filter(|n| !given.contains(n.as_str()))
            .cloned()
            .collect();
        let extra: Vec<String> = correlation
            .names()
            .iter()
            .filter(|n| !seen.contains(n.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() || !extra.is_empty() {
            return Err(ScenarioError::NamesMismatch {
                file: correlation.source().to_string(),
                missing,
                extra,
            });
        }
        let position: Vec<usize> = names
            .iter()
            .filter_map(|n| correlation.index_of(n))
            .collect();
        let k = names.len();
        let given = DMatrix::from_fn(k, k, |i, j| {
            correlation.matrix()[(position[i], position[j])]
        });

        let (factor, used, repair) = match Factor::of(&given, PSD_TOLERANCE) {
            Some((factor, used)) => (factor, used, None),
            None => {
                let min_eigenvalue = crate::correlation::min_eigenvalue(&given).unwrap_or(f64::NAN);
                if !config.repair_correlation {
                    return Err(CorrelationError::NotPositiveSemidefinite {
                        file: correlation.source().to_string(),
                        min_eigenvalue,
                    }
                    .into());
                }
                let near = nearest_correlation(&given);
                // The repaired matrix is PSD up to rounding; the eigen factor
                // (tolerance-free) always yields a valid correlation matrix.
                let (factor, used) = Factor::of(&near.matrix, f64::INFINITY).ok_or(
                    CorrelationError::NotPositiveSemidefinite {
                        file: correlation.source().to_string(),
                        min_eigenvalue,
                    },
                )?;
                let change = &used - &given;
                let repair = Repair {
                    min_eigenvalue,
                    frobenius_change: change.norm(),
                    max_entry_change: change.amax(),
                    iterations: near.iterations,
                    converged: near.converged,
                };
                (factor, used, Some(repair))
            }
        };

        let vol = &config.equity_vol;
        let to_decimal = |value: f64| Decimal::from_f64(value).unwrap_or_default();
        let equity_vol_bounds = Bounds::new(
            &vol.name,
            to_decimal(vol.lower_pct),
            to_decimal(vol.upper_pct),
        )
        .map_err(|_| ConfigError::Invalid {
            file: CONFIG_SOURCE.to_string(),
            key: "equity_vol",
            value: format!("lower_pct {}, upper_pct {}", vol.lower_pct, vol.upper_pct),
            rule: "need -100 <= lower_pct <= 0 <= upper_pct and lower_pct < upper_pct",
        })?;

        Ok(ScenarioSpec {
            config,
            factor_table,
            fx_table,
            correlation,
            names,
            used,
            factor,
            repair,
            equity_vol_bounds,
        })
    }

    /// The same factor table, FX table and correlations under another
    /// configuration (more or fewer draws, another seed or draw version),
    /// validated as [`ScenarioSpec::new`] validates.
    ///
    /// # Errors
    ///
    /// As [`ScenarioSpec::new`].
    pub fn with_config(&self, config: ScenarioConfig) -> Result<Self, ScenarioError> {
        Self::new(
            config,
            self.factor_table.clone(),
            self.fx_table.clone(),
            self.correlation.clone(),
        )
    }

    /// The configuration.
    pub fn config(&self) -> &ScenarioConfig {
        &self.config
    }

    /// The factor table.
    pub fn factor_table(&self) -> &FactorTable {
        &self.factor_table
    }

    /// The FX table.
    pub fn fx_table(&self) -> &FxTable {
        &self.fx_table
    }

    /// The correlation matrix as given.
    pub fn correlation(&self) -> &CorrelationMatrix {
        &self.correlation
    }

    /// The variables drawn, in draw order: factors, currencies, the
    /// equity-volatility factor.
    pub fn variable_names(&self) -> &[String] {
        &self.names
    }

    /// The correlation matrix the draws use, in [`ScenarioSpec::variable_names`]
    /// order: the given one, or its repair.
    pub fn used_correlation(&self) -> &DMatrix<f64> {
        &self.used
    }

    /// What a repair changed, when the matrix was repaired.
    pub fn repair(&self) -> Option<&Repair> {
        self.repair.as_ref()
    }

    /// Bounds of the equity-volatility move.
    pub fn equity_vol_bounds(&self) -> Bounds {
        self.equity_vol_bounds
    }

    pub(crate) fn factor(&self) -> &Factor {
        &self.factor
    }
}
