//! Reading broker "Flex Query" CSV reports directly (`exfee run --flex`):
//! see [`read_flex`] for the layouts, columns and rules.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use exfee_model::{
    AccountInput, AssetClass, Batch, CashBalance, Currency, Decimal, Exercise, InputError,
    Instrument, InstrumentKind, MarketData, MarketError, OptionRight, OptionTerms, Position,
    SourceLocation,
};

use crate::IoError;
use crate::csvin::{Next, Oversize, Records, Row};
use crate::drop::MAX_POSITIONS_PER_ACCOUNT;

const ACCOUNT: &str = "ClientAccountID";
const CURRENCY: &str = "CurrencyPrimary";
const CURRENCY_ALT: &str = "Currency";
const FX_TO_BASE: &str = "FXRateToBase";
const ASSET_CLASS: &str = "AssetClass";
const SYMBOL: &str = "Symbol";
const UNDERLYING: &str = "UnderlyingSymbol";
const MULTIPLIER: &str = "Multiplier";
const STRIKE: &str = "Strike";
const EXPIRY: &str = "Expiry";
const REPORT_DATE: &str = "ReportDate";
const PUT_CALL: &str = "Put/Call";
const QUANTITY: &str = "Quantity";
const OLD_QUANTITY: &str = "Position";
const MARK: &str = "MarkPrice";
const POSITION_VALUE: &str = "PositionValue";
const LEVEL: &str = "LevelOfDetail";
const CONID: &str = "Conid";
const ENDING_CASH: &str = "EndingCash";
const NAV_TOTAL: &str = "Total";

/// Reads Flex Query CSV reports into a batch.
///
/// `paths` are files or folders; a folder stands for its `.csv` files (not
/// recursive, hidden files skipped, in name order). `market` is the market
/// folder's data (it may be empty): it fills the FX rates the files lack, and
/// its factor mapping, underlyings and interest rates are kept as they are.
///
/// # Layouts
///
/// Each file's layout is detected from its first non-blank line:
///
/// - **Section code and line descriptor**: every line starts with `HEADER` or
///   `DATA` and a section code, e.g. `"HEADER","POST","ClientAccountID",…`
///   then `"DATA","POST","U1100001",…`. A `DATA` row uses the last `HEADER`
///   row of its section code. Column numbers in error messages count the two
///   leading fields (the first data column is column 3).
/// - **Header and trailer records**: `BOF`, `BOA`, `BOS`, `EOS`, `EOA`, `EOF`
///   marker lines. `BOS,<code>,…` opens a section; the next line is its
///   header row and the lines up to `EOS` are its data rows. `BOF`, `BOA`,
///   `EOA` and `EOF` are skipped (rows name their account themselves). Both
///   options may be combined (`HEADER`/`DATA` rows inside `BOS`…`EOS`).
/// - **Plain**: one section per file, the first line is the header. The
///   section is told by its columns: `AssetClass` and `Quantity` (or
///   `Position`) make open positions, `EndingCash` a cash report, `Total` a
///   NAV section. Anything else stops the run.
///
/// Section codes read: `POST` (open positions), `CRTT` (cash report), `EQUT`
/// (net asset value). Other sections (trades, transfers …) are skipped.
/// Columns are found by name (exact, after trimming); extra columns are
/// ignored; a duplicated column name, a required column missing from a known
/// section's header, or a `DATA` row before its `HEADER` stops the run with an
/// [`IoError`], like a broken drop file.
///
/// # Open positions (`POST`)
///
/// Required columns: `ClientAccountID`, `CurrencyPrimary`, `AssetClass`,
/// `Symbol`, `Quantity` (older files: `Position`), `MarkPrice`. Read when
/// present: `FXRateToBase`, `UnderlyingSymbol`, `Multiplier` (empty = 1),
/// `Strike`, `Expiry`, `Put/Call`, `PositionValue`, `LevelOfDetail`, `Conid`.
///
/// - Asset classes: `STK` and `FUND` → stock, `OPT` → option, `FOP` → option
///   on a future, `FUT` → future (on `UnderlyingSymbol`, its own symbol when
///   empty), `BOND` and `BILL` → bond, `CRYPTO` → crypto. `CASH` (FX
///   positions), `WAR`, `CFD` and `CMDTY` fail the account ("asset class WAR
///   is not priced by exfee yet"); any other class is an error of the row.
/// - Options need `UnderlyingSymbol`, `Strike`, `Expiry` and `Put/Call`
///   (`P`/`C`). Flex reports carry no exercise style: every option is read as
///   american, the conservative choice (as an empty `exercise` in a drop).
/// - Bonds and bills: Flex quotes `MarkPrice` per 100 of face and `Quantity`
///   is the face amount. The multiplier used is `Multiplier / 100` when
///   `Quantity × Multiplier × MarkPrice / 100` equals `PositionValue` (or when
///   there is no `PositionValue`), `Multiplier` itself when the product equals
///   `PositionValue`, and otherwise the row is an error.
/// - `LevelOfDetail`: `SUMMARY` (or empty, or no such column) and `LOT`. A
///   position is identified by account, `Conid` (when the file has one) and
///   its contract terms (symbol, class, currency, underlying, strike, expiry,
///   right, multiplier). When a position has a `SUMMARY` row, its `LOT` rows
///   are ignored; when it has only `LOT` rows, their quantities are summed
///   (their `MarkPrice` must agree). This holds across all the files of a
///   run. Two `SUMMARY` rows for the same position are an error of the account
///   (a position is never counted twice, e.g. when the same report is given
///   twice).
/// - Dates (`Expiry`): `yyyyMMdd` (the Flex default), `yyyy-MM-dd`,
///   `yyyy/MM/dd`, `MM/dd/yyyy`, `MM/dd/yy`, `dd-MMM-yy` and `dd-MMM-yyyy`
///   (e.g. `15-Jan-27`); a time after `;` (`20270115;162000`) is ignored.
///   `dd/MM/yyyy` is not read: it cannot be told from `MM/dd/yyyy`.
/// - `Side`, `Description` and every other column are ignored; `Quantity` is
///   signed (negative = short).
///
/// # Cash report (`CRTT`)
///
/// Required: `ClientAccountID`, `CurrencyPrimary` (or `Currency`),
/// `EndingCash`. One row per account and currency gives the ending cash
/// (settled and unsettled) in that currency. The base-currency total row
/// (currency `BASE_SUMMARY`, or `LevelOfDetail` `BaseCurrency`) is skipped. A
/// second row for the same account and currency is an error of the account.
/// An `FXRateToBase` column, when present, is used like the positions' one.
///
/// # Base currency
///
/// 1. The NAV section (`EQUT`), when its header has `CurrencyPrimary` (or
///    `Currency`): that currency is the account's base. Two different ones
///    fail the account.
/// 2. Otherwise the one currency whose `FXRateToBase` is 1 in the account's
///    position (and cash) rows. No such currency, or more than one, fails the
///    account with a reason (add the NAV section to the query).
///
/// A row in the base currency whose `FXRateToBase` is not 1 is an error.
///
/// # FX rates
///
/// `market/fx.csv` gives USD per unit; Flex rows give `FXRateToBase`, units
/// of the account's base per unit of the row's currency. Rates are taken, in
/// this order of preference:
///
/// 1. **USD-based accounts**: `usd_per_unit(c) = FXRateToBase(c)`. Two such
///    rows with different rates for one currency make the currency unusable
///    (every account holding it fails with both locations), as two different
///    rows of `market/fx.csv` do.
/// 2. **Other bases**: the base `B` itself from a `USD` row of a `B`-based
///    account (`usd_per_unit(B) = 1 / FXRateToBase(USD)`) when 1. lacks it;
///    then `usd_per_unit(c) = FXRateToBase(c) × usd_per_unit(B)`, with
///    `usd_per_unit(B)` from 1., from such a `USD` row, or from the market
///    folder. The first row (in file order) that gives a currency wins:
///    cross rates differ in their last digits.
/// 3. **The market folder** (`market` argument) fills every currency the
///    files do not give (e.g. a currency held only as cash, since cash
///    reports carry no rate).
///
/// So the files win over the market folder where both give a rate: they are
/// the rates the broker valued the accounts at. The returned
/// [`Batch::market`] holds the merged rates, and the market folder's factor
/// mapping, underlyings and interest rates unchanged.
///
/// # Bad rows
///
/// As with a drop: every problem of a row is reported as
/// `<file> line <n> column <i> (<name>): <reason>` and fails the account the
/// row names; every other account goes on. A row without `ClientAccountID`
/// goes to [`Batch::errors`], as does a row whose fields do not match its
/// header (or are over the size limits) unless its `ClientAccountID` was
/// read whole and names an account already seen. Every account
/// seen in any section is an account of the batch, in order of first
/// appearance. An account with more than
/// [`MAX_POSITIONS_PER_ACCOUNT`](crate::MAX_POSITIONS_PER_ACCOUNT) position
/// rows (or cash rows) fails, and its further rows are not read.
///
/// # Errors
///
/// [`IoError`] when a file cannot be read, is not a Flex report, lacks a
/// required column of a section it has, or has a `DATA` row before its
/// section's `HEADER`. Bad rows are not errors of the call (see above).
///
/// # Examples
///
/// ```no_run
/// use std::path::PathBuf;
/// use exfee_model::MarketData;
///
/// // A folder of Flex reports; the market folder would fill missing rates.
/// let batch = exfee_io::read_flex(&[PathBuf::from("examples/flex/markers")], MarketData::default())?;
/// for account in &batch.accounts {
///     println!("{} {:?} {} positions", account.id, account.base_currency, account.positions.len());
/// }
/// # Ok::<(), exfee_io::IoError>(())
/// ```
pub fn read_flex(paths: &[PathBuf], market: MarketData) -> Result<Batch, IoError> {
    read_flex_dated(paths, market).map(|(batch, _)| batch)
}

