//! The `exfee` Python package's native module (`exfee._exfee`).
//!
//! Thin bindings over the facade crate: every figure is computed by the
//! same functions `exfee run` uses (the results rows come from
//! [`exfee::results_rows`], the one place that builds `results.csv`). The
//! Python side (`python/exfee/__init__.py`) turns the rows into a
//! `pyarrow.Table`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use exfee::fee::{FeeSchedule, TradingCalendar};
use exfee::io::{DropPaths, IoError};
use exfee::model::InputError;
use exfee::{Batch, EngineConfig, EvaluateOptions, NightFees, ScenarioSource};

mod spark;

create_exception!(
    _exfee,
    ExfeeError,
    PyException,
    "An error of the exfee engine. `file`, `line` and `column` tell where in the input, when known."
);
create_exception!(
    _exfee,
    ExfeeInputError,
    ExfeeError,
    "An input that cannot be read or used: `file`, `line`, `column` and `reason` tell where and why."
);

/// An exception of class `E` with `file`, `line`, `column` and `reason`
/// attributes (each `None` when not known).
fn located<E: pyo3::PyTypeInfo>(
    py: Python<'_>,
    message: String,
    file: Option<String>,
    line: Option<u64>,
    column: Option<String>,
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let value = py.get_type::<E>().call1((message.clone(),))?;
        value.setattr("file", file.clone())?;
        value.setattr("line", line)?;
        value.setattr("column", column.clone())?;
        value.setattr("reason", message.clone())?;
        Ok(PyErr::from_value(value))
    };
    build().unwrap_or_else(|e| e)
}

fn input_error(py: Python<'_>, error: &InputError) -> PyErr {
    let location = error.location.as_ref();
    located::<ExfeeInputError>(
        py,
        error.to_string(),
        location.map(|l| l.file.clone()),
        location.map(|l| l.line),
        location.and_then(|l| l.column.as_ref().map(|(_, name)| name.clone())),
    )
}

fn io_error(py: Python<'_>, error: &IoError) -> PyErr {
    let (file, line, column) = match error {
        IoError::Unreadable { path, .. }
        | IoError::Write { path, .. }
        | IoError::TooLarge { path, .. } => (Some(path.display().to_string()), None, None),
        IoError::BadHeader { path, .. } | IoError::DuplicateColumn { path, .. } => {
            (Some(path.clone()), Some(1), None)
        }
        IoError::MissingColumn { path, column, .. } => {
            (Some(path.clone()), Some(1), Some((*column).to_string()))
        }
        IoError::BadTable { path, .. } => (Some(path.clone()), None, None),
    };
    located::<ExfeeInputError>(py, error.to_string(), file, line, column)
}

fn engine_error(py: Python<'_>, error: impl std::fmt::Display) -> PyErr {
    located::<ExfeeError>(py, error.to_string(), None, None, None)
}

/// A batch of accounts with tonight's market data.
#[pyclass(module = "exfee._exfee", name = "Batch", frozen)]
pub struct PyBatch {
    batch: Arc<Batch>,
    /// The dates the input says it was taken for (Flex `ReportDate`s).
    dates: Vec<NaiveDate>,
}

#[pymethods]
impl PyBatch {
    /// The account ids, in input order.
    #[getter]
    fn accounts(&self) -> Vec<String> {
        self.batch.accounts.iter().map(|a| a.id.clone()).collect()
    }

    /// Problems of rows that name no account, as dicts with `file`, `line`,
    /// `column` and `reason`.
    #[getter]
    fn errors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for error in &self.batch.errors {
            let dict = PyDict::new(py);
            let location = error.location.as_ref();
            dict.set_item("file", location.map(|l| l.file.clone()))?;
            dict.set_item("line", location.map(|l| l.line))?;
            dict.set_item(
                "column",
                location.and_then(|l| l.column.as_ref().map(|c| c.1.clone())),
            )?;
            dict.set_item("reason", error.reason.clone())?;
            list.append(dict)?;
        }
        Ok(list)
    }

    /// The report dates the input carries (Flex `ReportDate`s), ISO text.
    #[getter]
    fn report_dates(&self) -> Vec<String> {
        self.dates.iter().map(NaiveDate::to_string).collect()
    }

    /// Raises the first row error (as `InputError`) if there is any.
    fn raise_errors(&self, py: Python<'_>) -> PyResult<()> {
        match self.batch.errors.first() {
            Some(error) => Err(input_error(py, error)),
            None => Ok(()),
        }
    }

    fn __len__(&self) -> usize {
        self.batch.accounts.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "<exfee.Batch: {} account(s), {} row error(s)>",
            self.batch.accounts.len(),
            self.batch.errors.len()
        )
    }
}

