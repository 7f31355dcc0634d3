//! The night in two halves (`exfee evaluate` in shards, then `exfee charge`)
//! gives exactly the outputs of `exfee run` (docs/scaling.md).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NIGHT1: &str = "2026-11-20";
/// A week later: the first night's grace week is over, fees are charged.
const NIGHT2: &str = "2026-11-27";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn exfee(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exfee"))
        .arg("-q")
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) {
    let out = exfee(args);
    assert!(
        out.status.code() == Some(0),
        "exfee {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Every file under `dir` (relative path → bytes), `run.json` left out (it
/// names the inputs, which differ by construction).
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().unwrap() != "run.json" {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path.strip_prefix(dir).unwrap().to_path_buf(), bytes));
            }
        }
    }
    out.sort();
    out
}

/// Evaluates examples/nightly at `date` in `shards` shards into `dir`.
fn evaluate(dir: &Path, date: &str, shards: u32) {
    let drop = root().join("examples/nightly");
    for i in 0..shards {
        let shard = format!("{i}/{shards}");
        ok(&[
            "evaluate",
            s(&drop),
            "--date",
            date,
            "--shard",
            &shard,
            "--out",
            s(dir),
        ]);
    }
}

#[test]
fn evaluate_in_shards_then_charge_equals_run_night_after_night() {
    let tmp = tempfile::tempdir().unwrap();
    let drop = root().join("examples/nightly");
    let (run_out, split_out) = (tmp.path().join("run"), tmp.path().join("split"));
    for date in [NIGHT1, NIGHT2] {
        ok(&["run", s(&drop), "--date", date, "--out", s(&run_out)]);
        let evaluations = tmp.path().join(format!("evaluations-{date}"));
        evaluate(&evaluations, date, 3);
        ok(&[
            "charge",
            "--evaluations",
            s(&evaluations),
            "--date",
            date,
            "--state",
            s(&split_out.join("state.sqlite")),
            "--out",
            s(&split_out),
        ]);
        let (run, split) = (
            files(&run_out.join("current")),
            files(&split_out.join("current")),
        );
        assert!(
            run.iter().any(|(p, _)| p.starts_with("reports")),
            "the night has reports"
        );
        let names = |f: &[(PathBuf, Vec<u8>)]| f.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
        assert_eq!(names(&run), names(&split), "{date}: the same files");
        for ((path, a), (_, b)) in run.iter().zip(&split) {
            assert!(a == b, "{date}: {} differs", path.display());
        }
    }
    // The second night charged fees (the state carried the grace week).
    let results = std::fs::read_to_string(split_out.join("results.csv")).unwrap();
    assert!(results.contains(",charged,"), "{results}");
}

#[test]
fn an_account_gives_the_same_record_whatever_the_shard_count() {
    let tmp = tempfile::tempdir().unwrap();
    let table = exfee::ScenarioSource::default_set();
    let mut nights = Vec::new();
    for shards in [1, 3, 5] {
        let dir = tmp.path().join(format!("n{shards}"));
        evaluate(&dir, NIGHT1, shards);
        let night = exfee::night::read_evaluations(&[dir], table.factor_table()).unwrap();
        nights.push(night);
    }
    let one = &nights[0];
    assert_eq!(one.accounts.len(), 76);
    for other in &nights[1..] {
        assert_eq!(other.accounts, one.accounts);
        assert_eq!(other.facts, one.facts);
        assert_eq!(other.subjects.accounts, one.subjects.accounts);
    }
    // Every account is at its place in the input.
    let accounts = std::fs::read_to_string(root().join("examples/nightly/accounts.csv")).unwrap();
    let ids: Vec<&str> = accounts
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let read: Vec<&str> = one
        .accounts
        .iter()
        .map(|a| a.result.account.as_str())
        .collect();
    assert_eq!(read, ids);
}

#[test]
fn overlapping_shards_a_wrong_set_or_date_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("e");
    evaluate(&dir, NIGHT1, 2);
    let shard0 = dir.join("shard-0-of-2.evaluation.parquet");
    let out = tmp.path().join("out");
    let charge = |extra: &[&str]| {
        let mut args = vec!["charge", "--out", s(&out)];
        args.extend_from_slice(extra);
        exfee(&args)
    };
    let twice = charge(&["--evaluations", s(&dir), s(&shard0), "--date", NIGHT1]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("two evaluation files"),
        "{}",
        String::from_utf8_lossy(&twice.stderr)
    );
    let fixed = charge(&["--evaluations", s(&dir), "--date", NIGHT1, "--fixed-only"]);
    assert_eq!(fixed.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&fixed.stderr).contains("scenario set"),
        "{}",
        String::from_utf8_lossy(&fixed.stderr)
    );
    // The same seed under draw version 2 is another set.
    let v2 = root().join("scenarios/default-v2.toml");
    let version = charge(&[
        "--evaluations",
        s(&dir),
        "--date",
        NIGHT1,
        "--scenario-set",
        s(&v2),
    ]);
    assert_eq!(version.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&version.stderr);
    assert!(
        stderr.contains("seed 1, draw_version 1") && stderr.contains("seed 1, draw_version 2"),
        "{stderr}"
    );
    let date = charge(&["--evaluations", s(&dir), "--date", NIGHT2]);
    assert_eq!(date.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&date.stderr).contains("evaluated at 2026-11-20"));
    // Nothing was published or charged by the refused nights.
    assert!(!out.join("results.csv").exists());
}
