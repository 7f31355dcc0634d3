//! Flex Query XML reports (`<FlexQueryResponse>`), read as a stream: each
//! row element becomes a row of the CSV section it stands for, with its
//! attributes as columns, so both formats share every rule.

use std::io::{BufRead, Read};

use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesStart, Event};

use super::layout::Header;
use super::{
    ACCOUNT, ASSET_CLASS, CONID, CURRENCY, ENDING_CASH, EXPIRY, FX_TO_BASE, FlexReader, Kind,
    LEVEL, MARK, MULTIPLIER, NAV_TOTAL, OLD_QUANTITY, POSITION_VALUE, PUT_CALL, QUANTITY,
    REPORT_DATE, RowProblem, STRIKE, SYMBOL, Spot, UNDERLYING,
};
use crate::{IoError, MAX_FIELD_BYTES, MAX_FIELDS_PER_ROW};

/// XML attribute names and the Flex CSV columns they are read as.
const ATTRIBUTES: &[(&str, &str)] = &[
    ("accountId", ACCOUNT),
    ("currency", CURRENCY),
    ("fxRateToBase", FX_TO_BASE),
    ("assetCategory", ASSET_CLASS),
    ("symbol", SYMBOL),
    ("underlyingSymbol", UNDERLYING),
    ("multiplier", MULTIPLIER),
    ("strike", STRIKE),
    ("expiry", EXPIRY),
    ("putCall", PUT_CALL),
    ("position", OLD_QUANTITY),
    ("quantity", QUANTITY),
    ("markPrice", MARK),
    ("positionValue", POSITION_VALUE),
    ("levelOfDetail", LEVEL),
    ("conid", CONID),
    ("endingCash", ENDING_CASH),
    ("total", NAV_TOTAL),
    ("reportDate", REPORT_DATE),
];

/// The column an attribute is read as.
fn column_of(attribute: &str) -> &str {
    ATTRIBUTES
        .iter()
        .find(|(a, _)| *a == attribute)
        .map_or(attribute, |(_, c)| c)
}

/// The attribute a column is read from (for "required attribute missing").
pub(super) fn attribute_of(column: &'static str) -> &'static str {
    ATTRIBUTES
        .iter()
        .find(|(_, c)| *c == column)
        .map_or(column, |(a, _)| a)
}

/// Row elements: (element, the container it must be in, what it is).
const ROWS: &[(&str, Option<&str>, Kind)] = &[
    ("OpenPosition", Some("OpenPositions"), Kind::Positions),
    ("CashReportCurrency", Some("CashReport"), Kind::Cash),
    (
        "EquitySummaryByReportDateInBase",
        Some("EquitySummaryInBase"),
        Kind::Nav,
    ),
    ("ConversionRate", Some("ConversionRates"), Kind::Conversion),
    ("AccountInformation", None, Kind::AccountInfo),
];

/// Containers of row elements and the section each is.
const CONTAINERS: &[(&str, Kind)] = &[
    ("OpenPositions", Kind::Positions),
    ("CashReport", Kind::Cash),
    ("EquitySummaryInBase", Kind::Nav),
    ("ConversionRates", Kind::Conversion),
];

/// A reader that counts the line ends (LF) of the bytes consumed from it:
/// the line an element starts on, without holding the file.
struct Lines<R> {
    inner: R,
    /// Line ends consumed so far.
    ends: u64,
}

fn line_ends(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

impl<R: BufRead> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.ends += line_ends(&buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Lines<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            self.ends += line_ends(&buf[..amount.min(buf.len())]);
        }
        self.inner.consume(amount);
    }
}

