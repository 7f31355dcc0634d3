//! Rewriting history: a run of a date earlier than the state's latest sees
//! the later nights (`later_dates`) and may remove them, in its own
//! transaction (`forget_later_nights`).

mod common;

use common::{day, dec, dump, night};
use exfee_fee::{FeeSchedule, FeeStatus, TradingCalendar};
use exfee_state::StateDb;

// March 2026: Mon 2 … Tue 10. U1 is subject every night (grace from the
// 2nd, charged from Monday the 9th); U2 appears on the 10th only.
fn history() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let mut db = StateDb::open(&path).unwrap();
    for d in 2..=10 {
        let mut accounts = vec![("U1", "250000")];
        if d == 10 {
            accounts.push(("U2", "0"));
        }
        night(&mut db, day(2026, 3, d), &accounts);
    }
    // Monday the 9th is the first day charged (posted on the 10th); the
    // weekend before was in the grace week.
    assert_eq!(
        db.ledger("U1").unwrap().len(),
        1,
        "the 9th, posted on the 10th"
    );
    (dir, path)
}

#[test]
fn later_nights_are_listed_and_removed_only_with_the_run() {
    let (_dir, path) = history();
    let before = dump(&path);
    let mut db = StateDb::open(&path).unwrap();
    let rules = FeeSchedule::default().grace;
    let calendar = TradingCalendar::default();

    // Dropped without commit: nothing is removed.
    {
        let mut run = db.begin_run(day(2026, 3, 5), rules, &calendar).unwrap();
        let later: Vec<_> = (6..=10).map(|d| day(2026, 3, d)).collect();
        assert_eq!(run.later_dates().unwrap(), later);
        // U1 on the 6th … 10th, U2 on the 10th.
        assert_eq!(run.forget_later_nights().unwrap(), 6);
        assert!(run.later_dates().unwrap().is_empty());
    }
    assert_eq!(dump(&path), before);

    // Committed: the later nights, their charges and U2 (no night left) go;
    // U1's summary is its state after the 5th.
    let mut run = db.begin_run(day(2026, 3, 5), rules, &calendar).unwrap();
    assert_eq!(run.forget_later_nights().unwrap(), 6);
    run.commit().unwrap();
    assert_eq!(db.latest_date().unwrap(), Some(day(2026, 3, 5)));
    assert!(db.ledger("U1").unwrap().is_empty());
    assert_eq!(db.total_charged("U1").unwrap(), dec("0"));
    assert!(db.nights("U2").unwrap().is_empty());
    assert_eq!(db.summary("U2").unwrap(), None);
    let summary = db.summary("U1").unwrap().unwrap();
    assert_eq!(summary.last_date, day(2026, 3, 5));
    assert_eq!(summary.nights_subject, 4);
    assert!(matches!(summary.last_status, FeeStatus::Grace { .. }));

    // The latest date itself has no later night.
    let run = db.begin_run(day(2026, 3, 5), rules, &calendar).unwrap();
    assert!(run.later_dates().unwrap().is_empty());
}
