//! A thin layer over `csv` that finds columns by name and turns every field
//! problem into an [`InputError`] with file, line and column.

use std::collections::HashMap;
use std::io::Read;
use std::str::FromStr;

use chrono::NaiveDate;
use exfee_model::{Currency, Decimal, InputError, SourceLocation};

use crate::IoError;

/// A CSV file being read row by row, with its header.
pub(crate) struct CsvFile<R: Read> {
    name: String,
    reader: csv::Reader<R>,
    header: Vec<String>,
    columns: HashMap<String, usize>,
}

impl<R: Read> CsvFile<R> {
    /// Opens `reader` (shown to users as `name`) and checks that `required`
    /// columns are present.
    pub fn new(name: &str, reader: R, required: &[&'static str]) -> Result<Self, IoError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let header = reader.byte_headers().map_err(|e| IoError::BadHeader {
            path: name.to_string(),
            reason: e.to_string(),
        })?;
        let header: Vec<String> = header
            .iter()
            .map(|field| {
                String::from_utf8_lossy(field)
                    .trim_start_matches('\u{feff}')
                    .trim()
                    .to_string()
            })
            .collect();
        let mut columns = HashMap::new();
        for (index, column) in header.iter().enumerate() {
            if column.is_empty() {
                continue;
            }
            if columns.insert(column.clone(), index).is_some() {
                return Err(IoError::DuplicateColumn {
                    path: name.to_string(),
                    column: column.clone(),
                });
            }
        }
        for &column in required {
            if !columns.contains_key(column) {
                return Err(IoError::MissingColumn {
                    path: name.to_string(),
                    column,
                    found: header.join(","),
                });
            }
        }
        Ok(CsvFile {
            name: name.to_string(),
            reader,
            header,
            columns,
        })
    }

    /// Calls `each` on every data row. A row that cannot be split into
    /// fields is reported through `broken` with its line.
    pub fn for_each_row(
        mut self,
        mut each: impl FnMut(&Row<'_>),
        mut broken: impl FnMut(InputError),
    ) {
        let mut record = csv::ByteRecord::new();
        loop {
            match self.reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    let line = record.position().map_or(0, |p| p.line());
                    if record.iter().all(|f| f.is_empty()) {
                        continue; // a blank line
                    }
                    let row = Row {
                        file: &self.name,
                        line,
                        record: &record,
                        header: &self.header,
                        columns: &self.columns,
                    };
                    if record.len() != self.header.len() {
                        broken(row.error_at_row(format!(
                            "row has {} fields but the header has {}",
                            record.len(),
                            self.header.len()
                        )));
                        continue;
                    }
                    each(&row);
                }
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    broken(InputError::at(
                        SourceLocation {
                            file: self.name.clone(),
                            line,
                            column: None,
                        },
                        format!("unreadable row: {e}"),
                    ));
                    if !matches!(
                        e.kind(),
                        csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }
                    ) {
                        break;
                    }
                }
            }
        }
    }
}

/// One data row.
pub(crate) struct Row<'a> {
    pub(crate) file: &'a str,
    pub(crate) line: u64,
    pub(crate) record: &'a csv::ByteRecord,
    pub(crate) header: &'a [String],
    pub(crate) columns: &'a HashMap<String, usize>,
}

impl Row<'_> {
    /// The location of a column of this row.
    pub fn location(&self, column: &str) -> SourceLocation {
        SourceLocation {
            file: self.file.to_string(),
            line: self.line,
            column: self
                .columns
                .get(column)
                .map(|&i| (i + 1, self.header[i].clone())),
        }
    }

    /// An error about the whole row.
    pub fn error_at_row(&self, reason: impl Into<String>) -> InputError {
        InputError::at(
            SourceLocation {
                file: self.file.to_string(),
                line: self.line,
                column: None,
            },
            reason,
        )
    }

    /// An error about one column of this row.
    pub fn error(&self, column: &str, reason: impl Into<String>) -> InputError {
        InputError::at(self.location(column), reason)
    }

    /// The text of a column; empty when the column is not in the file.
    pub fn text(&self, column: &str) -> Result<&str, InputError> {
        let Some(&index) = self.columns.get(column) else {
            return Ok("");
        };
        let bytes = self.record.get(index).unwrap_or_default();
        std::str::from_utf8(bytes)
            .map(str::trim)
            .map_err(|_| self.error(column, "not valid UTF-8 text"))
    }

    /// A non-empty text.
    pub fn required(&self, column: &str) -> Result<&str, InputError> {
        let text = self.text(column)?;
        if text.is_empty() {
            Err(self.error(column, "missing value"))
        } else {
            Ok(text)
        }
    }

    /// A currency code.
    pub fn currency(&self, column: &str) -> Result<Currency, InputError> {
        let text = self.required(column)?;
        Currency::from_str(text).map_err(|e| self.error(column, e.to_string()))
    }

    /// A decimal number (plain notation, `.` as decimal point).
    pub fn decimal(&self, column: &str) -> Result<Decimal, InputError> {
        let text = self.required(column)?;
        parse_decimal(text).map_err(|reason| self.error(column, reason))
    }

    /// A decimal, or `None` when empty.
    pub fn optional_decimal(&self, column: &str) -> Result<Option<Decimal>, InputError> {
        if self.text(column)?.is_empty() {
            Ok(None)
        } else {
            self.decimal(column).map(Some)
        }
    }

    /// A finite f64 given in plain decimal notation.
    pub fn number(&self, column: &str) -> Result<f64, InputError> {
        use rust_decimal::prelude::ToPrimitive;
        let value = self.decimal(column)?;
        value
            .to_f64()
            .ok_or_else(|| self.error(column, format!("{value} is out of range")))
    }

    /// A number, or `None` when empty.
    pub fn optional_number(&self, column: &str) -> Result<Option<f64>, InputError> {
        if self.text(column)?.is_empty() {
            Ok(None)
        } else {
            self.number(column).map(Some)
        }
    }

    /// A date, `YYYY-MM-DD` (or `YYYYMMDD`), or `None` when empty.
    pub fn optional_date(&self, column: &str) -> Result<Option<NaiveDate>, InputError> {
        let text = self.text(column)?;
        if text.is_empty() {
            return Ok(None);
        }
        let compact = text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit());
        let format = if compact { "%Y%m%d" } else { "%Y-%m-%d" };
        NaiveDate::parse_from_str(text, format)
            .map(Some)
            .map_err(|_| self.error(column, format!("{text:?} is not a date (YYYY-MM-DD)")))
    }
}

/// Parses a plain decimal number; the reason is in words when it is not one.
pub(crate) fn parse_decimal(text: &str) -> Result<Decimal, String> {
    let lower = text.to_ascii_lowercase();
    if matches!(
        lower.trim_start_matches(['+', '-']),
        "nan" | "inf" | "infinity"
    ) {
        return Err(format!("{text:?} is not a finite number"));
    }
    Decimal::from_str_exact(text).map_err(|_| {
        format!("{text:?} is not a decimal number (plain notation like 1234.56, at most 28 significant digits)")
    })
}