impl FlexReader {
    /// Reads a Flex XML report (see the module documentation).
    pub(super) fn read_xml(&mut self, name: &str, input: impl BufRead) -> Result<(), IoError> {
        let mut reader = Reader::from_reader(Lines {
            inner: input,
            ends: 0,
        });
        let mut buf = Vec::new();
        let mut record = csv::ByteRecord::new();
        let mut headers: Vec<(&'static str, Header)> = Vec::new();
        let mut root = false;
        let mut container: Option<&'static str> = None;
        let mut open = OpenElements::default();
        loop {
            let line = reader.get_ref().ends + 1;
            let structural = |reason: String| IoError::BadTable {
                path: name.to_string(),
                reason: format!("line {line}: {reason}"),
            };
            buf.clear();
            let event = reader
                .read_event_into(&mut buf)
                .map_err(|e| structural(format!("not well-formed XML: {e}")))?;
            let (element, empty) = match &event {
                Event::Eof => {
                    if let Some(unclosed) = open.unclosed() {
                        return Err(structural(format!(
                            "not well-formed XML: the file ends with {unclosed} not closed: the \
                             report is cut short"
                        )));
                    }
                    break;
                }
                Event::Start(e) => {
                    let name = e.local_name();
                    open.push(name.as_ref(), line);
                    (e, false)
                }
                Event::Empty(e) => (e, true),
                Event::End(e) => {
                    open.pop();
                    let local = e.local_name();
                    let local: &str = local.as_ref();
                    if local == "FlexStatement" {
                        self.end_statement();
                    } else if container == Some(local) {
                        container = None;
                    }
                    continue;
                }
                _ => continue,
            };
            let local = element.local_name();
            let local: &str = local.as_ref();
            if !root {
                if local != "FlexQueryResponse" {
                    return Err(structural(format!(
                        "not a Flex Query report: the root element is <{local}>, not \
                         <FlexQueryResponse>{}",
                        if local == "FlexStatementResponse" {
                            " (a FlexStatementResponse is the broker's status or error \
                             message, not a statement)"
                        } else {
                            ""
                        }
                    )));
                }
                root = true;
                continue;
            }
            if local == "FlexStatement" {
                self.xml_statement(element, line, empty).map_err(|e| {
                    structural(match e {
                        StatementError::Attribute(e) => format!("FlexStatement: {e}"),
                        StatementError::NoAccount => {
                            "FlexStatement without an accountId attribute".into()
                        }
                    })
                })?;
                continue;
            }
            if let Some(&(c, kind)) = CONTAINERS.iter().find(|(c, _)| *c == local) {
                self.note_section(kind);
                if !empty {
                    container = Some(c);
                }
                continue;
            }
            let Some(&(_, inside, kind)) = ROWS.iter().find(|(e, _, _)| *e == local) else {
                continue; // trades, transfers … are skipped
            };
            if inside.is_some() && inside != container {
                continue;
            }
            // The attributes, as a row.
            let (names, problem) = attributes_row(element, &mut record)
                .map_err(|e| structural(format!("<{local}>: bad attribute: {e}")))?;
            let header = header_for(&mut headers, name, local, names, kind)?;
            if kind == Kind::AccountInfo {
                self.note_section(kind);
            }
            self.data_row(name, line, &record, header, problem);
        }
        if !root {
            return Err(IoError::BadTable {
                path: name.to_string(),
                reason: "not a Flex Query report: no <FlexQueryResponse> element".into(),
            });
        }
        Ok(())
    }
}

/// The elements open at a point of the stream (started, not yet ended),
/// outermost first: the names and lines of the first [`OpenElements::KEPT`]
/// levels, and the depth, so that hostile nesting takes bounded memory.
#[derive(Default)]
struct OpenElements {
    kept: Vec<(String, u64)>,
    depth: usize,
}

impl OpenElements {
    /// Levels whose name and line are kept.
    const KEPT: usize = 32;
    /// Characters of a name kept.
    const NAME_CHARS: usize = 64;

    fn push(&mut self, name: &str, line: u64) {
        if self.kept.len() < Self::KEPT {
            let name = name.chars().take(Self::NAME_CHARS).collect();
            self.kept.push((name, line));
        }
        self.depth += 1;
    }

    fn pop(&mut self) {
        if self.depth <= self.kept.len() {
            self.kept.pop();
        }
        self.depth = self.depth.saturating_sub(1);
    }

