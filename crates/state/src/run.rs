use crate::error::StateError;
use crate::record::{
    Basis, LedgerRow, NightRecord, Recorded, date_text, parse, parse_opt_date, status_is_subject,
    text_into,
};
use chrono::NaiveDate;
use exfee_fee::{AccountState, ChargedFee, FeeStatus, GraceRules, TradingCalendar, next_state};
use exfee_model::Currency;
use rusqlite::{Connection, Transaction, params};
use rust_decimal::Decimal;
use std::collections::HashSet;

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
    calendar: TradingCalendar,
    /// Whether the state holds nights after the run's date (asked once, at
    /// the first record; only [`Run::forget_later_nights`] changes it, and
    /// no other writer can while the run holds the write lock).
    later: Option<bool>,
    /// Whether the ledger held days posted on the run's date before the run
    /// (a date run again), asked once at the first record.
    posted_before: Option<bool>,
    /// The accounts recorded by this run so far.
    recorded: HashSet<String>,
}

/// What a run needs of one account's nights before the run's date, read
/// in one pass by [`Run::prior`]: its state
/// ([`Run::previous_state`]), its last night ([`Run::previous_night`])
/// and, on a trading day, the nights the days it posts are priced by.
/// Recording does not change it (a run writes only nights of its own date),
/// so it can be read for every account before any is recorded.
#[derive(Debug, Clone)]
pub struct Prior {
    account: String,
    date: NaiveDate,
    state: Option<AccountState>,
    night: Option<crate::NightRow>,
    /// Oldest first, from the latest trading-day night (or the first night).
    priced: Vec<Priced>,
}

impl Prior {
    /// The account.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The account's state after its last night strictly before the run's
    /// date ([`Run::previous_state`]).
    pub fn state(&self) -> Option<&AccountState> {
        self.state.as_ref()
    }

    /// The account's last stored night strictly before the run's date
    /// ([`Run::previous_night`]).
    pub fn night(&self) -> Option<&crate::NightRow> {
        self.night.as_ref()
    }
}

