//! Issue 10, input side: every number right or its account fails loudly.
//! Each test runs the `exfee` binary on a drop of `examples/hostile/<kind>/`
//! (see its README) or on files built here, and checks the exit code, each
//! account's status and reason, and that nothing panicked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hostile(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/hostile")
        .join(kind)
}

/// `exfee run <drop> --out <out> --fixed-only --date 2026-11-20 --no-reports`
/// and `extra`; never a panic (exit code 101).
fn run(drop: &Path, out: &Path, extra: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_exfee"))
        .arg("run")
        .arg(drop)
        .arg("--out")
        .arg(out)
        .args(["--fixed-only", "--date", "2026-11-20", "--no-reports"])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(output.status.code(), Some(101), "{stderr}");
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `results.csv` by account: (status, nlv, error).
fn results(out: &Path) -> HashMap<String, (String, String, String)> {
    let mut reader = csv::Reader::from_path(out.join("results.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (account, status, nlv, error) = (
        column("account"),
        column("status"),
        column("nlv"),
        column("error"),
    );
    let mut by_account = HashMap::new();
    for row in reader.records() {
        let row = row.unwrap();
        let previous = by_account.insert(
            row[account].to_string(),
            (
                row[status].to_string(),
                row[nlv].to_string(),
                row[error].to_string(),
            ),
        );
        assert!(previous.is_none(), "{} appears twice", &row[account]);
    }
    by_account
}

/// Runs the hostile drop `kind`; it must complete with exit code 1 and the
/// accounts of `failed` fail with errors holding their words; every other
/// account is evaluated.
fn run_kind(kind: &str, failed: &[(&str, &str)]) -> HashMap<String, (String, String, String)> {
    let out = tempfile::tempdir().unwrap();
    let output = run(&hostile(kind), out.path(), &[]);
    assert_eq!(output.status.code(), Some(1), "{kind}: {}", stderr(&output));
    let results = results(out.path());
    for (id, (status, _, error)) in &results {
        match failed.iter().find(|(f, _)| f == id) {
            Some((_, words)) => {
                assert_eq!(status, "failed", "{kind} {id}");
                assert!(error.contains(words), "{kind} {id}: {error}");
            }
            None => assert_eq!(status, "ok", "{kind} {id}: {error}"),
        }
    }
    for (id, _) in failed {
        assert!(results.contains_key(*id), "{kind}: {id} missing");
    }
    results
}

/// Issue 10: `A,"SPY,STK,USD,1,500` then `B,SPY,STK,USD,100,500`: A failed
/// and B was `ok` with NLV 0. The unclosed quote's error, naming the lines
/// it spans, now fails A and every account whose rows it swallowed.
#[test]
fn an_unclosed_quote_fails_every_account_it_swallowed() {
    let error = "examples/hostile/unclosed-quote/positions.csv line 3 column 2 (symbol): a \
                 quoted field spans lines 3-5 and lines inside it read as rows of their own: \
                 is a closing quote missing? The rows it holds are not read";
    let results = run_kind(
        "unclosed-quote",
        &[("A", error), ("B", error), ("C", error)],
    );
    // The control account before the broken row: 10 × 245.30.
    assert_eq!(results["Q-OK"].1, "2453.00");
}

/// A quote that opens on a line's last field and closes at the end of the
/// next line held that whole next row, its line ends at the field's edges
/// trimmed with its spaces: the row vanished and every account stayed `ok`
/// (E-POS with NLV 300.00 without its short 1,000 ABC, E-SWALLOWED with
/// NLV 0.00, E-CASH without its −1,000,000 of cash, and GC mapped to no
/// factor of its own in the factor table). Each is now the error of the
/// field that swallowed, naming the lines it spans.
#[test]
fn a_quote_opened_at_a_line_end_fails_every_account_it_swallowed() {
    let spans = |file: &str, line: u32, column: &str| {
        format!(
            "edge-quote/{file} line {line} column {column}: a quoted field spans lines {line}-{} \
             and lines inside it read as rows of their own: is a closing quote missing?",
            line + 1
        )
    };
    let positions = spans("positions.csv", 3, "12 (exercise)");
    let cash = spans("cash.csv", 3, "4 (note)");
    let factors = spans("market/factors.csv", 2, "5 (source)");
    let results = run_kind(
        "edge-quote",
        &[
            ("E-POS", &positions),
            ("E-SWALLOWED", &positions),
            ("E-CASH", &cash),
            ("E-GC", &factors),
        ],
    );
    // The control: 10 × 245.30 + 1,000.00 of cash.
    assert_eq!(results["E-OK"].1, "3453.00");
}

/// `GBp` (pence) was read as GBP: 1,000 VOD at 72.50 pence were valued at
/// £72,500 rather than £725, and an FX row `GBp` overrode the pound's rate.
/// Mixed case is now the error of its row; all capitals and all small
/// letters still read.
#[test]
fn a_minor_unit_currency_fails_its_account() {
    let drop = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(drop.path().join(name), text).unwrap();
    std::fs::create_dir(drop.path().join("market")).unwrap();
    write(
        "accounts.csv",
        "account,base_currency\nP,GBP\nL,gbp\nR,USD\n",
    );
    write(
        "positions.csv",
        "account,symbol,asset_class,currency,quantity,mark\nP,VOD,STK,GBp,1000,72.50\n\
         L,VOD,STK,gbp,1000,0.7250\n",
    );
    write("cash.csv", "account,currency,amount\nR,USD,100\n");
    write(
        "market/fx.csv",
        "currency,usd_per_unit\nUSD,1\nGBP,1.25\nZAc,0.00055\n",
    );
    let out = drop.path().join("out");
    let output = run(drop.path(), &out, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let results = results(&out);
    let (status, _, error) = &results["P"];
    assert_eq!(status, "failed");
    assert!(
        error.contains(
            "positions.csv line 2 column 4 (currency): \"GBp\" is not a currency code (mixed \
             case is the notation of a minor unit"
        ),
        "{error}"
    );
    // 1,000 × £0.7250, in a base given in small letters.
    assert_eq!(results["L"], ("ok".into(), "725.00".into(), String::new()));
    assert_eq!(results["R"].0, "ok");
    let errors = std::fs::read_to_string(out.join("errors.csv")).unwrap();
    assert!(
        errors.contains("fx.csv,4,currency,\"\"\"ZAc\"\" is not a currency code (mixed case"),
        "{errors}"
    );
}

/// Issue 10: `1_000` and `5_00` were read as 1000 and 500. Only plain
/// decimals are numbers: in positions, cash and market rows.
#[test]
fn numbers_with_underscores_fail_their_accounts() {
    let not_a_number = "is not a decimal number (plain notation like 1234.56, at most 28 \
                        significant digits)";
    let results = run_kind(
        "underscores",
        &[
            (
                "U-QTY",
                &format!("positions.csv line 3 column 5 (quantity): \"1_000\" {not_a_number}"),
            ),
            (
                "U-MARK",
                &format!("positions.csv line 4 column 6 (mark): \"2_45.30\" {not_a_number}"),
            ),
            (
                "U-CASH",
                &format!("cash.csv line 3 column 3 (amount): \"5_00\" {not_a_number}"),
            ),
            (
                "U-EUR",
                &format!(
                    "underscores/market/fx.csv line 3 column 2 (usd_per_unit): \"1_08\" \
                     {not_a_number}"
                ),
            ),
            (
                "U-BETA",
                &format!("market/factors.csv line 2 column 3 (beta): \"1_0\" {not_a_number}"),
            ),
        ],
    );
    // 10 × 245.30 + 1,000 cash.
    assert_eq!(results["U-OK"].1, "3453.00");
}

/// Underscores in configuration files stop the run (exit 2) before any
/// output, with the file and line.
#[test]
fn numbers_with_underscores_in_configuration_stop_the_run() {
    let dir = hostile("underscores");
    let cases = [
        (
            "--fee",
            dir.join("fee.toml"),
            "line 2: 1_000 is not a plain decimal number".to_string(),
        ),
        (
            "--fee",
            dir.join("fee-string.toml"),
            "\"0_05\" is not a decimal number".to_string(),
        ),
        (
            "--scenario-set",
            dir.join("scenario-set.toml"),
            format!(
                "{}: line 17: 1_000 is not a plain decimal number",
                dir.join("scenario-set.toml").display()
            ),
        ),
    ];
    for (flag, file, words) in cases {
        let out = tempfile::tempdir().unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_exfee"))
            .arg("run")
            .arg(hostile("unclosed-quote"))
            .arg("--out")
            .arg(out.path())
            .args(["--date", "2026-11-20", "--no-reports", flag])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&words), "{}: {stderr}", file.display());
        assert!(!out.path().join("results.csv").exists());
    }
}

/// Issue 10: amounts near the Decimal limit panicked (`Subtraction
/// overflowed` in the uncovered loss). The account fails, the run does not.
#[test]
fn amounts_near_the_decimal_limit_fail_their_account_not_the_run() {
    run_kind(
        "overflow",
        &[
            // NLV −2e28 − 5.9e28 = −7.9e28; the +50 % move loses 1e28:
            // 1e28 + 7.9e28 is past the limit (about 7.92e28).
            ("O-BIG", "amount too large"),
            ("O-FX", "net liquidation value overflows"),
        ],
    );
}

/// Issue 10: `USD,2` in `market/fx.csv` stopped the whole run after
/// revaluation ("rate must be positive, not 0"). Every account needs the USD
/// rate (the fee's USD amounts): each fails with the row's own error, and
/// the run completes.
#[test]
fn a_bad_usd_row_fails_the_accounts_with_its_own_error() {
    let row = "examples/hostile/bad-usd-row/market/fx.csv line 2 column 2 (usd_per_unit): USD \
               must be 1, got 2";
    run_kind("bad-usd-row", &[("R-USD", row), ("R-EUR", row)]);
}

/// A bad row of each market table fails exactly the accounts that need it,
/// with the row's own error (file, line, column).
#[test]
fn a_bad_market_row_fails_exactly_the_accounts_that_need_it() {
    let market = "examples/hostile/bad-market-rows/market";
    let results = run_kind(
        "bad-market-rows",
        &[
            (
                "M-GBP",
                &format!(
                    "{market}/fx.csv line 4 column 2 (usd_per_unit): FX rate must be positive, \
                     got -1.27"
                ),
            ),
            // A broken row (3 fields): its own error, not "no FX rate".
            (
                "M-CHF",
                &format!("{market}/fx.csv line 5: row has 3 fields but the header has 2"),
            ),
            (
                "M-BETA",
                &format!("{market}/factors.csv line 2 column 3 (beta): \"abc\" is not a decimal"),
            ),
            (
                "M-UND",
                &format!("{market}/underlyings.csv line 2 column 3 (price): negative price -5"),
            ),
            (
                "M-RATE",
                &format!(
                    "{market}/rates.csv line 3 column 2 (rate): rate 7 is not a decimal \
                     fraction between -1 and 1"
                ),
            ),
        ],
    );
    // 10 × 245.30 + 1,000 cash.
    assert_eq!(results["M-OK"].1, "3453.00");
}

/// Configuration and table files are read with a size limit: past it, a
/// clear error (exit 2) after reading at most the limit.
#[test]
fn configuration_and_tables_past_their_size_limit_stop_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // A fee file one byte over 1 MiB (comment lines: valid TOML).
    let big_fee = dir.path().join("big-fee.toml");
    let line = format!("#{}\n", "x".repeat(1022));
    let mut text = line.repeat(1024);
    text.push('\n');
    assert_eq!(text.len() as u64, exfee::io::MAX_CONFIG_BYTES + 1);
    std::fs::write(&big_fee, text).unwrap();
    let mut cases: Vec<(Vec<String>, String)> = vec![(
        vec!["--fee".into(), big_fee.display().to_string()],
        format!(
            "cannot read {}: the file is larger than 1048576 bytes, the limit for this kind of file",
            big_fee.display()
        ),
    )];
    if Path::new("/dev/zero").exists() {
        cases.push((
            vec!["--holidays".into(), "/dev/zero".into()],
            "cannot read /dev/zero: the file is larger than 1048576 bytes".into(),
        ));
        // A scenario set whose factor table is endless.
        let set = dir.path().join("set.toml");
        std::fs::write(
            &set,
            std::fs::read_to_string(hostile("underscores").join("scenario-set.toml"))
                .unwrap()
                .replace("scenarios = 1_000", "scenarios = 1000")
                .replace("../../../scenarios/risk-factors-current.csv", "/dev/zero"),
        )
        .unwrap();
        cases.push((
            vec!["--scenario-set".into(), set.display().to_string()],
            "cannot read /dev/zero: the file is larger than 67108864 bytes".into(),
        ));
    }
    for (args, words) in cases {
        let out = dir.path().join("out");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = run(&hostile("unclosed-quote"), &out, &args);
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(&words), "{args:?}: {stderr}");
        assert!(!out.join("results.csv").exists());
    }
}

