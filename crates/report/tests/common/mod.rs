//! A hand-built report, shared by the tests and the `sample_report` example.

#![allow(dead_code)]

use chrono::NaiveDate;
use exfee_report::{
    AccountReport, Adjustment, AdjustmentKind, Contribution, ScenarioLine, TierLine,
};
use rust_decimal::Decimal;
use std::str::FromStr;

pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A deterministic, left-skewed P&L distribution of `n` scenarios whose
/// worst value is `worst`.
pub fn distribution(n: usize, worst: f64) -> Vec<f64> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut uniform = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let x = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let (u1, u2) = (uniform(), uniform());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let v = if uniform() < 0.06 {
            // the tail: short puts and a short oil future in a crash
            -60_000.0 - 70_000.0 * (-uniform().ln())
        } else {
            8_000.0 + 38_000.0 * z
        };
        out.push(v.max(worst));
    }
    out[17] = worst;
    out
}

/// An account subject to the fee, with every section filled.
pub fn sample() -> AccountReport {
    let worst = d("-412345.67");
    AccountReport {
        account: "U7654321".into(),
        base_currency: "USD".into(),
        valuation_date: NaiveDate::from_ymd_opt(2026, 3, 9).unwrap(),
        nlv: d("140000"),
        measure_name: "worst scenario".into(),
        measure: d("412345.67"),
        threshold: d("76000"),
        uncovered: d("272345.67"),
        fee_status: "charged".into(),
        effective_date: NaiveDate::from_ymd_opt(2026, 3, 2),
        days_charged: 3,
        daily_fee: d("67.97"),
        amount_charged: d("203.91"),
        fee_tiers: vec![
            TierLine {
                from: d("0"),
                to: Some(d("100000")),
                rate: d("0.05"),
                amount: d("100000"),
                daily: d("13.888889"),
            },
            TierLine {
                from: d("100000"),
                to: Some(d("250000")),
                rate: d("0.10"),
                amount: d("150000"),
                daily: d("41.666667"),
            },
            TierLine {
                from: d("250000"),
                to: None,
                rate: d("0.20"),
                amount: d("22345.67"),
                daily: d("12.414261"),
            },
        ],
        day_count: Some(360),
        minimum_daily: Some(d("1.00")),
        minimum_applied: false,
        inventory_fee: Some(d("12.50")),
        worst_scenarios: vec![
            ScenarioLine {
                index: 4711,
                name: None,
                pnl: worst,
                moves: vec![
                    ("SPX".into(), -0.30),
                    ("TSLA".into(), -0.50),
                    ("CL".into(), 0.62),
                    ("EUR".into(), -0.099),
                ],
            },
            ScenarioLine {
                index: 1203,
                name: None,
                pnl: d("-398012.40"),
                moves: vec![
                    ("SPX".into(), -0.27),
                    ("TSLA".into(), -0.46),
                    ("CL".into(), 0.55),
                ],
            },
            ScenarioLine {
                index: 88,
                name: Some("Crude spike".into()),
                pnl: d("-377100"),
                moves: vec![("CL".into(), 0.62), ("SPX".into(), -0.12)],
            },
        ],
        contributors: vec![
            Contribution {
                position: "-10 TSLA 270115P250 (OPT)".into(),
                scenario_index: 4711,
                pnl: d("-180000"),
            },
            Contribution {
                position: "-5 CL 260420 (FUT)".into(),
                scenario_index: 4711,
                pnl: d("-186000"),
            },
            Contribution {
                position: "500 TSLA (STK)".into(),
                scenario_index: 4711,
                pnl: d("-97500"),
            },
            Contribution {
                position: "-2 ES 260320 (FUT)".into(),
                scenario_index: 4711,
                pnl: d("63000"),
            },
            Contribution {
                position: "EUR cash 100,000".into(),
                scenario_index: 4711,
                pnl: d("-13860"),
            },
            Contribution {
                position: "-20 SPY 260417C600 (OPT)".into(),
                scenario_index: 4711,
                pnl: d("2014.33"),
            },
        ],
        fee_by_class: vec![
            ("Equity".into(), d("51.20")),
            ("Oil".into(), d("12.40")),
            ("FX".into(), d("4.37")),
        ],
        adjustments: vec![
            Adjustment {
                title: "Deposit 196,345.67 USD".into(),
                kind: AdjustmentKind::Deposit,
                trades: vec![],
                deposit: Some(d("196345.67")),
                method: "exact".into(),
                fee_after: d("0"),
                measure_after: d("412345.67"),
            },
            Adjustment {
                title: "Deposit 98,000 USD (halves the fee)".into(),
                kind: AdjustmentKind::Deposit,
                trades: vec![],
                deposit: Some(d("98000")),
                method: "exact".into(),
                fee_after: d("33.98"),
                measure_after: d("412345.67"),
            },
            Adjustment {
                title: "Buy back 6 TSLA 270115P250, sell 200 TSLA".into(),
                kind: AdjustmentKind::Reduce,
                trades: vec![
                    ("-10 TSLA 270115P250 (OPT)".into(), d("6")),
                    ("500 TSLA (STK)".into(), d("-200")),
                ],
                deposit: None,
                method: "linear program".into(),
                fee_after: d("0"),
                measure_after: d("215880.10"),
            },
            Adjustment {
                title: "Buy 3 CL futures".into(),
                kind: AdjustmentKind::Hedge,
                trades: vec![("CL 260420 (FUT)".into(), d("3"))],
                deposit: None,
                method: "greedy".into(),
                fee_after: d("41.10"),
                measure_after: d("324101.55"),
            },
        ],
        pnl_distribution: distribution(10_000, -412_345.67),
        warnings: vec![
            "1 position priced at intrinsic value: no implied volatility for XYZ 270101P100".into(),
        ],
    }
}