impl<'db> Run<'db> {
    pub(crate) fn new(
        tx: Transaction<'db>,
        date: NaiveDate,
        rules: GraceRules,
        calendar: TradingCalendar,
    ) -> Self {
        Run {
            tx,
            date,
            date_text: date_text(date),
            rules,
            calendar,
            later: None,
            posted_before: None,
            recorded: HashSet::new(),
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
    /// let run = db.begin_run(date, exfee_fee::GraceRules::default(), &exfee_fee::TradingCalendar::default()).unwrap();
    /// assert_eq!(run.previous_state("U1").unwrap(), None);
    /// ```
    pub fn previous_state(&self, account: &str) -> Result<Option<AccountState>, StateError> {
        replay(&self.tx, account, Some(&self.date_text), self.rules)
    }

    /// The account's last stored night strictly before the run's date, if
    /// any (for night-over-night comparisons).
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] or [`StateError::Corrupt`] from the database.
    pub fn previous_night(&self, account: &str) -> Result<Option<crate::NightRow>, StateError> {
        let date: Option<String> = self
            .tx
            .prepare_cached("SELECT MAX(date) FROM nights WHERE account = ?1 AND date < ?2")?
            .query_row(params![account, self.date_text], |row| row.get(0))?;
        let Some(date) = date else {
            return Ok(None);
        };
        crate::db::read_nights(&self.tx, account, Some(&date)).map(|mut rows| rows.pop())
    }

    /// [`previous_state`](Run::previous_state),
    /// [`previous_night`](Run::previous_night) and what
    /// [`record_prior`](Run::record_prior) needs of the account's earlier
    /// nights, in one query: the account's nights before the run's date are
    /// read newest first and only as far as the replay of its state and the
    /// accrual of the days tonight posts need (its current episode).
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
    /// let run = db.begin_run(date, exfee_fee::GraceRules::default(), &exfee_fee::TradingCalendar::default()).unwrap();
    /// let prior = run.prior("U1").unwrap();
    /// assert_eq!((prior.state(), prior.night()), (None, None));
    /// ```
    pub fn prior(&self, account: &str) -> Result<Prior, StateError> {
        const TABLE: &str = "nights";
        let mut stmt = self.tx.prepare_cached(concat!(
            "SELECT ",
            night_columns!(),
            " FROM nights WHERE account = ?1 AND date < ?2 ORDER BY date DESC"
        ))?;
        let mut rows = stmt.query(params![account, self.date_text])?;
        // Newest first: the replay reads back to `reset` consecutive clear
        // nights (see `replay`), the accrual to the latest trading-day night
        // (see `accrue`), the last night is the first row.
        let reset = self.rules.reset_after_clear_nights.max(1);
        let mut replaying = true;
        let mut clear_run = 0u32;
        let mut replayed: Vec<(NaiveDate, bool)> = Vec::new();
        let mut pricing = self.calendar.is_trading_day(self.date);
        let mut priced: Vec<Priced> = Vec::new();
        let mut night = None;
        let mut first = true;
        while first || replaying || pricing {
            let Some(row) = rows.next()? else {
                break;
            };
            let date: NaiveDate = parse(TABLE, account, "date", &row.get::<_, String>(0)?)?;
            if first {
                night = Some(crate::db::night_row(row, account)?);
                first = false;
            }
            let subject = status_is_subject(TABLE, account, &row.get::<_, String>(1)?)?;
            if replaying {
                replayed.push((date, subject));
                if subject {
                    clear_run = 0;
                } else {
                    clear_run += 1;
                    replaying = clear_run < reset;
                }
            }
            if pricing {
                priced.push(Priced {
                    date,
                    subject,
                    accrues: parse(TABLE, account, "accrues", &row.get::<_, String>(9)?)?,
                    basis: parse_basis(account, &row.get::<_, String>(10)?)?,
                    effective: parse_opt_date(TABLE, account, "effective_date", row.get(8)?)?,
                    currency: parse(TABLE, account, "currency", &row.get::<_, String>(7)?)?,
                });
                pricing = !self.calendar.is_trading_day(date);
            }
        }
        let mut state: Option<AccountState> = None;
        for &(date, subject) in replayed.iter().rev() {
            state = Some(next_state(state.as_ref(), date, subject, self.rules).0);
        }
        priced.reverse();
        Ok(Prior {
            account: account.to_string(),
            date: self.date,
            state,
            night,
            priced,
        })
    }

    /// Records the account's night, replacing any row it already has for the
    /// run's date, posts what it accrued, and returns the account's state
    /// after it with the days posted.
    ///
    /// In the same transaction: the `nights` row is written; the account's
    /// `ledger` rows posted on the run's date are removed and, when the date
    /// is a trading day, the days accrued since the last posting are posted
    /// (see [`StateDb`](crate::StateDb): every calendar day from the previous
    /// trading-day night up to the day before tonight, each priced by the
    /// night in force on it, grace and clear days skipped, days after a
    /// missing trading-day run flagged [`Basis::Estimated`]); the `accounts`
    /// summary is set to the state after the account's latest night.
    ///
    /// # Errors
    ///
    /// [`StateError::InvalidRecord`] for an empty account id, negative money,
    /// a positive `accrues` on a clear night, or an effective date other than
    /// the grace rules'; [`StateError::StatusMismatch`] when `night.status`
    /// is not what [`exfee_fee::next_state`] gives from
    /// [`previous_state`](Run::previous_state) and the run's rules;
    /// [`StateError::Sqlite`] or [`StateError::Corrupt`] from the database.
    /// Nothing of the failed record is kept; the run may go on.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use exfee_fee::{ChargedFee, FeeStatus, TradingCalendar};
    /// use exfee_model::Currency;
    /// use exfee_state::NightRecord;
    /// use rust_decimal::Decimal;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut db = exfee_state::StateDb::open(dir.path().join("s.sqlite")).unwrap();
    /// let date = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    /// let mut run = db
    ///     .begin_run(date, exfee_fee::GraceRules::default(), &TradingCalendar::default())
    ///     .unwrap();
    /// let clear = NightRecord {
    ///     status: FeeStatus::Clear,
    ///     uncovered: Decimal::ZERO,
    ///     measure: Decimal::from(-1200),
    ///     daily_fee: Decimal::ZERO,
    ///     accrues: Decimal::ZERO,
    ///     basis: ChargedFee::Exposure,
    ///     effective_date: None,
    ///     currency: Currency::USD,
    /// };
    /// let recorded = run.record("U1", &clear).unwrap();
    /// assert_eq!(recorded.state.clear_nights, 1);
    /// assert!(recorded.posted.is_empty());
    /// // a first subject night cannot be charged: the grace rules say grace
    /// let charged = NightRecord { status: FeeStatus::Charged, ..clear };
    /// assert!(run.record("U2", &charged).is_err());
    /// run.commit().unwrap();
    /// ```
    pub fn record(&mut self, account: &str, night: &NightRecord) -> Result<Recorded, StateError> {
        check_record(account, night)?;
        let prior = self.prior(account)?;
        self.record_prior(&prior, night)
    }

    /// [`record`](Run::record) with the account's earlier nights as read by
    /// [`prior`](Run::prior) in this run (a caller that needs the previous
    /// state to decide tonight's fee reads the account's nights once).
    ///
    /// # Errors
    ///
    /// As [`record`](Run::record); [`StateError::InvalidRecord`] also when
    /// `prior` was read by a run of another date.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use exfee_fee::{ChargedFee, FeeStatus, TradingCalendar};
    /// use exfee_model::Currency;
    /// use exfee_state::NightRecord;
    /// use rust_decimal::Decimal;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut db = exfee_state::StateDb::open(dir.path().join("s.sqlite")).unwrap();
    /// let date = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    /// let mut run = db
    ///     .begin_run(date, exfee_fee::GraceRules::default(), &TradingCalendar::default())
    ///     .unwrap();
    /// let prior = run.prior("U1").unwrap();
    /// assert_eq!(prior.state(), None);
    /// let clear = NightRecord {
    ///     status: FeeStatus::Clear,
    ///     uncovered: Decimal::ZERO,
    ///     measure: Decimal::from(-1200),
    ///     daily_fee: Decimal::ZERO,
    ///     accrues: Decimal::ZERO,
    ///     basis: ChargedFee::Exposure,
    ///     effective_date: None,
    ///     currency: Currency::USD,
    /// };
    /// let recorded = run.record_prior(&prior, &clear).unwrap();
    /// assert_eq!(recorded.state.clear_nights, 1);
    /// run.commit().unwrap();
    /// ```
    pub fn record_prior(
        &mut self,
        prior: &Prior,
        night: &NightRecord,
    ) -> Result<Recorded, StateError> {
        let checked = self.checker().check(prior, night)?;
        let mut recorded = self.record_checked(vec![checked])?;
        recorded.pop().ok_or_else(|| StateError::InvalidRecord {
            account: prior.account.clone(),
            reason: "nothing was recorded".to_string(),
        })
    }

    /// The checks of [`record_prior`](Run::record_prior) that read nothing
    /// (the grace transition, the record's own checks, the days to post):
    /// a [`Checker`] is `Sync`, so a caller may check every account of a
    /// night on every core, then write them all with
    /// [`record_checked`](Run::record_checked).
    pub fn checker(&self) -> Checker<'_> {
        Checker {
            date: self.date,
            rules: self.rules,
            calendar: &self.calendar,
        }
    }

