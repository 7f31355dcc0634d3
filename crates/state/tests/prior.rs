//! `Run::prior` (one read of an account's earlier nights) against the
//! separate reads it replaces and the pure grace machine.

mod common;

use common::{day, dec};
use exfee_fee::{ChargedFee, FeeStatus, GraceRules, TradingCalendar, next_state};
use exfee_model::Currency;
use exfee_state::{NightRecord, StateDb, StateError};
use rust_decimal::Decimal;

fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

fn record(status: FeeStatus, accrues: Decimal) -> NightRecord {
    NightRecord {
        status,
        uncovered: Decimal::ZERO,
        measure: Decimal::ZERO,
        daily_fee: accrues,
        accrues: if status.is_subject() {
            accrues
        } else {
            Decimal::ZERO
        },
        basis: ChargedFee::Exposure,
        effective_date: None,
        currency: Currency::USD,
    }
}

#[test]
fn prior_gives_the_previous_state_and_night_and_posts_as_record() {
    // Random histories (weekends, missed runs, re-runs of a date, long
    // episodes and start-overs): on every night and account, the one-pass
    // read equals the pure machine over the whole history, the separate
    // previous_state and the account's last earlier night as `nights` lists
    // it; and a database fed through `record_prior` ends equal, table by
    // table, to one fed through `record` and to one fed a night at a time
    // through `checker` and `record_checked`.
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
        let dir = tempfile::tempdir().unwrap();
        let (path_a, path_b) = (dir.path().join("a.sqlite"), dir.path().join("b.sqlite"));
        let path_c = dir.path().join("c.sqlite");
        let mut a = StateDb::open(&path_a).unwrap();
        let mut b = StateDb::open(&path_b).unwrap();
        let mut c = StateDb::open(&path_c).unwrap();
        let calendar = TradingCalendar::default();
        let accounts = ["A", "B", "C"];
        let mut seed = 7 + u64::from(rules.grace_days);
        // The pure machine's state after each night, per account.
        let mut history: Vec<Vec<(chrono::NaiveDate, exfee_fee::AccountState)>> =
            vec![Vec::new(); accounts.len()];
        let mut date = day(2026, 1, 1);
        for n in 0..60 {
            // Now and then the previous date again (a re-run).
            let rerun = n > 0 && lcg(&mut seed).is_multiple_of(9);
            let run_date = if rerun {
                history[0].last().unwrap().0
            } else {
                date
            };
            let last_nights: Vec<Option<exfee_state::NightRow>> = accounts
                .iter()
                .map(|acc| {
                    a.nights(acc)
                        .unwrap()
                        .into_iter()
                        .rfind(|r| r.date < run_date)
                })
                .collect();
            let statuses: Vec<(bool, Decimal)> = accounts
                .iter()
                .enumerate()
                .map(|(i, _)| {
                    let subject = lcg(&mut seed) % 10 < if i == 0 { 3 } else { 7 };
                    (subject, Decimal::from(lcg(&mut seed) % 50 + 1))
                })
                .collect();
            let mut run_a = a.begin_run(run_date, rules, &calendar).unwrap();
            let mut run_b = b.begin_run(run_date, rules, &calendar).unwrap();
            let mut run_c = c.begin_run(run_date, rules, &calendar).unwrap();
            let priors_c: Vec<_> = accounts.iter().map(|a| run_c.prior(a).unwrap()).collect();
            let mut nights_c = Vec::new();
            let mut recorded_a = Vec::new();
            for (i, account) in accounts.iter().enumerate() {
                let pure = history[i]
                    .iter()
                    .rev()
                    .find(|(d, _)| *d < run_date)
                    .map(|(_, s)| *s);
                let prior = run_a.prior(account).unwrap();
                assert_eq!(prior.account(), *account);
                assert_eq!(prior.state(), pure.as_ref(), "{account} {run_date}");
                assert_eq!(
                    prior.state(),
                    run_a.previous_state(account).unwrap().as_ref()
                );
                assert_eq!(
                    prior.night(),
                    last_nights[i].as_ref(),
                    "{account} {run_date}"
                );
                assert_eq!(
                    prior.night(),
                    run_a.previous_night(account).unwrap().as_ref()
                );
                let (subject, accrues) = statuses[i];
                let (state, status) = next_state(pure.as_ref(), run_date, subject, rules);
                let night = record(status, accrues);
                let by_prior = run_a.record_prior(&prior, &night).unwrap();
                let by_record = run_b.record(account, &night).unwrap();
                assert_eq!(by_prior, by_record, "{account} {run_date}");
                assert_eq!(by_prior.state, state);
                nights_c.push(night);
                recorded_a.push(by_prior);
                history[i].retain(|(d, _)| *d < run_date);
                history[i].push((run_date, state));
            }
            let checker = run_c.checker();
            let checked: Vec<_> = priors_c
                .iter()
                .zip(&nights_c)
                .map(|(prior, night)| checker.check(prior, night).unwrap())
                .collect();
            // Known before the write: what each record gives, as recorded
            // one by one by the other two runs.
            let known: Vec<_> = checked.iter().map(|c| c.recorded()).collect();
            assert_eq!(known, recorded_a);
            assert_eq!(run_c.record_checked(checked).unwrap(), recorded_a);
            run_a.commit().unwrap();
            run_b.commit().unwrap();
            run_c.commit().unwrap();
            if !rerun {
                date = date.succ_opt().unwrap();
                if lcg(&mut seed).is_multiple_of(4) {
                    date = date.succ_opt().unwrap(); // a night without a run
                }
            }
        }
        // Some days were posted, some estimated: the comparison is not empty.
        let ledger = a.ledger_rows(None, None, None).unwrap();
        assert!(ledger.len() > 20, "{}", ledger.len());
        assert!(
            ledger
                .iter()
                .any(|r| r.basis == exfee_state::Basis::Estimated)
        );
        drop((a, b, c));
        assert_eq!(common::dump(&path_a), common::dump(&path_b));
        assert_eq!(common::dump(&path_a), common::dump(&path_c));
    }
}

