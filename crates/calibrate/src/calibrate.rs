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

/// The one check of the estimation window and the EWMA half-life, made by
/// [`calibrate`] and, before any file is read, by every command that
/// takes `--lookback` and `--halflife`: at least 2 dates; a positive,
/// finite half-life.
///
/// # Errors
///
/// [`CalibrationError::Lookback`] or [`CalibrationError::Halflife`].
pub fn check_window(lookback: usize, halflife: f64) -> Result<(), CalibrationError> {
    if lookback < 2 {
        return Err(CalibrationError::Lookback(lookback));
    }
    if !(halflife.is_finite() && halflife > 0.0) {
        return Err(CalibrationError::Halflife(halflife));
    }
    Ok(())
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
    /// The estimation window is shorter than 2 dates.
    #[error("the lookback (--lookback) must be at least 2 trading days, not {0}")]
    Lookback(usize),
    /// The EWMA half-life is not a positive finite number.
    #[error(
        "the half-life (--halflife) must be a positive, finite number of trading days, not {0}"
    )]
    Halflife(f64),
    /// A daily log return is not finite (the ratio of two closes
    /// overflows): the history is unusable, not the estimate.
    #[error(
        "the log return of {symbol} on {date} is not finite (the ratio of its closes overflows)"
    )]
    NonFiniteReturn {
        /// The symbol.
        symbol: String,
        /// The date of the return.
        date: NaiveDate,
    },
    /// A numerical step failed (a constant series, a singular matrix, a
    /// result that is not a finite number).
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
    check_window(options.lookback, options.halflife)?;
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
    if let Some((s, d)) = history.first_non_finite_return() {
        return Err(CalibrationError::NonFiniteReturn {
            symbol: history.symbols()[s].clone(),
            date: dates[d],
        });
    }
    let scope = Scope::new(&history, factors, fx, options);
    let (slots, others, mut skipped) = scope.covered();
    if slots.is_empty() {
        return Err(CalibrationError::NoFactors(options.min_obs));
    }
    let common = scope.common_sample(&slots)?;
    let dependence = scope.dependence(&slots, &common)?;
    let variables = slots.iter().map(|slot| scope.variable(slot)).collect();
    let stocks = scope.regressions(&slots, others, &mut skipped);

    let calibration = Calibration {
        as_of,
        window: (dates[common[0]], dates[common[common.len() - 1]]),
        options: options.clone(),
        variables,
        common_obs: common.len(),
        sample: dependence.sample,
        shrinkage: dependence.shrinkage,
        correlation: dependence.correlation,
        eigenvalues: dependence.eigenvalues,
        nu: dependence.nu,
        grouped_nu: dependence.grouped_nu,
        stocks,
        skipped,
    };
    calibration.check_finite()?;
    Ok(calibration)
}

/// One symbol's daily log returns, de-volatilised by the EWMA filter run
/// over all of its returns up to as-of, and the filter's forecast variance
/// for the day after.
struct Series {
    returns: Vec<Option<f64>>,
    devol: Vec<Option<f64>>,
    last_var: Option<f64>,
}

impl Series {
    fn new(returns: Vec<Option<f64>>, lambda: f64) -> Series {
        let valid: Vec<(usize, f64)> = returns
            .iter()
            .enumerate()
            .filter_map(|(d, v)| v.map(|v| (d, v)))
            .collect();
        let values: Vec<f64> = valid.iter().map(|(_, v)| *v).collect();
        let var = stats::ewma_variance(&values, lambda);
        let mut devol = vec![None; returns.len()];
        for ((d, v), s2) in valid.iter().zip(&var) {
            if *s2 > 0.0 {
                devol[*d] = Some(v / s2.sqrt());
            }
        }
        let last_var = values
            .last()
            .zip(var.last())
            .map(|(r, v)| lambda * v + (1.0 - lambda) * r * r);
        Series {
            returns,
            devol,
            last_var,
        }
    }
}

/// A covered variable: its order key in the matrix, its symbol's index in
/// the history, its name.
type Slot = (usize, usize, String);

/// What a calibration reads: the history up to as-of, the tables, the
/// options, the first date index of the window and every symbol's series.
struct Scope<'a> {
    history: &'a History,
    factors: &'a FactorTable,
    fx: &'a FxTable,
    options: &'a Options,
    start: usize,
    series: Vec<Series>,
}

