use crate::error::StateError;
use crate::record::{NightRecord, date_text, money_text, parse, status_is_subject};
use chrono::NaiveDate;
use exfee_fee::{AccountState, FeeStatus, GraceRules, next_state};
use rusqlite::{Connection, Transaction, params};
use rust_decimal::Decimal;

/// One nightly run: a transaction over the state database.
///
/// Made by [`StateDb::begin_run`](crate::StateDb::begin_run). For each
/// account: read [`previous_state`](Run::previous_state), decide tonight's
/// status with [`exfee_fee::next_state`], compute the fee, then
/// [`record`](Run::record) it. [`commit`](Run::commit) makes the whole night
/// durable at once; dropping the run instead (or an error, or a crash)
/// leaves the database exactly as it was.
#[derive(Debug)]
pub struct Run<'db> {
    tx: Transaction<'db>,
    date: NaiveDate,
    date_text: String,
    rules: GraceRules,
}

impl<'db> Run<'db> {
    pub(crate) fn new(tx: Transaction<'db>, date: NaiveDate, rules: GraceRules) -> Self {
        Run {
            tx,
            date,
            date_text: date_text(date),
            rules,
        }
    }

    /// The valuation date of the run.
    pub fn date(&self) -> NaiveDate {
        self.date
    }

    /// The grace rules the run was begun with.
    pub fn rules(&self) -> GraceRules {
        self.rules
    }

    /// The account's state after its last night strictly before the run's
    /// date, or `None` for an account with no earlier night.
    ///
    /// Nights of the run's own date are ignored, so running a date again
    /// starts from the same state as the first time, whatever that run
    /// recorded.
    ///
    /// The state is rebuilt from the `nights` table (the source of truth) by
    /// replaying [`exfee_fee::next_state`] over the account's nights in date
    /// order, with the run's rules, from whether each night was subject.
    /// Only the nights since the account last started over are read: the
    /// stored nights are scanned newest first and the scan stops at
    /// `reset_after_clear_nights` consecutive clear nights, after which the
    /// state no longer depends on anything earlier. The cost per account is
    /// therefore bounded by its current episode, not its whole history.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] on a failed query, [`StateError::Corrupt`] on
    /// an unreadable stored night.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut db = exfee_state::StateDb::open(dir.path().join("s.sqlite")).unwrap();
    /// let date = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    /// let run = db.begin_run(date, exfee_fee::GraceRules::default()).unwrap();
    /// assert_eq!(run.previous_state("U1").unwrap(), None);
    /// ```
    pub fn previous_state(&self, account: &str) -> Result<Option<AccountState>, StateError> {
        replay(&self.tx, account, Some(&self.date_text), self.rules)
    }