/// The scenario source a Python `scenario_set` names: `None` or
/// `"default"`, `"legacy"`, `"fixed"` (fixed stress of the default tables),
/// a TOML file path, or a configuration as TOML text from a dict (built on
/// the Python side; `base` resolves the table files it names).
fn scenario_source(
    py: Python<'_>,
    scenario_set: Option<&Bound<'_, PyAny>>,
    seed: Option<u64>,
    draws: Option<usize>,
) -> PyResult<ScenarioSource> {
    let mut source = match scenario_set {
        None => ScenarioSource::default_set(),
        Some(value) => {
            if let Ok(text) = value.extract::<String>() {
                match text.as_str() {
                    "default" => ScenarioSource::default_set(),
                    "legacy" => ScenarioSource::legacy_set(),
                    "fixed" => ScenarioSource::default_set().fixed_only(),
                    path => read_spec(py, Path::new(path))?,
                }
            } else if let Ok(path) = value.extract::<PathBuf>() {
                read_spec(py, &path)?
            } else if let Ok(dict) = value.cast::<PyDict>() {
                spec_from_dict(py, dict)?
            } else {
                return Err(PyValueError::new_err(
                    "scenario_set is 'default', 'legacy', 'fixed', a TOML path or a dict",
                ));
            }
        }
    };
    if let (true, ScenarioSource::MonteCarlo(spec)) = (seed.is_some() || draws.is_some(), &source) {
        let mut config = spec.config().clone();
        if let Some(seed) = seed {
            config.seed = seed;
        }
        if let Some(draws) = draws {
            config.scenarios = draws;
        }
        let spec = spec.with_config(config).map_err(|e| engine_error(py, e))?;
        source = ScenarioSource::MonteCarlo(Box::new(spec));
    }
    Ok(source)
}

fn read_spec(py: Python<'_>, path: &Path) -> PyResult<ScenarioSource> {
    exfee::io::read_scenario_spec(path)
        .map(|spec| ScenarioSource::MonteCarlo(Box::new(spec)))
        .map_err(|e| io_error(py, &e))
}