    /// Writes nights checked by this run's [`checker`](Run::checker), in
    /// order, as [`record_prior`](Run::record_prior) writes one, and returns
    /// what each recorded. All or nothing: when a write fails, nothing of
    /// `checked` is kept (a savepoint inside the run's transaction) and the
    /// run may go on. The statements are prepared once for the whole batch.
    ///
    /// # Errors
    ///
    /// [`StateError::InvalidRecord`] when a record was checked for a run of
    /// another date; [`StateError::Sqlite`] or [`StateError::Corrupt`] from
    /// the database.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use exfee_fee::{ChargedFee, FeeStatus, TradingCalendar};
    /// use exfee_model::Currency;
    /// use exfee_state::NightRecord;
    /// use rust_decimal::Decimal;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut db = exfee_state::StateDb::open(dir.path().join("s.sqlite")).unwrap();
    /// let date = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    /// let mut run = db
    ///     .begin_run(date, exfee_fee::GraceRules::default(), &TradingCalendar::default())
    ///     .unwrap();
    /// let clear = NightRecord {
    ///     status: FeeStatus::Clear,
    ///     uncovered: Decimal::ZERO,
    ///     measure: Decimal::from(-1200),
    ///     daily_fee: Decimal::ZERO,
    ///     accrues: Decimal::ZERO,
    ///     basis: ChargedFee::Exposure,
    ///     effective_date: None,
    ///     currency: Currency::USD,
    /// };
    /// let priors = [run.prior("U1").unwrap(), run.prior("U2").unwrap()];
    /// let checker = run.checker();
    /// let checked = priors
    ///     .iter()
    ///     .map(|prior| checker.check(prior, &clear))
    ///     .collect::<Result<Vec<_>, _>>()
    ///     .unwrap();
    /// let recorded = run.record_checked(checked).unwrap();
    /// assert_eq!(recorded.len(), 2);
    /// assert_eq!(recorded[1].state.clear_nights, 1);
    /// run.commit().unwrap();
    /// assert_eq!(db.nights("U2").unwrap().len(), 1);
    /// ```
    pub fn record_checked(&mut self, checked: Vec<Checked>) -> Result<Vec<Recorded>, StateError> {
        if let Some(wrong) = checked.iter().find(|c| c.date != self.date) {
            return Err(StateError::InvalidRecord {
                account: wrong.account.clone(),
                reason: format!(
                    "it was checked for a run of {}, not of {}",
                    wrong.date, self.date
                ),
            });
        }
        let later = exists_once(
            &mut self.later,
            &self.tx,
            "SELECT EXISTS (SELECT 1 FROM nights WHERE date > ?1)",
            &self.date_text,
        )?;
        let posted_before = exists_once(
            &mut self.posted_before,
            &self.tx,
            "SELECT EXISTS (SELECT 1 FROM ledger WHERE posted_on = ?1)",
            &self.date_text,
        )?;
        // Everything is checked: write, all or nothing (a savepoint inside
        // the run's transaction), through statements prepared once (a
        // savepoint of rusqlite's parses its SQL every time).
        let rules = self.rules;
        let date = &self.date_text;
        let conn: &Connection = &self.tx;
        conn.prepare_cached("SAVEPOINT exfee_record")?.execute([])?;
        let mut batch: HashSet<&str> = HashSet::new();
        let written = (|| -> Result<(), StateError> {
            let mut writer = Writer::new(conn, rules)?;
            for (index, c) in checked.iter().enumerate() {
                let account = c.account.as_str();
                // The account's days posted on the run's date are replaced:
                // there are none unless the date was run before or the
                // account was recorded earlier in this run.
                let again = !batch.insert(account);
                if again {
                    // Its rows of this batch are written before they are
                    // replaced, as one record after another would.
                    writer.flush(&checked, date)?;
                }
                let replace_posted = posted_before || again || self.recorded.contains(account);
                writer.night(index, replace_posted, account, date)?;
                let later_nights: bool = later
                    && conn
                        .prepare_cached(
                            "SELECT EXISTS (SELECT 1 FROM nights WHERE account = ?1 AND date > ?2)",
                        )?
                        .query_row(params![account, date], |row| row.get(0))?;
                let latest = if later_nights {
                    // The replay reads tonight's night: written first.
                    writer.flush(&checked, date)?;
                    replay(conn, account, None, rules)?.unwrap_or(c.state)
                } else {
                    c.state
                };
                writer.summary(index, latest);
            }
            writer.flush(&checked, date)
        })();
        if let Err(e) = written {
            // Nothing of the failed batch is kept; the run may go on.
            conn.prepare_cached("ROLLBACK TO exfee_record")?
                .execute([])?;
            conn.prepare_cached("RELEASE exfee_record")?.execute([])?;
            return Err(e);
        }
        conn.prepare_cached("RELEASE exfee_record")?.execute([])?;
        drop(batch);
        let mut out = Vec::with_capacity(checked.len());
        for c in checked {
            out.push(c.recorded());
            if !self.recorded.contains(c.account.as_str()) {
                self.recorded.insert(c.account);
            }
        }
        Ok(out)
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

    /// Removes, in the run's transaction, every night dated after the run's
    /// date and every ledger day those nights posted, and sets each affected account's summary to its state
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
        self.later = Some(false);
        let removed = self.tx.execute(
            "DELETE FROM nights WHERE date > ?1",
            params![self.date_text],
        )?;
        // The days those nights posted (a day is posted after the night that
        // priced it, so every day priced by a removed night goes too).
        self.tx.execute(
            "DELETE FROM ledger WHERE posted_on > ?1",
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

/// The checks of a record that read nothing of the database, for a run's
/// date, rules and calendar ([`Run::checker`]): the record's own checks,
/// the grace transition from the account's [`Prior`], and the days
/// tonight's run posts. `Sync`: a night's accounts may be checked on every
/// core.
#[derive(Debug, Clone, Copy)]
pub struct Checker<'a> {
    date: NaiveDate,
    rules: GraceRules,
    calendar: &'a TradingCalendar,
}

/// A record checked by a [`Checker`], for [`Run::record_checked`].
#[derive(Debug, Clone)]
pub struct Checked {
    account: String,
    date: NaiveDate,
    night: NightRecord,
    state: AccountState,
    effective: Option<NaiveDate>,
    posted: Vec<LedgerRow>,
}

impl Checked {
    /// The account.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// What recording it gives: [`Run::record_checked`] returns exactly
    /// this for it once it is written, and it is known before (the state
    /// after tonight and the days tonight posts are worked out by the
    /// check, from the account's earlier nights), so a caller can go on
    /// with it while the records are written.
    pub fn recorded(&self) -> Recorded {
        Recorded {
            state: self.state,
            posted: self.posted.clone(),
        }
    }
}

impl Checker<'_> {
    /// Checks `night` for the account of `prior` (read by [`Run::prior`] in
    /// the same run), as [`Run::record_prior`] does before it writes.
    ///
    /// # Errors
    ///
    /// As [`Run::record_prior`]'s checks: [`StateError::InvalidRecord`] for
    /// an empty account id, negative money, a positive `accrues` on a clear
    /// night, an effective date other than the grace rules', or a `prior`
    /// read by a run of another date; [`StateError::StatusMismatch`] when
    /// `night.status` is not what [`exfee_fee::next_state`] gives.
    pub fn check(&self, prior: &Prior, night: &NightRecord) -> Result<Checked, StateError> {
        let account = prior.account.as_str();
        check_record(account, night)?;
        if prior.date != self.date {
            return Err(StateError::InvalidRecord {
                account: account.to_string(),
                reason: format!(
                    "its earlier nights were read for a run of {}, not of {}",
                    prior.date, self.date
                ),
            });
        }
        let (state, effective) = self.transition(account, prior.state(), night)?;
        let posted = if self.calendar.is_trading_day(self.date) {
            accrue(account, self.date, self.calendar, &prior.priced)
        } else {
            Vec::new()
        };
        Ok(Checked {
            account: prior.account.clone(),
            date: self.date,
            night: night.clone(),
            state,
            effective,
            posted,
        })
    }

    /// The account's state after tonight and tonight's effective date, when
    /// `night.status` is what the grace rules give from the previous state
    /// and its effective date (if given) is theirs.
    fn transition(
        &self,
        account: &str,
        previous: Option<&AccountState>,
        night: &NightRecord,
    ) -> Result<(AccountState, Option<NaiveDate>), StateError> {
        let (state, expected) =
            next_state(previous, self.date, night.status.is_subject(), self.rules);
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
            return Err(StateError::InvalidRecord {
                account: account.to_string(),
                reason: format!(
                    "effective date {} but the grace rules give {}",
                    night.effective_date.map_or_else(String::new, date_text),
                    effective.map_or_else(|| "none".to_string(), date_text),
                ),
            });
        }
        Ok((state, effective))
    }
}

