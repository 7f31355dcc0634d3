//! Golden files: `results.csv` of the example drop must not change by
//! accident. Any change to a number fails here; if it is deliberate,
//! regenerate with `EXFEE_BLESS=1 cargo test --test integration golden`,
//! re-check the numbers (below) and commit the files with the change.
//!
//! # How the expected numbers were checked
//!
//! Independently of exfee, by `tests/golden/check_results.py` (Python 3,
//! standard library only, no code shared with exfee; see
//! `tests/golden/README.md`). From the drop's CSV files and the published
//! tables (`scenarios/risk-factors-current.csv`, `fx-factors-current.csv`)
//! it recomputes every account's NLV with exact decimals, every holding's
//! P&L in every scenario by the documented method (docs/fees.md §1: cash,
//! linear legs, futures, options re-centred on the model, repriced with its
//! own Black–Scholes–Merton / Black-76 and a Barone-Adesi–Whaley solved by
//! Newton's method, vol floor 1 %; the symbol mapping and defaults of
//! docs/formats.md), the worst loss and its scenario (name and index), the
//! uncovered amount and the fee columns of a first night.
//!
//! * `nightly-fixed-results.csv` (`--fixed-only`): the fixed stress set is
//!   built by the script itself from the tables (factors, currencies,
//!   held single stocks sorted, each at both bounds). All 76 accounts agree
//!   to the cent, every column. The test re-runs the script when `python3`
//!   is available.
//! * `nightly-results.csv` (the default set: 10,000 Monte Carlo draws and
//!   236 fixed scenarios): the script takes each scenario's moves from
//!   `exfee scenarios --drop examples/nightly` (after checking its fixed
//!   rows against the set it builds, and that every non-single-stock symbol
//!   moves by β × its factor), revalues all 76 accounts in all 10,236
//!   scenarios itself and agrees to the cent, every column. So the
//!   revaluation, the worst-scenario pick and the fee columns are checked
//!   independently; the Monte Carlo draws themselves are checked by the
//!   statistical tests of `exfee-scenarios` (bounds, correlations, tail
//!   probabilities) and pinned there by seed. This test also checks, in
//!   Rust, that each account's worst loss is at least its fixed-only worst
//!   loss, and equal to it when the worst scenario is a fixed one of that
//!   set. The Python recomputation of this file takes about 15 s: it runs
//!   in `default_set_golden_file_recomputed_independently` (`#[ignore]`d:
//!   `cargo test --test integration golden -- --ignored`).

use std::path::{Path, PathBuf};
use std::process::Command;

const DATE: &str = "2026-11-20";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn golden(name: &str) -> PathBuf {
    root().join("tests/golden").join(name)
}

/// `exfee run examples/nightly --date DATE` with `extra`: its results.csv.
fn nightly_results(extra: &[&str]) -> Vec<u8> {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_exfee"))
        .arg("run")
        .arg(root().join("examples/nightly"))
        .arg("--out")
        .arg(out.path())
        .args(["--date", DATE, "--quiet", "--no-reports"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read(out.path().join("results.csv")).unwrap()
}

/// Compares `actual` with the golden file `name`, or writes it with
/// `EXFEE_BLESS=1`.
fn check_golden(name: &str, actual: &[u8]) {
    let path = golden(name);
    if std::env::var_os("EXFEE_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        eprintln!("blessed {}", path.display());
        return;
    }
    let expected = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; create it with EXFEE_BLESS=1", path.display()));
    if expected == actual {
        return;
    }
    let expected = String::from_utf8_lossy(&expected);
    let actual = String::from_utf8_lossy(actual);
    let differing: Vec<String> = expected
        .lines()
        .zip(actual.lines())
        .filter(|(e, a)| e != a)
        .take(5)
        .map(|(e, a)| format!("  expected {e}\n  actual   {a}"))
        .collect();
    panic!(
        "results.csv of examples/nightly differs from {} ({} vs {} lines); first differing rows:\n{}\n\
         If the change is deliberate: regenerate with `EXFEE_BLESS=1 cargo test --test integration golden`, \
         re-check the numbers with tests/golden/check_results.py (tests/golden/README.md) and commit the file.",
        path.display(),
        expected.lines().count(),
        actual.lines().count(),
        differing.join("\n")
    );
}

fn python() -> Option<Command> {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then(|| {
        let mut command = Command::new("python3");
        command
            .current_dir(root())
            .arg("tests/golden/check_results.py");
        command
    })
}

fn run_checker(mut command: Command) {
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(" 0 mismatch(es)"),
        "tests/golden/check_results.py disagrees:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn rows(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::Reader::from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[test]
fn fixed_only_results_match_the_golden_file() {
    let actual = nightly_results(&["--fixed-only"]);
    check_golden("nightly-fixed-results.csv", &actual);
    match python() {
        Some(mut command) => {
            command.args([
                "examples/nightly",
                "tests/golden/nightly-fixed-results.csv",
                "--date",
                DATE,
            ]);
            run_checker(command);
        }
        None => eprintln!("python3 not found: the independent recomputation was skipped"),
    }
}

#[test]
fn default_set_results_match_the_golden_file() {
    let actual = nightly_results(&[]);
    check_golden("nightly-results.csv", &actual);

    // The default set holds every fixed-only scenario: its worst loss is at
    // least the fixed-only one, and equal when the worst is such a scenario.
    let fixed = std::fs::read(golden("nightly-fixed-results.csv")).unwrap();
    let fixed = rows(&fixed);
    let default = rows(&actual);
    assert_eq!(fixed.len(), default.len());
    let mut from_draws = 0;
    for (f, d) in fixed.iter().zip(&default) {
        assert_eq!(f[..4], d[..4], "account, base, NLV");
        let (worst_fixed, worst): (exfee::Decimal, exfee::Decimal) =
            (f[4].parse().unwrap(), d[4].parse().unwrap());
        assert!(worst >= worst_fixed, "{}: {worst} < {worst_fixed}", d[0]);
        if d[5].starts_with('#') {
            from_draws += 1;
        } else if !d[5].starts_with("Equity Volatility@") {
            // A fixed scenario of the fixed-only set too.
            assert_eq!(worst, worst_fixed, "{}: worst at {}", d[0], d[5]);
        }
    }
    assert!(
        from_draws > 0,
        "some worst cases come from Monte Carlo draws"
    );
}

/// The Python recomputation of the default-set golden file over all 10,236
/// scenarios (about 15 s): `cargo test --test integration golden -- --ignored`.
#[test]
#[ignore = "takes about 15 s of Python; run with --ignored"]
fn default_set_golden_file_recomputed_independently() {
    let Some(mut command) = python() else {
        panic!("python3 is needed for this test");
    };
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("scenarios.csv");
    let output = Command::new(env!("CARGO_BIN_EXE_exfee"))
        .arg("scenarios")
        .arg("--drop")
        .arg(root().join("examples/nightly"))
        .arg("--out")
        .arg(&scenarios)
        .output()
        .unwrap();
    assert!(output.status.success());
    command
        .args([
            "examples/nightly",
            "tests/golden/nightly-results.csv",
            "--date",
            DATE,
            "--scenarios",
        ])
        .arg(&scenarios);
    run_checker(command);
}
