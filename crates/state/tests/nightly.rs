//! Nightly runs against a real state file: grace, charges, re-runs,
//! rollback.

mod common;

use common::{day, dec, dump, night, record_account};
use exfee_fee::{FeeSchedule, FeeStatus, GraceRules, TradingCalendar, next_state};
use exfee_model::Currency;
use exfee_state::{Basis, NightRecord, StateDb, StateError};
use rust_decimal::Decimal;

fn open() -> (tempfile::TempDir, StateDb) {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(dir.path().join("state.sqlite")).unwrap();
    (dir, db)
}

// March 2026: Mon 2, Tue 3, Wed 4, Thu 5, Fri 6, Sat 7, Sun 8, Mon 9, Tue 10.

#[test]
fn night_one_is_grace_and_night_eight_is_charged() {
    // a run every calendar day, the account subject every night (250,000
    // uncovered: 54.79 a day at the default schedule)
    let (_dir, mut db) = open();
    for (i, d) in (2..=8).enumerate() {
        let out = night(&mut db, day(2026, 3, d), &[("U1", "250000")]);
        assert_eq!(
            out[0],
            (
                FeeStatus::Grace {
                    effective: day(2026, 3, 9)
                },
                dec("0")
            ),
            "night {}",
            i + 1
        );
        assert!(db.ledger("U1").unwrap().is_empty());
    }
    // night 8 = D + 7, a Monday: charged from today; it posts Friday,
    // Saturday and Sunday, which are all in the grace week: nothing
    let out = night(&mut db, day(2026, 3, 9), &[("U1", "250000")]);
    assert_eq!(out[0], (FeeStatus::Charged, dec("0")));
    assert!(db.ledger("U1").unwrap().is_empty());

    let summary = db.summary("U1").unwrap().unwrap();
    assert_eq!(summary.first_subject, Some(day(2026, 3, 2)));
    assert_eq!(summary.nights_subject, 8);
    assert_eq!(summary.last_status, FeeStatus::Charged);
    assert_eq!(summary.last_date, day(2026, 3, 9));

    // Tuesday posts Monday, priced by Monday's run
    let out = night(&mut db, day(2026, 3, 10), &[("U1", "250000")]);
    assert_eq!(out[0], (FeeStatus::Charged, dec("54.79")));
    let ledger = db.ledger("U1").unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].day, day(2026, 3, 9));
    assert_eq!(ledger[0].measured_on, day(2026, 3, 9));
    assert_eq!(ledger[0].posted_on, day(2026, 3, 10));
    assert_eq!(ledger[0].amount, dec("54.79"));
    assert_eq!(ledger[0].basis, Basis::Exposure);
    assert_eq!(ledger[0].currency, Currency::USD);
    assert_eq!(db.total_charged("U1").unwrap(), dec("54.79"));
    assert_eq!(db.latest_date().unwrap(), Some(day(2026, 3, 10)));
}

#[test]
fn trading_day_runs_charge_from_the_effective_day() {
    let (_dir, mut db) = open();
    let mut statuses = Vec::new();
    for d in [2, 3, 4, 5, 6, 9, 10] {
        statuses.push(night(
            &mut db,
            day(2026, 3, d),
            &[("U1", "250000"), ("U2", "0")],
        ));
    }
    for s in &statuses[..5] {
        assert!(matches!(s[0].0, FeeStatus::Grace { .. }));
        assert_eq!(s[1].0, FeeStatus::Clear);
    }
    // Monday: Fri–Sun are grace days; Tuesday: Monday at 54.79
    assert_eq!(statuses[5][0], (FeeStatus::Charged, dec("0")));
    assert_eq!(statuses[6][0], (FeeStatus::Charged, dec("54.79")));
    assert_eq!(db.summary("U1").unwrap().unwrap().nights_subject, 7);
    assert_eq!(db.summary("U2").unwrap().unwrap().clear_nights, 5);
    assert!(db.ledger("U2").unwrap().is_empty());
}

