use crate::error::StateError;
use crate::record::{Basis, LedgerRow, NightRecord, NightRow, parse, parse_opt_date, parse_status};
use crate::run::Run;
use chrono::{Datelike, NaiveDate};
use exfee_fee::{AccountState, ChargedFee, GraceRules, TradingCalendar};
use exfee_model::Currency;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The schema version this build reads and writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 2;

/// The tables. `nights` is the source of truth; `ledger` and `accounts` are
/// kept from it in the same transaction.
const SCHEMA: &str = "
CREATE TABLE nights (
    account        TEXT NOT NULL,
    date           TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('clear', 'grace', 'charged')),
    measure        TEXT NOT NULL,
    uncovered      TEXT NOT NULL,
    daily_fee      TEXT NOT NULL,
    days_charged   INTEGER NOT NULL,
    amount         TEXT NOT NULL,
    currency       TEXT NOT NULL,
    effective_date TEXT,
    accrues        TEXT NOT NULL DEFAULT '0',
    basis          TEXT NOT NULL DEFAULT 'exposure' CHECK (basis IN ('exposure', 'inventory')),
    PRIMARY KEY (account, date)
) WITHOUT ROWID;
CREATE TABLE ledger (
    account     TEXT NOT NULL,
    day         TEXT NOT NULL,
    measured_on TEXT NOT NULL,
    posted_on   TEXT NOT NULL,
    amount      TEXT NOT NULL,
    basis       TEXT NOT NULL CHECK (basis IN ('exposure', 'inventory', 'estimated')),
    currency    TEXT NOT NULL,
    PRIMARY KEY (account, day)
) WITHOUT ROWID;
CREATE INDEX ledger_posted ON ledger (posted_on, account);
CREATE TABLE accounts (
    account        TEXT NOT NULL PRIMARY KEY,
    first_subject  TEXT,
    nights_subject INTEGER NOT NULL,
    clear_nights   INTEGER NOT NULL,
    last_status    TEXT NOT NULL CHECK (last_status IN ('clear', 'grace', 'charged')),
    last_date      TEXT NOT NULL,
    effective_date TEXT
) WITHOUT ROWID;
";

/// From schema 1 (one ledger row per charged night, `days` at that night's
/// fee) to 2 (one ledger row per calendar day): each old charge becomes its
/// days `[date − days, date)`, measured and posted on `date`; a night's
/// `accrues` is its daily fee when subject.
const MIGRATE_1_TO_2: &str = "
ALTER TABLE nights ADD COLUMN accrues TEXT NOT NULL DEFAULT '0';
ALTER TABLE nights ADD COLUMN basis TEXT NOT NULL DEFAULT 'exposure' CHECK (basis IN ('exposure', 'inventory'));
UPDATE nights SET accrues = daily_fee WHERE status <> 'clear';
ALTER TABLE ledger RENAME TO ledger_v1;
CREATE TABLE ledger (
    account     TEXT NOT NULL,
    day         TEXT NOT NULL,
    measured_on TEXT NOT NULL,
    posted_on   TEXT NOT NULL,
    amount      TEXT NOT NULL,
    basis       TEXT NOT NULL CHECK (basis IN ('exposure', 'inventory', 'estimated')),
    currency    TEXT NOT NULL,
    PRIMARY KEY (account, day)
) WITHOUT ROWID;
CREATE INDEX ledger_posted ON ledger (posted_on, account);
WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < 400)
INSERT OR REPLACE INTO ledger (account, day, measured_on, posted_on, amount, basis, currency)
    SELECT l.account, date(l.date, '-' || k.n || ' days'), l.date, l.date, l.daily_fee, 'exposure', l.currency
    FROM ledger_v1 l JOIN k ON k.n <= l.days;
DROP TABLE ledger_v1;
";

