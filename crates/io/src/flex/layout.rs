//! Layout detection and the CSV reader: which layout a file has (XML,
//! HEADER/DATA rows, BOF … EOF markers, plain), the header of each section,
//! and the routing of each record to its section's rows.

use std::collections::HashMap;
use std::io::{BufReader, Read};

use exfee_model::{InputError, SourceLocation};
use sha2::{Digest, Sha256};

use super::dates::DateOrder;
use super::{
    ASSET_CLASS, CURRENCY, CURRENCY_ALT, ENDING_CASH, FlexReader, Kind, MARK, NAV_TOTAL,
    OLD_QUANTITY, QUANTITY, SYMBOL, Spot,
};
use crate::IoError;
use crate::csvin::{Columns, Next, Oversize, Records};

/// A reader that digests (SHA-256) the bytes read through it.
struct Digesting<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Digesting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

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
    /// The open `BOS` section.
    section: Option<Section>,
    /// The line of the open `BOF` (no `EOF` yet).
    bof: Option<u64>,
    /// The account and line of the open `BOA` (no `EOA` yet).
    boa: Option<(String, u64)>,
}

/// A `BOS` … `EOS` section being read.
struct Section {
    code: String,
    /// The line of its `BOS`.
    line: u64,
    /// Its header, once read.
    header: Option<Header>,
    /// The data rows read (the count its `EOS` line gives).
    rows: u64,
}

impl CsvLayout {
    /// The header of the open section, when its header is read: the
    /// section's rows are its data rows whatever their first field.
    fn section_header(&self) -> Option<&Header> {
        self.section.as_ref().and_then(|s| s.header.as_ref())
    }

    /// What is left open at the end of a file with markers, when anything
    /// is: the file is cut short.
    fn left_open(&self) -> Option<String> {
        if let Some(section) = &self.section {
            Some(format!(
                "the {} section (BOS on line {}) has no EOS line",
                section.code, section.line
            ))
        } else if let Some((id, line)) = &self.boa {
            Some(format!(
                "the statement of account {id} (BOA on line {line}) has no EOA line"
            ))
        } else {
            self.bof
                .map(|line| format!("the report (BOF on line {line}) has no EOF line"))
        }
    }
}

