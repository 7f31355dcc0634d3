//! The `exfee` binary end to end: the README's command on the shipped
//! examples, exit codes, and the output files.

use std::path::Path;
use std::process::Command;

use crate::common::{TestDrop, read_csv};

fn exfee() -> Command {
    Command::new(env!("CARGO_BIN_EXE_exfee"))
}

fn examples(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

#[test]
fn nightly_example_runs_clean() {
    let out = tempfile::tempdir().unwrap();
    let output = exfee()
        .args([
            "run".as_ref(),
            examples("nightly").as_os_str(),
            "--out".as_ref(),
            out.path().as_os_str(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("accounts read"), "{stdout}");
    // The stage times, in the order the night runs them: preparing the
    // accounts is a stage of its own, before the rest of the evaluation.
    let stages: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("    ") && l.trim_end().ends_with(" s"))
        .filter_map(|l| l.trim().rsplit_once("  ").map(|(name, _)| name.trim()))
        .collect();
    assert_eq!(
        stages[..4],
        ["read", "prepare", "scenarios + revaluation", "fees"],
        "{stdout}"
    );
    let rows = read_csv(&out.path().join("results.csv"));
    // The foundation's columns first, in this order (a contract); later issues append.
    assert_eq!(
        rows[0][..8],
        [
            "account",
            "base_currency",
            "status",
            "nlv",
            "worst_loss",
            "worst_scenario",
            "uncovered",
            "error"
        ]
    );
    // Every account of accounts.csv appears exactly once.
    let accounts = read_csv(&examples("nightly").join("accounts.csv"));
    assert_eq!(rows.len(), accounts.len());
    let mut ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), accounts.len() - 1);
    assert!(
        rows[1..]
            .iter()
            .all(|r| r[2] == "ok" || r[2] == "uncovered")
    );
    assert!(rows[1..].iter().any(|r| r[2] == "uncovered"));
}

#[test]
fn broken_example_reports_failures_and_evaluates_the_rest() {
    let out = tempfile::tempdir().unwrap();
    let output = exfee()
        .args([
            "run".as_ref(),
            examples("broken").as_os_str(),
            "--out".as_ref(),
            out.path().as_os_str(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let rows = read_csv(&out.path().join("results.csv"));
    let status = |id: &str| {
        rows.iter()
            .find(|r| r[0] == id)
            .map(|r| r[2].clone())
            .unwrap()
    };
    for valid in ["U2100101", "U2100102", "U2100103"] {
        assert_eq!(status(valid), "ok", "{valid}");
    }
    for broken in [
        "U2100104", "U2100105", "U2100106", "U2100107", "U2100111", "U2100199",
    ] {
        assert_eq!(status(broken), "failed", "{broken}");
    }
    let errors = read_csv(&out.path().join("errors.csv"));
    assert_eq!(errors[0], ["account", "file", "line", "column", "reason"]);
    assert!(
        errors
            .iter()
            .any(|r| r[0] == "U2100105" && r[2] == "24" && r[3] == "mark")
    );
}

#[test]
fn missing_column_stops_the_run_before_any_output() {
    let drop = TestDrop::new("U1,USD\n", "U1,AAPL,STK,USD,10,1,200,,,,,\n");
    drop.write(
        "positions.csv",
        "account,symbol,asset_class,currency,quantity\nU1,AAPL,STK,USD,10\n",
    );
    let out = tempfile::tempdir().unwrap();
    let output = exfee()
        .args([
            "run".as_ref(),
            drop.path().as_os_str(),
            "--out".as_ref(),
            out.path().as_os_str(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("required column 'mark' is missing"),
        "{stderr}"
    );
    assert!(!out.path().join("results.csv").exists());
}

#[test]
fn unreadable_drop_stops_the_run() {
    let out = tempfile::tempdir().unwrap();
    let output = exfee()
        .args(["run", "/nonexistent/drop", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("cannot read /nonexistent/drop/market/fx.csv")
    );
    assert!(!out.path().join("results.csv").exists());
}

/// `exfee run … | head` closes standard output before the summary is
/// printed: the run still finishes with its own exit code (0 here), never
/// the panic exit 101 of a failed `println!`, and its outputs are published.
#[test]
fn a_closed_standard_output_does_not_panic_the_run() {
    use std::process::Stdio;
    let out = tempfile::tempdir().unwrap();
    let mut child = exfee()
        .args([
            "run".as_ref(),
            examples("nightly").as_os_str(),
            "--fixed-only".as_ref(),
            "--no-reports".as_ref(),
            "--date".as_ref(),
            "2026-11-20".as_ref(),
            "--out".as_ref(),
            out.path().as_os_str(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Close the read end at once, as `head` does after its lines.
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(out.path().join("results.csv").exists());
}

/// `EXFEE_SIMD=avx2` caps every vector kernel (aggregation, option pricing,
/// scenario draws) at AVX2, and the results are the same bits as with no
/// cap (AVX-512 where the CPU has it); so are `EXFEE_SIMD=portable`'s (the
/// build for a CPU without AVX2 + FMA): the `exfee bench` digest covers every
/// account's worst scenarios and their P&L. The bench says which set ran.
/// A value naming no instruction set is refused (exit 2), not run uncapped.
#[test]
fn the_simd_cap_changes_no_result() {
    the_simd_cap_changes_no_result_of("1");
    the_simd_cap_changes_no_result_of("2");
}

/// Draw version 2 (`exfee bench --draw-version 2`): the same digest with
/// and without the AVX2 cap (its AS 241 lanes give the same bits at every
/// width), another digest than version 1's; 3 is refused.
#[test]
fn draw_version_2_is_another_digest_and_3_is_refused() {
    let digest = |version: &str| {
        let out = exfee()
            .args(["bench", "--accounts", "300", "--scenarios", "300"])
            .args(["--draw-version", version])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains(&format!("draw version {version})")), "{text}");
        text.lines()
            .find(|l| l.trim_start().starts_with("result digest"))
            .unwrap()
            .to_string()
    };
    assert_ne!(digest("1"), digest("2"));
    let refused = exfee()
        .args([
            "bench",
            "--accounts",
            "10",
            "--scenarios",
            "10",
            "--draw-version",
            "3",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("draw-version"));
}

fn the_simd_cap_changes_no_result_of(version: &str) {
    let bench = |simd: Option<&str>| {
        let mut command = exfee();
        command.args(["bench", "--accounts", "300", "--scenarios", "300"]);
        command.args(["--draw-version", version]);
        command.env_remove("EXFEE_SIMD");
        if let Some(simd) = simd {
            command.env("EXFEE_SIMD", simd);
        }
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = |key: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(key))
                .unwrap_or_else(|| panic!("no `{key}` line in {text}"))
                .to_string()
        };
        (line("result digest"), line("instruction set"))
    };
    let (uncapped, _) = bench(None);
    let (avx2, isa) = bench(Some("avx2"));
    assert_eq!(uncapped, avx2);
    assert!(!isa.contains("avx512"), "{isa}");
    // The portable kernels (a CPU without AVX2 + FMA) give the same bits too.
    let (portable, isa) = bench(Some("portable"));
    assert_eq!(uncapped, portable);
    assert!(isa.contains("portable"), "{isa}");
    let refused = exfee()
        .args(["bench", "--accounts", "10", "--scenarios", "10"])
        .env("EXFEE_SIMD", "avx3")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("EXFEE_SIMD"));
}
