//! Reading broker "Flex Query" reports, CSV or XML, directly (`exfee run
//! --flex`): see [`read_flex`] for the layouts, columns and rules, and
//! `docs/formats.md` for the quirks of real exports.

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

/// Reads Flex Query reports (CSV or XML) into a batch.
///
/// `paths` are files or folders; a folder stands for its `.csv` and `.xml`
/// files (not recursive, hidden files skipped, in name order). `market` is the market
/// folder's data (it may be empty): it fills the FX rates the files lack, and
/// its factor mapping, underlyings and interest rates are kept as they are.
///
/// # Layouts
///
/// A file whose first non-blank byte (after a byte-order mark) is `<` is
/// **XML**: `<FlexQueryResponse><FlexStatements><FlexStatement accountId …>`
/// with `<AccountInformation>`, `<OpenPositions><OpenPosition …/>`,
/// `<CashReport><CashReportCurrency …/>`,
/// `<EquitySummaryInBase><EquitySummaryByReportDateInBase …/>` and
/// `<ConversionRates><ConversionRate …/>`; every other element is skipped.
/// It is read as a stream (quick-xml over a buffered reader; one element is
/// held at a time); each row element is read as a row of the CSV section it
/// stands for, its attributes as columns (`accountId` = `ClientAccountID`,
/// `currency` = `CurrencyPrimary`, `assetCategory` = `AssetClass`,
/// `position` = `Position`, `putCall` = `Put/Call`, the others by the same
/// name with a capital), so every rule below holds for both. Errors name the
/// line the element starts on and the attribute: `r.xml line 26 column 7
/// (markPrice)` (column = the attribute's place in its element).
/// A row element without `accountId` is its `FlexStatement`'s.
///
/// A CSV file's layout is detected from its first non-blank line (a
/// `"MSG",…` line from the broker's system before the report is skipped):
///
/// - **Section code and line descriptor**: every line starts with `HEADER` or
///   `DATA` and a section code, e.g. `"HEADER","POST","ClientAccountID",…`
///   then `"DATA","POST","U1100001",…`. A `DATA` row uses the last `HEADER`
///   row of its section code. Column numbers in error messages count the two
///   leading fields (the first data column is column 3).
/// - **Header and trailer records**: `BOF`, `BOA`, `BOS`, `EOS`, `EOA`, `EOF`
///   marker lines. `BOS,<code>,…` opens a section; the next line is its
///   header row and the lines up to `EOS` are its data rows. `BOF`, `BOA`,
///   `EOA` and `EOF` give the statement's account, date and sections (see
///   below). Both options may be combined (`HEADER`/`DATA` rows inside
///   `BOS`…`EOS`).
/// - **Plain**: one section per file, the first line is the header. The
///   section is told by its columns: `AssetClass` and `Quantity` (or
///   `Position`) make open positions, `EndingCash` a cash report, `Total` a
///   NAV section. Anything else stops the run. The header repeated later
///   (before each account's rows) is skipped.
///
/// An empty file, or a file with none of the positions, cash and NAV
/// sections, stops the run; so does a run in which no file has an Open
/// Positions section. An account whose statement (`FlexStatement`, `BOA` …
/// `EOA`) lacks the Open Positions or Cash Report section that another
/// statement of the run has fails.
///
/// Rows without a `ClientAccountID` column (single-account queries) are the
/// account of their statement (`BOA`, `FlexStatement`), or of the one
/// account the file names (a `BOF` line with one account, the Account
/// Information section `ACCT`); otherwise they name no account.
///
/// Section codes read: `POST` (open positions), `CRTT` (cash report), `EQUT`
/// (net asset value), `ACCT` (account information: `CurrencyPrimary` or
/// `Currency` is the base). Other sections (trades, transfers …) are skipped.
/// Columns are found by name (exact, after trimming); extra columns are
/// ignored; a duplicated column name, a required column missing from a known
/// section's header, or a `DATA` row before its `HEADER` stops the run with an
/// [`IoError`], like a broken drop file.
///
/// # Open positions (`POST`)
///
/// Required columns: `CurrencyPrimary`, `AssetClass`, `Symbol`, `Quantity`
/// (older files: `Position`), `MarkPrice`. Read when present:
/// `ClientAccountID`, `ReportDate`, `FXRateToBase`, `UnderlyingSymbol`, `Multiplier` (empty = 1),
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
/// - Dates (`Expiry`, `ReportDate`, the statement's `toDate`): `yyyyMMdd`
///   (the Flex default), `yyyy-MM-dd`, `yyyy/MM/dd`, `MM/dd/yyyy`,
///   `dd/MM/yyyy` (and both with `yy`), `dd-MMM-yy` and `dd-MMM-yyyy` (e.g.
///   `15-Jan-27`); a time after `;` (`20270115;162000`) is ignored; `MULTI`
///   is no date. The order of a slash date is inferred per file: a date with
///   a day above 12 (`20/11/2026`, `11/20/2026`) proves it. A date that reads
///   both ways (`03/01/2027`) fails its row's account with "ambiguous date
///   format" when the file proves neither order, or both; a statement date
///   that reads both ways is left unknown.
/// - Several `ReportDate`s (a daily breakout): each account's rows (positions,
///   cash, NAV, FX rates) of its latest date are read, the earlier ones are
///   left out; rows without a date are always read.
/// - `Side`, `Description` and every other column are ignored; `Quantity` is
///   signed (negative = short).
///
/// # Cash report (`CRTT`)
///
/// Required: `CurrencyPrimary` (or `Currency`), `EndingCash`. One row per
/// account and currency gives the ending cash (settled and unsettled) in
/// that currency. The base-currency total row (currency `BASE_SUMMARY`, or
/// `LevelOfDetail` `BaseCurrency`) is the account's cash, in its base
/// currency, only when the account has no row per currency; otherwise it is
/// skipped (cash is never counted twice). A second row for the same account
/// and currency is an error of the account.
/// An `FXRateToBase` column, when present, is used like the positions' one.
///
/// # Base currency
///
/// 1. The NAV section (`EQUT`), when its rows have `CurrencyPrimary` (or
///    `Currency`), then the Account Information section (`ACCT`,
///    `<AccountInformation currency>`): that currency is the account's base.
///    Two different ones fail the account.
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
/// 3. **Conversion rates** (XML `ConversionRate`, of the account's date)
///    whose `toCurrency` is the account's base give `fromCurrency`'s rate to
///    the base for a currency the account's rows give none (e.g. held only
///    as cash), used as in 1. and 2.; a rate that does not read (or is not
///    positive, as the `-1` of an unavailable rate) is left out.
/// 4. **The market folder** (`market` argument) fills every currency the
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
    read_flex_report(paths, market).map(|report| report.batch)
}

