//! A process killed in the middle of a nightly run leaves the database as it
//! was. The test binary runs itself as the child that crashes.

mod common;

use common::{day, dec, dump, night, record_account};
use exfee_fee::{FeeSchedule, FeeStatus, TradingCalendar};
use exfee_state::StateDb;
use std::path::PathBuf;
use std::process::Command;

/// Set in the child only: the database the child crashes on.
const CHILD_DB: &str = "EXFEE_STATE_CRASH_CHILD_DB";
/// What the child prints just before it aborts.
const MARKER: &str = "crash child: recorded, aborting before commit";
/// Enough rows that SQLite spills pages to the database file before the
/// commit, so the crash leaves a hot journal to roll back.
const CHILD_ACCOUNTS: usize = 20_000;

/// The child's side: does nothing in a normal test run.
#[test]
fn crash_child() {
    let Some(path) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let schedule = FeeSchedule::default();
    let mut db = StateDb::open(PathBuf::from(path)).unwrap();
    let mut run = db
        .begin_run(day(2026, 3, 9), schedule.grace, &TradingCalendar::default())
        .unwrap();
    // the accounts the parent knows (U1 is charged from tonight) and many new ones
    let (status, _) = record_account(&mut run, &schedule, "U1", dec("250000"));
    assert_eq!(status, FeeStatus::Charged);
    record_account(&mut run, &schedule, "U2", dec("0"));
    for i in 0..CHILD_ACCOUNTS {
        record_account(&mut run, &schedule, &format!("N{i:06}"), dec("12345.67"));
    }
    eprintln!("{MARKER}");
    std::process::abort();
}

#[test]
fn a_crash_mid_run_leaves_the_database_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    {
        let mut db = StateDb::open(&path).unwrap();
        for d in [2, 3, 4, 5, 6] {
            night(
                &mut db,
                day(2026, 3, d),
                &[("U1", "250000"), ("U2", "1000")],
            );
        }
    }
    let before = dump(&path);
    let file_before = std::fs::read(&path).unwrap();

    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_DB, &path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the child should have aborted");
    assert!(
        stderr.contains(MARKER),
        "the child did not reach the crash: {stderr}"
    );

    // The child died mid-transaction with pages already written: a hot
    // journal is left next to a modified database file.
    let journal = dir.path().join("state.sqlite-journal");
    assert!(journal.exists(), "no hot journal after the crash");
    assert_ne!(
        std::fs::read(&path).unwrap(),
        file_before,
        "the child wrote nothing to the file"
    );

    // Opening rolls the journal back: every table is exactly as before.
    assert_eq!(dump(&path), before);
    assert!(!journal.exists());

    // The database opens and works as usual, and the night can be run again.
    let mut db = StateDb::open(&path).unwrap();
    assert!(db.ledger("U1").unwrap().is_empty());
    assert!(db.summary("N000000").unwrap().is_none());
    // Monday: charged from today (Fri–Sun are grace days); Tuesday posts
    // Monday: 250,000 → 54.79
    let out = night(&mut db, day(2026, 3, 9), &[("U1", "250000"), ("U2", "0")]);
    assert_eq!(out[0], (FeeStatus::Charged, dec("0")));
    let out = night(&mut db, day(2026, 3, 10), &[("U1", "250000"), ("U2", "0")]);
    assert_eq!(out[0], (FeeStatus::Charged, dec("54.79")));
    assert_eq!(db.total_charged("U1").unwrap(), dec("54.79"));
}
