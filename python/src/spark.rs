//! The native half of `exfee.spark` (docs/scaling.md, "On Spark").
//!
//! Spark moves raw lines of the drop's account files, each with its line
//! number in the original file; the engine's own reader
//! ([`exfee::io::read_drop_with`]) reads them, so a bad row fails its account
//! with the original file, line and column, exactly as `exfee run` says it.
//! Nothing here parses a row beyond finding which account it names (to route
//! it to its shard: [`route_lines`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use exfee::fee::FeeSchedule;
use exfee::io::{DropPaths, IoError};
use exfee::night::{EvaluateSettings, evaluate_part, write_evaluation};
use exfee::scenarios::SingleStock;
use exfee::{Batch, EngineConfig, ScenarioSource, Shard};

use crate::{engine_error, io_error, parse_date};

/// The shard of `count` that `account` belongs to: the hash `exfee evaluate
/// --shard I/N` uses (FNV-1a of the id's UTF-8 bytes, modulo N).
#[pyfunction]
fn shard_of(account: &str, count: u64) -> PyResult<u64> {
    Shard::index_of(account, count).ok_or_else(|| PyValueError::new_err("count must be > 0"))
}

/// The index of the `account` column in a header line (as the reader
/// names columns: fields trimmed, a leading byte-order mark dropped).
fn account_column(header: &[u8]) -> PyResult<usize> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(header);
    let mut record = csv::ByteRecord::new();
    let found = reader
        .read_byte_record(&mut record)
        .map_err(|e| PyValueError::new_err(format!("header: {e}")))?;
    if !found {
        return Err(PyValueError::new_err("empty header"));
    }
    record
        .iter()
        .position(|field| {
            String::from_utf8_lossy(field)
                .trim_start_matches('\u{feff}')
                .trim()
                == "account"
        })
        .ok_or_else(|| PyValueError::new_err("the header has no account column"))
}

/// The account each line names, for routing only: the `account` field (the
/// header's column), trimmed as the reader trims it; `None` for a line that
/// names none (empty, not UTF-8, too short), which every shard then reads
/// (its error is the whole night's). Also returns the indices of the lines
/// whose quotes do not balance (a quoted field going on past the line end):
/// one line is not one record there.
#[pyfunction]
fn route_lines(header: &[u8], lines: Vec<Vec<u8>>) -> PyResult<(Vec<Option<String>>, Vec<usize>)> {
    let column = account_column(header)?;
    let mut accounts = Vec::with_capacity(lines.len());
    let mut spanning = Vec::new();
    let mut record = csv::ByteRecord::new();
    for (index, line) in lines.iter().enumerate() {
        if line.iter().filter(|&&b| b == b'"').count() % 2 == 1 {
            spanning.push(index);
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(line.as_slice());
        let account = match reader.read_byte_record(&mut record) {
            Ok(true) => record
                .get(column)
                .and_then(|field| std::str::from_utf8(field.trim_ascii()).ok())
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_string),
            _ => None,
        };
        accounts.push(account);
    }
    Ok((accounts, spanning))
}

/// What the scenario set of a night needs, read once on the driver and
/// broadcast: the configuration's name and text and every file it names,
/// as read (`None`: the built-in default set).
type Bundle = Option<(String, String, HashMap<String, (String, Vec<u8>)>)>;

/// Reads a scenario-set configuration and the files it names (relative to
/// its folder), for [`source_of`] on the executors; `None` for the default.
#[pyfunction]
#[pyo3(signature = (scenario_set=None))]
fn scenario_bundle(py: Python<'_>, scenario_set: Option<PathBuf>) -> PyResult<Bundle> {
    let Some(path) = scenario_set else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|source| {
        io_error(
            py,
            &IoError::Unreadable {
                path: path.clone(),
                source,
            },
        )
    })?;
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let files = RefCell::new(HashMap::new());
    let name = path.display().to_string();
    exfee::io::parse_scenario_spec(&name, &text, |file| {
        let full = dir.join(file);
        let bytes = std::fs::read(&full).map_err(|source| IoError::Unreadable {
            path: full.clone(),
            source,
        })?;
        let shown = full.display().to_string();
        files
            .borrow_mut()
            .insert(file.to_string(), (shown.clone(), bytes.clone()));
        Ok((shown, bytes))
    })
    .map_err(|e| io_error(py, &e))?;
    Ok(Some((name, text, files.into_inner())))
}

