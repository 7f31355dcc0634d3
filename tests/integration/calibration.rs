//! `exfee calibrate`, `exfee history` and `exfee backtest` end to end on the
//! shipped history.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{TestDrop, read_csv};

fn exfee(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exfee"))
        .args(args)
        .output()
        .unwrap()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn history() -> PathBuf {
    root().join("examples/history/history.csv")
}

/// A base set over the shipped tables with few draws (absolute paths).
fn small_base(dir: &Path, draws: usize) -> PathBuf {
    let s = root().join("scenarios");
    let text = format!(
        "factor_table = {:?}\nfx_table = {:?}\ncorrelation = {:?}\nscenarios = {draws}\nseed = 5\n",
        s.join("risk-factors-current.csv"),
        s.join("fx-factors-current.csv"),
        s.join("correlation-default.csv"),
    );
    let path = dir.join("base.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

#[test]
fn calibrated_set_is_accepted_by_run() {
    let tmp = tempfile::tempdir().unwrap();
    let base = small_base(tmp.path(), 200);
    let out = tmp.path().join("cal");
    let o = exfee(&[
        os("calibrate"),
        os("--history"),
        history().as_os_str(),
        os("--scenario-set"),
        base.as_os_str(),
        os("--out"),
        out.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "set.toml",
        "correlation.csv",
        "factors.csv",
        "calibration.md",
        "correlation-full.csv",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    // factors.csv: one row per history symbol that represents nothing.
    let factors = read_csv(&out.join("factors.csv"));
    assert_eq!(factors[0], ["symbol", "factor", "beta", "idio_vol"]);
    let symbols: Vec<&str> = factors[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        symbols,
        [
            "AAPL", "AMZN", "JPM", "MSFT", "NVDA", "SPY", "UNH", "XLE", "XOM"
        ]
    );
    // SPY = the market + 1.5 % own noise in the generator: β ≈ 1, tiny own vol.
    let spy = &factors[1..].iter().find(|r| r[0] == "SPY").unwrap();
    assert_eq!(spy[1], "Equity");
    let beta: f64 = spy[2].parse().unwrap();
    let idio: f64 = spy[3].parse().unwrap();
    assert!((beta - 1.0).abs() < 0.05 && idio < 0.03, "{spy:?}");
    // correlation.csv covers exactly the represented variables.
    let corr = read_csv(&out.join("correlation.csv"));
    assert_eq!(
        corr[0][1..],
        [
            "Equity",
            "Japanese Equity",
            "Oil (Crude Oil)",
            "Treasury",
            "Prec. Metals",
            "EUR",
            "JPY",
            "Equity Volatility"
        ]
    );
    let equity_vol: f64 = corr[1][8].parse().unwrap();
    assert!(equity_vol < -0.4, "{equity_vol}");
    // The full matrix carries the estimate unchanged.
    let full = read_csv(&out.join("correlation-full.csv"));
    let col = |name: &str| full[0].iter().position(|n| n == name).unwrap();
    let row = |name: &str| full.iter().position(|r| r[0] == name).unwrap();
    assert_eq!(full[row("Equity")][col("Equity Volatility")], corr[1][8]);
    let report = std::fs::read_to_string(out.join("calibration.md")).unwrap();
    for needle in [
        "Ledoit–Wolf",
        "Eigenvalues",
        "ν =",
        "horizon at lower",
        "| AAPL | Equity |",
    ] {
        assert!(report.contains(needle), "{needle}");
    }

    // `exfee run` takes the set.
    let run_out = tmp.path().join("run");
    let o = exfee(&[
        os("run"),
        root().join("examples/nightly").as_os_str(),
        os("--scenario-set"),
        out.join("set.toml").as_os_str(),
        os("--out"),
        run_out.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(run_out.join("results.csv").is_file());
}

#[test]
fn a_bad_history_row_is_named_by_line() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("h.csv");
    std::fs::write(
        &path,
        "date,symbol,close\n2024-01-02,SPX,100\n2024-01-03,SPX,zero\n",
    )
    .unwrap();
    let o = exfee(&[
        os("calibrate"),
        os("--history"),
        path.as_os_str(),
        os("--out"),
        tmp.path().join("o").as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 3: close"), "{err}");
}

#[test]
fn history_command_regenerates_the_shipped_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("h.csv");
    let o = exfee(&[
        os("history"),
        os("--seed"),
        os("1"),
        os("--out"),
        path.as_os_str(),
    ]);
    assert!(o.status.success());
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(history()).unwrap()
    );
}

#[test]
fn backtest_realised_pnl_and_coverage() {
    // One account: 10 SPY and 5 AAPL (USD), and one holding only a symbol
    // the history lacks (left out: no row).
    let drop = TestDrop::new(
        "A1,USD\nA2,USD\n",
        "A1,SPY,STK,USD,10,1,500,,,,,\nA1,AAPL,STK,USD,5,1,200,,,,,\nA2,ZZZZ,STK,USD,1,1,10,,,,,\n",
    );
    drop.cash("A1,USD,10000\nA2,USD,100\n");
    let tmp = tempfile::tempdir().unwrap();
    let base = small_base(tmp.path(), 100);
    let out = tmp.path().join("bt");
    let o = exfee(&[
        os("backtest"),
        os("--history"),
        history().as_os_str(),
        os("--drop"),
        drop.path().as_os_str(),
        os("--from"),
        os("2026-10-01"),
        os("--to"),
        os("2026-10-30"),
        os("--horizon-days"),
        os("2"),
        os("--scenario-set"),
        base.as_os_str(),
        os("--out"),
        out.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = read_csv(&out.join("backtest.csv"));
    assert_eq!(
        rows[0],
        ["portfolio", "date", "measure", "realised_pnl", "exceedance"]
    );
    assert!(rows[1..].iter().all(|r| r[0] == "A1"));
    // Realised P&L by hand from the history file: 10·ΔSPY + 5·ΔAAPL over
    // two trading dates of the history's calendar.
    let h = read_csv(&history());
    let mut dates: Vec<&str> = h[1..].iter().map(|r| r[0].as_str()).collect();
    dates.dedup();
    // The close on a date, or the last one before it (a holiday).
    let close = |date: &str, sym: &str| -> f64 {
        h[1..]
            .iter()
            .rfind(|r| r[0].as_str() <= date && r[1] == sym)
            .map(|r| r[2].parse().unwrap())
            .unwrap()
    };
    for r in &rows[1..] {
        let i = dates.iter().position(|d| *d == r[1]).unwrap();
        let later = dates[i + 2];
        let expected = 10.0 * (close(later, "SPY") - close(&r[1], "SPY"))
            + 5.0 * (close(later, "AAPL") - close(&r[1], "AAPL"));
        let got: f64 = r[3].parse().unwrap();
        assert!((got - expected).abs() < 0.006, "{r:?}: {expected}");
        let measure: f64 = r[2].parse().unwrap();
        assert!(measure > 0.0);
        assert_eq!(r[4], if -got > measure { "1" } else { "0" });
    }
    let days = rows.len() - 1;
    let exceedances = rows[1..].iter().filter(|r| r[4] == "1").count();
    let coverage = read_csv(&out.join("coverage.csv"));
    assert_eq!(
        coverage[0],
        [
            "portfolio",
            "days",
            "exceedances",
            "kupiec_p",
            "christoffersen_p",
            "zone"
        ]
    );
    assert_eq!(coverage.len(), 2);
    assert_eq!(coverage[1][0], "A1");
    assert_eq!(coverage[1][1], days.to_string());
    assert_eq!(coverage[1][2], exceedances.to_string());
    assert!(out.join("charts/A1.svg").is_file());
}

#[test]
fn backtest_sees_no_data_after_each_date() {
    // The measure on 2026-10-01 must not change when every close after that
    // date changes (the realised P&L does).
    let drop = TestDrop::new(
        "A1,USD\n",
        "A1,SPY,STK,USD,10,1,500,,,,,\nA1,NVDA,STK,USD,-20,1,100,,,,,\n",
    );
    drop.cash("A1,USD,10000\n");
    let tmp = tempfile::tempdir().unwrap();
    let base = small_base(tmp.path(), 100);
    let text = std::fs::read_to_string(history()).unwrap();
    let changed: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let cells: Vec<&str> = l.split(',').collect();
            if i == 0 || cells[0] <= "2026-10-01" {
                format!("{l}\n")
            } else {
                let close: f64 = cells[2].parse().unwrap();
                let factor = if i % 2 == 0 { 1.05 } else { 0.97 };
                format!("{},{},{}\n", cells[0], cells[1], close * factor)
            }
        })
        .collect();
    let changed_path = tmp.path().join("changed.csv");
    std::fs::write(&changed_path, changed).unwrap();
    let run = |h: &Path, out: &str| {
        let out = tmp.path().join(out);
        let o = exfee(&[
            os("backtest"),
            os("--history"),
            h.as_os_str(),
            os("--drop"),
            drop.path().as_os_str(),
            os("--from"),
            os("2026-10-01"),
            os("--to"),
            os("2026-10-01"),
            os("--horizon-days"),
            os("2"),
            os("--scenario-set"),
            base.as_os_str(),
            os("--out"),
            out.as_os_str(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        read_csv(&out.join("backtest.csv"))
    };
    let (a, b) = (run(&history(), "a"), run(&changed_path, "b"));
    assert_eq!(a.len(), 2);
    assert_eq!(a[1][1], "2026-10-01");
    assert_eq!(a[1][2], b[1][2], "measure");
    assert_ne!(a[1][3], b[1][3], "realised P&L");
}

/// Runs exfee and returns (exit code, stderr).
fn code_and_stderr<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_exfee"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A `date,symbol,close` history of `n` weekdays from Monday 2024-01-01:
/// SPX, TLT and VIX wander; STK follows SPX; `close(symbol, day)` may
/// replace a close.
fn small_history(n: usize, close: impl Fn(&str, usize) -> Option<f64>) -> String {
    let mut text = String::from("date,symbol,close\n");
    let mut date = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    for i in 0..n {
        let x = (i as f64 * 0.7).sin() + (i as f64 * 0.31).cos();
        for (symbol, value) in [
            ("SPX", 5000.0 + 50.0 * x),
            ("STK", 50.0 + (i as f64 * 0.23).sin() + x),
            ("TLT", 90.0 + (i as f64 * 0.5).cos()),
            ("VIX", 15.0 + (i as f64 * 0.9).sin()),
        ] {
            let value = close(symbol, i).unwrap_or(value);
            text.push_str(&format!("{date},{symbol},{value:e}\n"));
        }
        date = date.succ_opt().unwrap();
        while matches!(
            chrono::Datelike::weekday(&date),
            chrono::Weekday::Sat | chrono::Weekday::Sun
        ) {
            date = date.succ_opt().unwrap();
        }
    }
    text
}

#[test]
fn a_close_whose_return_overflows_is_refused_by_file_line_and_symbol() {
    // Day 100 (2024-05-20) STK closes at 1e-300, day 101 (2024-05-21) at
    // 1e10: 1e10 / 1e-300 = 1e310 overflows, so the return is +∞. Each day
    // has 4 rows after the header (SPX, STK, TLT, VIX), so STK's row of
    // day 101 is line 1 + 4·101 + 2 = 407. The same on TLT, a factor
    // (third of the day: line 1 + 4·101 + 3 = 408), and a subnormal close (5e-324) on its own line.
    let tmp = tempfile::tempdir().unwrap();
    for (symbol, second, expected) in [
        (
            "STK",
            1e10,
            "line 407: close: STK on 2024-05-21: the log return from 1e-300 on 2024-05-20 to 1e10 is not finite",
        ),
        (
            "TLT",
            1e10,
            "line 408: close: TLT on 2024-05-21: the log return from 1e-300 on 2024-05-20 to 1e10 is not finite",
        ),
    ] {
        let path = tmp.path().join(format!("{symbol}.csv"));
        let text = small_history(300, |s, i| match (s == symbol, i) {
            (true, 100) => Some(1e-300),
            (true, 101) => Some(second),
            _ => None,
        });
        std::fs::write(&path, text).unwrap();
        let out = tmp.path().join(format!("out-{symbol}"));
        let (code, err) = code_and_stderr(&[
            os("calibrate"),
            os("--history"),
            path.as_os_str(),
            os("--out"),
            out.as_os_str(),
        ]);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains(&format!("{}: {expected}", path.display())),
            "{err}"
        );
        assert!(!out.join("factors.csv").exists());
    }
    let path = tmp.path().join("subnormal.csv");
    let text = small_history(300, |s, i| (s == "STK" && i == 100).then_some(5e-324));
    std::fs::write(&path, text).unwrap();
    let (code, err) = code_and_stderr(&[
        os("calibrate"),
        os("--history"),
        path.as_os_str(),
        os("--out"),
        tmp.path().join("out-sub").as_os_str(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    // STK's row of day 100: line 1 + 4·100 + 2 = 403
    assert!(
        err.contains("line 403: close: 5e-324 is not a positive"),
        "{err}"
    );
}

#[test]
fn history_days_are_bounded_and_the_calendar_end_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("h.csv");
    for days in ["0", "100001", "1000000000000", "18446744073709551615"] {
        let (code, err) = code_and_stderr(&[
            os("history"),
            os("--days"),
            os(days),
            os("--out"),
            out.as_os_str(),
        ]);
        assert_eq!(code, Some(2), "{days}: {err}");
        assert!(err.contains("--days"), "{days}: {err}");
        assert!(!out.exists(), "{days}");
    }
    // +262142-12-31 is the calendar's last date, a Monday (262142 ≡ 2142
    // mod 400, and 2142-12-31 is a Monday): one weekday.
    let (code, err) = code_and_stderr(&[
        os("history"),
        os("--start"),
        os("+262142-12-31"),
        os("--days"),
        os("3"),
        os("--out"),
        out.as_os_str(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("only 1 weekdays from +262142-12-31 to the end of the calendar"),
        "{err}"
    );
    assert!(!out.exists());
    // From Saturday +262142-12-29 (a weekend start) there is one weekday.
    let (code, err) = code_and_stderr(&[
        os("history"),
        os("--start"),
        os("+262142-12-29"),
        os("--days"),
        os("2"),
        os("--out"),
        out.as_os_str(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("only 1 weekdays from +262142-12-29 to the end of the calendar"),
        "{err}"
    );
}

/// A drop of one account per (id, cash currency), each holding 10 SPY.
fn spy_drop(accounts: &[(&str, &str)]) -> TestDrop {
    let ids: String = accounts.iter().map(|(a, _)| format!("{a},USD\n")).collect();
    let positions: String = accounts
        .iter()
        .map(|(a, _)| format!("{a},SPY,STK,USD,10,1,500,,,,,\n"))
        .collect();
    let drop = TestDrop::new(&ids, &positions);
    let cash: String = accounts
        .iter()
        .map(|(a, c)| format!("{a},{c},100\n"))
        .collect();
    drop.cash(&cash);
    drop
}

/// `exfee backtest` of `drop` on the shipped history, 2026-10-01 to
/// 2026-10-02, horizon 1.
fn backtest_args(drop: &TestDrop, base: &Path, out: &Path) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = ["backtest", "--history"].map(Into::into).to_vec();
    args.push(history().into());
    args.extend(["--drop".into(), drop.path().into()]);
    args.extend(
        [
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-02",
            "--scenario-set",
        ]
        .map(Into::into),
    );
    args.extend([base.into(), "--out".into(), out.into()]);
    args
}

#[test]
fn backtest_refuses_a_bad_horizon_halflife_or_lookback_as_calibrate_does() {
    let drop = spy_drop(&[("A1", "USD")]);
    let tmp = tempfile::tempdir().unwrap();
    let base = small_base(tmp.path(), 100);
    let out = tmp.path().join("bt");
    let lines = std::fs::read_to_string(history()).unwrap();
    let dates: std::collections::BTreeSet<&str> = lines.lines().skip(1).map(|l| &l[..10]).collect();
    let n = dates.len();
    for h in [n - 2, usize::MAX - 1, usize::MAX] {
        let mut args = backtest_args(&drop, &base, &out);
        let h = h.to_string();
        args.extend(["--horizon-days".into(), h.clone().into()]);
        let (code, err) = code_and_stderr(&args);
        assert_eq!(code, Some(2), "{h}: {err}");
        assert!(
            err.contains(&format!(
                "the history has {n} dates, too few for a {h}-day horizon"
            )),
            "{h}: {err}"
        );
    }
    for (flag, value, message) in [
        (
            "--halflife",
            "-1",
            "the half-life (--halflife) must be a positive, finite number of trading days, not -1",
        ),
        (
            "--halflife",
            "0",
            "the half-life (--halflife) must be a positive, finite number of trading days, not 0",
        ),
        (
            "--halflife",
            "inf",
            "the half-life (--halflife) must be a positive, finite number of trading days, not inf",
        ),
        (
            "--halflife",
            "NaN",
            "the half-life (--halflife) must be a positive, finite number of trading days, not NaN",
        ),
        (
            "--lookback",
            "1",
            "the lookback (--lookback) must be at least 2 trading days, not 1",
        ),
    ] {
        let flag_value = format!("{flag}={value}");
        let mut args = backtest_args(&drop, &base, &out);
        args.push(flag_value.clone().into());
        let (code, err) = code_and_stderr(&args);
        assert_eq!(code, Some(2), "{flag_value}: {err}");
        assert!(err.contains(message), "{flag_value}: {err}");
        // calibrate says the same
        let (code, err) = code_and_stderr(&[
            os("calibrate"),
            os("--history"),
            history().as_os_str(),
            os(&flag_value),
            os("--out"),
            out.as_os_str(),
        ]);
        assert_eq!(code, Some(2), "{flag_value}: {err}");
        assert!(err.contains(message), "{flag_value}: {err}");
    }
    assert!(!out.exists());
}

#[test]
fn backtest_exits_1_when_account_days_fail_and_keeps_its_outputs() {
    // A2 holds CHF cash, which the drop has no rate for: every one of its
    // days fails (`exfee run` fails it too); A1 is evaluated on the same
    // days (both hold only SPY).
    let drop = spy_drop(&[("A1", "USD"), ("A2", "CHF")]);
    let tmp = tempfile::tempdir().unwrap();
    let base = small_base(tmp.path(), 100);
    let out = tmp.path().join("bt");
    let (code, err) = code_and_stderr(&backtest_args(&drop, &base, &out));
    assert_eq!(code, Some(1), "{err}");
    let rows = read_csv(&out.join("backtest.csv"));
    let a1 = rows[1..].iter().filter(|r| r[0] == "A1").count();
    assert!(
        a1 >= 1 && rows[1..].iter().all(|r| r[0] == "A1"),
        "{rows:?}"
    );
    assert!(
        err.contains(&format!("{a1} account-days could not be evaluated")),
        "{err}"
    );
    assert!(out.join("coverage.csv").is_file());
}

#[test]
fn backtest_charts_of_similar_ids_do_not_overwrite_each_other() {
    // The reports' file stems: `A.B` keeps its dot, `A_B` is itself, and
    // `A/B` (changed) gets a hash: three charts, each titled by its own id.
    let drop = spy_drop(&[("A.B", "USD"), ("A_B", "USD"), ("A/B", "USD")]);
    let tmp = tempfile::tempdir().unwrap();
    let base = small_base(tmp.path(), 100);
    let out = tmp.path().join("bt");
    let (code, err) = code_and_stderr(&backtest_args(&drop, &base, &out));
    assert_eq!(code, Some(0), "{err}");
    let charts: Vec<String> = std::fs::read_dir(out.join("charts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(charts.len(), 3, "{charts:?}");
    for id in ["A.B", "A_B"] {
        let svg = std::fs::read_to_string(out.join(format!("charts/{id}.svg"))).unwrap();
        assert!(svg.contains(id), "{id}");
    }
    assert!(
        charts
            .iter()
            .any(|c| c.starts_with("A_B-") && c.ends_with(".svg")),
        "{charts:?}"
    );
}

#[test]
fn ledger_only_reads_the_state_and_refuses_what_is_not_one() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("ledger.csv");
    let ledger = |state: &Path| {
        code_and_stderr(&[
            os("ledger"),
            os("--state"),
            state.as_os_str(),
            os("--out"),
            csv.as_os_str(),
        ])
    };
    // An empty file stays empty.
    let empty = tmp.path().join("empty.sqlite");
    std::fs::write(&empty, "").unwrap();
    let (code, err) = ledger(&empty);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is not an exfee state database"), "{err}");
    assert_eq!(std::fs::read(&empty).unwrap().len(), 0);
    // Another program's database is left byte for byte as it was.
    let foreign = tmp.path().join("foreign.sqlite");
    {
        let conn = rusqlite::Connection::open(&foreign).unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    let before = std::fs::read(&foreign).unwrap();
    let (code, err) = ledger(&foreign);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is not an exfee state database"), "{err}");
    assert_eq!(std::fs::read(&foreign).unwrap(), before);
    // A schema-1 state is not migrated by a report.
    let old = tmp.path().join("v1.sqlite");
    {
        let conn = rusqlite::Connection::open(&old).unwrap();
        conn.execute_batch(
            "CREATE TABLE nights (account TEXT); CREATE TABLE ledger (account TEXT);
             CREATE TABLE accounts (account TEXT); PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let before = std::fs::read(&old).unwrap();
    let (code, err) = ledger(&old);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("has schema version 1; this exfee reads version 2"),
        "{err}"
    );
    assert_eq!(std::fs::read(&old).unwrap(), before);
    // A directory is named as one.
    let (code, err) = ledger(tmp.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is a directory"), "{err}");
    assert!(!csv.exists());
}

#[test]
fn scenarios_with_a_drop_say_which_accounts_they_leave_out() {
    // B1's position row has a bad quantity: B1 has no column, and the
    // command says so and exits 1; A1's SPY is a column.
    let drop = TestDrop::new(
        "A1,USD\nB1,USD\n",
        "A1,SPY,STK,USD,10,1,500,,,,,\nB1,QQQ,STK,USD,ten,1,400,,,,,\n",
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s.csv");
    let (code, err) = code_and_stderr(&[
        os("scenarios"),
        os("--fixed-only"),
        os("--drop"),
        drop.path().as_os_str(),
        os("--out"),
        out.as_os_str(),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("left out account B1"), "{err}");
    let rows = read_csv(&out);
    assert!(rows[0].iter().any(|h| h == "SPY"), "{:?}", rows[0]);
    assert!(!rows[0].iter().any(|h| h == "QQQ"), "{:?}", rows[0]);
}

#[test]
fn calibrate_reads_factors_within_the_table_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, err) = code_and_stderr(&[
        os("calibrate"),
        os("--history"),
        history().as_os_str(),
        os("--factors"),
        os("/dev/zero"),
        os("--out"),
        tmp.path().join("o").as_os_str(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("cannot read /dev/zero: the file is larger than 67108864 bytes"),
        "{err}"
    );
}