/// A stored night as the accrual reads it.
#[derive(Debug, Clone)]
struct Priced {
    date: NaiveDate,
    subject: bool,
    accrues: Decimal,
    basis: ChargedFee,
    effective: Option<NaiveDate>,
    currency: Currency,
}

/// The checks of a record that need no state: an account id, no negative
/// money, nothing accrued on a clear night.
fn check_record(account: &str, night: &NightRecord) -> Result<(), StateError> {
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
        ("accrues", night.accrues),
    ] {
        if value < Decimal::ZERO {
            return Err(invalid(format!("{name} is negative ({value})")));
        }
    }
    if night.status == FeeStatus::Clear && !night.accrues.is_zero() {
        return Err(invalid(format!(
            "accrues {} on a clear night",
            night.accrues
        )));
    }
    Ok(())
}

/// How many rows one `INSERT` of [`Writer`] writes at most. SQLite runs a
/// `CHECK (… IN (…))` of three or more values through a temporary b-tree
/// opened (and its page cache allocated) once per statement execution: one
/// row per statement made that opening most of a night's write time.
pub(crate) const ROWS_PER_INSERT: usize = 64;

/// A table a batch of records writes rows to, with multi-row `INSERT`s.
#[derive(Clone, Copy)]
enum Table {
    Nights,
    Ledger,
    Accounts,
}