#[test]
fn a_weekend_is_priced_by_fridays_run_and_a_missed_run_is_estimated() {
    // grace 0: charged from the first night. Fri 6: 250,000 (54.79);
    // deposit over the weekend: Mon 9 clear. Monday still posts Fri, Sat,
    // Sun at Friday's 54.79. Tue 10 not run; Wed 11 posts Mon (clear: no
    // row) and Tue (priced by Monday's clear run: no row).
    let (_dir, mut db) = open();
    let rules = GraceRules {
        grace_days: 0,
        reset_after_clear_nights: 5,
    };
    let schedule = FeeSchedule {
        grace: rules,
        ..FeeSchedule::default()
    };
    let calendar = TradingCalendar::default();
    let mut posted = Vec::new();
    for (d, uncovered) in [
        (5, "250000"),
        (6, "250000"),
        (9, "0"),
        (11, "100000"),
        (13, "0"),
    ] {
        let mut run = db.begin_run(day(2026, 3, d), rules, &calendar).unwrap();
        posted.push(common::record_account(&mut run, &schedule, "U1", dec(uncovered)).1);
        run.commit().unwrap();
    }
    // Fri 6 posts Thu 5 (54.79); Mon 9 posts Fri–Sun (3 × 54.79 = 164.37);
    // Wed 11 posts nothing (Mon clear, Tue priced by Monday's clear run);
    // Fri 13 posts Wed 11 (13.70, 100,000 × 5 % / 365) and Thu 12, priced by
    // Wednesday's run although Thursday's is missing: estimated (13.70).
    assert_eq!(
        posted,
        vec![
            dec("0"),
            dec("54.79"),
            dec("164.37"),
            dec("0"),
            dec("27.40")
        ]
    );
    let ledger = db.ledger("U1").unwrap();
    let days: Vec<(u32, u32, u32, &str, Basis)> = ledger
        .iter()
        .map(|r| {
            (
                chrono::Datelike::day(&r.day),
                chrono::Datelike::day(&r.measured_on),
                chrono::Datelike::day(&r.posted_on),
                "",
                r.basis,
            )
        })
        .collect();
    assert_eq!(
        days,
        vec![
            (5, 5, 6, "", Basis::Exposure),
            (6, 6, 9, "", Basis::Exposure),
            (7, 6, 9, "", Basis::Exposure),
            (8, 6, 9, "", Basis::Exposure),
            (11, 11, 13, "", Basis::Exposure),
            (12, 11, 13, "", Basis::Estimated),
        ]
    );
    assert_eq!(db.total_charged("U1").unwrap(), dec("246.56"));
}

#[test]
fn rerunning_a_date_charges_once() {
    let (_dir, mut db) = open();
    for d in [2, 3, 4, 5, 6, 9, 10] {
        night(&mut db, day(2026, 3, d), &[("U1", "250000")]);
    }
    let ledger = db.ledger("U1").unwrap();
    let total = db.total_charged("U1").unwrap();
    let nights = db.nights("U1").unwrap();
    let summary = db.summary("U1").unwrap();
    assert_eq!(total, dec("54.79"));

    // the same night again: nothing changes
    let calendar = TradingCalendar::default();
    let previous_first = {
        let run = db
            .begin_run(day(2026, 3, 10), GraceRules::default(), &calendar)
            .unwrap();
        run.previous_state("U1").unwrap()
    };
    night(&mut db, day(2026, 3, 10), &[("U1", "250000")]);
    assert_eq!(db.ledger("U1").unwrap(), ledger);
    assert_eq!(db.total_charged("U1").unwrap(), total);
    assert_eq!(db.nights("U1").unwrap(), nights);
    assert_eq!(db.summary("U1").unwrap(), summary);
    let previous_again = {
        let run = db
            .begin_run(day(2026, 3, 10), GraceRules::default(), &calendar)
            .unwrap();
        run.previous_state("U1").unwrap()
    };
    assert_eq!(previous_first, previous_again);

    // Monday re-run with other figures, then Tuesday again: still one row
    // for Monday, at the new measurement (178.08)
    night(&mut db, day(2026, 3, 9), &[("U1", "600000")]);
    night(&mut db, day(2026, 3, 10), &[("U1", "600000")]);
    let ledger = db.ledger("U1").unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].amount, dec("178.08"));
    assert_eq!(db.total_charged("U1").unwrap(), dec("178.08"));

    // Monday re-run finding the account clear, then Tuesday: the charge is gone
    let out = night(&mut db, day(2026, 3, 9), &[("U1", "0")]);
    assert_eq!(out[0].0, FeeStatus::Clear);
    night(&mut db, day(2026, 3, 10), &[("U1", "0")]);
    assert!(db.ledger("U1").unwrap().is_empty());
    assert_eq!(db.total_charged("U1").unwrap(), dec("0"));
    assert_eq!(db.nights("U1").unwrap().len(), 7);
}

