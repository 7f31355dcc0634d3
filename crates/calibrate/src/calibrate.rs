//! Calibrating a scenario set to a price history.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use exfee_model::{Currency, FactorTable, FxTable};
use nalgebra::DMatrix;

use crate::history::History;
use crate::stats;

/// Trading days per year (annualising volatilities).
pub const TRADING_DAYS: f64 = 252.0;

/// How to calibrate.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Last date used (default: the history's last date).
    pub as_of: Option<NaiveDate>,
    /// Returns in the estimation window (trading days of the history's
    /// calendar; default 500).
    pub lookback: usize,
    /// Half-life of the EWMA volatility filter, in trading days (default 30).
    pub halflife: f64,
    /// The symbol of the volatility index standing for the equity-volatility
    /// factor (default `VIX`).
    pub vol_index: String,
    /// The equity-volatility factor's name (the scenario set's).
    pub equity_vol_name: String,
    /// Fewest returns a variable or a regression needs (default 60).
    pub min_obs: usize,
    /// The set's z at which a move reaches its bound (for the horizon).
    pub z_at_bound: f64,
    /// Factor a symbol is regressed on, when given and covered (e.g. from
    /// a drop's `market/factors.csv`); other symbols take the covered
    /// factor with the best R².
    pub pinned: BTreeMap<String, String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            as_of: None,
            lookback: 500,
            halflife: 30.0,
            vol_index: "VIX".to_string(),
            equity_vol_name: exfee_scenarios::DEFAULT_EQUITY_VOL_NAME.to_string(),
            min_obs: 60,
            z_at_bound: exfee_scenarios::DEFAULT_Z_AT_BOUND,
            pinned: BTreeMap::new(),
        }
    }
}

/// Why a calibration cannot be done.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrationError {
    /// The history has no date on or before as-of.
    #[error("the history has no date on or before {0}")]
    NoDates(String),
    /// Nothing in the history stands for a factor of the table.
    #[error(
        "no symbol of the history represents a factor, currency or the volatility index with at least {0} returns in the window"
    )]
    NoFactors(usize),
    /// Too few dates on which every covered variable has a return.
    #[error(
        "only {got} dates on which every covered variable ({names}) has a return; at least {need} needed"
    )]
    TooFewCommon {
        /// Common dates found.
        got: usize,
        /// Needed.
        need: usize,
        /// The variables.
        names: String,
    },
    /// A numerical step failed (a constant series, a singular matrix).
    #[error("{0}")]
    Numerical(String),
}

/// What one symbol of the history stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// The representative of a primary factor (by name).
    Factor(String),
    /// A currency pair: the currency and the sign of its value's return
    /// (`EUR.USD` +1, `USD.JPY` −1).
    Currency(Currency, f64),
    /// The volatility index: the equity-volatility factor.
    EquityVol,
    /// Anything else: regressed on a factor.
    Other,
}

/// The role of `symbol` under these tables.
pub fn role_of(symbol: &str, factors: &FactorTable, fx: &FxTable, vol_index: &str) -> Role {
    if symbol == vol_index {
        return Role::EquityVol;
    }
    if let Some(i) = factors.index_of_symbol(symbol) {
        return Role::Factor(factors.factors()[i].name.clone());
    }
    if let Some((a, b)) = symbol.split_once('.') {
        let parse = |c: &str| {
            c.parse::<Currency>()
                .ok()
                .filter(|c| fx.index_of(*c).is_some())
        };
        if b == "USD"
            && let Some(c) = parse(a)
            && c != Currency::USD
        {
            return Role::Currency(c, 1.0);
        }
        if a == "USD"
            && let Some(c) = parse(b)
            && c != Currency::USD
        {
            return Role::Currency(c, -1.0);
        }
    }
    Role::Other
}

/// One variable of the estimated matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    /// Its name in the correlation matrix.
    pub name: String,
    /// The history symbol standing for it.
    pub symbol: String,
    /// Returns in the window.
    pub observations: usize,
    /// Daily volatility of its log returns over the window (sample, n − 1).
    pub daily_vol: f64,
    /// Latest EWMA daily volatility (the forecast for the day after as-of).
    pub ewma_vol: f64,
    /// Lower and upper bound (fractions) when the variable has them.
    pub bounds: Option<(f64, f64)>,
}