impl Table {
    /// The statement's text up to its `VALUES`, and its columns.
    fn head(self) -> (&'static str, usize) {
        match self {
            Table::Nights => (
                "INSERT OR REPLACE INTO nights (account, date, status, measure, uncovered, \
                 daily_fee, days_charged, amount, currency, effective_date, accrues, basis) VALUES ",
                12,
            ),
            Table::Ledger => (
                "INSERT OR REPLACE INTO ledger (account, day, measured_on, posted_on, amount, \
                 basis, currency) VALUES ",
                7,
            ),
            Table::Accounts => (SUMMARY_HEAD, 7),
        }
    }

    /// The `INSERT` of `rows` rows (numbered parameters, row after row).
    fn sql(self, rows: usize) -> String {
        use std::fmt::Write;
        let (head, columns) = self.head();
        let mut sql = String::with_capacity(head.len() + rows * columns * 6);
        sql.push_str(head);
        let mut parameter = 0;
        for row in 0..rows {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            for column in 0..columns {
                parameter += 1;
                #[allow(
                    clippy::let_underscore_must_use,
                    reason = "writing into a String cannot fail"
                )]
                let _ = write!(sql, "{}?{parameter}", if column == 0 { "" } else { ", " });
            }
            sql.push(')');
        }
        sql
    }
}

