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

#[test]
fn flex_xml_gives_the_csv_and_native_results() {
    let native = results(&[examples().join("native").as_os_str()]);
    let market = examples().join("native/market");
    let xml = results(&[
        "--flex".as_ref(),
        examples().join("xml").as_os_str(),
        "--market".as_ref(),
        market.as_os_str(),
    ]);
    let csv = results(&[
        "--flex".as_ref(),
        examples().join("header-data").as_os_str(),
        "--market".as_ref(),
        market.as_os_str(),
    ]);
    assert_eq!(xml, native, "XML against the native drop");
    assert_eq!(xml, csv, "XML against the CSV report");
}

/// Runs `exfee run` with `args`; returns the exit code and the output folder.
fn run(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_exfee"))
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(out.path())
        .args(["--date", "2026-11-20", "--quiet", "--no-reports"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text, out)
}

#[test]
fn reconciliation_csv_lists_every_account_and_a_disagreeing_nav_fails_its_account() {
    let market = examples().join("native/market");
    let (code, text, out) = run(&[
        "--flex".as_ref(),
        examples().join("header-data").as_os_str(),
        examples().join("quirks/nav-mismatch.csv").as_os_str(),
        "--market".as_ref(),
        market.as_os_str(),
    ]);
    assert_eq!(code, Some(1), "{text}");
    let reconciliation = std::fs::read_to_string(out.path().join("reconciliation.csv")).unwrap();
    let lines: Vec<&str> = reconciliation.lines().collect();
    assert_eq!(
        lines[0],
        "account,currency,nlv,broker_nav,difference,tolerance,status"
    );
    // U1100001: −150,000 + 20,000 × 1.0815 + 1,500,000 × 0.006705 + 300 ×
    // 245.30 + 100 × 238.40 × 1.0815 + 5,000 × 10.48 × 1.269 − 5 × 100 ×
    // 4.81 = 45,151.06, as the report's EQUT Total; tolerance 0.01 % = 4.52.
    assert_eq!(lines[1], "U1100001,USD,45151.06,45151.06,0.00,4.52,ok");
    assert_eq!(
        lines[5],
        "U3300007,USD,50000.00,10000.00,40000.00,5.00,mismatch"
    );
    assert_eq!(lines.len(), 6);
    let results = std::fs::read_to_string(out.path().join("results.csv")).unwrap();
    let row = results
        .lines()
        .find(|l| l.starts_with("U3300007,"))
        .unwrap();
    assert!(row.contains(",failed,"), "{row}");
    assert!(
        row.contains(
            "NLV 50,000.00 from positions and cash, broker NAV 10,000.00: a section or row was \
             not counted (difference 40,000.00, tolerance 5.00)"
        ),
        "{row}"
    );
    // The published link next to results.csv.
    assert!(out.path().join("reconciliation.csv").exists());

    // A wider tolerance accepts it.
    let (code, text, _) = run(&[
        "--flex".as_ref(),
        examples().join("quirks/nav-mismatch.csv").as_os_str(),
        "--market".as_ref(),
        market.as_os_str(),
        "--nav-tolerance".as_ref(),
        "40000".as_ref(),
    ]);
    assert_eq!(code, Some(0), "{text}");
    // A negative tolerance would fail every account: refused.
    let (code, text, _) = run(&[
        "--flex".as_ref(),
        examples().join("quirks/nav-mismatch.csv").as_os_str(),
        "--market".as_ref(),
        market.as_os_str(),
        "--nav-tolerance=-1".as_ref(),
    ]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("must not be negative"), "{text}");
}

#[test]
fn an_empty_or_section_less_flex_report_stops_the_run_with_exit_2() {
    let market = examples().join("native/market");
    for name in [
        "stops/empty.csv",
        "stops/no-positions.csv",
        "stops/no-sections.csv",
    ] {
        let (code, text, out) = run(&[
            "--flex".as_ref(),
            examples().join("quirks").join(name).as_os_str(),
            "--market".as_ref(),
            market.as_os_str(),
        ]);
        assert_eq!(code, Some(2), "{name}: {text}");
        assert!(!out.path().join("results.csv").exists(), "{name}");
    }
}

/// Runs `--flex` over `files` (name, text) written to a folder, with the
/// samples' market folder.
fn run_flex(files: &[(&str, &str)]) -> (Option<i32>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<std::ffi::OsString> = vec!["--flex".into()];
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        args.push(path.into_os_string());
    }
    args.push("--market".into());
    args.push(examples().join("native/market").into_os_string());
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    run(&args)
}

/// The first `n` lines of a sample, each with its line end.
fn first_lines(sample: &str, n: usize) -> String {
    let text = std::fs::read_to_string(examples().join(sample)).unwrap();
    text.split_inclusive('\n').take(n).collect()
}