impl Variable {
    /// Trading days over which the bound is a z_b-σ move of the window's
    /// volatility: (|bound| / z_b)² / σ_daily² (lower, upper).
    pub fn horizon_days(&self, z_at_bound: f64) -> Option<(f64, f64)> {
        let (lower, upper) = self.bounds?;
        let h = |b: f64| (b.abs() / z_at_bound / self.daily_vol).powi(2);
        (self.daily_vol > 0.0).then(|| (h(lower), h(upper)))
    }
}

/// Whether one copula ν serves every group of variables.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupedNu {
    /// Each group of two or more variables with its own ν.
    pub groups: Vec<(&'static str, f64)>,
    /// The common ν.
    pub common: f64,
    /// The likelihood-ratio statistic.
    pub statistic: f64,
    /// Its p-value (χ², groups − 1 degrees of freedom).
    pub p_value: f64,
}

/// A symbol's regression on its factor.
#[derive(Debug, Clone, PartialEq)]
pub struct StockFit {
    /// The symbol.
    pub symbol: String,
    /// The factor regressed on.
    pub factor: String,
    /// Whether the factor was given (pinned) rather than chosen by R².
    pub pinned: bool,
    /// The regression of its daily log returns on the factor's.
    pub fit: stats::Regression,
    /// Residual volatility, annualised (√252 × daily).
    pub idio_vol: f64,
}

/// The result of a calibration.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// The last date used.
    pub as_of: NaiveDate,
    /// First and last date of the correlation sample.
    pub window: (NaiveDate, NaiveDate),
    /// The options used.
    pub options: Options,
    /// The covered variables, in matrix order (factors in table order,
    /// currencies in table order, the equity-volatility factor).
    pub variables: Vec<Variable>,
    /// Dates on which every covered variable has a return (the sample).
    pub common_obs: usize,
    /// The sample correlation of the de-volatilised returns.
    pub sample: DMatrix<f64>,
    /// The Ledoit–Wolf intensity δ applied.
    pub shrinkage: f64,
    /// The estimate: δ·I + (1 − δ)·sample.
    pub correlation: DMatrix<f64>,
    /// Eigenvalues of the estimate, ascending.
    pub eigenvalues: Vec<f64>,
    /// Fitted ν of the t copula, its log-likelihood, and the Gaussian
    /// copula's (`None` with a single variable).
    pub nu: Option<(f64, f64, f64)>,
    /// Whether one ν serves every group of variables: (group name, its own
    /// ν) per group of two or more, the common ν, the likelihood-ratio
    /// statistic and its p-value ([`stats::grouped_nu_test`]); `None` with
    /// fewer than two such groups.
    pub grouped_nu: Option<GroupedNu>,
    /// Every other symbol's regression, by symbol.
    pub stocks: Vec<StockFit>,
    /// Symbols left out, with why.
    pub skipped: Vec<(String, String)>,
}