/// Writes a batch of checked records: each table's rows in record order,
/// [`ROWS_PER_INSERT`] rows per `INSERT OR REPLACE` (rows of one statement
/// are written one after another, so the tables end as with one statement
/// per row), money and dates formatted into reused buffers. Rows wait in
/// the writer (as indices into the batch) until [`Writer::flush`]; the
/// caller flushes before anything reads or replaces them.
struct Writer<'c> {
    conn: &'c Connection,
    delete_posted: rusqlite::CachedStatement<'c>,
    /// The full-size statement of each table (prepared once).
    full: [Option<rusqlite::CachedStatement<'c>>; 3],
    text: [String; 6],
    /// Records whose `nights` row waits.
    nights: Vec<usize>,
    /// (record, day posted) whose `ledger` row waits.
    ledger: Vec<(usize, usize)>,
    /// (record, state) whose `accounts` row waits.
    summaries: Vec<(usize, AccountState)>,
    rules: GraceRules,
}

impl<'c> Writer<'c> {
    fn new(conn: &'c Connection, rules: GraceRules) -> Result<Self, StateError> {
        Ok(Writer {
            conn,
            delete_posted: conn
                .prepare_cached("DELETE FROM ledger WHERE account = ?1 AND posted_on = ?2")?,
            full: [None, None, None],
            text: Default::default(),
            nights: Vec::new(),
            ledger: Vec::new(),
            summaries: Vec::new(),
            rules,
        })
    }

    /// Queues the `nights` row of record `index` for `date` (with the days
    /// and amount posted tonight) and its `ledger` rows, after removing (at
    /// once) its `ledger` rows posted on `date` when `replace_posted` (it
    /// may hold some already; else they are only added).
    fn night(
        &mut self,
        index: usize,
        replace_posted: bool,
        account: &str,
        date: &str,
    ) -> Result<(), StateError> {
        if replace_posted {
            self.delete_posted.execute(params![account, date])?;
        }
        self.nights.push(index);
        Ok(())
    }

    /// Queues the `accounts` summary of record `index`: `state`.
    fn summary(&mut self, index: usize, state: AccountState) {
        self.summaries.push((index, state));
    }

    /// Writes every queued row: `nights`, then `ledger`, then `accounts`
    /// (no table's rows depend on another's).
    fn flush(&mut self, checked: &[Checked], date: &str) -> Result<(), StateError> {
        let nights = std::mem::take(&mut self.nights);
        for index in &nights {
            if let Some(c) = checked.get(*index) {
                self.ledger
                    .extend((0..c.posted.len()).map(|day| (*index, day)));
            }
        }
        self.write(Table::Nights, &nights, |text, stmt, first, &index| {
            night_row(text, stmt, first, checked, index, date)
        })?;
        let ledger = std::mem::take(&mut self.ledger);
        self.write(
            Table::Ledger,
            &ledger,
            |text, stmt, first, &(index, day)| {
                ledger_row(text, stmt, first, checked, index, day, date)
            },
        )?;
        let summaries = std::mem::take(&mut self.summaries);
        let rules = self.rules;
        self.write(
            Table::Accounts,
            &summaries,
            |text, stmt, first, (index, state)| {
                let account = checked.get(*index).map_or("", |c| c.account.as_str());
                summary_row(text, stmt, first, account, state, rules)
            },
        )?;
        // The queues keep their capacity for the next rows.
        self.nights = nights;
        self.nights.clear();
        self.ledger = ledger;
        self.ledger.clear();
        self.summaries = summaries;
        self.summaries.clear();
        Ok(())
    }

    /// Writes `rows` of `table`, [`ROWS_PER_INSERT`] per statement; `bind`
    /// binds one row's values from parameter `first` on.
    fn write<T>(
        &mut self,
        table: Table,
        rows: &[T],
        mut bind: impl FnMut(
            &mut [String; 6],
            &mut rusqlite::Statement<'_>,
            usize,
            &T,
        ) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let columns = table.head().1;
        for part in rows.chunks(ROWS_PER_INSERT) {
            let mut partial;
            let stmt: &mut rusqlite::Statement<'_> = if part.len() == ROWS_PER_INSERT {
                let slot = &mut self.full[table as usize];
                if slot.is_none() {
                    *slot = Some(self.conn.prepare_cached(&table.sql(ROWS_PER_INSERT))?);
                }
                match slot {
                    Some(stmt) => stmt,
                    None => continue,
                }
            } else {
                partial = self.conn.prepare_cached(&table.sql(part.len()))?;
                &mut partial
            };
            for (i, row) in part.iter().enumerate() {
                bind(&mut self.text, stmt, i * columns + 1, row)?;
            }
            stmt.raw_execute()?;
        }
        Ok(())
    }
}

