//! Layout detection and the CSV reader: which layout a file has (XML,
//! HEADER/DATA rows, BOF … EOF markers, plain), the header of each section,
//! and the routing of each record to its section's rows.

use std::collections::HashMap;
use std::io::{BufReader, Read};

use exfee_model::{InputError, SourceLocation};

use super::dates::DateOrder;
use super::{
    ASSET_CLASS, CURRENCY, CURRENCY_ALT, ENDING_CASH, FlexReader, Kind, MARK, NAV_TOTAL,
    OLD_QUANTITY, QUANTITY, SYMBOL, Spot,
};
use crate::IoError;
use crate::csvin::{Columns, Next, Oversize, Records};

/// A section's header row.
pub(super) struct Header {
    pub(super) kind: Kind,
    /// Column names by field index (the leading `HEADER`,code fields blank).
    pub(super) names: Vec<String>,
    pub(super) columns: Columns,
    /// `Quantity` or, in older files, `Position`.
    pub(super) quantity: &'static str,
    /// `CurrencyPrimary` or `Currency` (cash and NAV sections), when present.
    pub(super) currency: Option<&'static str>,
}

impl Header {
    /// Reads a header from `record`, whose first `skip` fields are not
    /// columns. `kind` is `None` for a plain file (told by its columns).
    fn new(
        file: &str,
        record: &csv::ByteRecord,
        skip: usize,
        kind: Option<Kind>,
    ) -> Result<Header, IoError> {
        let names: Vec<String> = record
            .iter()
            .enumerate()
            .map(|(i, field)| {
                if i < skip {
                    String::new()
                } else {
                    String::from_utf8_lossy(field)
                        .trim_start_matches('\u{feff}')
                        .trim()
                        .to_string()
                }
            })
            .collect();
        let columns = names.clone();
        Header::from_names(file, names, columns, skip, kind, |column| column)
    }

    /// A header whose field `i` is shown as `names[i]` and read as the
    /// column `columns[i]` (the same for CSV; the Flex CSV name of an XML
    /// attribute). `shown` gives the name a missing column is reported by.
    pub(super) fn from_names(
        file: &str,
        names: Vec<String>,
        column_names: Vec<String>,
        skip: usize,
        kind: Option<Kind>,
        shown: fn(&'static str) -> &'static str,
    ) -> Result<Header, IoError> {
        let mut columns = Columns::default();
        if kind != Some(Kind::Skipped) {
            for (index, name) in column_names.into_iter().enumerate() {
                if !name.is_empty() && columns.insert(name, index).is_some() {
                    return Err(IoError::DuplicateColumn {
                        path: file.to_string(),
                        column: names[index].clone(),
                    });
                }
            }
        }
        let has = |name: &str| columns.contains_key(name);
        let kind = match kind {
            Some(kind) => kind,
            None if has(ASSET_CLASS) && (has(QUANTITY) || has(OLD_QUANTITY)) => Kind::Positions,
            None if has(ENDING_CASH) => Kind::Cash,
            None if has(NAV_TOTAL) => Kind::Nav,
            None => {
                return Err(IoError::BadHeader {
                    path: file.to_string(),
                    reason: format!(
                        "not a Flex Query report: the first line is neither a HEADER/DATA or \
                         BOF/BOS marker line nor a header with open-position \
                         columns ({ASSET_CLASS}, {QUANTITY}), cash-report columns \
                         ({ENDING_CASH}) or NAV columns ({NAV_TOTAL}) (found: {})",
                        names.join(",")
                    ),
                });
            }
        };
        let quantity = if has(QUANTITY) || !has(OLD_QUANTITY) {
            QUANTITY
        } else {
            OLD_QUANTITY
        };
        let currency = if has(CURRENCY) {
            Some(CURRENCY)
        } else if has(CURRENCY_ALT) {
            Some(CURRENCY_ALT)
        } else {
            None
        };
        let required: &[&'static str] = match kind {
            Kind::Positions => &[CURRENCY, ASSET_CLASS, SYMBOL, quantity, MARK],
            Kind::Cash => &[currency.unwrap_or(CURRENCY), ENDING_CASH],
            Kind::Nav | Kind::AccountInfo | Kind::Skipped => &[],
            Kind::Conversion => &["fromCurrency", "toCurrency", "rate"],
        };
        for &column in required {
            if !has(column) {
                return Err(IoError::MissingColumn {
                    path: file.to_string(),
                    column: shown(column),
                    found: names[skip.min(names.len())..].join(","),
                });
            }
        }
        Ok(Header {
            kind,
            names,
            columns,
            quantity,
            currency,
        })
    }

    /// Whether `record` repeats this header (the plain layout repeats it
    /// before each account's rows).
    fn repeats(&self, record: &csv::ByteRecord) -> bool {
        record.len() == self.names.len()
            && self.names.iter().any(|n| !n.is_empty())
            && record
                .iter()
                .zip(&self.names)
                .all(|(field, name)| name.is_empty() || field_text(field) == name)
    }
}

/// A field's text, trimmed, for layout decisions (empty when not UTF-8).
fn field_text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes)
        .unwrap_or_default()
        .trim_start_matches('\u{feff}')
        .trim()
}