#[test]
fn a_dropped_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let mut db = StateDb::open(&path).unwrap();
    for d in [2, 3, 4, 5, 6] {
        night(
            &mut db,
            day(2026, 3, d),
            &[("U1", "250000"), ("U2", "1000")],
        );
    }
    let before = dump(&path);

    let schedule = FeeSchedule::default();
    {
        let mut run = db
            .begin_run(day(2026, 3, 9), schedule.grace, &TradingCalendar::default())
            .unwrap();
        record_account(&mut run, &schedule, "U1", dec("250000")); // a charge
        record_account(&mut run, &schedule, "U2", dec("0"));
        record_account(&mut run, &schedule, "U3", dec("90000")); // a new account
        // a failing record part-way
        let bad = NightRecord {
            status: FeeStatus::Charged,
            uncovered: dec("1"),
            measure: dec("1"),
            daily_fee: dec("1"),
            accrues: Decimal::ZERO,
            basis: exfee_fee::ChargedFee::Exposure,
            effective_date: None,
            currency: Currency::USD,
        };
        assert!(matches!(
            run.record("U4", &bad),
            Err(StateError::StatusMismatch { .. })
        ));
        // dropped here without commit
    }
    assert_eq!(dump(&path), before);

    // re-running the same date over a half-done run of it: also nothing left of the dropped one
    {
        let mut run = db
            .begin_run(day(2026, 3, 6), schedule.grace, &TradingCalendar::default())
            .unwrap();
        record_account(&mut run, &schedule, "U1", dec("999999"));
    }
    assert_eq!(dump(&path), before);
    drop(db);
    assert_eq!(dump(&path), before);
}

#[test]
fn five_clear_nights_start_over_four_do_not() {
    let (_dir, mut db) = open();
    // U1: subject Mon 2, clear Tue 3 … Fri 6 (4 nights), subject Mon 9: charged (same episode)
    // U2: subject Mon 2, clear Tue 3 … Mon 9 (5 nights), subject Tue 10: grace again
    night(
        &mut db,
        day(2026, 3, 2),
        &[("U1", "250000"), ("U2", "250000")],
    );
    for d in [3, 4, 5, 6] {
        night(&mut db, day(2026, 3, d), &[("U1", "0"), ("U2", "0")]);
    }
    let out = night(&mut db, day(2026, 3, 9), &[("U1", "250000"), ("U2", "0")]);
    assert_eq!(out[0].0, FeeStatus::Charged);
    assert_eq!(out[1].0, FeeStatus::Clear);
    let u2 = db.summary("U2").unwrap().unwrap();
    assert_eq!(
        (u2.first_subject, u2.nights_subject, u2.clear_nights),
        (None, 0, 5)
    );
    let out = night(&mut db, day(2026, 3, 10), &[("U2", "250000")]);
    assert_eq!(
        out[0],
        (
            FeeStatus::Grace {
                effective: day(2026, 3, 17)
            },
            dec("0")
        )
    );
    assert!(db.ledger("U2").unwrap().is_empty());
}

/// A tiny deterministic generator, so the test needs no dependency.
fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

