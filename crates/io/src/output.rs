//! Writing outputs: always to a temporary file in the target folder, then
//! renamed over the target, so a reader sees the old file or the new one,
//! never a part.

use std::io::{BufWriter, Write};
use std::path::Path;

use exfee_engine::{AccountResult, OptionReport, Outcome};
use exfee_model::InputError;

use crate::IoError;

/// Writes `path` atomically: `write` fills a temporary file beside it, which
/// is flushed, synced and renamed over `path`.
///
/// # Errors
///
/// [`IoError::Write`] when the folder is not writable or writing fails; the
/// previous file, if any, is then untouched.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), IoError> {
    let wrap = |source| IoError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".exfee-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(wrap)?;
    {
        let mut out = BufWriter::new(temp.as_file_mut());
        write(&mut out).map_err(wrap)?;
        out.flush().map_err(wrap)?;
    }
    temp.as_file().sync_all().map_err(wrap)?;
    temp.persist(path).map_err(|e| wrap(e.error))?;
    Ok(())
}

fn csv_error(e: csv::Error) -> std::io::Error {
    std::io::Error::other(e)
}

/// The `results.csv` header.
pub const RESULTS_HEADER: [&str; 10] = [
    "account",
    "base_currency",
    "status",
    "nlv",
    "worst_loss",
    "worst_scenario",
    "uncovered",
    "error",
    "worst_scenario_index",
    "warnings",
];

/// How a scenario is named in outputs: its name, or `#<index>` for an
/// unnamed Monte Carlo draw.
pub fn scenario_label(index: usize, name: Option<&str>) -> String {
    name.map_or_else(|| format!("#{index}"), str::to_string)
}

/// Joins an account's errors into one cell.
pub fn join_errors(errors: &[InputError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The `results.csv` cells of one account, in [`RESULTS_HEADER`] order.
pub fn results_record(result: &AccountResult) -> Vec<String> {
    let base = result
        .base_currency
        .map(|c| c.to_string())
        .unwrap_or_default();
    match &result.outcome {
        Outcome::Evaluated(risk) => vec![
            result.account.clone(),
            base,
            if risk.uncovered > exfee_model::Decimal::ZERO {
                "uncovered".into()
            } else {
                "ok".into()
            },
            risk.nlv.to_string(),
            risk.worst_loss.to_string(),
            scenario_label(risk.worst_scenario, risk.worst_scenario_name.as_deref()),
            risk.uncovered.to_string(),
            String::new(),
            risk.worst_scenario.to_string(),
            risk.warnings.join(" | "),
        ],
        Outcome::Failed(errors) => vec![
            result.account.clone(),
            base,
            "failed".into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            join_errors(errors),
            String::new(),
            String::new(),
        ],
    }
}

/// Writes `results.csv`: one row per account, in input order, with the
/// [`RESULTS_HEADER`] columns.
///
/// # Errors
///
/// [`IoError::Write`] as [`write_atomically`].
pub fn write_results(path: &Path, results: &[AccountResult]) -> Result<(), IoError> {
    write_csv(path, &RESULTS_HEADER, results.iter().map(results_record))
}

/// A cell as written to a CSV file: text that a spreadsheet would run as a
/// formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) is
/// prefixed with `'`, unless it is a number.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.parse::<f64>().is_err() {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// Writes a CSV file atomically: `header`, then `rows`, every cell passed
/// through [`neutralise`].
///
/// # Errors
///
/// [`IoError::Write`] as [`write_atomically`].
pub fn write_csv<I>(path: &Path, header: &[&str], rows: I) -> Result<(), IoError>
where
    I: IntoIterator,
    I::Item: IntoIterator,
    <I::Item as IntoIterator>::Item: AsRef<str>,
{
    write_atomically(path, |out| {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(header).map_err(csv_error)?;
        for row in rows {
            let cells: Vec<String> = row
                .into_iter()
                .map(|cell| neutralise(cell.as_ref()).into_owned())
                .collect();
            csv.write_record(&cells).map_err(csv_error)?;
        }
        csv.flush()
    })
}

/// Writes `errors.csv`: every input problem of the run, one per row:
/// `account,file,line,column,reason` (account empty for a row that names
/// no account).
///
/// # Errors
///
/// [`IoError::Write`] as [`write_atomically`].
pub fn write_errors(
    path: &Path,
    batch_errors: &[InputError],
    results: &[AccountResult],
) -> Result<(), IoError> {
    write_atomically(path, |out| {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(["account", "file", "line", "column", "reason"])
            .map_err(csv_error)?;
        let per_account = results.iter().flat_map(|r| match &r.outcome {
            Outcome::Failed(errors) => errors.iter().map(|e| (r.account.as_str(), e)).collect(),
            Outcome::Evaluated(_) => Vec::new(),
        });
        for (account, error) in batch_errors.iter().map(|e| ("", e)).chain(per_account) {
            let (file, line, column) = match &error.location {
                Some(l) => (
                    l.file.clone(),
                    l.line.to_string(),
                    l.column
                        .as_ref()
                        .map(|(_, name)| name.clone())
                        .unwrap_or_default(),
                ),
                None => Default::default(),
            };
            csv.write_record([account, &file, &line, &column, &error.reason])
                .map_err(csv_error)?;
        }
        csv.flush()
    })
}

/// Writes `options.csv`: every distinct option contract as priced —
/// `symbol,underlying,currency,mark,model_price,gap,implied_vol,vol_source,time_to_expiry`
/// where `gap` = model price − mark (the engine re-centres on the model, so
/// the base P&L is zero whatever the gap).
///
/// # Errors
///
/// [`IoError::Write`] as [`write_atomically`].
pub fn write_options(path: &Path, options: &[OptionReport]) -> Result<(), IoError> {
    use rust_decimal::prelude::FromPrimitive;
    write_atomically(path, |out| {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record([
            "symbol",
            "underlying",
            "currency",
            "mark",
            "model_price",
            "gap",
            "implied_vol",
            "vol_source",
            "time_to_expiry",
        ])
        .map_err(csv_error)?;
        for option in options {
            let model = exfee_model::Decimal::from_f64(option.model_price)
                .unwrap_or_default()
                .round_dp(4);
            csv.write_record([
                option.symbol.as_str(),
                &option.underlying,
                option.currency.as_str(),
                &option.mark.to_string(),
                &model.to_string(),
                &(model - option.mark).to_string(),
                &option.implied_vol.to_string(),
                if option.vol_defaulted {
                    "default"
                } else {
                    "input"
                },
                &format!("{:.6}", option.time_to_expiry),
            ])
            .map_err(csv_error)?;
        }
        csv.flush()
    })
}
