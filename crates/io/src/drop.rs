//! Reading a nightly drop: `accounts.csv`, `positions.csv`, `cash.csv` and
//! the `market/` files.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use exfee_model::{
    AccountInput, AssetClass, Batch, CashBalance, Currency, Decimal, Exercise, FactorMapping,
    FactorTable, InputError, Instrument, InstrumentKind, MarketData, OptionRight, OptionTerms,
    Position, Underlying,
};

use crate::IoError;
use crate::bounded::{MAX_TABLE_BYTES, read_bounded_from};
use crate::csvin::{Broken, CsvFile, Row};
use crate::fields::Fields;

/// The most positions one account may have: a `positions.csv` row beyond
/// it fails the account (with a reason naming the limit) and the account's
/// further rows are not read. The same limit applies to an account's rows in
/// `cash.csv`, and to the positions of a Flex report. It bounds the memory
/// and time one account can take; 100,000 is far above any real account.
pub const MAX_POSITIONS_PER_ACCOUNT: usize = 100_000;

/// Where each file of a drop is. [`DropPaths::in_dir`] gives the standard
/// layout; each path may then be overridden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropPaths {
    /// `accounts.csv` (required).
    pub accounts: PathBuf,
    /// `positions.csv` (required).
    pub positions: PathBuf,
    /// `cash.csv` (optional: no file, no cash).
    pub cash: PathBuf,
    /// `market/fx.csv` (required).
    pub fx: PathBuf,
    /// `market/factors.csv` (optional: every symbol takes its default).
    pub factors: PathBuf,
    /// `market/underlyings.csv` (optional).
    pub underlyings: PathBuf,
    /// `market/rates.csv` (optional).
    pub rates: PathBuf,
}

impl DropPaths {
    /// The standard layout of a drop folder.
    pub fn in_dir(dir: &Path) -> Self {
        let market = dir.join("market");
        DropPaths {
            accounts: dir.join("accounts.csv"),
            positions: dir.join("positions.csv"),
            cash: dir.join("cash.csv"),
            fx: market.join("fx.csv"),
            factors: market.join("factors.csv"),
            underlyings: market.join("underlyings.csv"),
            rates: market.join("rates.csv"),
        }
    }
}

fn open_file(path: &Path) -> std::io::Result<BufReader<File>> {
    File::open(path).map(BufReader::new)
}

/// Opens a file of the drop: a market table is read whole through the
/// bounded reader ([`MAX_TABLE_BYTES`]); the account files, which may be
/// large, are streamed (their rows are bounded by the CSV reader's limits).
fn open_drop_file(paths: &DropPaths, path: &Path) -> std::io::Result<Box<dyn Read>> {
    let market = [&paths.fx, &paths.factors, &paths.underlyings, &paths.rates];
    if !market.contains(&&path.to_path_buf()) {
        return Ok(Box::new(open_file(path)?));
    }
    let file = File::open(path)?;
    match read_bounded_from(path, file, MAX_TABLE_BYTES) {
        Ok(bytes) => Ok(Box::new(std::io::Cursor::new(bytes))),
        Err(IoError::Unreadable { source, .. }) => Err(source),
        Err(e) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e.to_string()
                .strip_prefix(&format!("cannot read {}: ", path.display()))
                .map(str::to_string)
                .unwrap_or_else(|| e.to_string()),
        )),
    }
}

