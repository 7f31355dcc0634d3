//! Broker Flex Query reports through `exfee run --flex`: every layout gives
//! the same results as the equivalent native drop.

use std::path::{Path, PathBuf};
use std::process::Command;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/flex")
}

/// `results.csv` of a run, rows sorted.
fn results(args: &[&std::ffi::OsStr]) -> Vec<String> {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_exfee"))
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(out.path())
        .args(["--date", "2026-11-20", "--quiet", "--no-reports"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(out.path().join("results.csv")).unwrap();
    let mut rows: Vec<String> = text.lines().map(str::to_string).collect();
    rows.sort();
    rows
}

#[test]
fn every_flex_layout_gives_the_native_drops_results() {
    let native = results(&[examples().join("native").as_os_str()]);
    assert_eq!(native.len(), 5, "four accounts and the header");
    let market = examples().join("native/market");
    for layout in ["header-data", "markers", "plain"] {
        let flex = results(&[
            "--flex".as_ref(),
            examples().join(layout).as_os_str(),
            "--market".as_ref(),
            market.as_os_str(),
        ]);
        assert_eq!(flex, native, "{layout}");
    }
}
