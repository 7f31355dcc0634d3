//! The what-if fast path (`WhatIfBook`) against the nightly run: tonight's
//! figures equal `exfee run`'s results.csv for every account, and the
//! figures after an order equal a full evaluation of the batch with the
//! order applied, computed here through the normal path (the whole batch
//! evaluated again), under a Monte Carlo set with its single-stock
//! scenarios, a stress horizon (options age) and a tail measure.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use exfee::fee::{DEFAULT_FEE_TOML, FeeSchedule, TradingCalendar};
use exfee::io::{DropPaths, read_drop, scenario_label};
use exfee::model::{Exercise, OptionRight, OptionTerms};
use exfee::{
    Batch, CashBalance, DEFAULT_LEG_CACHE_BYTES, Decimal, EngineConfig, EvaluateOptions,
    Instrument, InstrumentKind, NightFees, Outcome, Position, ScenarioSource, WhatIfBook,
    evaluate_batch_with,
};

use crate::common::read_csv;

const DATE: &str = "2026-11-20";
const HORIZON: u32 = 3;

fn nightly() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nightly")
}

/// The shipped default set with `draws` draws, written to `dir`.
fn scenario_set(dir: &Path, draws: usize) -> PathBuf {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for file in [
        "risk-factors-current.csv",
        "fx-factors-current.csv",
        "correlation-default.csv",
    ] {
        std::fs::copy(shipped.join(file), dir.join(file)).unwrap();
    }
    let toml = std::fs::read_to_string(shipped.join("default.toml")).unwrap();
    let toml = toml.replace("scenarios = 10000", &format!("scenarios = {draws}"));
    assert!(toml.contains(&format!("scenarios = {draws}")));
    let path = dir.join("set.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// The default schedule with the expected shortfall at 99 % as its
/// measure (the average of the worst ceil(1 % × N) losses).
fn schedule_toml() -> String {
    let text = DEFAULT_FEE_TOML.replace(
        "[measure]\nkind = \"worst\"",
        "[measure]\nkind = \"expected_shortfall\"\nlevel = 0.99",
    );
    assert!(text.contains("expected_shortfall"));
    text
}

fn by_account(path: &Path) -> HashMap<String, HashMap<String, String>> {
    let mut rows = read_csv(path).into_iter();
    let header = rows.next().unwrap();
    rows.map(|row| {
        let map: HashMap<String, String> = header.iter().cloned().zip(row).collect();
        (map["account"].clone(), map)
    })
    .collect()
}

/// `batch` with `order` filled at the marks in `account`: the position
/// added, its value paid in its currency (a future moves no cash).
fn with_order(batch: &Batch, account: &str, order: &Position) -> Batch {
    let mut modified = batch.clone();
    let target = modified
        .accounts
        .iter_mut()
        .find(|a| a.id == account)
        .unwrap();
    target.positions.push(order.clone());
    let paid = if order.instrument.settles_daily() {
        Decimal::ZERO
    } else {
        order.quantity * order.instrument.multiplier * order.instrument.mark
    };
    if !paid.is_zero() {
        target.cash.push(CashBalance {
            currency: order.instrument.currency,
            amount: -paid,
        });
    }
    modified
}

#[test]
fn what_if_equals_the_nightly_run_and_a_full_re_evaluation() {
    let work = tempfile::tempdir().unwrap();
    let set = scenario_set(work.path(), 300);
    let fee = work.path().join("fee.toml");
    std::fs::write(&fee, schedule_toml()).unwrap();
    let out = work.path().join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_exfee"))
        .arg("run")
        .arg(nightly())
        .arg("--scenario-set")
        .arg(&set)
        .arg("--fee")
        .arg(&fee)
        .arg("--out")
        .arg(&out)
        .args([
            "--date",
            DATE,
            "--horizon-days",
            &HORIZON.to_string(),
            "--no-reports",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success() || run.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let results = by_account(&out.join("results.csv"));

    let source = ScenarioSource::MonteCarlo(Box::new(exfee::io::read_scenario_spec(&set).unwrap()));
    let batch = read_drop(&DropPaths::in_dir(&nightly()), source.factor_table()).unwrap();
    let mut config = EngineConfig::new(DATE.parse().unwrap());
    config.horizon_days = HORIZON;
    let schedule = FeeSchedule::from_toml_str(&schedule_toml()).unwrap();
    // A cache far smaller than the batch's legs: entries are dropped and
    // priced again along the way, and the figures do not change.
    let book = Arc::new(WhatIfBook::new(&batch, &source, &config, &schedule, 64 << 10).unwrap());

    // Tonight: every account as results.csv has it.
    let mut evaluated = Vec::new();
    for account in &batch.accounts {
        let row = &results[&account.id];
        match book.account(account) {
            Ok(desk) => {
                let before = desk.before();
                assert_ne!(row["status"], "failed", "{}", account.id);
                assert_eq!(before.nlv.to_string(), row["nlv"], "{}", account.id);
                assert_eq!(before.measure.to_string(), row["measure"], "{}", account.id);
                assert_eq!(
                    before.uncovered.to_string(),
                    row["uncovered"],
                    "{}",
                    account.id
                );
                assert_eq!(
                    before.worst_scenario, row["worst_scenario"],
                    "{}",
                    account.id
                );
                evaluated.push(account.id.clone());
            }
            Err(e) => assert_eq!(row["status"], "failed", "{}: {e}", account.id),
        }
    }
    assert!(evaluated.len() > 60, "{}", evaluated.len());
    let stats = book.cache_stats();
    assert!(stats.bytes <= stats.budget, "{stats:?}");
    assert!(
        stats.hits > 0 && stats.misses > stats.entries as u64,
        "{stats:?}"
    );

    // Orders: part of a held position, a new American put on a listed
    // underlying, a stock no account holds (a single stock the night's set
    // does not move), and a held position closed.
    let usd = exfee::Currency::USD;
    let put = Instrument {
        symbol: "AAPL 270115P230".into(),
        kind: InstrumentKind::Option {
            underlying: "AAPL".into(),
            on_future: false,
            terms: OptionTerms {
                strike: Decimal::from(230),
                expiry: "2027-01-15".parse().unwrap(),
                right: OptionRight::Put,
                exercise: Exercise::American,
            },
        },
        currency: usd,
        multiplier: Decimal::from(100),
        mark: Decimal::new(905, 2),
    };
    let newco = Instrument {
        symbol: "ZZNEWCO".into(),
        kind: InstrumentKind::Stock,
        currency: usd,
        multiplier: Decimal::ONE,
        mark: Decimal::from(42),
    };
    let calendar = TradingCalendar::default();
    let date = config.valuation_date;
    for id in evaluated.iter().step_by(evaluated.len() / 4) {
        let account = batch.accounts.iter().find(|a| &a.id == id).unwrap();
        let desk = book.account(account).unwrap();
        let held = account.positions[0].clone();
        let orders = [
            Position {
                instrument: held.instrument.clone(),
                quantity: (held.quantity / Decimal::from(2)).round() + Decimal::ONE,
            },
            Position {
                instrument: put.clone(),
                quantity: Decimal::from(-3),
            },
            Position {
                instrument: newco.clone(),
                quantity: Decimal::from(-500),
            },
            Position {
                instrument: held.instrument.clone(),
                quantity: -held.quantity,
            },
        ];
        for order in orders {
            let answer = desk.order(std::slice::from_ref(&order)).unwrap();
            // The oracle: the whole batch with the order, evaluated and
            // assessed as a night.
            let modified = with_order(&batch, id, &order);
            let evaluation = evaluate_batch_with(
                &modified,
                &source,
                &config,
                EvaluateOptions {
                    stocks: None,
                    measure: Some(schedule.measure),
                    progress: None,
                },
            )
            .unwrap();
            let night =
                NightFees::first_night(evaluation, &modified, &schedule, &calendar, date).unwrap();
            let index = modified.accounts.iter().position(|a| &a.id == id).unwrap();
            let Outcome::Evaluated(risk) = &night.evaluation.results[index].outcome else {
                panic!("{id} with {order:?} not evaluated");
            };
            let fee = night.fees[index].as_ref().unwrap();
            let what = format!("{id} {} {}", order.instrument.symbol, order.quantity);
            assert_eq!(answer.after.nlv, risk.nlv, "{what}");
            assert_eq!(answer.after.measure, fee.measure, "{what}");
            assert_eq!(answer.after.uncovered, fee.uncovered, "{what}");
            assert_eq!(answer.after.daily_fee, fee.breakdown.daily_fee, "{what}");
            assert_eq!(answer.after.fee_paid, fee.fee_paid, "{what}");
            assert_eq!(
                answer.after.worst_scenario,
                scenario_label(risk.worst_scenario, risk.worst_scenario_name.as_deref()),
                "{what}"
            );
            assert_eq!(answer.before, *desk.before(), "{what}");
        }
    }
}

/// The oracle of an order: the whole batch with the order, evaluated and
/// assessed as a night: (nlv, measure, uncovered, daily fee, fee paid,
/// worst scenario).
fn full_re_evaluation(
    batch: &Batch,
    source: &ScenarioSource,
    config: &EngineConfig,
    schedule: &FeeSchedule,
    id: &str,
    order: &Position,
) -> (Decimal, Decimal, Decimal, Decimal, Decimal, String) {
    let modified = with_order(batch, id, order);
    let evaluation = evaluate_batch_with(
        &modified,
        source,
        config,
        EvaluateOptions {
            stocks: None,
            measure: Some(schedule.measure),
            progress: None,
        },
    )
    .unwrap();
    let night = NightFees::first_night(
        evaluation,
        &modified,
        schedule,
        &TradingCalendar::default(),
        config.valuation_date,
    )
    .unwrap();
    let index = modified.accounts.iter().position(|a| a.id == id).unwrap();
    let Outcome::Evaluated(risk) = &night.evaluation.results[index].outcome else {
        panic!("{id} with {order:?} not evaluated");
    };
    let fee = night.fees[index].as_ref().unwrap();
    (
        risk.nlv,
        fee.measure,
        fee.uncovered,
        fee.breakdown.daily_fee,
        fee.fee_paid,
        scenario_label(risk.worst_scenario, risk.worst_scenario_name.as_deref()),
    )
}

fn figures(q: &exfee::Quote) -> (Decimal, Decimal, Decimal, Decimal, Decimal, String) {
    (
        q.nlv,
        q.measure,
        q.uncovered,
        q.daily_fee,
        q.fee_paid,
        q.worst_scenario.clone(),
    )
}

/// The example night under the 300-draw Monte Carlo set of these tests
/// (its single stocks included).
fn monte_carlo_night() -> (ScenarioSource, Batch) {
    let work = tempfile::tempdir().unwrap();
    let set = scenario_set(work.path(), 300);
    let source = ScenarioSource::MonteCarlo(Box::new(exfee::io::read_scenario_spec(&set).unwrap()));
    let batch = read_drop(&DropPaths::in_dir(&nightly()), source.factor_table()).unwrap();
    (source, batch)
}

/// A book that keeps asked accounts' state, and the same book keeping none
/// (every order summed over every holding): the same questions to both
/// must give the same answers.
fn kept_and_plain_books(
    batch: &Batch,
    source: &ScenarioSource,
    config: &EngineConfig,
    schedule: &FeeSchedule,
) -> (Arc<WhatIfBook>, Arc<WhatIfBook>) {
    let book =
        || WhatIfBook::new(batch, source, config, schedule, DEFAULT_LEG_CACHE_BYTES).unwrap();
    (Arc::new(book()), Arc::new(book().with_account_cache(0)))
}

/// An order on a held position: `quantity` more of the account's `nth`
/// position.
fn more_of(batch: &Batch, id: &str, nth: usize, quantity: i64) -> Position {
    let account = batch.accounts.iter().find(|a| a.id == id).unwrap();
    Position {
        instrument: account.positions[nth].instrument.clone(),
        quantity: Decimal::from(quantity),
    }
}

#[test]
fn a_second_order_on_an_account_is_answered_from_its_kept_state() {
    let (source, batch) = monte_carlo_night();
    let mut config = EngineConfig::new(DATE.parse().unwrap());
    config.horizon_days = HORIZON;
    // The default schedule: the worst scenario is the measure.
    let schedule = FeeSchedule::default();
    let (book, plain) = kept_and_plain_books(&batch, &source, &config, &schedule);
    let id = "U9709660";
    let account = batch.accounts.iter().find(|a| a.id == id).unwrap();
    assert!(account.positions.len() >= 2, "{account:?}");
    let desk = book.account(account).unwrap();
    let plain_desk = plain.account(account).unwrap();
    assert_eq!(book.account_cache_stats().entries, 1);
    let orders = [
        more_of(&batch, id, 0, -300),
        more_of(&batch, id, 1, 40),
        more_of(&batch, id, 0, 1),
    ];
    for (n, order) in orders.iter().enumerate() {
        let answer = desk.order(std::slice::from_ref(order)).unwrap();
        // From the kept state: no account prepared again, no full sum.
        let accounts = book.account_cache_stats();
        assert_eq!((accounts.entries, accounts.misses), (1, 1), "{accounts:?}");
        assert_eq!(accounts.hits, n as u64 + 1, "{accounts:?}");
        assert_eq!(book.answer_stats().incremental, n as u64 + 1);
        assert_eq!(book.answer_stats().full, 0);
        // Equal to the full re-evaluation of the batch with the order…
        let what = format!("{id} {} {}", order.instrument.symbol, order.quantity);
        assert_eq!(
            figures(&answer.after),
            full_re_evaluation(&batch, &source, &config, &schedule, id, order),
            "{what}"
        );
        // …and to the plain sum, every figure (the split by class too).
        let plain_answer = plain_desk.order(std::slice::from_ref(order)).unwrap();
        assert_eq!(answer, plain_answer, "{what}");
    }
    assert_eq!(plain.account_cache_stats().entries, 0);
    assert_eq!(plain.answer_stats().incremental, 0);
    assert_eq!(plain.answer_stats().full, orders.len() as u64);
    // A handle on an account of the same id with other rows does not use
    // the kept state: it is prepared again (and replaces it).
    let mut other = account.clone();
    other.positions.truncate(1);
    let other_desk = book.account(&other).unwrap();
    assert_eq!(book.account_cache_stats().misses, 2);
    assert_eq!(book.account_cache_stats().entries, 1);
    let mut reduced = batch.clone();
    reduced
        .accounts
        .iter_mut()
        .find(|a| a.id == id)
        .unwrap()
        .positions
        .truncate(1);
    let order = more_of(&batch, id, 0, -10);
    assert_eq!(
        figures(
            &other_desk
                .order(std::slice::from_ref(&order))
                .unwrap()
                .after
        ),
        full_re_evaluation(&reduced, &source, &config, &schedule, id, &order)
    );
}

/// `order_kept` (what the service answers on its async threads) answers
/// only from kept state, and then exactly as `order`: held instruments once
/// the account is kept; a leg not in the cache, a single stock new to the
/// night or a book keeping no accounts give no answer, and count nothing.
#[test]
fn kept_orders_are_answered_from_kept_state_only_and_as_order_answers() {
    let (source, batch) = monte_carlo_night();
    let mut config = EngineConfig::new(DATE.parse().unwrap());
    config.horizon_days = HORIZON;
    let schedule = FeeSchedule::default();
    let (book, plain) = kept_and_plain_books(&batch, &source, &config, &schedule);
    let id = "U9709660";
    let account = batch.accounts.iter().find(|a| a.id == id).unwrap();
    let desk = book.account(account).unwrap();
    let plain_desk = plain.account(account).unwrap();
    let usd = exfee::Currency::USD;
    for order in [more_of(&batch, id, 0, -300), more_of(&batch, id, 1, 40)] {
        let what = format!("{id} {} {}", order.instrument.symbol, order.quantity);
        let kept = desk
            .order_kept(std::slice::from_ref(&order))
            .unwrap()
            .unwrap_or_else(|| panic!("{what}: not answered from kept state"));
        // The full re-evaluation of the batch with the order, and the plain
        // sum over every holding (every figure, the split by class too).
        assert_eq!(
            figures(&kept.after),
            full_re_evaluation(&batch, &source, &config, &schedule, id, &order),
            "{what}"
        );
        assert_eq!(
            kept,
            plain_desk.order(std::slice::from_ref(&order)).unwrap(),
            "{what}"
        );
        // No account state kept: no answer.
        assert_eq!(
            plain_desk.order_kept(std::slice::from_ref(&order)).unwrap(),
            None,
            "{what}"
        );
    }
    // A leg never priced (a new put) and a stock the night's set does not
    // move: no answer, nothing counted; `order` then answers, and the put,
    // now in the cache, is answered from kept state the same.
    let put = Position {
        instrument: Instrument {
            symbol: "AAPL 270115P231".into(),
            kind: InstrumentKind::Option {
                underlying: "AAPL".into(),
                on_future: false,
                terms: OptionTerms {
                    strike: Decimal::from(231),
                    expiry: "2027-01-15".parse().unwrap(),
                    right: OptionRight::Put,
                    exercise: Exercise::American,
                },
            },
            currency: usd,
            multiplier: Decimal::from(100),
            mark: Decimal::new(905, 2),
        },
        quantity: Decimal::from(-3),
    };
    let newco = Position {
        instrument: Instrument {
            symbol: "ZZNEWCO".into(),
            kind: InstrumentKind::Stock,
            currency: usd,
            multiplier: Decimal::ONE,
            mark: Decimal::from(42),
        },
        quantity: Decimal::from(-500),
    };
    let (legs, accounts, answers) = (
        book.cache_stats(),
        book.account_cache_stats(),
        book.answer_stats(),
    );
    for order in [&put, &newco] {
        assert_eq!(desk.order_kept(std::slice::from_ref(order)).unwrap(), None);
    }
    assert_eq!(
        (
            book.cache_stats(),
            book.account_cache_stats(),
            book.answer_stats()
        ),
        (legs, accounts, answers)
    );
    let priced = desk.order(std::slice::from_ref(&put)).unwrap();
    assert_eq!(
        desk.order_kept(std::slice::from_ref(&put)).unwrap(),
        Some(priced)
    );
    assert_eq!(desk.order_kept(std::slice::from_ref(&newco)).unwrap(), None);
}

#[test]
fn accounts_dropped_from_the_account_cache_are_prepared_again_with_the_same_answers() {
    let (source, batch) = monte_carlo_night();
    let config = EngineConfig::new(DATE.parse().unwrap());
    // The expected shortfall at 99 %: several scenarios read.
    let schedule = FeeSchedule::from_toml_str(&schedule_toml()).unwrap();
    let (a, b) = ("U9709660", "U1303271");
    let account = |id: &str| batch.accounts.iter().find(|x| x.id == id).unwrap();
    // Each account's charge, from a book that keeps both.
    let sizes = Arc::new(
        WhatIfBook::new(&batch, &source, &config, &schedule, DEFAULT_LEG_CACHE_BYTES).unwrap(),
    );
    sizes.account(account(a)).unwrap();
    let size_a = sizes.account_cache_stats().bytes;
    sizes.account(account(b)).unwrap();
    let size_b = sizes.account_cache_stats().bytes - size_a;
    assert!(size_a > 0 && size_b > 0);
    // Room for either account, not both.
    let budget = size_a.max(size_b) + size_a.min(size_b) / 2;
    let book = Arc::new(
        WhatIfBook::new(&batch, &source, &config, &schedule, DEFAULT_LEG_CACHE_BYTES)
            .unwrap()
            .with_account_cache(budget),
    );
    let desk_a = book.account(account(a)).unwrap();
    let desk_b = book.account(account(b)).unwrap();
    let stats = book.account_cache_stats();
    assert_eq!((stats.entries, stats.bytes), (1, size_b), "{stats:?}");
    assert_eq!(stats.budget, budget);
    // A's state was dropped for B's: its order prepares it again (and drops
    // B's), and the answers are a full re-evaluation's either way.
    for (desk, id, round) in [(&desk_a, a, 1), (&desk_b, b, 2), (&desk_a, a, 3)] {
        let order = more_of(&batch, id, 0, -7);
        let answer = desk.order(std::slice::from_ref(&order)).unwrap();
        assert_eq!(
            figures(&answer.after),
            full_re_evaluation(&batch, &source, &config, &schedule, id, &order),
            "{id}"
        );
        let stats = book.account_cache_stats();
        assert_eq!(stats.misses, 2 + round, "{stats:?}");
        assert_eq!(stats.entries, 1, "{stats:?}");
        assert!(stats.bytes <= budget, "{stats:?}");
        assert_eq!(book.answer_stats().incremental, round);
    }
}