/// The nightly state database: per account, every night's status and fee,
/// the ledger of charges and a summary, in one SQLite file.
///
/// # Tables
///
/// - `nights(account, date, status, measure, uncovered, daily_fee,
///   days_charged, amount, currency, effective_date, accrues, basis)`, key
///   `(account, date)`: one row per account and valuation date, the source
///   of truth: the measurement (`accrues`, what each day it prices costs
///   once past grace, and its `basis`) and what that run posted
///   (`days_charged` days, `amount`).
/// - `ledger(account, day, measured_on, posted_on, amount, basis,
///   currency)`, key `(account, day)`: one row per calendar day charged, so
///   never two charges for one account and day. Every calendar day is priced
///   by the account's latest night on or before it (`measured_on`) and posted
///   by the next trading-day run (`posted_on`); days inside the grace week
///   and days priced by a clear night are not rows; a day after a trading day
///   whose run is missing is `estimated`.
/// - `accounts(account, first_subject, nights_subject, clear_nights,
///   last_status, last_date, effective_date)`: the state after the account's
///   latest night, for reports.
///
/// Money is stored as exact decimal text (`"54.79"`), dates as `YYYY-MM-DD`
/// text, statuses as `clear`/`grace`/`charged`. The schema version is
/// `PRAGMA user_version` ([`SCHEMA_VERSION`]).
///
/// # Crash safety
///
/// The database uses SQLite's default rollback journal (`journal_mode =
/// DELETE`, `synchronous = FULL`), which keeps the state in one file between
/// runs (easy to copy or back up) and is crash-safe: every nightly run is one
/// transaction ([`begin_run`](StateDb::begin_run) … [`Run::commit`]), and a
/// run dropped without commit, an error part-way, or a process killed
/// mid-run leaves the file as it was (SQLite rolls a hot journal back the
/// next time the file is opened).
///
/// # Examples
///
/// ```
/// use chrono::NaiveDate;
/// use exfee_fee::{ChargedFee, FeeStatus, GraceRules, TradingCalendar, next_state};
/// use exfee_model::Currency;
/// use exfee_state::{NightRecord, StateDb};
/// use rust_decimal::Decimal;
///
/// let dir = tempfile::tempdir().unwrap();
/// let mut db = StateDb::open(dir.path().join("state.sqlite")).unwrap();
/// let date = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
/// let rules = GraceRules::default();
///
/// let mut run = db.begin_run(date, rules, &TradingCalendar::default()).unwrap();
/// let previous = run.previous_state("U1").unwrap();
/// let (_, status) = next_state(previous.as_ref(), date, true, rules);
/// run.record("U1", &NightRecord {
///     status,
///     uncovered: Decimal::from(250_000),
///     measure: Decimal::from(330_000),
///     daily_fee: Decimal::new(5479, 2),
///     accrues: Decimal::new(5479, 2), // what a day will cost after grace
///     basis: ChargedFee::Exposure,
///     effective_date: None,
///     currency: Currency::USD,
/// }).unwrap();
/// run.commit().unwrap();
///
/// let state = db.summary("U1").unwrap().unwrap();
/// assert_eq!(state.first_subject, Some(date));
/// assert!(matches!(state.last_status, FeeStatus::Grace { .. }));
/// assert!(db.ledger("U1").unwrap().is_empty());
/// ```
#[derive(Debug)]
pub struct StateDb {
    conn: Connection,
    path: PathBuf,
}

