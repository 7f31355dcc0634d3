//! Outputs that can be trusted (issue 10): no `-0.00`, totals that overflow
//! say so instead of panicking, the top accounts ranked in one currency,
//! report file names as written, no clean-up through a planted link, files
//! that follow the umask, no silent run of an earlier date, and `run.json`.
//! The drop `examples/hostile/outputs/` holds the input cases (see its
//! README).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{TestDrop, read_csv};

fn exfee() -> Command {
    Command::new(env!("CARGO_BIN_EXE_exfee"))
}

fn drop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hostile/outputs")
}

/// `exfee run <drop> --out <out> --fixed-only --date 2026-11-20 -q <extra>`,
/// which must not panic.
fn run(drop: &Path, out: &Path, extra: &[&str]) -> Output {
    let output = exfee()
        .arg("run")
        .arg(drop)
        .arg("--out")
        .arg(out)
        .args(["--fixed-only", "--date", "2026-11-20", "-q"])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    output
}

fn column(rows: &[Vec<String>], name: &str) -> usize {
    rows[0].iter().position(|c| c == name).unwrap()
}

/// H-BIG1, H-BIG2 (USD) and H-BIG3 (EUR) each have an uncovered loss of
/// 3.5 × 10^28: their sum (over 10^29) is beyond a `Decimal` (7.9 × 10^28).
/// Today's main panicked with "Addition overflowed" (exit 101) in the
/// summary; the totals now say so, every account is evaluated, exit 0.
#[test]
fn totals_that_overflow_say_so_and_never_panic() {
    let out = tempfile::tempdir().unwrap();
    let output = run(&drop_dir(), out.path(), &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let total = stdout
        .lines()
        .find(|l| l.contains("total uncovered"))
        .unwrap();
    assert!(total.contains("too large to total"), "{total}");
    let index = std::fs::read_to_string(out.path().join("index.html")).unwrap();
    assert!(index.contains("too large to total"), "index totals");
}

/// Z-CASH holds only USD cash: nothing moves, every scenario loss is an f64
/// −0.0. Its measure is 0.00 (main wrote `-0.00`), and no amount anywhere
/// in results.csv or a report's JSON is a negative zero.
#[test]
fn a_zero_measure_is_0_00_never_minus_zero() {
    let out = tempfile::tempdir().unwrap();
    run(&drop_dir(), out.path(), &[]);
    let rows = read_csv(&out.path().join("results.csv"));
    let measure = column(&rows, "measure");
    let z = rows.iter().find(|r| r[0] == "Z-CASH").unwrap();
    assert_eq!(z[measure], "0.00");
    for row in &rows {
        for cell in row {
            assert!(!cell.starts_with("-0.00") && cell != "-0", "{row:?}");
        }
    }
    for entry in std::fs::read_dir(out.path().join("reports")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.contains("\"-0.00\""), "{}", path.display());
        }
    }
}

/// J-JPY's daily fee is a larger number than U-USD's, but at 0.0064 USD per
/// yen a far smaller amount: the summary and index.html rank by the fee in
/// USD and show both.
#[test]
fn top_accounts_are_ranked_by_the_fee_in_usd() {
    let out = tempfile::tempdir().unwrap();
    let output = run(&drop_dir(), out.path(), &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = |id: &str| -> (usize, Vec<String>) {
        let (at, line) = stdout
            .lines()
            .enumerate()
            .find(|(_, l)| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("{id} not in the summary:\n{stdout}"));
        (at, line.split_whitespace().map(str::to_string).collect())
    };
    let dec = |s: &str| s.parse::<exfee::Decimal>().unwrap();
    let (u_at, u) = line("U-USD");
    let (j_at, j) = line("J-JPY");
    let (rf_at, rf) = line("-rf");
    // account, status, uncovered, daily fee, charged, currency, daily fee USD
    let rates = [("USD", "1"), ("JPY", "0.0064")];
    for fields in [&u, &j, &rf] {
        let rate = rates.iter().find(|(c, _)| *c == fields[5]).unwrap().1;
        let usd = (dec(&fields[3]) * dec(rate)).round_dp(2);
        assert_eq!(dec(&fields[6]), usd, "{fields:?}");
    }
    assert!(dec(&j[3]) > dec(&u[3]), "J-JPY's fee is the larger number");
    assert!(dec(&j[6]) < dec(&u[6]), "and the smaller amount");
    assert!(u_at < j_at && j_at < rf_at, "ranked in USD:\n{stdout}");
    let index = std::fs::read_to_string(out.path().join("index.html")).unwrap();
    let at = |id: &str| index.find(&format!(">{id}<")).unwrap();
    assert!(at("U-USD") < at("J-JPY") && at("J-JPY") < at("-rf"));
    assert!(index.contains("Daily fee (USD)"));
}

/// The id `-rf` writes `rf-<hash>.html`; reports/files.csv names exactly
/// that file (main wrote `-rf.html` and the table said `'-rf`).
#[test]
fn files_csv_names_the_file_written_and_no_name_starts_with_a_dash() {
    let out = tempfile::tempdir().unwrap();
    run(&drop_dir(), out.path(), &[]);
    let rows = read_csv(&out.path().join("reports/files.csv"));
    assert_eq!(rows[0], ["account", "file_stem"]);
    for row in &rows[1..] {
        let stem = &row[1];
        assert!(!stem.starts_with(['-', '\'', '.']), "{row:?}");
        assert!(
            out.path()
                .join("reports")
                .join(format!("{stem}.html"))
                .exists(),
            "{row:?}"
        );
    }
    let rf = rows.iter().find(|r| r[0] == "'-rf").unwrap();
    assert!(rf[1].starts_with("rf-"), "{rf:?}");
    for entry in std::fs::read_dir(out.path().join("reports")).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(!name.to_string_lossy().starts_with('-'), "{name:?}");
    }
}