/// Whether `tag` starts a marker, `HEADER` or `DATA` line.
fn is_marker(tag: &str) -> bool {
    MARKERS.contains(&tag) || matches!(tag, "HEADER" | "DATA")
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
        let mut digesting = Digesting {
            inner: input,
            hasher: Sha256::new(),
        };
        // The leading bytes up to the first non-blank one (or the end, or
        // 1 MiB of blanks), read ahead and put back in front of the rest.
        let input = &mut digesting;
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
        self.same_content(name, digesting.hasher.finalize().into())?;
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

    /// Records the digest of the file just read: the same content as an
    /// earlier file's (the same report given twice, under two names or
    /// twice the same) would count its positions and cash twice, so it
    /// stops the run, naming both.
    fn same_content(&mut self, name: &str, digest: [u8; 32]) -> Result<(), IoError> {
        if let Some(first) = self.digests.iter().position(|d| *d == digest) {
            return Err(IoError::BadTable {
                path: name.to_string(),
                reason: format!(
                    "the same content as {} (identical files): its positions and cash \
                     would be counted twice; give each report once",
                    self.files[first]
                ),
            });
        }
        self.digests.push(digest);
        Ok(())
    }

    /// Reads a CSV file.
    fn read_csv(&mut self, name: &str, input: impl Read) -> Result<(), IoError> {
        let mut records = Records::new(input);
        let mut record = csv::ByteRecord::new();
        let mut layout = CsvLayout::default();
        let mut last_line = 0;
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
            last_line = line;
            if let Some(problem) = oversize {
                self.oversized(name, line, &record, problem, &mut layout)?;
                continue;
            }
            if record.iter().all(<[u8]>::is_empty) {
                continue; // a blank line
            }
            let tag = field(&record, 0);
            if tag == "MSG"
                && !matches!(layout.plain, Some(Some(_)))
                && layout.section_header().is_none()
            {
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
        if let Some(open) = layout.left_open() {
            return Err(IoError::BadTable {
                path: name.to_string(),
                reason: format!(
                    "line {last_line}: the file ends here, but {open}: the report is cut short"
                ),
            });
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
        if let Some(section) = &mut layout.section {
            if tag == "EOS" && field(record, 1) == section.code {
                check_count(record, section).map_err(structural)?;
                layout.section = None;
                return Ok(());
            }
            // A section without a header row of its own holds HEADER and
            // DATA rows (both layouts' options on): read below.
            let header_data = section.header.is_none() && matches!(tag, "HEADER" | "DATA");
            // A row as wide as the section's header is a data row whatever
            // its first field (a symbol "EOS", an account "MSG" …).
            let width = section.header.as_ref().map(|h| h.names.len());
            if is_marker(tag) && !header_data && width != Some(record.len()) {
                return Err(structural(format!(
                    "{tag} line inside the {} section (BOS on line {}), which has no EOS \
                     line: the report is cut short or spliced",
                    section.code, section.line
                )));
            }
            let code = &section.code;
            match &section.header {
                _ if header_data => section.rows += u64::from(tag == "DATA"),
                None => {
                    let kind = Kind::of_code(code);
                    section.header = Some(Header::new(name, record, 0, Some(kind))?);
                    return Ok(());
                }
                Some(header) => {
                    if !header.repeats(record) {
                        section.rows += 1;
                        self.data_row(name, line, record, header, None);
                    }
                    return Ok(());
                }
            }
        }
        match tag {
            "BOF" => {
                if let Some(open) = layout.left_open() {
                    return Err(structural(format!(
                        "BOF line, but {open}: the report before is cut short"
                    )));
                }
                layout.bof = Some(line);
                self.bof_line(line, record);
            }
            "EOF" => {
                if let Some((id, opened)) = &layout.boa {
                    return Err(structural(format!(
                        "EOF line, but the statement of account {id} (BOA on line {opened}) \
                         has no EOA line: the report is cut short or spliced"
                    )));
                }
                layout.bof = None;
            }
            "BOA" => {
                let id = field(record, 1).to_string();
                if id.is_empty() {
                    return Err(structural("BOA line without an account".into()));
                }
                if let Some((open, opened)) = &layout.boa {
                    return Err(structural(format!(
                        "BOA line, but the statement of account {open} (BOA on line \
                         {opened}) has no EOA line: the report is cut short or spliced"
                    )));
                }
                self.begin_statement(&id, line, None);
                layout.boa = Some((id, line));
            }
            "EOA" => {
                layout.boa = None;
                self.end_statement();
            }
            "BOS" => {
                let code = field(record, 1);
                if code.is_empty() {
                    return Err(structural("BOS line without a section code".into()));
                }
                self.note_section(Kind::of_code(code));
                layout.section = Some(Section {
                    code: code.to_string(),
                    line,
                    header: None,
                    rows: 0,
                });
            }
            "EOS" => {}
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
            _ => {
                return Err(structural(format!(
                    "{tag:?} is neither a marker (BOF, BOA, BOS, EOS, EOA, EOF), nor a \
                     HEADER or DATA row, nor inside a BOS … EOS section"
                )));
            }
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
        layout: &mut CsvLayout,
    ) -> Result<(), IoError> {
        let in_section = layout.section_header().is_some();
        let header = match &layout.plain {
            Some(Some(header)) => Some(header),
            // In a section, a data row whatever its first field.
            Some(None) if in_section => layout.section_header(),
            Some(None) if record.len() >= 2 && field(record, 0) == "DATA" => {
                layout.by_code.get(field(record, 1))
            }
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
                if let Some(section) = layout.section.as_mut() {
                    section.rows += 1; // a data row of the open section
                }
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

/// Checks the count of an `EOS` line (`EOS`, code, the number of data rows
/// of the section) against the rows read: a difference means rows are
/// missing or extra. An `EOS` line without a count is not checked.
fn check_count(record: &csv::ByteRecord, section: &Section) -> Result<(), String> {
    let text = field(record, 2);
    if text.is_empty() {
        return Ok(());
    }
    let Ok(count) = text.parse::<u64>() else {
        return Err(format!(
            "the EOS line of the {} section gives {text:?} rows, not a count",
            section.code
        ));
    };
    if count != section.rows {
        return Err(format!(
            "the EOS line of the {} section (BOS on line {}) counts {count} rows, but {} \
             were read: rows are missing or extra, so the report is not read",
            section.code, section.line, section.rows
        ));
    }
    Ok(())
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