/// Opens `path` with `open` as a CSV file with the `columns`; `None` when
/// the file is optional and not found.
fn csv_file<R: Read>(
    open: &mut impl FnMut(&Path) -> std::io::Result<R>,
    path: &Path,
    required_file: bool,
    columns: &[&'static str],
) -> Result<Option<CsvFile<R>>, IoError> {
    let reader = match open(path) {
        Ok(reader) => reader,
        Err(e) if !required_file && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(IoError::Unreadable {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    CsvFile::new(&path.display().to_string(), reader, columns).map(Some)
}

/// Reads a drop. `factor_table` is the table the run uses: a
/// `market/factors.csv` row naming a factor it does not have is an error of
/// that row.
///
/// Every row is validated; a bad row is kept as an error of the account it
/// names (or, in a market file, of the currency or symbol it is for, which
/// fails the accounts that need it). Rows that name no account go to
/// [`Batch::errors`]. Accounts keep the order of `accounts.csv`, then of first
/// appearance.
///
/// # Errors
///
/// [`IoError`] when a required file cannot be read or lacks a required column.
pub fn read_drop(paths: &DropPaths, factor_table: &FactorTable) -> Result<Batch, IoError> {
    read_drop_with(paths, factor_table, |path| open_drop_file(paths, path))
}

/// [`read_drop`] with the files opened by `open` instead of from the file
/// system: a drop held in memory, in an archive or elsewhere. `open` is
/// called once for each path of `paths`; an optional file is missing when
/// `open` fails with [`std::io::ErrorKind::NotFound`]. The paths name the
/// files in errors.
///
/// # Errors
///
/// As [`read_drop`].
///
/// # Examples
///
/// ```
/// use std::path::Path;
/// use exfee_io::{DropPaths, read_drop_with};
///
/// let files = [
///     ("drop/accounts.csv", "account,base_currency\nU1,USD\n"),
///     ("drop/positions.csv", "account,symbol,asset_class,currency,quantity,mark\nU1,AAPL,STK,USD,10,245.30\n"),
///     ("drop/market/fx.csv", "currency,usd_per_unit\nUSD,1\n"),
/// ];
/// let open = |path: &Path| {
///     files
///         .iter()
///         .find(|(name, _)| Path::new(name) == path)
///         .map(|(_, text)| text.as_bytes())
///         .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
/// };
/// let table = exfee_io::parse_factor_table(
///     "factors.csv",
///     "factor,symbol,lower_bound_pct,upper_bound_pct\nEquity,SPX,-30,20\nIndividual Stocks,,-50,50\n"
///         .as_bytes(),
/// )
/// .unwrap();
/// let batch = read_drop_with(&DropPaths::in_dir(Path::new("drop")), &table, open).unwrap();
/// assert_eq!(batch.accounts[0].positions.len(), 1);
/// ```
pub fn read_drop_with<R: Read>(
    paths: &DropPaths,
    factor_table: &FactorTable,
    mut open: impl FnMut(&Path) -> std::io::Result<R>,
) -> Result<Batch, IoError> {
    let open = &mut open;
    // Open everything first: a missing file or column stops the run before
    // any row is read.
    let market = MarketFiles::open(open, paths, true)?;
    // Account ids and symbols are free text that may hold a line end (in
    // quotes); no other column may (docs/formats.md, "Hostile input").
    let accounts = csv_file(open, &paths.accounts, true, &["account", "base_currency"])?
        .map(|f| f.allow_line_breaks(&["account"]));
    let positions = csv_file(
        open,
        &paths.positions,
        true,
        &[
            "account",
            "symbol",
            "asset_class",
            "currency",
            "quantity",
            "mark",
        ],
    )?
    .map(|f| f.allow_line_breaks(POSITION_LINE_BREAKS));
    let cash = csv_file(open, &paths.cash, false, &["account", "currency", "amount"])?
        .map(|f| f.allow_line_breaks(&["account"]));

    let mut batch = Batch::default();
    market.read(factor_table, &mut batch);
    let mut registry = Registry::default();
    if let Some(file) = accounts {
        read_accounts(file, &mut batch, &mut registry);
    }
    if let Some(file) = positions {
        read_positions(file, &mut batch, &mut registry);
    }
    if let Some(file) = cash {
        read_cash(file, &mut batch, &mut registry);
    }
    batch.accounts = registry.accounts;
    Ok(batch)
}

/// Reads only the market files of a drop (`market/fx.csv`, `factors.csv`,
/// `underlyings.csv`, `rates.csv`; every one optional here), for inputs whose
/// positions come from elsewhere (broker Flex reports). Problems of rows that
/// belong to no currency or symbol are returned beside the market data.
///
/// # Errors
///
/// [`IoError`] when a file exists but cannot be read or lacks a required
/// column.
pub fn read_market(
    paths: &DropPaths,
    factor_table: &FactorTable,
) -> Result<(MarketData, Vec<InputError>), IoError> {
    let open = &mut |path: &Path| open_drop_file(paths, path);
    let market = MarketFiles::open(open, paths, false)?;
    let mut batch = Batch::default();
    market.read(factor_table, &mut batch);
    Ok((batch.market, batch.errors))
}

/// The market tables of a drop, opened (an optional one may be missing).
struct MarketFiles<R: Read> {
    fx: Option<CsvFile<R>>,
    factors: Option<CsvFile<R>>,
    underlyings: Option<CsvFile<R>>,
    rates: Option<CsvFile<R>>,
}

impl<R: Read> MarketFiles<R> {
    /// Opens the market tables of `paths` with `open`; `fx.csv` must exist
    /// when `fx_required`, the others may be missing.
    fn open(
        open: &mut impl FnMut(&Path) -> std::io::Result<R>,
        paths: &DropPaths,
        fx_required: bool,
    ) -> Result<Self, IoError> {
        Ok(MarketFiles {
            fx: csv_file(open, &paths.fx, fx_required, &["currency", "usd_per_unit"])?,
            factors: csv_file(open, &paths.factors, false, &["symbol", "factor", "beta"])?,
            underlyings: csv_file(
                open,
                &paths.underlyings,
                false,
                &["symbol", "currency", "price"],
            )?,
            rates: csv_file(open, &paths.rates, false, &["currency", "rate"])?,
        })
    }

    /// Reads the tables into `batch`'s market (their row problems into its
    /// errors); `factor_table` is the run's.
    fn read(self, factor_table: &FactorTable, batch: &mut Batch) {
        if let Some(file) = self.fx {
            read_fx(file, batch);
        }
        if let Some(file) = self.factors {
            read_factors(file, factor_table, batch);
        }
        if let Some(file) = self.underlyings {
            read_underlyings(file, batch);
        }
        if let Some(file) = self.rates {
            read_rates(file, batch);
        }
    }
}

/// Accounts by id, in order of first appearance.
#[derive(Default)]
struct Registry {
    accounts: Vec<AccountInput>,
    /// Hashed with foldhash (seeded per process), not SipHash: looked up
    /// once per run of an account's rows, never iterated.
    index: HashMap<String, usize, foldhash::fast::RandomState>,
    /// Rows read per account: `positions.csv` and `cash.csv`.
    rows: Vec<[usize; 2]>,
}

/// Which per-account count [`Registry::count_row`] keeps.
#[derive(Clone, Copy)]
enum Holding {
    Position = 0,
    Cash = 1,
}

impl Registry {
    /// Adds an account, in order.
    fn push(&mut self, account: AccountInput) -> usize {
        self.index.insert(account.id.clone(), self.accounts.len());
        self.accounts.push(account);
        self.rows.push([0, 0]);
        self.accounts.len() - 1
    }

    /// The index of the account `id`, which a position or cash row names;
    /// created, failed with the error `missing` makes, when `accounts.csv`
    /// has no row for it.
    fn index_for(&mut self, id: String, missing: impl FnOnce(&str) -> InputError) -> usize {
        match self.index.get(&id) {
            Some(&index) => index,
            None => {
                let error = missing(&id);
                self.push(AccountInput {
                    id,
                    errors: vec![error],
                    ..AccountInput::default()
                })
            }
        }
    }

    /// Counts a row of the account at `index`; `false` (and, the first time,
    /// an error of the account, located by `at` from its reason) past
    /// [`MAX_POSITIONS_PER_ACCOUNT`] rows.
    fn count_row(
        &mut self,
        index: usize,
        kind: Holding,
        at: impl FnOnce(String) -> InputError,
    ) -> bool {
        let Some(count) = self
            .rows
            .get_mut(index)
            .map(|rows| &mut rows[kind as usize])
        else {
            return false;
        };
        *count += 1;
        if *count <= MAX_POSITIONS_PER_ACCOUNT {
            return true;
        }
        if *count == MAX_POSITIONS_PER_ACCOUNT + 1
            && let Some(account) = self.accounts.get_mut(index)
        {
            let what = match kind {
                Holding::Position => "positions",
                Holding::Cash => "cash rows",
            };
            account.errors.push(at(format!(
                "account {} has more than {MAX_POSITIONS_PER_ACCOUNT} {what}, the limit per \
                 account; its rows from here on are not read",
                account.id
            )));
        }
        false
    }

    /// A row of `positions.csv` or `cash.csv` that could not be read as its
    /// header says ([`HoldingRow::Broken`]): an error of the account it
    /// names when its `account` field was read whole and the account is
    /// known (a broken row never makes an account of its own), else of the
    /// batch.
    ///
    /// A quoted field that swallowed the rows after it (a closing quote
    /// missing) fails, with the same error, every account those rows name:
    /// it has lost rows. An account named only there is listed, failed.
    fn broken(
        &mut self,
        error: InputError,
        account: Option<String>,
        swallowed: Vec<String>,
        errors: &mut Vec<InputError>,
    ) {
        self.fail_swallowed(&error, swallowed);
        let known = account.and_then(|id| self.index.get(&id).copied());
        match known.and_then(|index| self.accounts.get_mut(index)) {
            Some(account) => {
                if !account.errors.contains(&error) {
                    account.errors.push(error);
                }
            }
            None => errors.push(error),
        }
    }

    /// Fails every account of `swallowed`: the accounts of the rows a
    /// quoted field swallowed (see [`Row::swallowed`]).
    fn fail_swallowed(&mut self, error: &InputError, swallowed: Vec<String>) {
        for id in swallowed {
            match self.index.get(&id) {
                Some(&index) => {
                    if let Some(account) = self.accounts.get_mut(index)
                        && !account.errors.contains(error)
                    {
                        account.errors.push(error.clone());
                    }
                }
                None => {
                    self.push(AccountInput {
                        id,
                        errors: vec![error.clone()],
                        ..AccountInput::default()
                    });
                }
            }
        }
    }
}

/// A row of `positions.csv` or `cash.csv` as read on any core
/// ([`CsvFile::read_rows_parallel`]), for [`Registry`] to apply in file
/// order.
enum HoldingRow<H> {
    /// A row naming its account; `account` is `None` when the row names the
    /// account of the last row before it (in its stretch) that named one.
    Named {
        account: Option<String>,
        line: u64,
        holding: Result<H, Vec<InputError>>,
    },
    /// A row that names no account: its error, the batch's.
    Unnamed(InputError),
    /// A row that could not be read as its header says: its error, the
    /// account it names when that field was read whole, the accounts of the
    /// rows a quoted field of it swallowed.
    Broken {
        error: InputError,
        account: Option<String>,
        swallowed: Vec<String>,
    },
}

impl<H> HoldingRow<H> {
    /// What `read` is; `last` is the account of the stretch's last row
    /// that named one, `holding` reads the holding of a row.
    fn of(
        last: &mut String,
        read: Result<&Row<'_>, Broken<'_, '_>>,
        holding: impl FnOnce(&Row<'_>) -> Result<H, Vec<InputError>>,
    ) -> Self {
        let row = match read {
            Ok(row) => row,
            Err((error, row)) => {
                return HoldingRow::Broken {
                    account: row
                        .and_then(|row| row.whole_text("account"))
                        .map(str::to_string),
                    swallowed: row.map_or_else(Vec::new, |row| row.swallowed("account")),
                    error,
                };
            }
        };
        let id = match row.required("account") {
            Ok(id) => id,
            Err(e) => return HoldingRow::Unnamed(e),
        };
        let account = if id == last.as_str() {
            None
        } else {
            last.clear();
            last.push_str(id);
            Some(id.to_string())
        };
        HoldingRow::Named {
            account,
            line: row.line,
            holding: holding(row),
        }
    }
}

/// Reads the rows of `positions.csv` or `cash.csv` (`kind`) into their
/// accounts, `holding` reading each row's holding (on any core) and `keep`
/// putting it in its account (in file order).
fn read_holdings<H: Send>(
    file: CsvFile<impl Read>,
    kind: Holding,
    registry: &mut Registry,
    errors: &mut Vec<InputError>,
    holding: impl Fn(&Row<'_>) -> Result<H, Vec<InputError>> + Sync,
    keep: impl Fn(&mut AccountInput, H),
) {
    let owned = file.owned_place();
    let place = owned.place();
    let empty = csv::ByteRecord::new();
    let at = |line: u64| place.row(line, &empty);
    let mut current = 0;
    file.read_rows_parallel(
        |last: &mut String, read| HoldingRow::of(last, read, &holding),
        |row| match row {
            HoldingRow::Named {
                account,
                line,
                holding,
            } => {
                if let Some(id) = account {
                    current = registry.index_for(id, |id| {
                        at(line).error(
                            "account",
                            format!("account {id} has no row in accounts.csv"),
                        )
                    });
                }
                if !registry.count_row(current, kind, |reason| at(line).error("account", reason)) {
                    return;
                }
                let Some(account) = registry.accounts.get_mut(current) else {
                    return;
                };
                match holding {
                    Ok(holding) => keep(account, holding),
                    Err(row_errors) => account.errors.extend(row_errors),
                }
            }
            HoldingRow::Unnamed(error) => errors.push(error),
            HoldingRow::Broken {
                error,
                account,
                swallowed,
            } => registry.broken(error, account, swallowed, errors),
        },
    );
}

/// The key of a market table's entries: a currency (`fx.csv`, `rates.csv`)
/// or a symbol (`factors.csv`, `underlyings.csv`).
trait MarketKey: Ord + std::fmt::Display + Sized {
    /// The key a row names in `column`.
    fn of_row(row: &Row<'_>, column: &str) -> Result<Self, InputError>;
    /// The key named by a text read from a broken row, if it is one.
    fn of_text(text: &str) -> Option<Self>;
}

impl MarketKey for Currency {
    fn of_row(row: &Row<'_>, column: &str) -> Result<Self, InputError> {
        row.currency(column)
    }

    fn of_text(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl MarketKey for String {
    fn of_row(row: &Row<'_>, column: &str) -> Result<Self, InputError> {
        row.required(column).map(str::to_string)
    }

    fn of_text(text: &str) -> Option<Self> {
        Some(text.to_string())
    }
}

/// Reads a market table into `map`: each row gives the entry of the key it
/// names in `column` (called `what` in errors: `currency USD`), its value
/// read by `value`.
///
/// - A row whose key does not read is an error of the batch.
/// - A second row for a key keeps the first value if both agree and
///   otherwise turns the entry into an error.
/// - A row that could not be read as its header says makes its error the
///   entry of the key it names (when read whole) and of the keys of the rows
///   a quoted field of it swallowed, so that exactly the accounts that need
///   them fail, with that error; it is also listed in the batch's errors.
fn read_table<K: MarketKey, V: PartialEq>(
    file: CsvFile<impl Read>,
    column: &str,
    what: &str,
    map: &mut BTreeMap<K, Result<V, InputError>>,
    errors: &mut Vec<InputError>,
    value: impl Fn(&Row<'_>, &K) -> Result<V, InputError>,
) {
    let mut broken: Vec<(InputError, Vec<String>)> = Vec::new();
    file.for_each_row(
        |row| {
            let key = match K::of_row(row, column) {
                Ok(key) => key,
                Err(e) => return errors.push(e),
            };
            let value = value(row, &key);
            match map.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(value);
                }
                Entry::Occupied(mut slot) => {
                    let same = matches!((slot.get(), &value), (Ok(a), Ok(b)) if a == b);
                    if !same && slot.get().is_ok() {
                        let reason = format!("second, different row for {what} {}", slot.key());
                        *slot.get_mut() = Err(row.error_at_row(reason));
                    }
                }
            }
        },
        |e, row| {
            let keys = row.map_or_else(Vec::new, |row| {
                row.whole_text(column)
                    .map(str::to_string)
                    .into_iter()
                    .chain(row.swallowed(column))
                    .collect()
            });
            broken.push((e, keys));
        },
    );
    for (error, keys) in broken {
        for text in keys {
            if let Some(key) = K::of_text(&text) {
                map.insert(key, Err(error.clone()));
            }
        }
        errors.push(error);
    }
}

/// `market/fx.csv`: USD per unit of each currency.
fn read_fx(file: CsvFile<impl Read>, batch: &mut Batch) {
    read_table(
        file,
        "currency",
        "currency",
        &mut batch.market.fx,
        &mut batch.errors,
        |row, currency| {
            let rate = row.decimal("usd_per_unit")?;
            if rate <= Decimal::ZERO {
                Err(row.error(
                    "usd_per_unit",
                    format!("FX rate must be positive, got {rate}"),
                ))
            } else if *currency == Currency::USD && rate != Decimal::ONE {
                Err(row.error("usd_per_unit", format!("USD must be 1, got {rate}")))
            } else {
                Ok(rate)
            }
        },
    );
}

/// `market/factors.csv`: each symbol's factor, beta and own volatility.
fn read_factors(file: CsvFile<impl Read>, table: &FactorTable, batch: &mut Batch) {
    read_table(
        file,
        "symbol",
        "symbol",
        &mut batch.market.factors,
        &mut batch.errors,
        |row, _| {
            let factor = row.required("factor")?;
            if table.index_of_name(factor).is_none() {
                return Err(row.error(
                    "factor",
                    format!("unknown factor {factor:?}: not a factor name of the factor table"),
                ));
            }
            let beta = row.number("beta")?;
            let idio_vol = row.optional_number("idio_vol")?;
            if idio_vol.is_some_and(|v| v < 0.0) {
                return Err(row.error("idio_vol", "volatility must not be negative"));
            }
            Ok(FactorMapping {
                factor: factor.to_string(),
                beta,
                idio_vol,
            })
        },
    );
}

/// `market/underlyings.csv`: the underlyings of options and futures.
fn read_underlyings(file: CsvFile<impl Read>, batch: &mut Batch) {
    read_table(
        file,
        "symbol",
        "underlying",
        &mut batch.market.underlyings,
        &mut batch.errors,
        |row, _| {
            let currency = row.currency("currency")?;
            let price = row.price("price")?;
            let implied_vol = row.optional_number("implied_vol")?;
            if implied_vol.is_some_and(|v| v <= 0.0) {
                return Err(row.error("implied_vol", "implied volatility must be positive"));
            }
            let dividend_yield = row.optional_number("dividend_yield")?.unwrap_or(0.0);
            Ok(Underlying {
                currency,
                price,
                implied_vol,
                dividend_yield,
            })
        },
    );
}

/// `market/rates.csv`: each currency's interest rate.
fn read_rates(file: CsvFile<impl Read>, batch: &mut Batch) {
    read_table(
        file,
        "currency",
        "currency",
        &mut batch.market.rates,
        &mut batch.errors,
        |row, _| {
            let rate = row.number("rate")?;
            if (-1.0..=1.0).contains(&rate) {
                Ok(rate)
            } else {
                Err(row.error(
                    "rate",
                    format!("rate {rate} is not a decimal fraction between -1 and 1"),
                ))
            }
        },
    );
}

/// Checks that `currency` has a usable FX rate; the error is at `column`.
fn known_currency(
    row: &impl Fields,
    column: &str,
    market: &MarketData,
) -> Result<Currency, InputError> {
    let currency = row.currency(column)?;
    market
        .usd_per_unit(currency)
        .map(|_| currency)
        .map_err(|e| row.error(column, e.to_string()))
}

fn read_accounts(file: CsvFile<impl Read>, batch: &mut Batch, registry: &mut Registry) {
    let market = &batch.market;
    let errors = &mut batch.errors;
    file.read_rows(|read| {
        let row = match read {
            Ok(row) => row,
            Err((error, row)) => {
                // A broken row that names its account still lists it.
                let swallowed = error.clone();
                match row.and_then(|row| row.whole_text("account")) {
                    Some(id) => match registry.index.get(id) {
                        Some(&index) => registry.accounts[index].errors.push(error),
                        None => {
                            registry.push(AccountInput {
                                id: id.to_string(),
                                errors: vec![error],
                                ..AccountInput::default()
                            });
                        }
                    },
                    None => errors.push(error),
                }
                registry.fail_swallowed(
                    &swallowed,
                    row.map_or_else(Vec::new, |row| row.swallowed("account")),
                );
                return;
            }
        };
        {
            let id = match row.required("account") {
                Ok(id) => id.to_string(),
                Err(e) => return errors.push(e),
            };
            let base = known_currency(row, "base_currency", market);
            let inventory_fee = row
                .optional_decimal("inventory_fee")
                .and_then(|fee| match fee {
                    Some(fee) if fee < Decimal::ZERO => {
                        Err(row.error("inventory_fee", format!("negative inventory fee {fee}")))
                    }
                    fee => Ok(fee),
                });
            match registry.index.get(&id) {
                None => {
                    let mut account = AccountInput {
                        id: id.clone(),
                        ..AccountInput::default()
                    };
                    match inventory_fee {
                        Ok(fee) => account.inventory_fee = fee,
                        Err(e) => account.errors.push(e),
                    }
                    match base {
                        Ok(base) => account.base_currency = Some(base),
                        Err(e) => account.errors.push(e),
                    }
                    registry.push(account);
                }
                Some(&index) => {
                    let account = &mut registry.accounts[index];
                    match base {
                        Ok(base) if account.base_currency == Some(base) => {}
                        Ok(base) => account.errors.push(row.error(
                            "base_currency",
                            format!(
                                    "account {id} has two base currencies: {} and {base}",
                                    account
                                        .base_currency
                                        .map_or("(invalid)".to_string(), |c| c.to_string())
                                ),
                        )),
                        Err(e) => account.errors.push(e),
                    }
                }
            }
        }
    });
}

fn read_positions(file: CsvFile<impl Read>, batch: &mut Batch, registry: &mut Registry) {
    let market = &batch.market;
    read_holdings(
        file,
        Holding::Position,
        registry,
        &mut batch.errors,
        |row| read_position(row, market),
        |account, position| account.positions.push(position),
    );
}

/// The columns of `positions.csv` that may hold a line break (in quotes):
/// free text. In any other column a line break is an error of its field.
pub const POSITION_LINE_BREAKS: &[&str] = &["account", "symbol"];

/// A position from the fields of a `positions.csv` row (or a record with
/// the same columns: a what-if order), with every problem of the row, not
/// just the first, in column order (`symbol`, `asset_class`, `currency`,
/// `quantity`, `multiplier`, `mark`, then the option or future terms). The
/// one rule for a position, whatever carries it.
///
/// # Errors
///
/// Every field error of the record, placed where `row` places them.
pub fn read_position(row: &impl Fields, market: &MarketData) -> Result<Position, Vec<InputError>> {
    let symbol = row.required("symbol").map(str::to_string);
    let class = row.required("asset_class").and_then(|text| {
        AssetClass::parse(text).ok_or_else(|| {
            row.error(
                "asset_class",
                format!("unknown asset class {text:?} (STK, FUND, FUT, OPT, FOP, BOND, CRYPTO)"),
            )
        })
    });
    let currency = known_currency(row, "currency", market);
    let quantity = row.decimal("quantity");
    let multiplier = row.multiplier("multiplier");
    let mark = row.price("mark");
    let kind = match &class {
        Ok(class) => parse_kind(row, *class),
        Err(_) => Err(Vec::new()),
    };
    match (symbol, class, currency, quantity, multiplier, mark, kind) {
        (Ok(symbol), Ok(_), Ok(currency), Ok(quantity), Ok(multiplier), Ok(mark), Ok(kind)) => {
            Ok(Position {
                instrument: Instrument {
                    symbol,
                    kind,
                    currency,
                    multiplier,
                    mark,
                },
                quantity,
            })
        }
        (symbol, class, currency, quantity, multiplier, mark, kind) => {
            let mut errors: Vec<InputError> = [
                symbol.err(),
                class.err(),
                currency.err(),
                quantity.err(),
                multiplier.err(),
                mark.err(),
            ]
            .into_iter()
            .flatten()
            .collect();
            errors.extend(kind.err().unwrap_or_default());
            Err(errors)
        }
    }
}

fn parse_kind(row: &impl Fields, class: AssetClass) -> Result<InstrumentKind, Vec<InputError>> {
    let underlying = row.text("underlying").map(str::to_string);
    Ok(match class {
        AssetClass::Stock => InstrumentKind::Stock,
        AssetClass::Bond => InstrumentKind::Bond,
        AssetClass::Crypto => InstrumentKind::Crypto,
        AssetClass::Future => {
            let expiry = row.optional_date("expiry");
            match (underlying, expiry) {
                (Ok(underlying), Ok(expiry)) => InstrumentKind::Future {
                    underlying: if underlying.is_empty() {
                        row.text("symbol").unwrap_or_default().to_string()
                    } else {
                        underlying
                    },
                    expiry,
                },
                (a, b) => return Err([a.err(), b.err()].into_iter().flatten().collect()),
            }
        }
        AssetClass::Option | AssetClass::FutureOption => {
            let underlying = row.required("underlying");
            let strike = row.strike("strike");
            let expiry = row
                .optional_date("expiry")
                .and_then(|d| d.ok_or_else(|| row.error("expiry", "missing value")));
            let right = row.required("right").and_then(|text| {
                OptionRight::parse(text)
                    .ok_or_else(|| row.error("right", format!("{text:?} is not C or P")))
            });
            let exercise = row.text("exercise").and_then(|text| {
                if text.is_empty() {
                    Ok(Exercise::American)
                } else {
                    Exercise::parse(text).ok_or_else(|| {
                        row.error("exercise", format!("{text:?} is not american or european"))
                    })
                }
            });
            match (underlying, strike, expiry, right, exercise) {
                (Ok(underlying), Ok(strike), Ok(expiry), Ok(right), Ok(exercise)) => {
                    InstrumentKind::Option {
                        underlying: underlying.to_string(),
                        on_future: class == AssetClass::FutureOption,
                        terms: OptionTerms {
                            strike,
                            expiry,
                            right,
                            exercise,
                        },
                    }
                }
                (a, b, c, d, e) => {
                    return Err([a.err(), b.err(), c.err(), d.err(), e.err()]
                        .into_iter()
                        .flatten()
                        .collect());
                }
            }
        }
    })
}

fn read_cash(file: CsvFile<impl Read>, batch: &mut Batch, registry: &mut Registry) {
    let market = &batch.market;
    read_holdings(
        file,
        Holding::Cash,
        registry,
        &mut batch.errors,
        |row| {
            let currency = known_currency(row, "currency", market);
            let amount = row.decimal("amount");
            match (currency, amount) {
                (Ok(currency), Ok(amount)) => Ok(CashBalance { currency, amount }),
                (a, b) => Err([a.err(), b.err()].into_iter().flatten().collect()),
            }
        },
        |account, cash| account.cash.push(cash),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const POSITIONS: &str = "account,symbol,asset_class,currency,quantity,mark";

    fn table() -> FactorTable {
        crate::parse_factor_table(
            "f.csv",
            "factor,symbol,lower_bound_pct,upper_bound_pct\nEquity,SPX,-30,20\n\
             Individual Stocks,,-50,50\n"
                .as_bytes(),
        )
        .unwrap()
    }

    /// Reads a drop of `accounts.csv`, `positions.csv` and `cash.csv` (USD
    /// and EUR rates).
    fn read(accounts: &str, positions: &str, cash: &str) -> Result<Batch, IoError> {
        let fx = "currency,usd_per_unit\nUSD,1\nEUR,1.08\n";
        let files: [(&str, &str); 4] = [
            ("d/accounts.csv", accounts),
            ("d/positions.csv", positions),
            ("d/cash.csv", cash),
            ("d/market/fx.csv", fx),
        ];
        read_drop_with(&DropPaths::in_dir(Path::new("d")), &table(), |path| {
            files
                .iter()
                .find(|(name, _)| Path::new(name) == path)
                .map(|(_, text)| text.as_bytes())
                .ok_or_else(|| std::io::ErrorKind::NotFound.into())
        })
    }

    /// Reads a drop of exactly `files` (names under `d/`).
    fn read_files(files: &[(&str, &str)]) -> Batch {
        read_drop_with(&DropPaths::in_dir(Path::new("d")), &table(), |path| {
            files
                .iter()
                .find(|(name, _)| Path::new("d").join(name) == path)
                .map(|(_, text)| text.as_bytes())
                .ok_or_else(|| std::io::ErrorKind::NotFound.into())
        })
        .unwrap()
    }

    fn reasons(account: &AccountInput) -> Vec<String> {
        account.errors.iter().map(ToString::to_string).collect()
    }

    /// Rows of an account need not follow each other: U1's rows before and
    /// after U2's are all U1's, and an account missing from accounts.csv
    /// (U9) is created once, with one error, however its rows are spread.
    #[test]
    fn rows_of_accounts_in_any_order_go_to_their_account() {
        let batch = read(
            "account,base_currency\nU1,USD\nU2,USD\n",
            &format!(
                "{POSITIONS}\nU1,A,STK,USD,1,1\nU2,B,STK,USD,2,1\nU9,C,STK,USD,3,1\n\
                 U1,D,STK,USD,4,1\nU9,E,STK,USD,5,1\nU1,F,STK,USD,6,1\n"
            ),
            "account,currency,amount\nU2,USD,10\nU1,USD,20\nU2,EUR,30\n",
        )
        .unwrap();
        let held = |i: usize| -> (String, Vec<String>, Vec<String>) {
            let account = &batch.accounts[i];
            (
                account.id.clone(),
                account
                    .positions
                    .iter()
                    .map(|p| p.instrument.symbol.clone())
                    .collect(),
                account
                    .cash
                    .iter()
                    .map(|c| format!("{} {}", c.currency, c.amount))
                    .collect(),
            )
        };
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(batch.accounts.len(), 3);
        assert_eq!(
            held(0),
            ("U1".into(), strings(&["A", "D", "F"]), strings(&["USD 20"]))
        );
        assert_eq!(
            held(1),
            ("U2".into(), strings(&["B"]), strings(&["USD 10", "EUR 30"]))
        );
        assert_eq!(held(2), ("U9".into(), strings(&["C", "E"]), Vec::new()));
        assert_eq!(
            reasons(&batch.accounts[2]),
            ["d/positions.csv line 4 column 1 (account): account U9 has no row in accounts.csv"]
        );
    }

    #[test]
    fn an_account_past_the_position_limit_fails_with_the_limit_named() {
        let mut positions = String::from(POSITIONS);
        for _ in 0..=MAX_POSITIONS_PER_ACCOUNT + 5 {
            positions.push_str("\nBIG,AAPL,STK,USD,1,1");
        }
        positions.push_str("\nSMALL,AAPL,STK,USD,1,1");
        let batch = read(
            "account,base_currency\nBIG,USD\nSMALL,USD\n",
            &positions,
            "account,currency,amount\n",
        )
        .unwrap();
        let big = &batch.accounts[0];
        assert_eq!(big.positions.len(), MAX_POSITIONS_PER_ACCOUNT);
        assert_eq!(
            reasons(big),
            vec![format!(
                "d/positions.csv line {} column 1 (account): account BIG has more than \
                 {MAX_POSITIONS_PER_ACCOUNT} positions, the limit per account; its rows from \
                 here on are not read",
                MAX_POSITIONS_PER_ACCOUNT + 2
            )]
        );
        let small = &batch.accounts[1];
        assert!(small.errors.is_empty());
        assert_eq!(small.positions.len(), 1);
    }

    #[test]
    fn a_broken_row_fails_the_known_account_it_names() {
        let batch = read(
            "account,base_currency\r\nU1,USD\r\nU2,USD\r\nU3\r\nU4,EUR,extra\r\n",
            &format!("{POSITIONS}\r\nU1,AAPL,STK,USD,1,000.00,1\r\nU2,AAPL,STK,USD,1,2\r\nU9,AAPL,STK,USD,1,000,2\r\nU2,AAP"),
            "account,currency,amount\nU1,USD,5\n",
        )
        .unwrap();
        let ids: Vec<&str> = batch.accounts.iter().map(|a| a.id.as_str()).collect();
        // U3 (its account field may be cut) and U9 (unknown) make no account.
        assert_eq!(ids, ["U1", "U2", "U4"]);
        assert_eq!(
            reasons(&batch.accounts[0]),
            ["d/positions.csv line 2: row has 7 fields but the header has 6"]
        );
        assert_eq!(
            reasons(&batch.accounts[1]),
            ["d/positions.csv line 5: row has 2 fields but the header has 6"]
        );
        assert_eq!(
            reasons(&batch.accounts[2]),
            ["d/accounts.csv line 5: row has 3 fields but the header has 2"]
        );
        let errors: Vec<String> = batch.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "d/accounts.csv line 4: row has 1 fields but the header has 2",
                "d/positions.csv line 4: row has 7 fields but the header has 6",
            ]
        );
    }

    #[test]
    fn an_empty_file_stops_the_run_an_empty_optional_one_too() {
        let err = read("", POSITIONS, "account,currency,amount\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "d/accounts.csv: cannot read the header row: the file is empty"
        );
        let err = read("account,base_currency\nU1,USD\n", POSITIONS, "")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "d/cash.csv: cannot read the header row: the file is empty"
        );
        // A header alone is a file without rows.
        let batch = read(
            "account,base_currency\nU1,USD\n",
            POSITIONS,
            "account,currency,amount",
        )
        .unwrap();
        assert_eq!(batch.accounts.len(), 1);
        assert!(batch.accounts[0].errors.is_empty());
    }

    /// Issue 10: `A,"SPY,STK,USD,1,500` followed by `B,…` made A fail and B
    /// `ok` with NLV 0 (its row swallowed). Now the quoted field's error,
    /// naming the lines it spans, fails A and every account it swallowed.
    #[test]
    fn an_unclosed_quote_fails_its_account_and_every_account_it_swallowed() {
        let batch = read(
            "account,base_currency\nA,USD\nB,USD\nC,USD\nD,USD\n",
            &format!(
                "{POSITIONS}\nD,AAPL,STK,USD,1,2\nA,\"SPY,STK,USD,1,500\nB,SPY,STK,USD,100,500\r\n\
                 C,SPY,STK,USD,1,1\n"
            ),
            "account,currency,amount\nD,USD,5\n",
        )
        .unwrap();
        let expected = "d/positions.csv line 3 column 2 (symbol): a quoted field spans lines 3-5 \
                        and lines inside it read as rows of their own: is a closing quote \
                        missing? The rows it holds are not read";
        let ids: Vec<&str> = batch.accounts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["A", "B", "C", "D"]);
        for account in &batch.accounts[..3] {
            assert_eq!(reasons(account), [expected], "{}", account.id);
            assert!(account.positions.is_empty());
        }
        // D, before the broken row, is untouched.
        assert!(batch.accounts[3].errors.is_empty());
        assert_eq!(batch.accounts[3].positions.len(), 1);
    }

    #[test]
    fn a_swallowed_account_row_is_listed_failed_not_lost() {
        let batch = read(
            "account,base_currency\nA,\"USD\nB,USD\n",
            &format!("{POSITIONS}\nB,AAPL,STK,USD,1,2\n"),
            "account,currency,amount\n",
        )
        .unwrap();
        let ids: Vec<&str> = batch.accounts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["A", "B"]);
        let expected = "d/accounts.csv line 2 column 2 (base_currency): a quoted field spans \
                        lines 2-3 and lines inside it read as rows of their own: is a closing \
                        quote missing? The rows it holds are not read";
        assert_eq!(reasons(&batch.accounts[0]), [expected]);
        assert_eq!(reasons(&batch.accounts[1]), [expected]);
    }

    /// A quote opened in the account column itself: the row's own account
    /// (before the first comma of the field) fails too.
    #[test]
    fn an_unclosed_quote_in_the_account_column_fails_that_account_too() {
        let batch = read(
            "account,base_currency\nA,USD\nB,USD\n",
            &format!("{POSITIONS}\n\"A,SPY,STK,USD,1,500\nB,SPY,STK,USD,100,500\n"),
            "account,currency,amount\n",
        )
        .unwrap();
        let expected = "d/positions.csv line 2 column 1 (account): a quoted field spans lines \
                        2-3 and lines inside it read as rows of their own: is a closing quote \
                        missing? The rows it holds are not read";
        assert_eq!(reasons(&batch.accounts[0]), [expected]);
        assert_eq!(reasons(&batch.accounts[1]), [expected]);
    }

    #[test]
    fn a_line_break_only_where_a_column_may_hold_one() {
        let batch = read(
            "account,base_currency\n\"U,1\r\nID\",USD\nU2,USD\n",
            &format!(
                "{POSITIONS}\n\"U,1\r\nID\",\"BRK,B\nclass B\",STK,USD,3,480\n\
                 U2,AAPL,STK,USD,\"1\n0\",5\n"
            ),
            "account,currency,amount\n",
        )
        .unwrap();
        // An id and a symbol may hold a line end (free text)...
        assert_eq!(batch.accounts[0].id, "U,1\r\nID");
        assert!(
            batch.accounts[0].errors.is_empty(),
            "{:?}",
            reasons(&batch.accounts[0])
        );
        assert_eq!(
            batch.accounts[0].positions[0].instrument.symbol,
            "BRK,B\nclass B"
        );
        // ... a quantity may not.
        assert_eq!(
            reasons(&batch.accounts[1]),
            [
                "d/positions.csv line 5 column 5 (quantity): a quoted field spans lines 5-6 and \
              this column cannot hold a line break: is a closing quote missing? The rows it \
              holds are not read"
            ]
        );
    }

    /// A bad or swallowed market row is the entry of the key it is for:
    /// accounts that need it fail with the row's own error.
    #[test]
    fn a_broken_market_row_is_the_error_of_the_currencies_it_names_and_swallowed() {
        let batch = read_files(&[
            (
                "accounts.csv",
                "account,base_currency\nU1,USD\nU2,USD\nU3,USD\n",
            ),
            (
                "positions.csv",
                &format!(
                    "{POSITIONS}\nU1,SAP,STK,EUR,1,2\nU2,BP,STK,GBP,1,2\nU3,AAPL,STK,USD,1,2\n"
                ),
            ),
            (
                "market/fx.csv",
                "currency,usd_per_unit\nUSD,1\nEUR,\"1.08\nGBP,1.27\n",
            ),
        ]);
        let expected = "no usable FX rate for EUR: d/market/fx.csv line 3 column 2 \
                        (usd_per_unit): a quoted field spans lines 3-4 and lines inside it read \
                        as rows of their own: is a closing quote missing? The rows it holds are \
                        not read";
        assert_eq!(
            reasons(&batch.accounts[0]),
            [format!(
                "d/positions.csv line 2 column 4 (currency): {expected}"
            )]
        );
        assert_eq!(
            reasons(&batch.accounts[1]),
            [format!(
                "d/positions.csv line 3 column 4 (currency): {}",
                expected.replace("for EUR", "for GBP")
            )]
        );
        assert!(batch.accounts[2].errors.is_empty());
    }

    /// Every market table follows the one rule of [`read_table`]: a row
    /// repeated with the same value is harmless, a different value makes
    /// the entry an error (located at the second row), a key that does not
    /// read is an error of the batch.
    #[test]
    fn market_tables_share_one_rule_for_repeated_and_bad_keys() {
        let batch = read_files(&[
            ("accounts.csv", "account,base_currency\nU1,USD\n"),
            ("positions.csv", &format!("{POSITIONS}\n")),
            (
                "market/fx.csv",
                "currency,usd_per_unit\nUSD,1\nEUR,1.08\nEUR,1.08\nGBP,1.27\nGBP,1.28\nXX,2\n",
            ),
            (
                "market/rates.csv",
                "currency,rate\nUSD,0.05\nUSD,0.04\nEUR,0.02\nEUR,0.02\n",
            ),
            (
                "market/factors.csv",
                "symbol,factor,beta\nAAPL,Equity,1.2\nAAPL,Equity,1.3\n,Equity,1\n",
            ),
            (
                "market/underlyings.csv",
                "symbol,currency,price\nSPX,USD,5000\nSPX,USD,5000\n",
            ),
        ]);
        let market = &batch.market;
        let d = |s: &str| Decimal::from_str_exact(s).unwrap();
        let (eur, gbp): (Currency, Currency) = ("EUR".parse().unwrap(), "GBP".parse().unwrap());
        assert_eq!(market.fx[&eur], Ok(d("1.08")));
        assert_eq!(
            market.fx[&gbp].as_ref().unwrap_err().to_string(),
            "d/market/fx.csv line 6: second, different row for currency GBP"
        );
        assert_eq!(
            market.rates[&Currency::USD]
                .as_ref()
                .unwrap_err()
                .to_string(),
            "d/market/rates.csv line 3: second, different row for currency USD"
        );
        assert_eq!(market.rates[&eur], Ok(0.02));
        assert_eq!(
            market.factors["AAPL"].as_ref().unwrap_err().to_string(),
            "d/market/factors.csv line 3: second, different row for symbol AAPL"
        );
        assert_eq!(market.underlyings["SPX"].as_ref().unwrap().price, d("5000"));
        // The bad currency code and the row without a symbol: the batch's.
        let errors: Vec<String> = batch.errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("d/market/fx.csv line 7 column 1 (currency): "));
        assert!(errors[1].starts_with("d/market/factors.csv line 4 column 1 (symbol): "));
    }

    /// Issue 10: `1_000` was read as 1000. Only plain decimals are numbers.
    #[test]
    fn numbers_with_underscores_are_errors_of_their_field() {
        let batch = read(
            "account,base_currency\nU1,USD\nU2,USD\n",
            &format!("{POSITIONS}\nU1,AAPL,STK,USD,1_000,2\nU2,AAPL,STK,USD,10,2\n"),
            "account,currency,amount\nU2,USD,5_00\n",
        )
        .unwrap();
        assert_eq!(
            reasons(&batch.accounts[0]),
            [
                "d/positions.csv line 2 column 5 (quantity): \"1_000\" is not a decimal number \
              (plain notation like 1234.56, at most 28 significant digits)"
            ]
        );
        assert_eq!(
            reasons(&batch.accounts[1]),
            [
                "d/cash.csv line 2 column 3 (amount): \"5_00\" is not a decimal number (plain \
              notation like 1234.56, at most 28 significant digits)"
            ]
        );
    }
}