/// `nightly.xml` cut after its first `<OpenPosition …/>` (line 9): read as
/// complete, it gave U1100001 an NLV of 73,590.00 (300 × 245.30) with
/// status ok. The file is not well-formed: the run stops, naming the file,
/// the line it ends on and the elements left open (lines 4, 5, 6 and 8 of
/// the sample).
#[test]
fn a_truncated_flex_xml_report_stops_the_run() {
    let cut = first_lines("xml/nightly.xml", 9);
    let cut = cut.trim_end_matches('\n');
    let (code, text, out) = run_flex(&[("n.xml", cut)]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("n.xml"), "{text}");
    assert!(
        text.contains(
            "line 9: not well-formed XML: the file ends with <OpenPositions> (opened on line \
             8), <FlexStatement> (opened on line 6), <FlexStatements> (opened on line 5), \
             <FlexQueryResponse> (opened on line 4) not closed: the report is cut short"
        ),
        "{text}"
    );
    assert!(!out.path().join("results.csv").exists());
}

/// A markers-layout report cut short stops the run: inside a section (the
/// first 10 lines: the POST section opened on line 3 has no EOS), after an
/// account's EOA (the first 24 lines: U1100002 would be missing without a
/// trace), and when an EOS line's count disagrees with the rows read (the
/// POST section of U1100001 says 7; without its line 6, 6 are read).
#[test]
fn a_truncated_or_short_markers_report_stops_the_run() {
    let (code, text, out) = run_flex(&[("cut.csv", &first_lines("markers/desk-a-usd.csv", 10))]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains(
            "cut.csv: line 10: the file ends here, but the POST section (BOS on line 3) has \
             no EOS line: the report is cut short"
        ),
        "{text}"
    );
    assert!(!out.path().join("results.csv").exists());

    let (code, text, _) = run_flex(&[("cut.csv", &first_lines("markers/desk-a-usd.csv", 24))]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains(
            "line 24: the file ends here, but the report (BOF on line 1) has no EOF line"
        ),
        "{text}"
    );

    let whole = first_lines("markers/desk-a-usd.csv", usize::MAX);
    let short: String = whole
        .split_inclusive('\n')
        .enumerate()
        .filter(|(i, _)| *i != 5)
        .map(|(_, l)| l)
        .collect();
    let (code, text, _) = run_flex(&[("short.csv", &short)]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains(
            "short.csv: line 11: the EOS line of the POST section (BOS on line 3) counts 7 \
             rows, but 6 were read"
        ),
        "{text}"
    );
}

/// A file ending inside a quoted field (no closing quote) is cut short: the
/// row is an error of its account (U2, known from an earlier row) at the
/// cut field, for a Flex report and a native drop alike; the rows before it
/// count. U1 holds 10 × 245.30 = 2,453.00.
#[test]
fn a_file_ending_inside_a_quoted_field_fails_that_rows_account() {
    let report = "ClientAccountID,CurrencyPrimary,FXRateToBase,AssetClass,Symbol,Quantity,MarkPrice\n\
                  U1,USD,1,STK,AAPL,10,245.30\n\
                  U2,USD,1,STK,AAPL,1,245.30\n\
                  U2,USD,1,STK,MSFT,\"100\",\"41";
    let (code, text, out) = run_flex(&[("r.csv", report)]);
    assert_eq!(code, Some(1), "{text}");
    let results = std::fs::read_to_string(out.path().join("results.csv")).unwrap();
    let u1 = results.lines().find(|l| l.starts_with("U1,")).unwrap();
    assert!(u1.starts_with("U1,USD,ok,2453.00,"), "{u1}");
    let u2 = results.lines().find(|l| l.starts_with("U2,")).unwrap();
    assert!(u2.contains(",failed,"), "{u2}");
    assert!(
        u2.contains(
            "r.csv line 4 column 7 (MarkPrice): the file ends inside this quoted field (no \
             closing quote): the file is cut short"
        ),
        "{u2}"
    );

    let drop = crate::common::TestDrop::new(
        "U1,USD\nU2,USD\n",
        "U1,AAPL,STK,USD,10,1,245.30,,,,,\nU2,MSFT,STK,USD,100,1,\"41",
    );
    let evaluation = drop.evaluate();
    assert_eq!(
        crate::common::risk(&evaluation, "U1").nlv,
        crate::common::dec("2453.00")
    );
    let errors = crate::common::errors(&evaluation, "U2");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("positions.csv line 3 column 7 (mark): the file ends inside"),
        "{errors:?}"
    );
}

