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
            nav_latest: vec![None; accounts.len()],
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
            &dates,
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
    /// Each account's latest dated NAV total, before rows of earlier dates
    /// are left out: its date and where it is.
    nav_latest: Vec<Option<(NaiveDate, Spot)>>,
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
        for (nav, date) in self.navs.iter().zip(&navs) {
            if let (Some((_, spot)), Some(Some(date))) = (nav.total, date) {
                let slot = &mut dates.nav_latest[nav.account];
                if slot.is_none_or(|(latest, _)| *date > latest) {
                    *slot = Some((*date, spot));
                }
            }
        }
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
/// of the account is dated; two totals fail the account. An account whose
/// NAV rows are all of an earlier date than its latest row fails: it has a
/// broker NAV, but none of the date its figures are for, so it could not
/// be reconciled (never `no_broker_nav`).
fn flex_accounts(
    files: &[String],
    accounts: &mut [AccountInput],
    dates: &Dates<'_>,
    statement_date: &[Option<NaiveDate>],
    navs: &[NavRow],
) -> Vec<FlexAccount> {
    let latest = &dates.latest;
    let mut flex_accounts: Vec<FlexAccount> = latest
        .iter()
        .zip(statement_date)
        .map(|(latest, statement)| FlexAccount {
            report_date: latest.or(*statement),
            broker_nav: None,
            earlier_nav: None,
        })
        .collect();
    let mut dated: Vec<bool> = dates.nav_latest.iter().map(Option::is_some).collect();
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
    for (index, flex) in flex_accounts.iter_mut().enumerate() {
        if let (None, Some((nav_date, spot)), Some(latest)) =
            (&flex.broker_nav, dates.nav_latest[index], latest[index])
        {
            flex.earlier_nav = Some(nav_date);
            accounts[index].errors.push(InputError::at(
                spot.at(files),
                format!(
                    "the broker's NAV of account {} is of {nav_date}, but the account's \
                     latest ReportDate is {latest} (only rows of {latest} are read): no \
                     NAV of {latest} to reconcile with; give a report of one date, or one \
                     whose NAV section covers {latest}",
                    accounts[index].id
                ),
            ));
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

#[cfg(test)]
mod tests {
    use exfee_model::Decimal;

    use super::*;
    use crate::flex::test_accounts as accounts;

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).unwrap()
    }

    fn spot(line: u64, column: Option<(usize, &'static str)>) -> Spot {
        Spot {
            file: 0,
            line,
            column,
        }
    }

    fn field(date: NaiveDate, day_first: Option<NaiveDate>, line: u64) -> DateField {
        DateField {
            date,
            day_first,
            location: spot(line, Some((1, "ReportDate"))),
        }
    }

    fn cash(account: usize, currency: &str, amount: i64, line: u64) -> CashRow {
        CashRow {
            account,
            balance: CashBalance {
                currency: currency.parse().unwrap(),
                amount: Decimal::from(amount),
            },
            location: spot(line, Some((2, "CurrencyPrimary"))),
            date: None,
        }
    }

    /// U1 has rows of Nov 19 and 20 and an undated one: the Nov 20 and the
    /// undated rows stay. U2's only date, Nov 18, is its latest. A date that
    /// reads both ways in a file that proves no order drops its row and
    /// fails its account.
    #[test]
    fn only_each_accounts_latest_rows_are_kept() {
        let files = vec!["c.csv".to_string()];
        let orders = vec![DateOrder::default()];
        let mut accounts = accounts(2);
        let mut rows = vec![
            cash(0, "USD", 1, 2),
            cash(0, "USD", 2, 3),
            cash(0, "EUR", 3, 4),
            cash(1, "USD", 4, 5),
            cash(1, "EUR", 5, 6),
        ];
        rows[0].date = Some(field(day(11, 19), None, 2));
        rows[1].date = Some(field(day(11, 20), None, 3));
        rows[3].date = Some(field(day(11, 18), None, 5));
        rows[4].date = Some(field(day(3, 1), Some(day(1, 3)), 6));
        let mut dates = Dates {
            files: &files,
            orders: &orders,
            latest: vec![None; 2],
            nav_latest: vec![None; 2],
        };
        let resolved = dates.of(&rows, &mut accounts, true);
        assert_eq!(dates.latest, [Some(day(11, 20)), Some(day(11, 18))]);
        let kept: Vec<i64> = dates
            .keep_latest(rows, &resolved)
            .iter()
            .map(|r| r.balance.amount.try_into().unwrap())
            .collect();
        assert_eq!(kept, [2, 3, 4]);
        assert!(accounts[0].errors.is_empty());
        assert_eq!(accounts[1].errors.len(), 1);
        assert!(
            accounts[1].errors[0]
                .to_string()
                .starts_with("c.csv line 6 column 1 (ReportDate): ambiguous date format: "),
            "{}",
            accounts[1].errors[0]
        );
    }

    /// U1: USD twice (the second is an error) and a base summary, ignored
    /// since it has rows per currency. U2: only its summary, 700 in its base.
    #[test]
    fn cash_rows_count_once_and_the_summary_only_without_them() {
        let files = vec!["c.csv".to_string()];
        let mut market = MarketData::default();
        market.fx.insert(Currency::USD, Ok(Decimal::ONE));
        let fx = FxCheck {
            market: &market,
            files: &files,
        };
        let mut accounts = accounts(2);
        for account in &mut accounts {
            account.base_currency = Some(Currency::USD);
        }
        let bases = vec![Some((Currency::USD, spot(1, None))); 2];
        let rows = [cash(0, "USD", 100, 2), cash(0, "USD", 200, 3)];
        let summary = |account: usize, amount: i64, line: u64| BaseCashRow {
            account,
            amount: Decimal::from(amount),
            location: spot(line, Some((4, "EndingCash"))),
            date: None,
        };
        let base_cash = [summary(0, 999, 4), summary(1, 700, 5)];
        place_cash(&fx, &mut accounts, &bases, &rows, &base_cash);
        let amounts =
            |i: usize| -> Vec<Decimal> { accounts[i].cash.iter().map(|c| c.amount).collect() };
        assert_eq!(amounts(0), [Decimal::from(100)]);
        assert_eq!(amounts(1), [Decimal::from(700)]);
        assert_eq!(
            accounts[0].errors[0].to_string(),
            "c.csv line 3 column 2 (CurrencyPrimary): second cash-report row for USD (first at \
             c.csv line 2 column 2 (CurrencyPrimary)); exfee never counts cash twice"
        );
    }
}