/// Binds the `nights` row of record `index` from parameter `first` on.
fn night_row(
    text: &mut [String; 6],
    stmt: &mut rusqlite::Statement<'_>,
    first: usize,
    checked: &[Checked],
    index: usize,
    date: &str,
) -> Result<(), StateError> {
    let Some(checked) = checked.get(index) else {
        return Ok(());
    };
    let account = checked.account.as_str();
    let night = &checked.night;
    let posted = &checked.posted;
    let days_posted = u32::try_from(posted.len()).unwrap_or(u32::MAX);
    let mut amount_posted = Decimal::ZERO;
    for row in posted {
        amount_posted =
            amount_posted
                .checked_add(row.amount)
                .ok_or_else(|| StateError::Overflow {
                    account: account.to_string(),
                })?;
    }
    let [measure, uncovered, daily_fee, amount, effective, accrues] = text;
    stmt.raw_bind_parameter(first, account)?;
    stmt.raw_bind_parameter(first + 1, date)?;
    stmt.raw_bind_parameter(first + 2, night.status.name())?;
    stmt.raw_bind_parameter(first + 3, text_into(measure, night.measure))?;
    stmt.raw_bind_parameter(first + 4, text_into(uncovered, night.uncovered))?;
    stmt.raw_bind_parameter(first + 5, text_into(daily_fee, night.daily_fee))?;
    stmt.raw_bind_parameter(first + 6, days_posted)?;
    stmt.raw_bind_parameter(first + 7, text_into(amount, amount_posted))?;
    stmt.raw_bind_parameter(first + 8, night.currency.as_str())?;
    stmt.raw_bind_parameter(
        first + 9,
        checked.effective.map(|e| text_into(effective, e)),
    )?;
    stmt.raw_bind_parameter(first + 10, text_into(accrues, night.accrues))?;
    stmt.raw_bind_parameter(first + 11, night.basis.name())?;
    Ok(())
}

/// Binds the `ledger` row of day `day` posted by record `index` from
/// parameter `first` on.
fn ledger_row(
    text: &mut [String; 6],
    stmt: &mut rusqlite::Statement<'_>,
    first: usize,
    checked: &[Checked],
    index: usize,
    day: usize,
    date: &str,
) -> Result<(), StateError> {
    let Some((checked, row)) = checked
        .get(index)
        .and_then(|c| c.posted.get(day).map(|row| (c, row)))
    else {
        return Ok(());
    };
    let [day_text, measured_on, amount, ..] = text;
    stmt.raw_bind_parameter(first, checked.account.as_str())?;
    stmt.raw_bind_parameter(first + 1, text_into(day_text, row.day))?;
    stmt.raw_bind_parameter(first + 2, text_into(measured_on, row.measured_on))?;
    stmt.raw_bind_parameter(first + 3, date)?;
    stmt.raw_bind_parameter(first + 4, text_into(amount, row.amount))?;
    stmt.raw_bind_parameter(first + 5, row.basis.name())?;
    stmt.raw_bind_parameter(first + 6, row.currency.as_str())?;
    Ok(())
}

/// Binds the `accounts` summary of `account`, `state`, from parameter
/// `first` on.
fn summary_row(
    text: &mut [String; 6],
    stmt: &mut rusqlite::Statement<'_>,
    first: usize,
    account: &str,
    state: &AccountState,
    rules: GraceRules,
) -> Result<(), StateError> {
    let [first_subject, last, effective, ..] = text;
    stmt.raw_bind_parameter(first, account)?;
    stmt.raw_bind_parameter(
        first + 1,
        state.first_subject.map(|d| text_into(first_subject, d)),
    )?;
    stmt.raw_bind_parameter(first + 2, state.nights_subject)?;
    stmt.raw_bind_parameter(first + 3, state.clear_nights)?;
    stmt.raw_bind_parameter(first + 4, state.last_status.name())?;
    stmt.raw_bind_parameter(first + 5, text_into(last, state.last_date))?;
    stmt.raw_bind_parameter(
        first + 6,
        state.effective_date(rules).map(|d| text_into(effective, d)),
    )?;
    Ok(())
}

