//! The rules that need every file: sections, dates, base currencies, FX
//! rates, lots and summaries, and the FX check of every currency used.

use std::collections::HashMap;

use chrono::NaiveDate;
use exfee_model::{
    AccountInput, Batch, CashBalance, Currency, InputError, MarketData, MarketError,
};

use super::dates::{DateField, DateOrder, resolve_date};
use super::fx::{base_currencies, fill_conversions, merge_fx};
use super::instrument::set_expiry;
use super::lots::reconcile_lots;
use super::{
    BaseCashRow, BrokerNav, CashRow, ConversionRow, FlexAccount, FlexRead, FlexReader, NavRow,
    PositionRow, RateRow, Spot, Statement,
};
use crate::IoError;

impl FlexReader {
    /// Applies the rules that need every file: sections, dates, base
    /// currencies, FX rates, lots and summaries, and the FX check of every
    /// currency used.
    pub(super) fn finish(mut self, mut market: MarketData) -> Result<FlexRead, IoError> {
        for (id, date) in std::mem::take(&mut self.bof_dates) {
            if let Some(&account) = self.index.get(&id) {
                self.statement_dates.push((account, date));
            }
        }
        let FlexReader {
            files,
            mut accounts,
            positions,
            cash,
            rates,
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

        let mut dates = Dates {
            files: &files,
            orders: &orders,
            latest: vec![None; accounts.len()],
        };
        let records = Records {
            positions,
            cash,
            base_cash,
            navs,
            rates,
            conversions,
        };
        let mut records = records.latest_only(&mut dates, &mut accounts);
        let statement_date = dates.of_statements(&statement_dates, accounts.len());

        let bases = base_currencies(&files, &mut accounts, &records.rates, &records.navs);
        fill_conversions(&bases, &records.conversions, &mut records.rates);
        merge_fx(&files, &mut market, &bases, &records.rates);

        let flex_accounts = flex_accounts(
            &files,
            &mut accounts,
            &dates.latest,
            &statement_date,
            &records.navs,
        );
        let report_date = flex_accounts.iter().filter_map(|a| a.report_date).max();

        let fx = FxCheck {
            market: &market,
            files: &files,
        };
        for (account, base) in accounts.iter_mut().zip(&bases) {
            if let Some((currency, spot)) = base {
                match fx.error(*currency, *spot) {
                    None => account.base_currency = Some(*currency),
                    Some(e) => account.errors.push(e),
                }
            }
        }
        for (first, position) in reconcile_lots(&files, &mut accounts, &records.positions) {
            match fx.error(position.instrument.currency, first.currency) {
                None => accounts[first.account].positions.push(position),
                Some(e) => accounts[first.account].errors.push(e),
            }
        }
        place_cash(
            &fx,
            &mut accounts,
            &bases,
            &records.cash,
            &records.base_cash,
        );

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

/// A record of one account that may carry a date (`ReportDate`).
trait Dated {
    fn account(&self) -> usize;
    fn date(&self) -> Option<&DateField>;
}

macro_rules! dated {
    ($($record:ty),*) => {
        $(impl Dated for $record {
            fn account(&self) -> usize {
                self.account
            }
            fn date(&self) -> Option<&DateField> {
                self.date.as_ref()
            }
        })*
    };
}

dated!(
    PositionRow,
    CashRow,
    BaseCashRow,
    NavRow,
    RateRow,
    ConversionRow
);

/// A record's date as resolved: `None` when it does not resolve (the record
/// is dropped), `Some(None)` when the record has no date.
type Resolved = Option<Option<NaiveDate>>;

/// Resolves dates with their file's date order, keeping each account's
/// latest.
struct Dates<'a> {
    files: &'a [String],
    orders: &'a [DateOrder],
    /// Each account's latest row date.
    latest: Vec<Option<NaiveDate>>,
}

impl Dates<'_> {
    /// The date of `account`'s `field`; a date that does not resolve is an
    /// error of the account. A date that `counts` may be the account's
    /// latest.
    fn resolve(
        &mut self,
        field: Option<&DateField>,
        account: usize,
        accounts: &mut [AccountInput],
        counts: bool,
    ) -> Resolved {
        match field
            .map(|f| resolve_date(f, self.orders, self.files))
            .transpose()
        {
            Ok(date) => {
                if counts && let Some(date) = date {
                    let slot = &mut self.latest[account];
                    *slot = Some(slot.map_or(date, |l: NaiveDate| l.max(date)));
                }
                Some(date)
            }
            Err(e) => {
                accounts[account].errors.push(e);
                None
            }
        }
    }

    /// The dates of `rows`, in order.
    fn of<T: Dated>(
        &mut self,
        rows: &[T],
        accounts: &mut [AccountInput],
        counts: bool,
    ) -> Vec<Resolved> {
        rows.iter()
            .map(|r| self.resolve(r.date(), r.account(), accounts, counts))
            .collect()
    }

    /// The dates of the position rows, whose expiry is resolved (and set)
    /// first: a row whose expiry does not resolve is dropped.
    fn of_positions(
        &mut self,
        positions: &mut [PositionRow],
        accounts: &mut [AccountInput],
    ) -> Vec<Resolved> {
        let mut dates = Vec::with_capacity(positions.len());
        for row in positions {
            let mut ok = true;
            if let Some(expiry) = &row.expiry {
                match resolve_date(expiry, self.orders, self.files) {
                    Ok(date) => set_expiry(&mut row.position.instrument.kind, date),
                    Err(e) => {
                        accounts[row.account].errors.push(e);
                        ok = false;
                    }
                }
            }
            let date = self.resolve(row.date.as_ref(), row.account, accounts, true);
            dates.push(date.filter(|_| ok));
        }
        dates
    }

    /// Each account's latest statement date (`toDate`). A statement date
    /// that reads both ways is left unknown: no row needs it.
    fn of_statements(
        &self,
        statement_dates: &[(usize, DateField)],
        accounts: usize,
    ) -> Vec<Option<NaiveDate>> {
        let mut latest: Vec<Option<NaiveDate>> = vec![None; accounts];
        for (account, field) in statement_dates {
            if let Ok(date) = resolve_date(field, self.orders, self.files) {
                let slot = &mut latest[*account];
                *slot = Some(slot.map_or(date, |l: NaiveDate| l.max(date)));
            }
        }
        latest
    }

    /// The rows whose date resolved and is their account's latest (or who
    /// have none), in order.
    fn keep_latest<T: Dated>(&self, rows: Vec<T>, dates: &[Resolved]) -> Vec<T> {
        rows.into_iter()
            .zip(dates)
            .filter(|(row, date)| match date {
                None => false,
                Some(None) => true,
                Some(Some(date)) => self.latest[row.account()].is_none_or(|l| l == *date),
            })
            .map(|(row, _)| row)
            .collect()
    }
}

/// The dated records of every file.
struct Records {
    positions: Vec<PositionRow>,
    cash: Vec<CashRow>,
    base_cash: Vec<BaseCashRow>,
    navs: Vec<NavRow>,
    rates: Vec<RateRow>,
    conversions: Vec<ConversionRow>,
}

impl Records {
    /// Dates: each row's, resolved with its file's date order; each
    /// account's latest; rows of earlier dates dropped. FX and conversion
    /// rates follow the latest date but do not set it.
    fn latest_only(mut self, dates: &mut Dates<'_>, accounts: &mut [AccountInput]) -> Records {
        let positions = dates.of_positions(&mut self.positions, accounts);
        let cash = dates.of(&self.cash, accounts, true);
        let base_cash = dates.of(&self.base_cash, accounts, true);
        let navs = dates.of(&self.navs, accounts, true);
        let rates = dates.of(&self.rates, accounts, false);
        let conversions = dates.of(&self.conversions, accounts, false);
        Records {
            positions: dates.keep_latest(self.positions, &positions),
            cash: dates.keep_latest(self.cash, &cash),
            base_cash: dates.keep_latest(self.base_cash, &base_cash),
            navs: dates.keep_latest(self.navs, &navs),
            rates: dates.keep_latest(self.rates, &rates),
            conversions: dates.keep_latest(self.conversions, &conversions),
        }
    }
}

/// What the reports say of each account beyond its holdings: its date
/// (latest row date, else statement date) and the broker's NAV of that date.
/// Undated NAV rows (`MULTI`, a summary over dates) count only when no row
/// of the account is dated; two totals fail the account.
fn flex_accounts(
    files: &[String],
    accounts: &mut [AccountInput],
    latest: &[Option<NaiveDate>],
    statement_date: &[Option<NaiveDate>],
    navs: &[NavRow],
) -> Vec<FlexAccount> {
    let mut flex_accounts: Vec<FlexAccount> = latest
        .iter()
        .zip(statement_date)
        .map(|(latest, statement)| FlexAccount {
            report_date: latest.or(*statement),
            broker_nav: None,
        })
        .collect();
    let mut dated = vec![false; accounts.len()];
    for nav in navs {
        dated[nav.account] |= nav.total.is_some() && nav.date.is_some();
    }
    for nav in navs {
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
                    location: spot.at(files),
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
                    .push(InputError::at(spot.at(files), reason));
            }
            Some(_) => {}
        }
    }
    flex_accounts
}