/// What [`read_flex_report`] reads: the batch, and what the reports say
/// about each account beyond positions and cash.
#[derive(Debug, Clone)]
pub struct FlexRead {
    /// The accounts, positions, cash, base currencies and FX rates.
    pub batch: Batch,
    /// One entry per account of [`FlexRead::batch`], in the same order.
    pub accounts: Vec<FlexAccount>,
    /// The latest report date of any account (see [`FlexAccount::report_date`]).
    pub report_date: Option<NaiveDate>,
}

/// What the reports say about one account beyond its positions and cash.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlexAccount {
    /// The date the account's figures are for: the latest `ReportDate`
    /// (`reportDate`) of its rows, else its statement's `toDate` (the BOF
    /// line's or the `FlexStatement`'s).
    pub report_date: Option<NaiveDate>,
    /// The broker's own net asset value of the account at that date, in its
    /// base currency, when a NAV section (`EQUT`, `EquitySummaryInBase`) gives
    /// its `Total`.
    pub broker_nav: Option<BrokerNav>,
}

/// The broker's net asset value of an account, as the report states it.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerNav {
    /// The `Total`, in the account's base currency.
    pub total: Decimal,
    /// Where it was read.
    pub location: SourceLocation,
}

/// [`read_flex`], also returning the distinct dates the accounts' figures
/// are for ([`FlexAccount::report_date`]: each account's latest
/// `ReportDate`, else its statement's `toDate`), in order; empty when the
/// reports carry no date. The run values at the latest when no `--date` is
/// given.
///
/// # Errors
///
/// As [`read_flex`].
pub fn read_flex_dated(
    paths: &[PathBuf],
    market: MarketData,
) -> Result<(Batch, Vec<NaiveDate>), IoError> {
    read_flex_report(paths, market).map(|read| {
        let dates = read.report_dates();
        (read.batch, dates)
    })
}

impl FlexRead {
    /// The distinct report dates of the accounts, in order.
    pub fn report_dates(&self) -> Vec<NaiveDate> {
        let dates: BTreeSet<NaiveDate> =
            self.accounts.iter().filter_map(|a| a.report_date).collect();
        dates.into_iter().collect()
    }
}

/// [`read_flex`], with the report dates and the broker's NAV of every
/// account (for [`reconcile_nav`](crate::reconcile_nav)).
///
/// # Errors
///
/// As [`read_flex`].
pub fn read_flex_report(paths: &[PathBuf], market: MarketData) -> Result<FlexRead, IoError> {
    let files = expand(paths)?;
    // Open everything first: an unreadable file stops the run before any row
    // is read.
    let mut opened = Vec::with_capacity(files.len());
    for path in &files {
        let file = File::open(path).map_err(|source| IoError::Unreadable {
            path: path.clone(),
            source,
        })?;
        opened.push((path.display().to_string(), file));
    }
    read_flex_report_from(opened, market)
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
    read_flex_report_from(files, market).map(|report| report.batch)
}

/// [`read_flex_report`] over reports already open, as [`read_flex_from`].
///
/// # Errors
///
/// As [`read_flex`], but for opening files.
pub fn read_flex_report_from<N: AsRef<str>, R: Read>(
    files: impl IntoIterator<Item = (N, R)>,
    market: MarketData,
) -> Result<FlexRead, IoError> {
    let mut reader = FlexReader::default();
    for (name, file) in files {
        reader.read(name.as_ref(), file)?;
    }
    reader.finish(market)
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
            let lower = name.to_ascii_lowercase();
            if !name.starts_with('.')
                && (lower.ends_with(".csv") || lower.ends_with(".xml"))
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
                    "the folder has no .csv or .xml files",
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
    /// Account Information: the account's base currency.
    AccountInfo,
    /// FX conversion rates (XML `ConversionRate`).
    Conversion,
    /// A section exfee does not read (trades, transfers …).
    Skipped,
}