#[test]
fn previous_state_equals_replaying_every_night() {
    // Random subject/clear histories; the database's state (which reads only
    // back to the last start-over) must equal the pure machine over the
    // whole history, on every night.
    for rules in [
        GraceRules::default(),
        GraceRules {
            grace_days: 2,
            reset_after_clear_nights: 1,
        },
        GraceRules {
            grace_days: 10,
            reset_after_clear_nights: 3,
        },
    ] {
        let (_dir, mut db) = open();
        let accounts = ["A", "B", "C"];
        let mut seed = 42 + u64::from(rules.grace_days);
        let mut pure: Vec<Option<exfee_fee::AccountState>> = vec![None; accounts.len()];
        let mut date = day(2026, 1, 1);
        for _ in 0..80 {
            let mut run = db
                .begin_run(date, rules, &TradingCalendar::default())
                .unwrap();
            for (i, account) in accounts.iter().enumerate() {
                assert_eq!(
                    run.previous_state(account).unwrap(),
                    pure[i],
                    "{account} {date} {rules:?}"
                );
                // mostly runs of the same status, so episodes get long and resets happen
                let subject = lcg(&mut seed) % 10 < if i == 0 { 3 } else { 6 };
                let (state, status) = next_state(pure[i].as_ref(), date, subject, rules);
                let recorded = run
                    .record(
                        account,
                        &NightRecord {
                            status,
                            uncovered: Decimal::ZERO,
                            measure: Decimal::ZERO,
                            daily_fee: Decimal::ZERO,
                            accrues: if status.is_subject() {
                                Decimal::ONE
                            } else {
                                Decimal::ZERO
                            },
                            basis: exfee_fee::ChargedFee::Exposure,
                            effective_date: None,
                            currency: Currency::USD,
                        },
                    )
                    .unwrap();
                assert_eq!(recorded.state, state);
                pure[i] = Some(state);
            }
            run.commit().unwrap();
            for (i, account) in accounts.iter().enumerate() {
                assert_eq!(db.summary(account).unwrap(), pure[i]);
            }
            date = date.succ_opt().unwrap();
            if lcg(&mut seed).is_multiple_of(4) {
                date = date.succ_opt().unwrap(); // a night without a run
            }
        }
    }
}