/// A market table of the drop that never ends (`/dev/zero`) is refused at
/// the table limit rather than read without bound.
#[cfg(unix)]
#[test]
fn an_endless_market_table_stops_the_run() {
    let drop = tempfile::tempdir().unwrap();
    for file in ["accounts.csv", "positions.csv"] {
        std::fs::copy(hostile("unclosed-quote").join(file), drop.path().join(file)).unwrap();
    }
    std::fs::create_dir(drop.path().join("market")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", drop.path().join("market/fx.csv")).unwrap();
    let out = drop.path().join("out");
    let output = run(drop.path(), &out, &[]);
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot read {}: the file is larger than 67108864 bytes, the limit for this kind of file",
            drop.path().join("market/fx.csv").display()
        )),
        "{stderr}"
    );
}

/// An account file that never ends (`/dev/zero`, no line end) kept the run
/// reading its header for ever: the header's first field over the field
/// limit now stops the run there.
#[cfg(unix)]
#[test]
fn an_endless_account_file_stops_the_run() {
    for endless in ["positions.csv", "accounts.csv"] {
        let drop = tempfile::tempdir().unwrap();
        std::fs::create_dir(drop.path().join("market")).unwrap();
        for file in ["accounts.csv", "positions.csv", "market/fx.csv"] {
            if file != endless {
                std::fs::copy(hostile("unclosed-quote").join(file), drop.path().join(file))
                    .unwrap();
            }
        }
        std::os::unix::fs::symlink("/dev/zero", drop.path().join(endless)).unwrap();
        let out = drop.path().join("out");
        let output = run(drop.path(), &out, &[]);
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{endless}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "{}: cannot read the header row: column 1: field longer than 65536 bytes",
                drop.path().join(endless).display()
            )),
            "{endless}: {stderr}"
        );
    }
}

