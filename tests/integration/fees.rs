//! The fee across nightly runs (grace week, calendar, idempotent re-runs),
//! the report's verified adjustments, and what-if.

use std::path::{Path, PathBuf};
use std::process::Command;

use exfee::fee::FeeSchedule;
use exfee::state::StateDb;
use exfee::{
    Batch, CashBalance, Decimal, EngineConfig, EvaluateOptions, Outcome, Position, WhatIf,
    evaluate_batch_with, measure_of, single_stocks,
};

use crate::common::{TestDrop, dec};
use crate::monte_carlo::default_with;

fn exfee() -> Command {
    Command::new(env!("CARGO_BIN_EXE_exfee"))
}

/// Runs `exfee run` on `drop` for `date` with the fixed stress set, returns
/// results.csv as (header, rows).
fn run_night(
    drop: &Path,
    out: &Path,
    state: &Path,
    date: &str,
    extra: &[&str],
) -> (Vec<String>, Vec<Vec<String>>) {
    let output = exfee()
        .arg("run")
        .arg(drop)
        .arg("--out")
        .arg(out)
        .arg("--state")
        .arg(state)
        .args(["--date", date, "--fixed-only", "--quiet"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut reader = csv::Reader::from_path(out.join("results.csv")).unwrap();
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn cell<'a>(header: &[String], row: &'a [String], column: &str) -> &'a str {
    let i = header
        .iter()
        .position(|h| h == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    &row[i]
}

/// The short-GME account of the fixed-stress tests: worst loss 30,000 (GME
/// +50 %), NLV 20,000, uncovered 10,000. At the default schedule:
/// 10,000 × 5 % / 365 = 1.369863… → 1.37 a day.
fn short_gme_drop() -> TestDrop {
    let drop = TestDrop::new(
        "S1,USD\nOK,USD\n",
        "S1,GME,STK,USD,-2000,1,30,,,,,\nOK,AAPL,STK,USD,10,1,200,,,,,\n",
    );
    drop.cash("S1,USD,80000\nOK,USD,5000\n");
    drop.factors("GME,Equity,1.5,0.9\nAAPL,Equity,1.1,0.3\n");
    drop
}

#[test]
fn grace_week_then_charged_with_weekend_days_and_idempotent_reruns() {
    let drop = short_gme_drop();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state.sqlite");
    let out = |n: usize| -> PathBuf { work.path().join(format!("out{n}")) };

    // Night 1, Monday 2026-11-16: notified only.
    let (h, rows) = run_night(
        drop.path(),
        &out(1),
        &state,
        "2026-11-16",
        &["--no-reports"],
    );
    let s1 = &rows[0];
    assert_eq!(cell(&h, s1, "status"), "uncovered");
    assert_eq!(cell(&h, s1, "uncovered"), "10000.00");
    assert_eq!(cell(&h, s1, "measure"), "30000.00");
    assert_eq!(cell(&h, s1, "fee_status"), "grace");
    assert_eq!(cell(&h, s1, "daily_fee"), "0");
    // what a day will cost once the grace week is over, shown apart from
    // what is posted (nothing)
    assert_eq!(cell(&h, s1, "accrued_daily_fee"), "1.37");
    assert_eq!(cell(&h, s1, "days_posted"), "0");
    assert_eq!(cell(&h, s1, "amount_posted"), "0");
    assert_eq!(cell(&h, s1, "fee_effective_date"), "2026-11-23");
    assert_eq!(cell(&h, &rows[1], "fee_status"), "clear");

    // Tuesday to Friday: still grace.
    for (n, date) in [
        (2, "2026-11-17"),
        (3, "2026-11-18"),
        (4, "2026-11-19"),
        (5, "2026-11-20"),
    ] {
        let (h, rows) = run_night(drop.path(), &out(n), &state, date, &["--no-reports"]);
        assert_eq!(cell(&h, &rows[0], "fee_status"), "grace", "{date}");
    }
    // Monday 2026-11-23, seven days after: charged from today. It posts
    // Friday, Saturday and Sunday, which are inside the grace week: nothing.
    let (h, rows) = run_night(drop.path(), &out(6), &state, "2026-11-23", &[]);
    let s1 = &rows[0];
    assert_eq!(cell(&h, s1, "fee_status"), "charged");
    assert_eq!(cell(&h, s1, "daily_fee"), "1.37");
    assert_eq!(cell(&h, s1, "days_charged"), "3");
    assert_eq!(cell(&h, s1, "days_posted"), "0");
    assert_eq!(cell(&h, s1, "amount_posted"), "0");
    // Tuesday posts Monday at 1.37; re-running Tuesday posts it once.
    for n in [7, 8] {
        let (h, rows) = run_night(
            drop.path(),
            &out(n),
            &state,
            "2026-11-24",
            &["--no-reports"],
        );
        assert_eq!(cell(&h, &rows[0], "days_posted"), "1");
        assert_eq!(cell(&h, &rows[0], "amount_posted"), "1.37");
    }
    let db = StateDb::open(&state).unwrap();
    let ledger = db.ledger("S1").unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(db.total_charged("S1").unwrap(), dec("1.37"));
    assert!(db.ledger("OK").unwrap().is_empty());
    // The report of the charged night exists and links from the index.
    let index = std::fs::read_to_string(out(6).join("index.html")).unwrap();
    assert!(index.contains("S1"));
}

#[test]
fn a_run_after_a_holiday_and_missed_runs_posts_the_estimated_days() {
    let drop = short_gme_drop();
    let work = tempfile::tempdir().unwrap();
    let holidays = work.path().join("holidays.txt");
    std::fs::write(&holidays, "# Thanksgiving\n2026-11-26\n").unwrap();
    let holidays = holidays.to_str().unwrap().to_string();
    let state = work.path().join("state.sqlite");
    // First subject on 2026-11-16; Friday 2026-11-27 after the Thursday
    // holiday charges Wednesday's close through Thursday: 27 − 25 = 2 days.
    run_night(
        drop.path(),
        &work.path().join("a"),
        &state,
        "2026-11-16",
        &["--no-reports"],
    );
    let (h, rows) = run_night(
        drop.path(),
        &work.path().join("b"),
        &state,
        "2026-11-27",
        &["--no-reports", "--holidays", &holidays],
    );
    assert_eq!(cell(&h, &rows[0], "fee_status"), "charged");
    assert_eq!(cell(&h, &rows[0], "days_charged"), "2");
    // No run between the 16th and the 27th: the days from the effective
    // date (23rd) to the holiday (26th) are priced by the 16th's
    // measurement and posted tonight, estimated: 4 × 1.37 = 5.48.
    assert_eq!(cell(&h, &rows[0], "days_posted"), "4");
    assert_eq!(cell(&h, &rows[0], "amount_posted"), "5.48");
}

/// Applies a report's trades (label `SYMBOL (CLASS CCY)`, signed quantity)
/// to a copy of a drop: the positions change and, filled at the marks, the
/// cash in the instrument's currency moves the other way.
fn apply_trades(from: &Path, account: &str, trades: &[(String, Decimal)], into: &Path) {
    let mut reader = csv::Reader::from_path(from.join("positions.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let mut writer = csv::Writer::from_path(into.join("positions.csv")).unwrap();
    writer.write_record(&header).unwrap();
    let mut cash = std::fs::read_to_string(from.join("cash.csv")).unwrap();
    for record in reader.records() {
        let mut row: Vec<String> = record.unwrap().iter().map(str::to_string).collect();
        for (label, change) in trades {
            let symbol = label.rsplit_once(" (").map_or(label.as_str(), |(s, _)| s);
            if row[0] == account && row[1] == symbol {
                let quantity: Decimal = row[4].parse().unwrap();
                row[4] = (quantity + change).to_string();
                let multiplier: Decimal = if row[5].is_empty() {
                    Decimal::ONE
                } else {
                    row[5].parse().unwrap()
                };
                let mark: Decimal = row[6].parse().unwrap();
                if row[2] != "FUT" {
                    cash.push_str(&format!(
                        "{account},{},{}\n",
                        row[3],
                        -change * multiplier * mark
                    ));
                }
            }
        }
        writer.write_record(&row).unwrap();
    }
    writer.flush().unwrap();
    std::fs::write(into.join("cash.csv"), cash).unwrap();
}

fn copy_drop(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("market")).unwrap();
    for file in ["accounts.csv", "positions.csv", "cash.csv"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
    for file in ["fx.csv", "factors.csv", "underlyings.csv", "rates.csv"] {
        std::fs::copy(from.join("market").join(file), to.join("market").join(file)).unwrap();
    }
}

#[test]
fn suggested_reductions_rerun_through_exfee_give_the_reported_fee() {
    let nightly = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nightly");
    let work = tempfile::tempdir().unwrap();
    let run = |drop: &Path, out: &Path| {
        let output = exfee()
            .arg("run")
            .arg(drop)
            .arg("--out")
            .arg(out)
            .args(["--date", "2026-11-20", "--quiet"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let first = work.path().join("first");
    run(&nightly, &first);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(first.join("reports/U9709660.json")).unwrap(),
    )
    .unwrap();
    let reductions: Vec<&serde_json::Value> = report["adjustments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "reduce")
        .collect();
    assert!(
        !reductions.is_empty(),
        "the leveraged TSLA account gets a reduction"
    );
    for (n, adjustment) in reductions.iter().enumerate() {
        let trades: Vec<(String, Decimal)> = adjustment["trades"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t[0].as_str().unwrap().to_string(),
                    t[1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        let drop = work.path().join(format!("adjusted{n}"));
        copy_drop(&nightly, &drop);
        apply_trades(&nightly, "U9709660", &trades, &drop);
        let out = work.path().join(format!("out{n}"));
        run(&drop, &out);
        let mut reader = csv::Reader::from_path(out.join("results.csv")).unwrap();
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        let row: Vec<String> = reader
            .records()
            .map(|r| {
                r.unwrap()
                    .iter()
                    .map(str::to_string)
                    .collect::<Vec<String>>()
            })
            .find(|r| r[0] == "U9709660")
            .unwrap();
        assert_eq!(
            cell(&header, &row, "measure"),
            adjustment["measure_after"].as_str().unwrap(),
            "{}",
            adjustment["title"]
        );
        let fee_after: Decimal = adjustment["fee_after"].as_str().unwrap().parse().unwrap();
        if fee_after.is_zero() {
            assert_eq!(cell(&header, &row, "fee_status"), "clear");
        } else {
            let rerun: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(out.join("reports/U9709660.json")).unwrap(),
            )
            .unwrap();
            assert_eq!(
                rerun["daily_fee"]
                    .as_str()
                    .unwrap()
                    .parse::<Decimal>()
                    .unwrap(),
                fee_after
            );
        }
    }
}

/// A full re-evaluation of account `id` with `order` filled at the marks.
fn full_revaluation(
    batch: &Batch,
    id: &str,
    order: &Position,
    source: &exfee::ScenarioSource,
) -> (Decimal, Decimal) {
    let mut account = batch.accounts.iter().find(|a| a.id == id).unwrap().clone();
    account.positions.push(order.clone());
    let value = order.instrument.market_value(order.quantity).unwrap();
    if !value.is_zero() {
        account.cash.push(CashBalance {
            currency: order.instrument.currency,
            amount: -value,
        });
    }
    let mut with_order = batch.clone();
    with_order.accounts.push(account.clone());
    let mut stocks = single_stocks(&with_order, source.factor_table());
    stocks.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    let one = Batch {
        accounts: vec![account],
        market: batch.market.clone(),
        errors: Vec::new(),
    };
    let schedule = FeeSchedule::default();
    let evaluation = evaluate_batch_with(
        &one,
        source,
        &EngineConfig::new("2026-11-20".parse().unwrap()),
        EvaluateOptions {
            stocks: Some(stocks),
            measure: Some(schedule.measure),
            progress: None,
        },
    )
    .unwrap();
    let Outcome::Evaluated(risk) = &evaluation.results[0].outcome else {
        panic!("not evaluated");
    };
    (
        risk.nlv,
        measure_of(risk, &schedule, evaluation.scenarios.len()),
    )
}

#[test]
fn what_if_equals_a_full_re_evaluation() {
    let drop = TestDrop::new(
        "A,USD\nB,USD\n",
        "A,AAPL,STK,USD,300,1,200,,,,,\nA,CLF7,FUT,USD,2,1000,70,CL,,2026-12-21,,\nB,MSFT,STK,USD,100,1,400,,,,,\n",
    );
    drop.cash("A,USD,-20000\nA,EUR,5000\nB,USD,1000\n");
    drop.factors("AAPL,Equity,1.1,0.3\nMSFT,Equity,1.0,0.25\nNEWCO,Equity,1.6,0.7\n");
    drop.write(
        "market/underlyings.csv",
        "symbol,currency,price,implied_vol,dividend_yield\nAAPL,USD,200,0.3,0.005\n",
    );
    drop.write("market/rates.csv", "currency,rate\nUSD,0.04\n");
    let batch = drop.read();
    let source = default_with(500);
    let config = EngineConfig::new("2026-11-20".parse().unwrap());
    let schedule = FeeSchedule::default();
    let desk = WhatIf::new(&batch, "A", &source, &config, &schedule).unwrap();
    let held = batch.accounts[0].positions[0].instrument.clone();
    let new_stock = exfee::Instrument {
        symbol: "NEWCO".into(),
        ..held.clone()
    };
    let put = exfee::Instrument {
        symbol: "AAPL 270115P180".into(),
        kind: exfee::InstrumentKind::Option {
            underlying: "AAPL".into(),
            on_future: false,
            terms: exfee::OptionTerms {
                strike: dec("180"),
                expiry: "2027-01-15".parse().unwrap(),
                right: exfee::OptionRight::Put,
                exercise: exfee::Exercise::American,
            },
        },
        multiplier: dec("100"),
        mark: dec("4.10"),
        ..held.clone()
    };
    for (instrument, quantity) in [(held, -120), (new_stock, 150), (put, -5)] {
        let order = Position {
            instrument,
            quantity: Decimal::from(quantity),
        };
        let answer = desk.order(std::slice::from_ref(&order)).unwrap();
        let (nlv, measure) = full_revaluation(&batch, "A", &order, &source);
        assert_eq!(answer.after.nlv, nlv, "{}", order.instrument.symbol);
        assert_eq!(answer.after.measure, measure, "{}", order.instrument.symbol);
    }
}