impl Kind {
    fn of_code(code: &str) -> Kind {
        match code.to_ascii_uppercase().as_str() {
            "POST" => Kind::Positions,
            "CRTT" => Kind::Cash,
            "EQUT" => Kind::Nav,
            "ACCT" => Kind::AccountInfo,
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
        let columns = names.clone();
        Header::from_names(file, names, columns, skip, kind, |column| column)
    }

    /// A header whose field `i` is shown as `names[i]` and read as the
    /// column `columns[i]` (the same for CSV; the Flex CSV name of an XML
    /// attribute). `shown` gives the name a missing column is reported by.
    fn from_names(
        file: &str,
        names: Vec<String>,
        column_names: Vec<String>,
        skip: usize,
        kind: Option<Kind>,
        shown: fn(&'static str) -> &'static str,
    ) -> Result<Header, IoError> {
        let mut columns = HashMap::new();
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
    /// The row's `ReportDate`.
    date: Option<DateField>,
    /// The `Expiry`, when it may have to be read day-first.
    expiry: Option<DateField>,
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
    /// The row's `ReportDate`.
    date: Option<DateField>,
}

/// The cash report's base-currency summary row (`BASE_SUMMARY`).
struct BaseCashRow {
    account: usize,
    amount: Decimal,
    /// The `EndingCash` field.
    location: Spot,
    date: Option<DateField>,
}

/// A `ConversionRate` element: `rate` units of `to` per unit of `from`.
struct ConversionRow {
    account: usize,
    from: Currency,
    to: Currency,
    rate: Decimal,
    location: Spot,
    from_location: Spot,
    date: Option<DateField>,
}

/// One account's statement (an XML `FlexStatement`, a CSV `BOA` … `EOA`
/// block): which sections it has.
struct Statement {
    account: usize,
    location: Spot,
    positions: bool,
    cash: bool,
}

/// A date as read. A slash date whose day and month are both 12 or less
/// (`03/01/2027`) reads as `date` month-first and as `day_first` day-first;
/// the file's other dates decide (see [`DateOrder`]).
#[derive(Debug, Copy, Clone)]
struct DateField {
    date: NaiveDate,
    day_first: Option<NaiveDate>,
    location: Spot,
}

/// What a file's slash dates show about their order: the first date that
/// can only be day-first (`20/11/2026`) and the first that can only be
/// month-first (`11/20/2026`).
#[derive(Debug, Default, Copy, Clone)]
struct DateOrder {
    day_first: Option<Spot>,
    month_first: Option<Spot>,
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
    /// The row's `ReportDate`.
    date: Option<DateField>,
}

/// A row of the NAV section (`source` [`Kind::Nav`]) or of Account
/// Information ([`Kind::AccountInfo`]).
struct NavRow {
    account: usize,
    source: Kind,
    /// The currency: the account's base.
    currency: Option<(Currency, Spot)>,
    /// The NAV `Total`.
    total: Option<(Decimal, Spot)>,
    date: Option<DateField>,
}

/// Everything read from the files, before the rules that need all of it
/// (base currencies, FX, lots) are applied.
#[derive(Default)]
struct FlexReader {
    /// The names of the files read, in order; the last is being read.
    files: Vec<String>,
    /// The file being read is CSV (not XML).
    reading_csv: bool,
    accounts: Vec<AccountInput>,
    index: HashMap<String, usize>,
    /// Position and cash rows read per account.
    rows: Vec<[usize; 2]>,
    positions: Vec<PositionRow>,
    cash: Vec<CashRow>,
    rates: Vec<RateRow>,
    navs: Vec<NavRow>,
    base_cash: Vec<BaseCashRow>,
    conversions: Vec<ConversionRow>,
    statements: Vec<Statement>,
    /// Each statement's `toDate`, by account.
    statement_dates: Vec<(usize, DateField)>,
    /// The `toDate` of the BOF lines, by the account ids they list (an
    /// account listed without rows is not made an account of the batch).
    bof_dates: Vec<(String, DateField)>,
    /// The date order shown by each file's dates.
    orders: Vec<DateOrder>,
    /// The account of rows that name none (no `ClientAccountID`): the
    /// statement's, or the only one the file names; `Err(())` when the file
    /// names several outside statements.
    current: Option<Result<usize, ()>>,
    /// The open statement, an index into `statements`.
    statement: Option<usize>,
    /// Known sections (positions, cash, NAV) headed in the file being read.
    sections: usize,
    /// Whether any file has an Open Positions section.
    any_positions: bool,
    errors: Vec<InputError>,
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

/// The Flex columns whose quoted fields may hold a line end: free text.
const FLEX_LINE_BREAKS: &[&str] = &[ACCOUNT, "AccountAlias", "Symbol", "Description"];

impl FlexReader {
    /// Reads one file (shown to users as `name`): XML when its first
    /// non-blank byte (after a byte-order mark) is `<`, else CSV.
    fn read(&mut self, name: &str, input: impl Read) -> Result<(), IoError> {
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

    /// A known section begins in the file being read (inside the open
    /// statement, if any).
    fn note_section(&mut self, kind: Kind) {
        if matches!(kind, Kind::Positions | Kind::Cash | Kind::Nav) {
            self.sections += 1;
        }
        if kind == Kind::Positions {
            self.any_positions = true;
        }
        if let Some(statement) = self.statement.map(|i| &mut self.statements[i]) {
            match kind {
                Kind::Positions => statement.positions = true,
                Kind::Cash => statement.cash = true,
                _ => {}
            }
        }
    }

    /// Account `id`'s statement begins (at `line` of the file being read).
    fn begin_statement(&mut self, id: &str, line: u64, date: Option<DateField>) {
        let account = self.account_index(id);
        self.current = Some(Ok(account));
        self.statement = Some(self.statements.len());
        self.statements.push(Statement {
            account,
            location: Spot {
                file: self.files.len() - 1,
                line,
                column: None,
            },
            positions: false,
            cash: false,
        });
        if let Some(date) = date {
            self.statement_dates.push((account, date));
        }
    }

    /// The statement ends: rows without an account name none any more.
    fn end_statement(&mut self) {
        self.statement = None;
        self.current = None;
    }

    /// A file outside statements names account `account` (the BOF line,
    /// Account Information): rows without `ClientAccountID` are its while
    /// the file names no other.
    fn name_account(&mut self, account: usize) {
        if self.statement.is_some() {
            return;
        }
        self.current = match self.current {
            None => Some(Ok(account)),
            Some(Ok(a)) if a == account => Some(Ok(a)),
            _ => Some(Err(())),
        };
    }

    /// A date field of `row` (`None` when empty), noting what it shows
    /// about the file's date order.
    fn date(
        &mut self,
        row: &Row<'_>,
        column: &'static str,
    ) -> Result<Option<DateField>, InputError> {
        let text = row.text(column)?;
        // `MULTI`: a summary over several dates (XML `reportDate`).
        if text.is_empty() || text.eq_ignore_ascii_case("MULTI") {
            return Ok(None);
        }
        let location = self.spot(row, Some(column));
        self.date_text(text, location)
            .map(Some)
            .map_err(|reason| row.error(column, reason))
    }

    /// [`FlexReader::date`] of a text read at `location`.
    fn date_text(&mut self, text: &str, location: Spot) -> Result<DateField, String> {
        let (date, day_first, order) = parse_flex_date(text)?;
        let seen = &mut self.orders[location.file];
        match order {
            Some(DayOrder::DayFirst) => {
                seen.day_first.get_or_insert(location);
            }
            Some(DayOrder::MonthFirst) => {
                seen.month_first.get_or_insert(location);
            }
            None => {}
        }
        Ok(DateField {
            date,
            day_first,
            location,
        })
    }

    /// Reads a CSV file.
    fn read_csv(&mut self, name: &str, input: impl Read) -> Result<(), IoError> {
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
            if tag == "MSG" && !matches!(plain, Some(Some(_))) {
                continue; // a message from the broker's system before the report
            }
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
                        let header = Header::new(name, &record, 0, None)?;
                        self.note_section(header.kind);
                        plain = Some(Some(header));
                        continue;
                    }
                }
            };
            if let Some(header) = layout {
                if !header.repeats(&record) {
                    self.data_row(name, line, &record, header, None);
                }
                continue;
            }
            let structural = |reason: String| IoError::BadTable {
                path: name.to_string(),
                reason: format!("line {line}: {reason}"),
            };
            match tag {
                "BOF" => {
                    // BOF, account ids (`;`-separated), query name, type,
                    // fromDate, toDate, whenGenerated …
                    let ids = field(&record, 1).to_string();
                    if !ids.is_empty() && !ids.contains(';') {
                        let account = self.account_index(&ids);
                        self.name_account(account);
                    }
                    let date = field(&record, 5).to_string();
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
                "EOF" => {}
                "BOA" => {
                    let id = field(&record, 1).to_string();
                    if id.is_empty() {
                        return Err(structural("BOA line without an account".into()));
                    }
                    self.begin_statement(&id, line, None);
                }
                "EOA" => self.end_statement(),
                "BOS" => {
                    let code = field(&record, 1);
                    if code.is_empty() {
                        return Err(structural("BOS line without a section code".into()));
                    }
                    self.note_section(Kind::of_code(code));
                    section = Some((code.to_string(), None));
                }
                "EOS" => section = None,
                "HEADER" => {
                    let code = field(&record, 1);
                    let header = Header::new(name, &record, 2, Some(Kind::of_code(code)))?;
                    if section.is_none() {
                        self.note_section(header.kind);
                    }
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
                        if !header.repeats(&record) {
                            self.data_row(name, line, &record, header, None);
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

    /// Where `column` (or, `None`, the whole row) of `row` is.
    fn spot(&self, row: &Row<'_>, column: Option<&'static str>) -> Spot {
        Spot {
            file: self.files.len() - 1,
            line: row.line,
            // An XML attribute shows as itself (`markPrice`), not as the
            // column it is read as (`MarkPrice`).
            column: column.and_then(|name| {
                row.columns.get(name).map(|&i| {
                    let shown = if row.header[i] == name {
                        name
                    } else {
                        xml::attribute_of(name)
                    };
                    (i + 1, shown)
                })
            }),
        }
    }

    /// The account a row names, created on first sight; `None` (and an error
    /// of the batch) when the row names none.
    fn account_of(&mut self, row: &Row<'_>) -> Option<usize> {
        if !row.columns.contains_key(ACCOUNT) {
            return match self.current {
                Some(Ok(account)) => Some(account),
                _ => {
                    self.errors.push(row.error_at_row(
                        "the row names no account: the report has no ClientAccountID column \
                         and the file names no single account (BOF or BOA line, Account \
                         Information section, FlexStatement accountId)",
                    ));
                    None
                }
            };
        }
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

    /// Reads a data row of a section with `header`; `problem` (the field, if
    /// one, and the reason) when the row could not be read whole.
    fn data_row(
        &mut self,
        file: &str,
        line: u64,
        record: &csv::ByteRecord,
        header: &Header,
        problem: Option<(Option<usize>, String)>,
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
        // Only a CSV field can swallow rows behind an unclosed quote.
        let line_break = if self.reading_csv {
            row.line_break_problem(FLEX_LINE_BREAKS)
        } else {
            None
        };
        let problem = match problem {
            Some((field, reason)) => Some(match field {
                Some(index) => row.error_at_field(index, reason),
                None => row.error_at_row(reason),
            }),
            // A quoted field spanning lines where it should not (a closing
            // quote missing): its error, also of the accounts whose rows it
            // swallowed.
            None if line_break.is_some() => line_break.map(|(index, problem)| {
                row.whole = index;
                for id in row.swallowed(ACCOUNT) {
                    if let Some(&account) = self.index.get(&id)
                        && !self.accounts[account].errors.contains(&problem)
                    {
                        self.accounts[account].errors.push(problem.clone());
                    }
                }
                problem
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
            let account = if row.columns.contains_key(ACCOUNT) {
                row.whole_text(ACCOUNT)
                    .and_then(|id| self.index.get(id))
                    .copied()
            } else {
                self.current.and_then(Result::ok)
            };
            match account {
                Some(account) => self.accounts[account].errors.push(problem),
                None => self.errors.push(problem),
            }
            return;
        }
        let Some(account) = self.account_of(&row) else {
            return;
        };
        let counted = match header.kind {
            Kind::Positions => self.count_row(&row, account, 0),
            Kind::Cash => self.count_row(&row, account, 1),
            Kind::AccountInfo => {
                self.name_account(account);
                true
            }
            Kind::Nav | Kind::Conversion | Kind::Skipped => true,
        };
        if !counted {
            return;
        }
        let mut errors = Vec::new();
        match header.kind {
            Kind::Positions => self.position_row(&row, header, account, &mut errors),
            Kind::Cash => self.cash_row(&row, header, account, &mut errors),
            Kind::Nav | Kind::AccountInfo => {
                let currency = match header.currency {
                    Some(column) if !row.text(column).unwrap_or_default().is_empty() => keep(
                        row.currency(column)
                            .map(|c| (c, self.spot(&row, Some(column)))),
                        &mut errors,
                    ),
                    _ => None,
                };
                let total = if header.kind == Kind::Nav {
                    keep(row.optional_decimal(NAV_TOTAL), &mut errors)
                        .flatten()
                        .map(|t| (t, self.spot(&row, Some(NAV_TOTAL))))
                } else {
                    None
                };
                let date = keep(self.date(&row, REPORT_DATE), &mut errors).flatten();
                if errors.is_empty() {
                    self.navs.push(NavRow {
                        account,
                        source: header.kind,
                        currency,
                        total,
                        date,
                    });
                }
            }
            Kind::Conversion => {
                // A rate that cannot be read is left out: it fails no
                // account (a currency that needs it then has no rate).
                self.conversion_row(&row, account);
                return;
            }
            Kind::Skipped => {}
        }
        self.accounts[account].errors.extend(errors);
    }

    /// A `ConversionRate` of `account`'s statement, when it reads.
    fn conversion_row(&mut self, row: &Row<'_>, account: usize) {
        let mut errors = Vec::new();
        let from = keep(row.currency("fromCurrency"), &mut errors);
        let to = keep(row.currency("toCurrency"), &mut errors);
        let rate = keep(row.decimal("rate"), &mut errors);
        let date = keep(self.date(row, REPORT_DATE), &mut errors).flatten();
        if let (Some(from), Some(to), Some(rate)) = (from, to, rate)
            && rate > Decimal::ZERO
        {
            let location = self.spot(row, Some("rate"));
            let from_location = self.spot(row, Some("fromCurrency"));
            self.conversions.push(ConversionRow {
                account,
                from,
                to,
                rate,
                location,
                from_location,
                date,
            });
        }
    }

    /// Records the row's `FXRateToBase`, when it has one.
    fn rate_of(
        &mut self,
        row: &Row<'_>,
        account: usize,
        currency: Option<(Currency, &'static str)>,
        date: Option<DateField>,
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
                date,
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
        let date = keep(self.date(row, REPORT_DATE), errors).flatten();
        if row
            .text(column)
            .unwrap_or_default()
            .eq_ignore_ascii_case("BASE_SUMMARY")
            || level.eq_ignore_ascii_case("BaseCurrency")
        {
            // The total over currencies, in the base currency: used only
            // when the account has no row per currency.
            if let Some(amount) = keep(row.decimal(ENDING_CASH), errors)
                && errors.is_empty()
            {
                let location = self.spot(row, Some(ENDING_CASH));
                self.base_cash.push(BaseCashRow {
                    account,
                    amount,
                    location,
                    date,
                });
            }
            return;
        }
        let currency = keep(row.currency(column), errors);
        self.rate_of(row, account, currency.map(|c| (c, column)), date, errors);
        let amount = keep(row.decimal(ENDING_CASH), errors);
        if let (Some(currency), Some(amount)) = (currency, amount) {
            let location = self.spot(row, Some(column));
            self.cash.push(CashRow {
                account,
                balance: CashBalance { currency, amount },
                location,
                date,
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
        let date = keep(self.date(row, REPORT_DATE), errors).flatten();
        self.rate_of(row, account, currency.map(|c| (c, CURRENCY)), date, errors);
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
        let expiry = self.date(row, EXPIRY);
        let expiry_field = expiry.as_ref().ok().copied().flatten();
        let kind = class.and_then(|class| {
            kind(
                row,
                class,
                symbol.unwrap_or_default(),
                expiry.map(|e| e.map(|e| e.date)),
            )
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
                date,
                expiry: expiry_field.filter(|e| e.day_first.is_some()),
            });
        }
    }

    /// Applies the rules that need every file: sections, dates, base
    /// currencies, FX rates, lots and summaries, and the FX check of every
    /// currency used.
    fn finish(mut self, mut market: MarketData) -> Result<FlexRead, IoError> {
        for (id, date) in std::mem::take(&mut self.bof_dates) {
            if let Some(&account) = self.index.get(&id) {
                self.statement_dates.push((account, date));
            }
        }
        let FlexReader {
            files,
            mut accounts,
            mut positions,
            cash,
            mut rates,
            navs,
            base_cash,
            conversions,
            statements,
            statement_dates,
            orders,
            any_positions,
            errors,
            ..
        } = self;

        if !any_positions && !files.is_empty() {
            return Err(IoError::BadTable {
                path: files.join(", "),
                reason: "no report has an Open Positions section (POST, <OpenPositions>): \
                         without it no position would be counted; add the section to the Flex \
                         Query"
                    .into(),
            });
        }
        missing_sections(&files, &mut accounts, &statements);

        // Dates: each row's, resolved with its file's date order; each
        // account's latest; rows of earlier dates dropped.
        let mut latest: Vec<Option<NaiveDate>> = vec![None; accounts.len()];
        let mut resolve = |field: Option<&DateField>,
                           account: usize,
                           accounts: &mut [AccountInput],
                           count: bool|
         -> Option<Option<NaiveDate>> {
            match field.map(|f| resolve_date(f, &orders, &files)).transpose() {
                Ok(date) => {
                    if count && let Some(date) = date {
                        let slot = &mut latest[account];
                        *slot = Some(slot.map_or(date, |l: NaiveDate| l.max(date)));
                    }
                    Some(date)
                }
                Err(e) => {
                    accounts[account].errors.push(e);
                    None
                }
            }
        };
        let mut position_dates = Vec::with_capacity(positions.len());
        for row in &mut positions {
            let mut ok = true;
            if let Some(expiry) = &row.expiry {
                match resolve_date(expiry, &orders, &files) {
                    Ok(date) => set_expiry(&mut row.position.instrument.kind, date),
                    Err(e) => {
                        accounts[row.account].errors.push(e);
                        ok = false;
                    }
                }
            }
            let date = resolve(row.date.as_ref(), row.account, &mut accounts, true);
            position_dates.push(date.filter(|_| ok));
        }
        let cash_dates: Vec<_> = cash
            .iter()
            .map(|r| resolve(r.date.as_ref(), r.account, &mut accounts, true))
            .collect();
        let base_cash_dates: Vec<_> = base_cash
            .iter()
            .map(|r| resolve(r.date.as_ref(), r.account, &mut accounts, true))
            .collect();
        let nav_dates: Vec<_> = navs
            .iter()
            .map(|r| resolve(r.date.as_ref(), r.account, &mut accounts, true))
            .collect();
        let rate_dates: Vec<_> = rates
            .iter()
            .map(|r| resolve(r.date.as_ref(), r.account, &mut accounts, false))
            .collect();
        let conversion_dates: Vec<_> = conversions
            .iter()
            .map(|r| resolve(r.date.as_ref(), r.account, &mut accounts, false))
            .collect();
        let mut statement_date: Vec<Option<NaiveDate>> = vec![None; accounts.len()];
        for (account, field) in &statement_dates {
            // A statement date that reads both ways is left unknown: no row
            // needs it.
            if let Ok(date) = resolve_date(field, &orders, &files) {
                let slot = &mut statement_date[*account];
                *slot = Some(slot.map_or(date, |l: NaiveDate| l.max(date)));
            }
        }
        // A row is kept when its date resolved and is its account's latest
        // (or it has none).
        let current = |date: &Option<Option<NaiveDate>>, account: usize| match date {
            None => false,
            Some(None) => true,
            Some(Some(date)) => latest[account].is_none_or(|l| l == *date),
        };
        let positions: Vec<PositionRow> = positions
            .into_iter()
            .zip(&position_dates)
            .filter(|(r, d)| current(d, r.account))
            .map(|(r, _)| r)
            .collect();
        let cash: Vec<CashRow> = cash
            .into_iter()
            .zip(&cash_dates)
            .filter(|(r, d)| current(d, r.account))
            .map(|(r, _)| r)
            .collect();
        let base_cash: Vec<BaseCashRow> = base_cash
            .into_iter()
            .zip(&base_cash_dates)
            .filter(|(r, d)| current(d, r.account))
            .map(|(r, _)| r)
            .collect();
        let navs: Vec<NavRow> = navs
            .into_iter()
            .zip(&nav_dates)
            .filter(|(r, d)| current(d, r.account))
            .map(|(r, _)| r)
            .collect();
        rates = rates
            .into_iter()
            .zip(&rate_dates)
            .filter(|(r, d)| current(d, r.account))
            .map(|(r, _)| r)
            .collect();
        let conversions: Vec<ConversionRow> = conversions
            .into_iter()
            .zip(&conversion_dates)
            .filter(|(r, d)| current(d, r.account))
            .map(|(r, _)| r)
            .collect();

        let bases = base_currencies(&files, &mut accounts, &rates, &navs);
        // Conversion rates fill the currencies an account's rows give no
        // rate for (cash-only currencies).
        for conversion in &conversions {
            let account = conversion.account;
            if bases[account].as_ref().map(|(c, _)| *c) == Some(conversion.to)
                && conversion.from != conversion.to
                && !rates
                    .iter()
                    .any(|r| r.account == account && r.currency == conversion.from)
            {
                rates.push(RateRow {
                    account,
                    currency: conversion.from,
                    rate: conversion.rate,
                    location: conversion.location,
                    currency_location: conversion.from_location,
                    date: None,
                });
            }
        }
        merge_fx(&files, &mut market, &bases, &rates);

        let mut flex_accounts: Vec<FlexAccount> = latest
            .iter()
            .zip(&statement_date)
            .map(|(latest, statement)| FlexAccount {
                report_date: latest.or(*statement),
                broker_nav: None,
            })
            .collect();
        // The NAV of the account's date: undated rows (`MULTI`, a summary
        // over dates) only when no row is dated.
        let mut dated = vec![false; accounts.len()];
        for nav in &navs {
            dated[nav.account] |= nav.total.is_some() && nav.date.is_some();
        }
        for nav in &navs {
            let Some((total, spot)) = nav.total else {
                continue;
            };
            if dated[nav.account] && nav.date.is_none() {
                continue;
            }
            let slot = &mut flex_accounts[nav.account].broker_nav;
            match slot {
                None => {
                    *slot = Some(BrokerNav {
                        total,
                        location: spot.at(&files),
                    });
                }
                Some(first) if first.total != total => {
                    let reason = format!(
                        "the NAV section gives account {} two totals for the same date: {} \
                         (at {}) and {total}",
                        accounts[nav.account].id, first.total, first.location
                    );
                    accounts[nav.account]
                        .errors
                        .push(InputError::at(spot.at(&files), reason));
                }
                Some(_) => {}
            }
        }
        let report_date = flex_accounts.iter().filter_map(|a| a.report_date).max();

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
        let mut has_cash_rows = vec![false; accounts.len()];
        for row in &cash {
            has_cash_rows[row.account] = true;
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

        // The base-currency summary, for an account without a row per
        // currency: its cash, in the base currency.
        let mut summary_seen: HashMap<usize, Spot> = HashMap::new();
        for row in &base_cash {
            if has_cash_rows[row.account] {
                continue;
            }
            let account = &mut accounts[row.account];
            if let Some(first) = summary_seen.get(&row.account) {
                account.errors.push(InputError::at(
                    row.location.at(&files),
                    format!(
                        "second BASE_SUMMARY cash row (first at {}); exfee never counts cash \
                         twice",
                        first.at(&files)
                    ),
                ));
                continue;
            }
            summary_seen.insert(row.account, row.location);
            if let Some((base, _)) = bases[row.account]
                && account.base_currency == Some(base)
            {
                account.cash.push(CashBalance {
                    currency: base,
                    amount: row.amount,
                });
            }
        }

        Ok(FlexRead {
            batch: Batch {
                accounts,
                market,
                errors,
            },
            accounts: flex_accounts,
            report_date,
        })
    }
}

/// Sets the expiry of a future or option.
fn set_expiry(kind: &mut InstrumentKind, date: NaiveDate) {
    match kind {
        InstrumentKind::Future { expiry, .. } => *expiry = Some(date),
        InstrumentKind::Option { terms, .. } => terms.expiry = date,
        _ => {}
    }
}

/// Fails the accounts whose statement lacks the Open Positions or Cash
/// Report section that other statements of the run have (the query asked
/// for it; without it the account's positions or cash would be missing).
fn missing_sections(files: &[String], accounts: &mut [AccountInput], statements: &[Statement]) {
    let positions = statements.iter().any(|s| s.positions);
    let cash = statements.iter().any(|s| s.cash);
    for statement in statements {
        for (wanted, has, section) in [
            (positions, statement.positions, "Open Positions"),
            (cash, statement.cash, "Cash Report"),
        ] {
            if wanted && !has {
                let account = &mut accounts[statement.account];
                let reason = format!(
                    "the statement of account {} has no {section} section, which other \
                     statements of the run have: its {} would be missing",
                    account.id,
                    if section == "Cash Report" {
                        "cash"
                    } else {
                        "positions"
                    }
                );
                account
                    .errors
                    .push(InputError::at(statement.location.at(files), reason));
            }
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
    // The NAV section first, then Account Information.
    let named = navs
        .iter()
        .filter(|n| n.source == Kind::Nav)
        .chain(navs.iter().filter(|n| n.source != Kind::Nav));
    let mut first_source = vec![Kind::Nav; accounts.len()];
    for nav in named {
        let Some((currency, location)) = nav.currency else {
            continue;
        };
        from_nav[nav.account] = true;
        match &bases[nav.account] {
            None => {
                bases[nav.account] = Some((currency, location));
                first_source[nav.account] = nav.source;
            }
            Some((base, first)) if *base != currency => {
                let sections = match (first_source[nav.account], nav.source) {
                    (Kind::Nav, Kind::Nav) => "the NAV section gives",
                    (Kind::Nav, _) => "the NAV and Account Information sections give",
                    _ => "the Account Information section gives",
                };
                let reason = format!(
                    "{sections} account {} two base currencies: {base} (at {}) and {currency}",
                    accounts[nav.account].id,
                    first.at(files),
                );
                accounts[nav.account]
                    .errors
                    .push(InputError::at(location.at(files), reason));
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
fn kind(
    row: &Row<'_>,
    class: AssetClass,
    symbol: &str,
    expiry: Result<Option<NaiveDate>, InputError>,
) -> Result<InstrumentKind, Vec<InputError>> {
    Ok(match class {
        AssetClass::Stock => InstrumentKind::Stock,
        AssetClass::Bond => InstrumentKind::Bond,
        AssetClass::Crypto => InstrumentKind::Crypto,
        AssetClass::Future => match (row.text(UNDERLYING), expiry) {
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
            let expiry = expiry.and_then(|d| d.ok_or_else(|| row.error(EXPIRY, "missing value")));
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
    // Divisions by 100 cannot overflow; checked all the same (no panic path).
    let hundredth = |v: Decimal| v.checked_div(Decimal::ONE_HUNDRED).unwrap_or(v);
    let per_100 = hundredth(multiplier);
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
        let tolerance = b
            .abs()
            .checked_mul(Decimal::new(1, 4))
            .unwrap_or(Decimal::MAX)
            .max(Decimal::new(1, 2));
        // Far apart when the gap itself overflows.
        a.checked_sub(b).is_some_and(|gap| gap.abs() <= tolerance)
    };
    if close(hundredth(full), value) {
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
                hundredth(full).normalize()
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

/// Which of day and month comes first in a slash date.
#[derive(Debug, Copy, Clone, PartialEq, Eq)]
enum DayOrder {
    DayFirst,
    MonthFirst,
}

/// Parses `yyyyMMdd`, `yyyy-MM-dd`, `yyyy/MM/dd`, `MM/dd/yyyy` or
/// `dd/MM/yyyy` (also with a two-digit year), `dd-MMM-yy` or `dd-MMM-yyyy`,
/// with an optional `;time` that is ignored. Returns the date (month-first
/// for a slash date that reads both ways), its day-first reading when it
/// reads both ways, and the order a slash date proves (a day above 12).
fn parse_flex_date(text: &str) -> Result<(NaiveDate, Option<NaiveDate>, Option<DayOrder>), String> {
    let date = text.split(';').next().unwrap_or_default().trim();
    let parts: Vec<&str> = date.split(['-', '/']).collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let bad = || {
        format!(
            "{text:?} is not a date (yyyyMMdd, yyyy-MM-dd, yyyy/MM/dd, MM/dd/yyyy, dd/MM/yyyy, \
             MM/dd/yy, dd/MM/yy or dd-MMM-yy)"
        )
    };
    let parse = |format: &str| NaiveDate::parse_from_str(date, format).ok();
    if let [a, b, y] = parts.as_slice()
        && date.contains('/')
        && a.len() <= 2
        && b.len() <= 2
        && digits(a)
        && digits(b)
        && digits(y)
        && (y.len() == 4 || y.len() == 2)
    {
        let (a, b): (u32, u32) = (a.parse().unwrap_or(99), b.parse().unwrap_or(99));
        let year = if y.len() == 4 { "%Y" } else { "%y" };
        let month_first = parse(&format!("%m/%d/{year}"));
        let day_first = parse(&format!("%d/%m/{year}"));
        return match (month_first, day_first) {
            (Some(m), Some(d)) if m == d => Ok((m, None, None)),
            (Some(m), Some(d)) => Ok((m, Some(d), None)),
            (Some(m), None) if b > 12 => Ok((m, None, Some(DayOrder::MonthFirst))),
            (None, Some(d)) if a > 12 => Ok((d, None, Some(DayOrder::DayFirst))),
            _ => Err(bad()),
        };
    }
    let format = match parts.as_slice() {
        [compact] if compact.len() == 8 && digits(compact) => Some("%Y%m%d"),
        [y, _, _] if y.len() == 4 && digits(y) && date.contains('-') => Some("%Y-%m-%d"),
        [y, _, _] if y.len() == 4 && digits(y) => Some("%Y/%m/%d"),
        [_, month, y] if date.contains('-') && !digits(month) && y.len() == 4 => Some("%d-%b-%Y"),
        [_, month, y] if date.contains('-') && !digits(month) && y.len() == 2 => Some("%d-%b-%y"),
        _ => None,
    };
    format
        .and_then(parse)
        .map(|d| (d, None, None))
        .ok_or_else(bad)
}

/// The date a [`DateField`] stands for, given its file's date order: a
/// date that reads both ways needs the file to prove one order and not the
/// other.
fn resolve_date(
    field: &DateField,
    orders: &[DateOrder],
    files: &[String],
) -> Result<NaiveDate, InputError> {
    let Some(day_first) = field.day_first else {
        return Ok(field.date);
    };
    let order = orders[field.location.file];
    match (order.day_first, order.month_first) {
        (Some(_), None) => Ok(day_first),
        (None, Some(_)) => Ok(field.date),
        (None, None) => Err(InputError::at(
            field.location.at(files),
            format!(
                "ambiguous date format: {} (MM/dd) or {day_first} (dd/MM), and no date of the \
                 file has a day above 12 to tell (use yyyyMMdd in the Flex Query)",
                field.date
            ),
        )),
        (Some(d), Some(m)) => Err(InputError::at(
            field.location.at(files),
            format!(
                "ambiguous date format: {} (MM/dd) or {day_first} (dd/MM), and the file has \
                 both a day-first date (at {}) and a month-first one (at {})",
                field.date,
                d.at(files),
                m.at(files)
            ),
        )),
    }
}

mod reconcile;
#[cfg(test)]
mod tests;
mod xml;

pub use reconcile::{
    NavCheck, NavTolerance, RECONCILIATION_HEADER, reconcile_nav, write_reconciliation,
};