/// Issue 10: "state database X: state database X: …". Each cause once.
#[test]
fn an_error_chain_names_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    std::fs::copy(hostile("not-a-database.sqlite"), &state).unwrap();
    let output = run(
        &hostile("unclosed-quote"),
        &dir.path().join("out"),
        &["--state", state.to_str().unwrap()],
    );
    let first = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{first}");
    let line = first
        .lines()
        .find(|l| l.starts_with("exfee: error:"))
        .unwrap_or_else(|| panic!("no error line: {first}"));
    assert_eq!(line.matches("state database").count(), 1, "{line}");
    assert_eq!(line.matches("file is not a database").count(), 1, "{line}");
    assert!(line.contains(&state.display().to_string()), "{line}");
    // A missing fee file: the path and the OS reason, once each.
    let missing = dir.path().join("missing.toml");
    let output = run(
        &hostile("unclosed-quote"),
        &dir.path().join("out"),
        &["--fee", missing.to_str().unwrap()],
    );
    let text = stderr(&output);
    let line = text
        .lines()
        .find(|l| l.starts_with("exfee: error:"))
        .unwrap();
    assert_eq!(line.matches(missing.to_str().unwrap()).count(), 1, "{line}");
    assert_eq!(line.matches("No such file").count(), 1, "{line}");
}

