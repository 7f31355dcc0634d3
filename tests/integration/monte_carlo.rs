//! The Monte Carlo scenario set end to end: bounds, reproducibility across
//! thread counts and account subsets, the fixed scenarios inside every set,
//! and the `exfee scenarios` audit file.

use std::process::Command;

use exfee::engine::single_stocks;
use exfee::{
    AccountResult, Batch, EngineConfig, EvaluateOptions, Outcome, ScenarioSource, evaluate_batch,
    evaluate_batch_with,
};

use crate::common::{TestDrop, dec};

/// The default set with fewer draws (tests stay small; the method is the same).
pub fn default_with(draws: usize) -> ScenarioSource {
    ScenarioSource::default_set().with_draws(draws).unwrap()
}

fn drop_with_three_accounts() -> TestDrop {
    let drop = TestDrop::new(
        "A,USD\nB,EUR\nC,USD\n",
        "A,AAPL,STK,USD,100,1,200,,,,,\nA,CLF7,FUT,USD,2,1000,70,CL,,2026-12-21,,\n\
         B,SAP,STK,EUR,300,1,180,,,,,\nB,AAPL,STK,USD,-50,1,200,,,,,\n\
         C,TSLA,STK,USD,40,1,400,,,,,\nC,BTC,CRYPTO,USD,0.5,1,95000,,,,,\n",
    );
    drop.cash("A,USD,-10000\nB,EUR,20000\nB,USD,5000\nC,USD,1000\n");
    drop.factors(
        "AAPL,Equity,1.1,0.3\nSAP,European Equity,1.05,0.28\nTSLA,Equity,2.0,0.6\nBTC,Crypto,1,0\n",
    );
    drop
}

fn config() -> EngineConfig {
    EngineConfig::new("2026-11-20".parse().unwrap())
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn results_are_bit_identical_whatever_the_thread_count() {
    let batch = drop_with_three_accounts().read();
    let source = default_with(400);
    let one = in_pool(1, || {
        evaluate_batch(&batch, &source, &config()).unwrap().results
    });
    let two = in_pool(2, || {
        evaluate_batch(&batch, &source, &config()).unwrap().results
    });
    let four = in_pool(4, || {
        evaluate_batch(&batch, &source, &config()).unwrap().results
    });
    assert_eq!(one, two);
    assert_eq!(one, four);
}

fn only(batch: &Batch, ids: &[&str]) -> Batch {
    Batch {
        accounts: batch
            .accounts
            .iter()
            .filter(|a| ids.contains(&a.id.as_str()))
            .cloned()
            .collect(),
        market: batch.market.clone(),
        errors: Vec::new(),
    }
}

fn result<'a>(results: &'a [AccountResult], id: &str) -> &'a AccountResult {
    results.iter().find(|r| r.account == id).unwrap()
}

#[test]
fn an_account_gets_the_same_result_whatever_else_is_evaluated() {
    let full = drop_with_three_accounts().read();
    let source = default_with(400);
    let all = evaluate_batch(&full, &source, &config()).unwrap();
    // B alone, with the full batch's stocks (as a shard runs).
    let stocks = single_stocks(&full, source.factor_table());
    let alone = evaluate_batch_with(
        &only(&full, &["B"]),
        &source,
        &config(),
        EvaluateOptions {
            stocks: Some(stocks),
            ..EvaluateOptions::default()
        },
    )
    .unwrap();
    assert_eq!(result(&all.results, "B"), result(&alone.results, "B"));
    // Without the stocks of the others (TSLA leaves the set): the draws, and
    // so B's worst loss, do not change; only fixed single-stock scenarios move.
    let own = evaluate_batch(&only(&full, &["A", "B"]), &source, &config()).unwrap();
    let (Outcome::Evaluated(x), Outcome::Evaluated(y)) = (
        &result(&all.results, "B").outcome,
        &result(&own.results, "B").outcome,
    ) else {
        panic!("B not evaluated");
    };
    assert_eq!(x.worst_loss, y.worst_loss);
    assert_eq!(x.nlv, y.nlv);
}