/// With umask 027 every output file is 0640 (main made every file 0600).
#[cfg(unix)]
#[test]
fn output_files_follow_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg("umask 027 && exec \"$0\" run \"$1\" --out \"$2\" --fixed-only --date 2026-11-20 -q")
        .arg(env!("CARGO_BIN_EXE_exfee"))
        .arg(drop_dir())
        .arg(out.path())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let current = out.path().join("current");
    let mut files = vec![
        current.join("results.csv"),
        current.join("errors.csv"),
        current.join("options.csv"),
        current.join("run.json"),
        current.join("index.html"),
    ];
    for entry in std::fs::read_dir(current.join("reports")).unwrap() {
        files.push(entry.unwrap().path());
    }
    for file in files {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "{}: {mode:o}", file.display());
    }
}

/// `OUT/.runs` planted as a link to another folder: the run refuses it
/// (exit 2) and nothing there is touched (main created its run folder there
/// and removed everything else in it).
#[cfg(unix)]
#[test]
fn a_planted_runs_link_is_never_followed() {
    let out = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("precious.txt"), "keep").unwrap();
    std::fs::create_dir(elsewhere.path().join("work")).unwrap();
    std::fs::write(elsewhere.path().join("work/notes.txt"), "keep").unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), out.path().join(".runs")).unwrap();
    let output = run(&drop_dir(), out.path(), &["--no-reports"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("symbolic link"), "{stderr}");
    let mut names: Vec<String> = std::fs::read_dir(elsewhere.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["precious.txt", "work"]);
    assert!(elsewhere.path().join("work/notes.txt").exists());
}

fn small_drop() -> TestDrop {
    let drop = TestDrop::new(
        "A,USD\nB,USD\n",
        "A,TSLA,STK,USD,1000,1,400,,,,,\nB,AAPL,STK,USD,10,1,200,,,,,\n",
    );
    drop.cash("A,USD,-300000\n");
    drop
}

fn run_on(drop: &Path, out: &Path, date: &str, extra: &[&str]) -> Output {
    let output = exfee()
        .arg("run")
        .arg(drop)
        .arg("--out")
        .arg(out)
        .args(["--fixed-only", "--no-reports", "-q", "--date", date])
        .args(extra)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
    output
}

fn night_dates(state: &Path, account: &str) -> Vec<String> {
    let db = exfee::state::StateDb::open(state).unwrap();
    db.nights(account)
        .unwrap()
        .iter()
        .map(|n| n.date.to_string())
        .collect()
}

/// A date earlier than the state's latest is refused with exit 2 and the
/// state is untouched; with `--rewrite-history` the later nights are removed
/// in the run's transaction and the run says so.
#[test]
fn an_earlier_date_is_refused_unless_history_is_rewritten() {
    let drop = small_drop();
    let out = tempfile::tempdir().unwrap();
    let state = out.path().join("state.sqlite");
    for date in ["2026-11-18", "2026-11-20"] {
        assert_eq!(
            run_on(drop.path(), out.path(), date, &[]).status.code(),
            Some(0)
        );
    }
    assert_eq!(night_dates(&state, "A"), ["2026-11-18", "2026-11-20"]);
    let before = std::fs::read_link(out.path().join("current")).unwrap();

    let refused = run_on(drop.path(), out.path(), "2026-11-19", &[]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("2026-11-20") && stderr.contains("--rewrite-history"),
        "{stderr}"
    );
    assert_eq!(night_dates(&state, "A"), ["2026-11-18", "2026-11-20"]);
    assert_eq!(
        std::fs::read_link(out.path().join("current")).unwrap(),
        before
    );

    // The same date again is allowed (re-running a night replaces it).
    assert_eq!(
        run_on(drop.path(), out.path(), "2026-11-20", &[])
            .status
            .code(),
        Some(0)
    );

    let rewritten = run_on(
        drop.path(),
        out.path(),
        "2026-11-19",
        &["--rewrite-history"],
    );
    assert_eq!(rewritten.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&rewritten.stderr);
    assert!(
        stderr.contains("removed") && stderr.contains("2026-11-20"),
        "{stderr}"
    );
    assert_eq!(night_dates(&state, "A"), ["2026-11-18", "2026-11-19"]);
    assert_eq!(night_dates(&state, "B"), ["2026-11-18", "2026-11-19"]);
    let db = exfee::state::StateDb::open(&state).unwrap();
    assert_eq!(
        db.latest_date().unwrap(),
        Some("2026-11-19".parse().unwrap())
    );
    let summary = db.summary("A").unwrap().unwrap();
    assert_eq!(summary.last_date, "2026-11-19".parse().unwrap());
}