/// No `unwrap`, `expect`, `panic!` or unchecked `Decimal` arithmetic on a
/// path input reaches: clippy denies them in the production code of every
/// crate input reaches (`cargo clippy -- -D warnings` in CI). This test
/// keeps the guard in place: each crate root denies the four lints, and
/// every `allow` of one of them carries a justification comment.
#[test]
fn the_no_panic_lints_stay_denied_where_input_reaches() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lints = [
        "clippy::unwrap_used",
        "clippy::expect_used",
        "clippy::panic",
        "clippy::arithmetic_side_effects",
    ];
    let crates = [
        "crates/model/src",
        "crates/engine/src",
        "crates/fee/src",
        "crates/io/src",
        "crates/state/src",
        "src",
    ];
    for dir in crates {
        let lib = std::fs::read_to_string(root.join(dir).join("lib.rs")).unwrap();
        let deny = lib
            .find("#![deny(")
            .map(|at| &lib[at..at + lib[at..].find(")]").unwrap()])
            .unwrap_or_else(|| panic!("{dir}/lib.rs has no #![deny(...)]"));
        for lint in lints {
            assert!(deny.contains(lint), "{dir}/lib.rs does not deny {lint}");
        }
        // Every local allow of one of them says why, on the lines above.
        let mut files = vec![root.join(dir)];
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let t = line.trim_start();
                if t.starts_with("#[allow(") && lints.iter().any(|l| t.contains(l)) {
                    assert!(
                        i > 0 && lines[i - 1].trim_start().starts_with("//"),
                        "{}:{}: an allow of a no-panic lint without a comment saying why",
                        path.display(),
                        i + 1
                    );
                }
            }
        }
    }
}