/// One row dated a day later (the option, 2026-11-21) makes that day the
/// account's date: the rows of 2026-11-20, the broker's NAV among them, are
/// left out. Reconciled as `no_broker_nav` it passed with an NLV of
/// −11,323.50 (the option and the cash only); now the account fails, naming
/// both dates, and the reconciliation says why.
#[test]
fn a_nav_only_of_an_earlier_date_than_a_row_fails_the_account() {
    let report = "\"HEADER\",\"POST\",\"ClientAccountID\",\"CurrencyPrimary\",\"FXRateToBase\",\"AssetClass\",\"Symbol\",\"UnderlyingSymbol\",\"Multiplier\",\"Strike\",\"Expiry\",\"Put/Call\",\"ReportDate\",\"Quantity\",\"MarkPrice\"\n\
        \"DATA\",\"POST\",\"U1\",\"USD\",\"1\",\"STK\",\"AAPL\",\"\",\"1\",\"\",\"\",\"\",\"20261120\",\"100\",\"245.3\"\n\
        \"DATA\",\"POST\",\"U1\",\"USD\",\"1\",\"OPT\",\"AAPL  270115C00260000\",\"AAPL\",\"100\",\"260\",\"20270115\",\"C\",\"20261121\",\"-5\",\"4.81\"\n\
        \"HEADER\",\"CRTT\",\"ClientAccountID\",\"CurrencyPrimary\",\"LevelOfDetail\",\"EndingCash\"\n\
        \"DATA\",\"CRTT\",\"U1\",\"USD\",\"Currency\",\"-10000\"\n\
        \"HEADER\",\"EQUT\",\"ClientAccountID\",\"CurrencyPrimary\",\"ReportDate\",\"Total\"\n\
        \"DATA\",\"EQUT\",\"U1\",\"USD\",\"20261120\",\"12125.00\"\n";
    let (code, text, out) = run_flex(&[("r.csv", report)]);
    assert_eq!(code, Some(1), "{text}");
    let results = std::fs::read_to_string(out.path().join("results.csv")).unwrap();
    let u1 = results.lines().find(|l| l.starts_with("U1,")).unwrap();
    assert!(u1.contains(",failed,"), "{u1}");
    assert!(
        u1.contains(
            "r.csv line 7 column 6 (Total): the broker's NAV of account U1 is of 2026-11-20, \
             but the account's latest ReportDate is 2026-11-21"
        ),
        "{u1}"
    );
    let reconciliation = std::fs::read_to_string(out.path().join("reconciliation.csv")).unwrap();
    // The option (−5 × 100 × 4.81) and the cash: −12,405.00.
    assert!(
        reconciliation.contains("U1,USD,-12405.00,,,,nav_of_earlier_date"),
        "{reconciliation}"
    );
}

/// The same report given twice (under two names, or twice the same path)
/// would count every position twice (lots alone are summed): the run
/// stops, naming both files.
#[test]
fn the_same_report_given_twice_stops_the_run() {
    let report = first_lines("markers/desk-a-usd.csv", usize::MAX);
    let (code, text, out) = run_flex(&[("positions.csv", &report), ("positions (1).csv", &report)]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("positions (1).csv: the same content as ")
            && text.contains("positions.csv (identical files)"),
        "{text}"
    );
    assert!(!out.path().join("results.csv").exists());
    let sample = examples().join("markers/desk-a-usd.csv");
    let (code, text, _) = run(&[
        "--flex".as_ref(),
        sample.as_os_str(),
        sample.as_os_str(),
        "--market".as_ref(),
        examples().join("native/market").as_os_str(),
    ]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("the same content as"), "{text}");
}

/// Inside a BOS … EOS section a row as wide as the header is a data row,
/// whatever its first field: symbols "MSG" and "EOS" are positions, and
/// only `"EOS","POST",…` ends the section. NLV: 100 × 245.30 plus
/// 1,000 × 100 plus 1,000 × 10 plus 1,000 of cash = 135,530.00 (it was
/// 25,530.00 without the two rows).
#[test]
fn marker_words_in_the_first_field_of_a_data_row_are_data() {
    let report = "\"BOF\",\"U1\",\"q\",\"1\",\"20261120\",\"20261120\",\"20261121;021503\",\"3\"\n\
        \"BOA\",\"U1\"\n\
        \"BOS\",\"POST\",\"Open Positions\"\n\
        \"Symbol\",\"CurrencyPrimary\",\"FXRateToBase\",\"AssetClass\",\"Quantity\",\"MarkPrice\",\"ReportDate\"\n\
        \"AAPL\",\"USD\",\"1\",\"STK\",\"100\",\"245.3\",\"20261120\"\n\
        \"MSG\",\"USD\",\"1\",\"STK\",\"1000\",\"100\",\"20261120\"\n\
        \"EOS\",\"USD\",\"1\",\"STK\",\"1000\",\"10\",\"20261120\"\n\
        \"EOS\",\"POST\",\"3\"\n\
        \"BOS\",\"CRTT\",\"Cash Report\"\n\
        \"CurrencyPrimary\",\"EndingCash\"\n\
        \"USD\",\"1000\"\n\
        \"EOS\",\"CRTT\",\"1\"\n\
        \"EOA\",\"U1\"\n\
        \"EOF\",\"1\",\"14\"\n";
    let (code, text, out) = run_flex(&[("r.csv", report)]);
    assert!(code == Some(0) || code == Some(1), "{text}");
    let reconciliation = std::fs::read_to_string(out.path().join("reconciliation.csv")).unwrap();
    assert!(
        reconciliation.contains("U1,USD,135530.00,,,,no_broker_nav"),
        "{reconciliation}"
    );
}