/// The scenario source of a bundle (the same spec `exfee run
/// --scenario-set FILE` reads).
fn source_of(py: Python<'_>, bundle: &Bundle) -> PyResult<ScenarioSource> {
    let Some((name, text, files)) = bundle else {
        return Ok(ScenarioSource::default_set());
    };
    exfee::io::parse_scenario_spec(name, text, |file| {
        files.get(file).cloned().ok_or_else(|| IoError::Unreadable {
            path: PathBuf::from(file),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })
    })
    .map(|spec| ScenarioSource::MonteCarlo(Box::new(spec)))
    .map_err(|e| io_error(py, &e))
}

/// One account file's text rebuilt from (line number, raw line) pairs:
/// each line on its original line (the lines between left empty, which
/// the reader skips and counts), so every error names the original line.
fn rebuild(lines: &mut [(u64, Vec<u8>)]) -> Result<Vec<u8>, String> {
    lines.sort_by_key(|(line, _)| *line);
    let mut text = Vec::new();
    let mut at = 1_u64;
    for (index, (line, raw)) in lines.iter().enumerate() {
        if *line < at || (index > 0 && *line == at) {
            return Err(format!("line {line} given twice or out of order"));
        }
        text.resize(
            text.len() + usize::try_from(line - at).map_err(|e| e.to_string())?,
            b'\n',
        );
        text.extend_from_slice(raw);
        at = *line;
    }
    text.push(b'\n');
    Ok(text)
}

/// Reads one part of a drop with the engine's reader: `files` maps
/// `accounts`, `positions` and `cash` to their (line number, raw line)
/// pairs (the header's among them; a file not given is absent), `market`
/// maps `fx`, `factors`, `underlyings` and `rates` to their bytes. Files
/// are named as in `drop_dir` (as `exfee run DROP_DIR` names them).
fn read_part(
    py: Python<'_>,
    drop_dir: &Path,
    files: HashMap<String, Vec<(u64, Vec<u8>)>>,
    market: &HashMap<String, Vec<u8>>,
    source: &ScenarioSource,
) -> PyResult<Batch> {
    let paths = DropPaths::in_dir(drop_dir);
    let mut texts: HashMap<PathBuf, Vec<u8>> = HashMap::new();
    for (name, mut lines) in files {
        let path = match name.as_str() {
            "accounts" => &paths.accounts,
            "positions" => &paths.positions,
            "cash" => &paths.cash,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown account file {other:?}"
                )));
            }
        };
        let text = rebuild(&mut lines)
            .map_err(|e| PyValueError::new_err(format!("{}: {e}", path.display())))?;
        texts.insert(path.clone(), text);
    }
    for (name, bytes) in market {
        let path = match name.as_str() {
            "fx" => &paths.fx,
            "factors" => &paths.factors,
            "underlyings" => &paths.underlyings,
            "rates" => &paths.rates,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown market file {other:?}"
                )));
            }
        };
        texts.insert(path.clone(), bytes.clone());
    }
    py.detach(|| {
        exfee::io::read_drop_with(&paths, source.factor_table(), |path: &Path| {
            texts
                .get(path)
                .map(|bytes| Cursor::new(bytes.as_slice()))
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        })
    })
    .map_err(|e| io_error(py, &e))
}