/// The workspace lint gates (docs/architecture.md, "Lint gates") stay in
/// the root manifest, and the crates that have opted in keep taking them.
#[test]
fn the_workspace_lint_gates_stay_in_place() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let table = |name: &str| -> Vec<String> {
        let header = format!("[{name}]");
        let start = manifest
            .find(&header)
            .unwrap_or_else(|| panic!("no {header} in Cargo.toml"));
        manifest[start + header.len()..]
            .lines()
            .take_while(|l| !l.starts_with('['))
            .map(|l| l.split('#').next().unwrap().replace(' ', ""))
            .filter(|l| !l.is_empty())
            .collect()
    };
    let rust = table("workspace.lints.rust");
    for gate in [
        "missing_docs=\"warn\"",
        "unsafe_code=\"deny\"",
        "unused_must_use=\"deny\"",
    ] {
        assert!(rust.iter().any(|l| l == gate), "{gate} missing: {rust:?}");
    }
    let clippy = table("workspace.lints.clippy");
    for gate in [
        "undocumented_unsafe_blocks=\"deny\"",
        "let_underscore_must_use=\"warn\"",
        "cast_possible_truncation=\"warn\"",
        "cast_sign_loss=\"warn\"",
    ] {
        assert!(
            clippy.iter().any(|l| l == gate),
            "{gate} missing: {clippy:?}"
        );
    }
    for dir in [
        ".",
        "crates/fee",
        "crates/adjust",
        "crates/state",
        "crates/calibrate",
        "crates/io",
        "crates/model",
        "crates/engine",
        "crates/scenarios",
        "crates/synth",
        "crates/pricing",
    ] {
        let text = std::fs::read_to_string(root.join(dir).join("Cargo.toml")).unwrap();
        assert!(
            text.contains("[lints]\nworkspace = true"),
            "{dir}/Cargo.toml does not take the workspace lints"
        );
    }
}

/// The Flex CSV reader shares the rules: an unclosed quote fails its
/// account and every known account whose rows it swallowed; an underscore
/// number fails its account.
#[test]
fn flex_reports_follow_the_same_rules() {
    let report = "ClientAccountID,CurrencyPrimary,FXRateToBase,AssetClass,Symbol,Quantity,MarkPrice\n\
                  F-OK,USD,1,STK,AAPL,100,245.30\n\
                  F-B,USD,1,STK,AAPL,1,245.30\n\
                  F-C,USD,1,STK,MSFT,1_000,482.15\n\
                  F-A,USD,1,STK,\"SPY,100,500\n\
                  F-B,USD,1,STK,SPY,100,500\n";
    let batch = exfee::io::read_flex_from(
        [("report.csv", report.as_bytes())],
        exfee::MarketData::default(),
    )
    .unwrap();
    let errors = |id: &str| -> Vec<String> {
        batch
            .accounts
            .iter()
            .find(|a| a.id == id)
            .unwrap_or_else(|| panic!("no account {id}"))
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert!(errors("F-OK").is_empty(), "{:?}", errors("F-OK"));
    let quote = "report.csv line 5 column 5 (Symbol): a quoted field spans lines 5-6 and lines \
                 inside it read as rows of their own: is a closing quote missing? The rows it \
                 holds are not read";
    assert_eq!(errors("F-B"), [quote]);
    assert_eq!(
        errors("F-C"),
        [
            "report.csv line 4 column 6 (Quantity): \"1_000\" is not a decimal number (plain \
          notation like 1234.56, at most 28 significant digits)"
        ]
    );
    // F-A's only row is the broken one: it names no known account, so it is
    // the batch's error (exit code 1), never an account evaluated without it.
    assert!(batch.accounts.iter().all(|a| a.id != "F-A"));
    assert!(
        batch.errors.iter().any(|e| e.to_string() == quote),
        "{:?}",
        batch.errors
    );
}