/// The estimated dependence of the covered variables.
struct Dependence {
    sample: DMatrix<f64>,
    shrinkage: f64,
    correlation: DMatrix<f64>,
    eigenvalues: Vec<f64>,
    nu: Option<(f64, f64, f64)>,
    grouped_nu: Option<GroupedNu>,
}

impl<'a> Scope<'a> {
    fn new(
        history: &'a History,
        factors: &'a FactorTable,
        fx: &'a FxTable,
        options: &'a Options,
    ) -> Self {
        let lambda = stats::ewma_lambda(options.halflife);
        Scope {
            history,
            factors,
            fx,
            options,
            start: history.dates().len().saturating_sub(options.lookback),
            series: (0..history.symbols().len())
                .map(|s| Series::new(history.log_returns(s), lambda))
                .collect(),
        }
    }

    fn role(&self, s: usize) -> Role {
        role_of(
            &self.history.symbols()[s],
            self.factors,
            self.fx,
            &self.options.vol_index,
        )
    }

    /// The covered variables in matrix order (factors in table order,
    /// currencies in table order, the equity-volatility factor), the other
    /// symbols, and the variables left out for too few returns.
    fn covered(&self) -> (Vec<Slot>, Vec<usize>, Vec<(String, String)>) {
        let (factors, fx, options) = (self.factors, self.fx, self.options);
        let mut slots: Vec<Slot> = Vec::new();
        let mut skipped = Vec::new();
        let mut others = Vec::new();
        for (s, symbol) in self.history.symbols().iter().enumerate() {
            let in_window = self.series[s].devol[self.start..]
                .iter()
                .filter(|v| v.is_some())
                .count();
            let key_name = match self.role(s) {
                Role::Factor(name) => factors.index_of_name(&name).map(|i| (i, name)),
                Role::Currency(c, _) => fx
                    .index_of(c)
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
        (slots, others, skipped)
    }

    /// The common sample: window dates where every variable has a return.
    fn common_sample(&self, slots: &[Slot]) -> Result<Vec<usize>, CalibrationError> {
        let common: Vec<usize> = (self.start..self.history.dates().len())
            .filter(|&d| {
                slots
                    .iter()
                    .all(|(_, s, _)| self.series[*s].devol[d].is_some())
            })
            .collect();
        let need = self.options.min_obs.max(3);
        if common.len() < need {
            return Err(CalibrationError::TooFewCommon {
                got: common.len(),
                need,
                names: names(slots),
            });
        }
        Ok(common)
    }

    /// Correlation (sample and shrunk), eigenvalues and copula ν of the
    /// de-volatilised returns on the common sample (currencies signed as
    /// the value of the currency).
    fn dependence(&self, slots: &[Slot], common: &[usize]) -> Result<Dependence, CalibrationError> {
        let sign = |s: usize| match self.role(s) {
            Role::Currency(_, sign) => sign,
            _ => 1.0,
        };
        let k = slots.len();
        let x = DMatrix::from_fn(common.len(), k, |i, j| {
            let s = slots[j].1;
            sign(s) * self.series[s].devol[common[i]].unwrap_or(0.0)
        });
        let numerical =
            |what: &str| CalibrationError::Numerical(format!("{what} ({})", names(slots)));
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
            members[group_of(&self.role(*s), name)].push(j);
        }
        let grouped_nu = stats::grouped_nu_test(&u, &correlation, &members).map(
            |(own, common, statistic, p_value)| GroupedNu {
                groups: own.into_iter().map(|(g, nu)| (GROUPS[g], nu)).collect(),
                common,
                statistic,
                p_value,
            },
        );
        Ok(Dependence {
            sample,
            shrinkage,
            correlation,
            eigenvalues,
            nu,
            grouped_nu,
        })
    }

    /// A covered variable's window statistics and bounds.
    fn variable(&self, (_, s, name): &Slot) -> Variable {
        let series = &self.series[*s];
        let window: Vec<f64> = series.returns[self.start..]
            .iter()
            .flatten()
            .copied()
            .collect();
        let n = window.len();
        let mean = window.iter().sum::<f64>() / n as f64;
        let var = window.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let (factors, fx) = (self.factors, self.fx);
        let bounds = match self.role(*s) {
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
            symbol: self.history.symbols()[*s].clone(),
            observations: n,
            daily_vol: var.sqrt(),
            ewma_vol: series.last_var.unwrap_or(0.0).sqrt(),
            bounds,
        }
    }

    /// Regressions of every other symbol on a covered primary factor: the
    /// pinned one when given and covered, else the one with the best R².
    /// A symbol with too few common returns is added to `skipped`.
    fn regressions(
        &self,
        slots: &[Slot],
        others: Vec<usize>,
        skipped: &mut Vec<(String, String)>,
    ) -> Vec<StockFit> {
        let min_obs = self.options.min_obs;
        let factor_slots: Vec<&Slot> = slots
            .iter()
            .filter(|(_, s, _)| matches!(self.role(*s), Role::Factor(_)))
            .collect();
        let mut stocks = Vec::new();
        for s in others {
            let symbol = &self.history.symbols()[s];
            let fit_on = |f: usize| {
                let (xs, ys): (Vec<f64>, Vec<f64>) = (self.start..self.history.dates().len())
                    .filter_map(|d| Some((self.series[f].returns[d]?, self.series[s].returns[d]?)))
                    .unzip();
                if xs.len() < min_obs {
                    return Err(format!(
                        "fewer than {min_obs} returns in common with a covered factor"
                    ));
                }
                stats::ols(&xs, &ys).ok_or_else(|| {
                    "no finite least-squares fit on a covered factor (its returns are constant)"
                        .to_string()
                })
            };
            let pinned = self
                .options
                .pinned
                .get(symbol)
                .and_then(|name| factor_slots.iter().find(|(_, _, n)| n == name));
            let choice = match pinned {
                Some(slot) => fit_on(slot.1).map(|fit| (slot.2.clone(), fit, true)),
                None => {
                    // The best R² of the fits (the last of equals, as
                    // `max_by`; every R² is finite: `ols` returns only
                    // finite fits); the last failure's reason when none
                    // fits.
                    let mut best: Option<(String, stats::Regression, bool)> = None;
                    let mut why =
                        format!("fewer than {min_obs} returns in common with a covered factor");
                    for slot in &factor_slots {
                        match fit_on(slot.1) {
                            Ok(fit) => {
                                if best.as_ref().is_none_or(|b| fit.r2 >= b.1.r2) {
                                    best = Some((slot.2.clone(), fit, false));
                                }
                            }
                            Err(e) => why = e,
                        }
                    }
                    best.ok_or(why)
                }
            };
            match choice {
                Ok((factor, fit, pinned)) => stocks.push(StockFit {
                    symbol: symbol.clone(),
                    factor,
                    pinned,
                    idio_vol: fit.residual_sd * TRADING_DAYS.sqrt(),
                    fit,
                }),
                Err(why) => skipped.push((symbol.clone(), why)),
            }
        }
        stocks
    }
}

/// The covered variables' names, comma-separated (for errors).
fn names(slots: &[Slot]) -> String {
    slots
        .iter()
        .map(|(_, _, n)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
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
    /// Every number the calibration's files show is finite: the check
    /// [`calibrate`] makes before returning, so that no writer prints
    /// `NaN` or `inf`.
    ///
    /// # Errors
    ///
    /// [`CalibrationError::Numerical`] naming the first number that is not.
    pub fn check_finite(&self) -> Result<(), CalibrationError> {
        let bad = |what: String| Err(CalibrationError::Numerical(format!("{what} is not finite")));
        for v in &self.variables {
            if !(v.daily_vol.is_finite() && v.ewma_vol.is_finite()) {
                return bad(format!("the volatility of {}", v.name));
            }
        }
        for s in &self.stocks {
            let f = &s.fit;
            if ![f.alpha, f.beta, f.r2, f.residual_sd, s.idio_vol]
                .iter()
                .all(|v| v.is_finite())
            {
                return bad(format!("the regression of {} on {}", s.symbol, s.factor));
            }
        }
        if !self.sample.iter().all(|v| v.is_finite()) {
            return bad("the sample correlation".to_string());
        }
        if !(self.shrinkage.is_finite() && self.correlation.iter().all(|v| v.is_finite())) {
            return bad("the shrunk correlation".to_string());
        }
        if !self.eigenvalues.iter().all(|v| v.is_finite()) {
            return bad("an eigenvalue of the correlation".to_string());
        }
        if let Some((nu, ll, ll_gauss)) = self.nu
            && ![nu, ll, ll_gauss].iter().all(|v| v.is_finite())
        {
            return bad("the copula fit".to_string());
        }
        if let Some(g) = &self.grouped_nu
            && !(g.common.is_finite()
                && g.statistic.is_finite()
                && g.p_value.is_finite()
                && g.groups.iter().all(|(_, nu)| nu.is_finite()))
        {
            return bad("the one-ν test".to_string());
        }
        Ok(())
    }

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
        let full = stats::embed_block(base, &block, &self.correlation).ok_or_else(|| {
            CalibrationError::Numerical(
                "the base matrix or the estimate is singular on the covered variables".into(),
            )
        })?;
        if !full.iter().all(|v| v.is_finite()) {
            return Err(CalibrationError::Numerical(
                "the full correlation matrix is not finite".into(),
            ));
        }
        Ok(full)
    }

    /// The copula ν to configure: the fit, rounded to 0.1; `None` (the
    /// Gaussian copula) when the fit reaches the top of [`stats::NU_RANGE`]
    /// or there is no fit.
    pub fn copula_nu(&self) -> Option<f64> {
        let (nu, _, _) = self.nu?;
        (nu < stats::NU_RANGE.1 * 0.99).then(|| (nu * 10.0).round() / 10.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_devolatilises_each_return_by_the_forecast_before_it() {
        // λ = 0.5; valid returns 0.02, −0.01, 0.03; the seed is their mean
        // square, then v ← λ·v + (1 − λ)·r² after each return.
        let series = Series::new(vec![None, Some(0.02), None, Some(-0.01), Some(0.03)], 0.5);
        let v1: f64 = (4e-4 + 1e-4 + 9e-4) / 3.0;
        let v2: f64 = 0.5 * v1 + 0.5 * 4e-4;
        let v3: f64 = 0.5 * v2 + 0.5 * 1e-4;
        let expected = [
            None,
            Some(0.02 / v1.sqrt()),
            None,
            Some(-0.01 / v2.sqrt()),
            Some(0.03 / v3.sqrt()),
        ];
        for (got, want) in series.devol.iter().zip(expected) {
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-12, "{g} vs {w}"),
                (g, w) => assert_eq!(*g, w),
            }
        }
        let last = 0.5 * v3 + 0.5 * 9e-4;
        assert!((series.last_var.unwrap() - last).abs() < 1e-18);
        assert_eq!(Series::new(vec![None, None], 0.5).last_var, None);
    }

    #[test]
    fn covered_variables_come_in_matrix_order_and_thin_ones_are_skipped() {
        let (factors, fx) = crate::tests::tables();
        let day = |i: u32| NaiveDate::from_ymd_opt(2026, 1, i).unwrap();
        let mut rows = Vec::new();
        for i in 1..=6 {
            let x = f64::from(i);
            for symbol in ["VIX", "EUR.USD", "SPX", "AAPL"] {
                rows.push((day(i), symbol.to_string(), 100.0 + x * x));
            }
        }
        // CL closes on days 1, 2 and 6: one return (day 2; the return
        // after its gap is not used), fewer than min_obs
        for (i, close) in [(1, 70.0), (2, 71.0), (6, 72.0)] {
            rows.push((day(i), "CL".to_string(), close));
        }
        let history = History::from_rows(rows);
        let options = Options {
            min_obs: 3,
            ..Options::default()
        };
        let scope = Scope::new(&history, &factors, &fx, &options);
        let (slots, others, skipped) = scope.covered();
        let at = |symbol: &str| history.index_of(symbol).unwrap();
        // Equity is factor 0; EUR currency 0 after the 2 primary factors
        // (the "Individual Stocks" row holds the single-stock bounds, not a
        // factor); the volatility factor after the 3 currencies.
        assert_eq!(factors.factors().len(), 2);
        assert_eq!(
            slots,
            [
                (0, at("SPX"), "Equity".to_string()),
                (2, at("EUR.USD"), "EUR".to_string()),
                (5, at("VIX"), options.equity_vol_name.clone()),
            ]
        );
        assert_eq!(others, [at("AAPL")]);
        assert_eq!(
            skipped,
            [(
                "CL".to_string(),
                "1 returns in the window, fewer than 3".to_string()
            )]
        );
        assert_eq!(names(&slots[..2]), "Equity, EUR");
        // 5 common dates of returns for the three variables
        assert_eq!(scope.common_sample(&slots).unwrap(), [1, 2, 3, 4, 5]);
    }
}