impl StateDb {
    /// Opens the state database at `path`, creating the file and its tables
    /// when needed.
    ///
    /// # Errors
    ///
    /// [`StateError::Open`] when the file cannot be opened or is not a SQLite
    /// database, or a table it holds clashes with ours;
    /// [`StateError::UnsupportedSchema`] when it was written with a newer
    /// schema.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("state.sqlite");
    /// exfee_state::StateDb::open(&path).unwrap();
    /// exfee_state::StateDb::open(&path).unwrap(); // opening again is fine
    ///
    /// std::fs::write(dir.path().join("notes.txt"), "not a database at all").unwrap();
    /// assert!(exfee_state::StateDb::open(dir.path().join("notes.txt")).is_err());
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<StateDb, StateError> {
        let path = path.as_ref().to_path_buf();
        let open_error = |source| StateError::Open {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(open_error)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(open_error)?;
        conn.query_row("PRAGMA journal_mode = DELETE", [], |row| {
            row.get::<_, String>(0)
        })
        .map_err(open_error)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_error)?;
        // The query planner's stability guarantee: a statement is planned
        // once, not planned again whenever a parameter of its WHERE clause
        // is bound to a new value (the bundled SQLite is built with STAT4,
        // which re-prepares `prior`'s read of every account otherwise: most
        // of a night's state time). The tables hold no statistics, so the
        // plans are the same; only the re-planning goes.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(open_error)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(open_error)?;
        let found: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(open_error)?;
        match found {
            0 => {
                tx.execute_batch(SCHEMA).map_err(open_error)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                    .map_err(open_error)?;
            }
            1 => {
                tx.execute_batch(MIGRATE_1_TO_2).map_err(open_error)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                    .map_err(open_error)?;
            }
            SCHEMA_VERSION => {}
            _ => {
                return Err(StateError::UnsupportedSchema {
                    path,
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
        }
        tx.commit().map_err(open_error)?;
        Ok(StateDb { conn, path })
    }

    /// Opens an existing state database for reading only (`exfee ledger`):
    /// the file is opened with `SQLITE_OPEN_READ_ONLY`, so nothing is ever
    /// written to it — no table created, no migration, no journal-mode
    /// change. Queries work; a run's writes fail.
    ///
    /// # Errors
    ///
    /// [`StateError::Open`] when the file cannot be opened or is not a
    /// SQLite database; [`StateError::NotAState`] when it is a SQLite file
    /// without exfee's schema (an empty file, another program's database);
    /// [`StateError::UnsupportedSchema`] when its schema version is not
    /// [`SCHEMA_VERSION`] (an older file is migrated only by a run, which
    /// opens it with [`open`](StateDb::open)).
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("state.sqlite");
    /// assert!(exfee_state::StateDb::open_read_only(&path).is_err()); // no file
    /// std::fs::write(&path, "").unwrap();
    /// assert!(exfee_state::StateDb::open_read_only(&path).is_err()); // not a state
    /// assert_eq!(std::fs::read(&path).unwrap().len(), 0); // and left as it was
    /// ```
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<StateDb, StateError> {
        use rusqlite::OpenFlags;
        let path = path.as_ref().to_path_buf();
        let open_error = |source| StateError::Open {
            path: path.clone(),
            source,
        };
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_error)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(open_error)?;
        let found: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(open_error)?;
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'
                 AND name IN ('nights', 'ledger', 'accounts')",
                [],
                |row| row.get(0),
            )
            .map_err(open_error)?;
        if found == 0 || tables != 3 {
            return Err(StateError::NotAState { path });
        }
        if found != SCHEMA_VERSION {
            return Err(StateError::UnsupportedSchema {
                path,
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(StateDb { conn, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts the nightly run of valuation date `date`: one transaction
    /// (taking the write lock at once) in which every account of the night
    /// is recorded, until [`Run::commit`]. Dropping the run without commit
    /// changes nothing.
    ///
    /// `rules` are the grace rules of the fee schedule; the run uses them to
    /// rebuild each account's state from its nights
    /// ([`Run::previous_state`]) and to check each recorded status.
    /// `calendar` says which days are trading days: only a trading day's run
    /// posts.
    ///
    /// Running a date again replaces that date's rows. Running a date
    /// earlier than nights already stored is allowed (a correction), but the
    /// later nights keep what they recorded; [`latest_date`](StateDb::latest_date)
    /// lets a caller warn about it.
    ///
    /// # Errors
    ///
    /// [`StateError::DateOutOfRange`] for a date outside the years 1 to 9999;
    /// [`StateError::Sqlite`] when the database is locked by another writer
    /// for longer than the busy timeout (10 s).
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut db = exfee_state::StateDb::open(dir.path().join("s.sqlite")).unwrap();
    /// let date = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    /// let run = db.begin_run(date, exfee_fee::GraceRules::default(), &exfee_fee::TradingCalendar::default()).unwrap();
    /// assert_eq!(run.date(), date);
    /// drop(run); // rolled back
    /// ```
    pub fn begin_run(
        &mut self,
        date: NaiveDate,
        rules: GraceRules,
        calendar: &TradingCalendar,
    ) -> Result<Run<'_>, StateError> {
        if !crate::record::sorts_as_text(date) {
            return Err(StateError::DateOutOfRange(date));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        Ok(Run::new(tx, date, rules, calendar.clone()))
    }

    /// The state after the account's latest stored night, or `None` for an
    /// account never recorded.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] on a failed query, [`StateError::Corrupt`] on
    /// an unreadable stored value.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = exfee_state::StateDb::open(dir.path().join("s.sqlite")).unwrap();
    /// assert_eq!(db.summary("U404").unwrap(), None);
    /// ```
    pub fn summary(&self, account: &str) -> Result<Option<AccountState>, StateError> {
        const TABLE: &str = "accounts";
        let row = self
            .conn
            .query_row(
                "SELECT first_subject, nights_subject, clear_nights, last_status, last_date, effective_date
                 FROM accounts WHERE account = ?1",
                params![account],
                |row| {
                    Ok((
                        row.get::<_, Option<String>>(0)?,
                        row.get::<_, u32>(1)?,
                        row.get::<_, u32>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, Option<String>>(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((first, nights_subject, clear_nights, status, last, effective)) = row else {
            return Ok(None);
        };
        let effective = parse_opt_date(TABLE, account, "effective_date", effective)?;
        Ok(Some(AccountState {
            first_subject: parse_opt_date(TABLE, account, "first_subject", first)?,
            nights_subject,
            clear_nights,
            last_status: parse_status(TABLE, account, &status, effective)?,
            last_date: parse(TABLE, account, "last_date", &last)?,
        }))
    }

    /// Every stored night of the account, oldest first.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] on a failed query, [`StateError::Corrupt`] on
    /// an unreadable stored value.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = exfee_state::StateDb::open(dir.path().join("s.sqlite")).unwrap();
    /// assert!(db.nights("U1").unwrap().is_empty());
    /// ```
    pub fn nights(&self, account: &str) -> Result<Vec<NightRow>, StateError> {
        read_nights(&self.conn, account, None)
    }

    /// The account's ledger: one row per calendar day charged, oldest
    /// first.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] on a failed query, [`StateError::Corrupt`] on
    /// an unreadable stored value.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = exfee_state::StateDb::open(dir.path().join("s.sqlite")).unwrap();
    /// assert!(db.ledger("U1").unwrap().is_empty());
    /// ```
    pub fn ledger(&self, account: &str) -> Result<Vec<LedgerRow>, StateError> {
        self.ledger_rows(None, None, Some(account))
    }

    /// Ledger rows of days `from..=to` (either end open when `None`), of one
    /// account or all, ordered by account then day. Either end may be any
    /// date: the stored days are in the years 1 to 9999, so a `from` after
    /// 9999 or a `to` before year 1 selects nothing, and an end beyond the
    /// other side of that range leaves that side open (compared as dates,
    /// not as their text: `+10000-01-01` sorts before `2026-…` as text).
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] on a failed query, [`StateError::Corrupt`] on
    /// an unreadable stored value.
    pub fn ledger_rows(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        account: Option<&str>,
    ) -> Result<Vec<LedgerRow>, StateError> {
        const TABLE: &str = "ledger";
        let before = |d: &NaiveDate| d.year() < 1;
        let after = |d: &NaiveDate| d.year() > 9999;
        if from.as_ref().is_some_and(after) || to.as_ref().is_some_and(before) {
            return Ok(Vec::new());
        }
        let from = from.filter(|d| crate::record::sorts_as_text(*d));
        let to = to.filter(|d| crate::record::sorts_as_text(*d));
        let mut stmt = self.conn.prepare_cached(
            "SELECT account, day, measured_on, posted_on, amount, basis, currency FROM ledger
             WHERE (?1 IS NULL OR day >= ?1) AND (?2 IS NULL OR day <= ?2)
               AND (?3 IS NULL OR account = ?3)
             ORDER BY account, day",
        )?;
        let mut rows = stmt.query(params![
            from.map(crate::record::date_text),
            to.map(crate::record::date_text),
            account
        ])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let account: String = row.get(0)?;
            let a = account.as_str();
            out.push(LedgerRow {
                day: parse(TABLE, a, "day", &row.get::<_, String>(1)?)?,
                measured_on: parse(TABLE, a, "measured_on", &row.get::<_, String>(2)?)?,
                posted_on: parse(TABLE, a, "posted_on", &row.get::<_, String>(3)?)?,
                amount: parse(TABLE, a, "amount", &row.get::<_, String>(4)?)?,
                basis: Basis::parse(a, &row.get::<_, String>(5)?)?,
                currency: parse::<Currency>(TABLE, a, "currency", &row.get::<_, String>(6)?)?,
                account,
            });
        }
        Ok(out)
    }

    /// The sum of the account's charges, exact (0 when none).
    ///
    /// # Errors
    ///
    /// As [`ledger`](StateDb::ledger), plus [`StateError::MixedCurrencies`]
    /// when the charges are in more than one currency and
    /// [`StateError::Overflow`] when the sum is beyond `Decimal`'s range.
    ///
    /// # Examples
    ///
    /// ```
    /// use rust_decimal::Decimal;
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = exfee_state::StateDb::open(dir.path().join("s.sqlite")).unwrap();
    /// assert_eq!(db.total_charged("U1").unwrap(), Decimal::ZERO);
    /// ```
    pub fn total_charged(&self, account: &str) -> Result<Decimal, StateError> {
        let rows = self.ledger(account)?;
        let mut total = Decimal::ZERO;
        let mut currency: Option<Currency> = None;
        for row in rows {
            match currency {
                Some(first) if first != row.currency => {
                    return Err(StateError::MixedCurrencies {
                        account: account.to_string(),
                        first: first.to_string(),
                        second: row.currency.to_string(),
                    });
                }
                _ => currency = Some(row.currency),
            }
            total = total
                .checked_add(row.amount)
                .ok_or_else(|| StateError::Overflow {
                    account: account.to_string(),
                })?;
        }
        Ok(total)
    }

    /// The latest valuation date with a stored night, of any account.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] on a failed query, [`StateError::Corrupt`] on
    /// an unreadable stored date.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = exfee_state::StateDb::open(dir.path().join("s.sqlite")).unwrap();
    /// assert_eq!(db.latest_date().unwrap(), None);
    /// ```
    pub fn latest_date(&self) -> Result<Option<NaiveDate>, StateError> {
        let latest: Option<String> =
            self.conn
                .query_row("SELECT MAX(date) FROM nights", [], |row| row.get(0))?;
        latest
            .map(|text| parse("nights", "", "date", &text))
            .transpose()
    }
}

/// One `nights` row selected as `night_columns!` lists them.
pub(crate) fn night_row(row: &rusqlite::Row<'_>, account: &str) -> Result<NightRow, StateError> {
    const TABLE: &str = "nights";
    let effective = parse_opt_date(
        TABLE,
        account,
        "effective_date",
        row.get::<_, Option<String>>(8)?,
    )?;
    let basis = match row.get::<_, String>(10)?.as_str() {
        "exposure" => ChargedFee::Exposure,
        "inventory" => ChargedFee::Inventory,
        other => {
            return Err(StateError::Corrupt {
                table: TABLE,
                account: account.to_string(),
                column: "basis",
                value: other.to_string(),
            });
        }
    };
    Ok(NightRow {
        date: parse(TABLE, account, "date", &row.get::<_, String>(0)?)?,
        record: NightRecord {
            status: parse_status(TABLE, account, &row.get::<_, String>(1)?, effective)?,
            measure: parse(TABLE, account, "measure", &row.get::<_, String>(2)?)?,
            uncovered: parse(TABLE, account, "uncovered", &row.get::<_, String>(3)?)?,
            daily_fee: parse(TABLE, account, "daily_fee", &row.get::<_, String>(4)?)?,
            accrues: parse(TABLE, account, "accrues", &row.get::<_, String>(9)?)?,
            basis,
            currency: parse(TABLE, account, "currency", &row.get::<_, String>(7)?)?,
            effective_date: effective,
        },
        days_posted: row.get(5)?,
        amount_posted: parse(TABLE, account, "amount", &row.get::<_, String>(6)?)?,
    })
}

/// The account's nights, oldest first; only the night of `date` when given.
pub(crate) fn read_nights(
    conn: &Connection,
    account: &str,
    date: Option<&str>,
) -> Result<Vec<NightRow>, StateError> {
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        night_columns!(),
        " FROM nights WHERE account = ?1 AND (?2 IS NULL OR date = ?2) ORDER BY date"
    ))?;
    let mut rows = stmt.query(params![account, date])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(night_row(row, account)?);
    }
    Ok(out)
}