/// Calibrates to `history` with the variables of these tables.
///
/// # Errors
///
/// [`CalibrationError`] when no variable is covered, the common sample is
/// too short or a matrix step fails.
pub fn calibrate(
    history: &History,
    factors: &FactorTable,
    fx: &FxTable,
    options: &Options,
) -> Result<Calibration, CalibrationError> {
    let history = match options.as_of {
        Some(d) => history.up_to(d),
        None => history.clone(),
    };
    let dates = history.dates();
    let Some(&as_of) = dates.last() else {
        return Err(CalibrationError::NoDates(
            options
                .as_of
                .map_or_else(|| "as-of".to_string(), |d| d.to_string()),
        ));
    };
    let start = dates.len().saturating_sub(options.lookback);
    let lambda = stats::ewma_lambda(options.halflife);

    // Every symbol's returns, and de-volatilised returns (EWMA filter run
    // over all of its returns up to as-of).
    let mut returns = Vec::new();
    let mut devol = Vec::new();
    for s in 0..history.symbols().len() {
        let r = history.log_returns(s);
        let valid: Vec<(usize, f64)> = r
            .iter()
            .enumerate()
            .filter_map(|(d, v)| v.map(|v| (d, v)))
            .collect();
        let values: Vec<f64> = valid.iter().map(|(_, v)| *v).collect();
        let var = stats::ewma_variance(&values, lambda);
        let mut e = vec![None; r.len()];
        for ((d, v), s2) in valid.iter().zip(&var) {
            if *s2 > 0.0 {
                e[*d] = Some(v / s2.sqrt());
            }
        }
        let last_var = values
            .last()
            .zip(var.last())
            .map(|(r, v)| lambda * v + (1.0 - lambda) * r * r);
        returns.push(r);
        devol.push((e, last_var));
    }

    // Covered variables, in matrix order.
    let mut slots: Vec<(usize, usize, String)> = Vec::new(); // (order key, symbol, name)
    let mut skipped = Vec::new();
    let mut others = Vec::new();
    for (s, symbol) in history.symbols().iter().enumerate() {
        let role = role_of(symbol, factors, fx, &options.vol_index);
        let in_window = devol[s].0[start..].iter().filter(|v| v.is_some()).count();
        let key_name = match &role {
            Role::Factor(name) => factors.index_of_name(name).map(|i| (i, name.clone())),
            Role::Currency(c, _) => fx
                .index_of(*c)
                .map(|i| (factors.factors().len() + i, c.to_string())),
            Role::EquityVol => Some((
                factors.factors().len() + fx.currencies().len(),
                options.equity_vol_name.clone(),
            )),
            Role::Other => None,
        };
        match key_name {
            Some(_) if in_window < options.min_obs => skipped.push((
                symbol.clone(),
                format!(
                    "{in_window} returns in the window, fewer than {}",
                    options.min_obs
                ),
            )),
            Some((key, name)) => slots.push((key, s, name)),
            None => others.push(s),
        }
    }
    slots.sort_by_key(|(key, _, _)| *key);
    if slots.is_empty() {
        return Err(CalibrationError::NoFactors(options.min_obs));
    }
    let sign = |s: usize| match role_of(&history.symbols()[s], factors, fx, &options.vol_index) {
        Role::Currency(_, sign) => sign,
        _ => 1.0,
    };

    // The common sample: window dates where every variable has a return.
    let common: Vec<usize> = (start..dates.len())
        .filter(|&d| slots.iter().all(|(_, s, _)| devol[*s].0[d].is_some()))
        .collect();
    let names = || {
        slots
            .iter()
            .map(|(_, _, n)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if common.len() < options.min_obs.max(3) {
        return Err(CalibrationError::TooFewCommon {
            got: common.len(),
            need: options.min_obs.max(3),
            names: names(),
        });
    }
    let k = slots.len();
    let x = DMatrix::from_fn(common.len(), k, |i, j| {
        let s = slots[j].1;
        sign(s) * devol[s].0[common[i]].unwrap_or(0.0)
    });
    let numerical = |what: &str| CalibrationError::Numerical(format!("{what} ({})", names()));
    let sample = stats::correlation(&x).ok_or_else(|| numerical("a variable is constant"))?;
    let (correlation, shrinkage) =
        stats::ledoit_wolf(&x).ok_or_else(|| numerical("a variable is constant"))?;
    let mut eigenvalues: Vec<f64> = correlation
        .clone()
        .symmetric_eigen()
        .eigenvalues
        .iter()
        .copied()
        .collect();
    eigenvalues.sort_by(f64::total_cmp);
    let u = stats::pseudo_observations(&x);
    let nu = if k >= 2 {
        stats::fit_nu(&u, &correlation)
    } else {
        None
    };
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); GROUPS.len()];
    for (j, (_, s, name)) in slots.iter().enumerate() {
        let role = role_of(&history.symbols()[*s], factors, fx, &options.vol_index);
        members[group_of(&role, name)].push(j);
    }
    let grouped_nu = stats::grouped_nu_test(&u, &correlation, &members).map(
        |(own, common, statistic, p_value)| GroupedNu {
            groups: own.into_iter().map(|(g, nu)| (GROUPS[g], nu)).collect(),
            common,
            statistic,
            p_value,
        },
    );

    let variables: Vec<Variable> = slots
        .iter()
        .map(|(_, s, name)| {
            let window: Vec<f64> = returns[*s][start..].iter().flatten().copied().collect();
            let n = window.len();
            let mean = window.iter().sum::<f64>() / n as f64;
            let var = window.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let bounds = match role_of(&history.symbols()[*s], factors, fx, &options.vol_index) {
                Role::Factor(f) => factors
                    .index_of_name(&f)
                    .map(|i| &factors.factors()[i].bounds)
                    .map(|b| (b.lower(), b.upper())),
                Role::Currency(c, _) => fx
                    .index_of(c)
                    .map(|i| &fx.currencies()[i].bounds)
                    .map(|b| (b.lower(), b.upper())),
                _ => None,
            };
            Variable {
                name: name.clone(),
                symbol: history.symbols()[*s].clone(),
                observations: n,
                daily_vol: var.sqrt(),
                ewma_vol: devol[*s].1.unwrap_or(0.0).sqrt(),
                bounds,
            }
        })
        .collect();

    // Regressions of every other symbol on a covered primary factor.
    let factor_slots: Vec<&(usize, usize, String)> = slots
        .iter()
        .filter(|(_, s, _)| {
            matches!(
                role_of(&history.symbols()[*s], factors, fx, &options.vol_index),
                Role::Factor(_)
            )
        })
        .collect();
    let mut stocks = Vec::new();
    for s in others {
        let symbol = &history.symbols()[s];
        let fit_on = |f: usize| {
            let (xs, ys): (Vec<f64>, Vec<f64>) = (start..dates.len())
                .filter_map(|d| Some((returns[f][d]?, returns[s][d]?)))
                .unzip();
            if xs.len() < options.min_obs {
                return None;
            }
            stats::ols(&xs, &ys)
        };
        let pinned = options
            .pinned
            .get(symbol)
            .and_then(|name| factor_slots.iter().find(|(_, _, n)| n == name));
        let choice = match pinned {
            Some(slot) => fit_on(slot.1).map(|fit| (slot.2.clone(), fit, true)),
            None => factor_slots
                .iter()
                .filter_map(|slot| fit_on(slot.1).map(|fit| (slot.2.clone(), fit, false)))
                .max_by(|a, b| a.1.r2.total_cmp(&b.1.r2)),
        };
        match choice {
            Some((factor, fit, pinned)) => stocks.push(StockFit {
                symbol: symbol.clone(),
                factor,
                pinned,
                idio_vol: fit.residual_sd * TRADING_DAYS.sqrt(),
                fit,
            }),
            None => skipped.push((
                symbol.clone(),
                format!(
                    "fewer than {} returns in common with a covered factor",
                    options.min_obs
                ),
            )),
        }
    }

    Ok(Calibration {
        as_of,
        window: (dates[common[0]], dates[common[common.len() - 1]]),
        options: options.clone(),
        variables,
        common_obs: common.len(),
        sample,
        shrinkage,
        correlation,
        eigenvalues,
        nu,
        grouped_nu,
        stocks,
        skipped,
    })
}