/// The text of a field, trimmed, for layout decisions (empty when it is not
/// UTF-8).
fn field(record: &csv::ByteRecord, index: usize) -> &str {
    std::str::from_utf8(record.get(index).unwrap_or_default())
        .unwrap_or_default()
        .trim_start_matches('\u{feff}')
        .trim()
}

/// The marker lines of a file's header and trailer records.
const MARKERS: [&str; 6] = ["BOF", "BOA", "BOS", "EOS", "EOA", "EOF"];

/// What the lines read so far of a CSV file say about its layout.
#[derive(Default)]
struct CsvLayout {
    /// `None` until the first line decides: `Some(Some(header))` for a
    /// plain file, `Some(None)` for a file with markers.
    plain: Option<Option<Header>>,
    /// The headers of `HEADER` rows, by section code.
    by_code: HashMap<String, Header>,
    /// The open `BOS` section: its code and, once read, its header.
    section: Option<(String, Option<Header>)>,
}

impl FlexReader {
    /// Reads one file (shown to users as `name`): XML when its first
    /// non-blank byte (after a byte-order mark) is `<`, else CSV.
    pub(super) fn read(&mut self, name: &str, input: impl Read) -> Result<(), IoError> {
        self.files.push(name.to_string());
        self.orders.push(DateOrder::default());
        self.current = None;
        self.statement = None;
        self.sections = 0;
        // The leading bytes up to the first non-blank one (or the end, or
        // 1 MiB of blanks), read ahead and put back in front of the rest.
        let mut input = input;
        let mut prefix: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 4096];
        let first = loop {
            let bom = b"\xef\xbb\xbf";
            let body = prefix.strip_prefix(bom).unwrap_or(&prefix);
            let partial_bom = !prefix.is_empty() && prefix.len() < 3 && bom.starts_with(&prefix);
            if !partial_bom && let Some(&byte) = body.iter().find(|b| !b.is_ascii_whitespace()) {
                break Some(byte);
            }
            if prefix.len() >= 1 << 20 {
                break Some(b' ');
            }
            let n = loop {
                match input.read(&mut chunk) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    result => {
                        break result.map_err(|e| IoError::BadHeader {
                            path: name.to_string(),
                            reason: format!("unreadable: {e}"),
                        })?;
                    }
                }
            };
            if n == 0 {
                break None;
            }
            prefix.extend_from_slice(&chunk[..n]);
        };
        let input = BufReader::with_capacity(64 * 1024, std::io::Cursor::new(prefix).chain(input));
        match first {
            None => {
                return Err(IoError::BadHeader {
                    path: name.to_string(),
                    reason: "the file is empty".into(),
                });
            }
            Some(b'<') => {
                self.reading_csv = false;
                self.read_xml(name, input)?;
            }
            _ => {
                self.reading_csv = true;
                self.read_csv(name, input)?;
            }
        }
        if self.sections == 0 {
            return Err(IoError::BadTable {
                path: name.to_string(),
                reason: "the report has no Open Positions (POST), Cash Report (CRTT) or NAV \
                         (EQUT) section: an empty or cut-off report, or a Flex Query without \
                         those sections"
                    .into(),
            });
        }
        Ok(())
    }

    /// Reads a CSV file.
    fn read_csv(&mut self, name: &str, input: impl Read) -> Result<(), IoError> {
        let mut records = Records::new(input);
        let mut record = csv::ByteRecord::new();
        let mut layout = CsvLayout::default();
        loop {
            let oversize = match records.next(&mut record) {
                Ok(Next::End | Next::Pause) => break,
                Ok(Next::Record) => None,
                Ok(Next::Oversized(problem)) => Some(problem),
                Err(e) => {
                    self.errors.push(InputError::at(
                        SourceLocation {
                            file: name.to_string(),
                            line: records.line(),
                            column: None,
                        },
                        format!("unreadable row: {e}"),
                    ));
                    break;
                }
            };
            let line = record.position().map_or(0, |p| p.line());
            if let Some(problem) = oversize {
                self.oversized(name, line, &record, problem, &layout)?;
                continue;
            }
            if record.iter().all(<[u8]>::is_empty) {
                continue; // a blank line
            }
            let tag = field(&record, 0);
            if tag == "MSG" && !matches!(layout.plain, Some(Some(_))) {
                continue; // a message from the broker's system before the report
            }
            match &layout.plain {
                Some(Some(header)) => {
                    if !header.repeats(&record) {
                        self.data_row(name, line, &record, header, None);
                    }
                }
                Some(None) => self.marked_line(name, line, &record, &mut layout)?,
                None if MARKERS.contains(&tag) || matches!(tag, "HEADER" | "DATA") => {
                    layout.plain = Some(None);
                    self.marked_line(name, line, &record, &mut layout)?;
                }
                None => {
                    let header = Header::new(name, &record, 0, None)?;
                    self.note_section(header.kind);
                    layout.plain = Some(Some(header));
                }
            }
        }
        Ok(())
    }

    /// A line of a file with markers (`BOF` … `EOF`, `HEADER`/`DATA` rows).
    fn marked_line(
        &mut self,
        name: &str,
        line: u64,
        record: &csv::ByteRecord,
        layout: &mut CsvLayout,
    ) -> Result<(), IoError> {
        let structural = |reason: String| IoError::BadTable {
            path: name.to_string(),
            reason: format!("line {line}: {reason}"),
        };
        let tag = field(record, 0);
        match tag {
            "BOF" => self.bof_line(line, record),
            "EOF" => {}
            "BOA" => {
                let id = field(record, 1).to_string();
                if id.is_empty() {
                    return Err(structural("BOA line without an account".into()));
                }
                self.begin_statement(&id, line, None);
            }
            "EOA" => self.end_statement(),
            "BOS" => {
                let code = field(record, 1);
                if code.is_empty() {
                    return Err(structural("BOS line without a section code".into()));
                }
                self.note_section(Kind::of_code(code));
                layout.section = Some((code.to_string(), None));
            }
            "EOS" => layout.section = None,
            "HEADER" => {
                let code = field(record, 1);
                let header = Header::new(name, record, 2, Some(Kind::of_code(code)))?;
                if layout.section.is_none() {
                    self.note_section(header.kind);
                }
                layout.by_code.insert(code.to_string(), header);
            }
            "DATA" => {
                let code = field(record, 1);
                match layout.by_code.get(code) {
                    Some(header) => self.data_row(name, line, record, header, None),
                    None if Kind::of_code(code) == Kind::Skipped => {}
                    None => {
                        return Err(structural(format!(
                            "DATA row of section {code} before its HEADER row"
                        )));
                    }
                }
            }
            _ => match &mut layout.section {
                Some((code, header @ None)) => {
                    *header = Some(Header::new(name, record, 0, Some(Kind::of_code(code)))?);
                }
                Some((_, Some(header))) => {
                    if !header.repeats(record) {
                        self.data_row(name, line, record, header, None);
                    }
                }
                None => {
                    return Err(structural(format!(
                        "{tag:?} is neither a marker (BOF, BOA, BOS, EOS, EOA, EOF), nor a \
                         HEADER or DATA row, nor inside a BOS … EOS section"
                    )));
                }
            },
        }
        Ok(())
    }

    /// A `BOF` line: account ids (`;`-separated), query name, type,
    /// fromDate, toDate, whenGenerated … One account names the file's rows
    /// that name none; the `toDate` dates every account listed.
    fn bof_line(&mut self, line: u64, record: &csv::ByteRecord) {
        let ids = field(record, 1).to_string();
        if !ids.is_empty() && !ids.contains(';') {
            let account = self.account_index(&ids);
            self.name_account(account);
        }
        let date = field(record, 5).to_string();
        let spot = Spot {
            file: self.files.len() - 1,
            line,
            column: Some((6, "toDate")),
        };
        if let Ok(date) = self.date_text(&date, spot) {
            for id in ids.split(';').map(str::trim).filter(|id| !id.is_empty()) {
                self.bof_dates.push((id.to_string(), date));
            }
        }
    }

    /// A record over the size limits: a data row's error (of its account when
    /// its `ClientAccountID` was read whole), or, for a line that should be a
    /// header or a marker, the end of the run.
    fn oversized(
        &mut self,
        name: &str,
        line: u64,
        record: &csv::ByteRecord,
        problem: Oversize,
        layout: &CsvLayout,
    ) -> Result<(), IoError> {
        let header = match &layout.plain {
            Some(Some(header)) => Some(header),
            Some(None) if record.len() >= 2 => match field(record, 0) {
                "DATA" => layout.by_code.get(field(record, 1)),
                "HEADER" => None,
                tag if MARKERS.contains(&tag) => None,
                _ => match &layout.section {
                    Some((_, Some(header))) => Some(header),
                    _ => None,
                },
            },
            _ => None,
        };
        match header {
            Some(header) => {
                self.data_row(
                    name,
                    line,
                    record,
                    header,
                    Some((problem.field(), problem.reason())),
                );
                Ok(())
            }
            None => {
                let at = problem
                    .field()
                    .map_or(String::new(), |i| format!("column {}: ", i + 1));
                Err(IoError::BadTable {
                    path: name.to_string(),
                    reason: format!("line {line}: {at}{}", problem.reason()),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(fields: &[&str], skip: usize, kind: Option<Kind>) -> Result<Header, IoError> {
        Header::new("r.csv", &csv::ByteRecord::from(fields.to_vec()), skip, kind)
    }

    #[test]
    fn a_plain_file_is_told_by_its_columns() {
        let kind = |fields: &[&str]| header(fields, 0, None).map(|h| h.kind);
        let positions = [
            "CurrencyPrimary",
            "AssetClass",
            "Symbol",
            "Quantity",
            "MarkPrice",
        ];
        assert_eq!(kind(&positions).unwrap(), Kind::Positions);
        let old = [
            "CurrencyPrimary",
            "AssetClass",
            "Symbol",
            "Position",
            "MarkPrice",
        ];
        assert_eq!(kind(&old).unwrap(), Kind::Positions);
        assert_eq!(
            kind(&["\u{feff}Currency", " EndingCash "]).unwrap(),
            Kind::Cash
        );
        assert_eq!(kind(&["Total"]).unwrap(), Kind::Nav);
        let other = kind(&["TradeID", "Symbol"]).err().unwrap().to_string();
        assert!(other.contains("not a Flex Query report"), "{other}");
        assert!(other.ends_with("(found: TradeID,Symbol)"), "{other}");
    }

    /// A `HEADER` row's first two fields are not columns; a missing required
    /// column lists the columns found without them. `Position` stands for
    /// `Quantity` in older files.
    #[test]
    fn required_columns_and_the_old_quantity_name() {
        let positions = header(
            &[
                "HEADER",
                "POST",
                "CurrencyPrimary",
                "AssetClass",
                "Symbol",
                "Position",
                "MarkPrice",
            ],
            2,
            Some(Kind::Positions),
        )
        .unwrap();
        assert_eq!(positions.quantity, OLD_QUANTITY);
        assert_eq!(positions.columns["Symbol"], 4);
        let missing = header(
            &["HEADER", "CRTT", "ClientAccountID", "EndingCash"],
            2,
            Some(Kind::Cash),
        )
        .err()
        .unwrap();
        assert_eq!(
            missing.to_string(),
            IoError::MissingColumn {
                path: "r.csv".into(),
                column: CURRENCY,
                found: "ClientAccountID,EndingCash".into(),
            }
            .to_string()
        );
        let twice = header(&["Total", "Total"], 0, Some(Kind::Nav))
            .err()
            .unwrap();
        assert!(matches!(twice, IoError::DuplicateColumn { column, .. } if column == "Total"));
        // A skipped section's header is not checked at all.
        assert!(header(&["X", "X"], 0, Some(Kind::Skipped)).is_ok());
    }

    #[test]
    fn a_repeated_header_is_recognised_with_its_leading_fields_blank() {
        let h = header(&["HEADER", "EQUT", "Currency", "Total"], 2, Some(Kind::Nav)).unwrap();
        let record = |fields: &[&str]| csv::ByteRecord::from(fields.to_vec());
        assert!(h.repeats(&record(&["HEADER", "EQUT", "Currency", " Total "])));
        assert!(!h.repeats(&record(&["DATA", "EQUT", "USD", "100"])));
        assert!(!h.repeats(&record(&["HEADER", "EQUT", "Currency"])));
        assert_eq!(Kind::of_code("post"), Kind::Positions);
        assert_eq!(Kind::of_code("TRNT"), Kind::Skipped);
    }
}