/// [`read_flex`], also returning the distinct `ReportDate`s of the rows of
/// the accounts read (in order; empty when the reports have no such
/// column): the date the reports were taken for, which the run values at
/// when no `--date` is given.
///
/// # Errors
///
/// As [`read_flex`].
pub fn read_flex_dated(
    paths: &[PathBuf],
    market: MarketData,
) -> Result<(Batch, Vec<NaiveDate>), IoError> {
    let files = expand(paths)?;
    // Open everything first: an unreadable file stops the run before any row
    // is read.
    let mut opened = Vec::with_capacity(files.len());
    for path in &files {
        let file = File::open(path).map_err(|source| IoError::Unreadable {
            path: path.clone(),
            source,
        })?;
        opened.push((path.display().to_string(), BufReader::new(file)));
    }
    let mut reader = FlexReader::default();
    for (name, file) in opened {
        reader.read(&name, file)?;
    }
    let dates = reader.report_dates.iter().copied().collect();
    Ok((reader.finish(market), dates))
}

/// [`read_flex`] over reports already open: each item is the name that shows
/// the report in errors, and its text. Reports are read in the given order.
///
/// # Errors
///
/// As [`read_flex`], but for opening files.
///
/// # Examples
///
/// ```
/// use exfee_model::MarketData;
///
/// let report = "ClientAccountID,CurrencyPrimary,FXRateToBase,AssetClass,Symbol,Quantity,MarkPrice\n\
///               U1,USD,1,STK,AAPL,100,245.30\n";
/// let batch = exfee_io::read_flex_from([("report.csv", report.as_bytes())], MarketData::default())?;
/// assert_eq!(batch.accounts[0].positions.len(), 1);
/// # Ok::<(), exfee_io::IoError>(())
/// ```
pub fn read_flex_from<N: AsRef<str>, R: Read>(
    files: impl IntoIterator<Item = (N, R)>,
    market: MarketData,
) -> Result<Batch, IoError> {
    let mut reader = FlexReader::default();
    for (name, file) in files {
        reader.read(name.as_ref(), file)?;
    }
    Ok(reader.finish(market))
}