/// The single stocks of a part (pass 1): (symbol, own volatility as IEEE
/// bits). The night's are the union over the parts, sorted by symbol
/// ([`exfee::single_stocks`]'s order).
#[pyfunction]
fn part_stocks(
    py: Python<'_>,
    drop_dir: PathBuf,
    files: HashMap<String, Vec<(u64, Vec<u8>)>>,
    market: HashMap<String, Vec<u8>>,
    scenario: Bundle,
) -> PyResult<Vec<(String, u64)>> {
    let source = source_of(py, &scenario)?;
    let batch = read_part(py, &drop_dir, files, &market, &source)?;
    Ok(exfee::engine::single_stocks(&batch, source.factor_table())
        .into_iter()
        .map(|s| (s.symbol, s.idio_vol.to_bits()))
        .collect())
}

/// Evaluates one shard's part of a drop (pass 2) with the code of `exfee
/// evaluate` and writes its evaluation file at `out` (atomically: a retried
/// or speculative attempt replaces it with the same bytes). `positions`
/// gives each account's place in the whole input, `stocks` the night's
/// single stocks (from [`part_stocks`]). Every account read must belong to
/// shard `index` of `count`. Returns the number of accounts.
#[pyfunction]
#[pyo3(signature = (drop_dir, files, market, scenario, index, count, positions, stocks, out, date, horizon_days=0, memory_budget_mib=512, fee_text=None))]
#[allow(clippy::too_many_arguments)]
fn evaluate_part_file(
    py: Python<'_>,
    drop_dir: PathBuf,
    files: HashMap<String, Vec<(u64, Vec<u8>)>>,
    market: HashMap<String, Vec<u8>>,
    scenario: Bundle,
    index: u64,
    count: u64,
    positions: HashMap<String, u64>,
    stocks: Vec<(String, u64)>,
    out: PathBuf,
    date: &str,
    horizon_days: u32,
    memory_budget_mib: usize,
    fee_text: Option<String>,
) -> PyResult<usize> {
    let date: NaiveDate = parse_date(py, date)?;
    let source = source_of(py, &scenario)?;
    let schedule = match &fee_text {
        Some(text) => FeeSchedule::from_toml_str(text)
            .map_err(|e| engine_error(py, format!("fee schedule: {e}")))?,
        None => FeeSchedule::default(),
    };
    let batch = read_part(py, &drop_dir, files, &market, &source)?;
    let mut places = Vec::with_capacity(batch.accounts.len());
    for account in &batch.accounts {
        let shard = Shard::index_of(&account.id, count);
        if shard != Some(index) {
            return Err(engine_error(
                py,
                format!(
                    "account {:?} was read in part {index} of {count} but belongs to part {}: \
                     its rows were routed by a different account id than the reader's",
                    account.id,
                    shard.unwrap_or_default()
                ),
            ));
        }
        let place = positions.get(&account.id).copied().ok_or_else(|| {
            engine_error(
                py,
                format!("account {:?} has no place in the input", account.id),
            )
        })?;
        places.push(place);
    }
    let stocks = stocks
        .into_iter()
        .map(|(symbol, bits)| SingleStock {
            symbol,
            idio_vol: f64::from_bits(bits),
        })
        .collect();
    let mut config = EngineConfig::new(date);
    config.horizon_days = horizon_days;
    config.memory_budget_bytes = memory_budget_mib.saturating_mul(1 << 20);
    py.detach(|| {
        let night = evaluate_part(
            batch,
            places,
            stocks,
            &EvaluateSettings {
                source: &source,
                config: &config,
                schedule: &schedule,
                shard: None,
                progress: None,
            },
        )
        .map_err(|e| e.to_string())?;
        write_evaluation(&out, &night).map_err(|e| format!("{e:#}"))?;
        Ok::<_, String>(night.accounts.len())
    })
    .map_err(|e| engine_error(py, e))
}

/// Adds the Spark functions to the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(shard_of, m)?)?;
    m.add_function(wrap_pyfunction!(route_lines, m)?)?;
    m.add_function(wrap_pyfunction!(scenario_bundle, m)?)?;
    m.add_function(wrap_pyfunction!(part_stocks, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_part_file, m)?)?;
    Ok(())
}
