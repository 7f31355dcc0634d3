//! Reading broker "Flex Query" reports, CSV or XML, directly (`exfee run
//! --flex`): see [`read_flex`] for the layouts, columns and rules, and
//! `docs/formats.md` for the quirks of real exports.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use exfee_model::{
    AccountInput, Batch, CashBalance, Currency, Decimal, InputError, MarketData, Position,
    SourceLocation,
};

use crate::IoError;

mod dates;
mod finish;
mod fx;
mod instrument;
mod layout;
mod lots;
mod reconcile;
mod rows;
#[cfg(test)]
mod tests;
mod xml;

use dates::{DateField, DateOrder};

pub use reconcile::{
    NavCheck, NavTolerance, RECONCILIATION_HEADER, reconcile_nav, write_reconciliation,
};

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
    /// The date of the broker's latest NAV when the reports give the
    /// account's NAV only for dates before [`FlexAccount::report_date`]
    /// (another row is of a later date): the account fails, and its
    /// reconciliation says `nav_of_earlier_date`.
    pub earlier_nav: Option<NaiveDate>,
}

/// The broker's net asset value of an account, as the report states it.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerNav {
    /// The `Total`, in the account's base currency.
    pub total: Decimal,
    /// Where it was read.
    pub location: SourceLocation,
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
    /// The section a CSV section code (any case) stands for.
    fn of_code(code: &str) -> Kind {
        [
            ("POST", Kind::Positions),
            ("CRTT", Kind::Cash),
            ("EQUT", Kind::Nav),
            ("ACCT", Kind::AccountInfo),
        ]
        .into_iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(code))
        .map_or(Kind::Skipped, |(_, kind)| kind)
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
    /// The row's `ReportDate`.
    date: Option<DateField>,
    /// The `Expiry`, when it may have to be read day-first.
    expiry: Option<DateField>,
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
    /// The SHA-256 of each file's content, by file.
    digests: Vec<[u8; 32]>,
    errors: Vec<InputError>,
}

/// Why a row could not be read whole: the field, if one, and the reason.
type RowProblem = (Option<usize>, String);

/// Keeps the value, or the error in `errors`.
fn keep<T>(result: Result<T, InputError>, errors: &mut Vec<InputError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

/// Accounts `U1` … `Un`, without holdings (for the modules' unit tests).
#[cfg(test)]
fn test_accounts(n: usize) -> Vec<AccountInput> {
    (1..=n)
        .map(|i| AccountInput {
            id: format!("U{i}"),
            ..AccountInput::default()
        })
        .collect()
}
