//! Hostile input: the adversarial drop `examples/hostile/` (see its
//! README for each case) and drops built here for the cases that stop a
//! run. Each case gets a clear error (file, line, column, reason) or is
//! handled as `docs/formats.md` ("Hostile input") says; nothing panics; every
//! account of the input appears in `results.csv` exactly once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use exfee::io::{MAX_FIELD_BYTES, neutralise};

use crate::common::read_csv;

fn hostile() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hostile")
}

/// `exfee run <drop> --out <out> --fixed-only --date 2026-11-20 --no-reports`.
fn run(drop: &Path, out: &Path) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_exfee"))
        .arg("run")
        .arg(drop)
        .arg("--out")
        .arg(out)
        .args(["--fixed-only", "--date", "2026-11-20", "--no-reports"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    output
}

/// `results.csv` by account cell (as written, i.e. neutralised): status and
/// error; each account must appear exactly once.
fn results(out: &Path) -> HashMap<String, (String, String)> {
    let rows = read_csv(&out.join("results.csv"));
    assert_eq!(rows[0][0], "account");
    assert_eq!(rows[0][2], "status");
    assert_eq!(rows[0][7], "error");
    let mut by_account = HashMap::new();
    for row in &rows[1..] {
        let previous = by_account.insert(row[0].clone(), (row[2].clone(), row[7].clone()));
        assert!(previous.is_none(), "account {:?} appears twice", row[0]);
    }
    by_account
}

/// The 16 accounts of `examples/hostile/accounts.csv` as they should come
/// out: the id, and `None` when evaluated or the words its error must hold.
fn expected() -> Vec<(String, Option<&'static str>)> {
    let long = format!("L{}", "x".repeat(9_999));
    vec![
        ("H-OK".into(), None),
        (long, None),
        ("../../etc/passwd".into(), None),
        ("desk/a/U1".into(), None),
        ("H PAD".into(), None),
        ("=1+2".into(), None),
        ("H,QUOTED\r\nID".into(), None),
        (
            "H-EXP".into(),
            Some("positions.csv line 11 column 5 (quantity): \"1e400\" is not a decimal number"),
        ),
        ("H-NEGZERO".into(), None),
        (
            "H-NAN".into(),
            Some("positions.csv line 13 column 7 (mark): \"NaN\" is not a finite number"),
        ),
        (
            "H-THOUSANDS".into(),
            Some("positions.csv line 14: row has 13 fields but the header has 12"),
        ),
        (
            "H-THOUSANDS-Q".into(),
            Some("positions.csv line 15 column 5 (quantity): \"1,000.00\" is not a decimal number"),
        ),
        (
            "H-30DIGITS".into(),
            Some(
                "positions.csv line 16 column 5 (quantity): \"123456789012345678901234567890\" is \
                 not a decimal number (plain notation like 1234.56, at most 28 significant digits)",
            ),
        ),
        ("H-HUGE".into(), Some("net liquidation value overflows")),
        (
            "H-UTF8".into(),
            Some("positions.csv line 18 column 2 (symbol): not valid UTF-8 text"),
        ),
        (
            "H-TRUNC".into(),
            Some("positions.csv line 21: row has 4 fields but the header has 12"),
        ),
    ]
}

#[test]
fn the_hostile_drop_runs_and_every_account_appears_once() {
    let out = tempfile::tempdir().unwrap();
    let output = run(&hostile(), out.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Some accounts failed: exit code 1, not 2 (the run was done).
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results = results(out.path());
    let expected = expected();
    assert_eq!(results.len(), expected.len(), "{:?}", results.keys());
    for (id, failure) in expected {
        let cell = neutralise(&id).into_owned();
        let (status, error) = results
            .get(&cell)
            .unwrap_or_else(|| panic!("account {cell:?} is missing from results.csv"));
        match failure {
            None => assert!(
                status == "ok" || status == "uncovered",
                "{id:?}: {status} {error}"
            ),
            Some(reason) => {
                assert_eq!(status, "failed", "{id:?}");
                assert!(error.contains(reason), "{id:?}: {error}");
            }
        }
    }
    // A formula-like id is written neutralised, never as a formula.
    assert!(results.contains_key(neutralise("=1+2").as_ref()));
    assert!(!results.contains_key("=1+2") || neutralise("=1+2") == "=1+2");

    // The row whose account is not UTF-8 names no account: it is in
    // errors.csv, not in results.csv.
    let errors = read_csv(&out.path().join("errors.csv"));
    assert!(
        errors.iter().any(|row| row[0].is_empty()
            && row[1].ends_with("positions.csv")
            && row[2] == "19"
            && row[3] == "account"
            && row[4] == "not valid UTF-8 text"),
        "{errors:?}"
    );
}

#[test]
fn hostile_cases_are_read_as_documented() {
    let batch = exfee::io::read_drop(
        &exfee::io::DropPaths::in_dir(&hostile()),
        &exfee::ScenarioTables::current().factors,
    )
    .unwrap();
    let account = |id: &str| {
        batch
            .accounts
            .iter()
            .find(|a| a.id == id)
            .unwrap_or_else(|| panic!("no account {id:?}"))
    };
    // BOM and CRLF: the first account and the quoted FX header read.
    assert_eq!(batch.accounts[0].id, "H-OK");
    assert!(batch.market.usd_per_unit("EUR".parse().unwrap()).is_ok());
    // Spaces around an id are trimmed; the quoted id keeps its comma and
    // line end; the symbol too.
    assert_eq!(account("H PAD").positions.len(), 1);
    let quoted = account("H,QUOTED\r\nID");
    assert_eq!(quoted.positions[0].instrument.symbol, "BRK,B\nclass B");
    // `-0` is zero, without a sign.
    let zero = &account("H-NEGZERO").positions[0];
    assert!(zero.quantity.is_zero() && !zero.quantity.is_sign_negative());
    assert_eq!(zero.instrument.mark.to_string(), "0");
    // The truncated last line fails its account; its first row still reads.
    let trunc = account("H-TRUNC");
    assert_eq!(trunc.positions.len(), 1);
    assert_eq!(trunc.errors.len(), 1);
    // The cash file is a header alone: no cash, no error.
    assert!(batch.accounts.iter().all(|a| a.cash.is_empty()));
    assert_eq!(batch.errors.len(), 1, "{:?}", batch.errors);
}

/// A small valid drop in a temporary folder, to break one file at a time.
fn small_drop() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("market")).unwrap();
    for (name, text) in [
        ("accounts.csv", "account,base_currency\nU1,USD\nU2,USD\n"),
        (
            "positions.csv",
            "account,symbol,asset_class,currency,quantity,mark\nU1,AAPL,STK,USD,10,245.30\n\
             U2,MSFT,STK,USD,5,482.15\n",
        ),
        ("cash.csv", "account,currency,amount\nU1,USD,1000\n"),
        ("market/fx.csv", "currency,usd_per_unit\nUSD,1\n"),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[test]
fn inputs_that_stop_the_run_exit_2_before_any_output() {
    let long_column = format!(
        "account,base_currency,{}\nU1,USD,x\n",
        "c".repeat(MAX_FIELD_BYTES + 1)
    );
    let cases: [(&str, &str, &str); 7] = [
        (
            "accounts.csv",
            "account\nU1\n",
            "accounts.csv: required column 'base_currency' is missing from the header",
        ),
        (
            "positions.csv",
            "account,symbol,asset_class,currency,quantity,mark,quantity\n",
            "positions.csv: column 'quantity' appears twice in the header",
        ),
        (
            "accounts.csv",
            "",
            "accounts.csv: cannot read the header row: the file is empty",
        ),
        (
            "cash.csv",
            "",
            "cash.csv: cannot read the header row: the file is empty",
        ),
        (
            "market/factors.csv",
            "\r\n",
            "factors.csv: cannot read the header row: the file is empty",
        ),
        (
            "accounts.csv",
            &long_column,
            "accounts.csv: cannot read the header row: column 3: field longer than 65536 bytes",
        ),
        (
            "market/fx.csv",
            "\u{feff}currency;usd_per_unit\nUSD;1\n",
            "fx.csv: required column 'currency' is missing from the header (columns found: \
             currency;usd_per_unit)",
        ),
    ];
    for (file, text, message) in cases {
        let drop = small_drop();
        std::fs::write(drop.path().join(file), text).unwrap();
        let out = drop.path().join("out");
        let output = run(drop.path(), &out);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{file}: {stderr}");
        assert!(stderr.contains(message), "{file}: {stderr}");
        assert!(!out.join("results.csv").exists(), "{file}");
    }
}

#[test]
fn an_oversized_field_fails_only_its_account() {
    let drop = small_drop();
    let symbol = "S".repeat(MAX_FIELD_BYTES + 10);
    std::fs::write(
        drop.path().join("positions.csv"),
        format!(
            "account,symbol,asset_class,currency,quantity,mark\nU1,AAPL,STK,USD,10,245.30\n\
             U2,{symbol},STK,USD,5,482.15\n"
        ),
    )
    .unwrap();
    let out = drop.path().join("out");
    let output = run(drop.path(), &out);
    assert_eq!(output.status.code(), Some(1));
    let results = results(&out);
    assert_eq!(results.len(), 2);
    assert_eq!(results["U1"].0, "ok");
    assert_eq!(results["U2"].0, "failed");
    assert!(
        results["U2"].1.contains(
            "positions.csv line 3 column 2 (symbol): field longer than 65536 bytes (the limit \
             per field); the row is not read"
        ),
        "{}",
        results["U2"].1
    );
}