/// A configuration dict: keys as in a scenario-set TOML file. Table files
/// are read relative to `base_dir` (key `base_dir`, default the current
/// folder); a file not found there is looked up among the built-in tables
/// (`risk-factors-current.csv`, …).
fn spec_from_dict(py: Python<'_>, dict: &Bound<'_, PyDict>) -> PyResult<ScenarioSource> {
    let json = py
        .import("json")?
        .call_method1("dumps", (dict,))?
        .extract::<String>()?;
    let mut value: toml::Table = serde_json::from_str(&json)
        .map_err(|e| PyValueError::new_err(format!("scenario_set dict: {e}")))?;
    let base = match value.remove("base_dir") {
        Some(toml::Value::String(dir)) => PathBuf::from(dir),
        Some(_) => {
            return Err(PyValueError::new_err(
                "scenario_set base_dir must be a string",
            ));
        }
        None => PathBuf::from("."),
    };
    let text = toml::to_string(&value)
        .map_err(|e| PyValueError::new_err(format!("scenario_set dict: {e}")))?;
    exfee::io::parse_scenario_spec("<scenario_set dict>", &text, |file| {
        let path = base.join(file);
        match std::fs::read(&path) {
            Ok(bytes) => Ok((path.display().to_string(), bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match exfee::shipped_scenario_file(file) {
                    Some(text) => Ok((format!("scenarios/{file}"), text.as_bytes().to_vec())),
                    None => Err(IoError::Unreadable { path, source: e }),
                }
            }
            Err(source) => Err(IoError::Unreadable { path, source }),
        }
    })
    .map(|spec| ScenarioSource::MonteCarlo(Box::new(spec)))
    .map_err(|e| io_error(py, &e))
}

/// Reads a drop folder (`accounts.csv`, `positions.csv`, `cash.csv`,
/// `market/…`).
#[pyfunction]
#[pyo3(signature = (path, scenario_set=None))]
fn read_drop(
    py: Python<'_>,
    path: PathBuf,
    scenario_set: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyBatch> {
    let source = scenario_source(py, scenario_set, None, None)?;
    let paths = DropPaths::in_dir(&path);
    let batch = py
        .detach(|| exfee::io::read_drop(&paths, source.factor_table()))
        .map_err(|e| io_error(py, &e))?;
    Ok(PyBatch {
        batch: Arc::new(batch),
        dates: Vec::new(),
    })
}

/// Reads broker Flex Query CSV reports (files or folders of them) with the
/// market files of `market` (a folder holding `fx.csv`, …).
/// Flex reports read as `exfee run --flex` reads them: every account's NLV
/// reconciled against the broker's NAV (an account whose NLV differs from
/// it by more than the tolerance, or whose NAV is of an earlier date, is
/// failed), the tolerance `nav_tolerance` base units or `nav_tolerance_pct`
/// percent of the NLV, whichever is larger (the CLI's defaults: 1 and
/// 0.01), each a plain decimal text.
#[pyfunction]
#[pyo3(signature = (paths, market, scenario_set=None, nav_tolerance="1", nav_tolerance_pct="0.01"))]
fn read_flex(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    market: PathBuf,
    scenario_set: Option<&Bound<'_, PyAny>>,
    nav_tolerance: &str,
    nav_tolerance_pct: &str,
) -> PyResult<PyBatch> {
    let tolerance_of = |name: &str, text: &str| {
        exfee::model::parse_plain_decimal(text)
            .ok()
            .filter(|value| *value >= exfee::model::Decimal::ZERO)
            .ok_or_else(|| {
                PyValueError::new_err(format!(
                    "{name}: {text:?} is not a plain decimal number of zero or more"
                ))
            })
    };
    let tolerance = exfee::io::NavTolerance {
        units: tolerance_of("nav_tolerance", nav_tolerance)?,
        fraction: tolerance_of("nav_tolerance_pct", nav_tolerance_pct)?
            / exfee::model::Decimal::ONE_HUNDRED,
    };
    let source = scenario_source(py, scenario_set, None, None)?;
    let drop_paths = DropPaths::in_dir(market.parent().unwrap_or(Path::new(".")));
    let drop_paths = DropPaths {
        fx: market.join("fx.csv"),
        factors: market.join("factors.csv"),
        underlyings: market.join("underlyings.csv"),
        rates: market.join("rates.csv"),
        ..drop_paths
    };
    let (batch, dates) = py
        .detach(|| {
            let (market, errors) = exfee::io::read_market(&drop_paths, source.factor_table())?;
            let mut read = exfee::io::read_flex_report(&paths, market)?;
            let dates = read.report_dates();
            exfee::io::reconcile_nav(&mut read, tolerance);
            let mut batch = read.batch;
            batch.errors.extend(errors);
            Ok::<_, IoError>((batch, dates))
        })
        .map_err(|e| io_error(py, &e))?;
    Ok(PyBatch {
        batch: Arc::new(batch),
        dates,
    })
}

/// A batch from CSV texts with the drop's columns (the Python side writes
/// each DataFrame or Arrow table as CSV): keys `accounts`, `positions`,
/// `cash`, `fx`, `factors`, `underlyings`, `rates`. A file not given is read
/// from `market_dir` for the market files, else taken as absent. Errors
/// name `<accounts>`, `<positions>`, … and the line as if each table were a
/// CSV file (the header is line 1).
#[pyfunction]
#[pyo3(signature = (tables, market_dir=None, scenario_set=None))]
fn batch_from_csv(
    py: Python<'_>,
    tables: std::collections::HashMap<String, Vec<u8>>,
    market_dir: Option<PathBuf>,
    scenario_set: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyBatch> {
    let source = scenario_source(py, scenario_set, None, None)?;
    let names = [
        "accounts",
        "positions",
        "cash",
        "fx",
        "factors",
        "underlyings",
        "rates",
    ];
    for key in tables.keys() {
        if !names.contains(&key.as_str()) {
            return Err(PyValueError::new_err(format!(
                "unknown table {key:?}: expected one of {names:?}"
            )));
        }
    }
    let paths = DropPaths {
        accounts: PathBuf::from("<accounts>"),
        positions: PathBuf::from("<positions>"),
        cash: PathBuf::from("<cash>"),
        fx: PathBuf::from("<fx>"),
        factors: PathBuf::from("<factors>"),
        underlyings: PathBuf::from("<underlyings>"),
        rates: PathBuf::from("<rates>"),
    };
    let batch = py
        .detach(|| {
            exfee::io::read_drop_with(&paths, source.factor_table(), |path: &Path| {
                let name = path
                    .to_str()
                    .unwrap_or_default()
                    .trim_start_matches('<')
                    .trim_end_matches('>');
                if let Some(bytes) = tables.get(name) {
                    return Ok(std::io::Cursor::new(bytes.clone()));
                }
                match (&market_dir, name) {
                    (Some(dir), "fx" | "factors" | "underlyings" | "rates") => {
                        std::fs::read(dir.join(format!("{name}.csv"))).map(std::io::Cursor::new)
                    }
                    _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
                }
            })
        })
        .map_err(|e| io_error(py, &e))?;
    Ok(PyBatch {
        batch: Arc::new(batch),
        dates: Vec::new(),
    })
}

/// One night's evaluation of a batch: results rows, fees, scenario P&L.
#[pyclass(module = "exfee._exfee", name = "Evaluation", frozen)]
pub struct PyEvaluation {
    batch: Arc<Batch>,
    night: NightFees,
    source: ScenarioSource,
    config: EngineConfig,
    schedule: FeeSchedule,
    /// The what-if fast path (the night's set, the shared unit P&L cache),
    /// built on the first what-if question.
    book: std::sync::OnceLock<Arc<exfee::WhatIfBook>>,
}

fn parse_date(py: Python<'_>, text: &str) -> PyResult<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| {
        located::<ExfeeInputError>(
            py,
            format!("date {text:?} is not YYYY-MM-DD: {e}"),
            None,
            None,
            None,
        )
    })
}

fn read_text(py: Python<'_>, path: &Path) -> PyResult<String> {
    std::fs::read_to_string(path).map_err(|e| {
        located::<ExfeeInputError>(
            py,
            format!("cannot read {}: {e}", path.display()),
            Some(path.display().to_string()),
            None,
            None,
        )
    })
}

/// Evaluates a batch on `date`: every account under the scenario set, its
/// fee as a first night (no grace history).
#[pyfunction]
#[pyo3(signature = (batch, date, scenario_set=None, horizon_days=0, seed=None, draws=None, fee=None, holidays=None))]
#[allow(clippy::too_many_arguments)]
fn evaluate(
    py: Python<'_>,
    batch: &PyBatch,
    date: &str,
    scenario_set: Option<&Bound<'_, PyAny>>,
    horizon_days: u32,
    seed: Option<u64>,
    draws: Option<usize>,
    fee: Option<PathBuf>,
    holidays: Option<PathBuf>,
) -> PyResult<PyEvaluation> {
    let date = parse_date(py, date)?;
    let source = scenario_source(py, scenario_set, seed, draws)?;
    let schedule = match &fee {
        Some(path) => FeeSchedule::from_toml_str(&read_text(py, path)?).map_err(|e| {
            located::<ExfeeInputError>(
                py,
                format!("fee schedule {}: {e}", path.display()),
                Some(path.display().to_string()),
                None,
                None,
            )
        })?,
        None => FeeSchedule::default(),
    };
    let calendar = match &holidays {
        Some(path) => TradingCalendar::parse_holidays(&read_text(py, path)?).map_err(|e| {
            located::<ExfeeInputError>(
                py,
                format!("holidays {}: {e}", path.display()),
                Some(path.display().to_string()),
                None,
                None,
            )
        })?,
        None => TradingCalendar::default(),
    };
    let mut config = EngineConfig::new(date);
    config.horizon_days = horizon_days;
    let data = Arc::clone(&batch.batch);
    let night = py
        .detach(|| {
            let evaluation = exfee::evaluate_batch_with(
                &data,
                &source,
                &config,
                EvaluateOptions {
                    stocks: None,
                    measure: Some(schedule.measure),
                    progress: None,
                },
            )
            .map_err(|e| e.to_string())?;
            NightFees::first_night(evaluation, &data, &schedule, &calendar, date)
                .map_err(|e| e.to_string())
        })
        .map_err(|e| engine_error(py, e))?;
    Ok(PyEvaluation {
        batch: Arc::clone(&batch.batch),
        night,
        source,
        config,
        schedule,
        book: std::sync::OnceLock::new(),
    })
}

impl PyEvaluation {
    fn account_index(&self, py: Python<'_>, account: &str) -> PyResult<usize> {
        self.batch
            .accounts
            .iter()
            .position(|a| a.id == account)
            .ok_or_else(|| {
                located::<ExfeeError>(
                    py,
                    format!("no account {account} in the batch"),
                    None,
                    None,
                    None,
                )
            })
    }
}

#[pymethods]
impl PyEvaluation {
    /// The `results.csv` columns, in order.
    #[getter]
    fn columns(&self) -> Vec<&'static str> {
        exfee::results_header()
    }

    /// The `results.csv` rows, as text cells (before the CSV writer's
    /// formula neutralisation), in column order.
    fn rows(&self) -> Vec<Vec<String>> {
        exfee::results_rows(&self.night)
    }

    /// Number of scenarios.
    #[getter]
    fn scenario_count(&self) -> usize {
        self.night.evaluation.scenarios.len()
    }

    /// The scenario names (`None` for an unnamed Monte Carlo draw).
    fn scenario_names(&self) -> Vec<Option<String>> {
        let set = &self.night.evaluation.scenarios;
        (0..set.len())
            .map(|i| set.name(i).map(str::to_string))
            .collect()
    }

    /// An account's P&L in each scenario (base currency, float64), as a
    /// NumPy array that owns the engine's buffer (no copy).
    fn pnl<'py>(&self, py: Python<'py>, account: &str) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let index = self.account_index(py, account)?;
        let evaluation = &self.night.evaluation;
        let pnl = py
            .detach(|| {
                exfee::engine::accounts_pnl(&evaluation.prepared, &evaluation.scenarios, &[index])
            })
            .map_err(|e| engine_error(py, e))?;
        let total = match pnl.first() {
            Some(detail) if !detail.holdings.is_empty() => detail.total(),
            Some(_) => vec![0.0; evaluation.scenarios.len()],
            None => {
                return Err(located::<ExfeeError>(
                    py,
                    format!("account {account} was not evaluated"),
                    None,
                    None,
                    None,
                ));
            }
        };
        Ok(PyArray1::from_vec(py, total))
    }

    /// Several accounts' P&L as one (accounts × scenarios) float64 array
    /// (one buffer, no copy into NumPy).
    fn pnl_matrix<'py>(
        &self,
        py: Python<'py>,
        accounts: Vec<String>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let indices = accounts
            .iter()
            .map(|a| self.account_index(py, a))
            .collect::<PyResult<Vec<_>>>()?;
        let evaluation = &self.night.evaluation;
        let n = evaluation.scenarios.len();
        let details = py
            .detach(|| {
                exfee::engine::accounts_pnl(&evaluation.prepared, &evaluation.scenarios, &indices)
            })
            .map_err(|e| engine_error(py, e))?;
        let mut flat = vec![0.0; indices.len() * n];
        for (row, &index) in indices.iter().enumerate() {
            match details.iter().find(|d| d.account == index) {
                Some(detail) if !detail.holdings.is_empty() => {
                    flat[row * n..(row + 1) * n].copy_from_slice(&detail.total());
                }
                Some(_) => {}
                None => {
                    return Err(located::<ExfeeError>(
                        py,
                        format!("account {} was not evaluated", accounts[row]),
                        None,
                        None,
                        None,
                    ));
                }
            }
        }
        PyArray1::from_vec(py, flat).reshape([indices.len(), n])
    }

    /// An account's fee assessment as a dict of text figures.
    fn assessment<'py>(&self, py: Python<'py>, account: &str) -> PyResult<Bound<'py, PyDict>> {
        let index = self.account_index(py, account)?;
        let dict = PyDict::new(py);
        let row = exfee::results_row(
            &self.night.evaluation.results[index],
            self.night.fees[index].as_ref(),
        );
        for (key, value) in exfee::results_header().into_iter().zip(row) {
            dict.set_item(key, value)?;
        }
        if let Some(fee) = &self.night.fees[index] {
            // The fee the measurement implies, whether or not in grace.
            dict.set_item("measured_daily_fee", fee.breakdown.daily_fee.to_string())?;
            dict.set_item("threshold", fee.breakdown.threshold.to_string())?;
            dict.set_item("annual_amount", fee.breakdown.annual_amount.to_string())?;
        }
        Ok(dict)
    }

    /// The fee before and after an order: a dict with `before`, `after`
    /// (each `nlv`, `measure`, `uncovered`, `daily_fee` as decimal text) and
    /// `change`. `orders_json` is a JSON list of orders (positions.csv
    /// field names, `price` for the mark).
    fn what_if<'py>(
        &self,
        py: Python<'py>,
        account: &str,
        orders_json: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let orders: Vec<exfee::Order> = serde_json::from_str(orders_json)
            .map_err(|e| PyValueError::new_err(format!("orders: {e}")))?;
        let index = self.account_index(py, account)?;
        let batch = Arc::clone(&self.batch);
        let answer = py
            .detach(|| {
                let positions = exfee::orders_to_positions(&batch, account, &orders)
                    .map_err(|e| e.to_string())?;
                let book = self.book.get_or_init(|| {
                    Arc::new(exfee::WhatIfBook::with_set(
                        self.night.evaluation.scenarios.clone(),
                        &batch.market,
                        &self.source,
                        &self.config,
                        &self.schedule,
                        exfee::DEFAULT_LEG_CACHE_BYTES,
                    ))
                });
                let holder = batch
                    .accounts
                    .get(index)
                    .ok_or_else(|| format!("no account {account}"))?;
                let what_if = book.account(holder).map_err(|e| e.to_string())?;
                what_if.order(&positions).map_err(|e| e.to_string())
            })
            .map_err(|e| located::<ExfeeInputError>(py, e, None, None, None))?;
        let currency = self.night.evaluation.results[index]
            .base_currency
            .map(|c| c.to_string())
            .unwrap_or_default();
        let json = exfee::what_if_answer(
            account,
            &currency,
            self.night.fees[index].as_ref(),
            None,
            &self.schedule,
            self.config.valuation_date,
            &answer,
        );
        py.import("json")?
            .call_method1("loads", (json.to_string(),))?
            .cast_into::<PyDict>()
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }
}

/// The native module.
#[pymodule]
fn _exfee(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ExfeeError", m.py().get_type::<ExfeeError>())?;
    m.add("InputError", m.py().get_type::<ExfeeInputError>())?;
    m.add_class::<PyBatch>()?;
    m.add_class::<PyEvaluation>()?;
    m.add_function(wrap_pyfunction!(read_drop, m)?)?;
    m.add_function(wrap_pyfunction!(read_flex, m)?)?;
    m.add_function(wrap_pyfunction!(batch_from_csv, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    spark::register(m)?;
    Ok(())
}