/// The SHA-256 of a file by the system's `sha256sum` (an oracle outside
/// exfee).
fn sha256sum(path: &Path) -> Option<String> {
    let output = Command::new("sha256sum").arg(path).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    text.split_whitespace().next().map(str::to_string)
}

/// The valuation date is printed, and `run.json` (published with
/// results.csv) records date, scenario set, seed, horizon, fee schedule,
/// version and the checksum of every input; `--help` lists the exit codes.
#[test]
fn run_json_records_what_the_night_was_computed_from() {
    let drop = small_drop();
    let out = tempfile::tempdir().unwrap();
    let output = run_on(
        drop.path(),
        out.path(),
        "2026-11-20",
        &["--horizon-days", "3"],
    );
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("valuation date"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("2026-11-20") && line.contains("--date"),
        "{line}"
    );

    // Published with the run: the link and the run folder's file agree.
    let text = std::fs::read_to_string(out.path().join("run.json")).unwrap();
    let run: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(run["valuation_date"], "2026-11-20");
    assert_eq!(run["horizon_days"], 3);
    assert_eq!(run["exfee_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(run["scenario_set"]["fixed_only"], true);
    assert!(
        run["scenario_set"]["seed"].is_null(),
        "fixed stress: no draws"
    );
    assert!(run["scenario_set"]["draw_version"].is_null(), "{text}");
    assert_eq!(run["fee_schedule"], "built-in crates/fee/default-fee.toml");
    let inputs = run["inputs"].as_array().unwrap();
    for name in ["accounts.csv", "positions.csv", "cash.csv", "market/fx.csv"] {
        let path = drop.path().join(name);
        let entry = inputs
            .iter()
            .find(|i| i["path"] == path.display().to_string())
            .unwrap_or_else(|| panic!("{name} not in {text}"));
        if let Some(expected) = sha256sum(&path) {
            assert_eq!(entry["sha256"], expected, "{name}");
        }
        assert_eq!(entry["sha256"].as_str().unwrap().len(), 64);
    }
    let results = std::fs::canonicalize(out.path().join("results.csv")).unwrap();
    let manifest = std::fs::canonicalize(out.path().join("run.json")).unwrap();
    assert_eq!(results.parent(), manifest.parent(), "same run folder");

    // A default seed is recorded for a Monte Carlo set.
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/default.toml"),
    )
    .unwrap();
    let seed: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("seed = "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        !text.contains("draw_version"),
        "the default set is version 1"
    );
    let out = tempfile::tempdir().unwrap();
    let output = exfee()
        .arg("run")
        .arg(drop.path())
        .arg("--out")
        .arg(out.path())
        .args(["--no-reports", "-q", "--date", "2026-11-20"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = std::fs::read_to_string(out.path().join("run.json")).unwrap();
    let run: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(run["scenario_set"]["seed"], seed);
    assert_eq!(run["scenario_set"]["draws"], 10_000);
    // The built-in set has no draw_version key: version 1.
    assert_eq!(run["scenario_set"]["draw_version"], 1);

    let help = exfee().args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Exit codes:"), "{help}");
    for code in [
        "0  every account",
        "1  the run finished",
        "2  the run could not",
    ] {
        assert!(help.contains(code), "{code}: {help}");
    }
}

/// A Flex report carries its own date (`ReportDate`, 2026-11-20 in every
/// layout of examples/flex): without `--date` the run values at it, not
/// today; a `--date` that disagrees is warned about. main valued every
/// report at today's date, silently.
#[test]
fn a_flex_report_is_valued_at_its_report_date() {
    let flex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/flex");
    let market = flex.join("native/market");
    for layout in ["plain", "markers", "header-data"] {
        let out = tempfile::tempdir().unwrap();
        let run = |extra: &[&str]| {
            exfee()
                .arg("run")
                .arg("--flex")
                .arg(flex.join(layout))
                .arg("--market")
                .arg(&market)
                .arg("--out")
                .arg(out.path())
                .args(["--fixed-only", "--no-reports", "-q"])
                .args(extra)
                .output()
                .unwrap()
        };
        let output = run(&[]);
        assert!(output.status.code().is_some_and(|c| c < 2), "{layout}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .find(|l| l.contains("valuation date"))
            .unwrap();
        assert!(
            line.contains("2026-11-20") && line.contains("ReportDate"),
            "{layout}: {line}"
        );
        let text = std::fs::read_to_string(out.path().join("run.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["valuation_date"], "2026-11-20", "{layout}");

        let output = run(&["--date", "2026-11-23"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("warning") && stderr.contains("2026-11-20"),
            "{layout}: {stderr}"
        );
        let text = std::fs::read_to_string(out.path().join("run.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["valuation_date"], "2026-11-23", "{layout}");
    }
}
