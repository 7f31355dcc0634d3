//! Helpers shared by the state tests: a nightly run as the CLI would do it,
//! and a dump of every table.

#![allow(dead_code)]

use chrono::NaiveDate;
use exfee_fee::{ChargedFee, FeeSchedule, FeeStatus, TradingCalendar, daily_fee, next_state};
use exfee_model::Currency;
use exfee_state::{NightRecord, Run, StateDb};
use rust_decimal::Decimal;
use std::path::Path;

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// Decides and records one account's night in `run` the way the nightly
/// command does: state → status → fee → record (which posts). Returns the
/// status and the amount posted.
pub fn record_account(
    run: &mut Run<'_>,
    schedule: &FeeSchedule,
    account: &str,
    uncovered: Decimal,
) -> (FeeStatus, Decimal) {
    let fee = daily_fee(schedule, uncovered, Decimal::ONE).unwrap();
    let previous = run.previous_state(account).unwrap();
    let (_, status) = next_state(previous.as_ref(), run.date(), fee.subject, schedule.grace);
    let recorded = run
        .record(
            account,
            &NightRecord {
                status,
                uncovered: fee.uncovered,
                measure: uncovered + Decimal::from(100_000),
                daily_fee: fee.daily_fee,
                accrues: if fee.subject {
                    fee.daily_fee
                } else {
                    Decimal::ZERO
                },
                basis: ChargedFee::Exposure,
                effective_date: None,
                currency: Currency::USD,
            },
        )
        .unwrap();
    (status, recorded.amount_posted())
}

/// One committed nightly run over `accounts` (account, uncovered), weekends
/// as the only holidays.
pub fn night(
    db: &mut StateDb,
    date: NaiveDate,
    accounts: &[(&str, &str)],
) -> Vec<(FeeStatus, Decimal)> {
    night_with(db, date, accounts, &TradingCalendar::default())
}

/// [`night`] with a calendar.
pub fn night_with(
    db: &mut StateDb,
    date: NaiveDate,
    accounts: &[(&str, &str)],
    calendar: &TradingCalendar,
) -> Vec<(FeeStatus, Decimal)> {
    let schedule = FeeSchedule::default();
    let mut run = db.begin_run(date, schedule.grace, calendar).unwrap();
    let out = accounts
        .iter()
        .map(|(account, uncovered)| record_account(&mut run, &schedule, account, dec(uncovered)))
        .collect();
    run.commit().unwrap();
    out
}

/// Every row of every table, as text, plus the schema version: equal dumps
/// mean equal databases.
pub fn dump(path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    let mut out = vec![format!("user_version={version}")];
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |row| {
                let cells: Vec<String> = (0..columns)
                    .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                    .collect();
                Ok(format!("{table}: {}", cells.join(" | ")))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.sort();
        out.push(format!("table {table}: {} rows", rows.len()));
        out.extend(rows);
    }
    out
}