#[test]
fn money_and_dates_are_stored_as_exact_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let mut db = StateDb::open(&path).unwrap();
    for d in [2, 3, 4, 5, 6, 9, 10] {
        night(&mut db, day(2026, 3, d), &[("U1", "250000.10")]);
    }
    drop(db);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (day_text, measured, posted, amount, kind): (String, String, String, String, String) =
        conn.query_row(
            "SELECT day, measured_on, posted_on, amount, typeof(amount) FROM ledger WHERE account = 'U1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(day_text, "2026-03-09");
    assert_eq!(measured, "2026-03-09");
    assert_eq!(posted, "2026-03-10");
    assert_eq!(amount, "54.79");
    assert_eq!(kind, "text");
    let uncovered: String = conn
        .query_row(
            "SELECT uncovered FROM nights WHERE account = 'U1' AND date = '2026-03-09'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(uncovered, "250000.10");
    let effective: String = conn
        .query_row(
            "SELECT effective_date FROM nights WHERE account = 'U1' AND date = '2026-03-02'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(effective, "2026-03-09");
}

#[test]
fn rerunning_an_earlier_date_keeps_the_summary_at_the_latest_night() {
    let (_dir, mut db) = open();
    for d in [2, 3, 4] {
        night(&mut db, day(2026, 3, d), &[("U1", "250000")]);
    }
    let latest = db.summary("U1").unwrap().unwrap();
    night(&mut db, day(2026, 3, 3), &[("U1", "250000")]);
    assert_eq!(db.summary("U1").unwrap().unwrap(), latest);
    assert_eq!(latest.last_date, day(2026, 3, 4));
    assert_eq!(latest.nights_subject, 3);
}

#[test]
fn bad_records_are_refused_and_leave_nothing() {
    let (_dir, mut db) = open();
    let date = day(2026, 3, 2);
    let mut run = db
        .begin_run(date, GraceRules::default(), &TradingCalendar::default())
        .unwrap();
    let grace = NightRecord {
        status: FeeStatus::Grace {
            effective: day(2026, 3, 9),
        },
        uncovered: dec("250000"),
        measure: dec("330000"),
        daily_fee: dec("54.79"),
        accrues: Decimal::ZERO,
        basis: exfee_fee::ChargedFee::Exposure,
        effective_date: None,
        currency: Currency::USD,
    };
    let cases = [
        ("", grace.clone()),
        (
            "U1",
            NightRecord {
                accrues: dec("-1"),
                ..grace.clone()
            },
        ), // negative accrual
        (
            "U1",
            NightRecord {
                uncovered: dec("-1"),
                ..grace.clone()
            },
        ),
        (
            "U1",
            NightRecord {
                daily_fee: dec("-0.01"),
                ..grace.clone()
            },
        ),
        (
            "U1",
            NightRecord {
                effective_date: Some(day(2026, 3, 10)),
                ..grace.clone()
            },
        ),
    ];
    for (account, record) in cases {
        let err = run.record(account, &record).unwrap_err();
        assert!(matches!(err, StateError::InvalidRecord { .. }), "{err}");
    }
    let wrong_date = NightRecord {
        status: FeeStatus::Grace {
            effective: day(2026, 3, 8),
        },
        ..grace.clone()
    };
    assert!(matches!(
        run.record("U1", &wrong_date),
        Err(StateError::StatusMismatch { .. })
    ));
    // the good one goes through; the run goes on after refusals
    run.record(
        "U1",
        &NightRecord {
            effective_date: Some(day(2026, 3, 9)),
            ..grace
        },
    )
    .unwrap();
    run.commit().unwrap();
    assert_eq!(db.nights("U1").unwrap().len(), 1);
    assert_eq!(db.nights("").unwrap().len(), 0);
}

#[test]
fn dates_outside_the_sortable_range_are_refused() {
    let (_dir, mut db) = open();
    let far = chrono::NaiveDate::from_ymd_opt(10_000, 1, 1).unwrap();
    assert!(matches!(
        db.begin_run(far, GraceRules::default(), &TradingCalendar::default()),
        Err(StateError::DateOutOfRange(_))
    ));
    let early = chrono::NaiveDate::from_ymd_opt(0, 12, 31).unwrap();
    assert!(matches!(
        db.begin_run(early, GraceRules::default(), &TradingCalendar::default()),
        Err(StateError::DateOutOfRange(_))
    ));
}

#[test]
fn mixed_currencies_have_no_single_total() {
    let (_dir, mut db) = open();
    let rules = GraceRules {
        grace_days: 0,
        reset_after_clear_nights: 5,
    };
    for (d, currency) in [(2, "USD"), (3, "EUR"), (4, "EUR")] {
        let mut run = db
            .begin_run(day(2026, 3, d), rules, &TradingCalendar::default())
            .unwrap();
        run.record(
            "U1",
            &NightRecord {
                status: FeeStatus::Charged,
                uncovered: dec("1000"),
                measure: dec("1000"),
                daily_fee: dec("1"),
                accrues: dec("1"),
                basis: exfee_fee::ChargedFee::Exposure,
                effective_date: None,
                currency: currency.parse().unwrap(),
            },
        )
        .unwrap();
        run.commit().unwrap();
    }
    assert_eq!(db.ledger("U1").unwrap().len(), 2);
    assert!(matches!(
        db.total_charged("U1"),
        Err(StateError::MixedCurrencies { .. })
    ));
}

#[test]
fn reopening_keeps_the_data_and_checks_the_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    {
        let mut db = StateDb::open(&path).unwrap();
        for d in [2, 3, 4, 5, 6, 9, 10] {
            night(&mut db, day(2026, 3, d), &[("U1", "250000")]);
        }
    }
    let db = StateDb::open(&path).unwrap();
    assert_eq!(db.total_charged("U1").unwrap(), dec("54.79"));
    drop(db);

    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, exfee_state::SCHEMA_VERSION);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    assert!(matches!(
        StateDb::open(&path),
        Err(StateError::UnsupportedSchema { found: 99, .. })
    ));
}