    /// Records the account's night, replacing any row it already has for the
    /// run's date, and returns the account's state after it.
    ///
    /// In the same transaction: the `nights` row is written; the account's
    /// `ledger` row for the date is removed and, when the night is
    /// [`Charged`](FeeStatus::Charged) with a positive amount, written again;
    /// the `accounts` summary is set to the state after the account's latest
    /// night.
    ///
    /// # Errors
    ///
    /// [`StateError::InvalidRecord`] for an empty account id, negative money,
    /// a positive amount on a night that is not charged, or an effective date
    /// other than the grace rules'; [`StateError::StatusMismatch`] when
    /// `night.status` is not what [`exfee_fee::next_state`] gives from
    /// [`previous_state`](Run::previous_state) and the run's rules;
    /// [`StateError::Sqlite`] or [`StateError::Corrupt`] from the database.
    /// Nothing of the failed record is kept; the run may go on.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use exfee_fee::FeeStatus;
    /// use exfee_model::Currency;
    /// use exfee_state::NightRecord;
    /// use rust_decimal::Decimal;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut db = exfee_state::StateDb::open(dir.path().join("s.sqlite")).unwrap();
    /// let date = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    /// let mut run = db.begin_run(date, exfee_fee::GraceRules::default()).unwrap();
    /// let clear = NightRecord {
    ///     status: FeeStatus::Clear,
    ///     uncovered: Decimal::ZERO,
    ///     measure: Decimal::from(-1200),
    ///     daily_fee: Decimal::ZERO,
    ///     days_charged: 1,
    ///     amount_charged: Decimal::ZERO,
    ///     effective_date: None,
    ///     currency: Currency::USD,
    /// };
    /// let state = run.record("U1", &clear).unwrap();
    /// assert_eq!(state.clear_nights, 1);
    /// // a first subject night cannot be charged: the grace rules say grace
    /// let charged = NightRecord { status: FeeStatus::Charged, ..clear };
    /// assert!(run.record("U2", &charged).is_err());
    /// run.commit().unwrap();
    /// ```
    pub fn record(
        &mut self,
        account: &str,
        night: &NightRecord,
    ) -> Result<AccountState, StateError> {
        let invalid = |reason: String| StateError::InvalidRecord {
            account: account.to_string(),
            reason,
        };
        if account.is_empty() {
            return Err(invalid("empty account id".to_string()));
        }
        for (name, value) in [
            ("uncovered", night.uncovered),
            ("daily_fee", night.daily_fee),
            ("amount_charged", night.amount_charged),
        ] {
            if value < Decimal::ZERO {
                return Err(invalid(format!("{name} is negative ({value})")));
            }
        }
        if night.status != FeeStatus::Charged && !night.amount_charged.is_zero() {
            return Err(invalid(format!(
                "amount_charged {} on a night that is {}, not charged",
                night.amount_charged, night.status
            )));
        }

        let previous = self.previous_state(account)?;
        let (state, expected) = next_state(
            previous.as_ref(),
            self.date,
            night.status.is_subject(),
            self.rules,
        );
        if expected != night.status {
            return Err(StateError::StatusMismatch {
                account: account.to_string(),
                date: self.date,
                recorded: night.status,
                expected,
            });
        }
        let effective = match night.status {
            FeeStatus::Clear => None,
            FeeStatus::Grace { effective } => Some(effective),
            FeeStatus::Charged => state.effective_date(self.rules),
        };
        if night.effective_date.is_some() && night.effective_date != effective {
            return Err(invalid(format!(
                "effective date {} but the grace rules give {}",
                night.effective_date.map_or_else(String::new, date_text),
                effective.map_or_else(|| "none".to_string(), date_text),
            )));
        }

        // Everything is checked: write, all or nothing (a savepoint inside
        // the run's transaction).
        let effective_text = effective.map(date_text);
        let rules = self.rules;
        let date = &self.date_text;
        let sp = self.tx.savepoint()?;
        sp
            .prepare_cached(
                "INSERT OR REPLACE INTO nights
                 (account, date, status, measure, uncovered, daily_fee, days_charged, amount, currency, effective_date)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                account,
                date,
                night.status.name(),
                money_text(night.measure),
                money_text(night.uncovered),
                money_text(night.daily_fee),
                night.days_charged,
                money_text(night.amount_charged),
                night.currency.as_str(),
                effective_text,
            ])?;
        sp.prepare_cached("DELETE FROM ledger WHERE account = ?1 AND date = ?2")?
            .execute(params![account, date])?;
        if night.status == FeeStatus::Charged && night.amount_charged > Decimal::ZERO {
            sp.prepare_cached(
                "INSERT INTO ledger (account, date, uncovered, daily_fee, days, amount, currency)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                account,
                date,
                money_text(night.uncovered),
                money_text(night.daily_fee),
                night.days_charged,
                money_text(night.amount_charged),
                night.currency.as_str(),
            ])?;
        }

        let later_nights: bool = sp
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM nights WHERE account = ?1 AND date > ?2)",
            )?
            .query_row(params![account, date], |row| row.get(0))?;
        let latest = if later_nights {
            replay(&sp, account, None, rules)?.unwrap_or(state)
        } else {
            state
        };
        write_summary(&sp, account, &latest, rules)?;
        sp.commit()?;
        Ok(state)
    }

    /// The valuation dates after the run's date that hold nights (of any
    /// account), in order. A run of an earlier date than the state's latest
    /// would leave later nights computed from a history that no longer
    /// holds: the caller refuses it, or removes them with
    /// [`forget_later_nights`](Run::forget_later_nights).
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] on a failed query, [`StateError::Corrupt`] on
    /// an unreadable stored date.
    pub fn later_dates(&self) -> Result<Vec<NaiveDate>, StateError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT DISTINCT date FROM nights WHERE date > ?1 ORDER BY date")?;
        let mut rows = stmt.query(params![self.date_text])?;
        let mut dates = Vec::new();
        while let Some(row) = rows.next()? {
            dates.push(parse("nights", "", "date", &row.get::<_, String>(0)?)?);
        }
        Ok(dates)
    }

    /// Removes, in the run's transaction, every night and charge dated after
    /// the run's date, and sets each affected account's summary to its state
    /// after its remaining nights (an account left with none loses its
    /// summary). Returns how many nights were removed. Those later dates are
    /// then to be run again, in order, to recompute them.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] or [`StateError::Corrupt`] from the database.
    pub fn forget_later_nights(&mut self) -> Result<usize, StateError> {
        let accounts: Vec<String> = {
            let mut stmt = self
                .tx
                .prepare_cached("SELECT DISTINCT account FROM nights WHERE date > ?1")?;
            let rows = stmt.query_map(params![self.date_text], |row| row.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let removed = self.tx.execute(
            "DELETE FROM nights WHERE date > ?1",
            params![self.date_text],
        )?;
        self.tx.execute(
            "DELETE FROM ledger WHERE date > ?1",
            params![self.date_text],
        )?;
        for account in &accounts {
            match replay(&self.tx, account, None, self.rules)? {
                Some(state) => write_summary(&self.tx, account, &state, self.rules)?,
                None => {
                    self.tx
                        .execute("DELETE FROM accounts WHERE account = ?1", params![account])?;
                }
            }
        }
        Ok(removed)
    }

    /// Commits the run: every recorded night becomes durable at once.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] when the commit fails (e.g. disk full); the
    /// run is then rolled back and the database is as before.
    pub fn commit(self) -> Result<(), StateError> {
        self.tx.commit()?;
        Ok(())
    }
}

/// The state after the account's nights before `before` (all nights when
/// `None`), replayed from the last point where the account started over.
fn replay(
    conn: &Connection,
    account: &str,
    before: Option<&str>,
    rules: GraceRules,
) -> Result<Option<AccountState>, StateError> {
    const TABLE: &str = "nights";
    let mut stmt = match before {
        Some(_) => conn.prepare_cached(
            "SELECT date, status FROM nights WHERE account = ?1 AND date < ?2 ORDER BY date DESC",
        )?,
        None => conn.prepare_cached(
            "SELECT date, status FROM nights WHERE account = ?1 ORDER BY date DESC",
        )?,
    };
    let mut rows = match before {
        Some(before) => stmt.query(params![account, before])?,
        None => stmt.query(params![account])?,
    };
    // Newest first, until `reset` consecutive clear nights: the state after
    // them is a fresh start whatever came before (see `next_state`, whose
    // clear count stops at the reset count).
    let reset = rules.reset_after_clear_nights.max(1);
    let mut nights: Vec<(NaiveDate, bool)> = Vec::new();
    let mut clear_run = 0u32;
    while let Some(row) = rows.next()? {
        let date: NaiveDate = parse(TABLE, account, "date", &row.get::<_, String>(0)?)?;
        let subject = status_is_subject(TABLE, account, &row.get::<_, String>(1)?)?;
        nights.push((date, subject));
        if subject {
            clear_run = 0;
        } else {
            clear_run += 1;
            if clear_run >= reset {
                break;
            }
        }
    }
    let mut state: Option<AccountState> = None;
    for &(date, subject) in nights.iter().rev() {
        state = Some(next_state(state.as_ref(), date, subject, rules).0);
    }
    Ok(state)
}

fn write_summary(
    conn: &Connection,
    account: &str,
    state: &AccountState,
    rules: GraceRules,
) -> Result<(), StateError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO accounts
         (account, first_subject, nights_subject, clear_nights, last_status, last_date, effective_date)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        account,
        state.first_subject.map(date_text),
        state.nights_subject,
        state.clear_nights,
        state.last_status.name(),
        date_text(state.last_date),
        state.effective_date(rules).map(date_text),
    ])?;
    Ok(())
}