    /// The elements left open, innermost first (`<FlexStatement>` opened
    /// on line 3, …), when any is.
    fn unclosed(&self) -> Option<String> {
        if self.depth == 0 {
            return None;
        }
        let mut names: Vec<String> = self
            .kept
            .iter()
            .rev()
            .map(|(name, line)| format!("<{name}> (opened on line {line})"))
            .collect();
        if self.depth > self.kept.len() {
            names.insert(
                0,
                format!("{} deeper elements", self.depth - self.kept.len()),
            );
        }
        Some(names.join(", "))
    }
}

impl FlexReader {
    /// A `FlexStatement` element (on `line`; `empty` when it has no content):
    /// its account's statement begins. `Err` holds the reason it cannot.
    fn xml_statement(
        &mut self,
        element: &BytesStart<'_>,
        line: u64,
        empty: bool,
    ) -> Result<(), StatementError> {
        let (id, to) = statement_attributes(element).map_err(StatementError::Attribute)?;
        let spot = Spot {
            file: self.files.len() - 1,
            line,
            column: None,
        };
        let date = to.and_then(|to| self.date_text(&to, spot).ok());
        let Some(id) = id else {
            return Err(StatementError::NoAccount);
        };
        self.begin_statement(&id, line, date);
        if empty {
            self.end_statement();
        }
        Ok(())
    }
}

/// Why a `FlexStatement` cannot begin.
enum StatementError {
    /// An attribute does not read.
    Attribute(String),
    /// It has no `accountId`.
    NoAccount,
}

/// A row element's attributes as the fields of `record`, with their names
/// and the first problem of a value (too long, not readable) or of the
/// row (too many fields). `Err` when an attribute is malformed.
fn attributes_row(
    element: &BytesStart<'_>,
    record: &mut csv::ByteRecord,
) -> Result<(Vec<String>, Option<RowProblem>), AttrError> {
    record.clear();
    let mut names: Vec<String> = Vec::new();
    let mut problem: Option<RowProblem> = None;
    for attribute in element.attributes() {
        let attribute = attribute?;
        let key = attribute.key.local_name();
        let key: &str = key.as_ref();
        names.push(key.to_string());
        let index = names.len() - 1;
        match attribute.normalized_value(XmlVersion::Implicit1_0) {
            Ok(value) if value.len() <= MAX_FIELD_BYTES => {
                record.push_field(value.as_bytes());
            }
            Ok(_) => {
                record.push_field(b"");
                problem.get_or_insert((
                    Some(index),
                    format!(
                        "field longer than {MAX_FIELD_BYTES} bytes (the limit per field); the \
                         row is not read"
                    ),
                ));
            }
            Err(e) => {
                record.push_field(b"");
                problem.get_or_insert((Some(index), format!("bad value: {e}")));
            }
        }
    }
    if names.len() > MAX_FIELDS_PER_ROW {
        problem = Some((
            None,
            format!(
                "row has more than {MAX_FIELDS_PER_ROW} fields (the limit); the row is not read"
            ),
        ));
    }
    Ok((names, problem))
}

/// The header of a row element `local` with attributes `names`: the last
/// one of that element when its attributes are the same, else a new one
/// (replacing it).
fn header_for<'h>(
    headers: &'h mut Vec<(&'static str, Header)>,
    file: &str,
    local: &str,
    names: Vec<String>,
    kind: Kind,
) -> Result<&'h Header, IoError> {
    if let Some(i) = headers
        .iter()
        .position(|(e, h)| *e == local && h.names == names)
    {
        return Ok(&headers[i].1);
    }
    let columns = names.iter().map(|n| column_of(n).to_string()).collect();
    let header = Header::from_names(file, names, columns, 0, Some(kind), attribute_of)?;
    headers.retain(|(e, _)| *e != local);
    let element: &'static str = ROWS
        .iter()
        .find(|(e, _, _)| *e == local)
        .map_or("", |(e, _, _)| e);
    headers.push((element, header));
    Ok(&headers[headers.len() - 1].1)
}

/// A `FlexStatement`'s `accountId` and `toDate`.
fn statement_attributes(
    element: &BytesStart<'_>,
) -> Result<(Option<String>, Option<String>), String> {
    let mut id = None;
    let mut to = None;
    for attribute in element.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        let key = attribute.key.local_name();
        let key: &str = key.as_ref();
        if key == "accountId" || key == "toDate" {
            let value = attribute
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| e.to_string())?
                .trim()
                .to_string();
            if key == "accountId" {
                id = Some(value).filter(|v| !v.is_empty());
            } else {
                to = Some(value).filter(|v| !v.is_empty());
            }
        }
    }
    Ok((id, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_read_as_the_csv_columns_they_stand_for() {
        assert_eq!(column_of("accountId"), ACCOUNT);
        assert_eq!(column_of("position"), OLD_QUANTITY);
        assert_eq!(column_of("description"), "description");
        assert_eq!(attribute_of(MARK), "markPrice");
        assert_eq!(attribute_of("Description"), "Description");
    }

    /// Each attribute is a field, named by its local name; entity
    /// references are read as their character; a value over the field limit
    /// is an empty field and the row's problem, at its index.
    #[test]
    fn an_elements_attributes_become_a_row() {
        let long = "9".repeat(MAX_FIELD_BYTES + 1);
        let xml = format!(r#"<OpenPosition symbol="A&amp;B" markPrice="{long}" quantity="5"/>"#);
        let mut reader = Reader::from_str(&xml);
        let Ok(Event::Empty(element)) = reader.read_event() else {
            panic!("an empty element");
        };
        let mut record = csv::ByteRecord::new();
        let (names, problem) = attributes_row(&element, &mut record).unwrap();
        assert_eq!(names, ["symbol", "markPrice", "quantity"]);
        let fields: Vec<&[u8]> = record.iter().collect();
        assert_eq!(fields, [&b"A&B"[..], b"", b"5"]);
        let (index, reason) = problem.unwrap();
        assert_eq!(index, Some(1));
        assert!(reason.starts_with("field longer than"), "{reason}");
    }
}