#[test]
fn a_prior_read_for_another_date_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = StateDb::open(dir.path().join("s.sqlite")).unwrap();
    let calendar = TradingCalendar::default();
    let rules = GraceRules::default();
    let monday = day(2026, 3, 2);
    let prior = {
        let run = db.begin_run(monday, rules, &calendar).unwrap();
        run.prior("U1").unwrap()
    };
    let mut run = db
        .begin_run(monday.succ_opt().unwrap(), rules, &calendar)
        .unwrap();
    let night = record(FeeStatus::Clear, dec("0"));
    assert!(matches!(
        run.record_prior(&prior, &night),
        Err(StateError::InvalidRecord { ref account, ref reason })
            if account == "U1" && reason.contains("2026-03-02")
    ));
}

#[test]
fn a_batch_is_written_whole_or_not_at_all() {
    // A batch holding a record checked for another date writes nothing,
    // not even the records before it; the run goes on and the same records
    // written one by one give the same tables as the batch without it. An
    // account twice in one batch is recorded as twice in a row: its days
    // posted tonight replaced, not doubled.
    let dir = tempfile::tempdir().unwrap();
    let (path_a, path_b) = (dir.path().join("a.sqlite"), dir.path().join("b.sqlite"));
    let calendar = TradingCalendar::default();
    let rules = GraceRules {
        grace_days: 0,
        reset_after_clear_nights: 5,
    };
    let (friday, monday) = (day(2026, 3, 6), day(2026, 3, 9));
    let charged = |fee: &str| record(FeeStatus::Charged, dec(fee));
    for path in [&path_a, &path_b] {
        let mut db = StateDb::open(path).unwrap();
        let mut run = db.begin_run(friday, rules, &calendar).unwrap();
        for account in ["A", "B"] {
            run.record(account, &charged("2")).unwrap();
        }
        run.commit().unwrap();
    }
    let mut a = StateDb::open(&path_a).unwrap();
    let stale = {
        let run = a.begin_run(friday, rules, &calendar).unwrap();
        let prior = run.prior("A").unwrap();
        run.checker().check(&prior, &charged("2")).unwrap()
    };
    let mut run = a.begin_run(monday, rules, &calendar).unwrap();
    let priors = [run.prior("A").unwrap(), run.prior("B").unwrap()];
    let checker = run.checker();
    let fresh: Vec<_> = priors
        .iter()
        .map(|p| checker.check(p, &charged("3")).unwrap())
        .collect();
    let mut with_stale = fresh.clone();
    with_stale.push(stale);
    assert!(matches!(
        run.record_checked(with_stale),
        Err(StateError::InvalidRecord { ref account, ref reason })
            if account == "A" && reason.contains("2026-03-06")
    ));
    assert_eq!(run.prior("A").unwrap().night().unwrap().date, friday);
    let mut twice = fresh.clone();
    twice.push(fresh[0].clone());
    let recorded = run.record_checked(twice).unwrap();
    // Friday's 2 priced Friday to Sunday: 3 days posted Monday, each time.
    assert_eq!(recorded.len(), 3);
    assert!(recorded.iter().all(|r| r.amount_posted() == dec("6")));
    run.commit().unwrap();
    let mut b = StateDb::open(&path_b).unwrap();
    let mut run = b.begin_run(monday, rules, &calendar).unwrap();
    for account in ["A", "B", "A"] {
        run.record(account, &charged("3")).unwrap();
    }
    run.commit().unwrap();
    drop((a, b));
    assert_eq!(common::dump(&path_a), common::dump(&path_b));
    assert_eq!(
        StateDb::open(&path_a).unwrap().total_charged("A").unwrap(),
        dec("6")
    );
}

