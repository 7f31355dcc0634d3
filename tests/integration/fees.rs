//! The fee across nightly runs (grace week, calendar, idempotent re-runs),
//! the report's verified adjustments, and what-if.

use std::path::{Path, PathBuf};
use std::process::Command;

use exfee::engine::single_stocks;
use exfee::fee::FeeSchedule;
use exfee::state::StateDb;
use exfee::{
    Batch, CashBalance, Decimal, EngineConfig, EvaluateOptions, Outcome, Position, WhatIf,
    evaluate_batch_with, measure_of,
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
    // A trade in something the account does not hold: a listed hedge
    // instrument (scenarios/hedge-instruments.csv) at its market price.
    let held = std::fs::read_to_string(from.join("positions.csv")).unwrap();
    for (label, change) in trades {
        let symbol = label.rsplit_once(" (").map_or(label.as_str(), |(s, _)| s);
        if held
            .lines()
            .any(|l| l.starts_with(&format!("{account},{symbol},")))
        {
            continue;
        }
        let hedge = exfee::adjust::default_hedges()
            .into_iter()
            .find(|h| h.symbol == symbol)
            .unwrap_or_else(|| panic!("{label} is neither held nor a hedge instrument"));
        let price_symbol = if hedge.future {
            hedge.underlying.clone()
        } else {
            hedge.symbol.clone()
        };
        let underlyings = std::fs::read_to_string(from.join("market/underlyings.csv")).unwrap();
        let mark: Decimal = underlyings
            .lines()
            .find_map(|l| {
                let cells: Vec<&str> = l.split(',').collect();
                (cells[0] == price_symbol).then(|| cells[2].parse().unwrap())
            })
            .unwrap();
        let class = if hedge.future { "FUT" } else { "STK" };
        let underlying = if hedge.future {
            hedge.underlying.as_str()
        } else {
            ""
        };
        writer
            .write_record([
                account,
                symbol,
                class,
                hedge.currency.as_str(),
                &change.to_string(),
                &hedge.multiplier.to_string(),
                &mark.to_string(),
                underlying,
                "",
                "",
                "",
                "",
            ])
            .unwrap();
        if !hedge.future {
            cash.push_str(&format!(
                "{account},{},{}\n",
                hedge.currency,
                -change * hedge.multiplier * mark
            ));
        }
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
        if from.join("market").join(file).exists() {
            std::fs::copy(from.join("market").join(file), to.join("market").join(file)).unwrap();
        }
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
    // "Halves" is shown only as a different trade from "removes".
    let trades_of = |a: &serde_json::Value| a["trades"].to_string();
    let removes: Vec<&&serde_json::Value> = reductions
        .iter()
        .filter(|a| a["title"].as_str().unwrap().contains("removes"))
        .collect();
    for halves in reductions
        .iter()
        .filter(|a| a["title"].as_str().unwrap().contains("halves"))
    {
        for r in &removes {
            assert_ne!(trades_of(halves), trades_of(r));
        }
    }
    // The smallest whole-unit trade: one unit less of any closing no longer
    // removes the fee (checked by re-running exfee).
    for (n, adjustment) in removes.iter().enumerate() {
        let trades = adjustment_trades(adjustment);
        for i in 0..trades.len() {
            if trades[i].0.contains("CASH") || trades[i].1.abs() < Decimal::ONE {
                continue;
            }
            let mut fewer = trades.clone();
            let unit = if fewer[i].1 > Decimal::ZERO {
                Decimal::ONE
            } else {
                -Decimal::ONE
            };
            fewer[i].1 -= unit;
            let drop = work.path().join(format!("fewer{n}-{i}"));
            copy_drop(&nightly, &drop);
            apply_trades(&nightly, "U9709660", &fewer, &drop);
            let out = work.path().join(format!("fewer-out{n}-{i}"));
            run(&drop, &out);
            let (header, rows) = read_csv(&out.join("results.csv"));
            let row = rows.iter().find(|r| r[0] == "U9709660").unwrap();
            assert_ne!(
                cell(&header, row, "fee_status"),
                "clear",
                "one unit less of {} still removes the fee",
                fewer[i].0
            );
        }
    }
    // Every reduction and hedge of three accounts, applied and re-run: the
    // leveraged TSLA account, a crude-oil account offered CL contracts, and
    // a basket with Tokyo shares (board lots of 100).
    let mut checked = 0;
    for account in ["U9709660", "U8004460", "U8835233"] {
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(first.join(format!("reports/{account}.json"))).unwrap(),
        )
        .unwrap();
        for (n, adjustment) in report["adjustments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == "reduce" || a["kind"] == "hedge")
            .enumerate()
        {
            let trades = adjustment_trades(adjustment);
            if account == "U8835233" {
                for (label, quantity) in &trades {
                    if label.starts_with("7203 ") {
                        assert!(
                            (quantity % Decimal::from(100)).is_zero(),
                            "{label} {quantity}"
                        );
                    }
                }
            }
            let drop = work.path().join(format!("adjusted-{account}-{n}"));
            copy_drop(&nightly, &drop);
            apply_trades(&nightly, account, &trades, &drop);
            let out = work.path().join(format!("out-{account}-{n}"));
            run(&drop, &out);
            let (header, rows) = read_csv(&out.join("results.csv"));
            let row = rows.iter().find(|r| r[0] == account).unwrap();
            let title = adjustment["title"].as_str().unwrap();
            assert_eq!(
                cell(&header, row, "measure"),
                adjustment["measure_after"].as_str().unwrap(),
                "{account}: {title}"
            );
            let fee_after: Decimal = adjustment["fee_after"].as_str().unwrap().parse().unwrap();
            if fee_after.is_zero() {
                assert_eq!(
                    cell(&header, row, "fee_status"),
                    "clear",
                    "{account}: {title}"
                );
            } else {
                let paid: Decimal = cell(&header, row, "accrued_daily_fee").parse().unwrap();
                assert_eq!(paid, fee_after, "{account}: {title}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 6, "{checked} suggestions re-run");
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
            terms: exfee::model::OptionTerms {
                strike: dec("180"),
                expiry: "2027-01-15".parse().unwrap(),
                right: exfee::model::OptionRight::Put,
                exercise: exfee::model::Exercise::American,
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

/// Reads a CSV file as (header, rows).
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
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

/// The issue-12 week, walked night by night through `exfee run` with one
/// state file, every posting checked against figures worked out by hand.
///
/// Three accounts short 2,000 GME at 30 (worst scenario GME +50 %: a 30,000
/// loss). With 80,000 cash the NLV is 20,000: 10,000 uncovered, 10,000 × 5 %
/// / 365 = 1.3698… → 1.37 a day. With 76,000 cash (Friday 27th, S1 only):
/// 14,000 uncovered, 700 / 365 = 1.9178… → 1.92. With 100,000 cash (the
/// deposit over the weekend, S1, seen by the run of Tuesday 1st) the NLV is
/// 40,000 > 30,000: clear.
/// - S1: no inventory fee. T1: an inventory fee of 1.37, a tie: the exposure
///   fee is charged. I1: an inventory fee of 5.00, greater: charged 5.00 a
///   day with basis `inventory`.
///
/// Calendar (holidays file: Monday 30th only): first subject Monday 16th,
/// so the grace week ends on Monday 23rd; runs on 16–20, 23, 24, 25, the
/// run of Thursday 26th is missed, 27th, then Tuesday 1st after the Monday
/// holiday, and Wednesday 2nd.
#[test]
fn a_week_of_calendar_day_accrual_posted_to_the_cent() {
    let drop = TestDrop::new(
        "",
        "S1,GME,STK,USD,-2000,1,30,,,,,\nT1,GME,STK,USD,-2000,1,30,,,,,\nI1,GME,STK,USD,-2000,1,30,,,,,\n",
    );
    drop.write(
        "accounts.csv",
        "account,base_currency,inventory_fee\nS1,USD,\nT1,USD,1.37\nI1,USD,5.00\n",
    );
    drop.factors("GME,Equity,1.5,0.9\n");
    let work = tempfile::tempdir().unwrap();
    let holidays = work.path().join("holidays.txt");
    std::fs::write(&holidays, "2026-11-30\n").unwrap();
    let holidays = holidays.to_str().unwrap().to_string();
    let state = work.path().join("state.sqlite");
    let out = |date: &str| work.path().join(date);

    // (date, S1 cash, expected per account: (status, accrued, days posted, amount posted))
    type Night<'a> = (&'a str, &'a str, [(&'a str, &'a str, &'a str, &'a str); 3]);
    let g = "grace";
    let c = "charged";
    #[rustfmt::skip]
    let nights: [Night<'_>; 11] = [
        ("2026-11-16", "80000", [(g, "1.37", "0", "0"), (g, "1.37", "0", "0"), (g, "5.00", "0", "0")]),
        ("2026-11-17", "80000", [(g, "1.37", "0", "0"), (g, "1.37", "0", "0"), (g, "5.00", "0", "0")]),
        ("2026-11-18", "80000", [(g, "1.37", "0", "0"), (g, "1.37", "0", "0"), (g, "5.00", "0", "0")]),
        ("2026-11-19", "80000", [(g, "1.37", "0", "0"), (g, "1.37", "0", "0"), (g, "5.00", "0", "0")]),
        ("2026-11-20", "80000", [(g, "1.37", "0", "0"), (g, "1.37", "0", "0"), (g, "5.00", "0", "0")]),
        // Monday 23rd: charged from today; Fri 20–Sun 22 are grace days
        ("2026-11-23", "80000", [(c, "1.37", "0", "0"), (c, "1.37", "0", "0"), (c, "5.00", "0", "0")]),
        // Tuesday posts Monday
        ("2026-11-24", "80000", [(c, "1.37", "1", "1.37"), (c, "1.37", "1", "1.37"), (c, "5.00", "1", "5.00")]),
        ("2026-11-25", "80000", [(c, "1.37", "1", "1.37"), (c, "1.37", "1", "1.37"), (c, "5.00", "1", "5.00")]),
        // Thursday 26th missed: Friday posts Wed 25 and Thu 26 (estimated), both at Wednesday's fee
        ("2026-11-27", "76000", [(c, "1.92", "2", "2.74"), (c, "1.37", "2", "2.74"), (c, "5.00", "2", "10.00")]),
        // deposit over the weekend; Monday 30th a holiday: Tuesday posts Fri 27–Mon 30 at Friday's fee
        ("2026-12-01", "100000", [("clear", "0", "4", "7.68"), (c, "1.37", "4", "5.48"), (c, "5.00", "4", "20.00")]),
        // Wednesday posts Tuesday: S1's Tuesday is priced by Tuesday's clear run
        ("2026-12-02", "100000", [("clear", "0", "0", "0"), (c, "1.37", "1", "1.37"), (c, "5.00", "1", "5.00")]),
    ];
    for (date, s1_cash, expected) in nights {
        drop.cash(&format!("S1,USD,{s1_cash}\nT1,USD,80000\nI1,USD,80000\n"));
        let extra = ["--no-reports", "--holidays", holidays.as_str()];
        let (h, rows) = run_night(drop.path(), &out(date), &state, date, &extra);
        for (account, want) in ["S1", "T1", "I1"].iter().zip(expected) {
            let row = rows.iter().find(|r| r[0] == *account).unwrap();
            let got = (
                cell(&h, row, "fee_status"),
                cell(&h, row, "accrued_daily_fee"),
                cell(&h, row, "days_posted"),
                cell(&h, row, "amount_posted"),
            );
            assert_eq!(got, want, "{account} on {date}");
        }
        if date == "2026-11-23" {
            // the tie: the exposure fee is charged (T1), the greater
            // inventory fee is paid instead of it (I1)
            let t1 = rows.iter().find(|r| r[0] == "T1").unwrap();
            assert_eq!(cell(&h, t1, "daily_fee"), "1.37");
            assert_eq!(cell(&h, t1, "fee_paid"), "exposure");
            let i1 = rows.iter().find(|r| r[0] == "I1").unwrap();
            assert_eq!(cell(&h, i1, "daily_fee"), "0");
            assert_eq!(cell(&h, i1, "fee_paid"), "inventory");
        }
    }

    // The ledger: one row per calendar day charged, grace days not rows.
    let ledger_csv = work.path().join("ledger.csv");
    let status = exfee()
        .args(["ledger", "--state"])
        .arg(&state)
        .args(["--account", "S1", "--out"])
        .arg(&ledger_csv)
        .status()
        .unwrap();
    assert!(status.success());
    let (header, rows) = read_csv(&ledger_csv);
    assert_eq!(
        header[..7],
        [
            "account",
            "currency",
            "day",
            "measured_on",
            "posted_on",
            "amount",
            "basis"
        ]
    );
    let s1: Vec<String> = rows.iter().map(|r| r.join(",")).collect();
    assert_eq!(
        s1,
        [
            "S1,USD,2026-11-23,2026-11-23,2026-11-24,1.37,exposure",
            "S1,USD,2026-11-24,2026-11-24,2026-11-25,1.37,exposure",
            "S1,USD,2026-11-25,2026-11-25,2026-11-27,1.37,exposure",
            "S1,USD,2026-11-26,2026-11-25,2026-11-27,1.37,estimated",
            "S1,USD,2026-11-27,2026-11-27,2026-12-01,1.92,exposure",
            "S1,USD,2026-11-28,2026-11-27,2026-12-01,1.92,exposure",
            "S1,USD,2026-11-29,2026-11-27,2026-12-01,1.92,exposure",
            "S1,USD,2026-11-30,2026-11-27,2026-12-01,1.92,exposure",
        ]
    );
    // 4 × 1.37 + 4 × 1.92 = 5.48 + 7.68 = 13.16
    let db = StateDb::open(&state).unwrap();
    assert_eq!(db.total_charged("S1").unwrap(), dec("13.16"));
    // T1: 7 days from the 23rd to the 30th and Dec 1st at 1.37 = 9 × 1.37 = 12.33
    assert_eq!(db.total_charged("T1").unwrap(), dec("12.33"));
    // I1: 9 days at 5.00, inventory basis except the estimated 26th
    let i1 = db.ledger("I1").unwrap();
    assert_eq!(i1.len(), 9);
    assert_eq!(db.total_charged("I1").unwrap(), dec("45.00"));
    assert_eq!(
        i1.iter()
            .filter(|r| r.basis == exfee::state::Basis::Inventory)
            .count(),
        8
    );

    // A window of days, all accounts.
    let status = exfee()
        .args(["ledger", "--state"])
        .arg(&state)
        .args(["--from", "2026-11-28", "--to", "2026-11-29", "--out"])
        .arg(&ledger_csv)
        .status()
        .unwrap();
    assert!(status.success());
    let (_, rows) = read_csv(&ledger_csv);
    let window: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {} {}", r[0], r[2], r[5]))
        .collect();
    assert_eq!(
        window,
        [
            "I1 2026-11-28 5.00",
            "I1 2026-11-29 5.00",
            "S1 2026-11-28 1.92",
            "S1 2026-11-29 1.92",
            "T1 2026-11-28 1.37",
            "T1 2026-11-29 1.37",
        ]
    );

    // changes.csv: newly subject, entering charge, fee up (1.37 → 1.92,
    // +40 %), cleared.
    let changes = |date: &str| -> Vec<String> {
        let (_, rows) = read_csv(&out(date).join("current").join("changes.csv"));
        rows.iter().map(|r| format!("{} {}", r[0], r[2])).collect()
    };
    assert_eq!(
        changes("2026-11-16"),
        ["S1 newly_subject", "T1 newly_subject", "I1 newly_subject"]
    );
    assert!(changes("2026-11-17").is_empty());
    assert_eq!(
        changes("2026-11-23"),
        [
            "S1 entering_charge",
            "T1 entering_charge",
            "I1 entering_charge"
        ]
    );
    assert_eq!(changes("2026-11-27"), ["S1 fee_up"]);
    assert_eq!(changes("2026-12-01"), ["S1 cleared"]);

    // fees_by_class.csv: the one class (GME maps to Equity) carries the fee.
    let (header, rows) = read_csv(&out("2026-11-16").join("current").join("fees_by_class.csv"));
    assert_eq!(header, ["account", "currency", "class", "daily_fee"]);
    let split: Vec<String> = rows.iter().map(|r| r.join(",")).collect();
    assert_eq!(
        split,
        [
            "S1,USD,Equity,1.37",
            "T1,USD,Equity,1.37",
            "I1,USD,Equity,5.00"
        ]
    );
}

/// An account whose inventory fee (5.00) exceeds its exposure fee (1.37)
/// pays 5.00 whatever it does to its exposure: no suggestion lowers what it
/// pays, so none is offered. The same portfolio without an inventory fee
/// gets suggestions, each below its 1.37.
#[test]
fn suggestions_are_checked_against_the_fee_actually_paid() {
    let drop = TestDrop::new(
        "",
        "S1,GME,STK,USD,-2000,1,30,,,,,\nI1,GME,STK,USD,-2000,1,30,,,,,\n",
    );
    drop.write(
        "accounts.csv",
        "account,base_currency,inventory_fee\nS1,USD,\nI1,USD,5.00\n",
    );
    drop.cash("S1,USD,80000\nI1,USD,80000\n");
    drop.factors("GME,Equity,1.5,0.9\n");
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    run_night(
        drop.path(),
        &out,
        &work.path().join("state.sqlite"),
        "2026-11-16",
        &[],
    );
    let (_, files) = read_csv(&out.join("current/reports/files.csv"));
    let adjustments = |account: &str| -> Vec<serde_json::Value> {
        let stem = &files.iter().find(|r| r[0] == account).unwrap()[1];
        let text =
            std::fs::read_to_string(out.join("current/reports").join(format!("{stem}.json")))
                .unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            json["daily_fee"]
                .as_str()
                .map(str::to_string)
                .or_else(|| Some(json["daily_fee"].to_string())),
            Some(if account == "I1" { "5.00" } else { "1.37" }.to_string()),
            "{account}"
        );
        json["adjustments"].as_array().unwrap().clone()
    };
    assert!(adjustments("I1").is_empty());
    // With reports, fees_by_class.csv is the reports' split: all of each
    // fee on the one class.
    let (_, split) = read_csv(&out.join("current/fees_by_class.csv"));
    let split: Vec<String> = split.iter().map(|r| r.join(",")).collect();
    assert_eq!(split, ["S1,USD,Equity,1.37", "I1,USD,Equity,5.00"]);
    let s1 = adjustments("S1");
    assert!(!s1.is_empty());
    for a in &s1 {
        let after: Decimal = a["fee_after"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| a["fee_after"].to_string())
            .parse()
            .unwrap();
        assert!(after < dec("1.37"), "{a}");
    }
}

/// The trades of a report's adjustments, by title.
fn report_trades(out: &Path, account: &str) -> Vec<(String, String)> {
    let (_, files) = read_csv(&out.join("current/reports/files.csv"));
    let stem = &files.iter().find(|r| r[0] == account).unwrap()[1];
    let text =
        std::fs::read_to_string(out.join("current/reports").join(format!("{stem}.json"))).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["adjustments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["title"].as_str().unwrap().to_string(),
                a["trades"].to_string(),
            )
        })
        .collect()
}

/// Short 2,000 GME at 30 with 75,000 cash: NLV 15,000, worst loss 30,000
/// (GME +50 %, 15 a share), uncovered 15,000 → 750 / 365 = 2.0548 → 2.05.
/// - Removing the fee needs 15 × kept ≤ 15,000: keep 1,000, buy back exactly
///   1,000 (not 1,001: the rounded solution steps back while it holds).
/// - Halving it (≤ 1.02, half of 2.05 rounded half-even): keeping k short
///   leaves 15k − 15,000 uncovered and (15k − 15,000) × 5 % / 365 ≤ 1.025
///   first holds at k = 1,498 (7,470 → 1.0233 → 1.02; k = 1,499 gives
///   7,485 → 1.0253 → 1.03): buy back 502.
#[test]
fn reductions_are_the_smallest_whole_units() {
    let drop = TestDrop::new("S1,USD\n", "S1,GME,STK,USD,-2000,1,30,,,,,\n");
    drop.cash("S1,USD,75000\n");
    drop.factors("GME,Equity,1.5,0.9\n");
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let (h, rows) = run_night(
        drop.path(),
        &out,
        &work.path().join("state.sqlite"),
        "2026-11-16",
        &[],
    );
    assert_eq!(cell(&h, &rows[0], "accrued_daily_fee"), "2.05");
    let trades = report_trades(&out, "S1");
    let reduce: Vec<&(String, String)> = trades
        .iter()
        .filter(|(t, _)| t.starts_with("Reduce"))
        .collect();
    assert_eq!(reduce.len(), 2, "{trades:?}");
    assert!(reduce[0].0.contains("removes"));
    assert_eq!(reduce[0].1, r#"[["GME (STK USD)","1000"]]"#);
    assert!(reduce[1].0.contains("halves"));
    assert_eq!(reduce[1].1, r#"[["GME (STK USD)","502"]]"#);

    // The worst-scenario table shows each position's total move: in
    // `Equity@+20%` GME moves 1.5 × 20 % = +30 % with no move of its own
    // (a 2,000 × 30 × 0.3 = 18,000 loss); in `GME@+50%` its own +50 %.
    let (_, files) = read_csv(&out.join("current/reports/files.csv"));
    let stem = &files.iter().find(|r| r[0] == "S1").unwrap()[1];
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("current/reports").join(format!("{stem}.json"))).unwrap(),
    )
    .unwrap();
    let worst = json["worst_scenarios"].as_array().unwrap();
    let line = |name: &str| {
        worst
            .iter()
            .find(|w| w["name"] == name)
            .unwrap_or_else(|| panic!("{name} among the worst"))
    };
    let equity = line("Equity@+20%");
    assert_eq!(equity["moves"][0], serde_json::json!(["GME total", 0.3]));
    assert_eq!(equity["pnl"], "-18000.00");
    let own = line("GME@+50%");
    assert_eq!(own["moves"][0], serde_json::json!(["GME total", 0.5]));
}

/// Applies every reduction and hedge of `account`'s report (fixed stress set, night
/// `date`) to a copy of the drop, re-runs `exfee run` and checks the
/// reported measure and fee actually paid: the re-run's measure, and its
/// accrued daily fee (subject) or inventory fee (clear). Returns the
/// reductions' trades by title.
fn rerun_reductions(drop: &Path, account: &str, work: &Path) -> Vec<(String, String)> {
    let out = work.join("first");
    run_night(drop, &out, &work.join("first.sqlite"), "2026-11-16", &[]);
    let (_, files) = read_csv(&out.join("current/reports/files.csv"));
    let stem = &files.iter().find(|r| r[0] == account).unwrap()[1];
    let text =
        std::fs::read_to_string(out.join("current/reports").join(format!("{stem}.json"))).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut seen = Vec::new();
    for (n, adjustment) in json["adjustments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "reduce" || a["kind"] == "hedge")
        .enumerate()
    {
        let trades = adjustment_trades(adjustment);
        let adjusted = work.join(format!("adjusted{n}"));
        copy_drop(drop, &adjusted);
        apply_trades(drop, account, &trades, &adjusted);
        let (h, rows) = run_night(
            &adjusted,
            &work.join(format!("out{n}")),
            &work.join(format!("state{n}.sqlite")),
            "2026-11-16",
            &["--no-reports"],
        );
        let row = rows.iter().find(|r| r[0] == account).unwrap();
        let title = adjustment["title"].as_str().unwrap();
        assert_eq!(
            cell(&h, row, "measure"),
            adjustment["measure_after"].as_str().unwrap(),
            "{title}"
        );
        let fee_after: Decimal = adjustment["fee_after"].as_str().unwrap().parse().unwrap();
        let paid: Decimal = if cell(&h, row, "fee_status") == "clear" {
            cell(&h, row, "inventory_fee")
                .parse()
                .unwrap_or(Decimal::ZERO)
        } else {
            cell(&h, row, "accrued_daily_fee").parse().unwrap()
        };
        assert_eq!(paid, fee_after, "{title}");
        seen.push((title.to_string(), adjustment["trades"].to_string()));
    }
    seen
}

/// Tokyo shares trade in board lots of 100 (scenarios/lots.csv). A JPY
/// account long 10,000 Toyota (7203) at 3,000 with −18,100,000 JPY cash:
/// NLV 11,900,000; the worst scenario is the stock's −50 % (single stocks
/// are bounded at −50 %): a 15,000,000 loss, 1,500 a share. Removing the
/// fee needs 1,500 × kept ≤ 11,900,000, kept ≤ 7,933.3: selling 2,066.7
/// shares, 2,067 in shares but 2,100 in board lots of 100 (kept 7,900,
/// loss 11,850,000).
#[test]
fn reductions_respect_board_lots_and_rerun_to_the_reported_fee() {
    let drop = TestDrop::new("J1,JPY\n", "J1,7203,STK,JPY,10000,1,3000,,,,,\n");
    drop.cash("J1,JPY,-18100000\n");
    drop.factors("7203,Japanese Equity,1.0,0.3\n");
    let work = tempfile::tempdir().unwrap();
    let (h, rows) = run_night(
        drop.path(),
        &work.path().join("probe"),
        &work.path().join("probe.sqlite"),
        "2026-11-16",
        &["--no-reports"],
    );
    assert_eq!(cell(&h, &rows[0], "measure"), "15000000.00");
    assert_eq!(cell(&h, &rows[0], "nlv"), "11900000.00");
    let seen = rerun_reductions(drop.path(), "J1", work.path());
    let removes = seen.iter().find(|(t, _)| t.contains("removes")).unwrap();
    assert_eq!(removes.1, r#"[["7203 (STK JPY)","-2100"]]"#);
    for (title, trades) in &seen {
        let quantity: Decimal = trades
            .rsplit_once(",\"")
            .unwrap()
            .1
            .trim_end_matches("\"]]")
            .parse()
            .unwrap();
        assert!(
            (quantity % Decimal::from(100)).is_zero(),
            "{title}: {trades}"
        );
    }
}

/// An account with an inventory fee (0.50) below its exposure fee (1.37):
/// removing the exposure fee leaves the inventory fee, which the re-run
/// confirms; the short-GME account of the tests above.
#[test]
fn reductions_of_an_inventory_fee_account_rerun_to_the_fee_actually_paid() {
    let drop = TestDrop::new("", "S1,GME,STK,USD,-2000,1,30,,,,,\n");
    drop.write(
        "accounts.csv",
        "account,base_currency,inventory_fee\nS1,USD,0.50\n",
    );
    drop.cash("S1,USD,80000\n");
    drop.factors("GME,Equity,1.5,0.9\n");
    let work = tempfile::tempdir().unwrap();
    let seen = rerun_reductions(drop.path(), "S1", work.path());
    // remove: 15 × kept ≤ 20,000 → kept 1,333, buy back 667
    let removes = seen.iter().find(|(t, _)| t.contains("removes")).unwrap();
    assert_eq!(removes.1, r#"[["GME (STK USD)","667"]]"#);
}

/// A hedge in whole contracts of a listed future. Long 5,000 SPY at 600
/// (mapped to the Equity factor with no move of its own) on 2,400,000 of
/// borrowed USD: NLV 600,000, the Equity −30 % scenario loses 900,000. One
/// short E-mini (50 × SPX at 6,785.40 = 339,270) gains 0.3 × 339,270 =
/// 101,781 there: 900,000 − 101,781 n ≤ 600,000 needs n ≥ 2.95, so 3
/// contracts (594,657; in Equity +20 % the account still gains 600,000 −
/// 3 × 67,854). Applied to the drop and re-run, it gives the reported fee.
#[test]
fn hedges_are_whole_contracts_of_a_listed_future() {
    let drop = TestDrop::new("H1,USD\n", "H1,SPY,STK,USD,5000,1,600,,,,,\n");
    drop.cash("H1,USD,-2400000\n");
    drop.factors("SPY,Equity,1.0,0\n");
    drop.write(
        "market/underlyings.csv",
        "symbol,currency,price,implied_vol,dividend_yield\nSPX,USD,6785.40,0.16,0.0130\n",
    );
    let work = tempfile::tempdir().unwrap();
    let seen = rerun_reductions(drop.path(), "H1", work.path());
    let hedge = seen
        .iter()
        .find(|(t, _)| t.starts_with("Sell 3 ES contract(s)"))
        .unwrap_or_else(|| panic!("{seen:?}"));
    assert_eq!(hedge.1, r#"[["ES (FUT USD)","-3"]]"#);
    assert!(hedge.0.contains("E-mini S&P 500 future (50 × SPX)"));
}

/// The single trade that does it: a USD account whose risk is one short
/// EUR balance (−100,000 EUR at 1.10) with eight small stock positions.
/// NLV 112,000 − 110,000 + 8 × 1,000 = 10,000; the worst scenario is EUR
/// +9.9 %: 0.099 × 110,000 = 10,890 lost. Converting c EUR leaves a loss of
/// 0.1089 × (100,000 − c), which rounds to 10,000.00 (nothing uncovered)
/// while below 10,000.005: c > 8,172.5895, so 8,172.59 EUR bought back.
#[test]
fn a_short_currency_balance_is_converted_in_one_trade() {
    let symbols = ["AA", "BB", "CC", "DD", "EE", "FF", "GG", "HH"];
    let positions: String = symbols
        .iter()
        .map(|s| format!("X1,{s},STK,USD,10,1,100,,,,,\n"))
        .collect();
    let drop = TestDrop::new("X1,USD\n", &positions);
    drop.cash("X1,EUR,-100000\nX1,USD,112000\n");
    let factors: String = symbols
        .iter()
        .map(|s| format!("{s},Equity,1.0,0.3\n"))
        .collect();
    drop.factors(&factors);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let (h, rows) = run_night(
        drop.path(),
        &out,
        &work.path().join("state.sqlite"),
        "2026-11-16",
        &[],
    );
    assert_eq!(cell(&h, &rows[0], "nlv"), "10000.00");
    assert_eq!(cell(&h, &rows[0], "measure"), "10890.00");
    let trades = report_trades(&out, "X1");
    let removes = trades
        .iter()
        .find(|(t, _)| t.starts_with("Reduce") && t.contains("removes"))
        .unwrap_or_else(|| panic!("{trades:?}"));
    assert_eq!(removes.1, r#"[["cash EUR","8172.59"]]"#);
}

/// Shares of a listed ETF when the table has no future for the factor:
/// long 1,000 NEM at 50 mapped to Prec. Metals (no move of its own) on
/// 42,000 borrowed: NLV 8,000; Prec. Metals −20.7 % loses 10,350. A short
/// GLD share (250) gains 0.207 × 250 = 51.75 there: 10,350 − 51.75 n ≤
/// 8,000 needs n ≥ 45.4, so 46 shares (7,969.50 lost; in +34.5 % the
/// account still gains 17,250 − 46 × 86.25). Applied and re-run, it gives
/// the reported fee.
#[test]
fn without_a_listed_future_the_hedge_is_etf_shares() {
    let drop = TestDrop::new("G1,USD\n", "G1,NEM,STK,USD,1000,1,50,,,,,\n");
    drop.cash("G1,USD,-42000\n");
    drop.factors("NEM,Prec. Metals,1.0,0\n");
    drop.write(
        "market/underlyings.csv",
        "symbol,currency,price,implied_vol,dividend_yield\nGLD,USD,250,0.15,0\n",
    );
    let work = tempfile::tempdir().unwrap();
    let seen = rerun_reductions(drop.path(), "G1", work.path());
    let hedge = seen
        .iter()
        .find(|(t, _)| t.starts_with("Sell 46 GLD share(s) (SPDR Gold Shares ETF)"))
        .unwrap_or_else(|| panic!("{seen:?}"));
    assert_eq!(hedge.1, r#"[["GLD (STK USD)","-46"]]"#);
    assert!(seen.iter().all(|(t, _)| !t.contains("futures")));
}

/// An adjustment's trades in a report's JSON: (holding label, quantity).
fn adjustment_trades(adjustment: &serde_json::Value) -> Vec<(String, Decimal)> {
    adjustment["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t[0].as_str().unwrap().to_string(),
                t[1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// The fee context of the reports tests: 2026-11-20, the default schedule
/// and calendar.
fn context_of<'a>(
    evaluation: &exfee::Evaluation,
    schedule: &'a FeeSchedule,
    calendar: &'a exfee::fee::TradingCalendar,
) -> exfee::FeeContext<'a> {
    exfee::FeeContext {
        schedule,
        calendar,
        date: "2026-11-20".parse().unwrap(),
        scenarios: evaluation.scenarios.len(),
    }
}

/// Every account of `evaluation` as a report subject, in batch order, each
/// with its own fee; a failed account with the fee of the account before it
/// (the first account must be evaluated).
fn every_account_a_subject(
    evaluation: &exfee::Evaluation,
    context: exfee::FeeContext<'_>,
) -> Vec<exfee::Subject> {
    let mut fee = None;
    let mut subjects = Vec::new();
    for (index, result) in evaluation.results.iter().enumerate() {
        if let Outcome::Evaluated(risk) = &result.outcome {
            fee = Some(exfee::assess(context, risk, Decimal::ONE, None, None).unwrap());
        }
        subjects.push(exfee::Subject {
            account: index,
            fee: fee.clone().unwrap(),
            usd_to_base: Decimal::ONE,
        });
    }
    subjects
}

/// `build_reports_each` (the night writes each report's files as soon as it
/// is built) hands over every evaluated subject's report once, with the
/// subject's index, in subject order across the 32-account chunks; a failed
/// account gets none; the first error of the callback in subject order is
/// the one returned.
#[test]
fn reports_are_handed_over_one_by_one_in_subject_order() {
    // 40 accounts, each short 100 shares of AAPL at 200 against 25,000 of
    // cash (loses 100 × 200 × the stress move beyond its NLV), and F, whose
    // CHF position has no FX rate: it fails.
    let ids: Vec<String> = (0..40).map(|i| format!("A{i:02}")).collect();
    let mut accounts: String = ids.iter().map(|id| format!("{id},USD\n")).collect();
    accounts.push_str("F,USD\n");
    let mut positions: String = ids
        .iter()
        .map(|id| {
            format!(
                "{id},AAPL,STK,USD,-{},1,200,,,,,\n",
                100 + id[1..].parse::<u32>().unwrap()
            )
        })
        .collect();
    positions.push_str("F,NESN,STK,CHF,10,1,100,,,,,\n");
    let drop = TestDrop::new(&accounts, &positions);
    let cash: String = ids.iter().map(|id| format!("{id},USD,25000\n")).collect();
    drop.cash(&cash);
    drop.factors("AAPL,Equity,1.1,0.3\nNESN,Equity,0.8,0.2\n");
    let evaluation = drop.evaluate();
    let failed = evaluation
        .results
        .iter()
        .position(|r| r.account == "F")
        .unwrap();
    assert!(matches!(
        evaluation.results[failed].outcome,
        Outcome::Failed(_)
    ));
    let schedule = FeeSchedule::default();
    let calendar = exfee::fee::TradingCalendar::default();
    let context = context_of(&evaluation, &schedule, &calendar);
    // Every account a subject, F (failed, given A00's fee) in the middle.
    let subjects = every_account_a_subject(&evaluation, context);
    assert_eq!(subjects.len(), 41);
    let source = exfee::ReportSource::of(&evaluation);
    let market = &drop.read().market;
    let handed = exfee::build_reports_each(&source, &subjects, context, market, |i, report| {
        Ok::<_, exfee::engine::EngineError>((i, report))
    })
    .unwrap();
    let indices: Vec<usize> = handed.iter().map(|(i, _)| *i).collect();
    let want: Vec<usize> = (0..41).filter(|&i| i != failed).collect();
    assert_eq!(indices, want);
    for (i, report) in &handed {
        assert_eq!(report.account, evaluation.results[*i].account);
        assert!(report.uncovered > Decimal::ZERO, "{}", report.account);
    }
    // The same reports as built all at once.
    let all = exfee::build_reports_from(&source, &subjects, context, market).unwrap();
    assert_eq!(handed.into_iter().map(|(_, r)| r).collect::<Vec<_>>(), all);
    // Errors from index 35 on: the one of subject 35 comes back.
    let error = exfee::build_reports_each(&source, &subjects, context, market, |i, _| {
        anyhow::ensure!(i < 35, "subject {i}");
        Ok(i)
    })
    .unwrap_err();
    assert_eq!(error.to_string(), "subject 35");
}

/// The reports stage is a pipeline (one chunk of 32 subjects staged while
/// the one before is reported, on every thread of the pool): its reports
/// are those of the plain order, each subject reported alone, whatever the
/// number of threads; the first error of the callback in subject order is
/// returned even when later chunks were staged meanwhile.
#[test]
fn pipelined_reports_equal_the_subjects_reported_one_by_one() {
    // 90 accounts (three chunks) in four base currencies, each short one of
    // five stocks quoted in USD, EUR or JPY (their own factors, so the
    // dominant factor and its hedge vary), long another with cash that
    // leaves most of them short of their worst loss; F (CHF, no FX rate)
    // fails in the second chunk.
    let stocks = [
        ("AAPL", "USD", 200, "Equity"),
        ("SAP", "EUR", 120, "European Equity"),
        ("7203", "JPY", 3000, "Japanese Equity"),
        ("GLD", "USD", 180, "Prec. Metals"),
        ("XOM", "USD", 110, "Oil (Crude Oil)"),
    ];
    let bases = ["USD", "EUR", "GBP", "JPY"];
    let mut accounts = String::new();
    let mut positions = String::new();
    let mut cash = String::new();
    for i in 0..90_usize {
        let id = format!("P{i:02}");
        if i == 50 {
            accounts.push_str("F,USD\n");
            positions.push_str("F,NESN,STK,CHF,10,1,100,,,,,\n");
        }
        let base = bases[i % 4];
        accounts.push_str(&format!("{id},{base}\n"));
        let (short, short_ccy, short_mark, _) = stocks[i % 5];
        let (long, long_ccy, long_mark, _) = stocks[(i / 5 + i + 1) % 5];
        positions.push_str(&format!(
            "{id},{short},STK,{short_ccy},-{},1,{short_mark},,,,,\n",
            50 + i
        ));
        if long != short {
            positions.push_str(&format!(
                "{id},{long},STK,{long_ccy},{},1,{long_mark},,,,,\n",
                20 + i % 7
            ));
        }
        cash.push_str(&format!("{id},USD,{}\n", 5000 + 300 * i));
    }
    let drop = TestDrop::new(&accounts, &positions);
    drop.cash(&cash);
    let factors: String = stocks
        .iter()
        .map(|(symbol, _, _, factor)| format!("{symbol},{factor},1.0,0.3\n"))
        .collect();
    drop.factors(&factors);
    drop.write(
        "market/underlyings.csv",
        "symbol,currency,price,implied_vol,dividend_yield\nSPX,USD,6800,0.2,0\nSPY,USD,680,0.2,0\n\
         GLD,USD,180,0.15,0\nCL,USD,70,0.3,0\nESTX50,EUR,5000,0.2,0\nN225,JPY,38000,0.2,0\n",
    );
    let evaluation = drop.evaluate();
    let schedule = FeeSchedule::default();
    let calendar = exfee::fee::TradingCalendar::default();
    let context = context_of(&evaluation, &schedule, &calendar);
    // Every account is a subject (with or without a fee); F (failed) too,
    // with the fee of the account before it.
    let subjects = every_account_a_subject(&evaluation, context);
    assert_eq!(subjects.len(), 91);
    let charged: Vec<usize> = (0..91)
        .filter(|&i| subjects[i].fee.uncovered > Decimal::ZERO)
        .collect();
    assert!(charged.len() > 32 && charged.iter().any(|&i| i >= 64));
    let failed = subjects
        .iter()
        .position(|s| evaluation.results[s.account].account == "F")
        .unwrap();
    let source = exfee::ReportSource::of(&evaluation);
    let market = &drop.read().market;
    // The oracle: each subject reported alone (a chunk of one, nothing
    // staged beside it), in subject order.
    let alone: Vec<(usize, exfee::report::AccountReport)> = subjects
        .iter()
        .enumerate()
        .flat_map(|(i, subject)| {
            exfee::build_reports_from(&source, std::slice::from_ref(subject), context, market)
                .unwrap()
                .into_iter()
                .map(move |r| (i, r))
        })
        .collect();
    assert_eq!(alone.len(), subjects.len() - 1);
    assert!(alone.iter().all(|(i, _)| *i != failed));
    // Some reports carry an adjustment (a hedge or a closing trade):
    // what the staged hedges and currencies' moves feed.
    assert!(alone.iter().any(|(_, r)| !r.adjustments.is_empty()));
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let handed = pool.install(|| {
            exfee::build_reports_each(&source, &subjects, context, market, |i, report| {
                Ok::<_, exfee::engine::EngineError>((i, report))
            })
            .unwrap()
        });
        assert!(handed == alone, "{threads} thread(s)");
        // Errors in the third chunk and the second: the second's first.
        let failing = [75, 40, 70, 41];
        let error = pool.install(|| {
            exfee::build_reports_each(&source, &subjects, context, market, |i, _| {
                anyhow::ensure!(!failing.contains(&i), "subject {i}");
                Ok(i)
            })
            .unwrap_err()
        });
        assert_eq!(error.to_string(), "subject 40", "{threads} thread(s)");
        // Only in the last chunk, staged while the second was reported.
        let error = pool.install(|| {
            exfee::build_reports_each(&source, &subjects, context, market, |i, _| {
                anyhow::ensure!(i < 70, "subject {i}");
                Ok(i)
            })
            .unwrap_err()
        });
        assert_eq!(error.to_string(), "subject 70", "{threads} thread(s)");
    }
}