#[test]
fn a_corrupt_value_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let mut db = StateDb::open(&path).unwrap();
    for d in [2, 3, 4, 5, 6, 9, 10] {
        night(&mut db, day(2026, 3, d), &[("U1", "250000")]);
    }
    drop(db);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE ledger SET amount = 'lots' WHERE account = 'U1'", [])
        .unwrap();
    conn.execute(
        "UPDATE nights SET date = '2026-02-31' WHERE account = 'U1' AND date = '2026-03-02'",
        [],
    )
    .unwrap();
    drop(conn);
    let mut db = StateDb::open(&path).unwrap();
    assert!(matches!(
        db.total_charged("U1"),
        Err(StateError::Corrupt {
            column: "amount",
            ..
        })
    ));
    assert!(matches!(
        db.nights("U1"),
        Err(StateError::Corrupt { column: "date", .. })
    ));
    let run = db
        .begin_run(
            day(2026, 3, 10),
            GraceRules::default(),
            &TradingCalendar::default(),
        )
        .unwrap();
    assert!(run.previous_state("U1").is_err());
}

#[test]
fn a_version_1_file_is_migrated_day_by_day() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE nights (account TEXT NOT NULL, date TEXT NOT NULL,
                 status TEXT NOT NULL CHECK (status IN ('clear', 'grace', 'charged')),
                 measure TEXT NOT NULL, uncovered TEXT NOT NULL, daily_fee TEXT NOT NULL,
                 days_charged INTEGER NOT NULL, amount TEXT NOT NULL, currency TEXT NOT NULL,
                 effective_date TEXT, PRIMARY KEY (account, date)) WITHOUT ROWID;
             CREATE TABLE ledger (account TEXT NOT NULL, date TEXT NOT NULL, uncovered TEXT NOT NULL,
                 daily_fee TEXT NOT NULL, days INTEGER NOT NULL, amount TEXT NOT NULL,
                 currency TEXT NOT NULL, PRIMARY KEY (account, date)) WITHOUT ROWID;
             CREATE TABLE accounts (account TEXT NOT NULL PRIMARY KEY, first_subject TEXT,
                 nights_subject INTEGER NOT NULL, clear_nights INTEGER NOT NULL,
                 last_status TEXT NOT NULL, last_date TEXT NOT NULL, effective_date TEXT) WITHOUT ROWID;
             INSERT INTO nights VALUES ('U1', '2026-03-09', 'charged', '350000', '250000', '54.79', 3, '164.37', 'USD', '2026-03-09');
             INSERT INTO ledger VALUES ('U1', '2026-03-09', '250000', '54.79', 3, '164.37', 'USD');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let db = StateDb::open(&path).unwrap();
    let ledger = db.ledger("U1").unwrap();
    // the Monday charge of 3 days becomes Friday, Saturday and Sunday
    let days: Vec<_> = ledger.iter().map(|r| r.day).collect();
    assert_eq!(
        days,
        vec![day(2026, 3, 6), day(2026, 3, 7), day(2026, 3, 8)]
    );
    assert!(ledger.iter().all(|r| r.amount == dec("54.79")
        && r.posted_on == day(2026, 3, 9)
        && r.basis == Basis::Exposure));
    assert_eq!(db.total_charged("U1").unwrap(), dec("164.37"));
    assert_eq!(db.nights("U1").unwrap()[0].record.accrues, dec("54.79"));
}