/// The days the run of trading day `date` posts for `account`: every
/// calendar day from the account's latest trading-day night before `date`
/// (or, without one, its first night) up to `date − 1`, each priced by the
/// latest night on or before it. A day is posted when that night was subject
/// with a positive fee and the day is on or after the episode's effective
/// date (the grace week is never charged); it is [`Basis::Estimated`] when a
/// trading day lies after the pricing night and on or before the day (that
/// trading day's run is missing). `nights` are the account's nights from
/// that latest trading-day night on, oldest first (as [`Run::prior`] reads
/// them).
fn accrue(
    account: &str,
    date: NaiveDate,
    calendar: &TradingCalendar,
    nights: &[Priced],
) -> Vec<LedgerRow> {
    let mut out = Vec::new();
    let Some(first) = nights.first() else {
        return out;
    };
    let mut day = first.date;
    let mut pricing = 0;
    while day < date {
        while pricing + 1 < nights.len() && nights[pricing + 1].date <= day {
            pricing += 1;
        }
        let night = &nights[pricing];
        let past_grace = night.effective.is_some_and(|effective| day >= effective);
        if night.subject && past_grace && night.accrues > Decimal::ZERO {
            let estimated = calendar
                .next_trading_day(night.date)
                .is_some_and(|next| next <= day);
            out.push(LedgerRow {
                account: account.to_string(),
                currency: night.currency,
                day,
                measured_on: night.date,
                posted_on: date,
                amount: night.accrues,
                basis: match (estimated, night.basis) {
                    (true, _) => Basis::Estimated,
                    (false, ChargedFee::Exposure) => Basis::Exposure,
                    (false, ChargedFee::Inventory) => Basis::Inventory,
                },
            });
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    out
}

/// A stored `basis` of the `nights` table.
fn parse_basis(account: &str, text: &str) -> Result<ChargedFee, StateError> {
    match text {
        "exposure" => Ok(ChargedFee::Exposure),
        "inventory" => Ok(ChargedFee::Inventory),
        other => Err(StateError::Corrupt {
            table: "nights",
            account: account.to_string(),
            column: "basis",
            value: other.to_string(),
        }),
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

/// The statement that sets an account's `accounts` summary.
const SUMMARY_SQL: &str = "INSERT OR REPLACE INTO accounts (account, first_subject, \
     nights_subject, clear_nights, last_status, last_date, effective_date) VALUES (?1, ?2, ?3, ?4, \
     ?5, ?6, ?7)";

/// [`SUMMARY_SQL`] up to its `VALUES`, for [`Writer`]'s multi-row form.
const SUMMARY_HEAD: &str = "INSERT OR REPLACE INTO accounts (account, first_subject, \
     nights_subject, clear_nights, last_status, last_date, effective_date) VALUES ";

fn write_summary(
    conn: &Connection,
    account: &str,
    state: &AccountState,
    rules: GraceRules,
) -> Result<(), StateError> {
    conn.prepare_cached(SUMMARY_SQL)?.execute(params![
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

/// The answer of an `EXISTS` query on the run's date, asked once per run
/// and kept in `cache` for the rest of the run.
fn exists_once(
    cache: &mut Option<bool>,
    tx: &Transaction<'_>,
    sql: &str,
    date: &str,
) -> Result<bool, StateError> {
    if let Some(known) = *cache {
        return Ok(known);
    }
    let found: bool = tx
        .prepare_cached(sql)?
        .query_row(params![date], |row| row.get(0))?;
    Ok(*cache.insert(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn night(status: FeeStatus) -> NightRecord {
        NightRecord {
            status,
            uncovered: Decimal::from(10),
            measure: Decimal::from(110),
            daily_fee: Decimal::from(2),
            accrues: Decimal::ZERO,
            basis: ChargedFee::Exposure,
            effective_date: None,
            currency: Currency::USD,
        }
    }

    fn reason(result: Result<(), StateError>) -> String {
        match result {
            Err(StateError::InvalidRecord { account, reason }) => format!("{account}: {reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_record_is_checked_before_any_state_is_read() {
        assert!(check_record("U1", &night(FeeStatus::Charged)).is_ok());
        assert_eq!(
            reason(check_record("", &night(FeeStatus::Clear))),
            ": empty account id"
        );
        let negative = NightRecord {
            daily_fee: Decimal::new(-1, 2),
            ..night(FeeStatus::Charged)
        };
        assert_eq!(
            reason(check_record("U1", &negative)),
            "U1: daily_fee is negative (-0.01)"
        );
        let accruing = NightRecord {
            accrues: Decimal::from(3),
            ..night(FeeStatus::Clear)
        };
        assert_eq!(
            reason(check_record("U1", &accruing)),
            "U1: accrues 3 on a clear night"
        );
        // a charged night may accrue
        let charged = NightRecord {
            accrues: Decimal::from(3),
            ..night(FeeStatus::Charged)
        };
        assert!(check_record("U1", &charged).is_ok());
    }
}