/// The groups of the one-ν test.
pub const GROUPS: [&str; 4] = ["equity", "rates", "commodities", "currencies"];

/// The group of a variable: currencies; equity (names containing `Equity`,
/// with the equity-volatility factor); rates (Treasury, government bonds,
/// BAX, EuroBund, JGB); commodities (every other factor).
fn group_of(role: &Role, name: &str) -> usize {
    match role {
        Role::Currency(..) => 3,
        Role::EquityVol => 0,
        _ if name.contains("Equity") => 0,
        _ if ["Treasury", "Bond", "BAX", "Bund", "JGB"]
            .iter()
            .any(|w| name.contains(w)) =>
        {
            1
        }
        _ => 2,
    }
}

impl Calibration {
    /// The covered variables' names, in matrix order.
    pub fn names(&self) -> Vec<String> {
        self.variables.iter().map(|v| v.name.clone()).collect()
    }

    /// The full correlation matrix over `base_names` (every variable of
    /// the set): the estimate on the covered variables, `base` elsewhere,
    /// joined by [`stats::embed_block`] so that the result stays a
    /// correlation matrix.
    ///
    /// # Errors
    ///
    /// [`CalibrationError::Numerical`] when a covered name is not in
    /// `base_names` or a block is singular.
    pub fn full_matrix(
        &self,
        base_names: &[String],
        base: &DMatrix<f64>,
    ) -> Result<DMatrix<f64>, CalibrationError> {
        let block = self
            .variables
            .iter()
            .map(|v| {
                base_names.iter().position(|n| *n == v.name).ok_or_else(|| {
                    CalibrationError::Numerical(format!(
                        "{} is not a variable of the base correlation matrix",
                        v.name
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        stats::embed_block(base, &block, &self.correlation).ok_or_else(|| {
            CalibrationError::Numerical(
                "the base matrix or the estimate is singular on the covered variables".into(),
            )
        })
    }

    /// The copula ν to configure: the fit, rounded to 0.1; `None` (the
    /// Gaussian copula) when the fit reaches the top of [`stats::NU_RANGE`]
    /// or there is no fit.
    pub fn copula_nu(&self) -> Option<f64> {
        let (nu, _, _) = self.nu?;
        (nu < stats::NU_RANGE.1 * 0.99).then(|| (nu * 10.0).round() / 10.0)
    }
}
