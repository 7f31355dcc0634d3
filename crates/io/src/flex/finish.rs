//! The rules that need every file: sections, dates, base currencies, FX
//! rates, lots and summaries, and the FX check of every currency used.

use std::collections::HashMap;

use chrono::NaiveDate;
use exfee_model::{
    AccountInput, Batch, CashBalance, Currency, InputError, MarketData, MarketError,
};

use super::dates::resolve_date;
use super::fx::{base_currencies, merge_fx};
use super::instrument::set_expiry;
use super::lots::reconcile_lots;
use super::{
    BaseCashRow, BrokerNav, CashRow, ConversionRow, DateField, FlexAccount, FlexRead, FlexReader,
    NavRow, PositionRow, RateRow, Spot, Statement,
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