#[test]
fn a_long_single_factor_portfolio_is_worst_at_the_factors_lower_bound() {
    // Long 3 crude futures (CL: the Oil (Crude Oil) factor's own symbol), USD
    // base: every draw moves crude within [−32 %, +62 %], and the fixed
    // scenario puts it at −32 %: the worst loss is exactly 3 × 1,000 × 70 ×
    // 0.32 = 67,200, at the bound (in the fixed scenario or in a draw clipped
    // to it). Nothing else moves a USD future in a USD account.
    let drop = TestDrop::new("L,USD\n", "L,CLF7,FUT,USD,3,1000,70,CL,,2026-12-21,,\n");
    drop.cash("L,USD,100000\n");
    let evaluation = evaluate_batch(&drop.read(), &default_with(2_000), &config()).unwrap();
    let Outcome::Evaluated(risk) = &evaluation.results[0].outcome else {
        panic!("not evaluated");
    };
    assert_eq!(risk.worst_loss, dec("67200.00"));
    assert_eq!(risk.uncovered, dec("0.00"));
    let set = &evaluation.scenarios;
    let fixed_index = (0..set.len())
        .find(|&i| set.name(i) == Some("Oil (Crude Oil)@-32%"))
        .unwrap();
    assert!(risk.worst_scenario <= fixed_index);
}

#[test]
fn scenarios_command_lets_an_auditor_recompute_an_account() {
    // One USD stock, beta 1.2 to Equity with its own moves: its P&L in every
    // scenario is value × (its total move), read straight from the CSV.
    let drop = TestDrop::new("U,USD\n", "U,XYZ,STK,USD,100,1,50,,,,,\n");
    drop.factors("XYZ,Equity,1.2,0.3\n");
    let out = drop.path().join("scenarios.csv");
    let status = Command::new(env!("CARGO_BIN_EXE_exfee"))
        .args(["scenarios", "--drop"])
        .arg(drop.path())
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let header = reader.headers().unwrap().clone();
    let names: Vec<&str> = header.iter().collect();
    assert_eq!(&names[..3], ["index", "name", "Equity"]);
    assert!(names.contains(&"EUR") && names.contains(&"Equity Volatility"));
    assert_eq!(names.last(), Some(&"XYZ"));
    let xyz = names.len() - 1;
    let equity = 2;
    let mut worst = f64::INFINITY;
    let mut rows = 0;
    for record in reader.records() {
        let record = record.unwrap();
        let total: f64 = record[xyz].parse().unwrap();
        let factor: f64 = record[equity].parse().unwrap();
        assert!((-0.5..=0.5).contains(&total), "single-stock bound");
        assert!((-0.3..=0.2).contains(&factor), "Equity bounds");
        worst = worst.min(5_000.0 * total);
        rows += 1;
    }
    assert_eq!(rows, 10_000 + 2 * (38 + 38 + 1 + 1));
    // The engine, on the same default set, finds the same worst loss.
    let evaluation =
        evaluate_batch(&drop.read(), &ScenarioSource::default_set(), &config()).unwrap();
    let Outcome::Evaluated(risk) = &evaluation.results[0].outcome else {
        panic!("not evaluated");
    };
    assert_eq!(risk.worst_loss, dec(&format!("{:.2}", -worst)));
}

/// `scenarios/default-v2.toml` (draw version 2, opt-in) end to end: the
/// audit file's factor and currency columns are the default set's bit for
/// bit, the single stock's column (β·factor + own move) differs in some
/// draws but by at most 1.5·10⁻¹⁵: the own moves (|m| ≤ 0.5) agree to
/// 2·10⁻¹⁵ relative (the two Φ⁻¹ do, crates/scenarios' `as241` tests),
/// plus the sum's rounding. `run.json` names the version.
#[test]
fn draw_version_2_is_opt_in_and_named_in_run_json() {
    let drop = TestDrop::new("U,USD\n", "U,XYZ,STK,USD,100,1,50,,,,,\n");
    drop.factors("XYZ,Equity,1.2,0.3\n");
    let v2 = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/default-v2.toml");
    let audit = |config: Option<&std::path::Path>, name: &str| {
        let out = drop.path().join(name);
        let mut command = Command::new(env!("CARGO_BIN_EXE_exfee"));
        command.args(["scenarios", "--drop"]).arg(drop.path());
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        assert!(command.arg("--out").arg(&out).status().unwrap().success());
        let mut reader = csv::Reader::from_path(&out).unwrap();
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let rows: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        (header, rows)
    };
    let (h1, one) = audit(None, "v1.csv");
    let (h2, two) = audit(Some(&v2), "v2.csv");
    assert_eq!(h1, h2);
    assert_eq!(one.len(), two.len());
    let xyz = h1.iter().position(|h| h == "XYZ").unwrap();
    let mut differ = 0;
    for (a, b) in one.iter().zip(&two) {
        for column in 0..h1.len() {
            if column == xyz {
                let (x, y): (f64, f64) = (a[column].parse().unwrap(), b[column].parse().unwrap());
                assert!((x - y).abs() <= 1.5e-15, "{x} vs {y}");
                differ += usize::from(a[column] != b[column]);
            } else {
                assert_eq!(a[column], b[column], "{}", h1[column]);
            }
        }
    }
    assert!(differ > 0, "version 2 drew version 1's bits");

    let out = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_exfee"))
        .arg("run")
        .arg(drop.path())
        .arg("--out")
        .arg(out.path())
        .arg("--scenario-set")
        .arg(&v2)
        .args(["--no-reports", "-q", "--date", "2026-11-20"])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let text = std::fs::read_to_string(out.path().join("run.json")).unwrap();
    let run: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(run["scenario_set"]["draw_version"], 2, "{text}");
    assert_eq!(run["scenario_set"]["seed"], 1, "{text}");
}

