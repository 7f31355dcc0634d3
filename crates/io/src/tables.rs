//! Reading factor tables (`factor,representative_product,symbol,
//! lower_bound_pct,upper_bound_pct`) and FX tables
//! (`currency,lower_bound_pct,upper_bound_pct`).

use std::io::Read;

use exfee_model::{Bounds, FactorTable, FxFactor, FxTable, InputError, PrimaryFactor};

use crate::IoError;
use crate::csvin::{CsvFile, Fields, Row};

fn bounds(row: &Row<'_>, what: &str) -> Result<Bounds, InputError> {
    let lower = row.decimal("lower_bound_pct")?;
    let upper = row.decimal("upper_bound_pct")?;
    Bounds::new(what, lower, upper).map_err(|e| row.error_at_row(e.to_string()))
}

/// Reads a factor table; `name` is how the source is shown in errors.
///
/// A table is configuration: any bad row makes the whole table unusable.
///
/// # Errors
///
/// [`IoError`] naming the file, line and column of the first problem.
///
/// # Examples
///
/// ```
/// let csv = "factor,representative_product,symbol,lower_bound_pct,upper_bound_pct\n\
///            Equity,S&P 500 Index,SPX,-30.00,20.00\n\
///            Individual Stocks,(each single stock),,-50.00,50.00\n";
/// let table = exfee_io::parse_factor_table("factors.csv", csv.as_bytes()).unwrap();
/// assert_eq!(table.factors()[0].symbol, "SPX");
/// assert_eq!(table.single_stock_bounds().upper(), 0.5);
/// ```
pub fn parse_factor_table(name: &str, reader: impl Read) -> Result<FactorTable, IoError> {
    let rows = read_rows(
        name,
        reader,
        &["factor", "symbol", "lower_bound_pct", "upper_bound_pct"],
        |row| {
            let factor = row.required("factor")?;
            Ok(PrimaryFactor {
                name: factor.to_string(),
                representative: row.text("representative_product")?.to_string(),
                symbol: row.text("symbol")?.to_string(),
                bounds: bounds(row, factor)?,
            })
        },
    )?;
    FactorTable::new(rows).map_err(|e| bad_table(name, e))
}

/// Reads an FX stress table; `name` is how the source is shown in errors.
///
/// # Errors
///
/// [`IoError`] naming the file, line and column of the first problem.
pub fn parse_fx_table(name: &str, reader: impl Read) -> Result<FxTable, IoError> {
    let rows = read_rows(
        name,
        reader,
        &["currency", "lower_bound_pct", "upper_bound_pct"],
        |row| {
            let currency = row.currency("currency")?;
            Ok(FxFactor {
                currency,
                bounds: bounds(row, currency.as_str())?,
            })
        },
    )?;
    FxTable::new(rows).map_err(|e| bad_table(name, e))
}

fn bad_table(name: &str, reason: impl ToString) -> IoError {
    IoError::BadTable {
        path: name.to_string(),
        reason: reason.to_string(),
    }
}

/// Every row of a table file parsed by `parse`. A table is configuration:
/// the first problem (a bad value, then an unreadable row) fails it whole.
fn read_rows<T>(
    name: &str,
    reader: impl Read,
    required: &[&'static str],
    parse: impl Fn(&Row<'_>) -> Result<T, InputError>,
) -> Result<Vec<T>, IoError> {
    let file = CsvFile::new(name, reader, required)?;
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut broken = Vec::new();
    file.for_each_row(
        |row| match parse(row) {
            Ok(value) => rows.push(value),
            Err(e) => problems.push(e),
        },
        |e, _| broken.push(e),
    );
    problems.extend(broken);
    match problems.into_iter().next() {
        Some(first) => Err(bad_table(name, first)),
        None => Ok(rows),
    }
}