#[test]
fn ledger_bounds_beyond_the_text_years_compare_as_dates() {
    // One ledger row: Monday 2026-03-09, posted on the 10th (as in
    // `night_one_is_grace_and_night_eight_is_charged`).
    let (_dir, mut db) = open();
    for d in [2, 3, 4, 5, 6, 9, 10] {
        night(&mut db, day(2026, 3, d), &[("U1", "250000")]);
    }
    let rows = |from, to| db.ledger_rows(from, to, None).unwrap().len();
    let far = day(10_000, 1, 1);
    let before_christ = day(-1, 1, 1);
    assert_eq!(rows(None, None), 1);
    // "+10000-01-01" sorts before "2026-03-09" as text, not as a date
    assert_eq!(rows(Some(far), None), 0);
    assert_eq!(rows(None, Some(far)), 1);
    assert_eq!(rows(Some(before_christ), None), 1);
    assert_eq!(rows(None, Some(before_christ)), 0);
    assert_eq!(rows(Some(before_christ), Some(far)), 1);
    assert_eq!(rows(Some(day(2026, 3, 10)), Some(far)), 0);
    assert_eq!(rows(Some(before_christ), Some(day(2026, 3, 9))), 1);
}

#[test]
fn read_only_opening_writes_nothing_and_refuses_what_is_not_a_state() {
    let dir = tempfile::tempdir().unwrap();
    // A state of this version reads, and cannot be written through.
    let path = dir.path().join("state.sqlite");
    {
        let mut db = StateDb::open(&path).unwrap();
        for d in [2, 3, 4, 5, 6, 9, 10] {
            night(&mut db, day(2026, 3, d), &[("U1", "250000")]);
        }
    }
    let before = std::fs::read(&path).unwrap();
    let mut db = StateDb::open_read_only(&path).unwrap();
    assert_eq!(db.total_charged("U1").unwrap(), dec("54.79"));
    // A write through it fails (at `begin_run` or at the first record).
    let wrote = db
        .begin_run(
            day(2026, 3, 11),
            GraceRules::default(),
            &TradingCalendar::default(),
        )
        .map_err(|_| ())
        .and_then(|mut run| {
            run.record(
                "U2",
                &NightRecord {
                    status: FeeStatus::Clear,
                    uncovered: dec("0"),
                    measure: dec("0"),
                    daily_fee: dec("0"),
                    accrues: dec("0"),
                    basis: exfee_fee::ChargedFee::Exposure,
                    effective_date: None,
                    currency: Currency::USD,
                },
            )
            .map_err(|_| ())?;
            run.commit().map_err(|_| ())
        });
    assert!(wrote.is_err());
    drop(db);
    assert_eq!(std::fs::read(&path).unwrap(), before);

    // Another program's database: refused, unchanged.
    let foreign = dir.path().join("foreign.sqlite");
    {
        let conn = rusqlite::Connection::open(&foreign).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    let before = std::fs::read(&foreign).unwrap();
    assert!(matches!(
        StateDb::open_read_only(&foreign),
        Err(StateError::NotAState { .. })
    ));
    assert_eq!(std::fs::read(&foreign).unwrap(), before);

    // An empty file: refused, still empty; no file: refused, not created.
    let empty = dir.path().join("empty.sqlite");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(
        StateDb::open_read_only(&empty),
        Err(StateError::NotAState { .. })
    ));
    assert_eq!(std::fs::read(&empty).unwrap().len(), 0);
    let missing = dir.path().join("missing.sqlite");
    assert!(StateDb::open_read_only(&missing).is_err());
    assert!(!missing.exists());

    // Schema 1 is not migrated by a read.
    let old = dir.path().join("v1.sqlite");
    {
        let conn = rusqlite::Connection::open(&old).unwrap();
        conn.execute_batch(
            "CREATE TABLE nights (account TEXT); CREATE TABLE ledger (account TEXT);
             CREATE TABLE accounts (account TEXT); PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let before = std::fs::read(&old).unwrap();
    assert!(matches!(
        StateDb::open_read_only(&old),
        Err(StateError::UnsupportedSchema {
            found: 1,
            supported: 2,
            ..
        })
    ));
    assert_eq!(std::fs::read(&old).unwrap(), before);
}