/// The batch's single stocks: every symbol some valid position resolves as
/// a single stock, once, sorted by symbol, with its own volatility. Worked
/// by hand: AAPL, SAP, TSLA from `factors.csv` (0.3, 0.28, 0.6); XYZ held
/// first through a future (no own move) and then as a stock (own move at
/// the default 0.35); BTC's row says 0 (no own move); CL is the crude-oil
/// factor's own symbol.
#[test]
fn single_stocks_are_each_stock_once_with_its_volatility() {
    let drop = TestDrop::new(
        "A,USD\nB,EUR\nC,USD\n",
        "A,AAPL,STK,USD,100,1,200,,,,,\nA,CLF7,FUT,USD,2,1000,70,CL,,2026-12-21,,\n\
         A,XYZF7,FUT,USD,1,100,50,XYZ,,2026-12-21,,\n\
         B,SAP,STK,EUR,300,1,180,,,,,\nB,AAPL,STK,USD,-50,1,200,,,,,\n\
         C,TSLA,STK,USD,40,1,400,,,,,\nC,BTC,CRYPTO,USD,0.5,1,95000,,,,,\n\
         C,XYZ,STK,USD,10,1,50,,,,,\n",
    );
    drop.cash("A,USD,-10000\nB,EUR,20000\nB,USD,5000\nC,USD,1000\n");
    drop.factors(
        "AAPL,Equity,1.1,0.3\nSAP,European Equity,1.05,0.28\nTSLA,Equity,2.0,0.6\nBTC,Crypto,1,0\n",
    );
    let batch = drop.read();
    let source = default_with(10);
    let got: Vec<(String, f64)> = single_stocks(&batch, source.factor_table())
        .into_iter()
        .map(|s| (s.symbol, s.idio_vol))
        .collect();
    let want = [("AAPL", 0.3), ("SAP", 0.28), ("TSLA", 0.6), ("XYZ", 0.35)];
    let want: Vec<(String, f64)> = want.iter().map(|&(s, v)| (s.to_string(), v)).collect();
    assert_eq!(got, want);
}

/// On a synthetic batch, the single stocks equal the plain definition
/// (every valid position's resolved stock, stable-sorted by symbol, the
/// first of each symbol kept), computed here position by position.
#[test]
fn single_stocks_equal_the_plain_definition_on_a_synthetic_batch() {
    use exfee::engine::{Driver, resolve_symbol};
    use exfee::synth::{SynthConfig, synthesize};
    let date = "2026-11-20".parse().unwrap();
    let batch = synthesize(&SynthConfig::new(1_500, 3, date));
    let source = ScenarioSource::default_set();
    let table = source.factor_table();
    let mut plain: Vec<(String, u64)> = Vec::new();
    for account in batch.accounts.iter().filter(|a| a.errors.is_empty()) {
        for position in &account.positions {
            let i = &position.instrument;
            if let Ok(Driver {
                single_stock: Some(vol),
                ..
            }) = resolve_symbol(
                i.risk_symbol(),
                i.asset_class(),
                i.currency,
                &batch.market,
                table,
            ) {
                plain.push((i.risk_symbol().to_string(), vol.to_bits()));
            }
        }
    }
    plain.sort_by(|a, b| a.0.cmp(&b.0));
    plain.dedup_by(|a, b| a.0 == b.0);
    let got: Vec<(String, u64)> = single_stocks(&batch, table)
        .into_iter()
        .map(|s| (s.symbol, s.idio_vol.to_bits()))
        .collect();
    assert!(got.len() > 100, "{} stocks", got.len());
    assert_eq!(got, plain);
}