/// The check that a currency used has a USD rate once the files' rates are
/// merged.
struct FxCheck<'a> {
    market: &'a MarketData,
    files: &'a [String],
}

impl FxCheck<'_> {
    /// The error, at `spot`, of a currency without a usable rate.
    fn error(&self, currency: Currency, spot: Spot) -> Option<InputError> {
        let error = match self.market.usd_per_unit(currency) {
            Ok(_) => return None,
            Err(MarketError::NoFxRate(c)) => format!(
                "unknown currency {c}: no FXRateToBase in the Flex files gives its rate and \
                 the market folder's fx.csv has none"
            ),
            Err(e) => e.to_string(),
        };
        Some(InputError::at(spot.at(self.files), error))
    }
}

/// The cash of each account: its rows per currency (a second row for a
/// currency fails the account), else its base-currency summary.
fn place_cash(
    fx: &FxCheck<'_>,
    accounts: &mut [AccountInput],
    bases: &[Option<(Currency, Spot)>],
    cash: &[CashRow],
    base_cash: &[BaseCashRow],
) {
    let files = fx.files;
    let mut seen: HashMap<(usize, Currency), Spot> = HashMap::new();
    let mut has_cash_rows = vec![false; accounts.len()];
    for row in cash {
        has_cash_rows[row.account] = true;
        let account = &mut accounts[row.account];
        let key = (row.account, row.balance.currency);
        if let Some(first) = seen.get(&key) {
            account.errors.push(InputError::at(
                row.location.at(files),
                format!(
                    "second cash-report row for {} (first at {}); exfee never counts cash \
                     twice",
                    row.balance.currency,
                    first.at(files)
                ),
            ));
            continue;
        }
        seen.insert(key, row.location);
        match fx.error(row.balance.currency, row.location) {
            None => account.cash.push(row.balance.clone()),
            Some(e) => account.errors.push(e),
        }
    }

    // The base-currency summary, for an account without a row per
    // currency: its cash, in the base currency.
    let mut summary_seen: HashMap<usize, Spot> = HashMap::new();
    for row in base_cash {
        if has_cash_rows[row.account] {
            continue;
        }
        let account = &mut accounts[row.account];
        if let Some(first) = summary_seen.get(&row.account) {
            account.errors.push(InputError::at(
                row.location.at(files),
                format!(
                    "second BASE_SUMMARY cash row (first at {}); exfee never counts cash \
                     twice",
                    first.at(files)
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