/// Files and folders to files.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, IoError> {
    let unreadable = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IoError::Unreadable { path, source }
    };
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(path).map_err(unreadable(path))? {
            let entry = entry.map_err(unreadable(path))?;
            let file = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !name.starts_with('.')
                && name.to_ascii_lowercase().ends_with(".csv")
                && file.is_file()
            {
                found.push(file);
            }
        }
        if found.is_empty() {
            return Err(IoError::Unreadable {
                path: path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the folder has no .csv files",
                ),
            });
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// What a section holds.
#[derive(Debug, Copy, Clone, PartialEq, Eq)]
enum Kind {
    Positions,
    Cash,
    Nav,
    /// A section exfee does not read (trades, transfers …).
    Skipped,
}

impl Kind {
    fn of_code(code: &str) -> Kind {
        match code.to_ascii_uppercase().as_str() {
            "POST" => Kind::Positions,
            "CRTT" => Kind::Cash,
            "EQUT" => Kind::Nav,
            _ => Kind::Skipped,
        }
    }
}

/// A section's header row.
struct Header {
    kind: Kind,
    /// Column names by field index (the leading `HEADER`,code fields blank).
    names: Vec<String>,
    columns: HashMap<String, usize>,
    /// `Quantity` or, in older files, `Position`.
    quantity: &'static str,
    /// `CurrencyPrimary` or `Currency` (cash and NAV sections), when present.
    currency: Option<&'static str>,
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
        let mut columns = HashMap::new();
        if kind != Some(Kind::Skipped) {
            for (index, name) in names.iter().enumerate() {
                if !name.is_empty() && columns.insert(name.clone(), index).is_some() {
                    return Err(IoError::DuplicateColumn {
                        path: file.to_string(),
                        column: name.clone(),
                    });
                }
            }
        }
        let has = |name: &str| columns.contains_key(name);
        let kind = match kind {
            Some(kind) => kind,
            None if has(ACCOUNT) && has(ASSET_CLASS) && (has(QUANTITY) || has(OLD_QUANTITY)) => {
                Kind::Positions
            }
            None if has(ACCOUNT) && has(ENDING_CASH) => Kind::Cash,
            None if has(ACCOUNT) && has(NAV_TOTAL) => Kind::Nav,
            None => {
                return Err(IoError::BadHeader {
                    path: file.to_string(),
                    reason: format!(
                        "not a Flex Query report: the first line is neither a HEADER/DATA or \
                         BOF/BOS marker line nor a header with {ACCOUNT} and open-position \
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
            Kind::Positions => &[ACCOUNT, CURRENCY, ASSET_CLASS, SYMBOL, quantity, MARK],
            Kind::Cash => &[ACCOUNT, currency.unwrap_or(CURRENCY), ENDING_CASH],
            Kind::Nav => &[ACCOUNT],
            Kind::Skipped => &[],
        };
        for &column in required {
            if !has(column) {
                return Err(IoError::MissingColumn {
                    path: file.to_string(),
                    column,
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
}

/// `SUMMARY` or `LOT`.
#[derive(Debug, Copy, Clone, PartialEq, Eq)]
enum Level {
    Summary,
    Lot,
}

/// Where a value was read, kept without allocating (a batch may hold
/// millions of rows): the file (an index into the names of the files read),
/// the line and the column. Made a [`SourceLocation`] only for an error.
#[derive(Debug, Copy, Clone)]
struct Spot {
    file: usize,
    line: u64,
    column: Option<(usize, &'static str)>,
}

impl Spot {
    fn at(self, files: &[String]) -> SourceLocation {
        SourceLocation {
            file: files[self.file].clone(),
            line: self.line,
            column: self.column.map(|(index, name)| (index, name.to_string())),
        }
    }
}

/// A valid open-position row, before lots and summaries are reconciled.
struct PositionRow {
    account: usize,
    level: Level,
    conid: String,
    position: Position,
    /// Where the row is (no column).
    row: Spot,
    currency: Spot,
    mark: Spot,
}

/// A position's identity: account, `Conid` and every term of the instrument
/// but its mark.
struct PositionKey<'a>(&'a PositionRow);

impl PartialEq for PositionKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&self.0.position.instrument, &other.0.position.instrument);
        self.0.account == other.0.account
            && self.0.conid == other.0.conid
            && a.symbol == b.symbol
            && a.kind == b.kind
            && a.currency == b.currency
            && a.multiplier == b.multiplier
    }
}

impl Eq for PositionKey<'_> {}

impl std::hash::Hash for PositionKey<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let instrument = &self.0.position.instrument;
        self.0.account.hash(state);
        self.0.conid.hash(state);
        instrument.symbol.hash(state);
        instrument.kind.hash(state);
        instrument.currency.hash(state);
        instrument.multiplier.hash(state);
    }
}

/// A valid cash-report row.
struct CashRow {
    account: usize,
    balance: CashBalance,
    /// The currency field.
    location: Spot,
}

/// An `FXRateToBase` as read: base units per unit of `currency`.
struct RateRow {
    account: usize,
    currency: Currency,
    rate: Decimal,
    /// The `FXRateToBase` field.
    location: Spot,
    /// The currency field.
    currency_location: Spot,
}

/// A base currency named by the NAV section.
struct NavRow {
    account: usize,
    currency: Currency,
    location: Spot,
}

/// Everything read from the files, before the rules that need all of it
/// (base currencies, FX, lots) are applied.
#[derive(Default)]
struct FlexReader {
    /// The names of the files read, in order; the last is being read.
    files: Vec<String>,
    accounts: Vec<AccountInput>,
    index: HashMap<String, usize>,
    /// Position and cash rows read per account.
    rows: Vec<[usize; 2]>,
    positions: Vec<PositionRow>,
    cash: Vec<CashRow>,
    rates: Vec<RateRow>,
    navs: Vec<NavRow>,
    errors: Vec<InputError>,
    /// The `ReportDate`s of the rows read.
    report_dates: BTreeSet<NaiveDate>,
}

/// The text of a field, trimmed, for layout decisions (empty when it is not
/// UTF-8).
fn field(record: &csv::ByteRecord, index: usize) -> &str {
    std::str::from_utf8(record.get(index).unwrap_or_default())
        .unwrap_or_default()
        .trim_start_matches('\u{feff}')
        .trim()
}

/// Keeps the value, or the error in `errors`.
fn keep<T>(result: Result<T, InputError>, errors: &mut Vec<InputError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

impl FlexReader {
    /// Reads one file (shown to users as `name`).
    fn read(&mut self, name: &str, input: impl Read) -> Result<(), IoError> {
        self.files.push(name.to_string());
        let mut records = Records::new(input);
        let mut record = csv::ByteRecord::new();
        // `None` until the first line decides: `Some(Some(header))` for a
        // plain file, `Some(None)` for a file with markers.
        let mut plain: Option<Option<Header>> = None;
        // The headers of `HEADER` rows, by section code.
        let mut by_code: HashMap<String, Header> = HashMap::new();
        // The open `BOS` section: its code and, once read, its header.
        let mut section: Option<(String, Option<Header>)> = None;
        loop {
            let oversize = match records.next(&mut record) {
                Ok(Next::End) => break,
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
                self.oversized(name, line, &record, problem, &plain, &by_code, &section)?;
                continue;
            }
            if record.iter().all(<[u8]>::is_empty) {
                continue; // a blank line
            }
            let tag = field(&record, 0);
            let layout = match &mut plain {
                Some(layout) => layout,
                None => {
                    let marked = matches!(
                        tag,
                        "BOF" | "BOA" | "BOS" | "EOS" | "EOA" | "EOF" | "HEADER" | "DATA"
                    );
                    if marked {
                        plain.insert(None)
                    } else {
                        plain = Some(Some(Header::new(name, &record, 0, None)?));
                        continue;
                    }
                }
            };
            if let Some(header) = layout {
                self.data_row(name, line, &record, header, None);
                continue;
            }
            let structural = |reason: String| IoError::BadTable {
                path: name.to_string(),
                reason: format!("line {line}: {reason}"),
            };
            match tag {
                "BOF" | "EOF" | "BOA" | "EOA" => {}
                "BOS" => {
                    let code = field(&record, 1);
                    if code.is_empty() {
                        return Err(structural("BOS line without a section code".into()));
                    }
                    section = Some((code.to_string(), None));
                }
                "EOS" => section = None,
                "HEADER" => {
                    let code = field(&record, 1);
                    let header = Header::new(name, &record, 2, Some(Kind::of_code(code)))?;
                    by_code.insert(code.to_string(), header);
                }
                "DATA" => {
                    let code = field(&record, 1);
                    match by_code.get(code) {
                        Some(header) => self.data_row(name, line, &record, header, None),
                        None if Kind::of_code(code) == Kind::Skipped => {}
                        None => {
                            return Err(structural(format!(
                                "DATA row of section {code} before its HEADER row"
                            )));
                        }
                    }
                }
                _ => match &mut section {
                    Some((code, header @ None)) => {
                        *header = Some(Header::new(name, &record, 0, Some(Kind::of_code(code)))?);
                    }
                    Some((_, Some(header))) => {
                        self.data_row(name, line, &record, header, None);
                    }
                    None => {
                        return Err(structural(format!(
                            "{tag:?} is neither a marker (BOF, BOA, BOS, EOS, EOA, EOF), nor a \
                             HEADER or DATA row, nor inside a BOS … EOS section"
                        )));
                    }
                },
            }
        }
        Ok(())
    }

    /// A record over the size limits: a data row's error (of its account when
    /// its `ClientAccountID` was read whole), or, for a line that should be a
    /// header or a marker, the end of the run.
    #[allow(clippy::too_many_arguments)]
    fn oversized(
        &mut self,
        name: &str,
        line: u64,
        record: &csv::ByteRecord,
        problem: Oversize,
        plain: &Option<Option<Header>>,
        by_code: &HashMap<String, Header>,
        section: &Option<(String, Option<Header>)>,
    ) -> Result<(), IoError> {
        let header = match plain {
            Some(Some(header)) => Some(header),
            Some(None) if record.len() >= 2 => match field(record, 0) {
                "DATA" => by_code.get(field(record, 1)),
                "BOF" | "BOA" | "BOS" | "EOS" | "EOA" | "EOF" | "HEADER" => None,
                _ => match section {
                    Some((_, Some(header))) => Some(header),
                    _ => None,
                },
            },
            _ => None,
        };
        match header {
            Some(header) => {
                self.data_row(name, line, record, header, Some(problem));
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

    /// Where `column` (or, `None`, the whole row) of `row` is.
    fn spot(&self, row: &Row<'_>, column: Option<&'static str>) -> Spot {
        Spot {
            file: self.files.len() - 1,
            line: row.line,
            column: column.and_then(|name| row.columns.get(name).map(|&i| (i + 1, name))),
        }
    }

    /// The account a row names, created on first sight; `None` (and an error
    /// of the batch) when the row names none.
    fn account_of(&mut self, row: &Row<'_>) -> Option<usize> {
        match row.required(ACCOUNT) {
            Ok(id) => Some(self.account_index(id)),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    /// The index of account `id`, created on first sight.
    fn account_index(&mut self, id: &str) -> usize {
        match self.index.get(id) {
            Some(&index) => index,
            None => {
                self.accounts.push(AccountInput {
                    id: id.to_string(),
                    ..AccountInput::default()
                });
                self.rows.push([0, 0]);
                self.index.insert(id.to_string(), self.accounts.len() - 1);
                self.accounts.len() - 1
            }
        }
    }

    /// Counts a position (`kind` 0) or cash (1) row of `account`; `false`
    /// (and, the first time, an error of the account) past
    /// [`MAX_POSITIONS_PER_ACCOUNT`] rows.
    fn count_row(&mut self, row: &Row<'_>, account: usize, kind: usize) -> bool {
        let count = &mut self.rows[account][kind];
        *count += 1;
        if *count <= MAX_POSITIONS_PER_ACCOUNT {
            return true;
        }
        if *count == MAX_POSITIONS_PER_ACCOUNT + 1 {
            let input = &mut self.accounts[account];
            let what = if kind == 0 { "positions" } else { "cash rows" };
            input.errors.push(row.error(
                ACCOUNT,
                format!(
                    "account {} has more than {MAX_POSITIONS_PER_ACCOUNT} {what}, the limit per \
                     account; its rows from here on are not read",
                    input.id
                ),
            ));
        }
        false
    }

    /// Reads a data row of a section with `header`; `oversize` when the row
    /// was too large to be read whole.
    fn data_row(
        &mut self,
        file: &str,
        line: u64,
        record: &csv::ByteRecord,
        header: &Header,
        oversize: Option<Oversize>,
    ) {
        if header.kind == Kind::Skipped {
            return;
        }
        let mut row = Row {
            file,
            line,
            record,
            header: &header.names,
            columns: &header.columns,
            whole: record.len(),
        };
        let problem = match oversize {
            Some(problem) => Some(match problem.field() {
                Some(index) => row.error_at_field(index, problem.reason()),
                None => row.error_at_row(problem.reason()),
            }),
            None if record.len() != header.names.len() => {
                if record.len() < header.names.len() {
                    // The last field may be cut short (a truncated line).
                    row.whole = record.len().saturating_sub(1);
                }
                Some(row.error_at_row(format!(
                    "row has {} fields but the header has {}",
                    record.len(),
                    header.names.len()
                )))
            }
            None => None,
        };
        if let Some(problem) = problem {
            // The error fails the account when the row names one already
            // seen, whole; a broken row never makes an account of its own.
            match row.whole_text(ACCOUNT).and_then(|id| self.index.get(id)) {
                Some(&account) => self.accounts[account].errors.push(problem),
                None => self.errors.push(problem),
            }
            return;
        }
        let Some(account) = self.account_of(&row) else {
            return;
        };
        if row.columns.contains_key(REPORT_DATE)
            && let Ok(Some(date)) = flex_date(&row, REPORT_DATE)
        {
            self.report_dates.insert(date);
        }
        let counted = match header.kind {
            Kind::Positions => self.count_row(&row, account, 0),
            Kind::Cash => self.count_row(&row, account, 1),
            Kind::Nav | Kind::Skipped => true,
        };
        if !counted {
            return;
        }
        let mut errors = Vec::new();
        match header.kind {
            Kind::Positions => self.position_row(&row, header, account, &mut errors),
            Kind::Cash => self.cash_row(&row, header, account, &mut errors),
            Kind::Nav => {
                if let Some(column) = header.currency
                    && let Some(currency) = keep(row.currency(column), &mut errors)
                {
                    let location = self.spot(&row, Some(column));
                    self.navs.push(NavRow {
                        account,
                        currency,
                        location,
                    });
                }
            }
            Kind::Skipped => {}
        }
        self.accounts[account].errors.extend(errors);
    }

    /// Records the row's `FXRateToBase`, when it has one.
    fn rate_of(
        &mut self,
        row: &Row<'_>,
        account: usize,
        currency: Option<(Currency, &'static str)>,
        errors: &mut Vec<InputError>,
    ) {
        let rate = row
            .optional_decimal(FX_TO_BASE)
            .and_then(|rate| match rate {
                Some(rate) if rate <= Decimal::ZERO => {
                    Err(row.error(FX_TO_BASE, format!("FX rate must be positive, got {rate}")))
                }
                rate => Ok(rate),
            });
        if let (Some((currency, column)), Some(Some(rate))) = (currency, keep(rate, errors)) {
            let location = self.spot(row, Some(FX_TO_BASE));
            let currency_location = self.spot(row, Some(column));
            self.rates.push(RateRow {
                account,
                currency,
                rate,
                location,
                currency_location,
            });
        }
    }

    fn cash_row(
        &mut self,
        row: &Row<'_>,
        header: &Header,
        account: usize,
        errors: &mut Vec<InputError>,
    ) {
        let column = header.currency.unwrap_or(CURRENCY);
        let level = row.text(LEVEL).unwrap_or_default();
        if row
            .text(column)
            .unwrap_or_default()
            .eq_ignore_ascii_case("BASE_SUMMARY")
            || level.eq_ignore_ascii_case("BaseCurrency")
        {
            return; // the total over currencies, in the base currency
        }
        let currency = keep(row.currency(column), errors);
        self.rate_of(row, account, currency.map(|c| (c, column)), errors);
        let amount = keep(row.decimal(ENDING_CASH), errors);
        if let (Some(currency), Some(amount)) = (currency, amount) {
            let location = self.spot(row, Some(column));
            self.cash.push(CashRow {
                account,
                balance: CashBalance { currency, amount },
                location,
            });
        }
    }

    fn position_row(
        &mut self,
        row: &Row<'_>,
        header: &Header,
        account: usize,
        errors: &mut Vec<InputError>,
    ) {
        let currency = keep(row.currency(CURRENCY), errors);
        self.rate_of(row, account, currency.map(|c| (c, CURRENCY)), errors);
        let level = keep(
            row.text(LEVEL).and_then(|text| {
                if text.is_empty() || text.eq_ignore_ascii_case("SUMMARY") {
                    Ok(Level::Summary)
                } else if text.eq_ignore_ascii_case("LOT") {
                    Ok(Level::Lot)
                } else {
                    Err(row.error(LEVEL, format!("{text:?} is not SUMMARY or LOT")))
                }
            }),
            errors,
        );
        let symbol = keep(row.required(SYMBOL), errors);
        let class = keep(asset_class(row), errors);
        let quantity = keep(row.decimal(header.quantity), errors);
        let multiplier = keep(
            row.optional_decimal(MULTIPLIER).and_then(|m| match m {
                None => Ok(Decimal::ONE),
                Some(m) if m > Decimal::ZERO => Ok(m),
                Some(m) if m.is_zero() => Err(row.error(MULTIPLIER, "zero multiplier")),
                Some(m) => Err(row.error(MULTIPLIER, format!("negative multiplier {m}"))),
            }),
            errors,
        );
        let mark = keep(
            row.decimal(MARK).and_then(|mark| {
                if mark < Decimal::ZERO {
                    Err(row.error(MARK, format!("negative price {mark}")))
                } else {
                    Ok(mark)
                }
            }),
            errors,
        );
        let kind = class.and_then(|class| {
            kind(row, class, symbol.unwrap_or_default())
                .map_err(|e| errors.extend(e))
                .ok()
        });
        let multiplier = match (class, quantity, multiplier, mark) {
            (Some(AssetClass::Bond), Some(q), Some(m), Some(p)) => {
                keep(bond_multiplier(row, q, m, p), errors)
            }
            _ => multiplier,
        };
        let conid = row.text(CONID).unwrap_or_default().to_string();
        if let (Some(level), Some(symbol), Some(currency), Some(quantity), Some(multiplier)) =
            (level, symbol, currency, quantity, multiplier)
            && let (Some(mark), Some(kind)) = (mark, kind)
            && errors.is_empty()
        {
            self.positions.push(PositionRow {
                account,
                level,
                conid,
                position: Position {
                    instrument: Instrument {
                        symbol: symbol.to_string(),
                        kind,
                        currency,
                        multiplier,
                        mark,
                    },
                    quantity,
                },
                row: self.spot(row, None),
                currency: self.spot(row, Some(CURRENCY)),
                mark: self.spot(row, Some(MARK)),
            });
        }
    }

    /// Applies the rules that need every file: base currencies, FX rates,
    /// lots and summaries, and the FX check of every currency used.
    fn finish(self, mut market: MarketData) -> Batch {
        let FlexReader {
            files,
            mut accounts,
            index: _,
            rows: _,
            positions,
            cash,
            rates,
            navs,
            errors,
            report_dates: _,
        } = self;

        let bases = base_currencies(&files, &mut accounts, &rates, &navs);
        merge_fx(&files, &mut market, &bases, &rates);

        let fx_error = |currency: Currency, spot: Spot| {
            let error = match market.usd_per_unit(currency) {
                Ok(_) => return None,
                Err(MarketError::NoFxRate(c)) => format!(
                    "unknown currency {c}: no FXRateToBase in the Flex files gives its rate and \
                     the market folder's fx.csv has none"
                ),
                Err(e) => e.to_string(),
            };
            Some(InputError::at(spot.at(&files), error))
        };

        for (account, base) in accounts.iter_mut().zip(&bases) {
            if let Some((currency, spot)) = base {
                match fx_error(*currency, *spot) {
                    None => account.base_currency = Some(*currency),
                    Some(e) => account.errors.push(e),
                }
            }
        }

        for (first, position) in reconcile_lots(&files, &mut accounts, &positions) {
            match fx_error(position.instrument.currency, first.currency) {
                None => accounts[first.account].positions.push(position),
                Some(e) => accounts[first.account].errors.push(e),
            }
        }

        let mut seen: HashMap<(usize, Currency), Spot> = HashMap::new();
        for row in &cash {
            let account = &mut accounts[row.account];
            let key = (row.account, row.balance.currency);
            if let Some(first) = seen.get(&key) {
                account.errors.push(InputError::at(
                    row.location.at(&files),
                    format!(
                        "second cash-report row for {} (first at {}); exfee never counts cash \
                         twice",
                        row.balance.currency,
                        first.at(&files)
                    ),
                ));
                continue;
            }
            seen.insert(key, row.location);
            match fx_error(row.balance.currency, row.location) {
                None => account.cash.push(row.balance.clone()),
                Some(e) => account.errors.push(e),
            }
        }

        Batch {
            accounts,
            market,
            errors,
        }
    }
}

/// One position per group of rows with the same [`PositionKey`], in order of
/// first appearance, with the row that gives it: the `SUMMARY` row when there
/// is one (its `LOT` rows are ignored), else the sum of the `LOT` rows. The
/// problems (two summaries, lots that disagree) go to the accounts.
fn reconcile_lots<'r>(
    files: &[String],
    accounts: &mut [AccountInput],
    positions: &'r [PositionRow],
) -> Vec<(&'r PositionRow, Position)> {
    let mut groups: Vec<(Vec<&PositionRow>, Vec<&PositionRow>)> = Vec::new();
    let mut group_of: HashMap<PositionKey<'_>, usize> = HashMap::with_capacity(positions.len());
    for row in positions {
        let group = *group_of.entry(PositionKey(row)).or_insert_with(|| {
            groups.push((Vec::new(), Vec::new()));
            groups.len() - 1
        });
        match row.level {
            Level::Summary => groups[group].0.push(row),
            Level::Lot => groups[group].1.push(row),
        }
    }
    let mut resolved = Vec::with_capacity(groups.len());
    for (summaries, lots) in groups {
        if let Some((&first, others)) = summaries.split_first() {
            for other in others {
                accounts[first.account].errors.push(InputError::at(
                    other.row.at(files),
                    format!(
                        "position {} is listed twice (SUMMARY rows here and at {}); exfee never \
                         counts a position twice",
                        first.position.instrument.symbol,
                        first.row.at(files)
                    ),
                ));
            }
            resolved.push((first, first.position.clone()));
            continue;
        }
        let first = lots[0];
        let mut position = first.position.clone();
        let mut bad = false;
        for lot in &lots[1..] {
            if lot.position.instrument.mark != position.instrument.mark {
                accounts[first.account].errors.push(InputError::at(
                    lot.mark.at(files),
                    format!(
                        "LOT rows of {} disagree on {MARK}: {} here, {} at {}",
                        position.instrument.symbol,
                        lot.position.instrument.mark,
                        position.instrument.mark,
                        first.mark.at(files)
                    ),
                ));
                bad = true;
            }
            if let Some(sum) = position.quantity.checked_add(lot.position.quantity) {
                position.quantity = sum;
            } else {
                accounts[first.account].errors.push(InputError::at(
                    lot.row.at(files),
                    "the sum of the LOT quantities overflows",
                ));
                bad = true;
            }
        }
        if !bad {
            resolved.push((first, position));
        }
    }
    resolved
}

/// Each account's base currency and where it was read; the problems go to
/// the accounts.
fn base_currencies(
    files: &[String],
    accounts: &mut [AccountInput],
    rates: &[RateRow],
    navs: &[NavRow],
) -> Vec<Option<(Currency, Spot)>> {
    let mut bases: Vec<Option<(Currency, Spot)>> = vec![None; accounts.len()];
    let mut from_nav = vec![false; accounts.len()];
    for nav in navs {
        from_nav[nav.account] = true;
        match &bases[nav.account] {
            None => bases[nav.account] = Some((nav.currency, nav.location)),
            Some((base, first)) if *base != nav.currency => {
                let reason = format!(
                    "the NAV section gives account {} two base currencies: {base} (at {}) \
                     and {}",
                    accounts[nav.account].id,
                    first.at(files),
                    nav.currency
                );
                accounts[nav.account]
                    .errors
                    .push(InputError::at(nav.location.at(files), reason));
            }
            Some(_) => {}
        }
    }
    let mut ones: Vec<Vec<&RateRow>> = vec![Vec::new(); accounts.len()];
    for rate in rates {
        let list = &mut ones[rate.account];
        if rate.rate == Decimal::ONE && !list.iter().any(|r| r.currency == rate.currency) {
            list.push(rate);
        }
    }
    for (i, account) in accounts.iter_mut().enumerate() {
        if from_nav[i] {
            continue;
        }
        match ones[i].as_slice() {
            [one] => bases[i] = Some((one.currency, one.currency_location)),
            [] => account.errors.push(InputError::new(format!(
                "base currency of account {} unknown: the files have no NAV (EQUT) row with a \
                 currency for it and none of its rows has FXRateToBase 1 (add the NAV section \
                 to the Flex Query)",
                account.id
            ))),
            several => account.errors.push(InputError::new(format!(
                "base currency of account {} ambiguous: FXRateToBase is 1 for {} (add the NAV \
                 section, EQUT, to the Flex Query)",
                account.id,
                several
                    .iter()
                    .map(|r| format!("{} (at {})", r.currency, r.location.at(files)))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ))),
        }
    }
    for rate in rates {
        if let Some((base, _)) = &bases[rate.account]
            && rate.currency == *base
            && rate.rate != Decimal::ONE
        {
            accounts[rate.account].errors.push(InputError::at(
                rate.location.at(files),
                format!(
                    "FXRateToBase of {base}, the account's base currency, must be 1, got {}",
                    rate.rate
                ),
            ));
        }
    }
    bases
}

/// Puts the files' FX rates into `market` (see the module documentation).
fn merge_fx(
    files: &[String],
    market: &mut MarketData,
    bases: &[Option<(Currency, Spot)>],
    rates: &[RateRow],
) {
    let base_of = |rate: &RateRow| bases[rate.account].as_ref().map(|(c, _)| *c);

    // 1. USD-based accounts: the rate is USD per unit.
    let mut direct: BTreeMap<Currency, Result<(Decimal, Spot), InputError>> = BTreeMap::new();
    for rate in rates {
        if base_of(rate) != Some(Currency::USD) || rate.currency == Currency::USD {
            continue;
        }
        match direct.entry(rate.currency) {
            Entry::Vacant(slot) => {
                slot.insert(Ok((rate.rate, rate.location)));
            }
            Entry::Occupied(mut slot) => {
                if let Ok((first, at)) = slot.get()
                    && *first != rate.rate
                {
                    let reason = format!(
                        "FXRateToBase of {} to USD is {} here but {first} at {}: the files \
                         disagree",
                        rate.currency,
                        rate.rate,
                        at.at(files)
                    );
                    *slot.get_mut() = Err(InputError::at(rate.location.at(files), reason));
                }
            }
        }
    }

    // 2. Other bases: the base from a USD row, then cross rates.
    let mut derived: BTreeMap<Currency, Decimal> = BTreeMap::new();
    for rate in rates {
        if let Some(base) = base_of(rate)
            && base != Currency::USD
            && rate.currency == Currency::USD
            && !direct.contains_key(&base)
            && !derived.contains_key(&base)
            && let Some(usd) = Decimal::ONE.checked_div(rate.rate)
        {
            derived.insert(base, usd);
        }
    }
    for rate in rates {
        let Some(base) = base_of(rate) else {
            continue;
        };
        if base == Currency::USD
            || rate.currency == Currency::USD
            || rate.currency == base
            || direct.contains_key(&rate.currency)
            || derived.contains_key(&rate.currency)
        {
            continue;
        }
        let base_usd = match direct.get(&base) {
            Some(Ok((usd, _))) => Some(*usd),
            Some(Err(_)) => None,
            None => derived
                .get(&base)
                .copied()
                .or_else(|| market.usd_per_unit(base).ok()),
        };
        if let Some(usd) = base_usd.and_then(|usd| rate.rate.checked_mul(usd)) {
            derived.insert(rate.currency, usd);
        }
    }

    // 3. The files win over the market folder.
    for (currency, usd) in derived {
        market.fx.insert(currency, Ok(usd));
    }
    for (currency, usd) in direct {
        market.fx.insert(currency, usd.map(|(usd, _)| usd));
    }
}

/// The `AssetClass` column, as an asset class exfee prices.
fn asset_class(row: &Row<'_>) -> Result<AssetClass, InputError> {
    let text = row.required(ASSET_CLASS)?;
    Ok(match text.to_ascii_uppercase().as_str() {
        "STK" | "FUND" => AssetClass::Stock,
        "OPT" => AssetClass::Option,
        "FOP" => AssetClass::FutureOption,
        "FUT" => AssetClass::Future,
        "BOND" | "BILL" => AssetClass::Bond,
        "CRYPTO" => AssetClass::Crypto,
        code @ ("CASH" | "WAR" | "CFD" | "CMDTY") => {
            return Err(row.error(
                ASSET_CLASS,
                format!("asset class {code} is not priced by exfee yet"),
            ));
        }
        _ => {
            return Err(row.error(
                ASSET_CLASS,
                format!(
                    "unknown asset class {text:?} (Flex classes: STK, OPT, FUT, FOP, CASH, BOND, \
                     BILL, WAR, CFD, CRYPTO, FUND, CMDTY)"
                ),
            ));
        }
    })
}

/// The kind and terms of an instrument of `class`, or every problem found.
fn kind(row: &Row<'_>, class: AssetClass, symbol: &str) -> Result<InstrumentKind, Vec<InputError>> {
    Ok(match class {
        AssetClass::Stock => InstrumentKind::Stock,
        AssetClass::Bond => InstrumentKind::Bond,
        AssetClass::Crypto => InstrumentKind::Crypto,
        AssetClass::Future => match (row.text(UNDERLYING), flex_date(row, EXPIRY)) {
            (Ok(underlying), Ok(expiry)) => InstrumentKind::Future {
                underlying: if underlying.is_empty() {
                    symbol.to_string()
                } else {
                    underlying.to_string()
                },
                expiry,
            },
            (a, b) => return Err([a.err(), b.err()].into_iter().flatten().collect()),
        },
        AssetClass::Option | AssetClass::FutureOption => {
            let underlying = row.required(UNDERLYING);
            let strike = row.decimal(STRIKE).and_then(|k| {
                if k < Decimal::ZERO {
                    Err(row.error(STRIKE, format!("negative strike {k}")))
                } else {
                    Ok(k)
                }
            });
            let expiry = flex_date(row, EXPIRY)
                .and_then(|d| d.ok_or_else(|| row.error(EXPIRY, "missing value")));
            let right = row.required(PUT_CALL).and_then(|text| {
                OptionRight::parse(text)
                    .ok_or_else(|| row.error(PUT_CALL, format!("{text:?} is not P or C")))
            });
            match (underlying, strike, expiry, right) {
                (Ok(underlying), Ok(strike), Ok(expiry), Ok(right)) => InstrumentKind::Option {
                    underlying: underlying.to_string(),
                    on_future: class == AssetClass::FutureOption,
                    terms: OptionTerms {
                        strike,
                        expiry,
                        right,
                        exercise: Exercise::American,
                    },
                },
                (a, b, c, d) => {
                    return Err([a.err(), b.err(), c.err(), d.err()]
                        .into_iter()
                        .flatten()
                        .collect());
                }
            }
        }
    })
}

/// A bond's multiplier: see the module documentation.
fn bond_multiplier(
    row: &Row<'_>,
    quantity: Decimal,
    multiplier: Decimal,
    mark: Decimal,
) -> Result<Decimal, InputError> {
    let per_100 = multiplier / Decimal::ONE_HUNDRED;
    let Some(value) = row.optional_decimal(POSITION_VALUE)? else {
        return Ok(per_100);
    };
    let Some(full) = quantity
        .checked_mul(multiplier)
        .and_then(|v| v.checked_mul(mark))
    else {
        return Err(row.error(row_quantity_column(row), "quantity × price overflows"));
    };
    let close = |a: Decimal, b: Decimal| {
        let tolerance = (b.abs() * Decimal::new(1, 4)).max(Decimal::new(1, 2));
        // Far apart when the gap itself overflows.
        a.checked_sub(b).is_some_and(|gap| gap.abs() <= tolerance)
    };
    if close(full / Decimal::ONE_HUNDRED, value) {
        Ok(per_100)
    } else if close(full, value) {
        Ok(multiplier)
    } else {
        Err(row.error(
            POSITION_VALUE,
            format!(
                "PositionValue {value} matches neither Quantity × Multiplier × MarkPrice ({}) \
                 nor that per 100 of face ({})",
                full.normalize(),
                (full / Decimal::ONE_HUNDRED).normalize()
            ),
        ))
    }
}

/// `Quantity` or `Position`, whichever the row's file has.
fn row_quantity_column(row: &Row<'_>) -> &'static str {
    if row.columns.contains_key(QUANTITY) || !row.columns.contains_key(OLD_QUANTITY) {
        QUANTITY
    } else {
        OLD_QUANTITY
    }
}

/// A date in one of the Flex formats, `None` when empty.
fn flex_date(row: &Row<'_>, column: &str) -> Result<Option<NaiveDate>, InputError> {
    let text = row.text(column)?;
    if text.is_empty() {
        return Ok(None);
    }
    parse_flex_date(text)
        .map(Some)
        .map_err(|reason| row.error(column, reason))
}

/// Parses `yyyyMMdd`, `yyyy-MM-dd`, `yyyy/MM/dd`, `MM/dd/yyyy`, `MM/dd/yy`,
/// `dd-MMM-yy` or `dd-MMM-yyyy`, with an optional `;time` that is ignored.
fn parse_flex_date(text: &str) -> Result<NaiveDate, String> {
    let date = text.split(';').next().unwrap_or_default().trim();
    let parts: Vec<&str> = date.split(['-', '/']).collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let format = match parts.as_slice() {
        [compact] if compact.len() == 8 && digits(compact) => Some("%Y%m%d"),
        [y, _, _] if y.len() == 4 && digits(y) && date.contains('-') => Some("%Y-%m-%d"),
        [y, _, _] if y.len() == 4 && digits(y) => Some("%Y/%m/%d"),
        [_, _, y] if date.contains('/') && digits(y) && y.len() == 4 => Some("%m/%d/%Y"),
        [_, _, y] if date.contains('/') && digits(y) && y.len() == 2 => Some("%m/%d/%y"),
        [_, month, y] if date.contains('-') && !digits(month) && y.len() == 4 => Some("%d-%b-%Y"),
        [_, month, y] if date.contains('-') && !digits(month) && y.len() == 2 => Some("%d-%b-%y"),
        _ => None,
    };
    let parsed = format.and_then(|format| NaiveDate::parse_from_str(date, format).ok());
    parsed.ok_or_else(|| {
        let mut reason = format!(
            "{text:?} is not a date (yyyyMMdd, yyyy-MM-dd, yyyy/MM/dd, MM/dd/yyyy, MM/dd/yy or \
             dd-MMM-yy)"
        );
        if let [first, _, _] = parts.as_slice()
            && date.contains('/')
            && first.parse::<u32>().is_ok_and(|n| n > 12)
        {
            reason.push_str(
                "; it looks like dd/MM/yyyy, which cannot be told from MM/dd/yyyy: choose \
                 another date format in the Flex Query",
            );
        }
        reason
    })
}

#[cfg(test)]
mod tests;