#[test]
fn a_batch_of_many_statements_writes_what_records_one_by_one_write() {
    // More accounts than one multi-row INSERT holds (two full statements
    // and a part), on a trading day that posts the days of Friday's
    // charged nights, with accounts twice in the batch at the edges of a
    // statement, then the same date run again (its posted days replaced):
    // the database ends equal, table by table, to one fed a record at a
    // time, and the ledger holds the days worked out here by hand.
    let dir = tempfile::tempdir().unwrap();
    let (path_a, path_b) = (dir.path().join("a.sqlite"), dir.path().join("b.sqlite"));
    let calendar = TradingCalendar::default();
    let rules = GraceRules {
        grace_days: 0,
        reset_after_clear_nights: 5,
    };
    let (friday, monday) = (day(2026, 3, 6), day(2026, 3, 9));
    let ids: Vec<String> = (0..150).map(|i| format!("U{i:03}")).collect();
    // Every third account clear, the others charged 1 to 7 a day.
    let night_of = |i: usize| {
        if i.is_multiple_of(3) {
            record(FeeStatus::Clear, Decimal::ZERO)
        } else {
            record(FeeStatus::Charged, Decimal::from(i % 7 + 1))
        }
    };
    for path in [&path_a, &path_b] {
        let mut db = StateDb::open(path).unwrap();
        let mut run = db.begin_run(friday, rules, &calendar).unwrap();
        for (i, id) in ids.iter().enumerate() {
            run.record(id, &night_of(i)).unwrap();
        }
        run.commit().unwrap();
    }
    // Monday's batch: every account, and accounts 63 and 64 (either side
    // of the first statement's end) again at places 64 and 130.
    let mut order: Vec<usize> = (0..150).collect();
    order.insert(64, 63);
    order.insert(130, 64);
    for _ in 0..2 {
        let mut a = StateDb::open(&path_a).unwrap();
        let mut run = a.begin_run(monday, rules, &calendar).unwrap();
        let priors: Vec<_> = order.iter().map(|&i| run.prior(&ids[i]).unwrap()).collect();
        let checker = run.checker();
        let checked: Vec<_> = priors
            .iter()
            .zip(&order)
            .map(|(prior, &i)| checker.check(prior, &night_of(i)).unwrap())
            .collect();
        let recorded = run.record_checked(checked).unwrap();
        assert_eq!(recorded.len(), 152);
        run.commit().unwrap();
        let mut b = StateDb::open(&path_b).unwrap();
        let mut run = b.begin_run(monday, rules, &calendar).unwrap();
        for &i in &order {
            run.record(&ids[i], &night_of(i)).unwrap();
        }
        run.commit().unwrap();
    }
    // Friday's charged nights price Friday, Saturday and Sunday: 3 days of
    // each of the 100 charged accounts, at its fee.
    let ledger = StateDb::open(&path_a)
        .unwrap()
        .ledger_rows(None, None, None)
        .unwrap();
    assert_eq!(ledger.len(), 300);
    let total: Decimal = ledger.iter().map(|r| r.amount).sum();
    let expected: Decimal = (0..150)
        .filter(|i: &usize| !i.is_multiple_of(3))
        .map(|i| Decimal::from(3 * (i % 7 + 1)))
        .sum();
    assert_eq!(total, expected);
    assert_eq!(common::dump(&path_a), common::dump(&path_b));
}
