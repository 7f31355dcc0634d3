//! Options under the fixed stress set, checked by hand.

use exfee::{EngineConfig, ScenarioTables, evaluate_batch};

use crate::common::{TestDrop, dec, errors, risk};

fn date(text: &str) -> chrono::NaiveDate {
    text.parse().unwrap()
}

fn evaluate_on(drop: &TestDrop, valuation: &str) -> exfee::Evaluation {
    evaluate_batch(
        &drop.read(),
        &ScenarioTables::current().into(),
        &EngineConfig::new(date(valuation)),
    )
    .unwrap()
}

/// Long 100 XYZ at 100 and short one European put (multiplier 100, strike
/// 100, one year: 2026-01-01 → 2027-01-01 = 365 days), r = 5 %, q = 0,
/// σ = 20 %. The textbook Black–Scholes put is 5.5735 (S = K = 100,
/// r = 5 %, σ = 20 %, T = 1). XYZ is a single stock (beta 1 to Equity).
///
/// XYZ@-50%: S = 50, d1 = (ln 0.5 + 0.07)/0.2 = −3.11574, d2 = −3.31574,
/// P = 100e^{−0.05}N(3.31574) − 50N(3.11574) = 45.12534.
/// Stock: 100 × (50 − 100) = −5,000. Short put: −100 × (45.12534 − 5.57353)
/// = −3,955.18. Total −8,955.18, the worst (Equity@-30% gives −4,999.09).
/// NLV = −2,000 cash + 10,000 stock − 100 × 5.57 put = 7,443.
/// Uncovered = 8,955.18 − 7,443 = 1,512.18.
#[test]
fn short_put_and_long_stock() {
    let drop = TestDrop::new(
        "P1,USD\n",
        "P1,XYZ,STK,USD,100,1,100,,,,,\nP1,XYZ 270101P100,OPT,USD,-1,100,5.57,XYZ,100,2027-01-01,P,european\n",
    );
    drop.cash("P1,USD,-2000\n");
    drop.factors("XYZ,Equity,1,0.3\n");
    drop.write(
        "market/underlyings.csv",
        "symbol,currency,price,implied_vol,dividend_yield\nXYZ,USD,100,0.20,0\n",
    );
    drop.write("market/rates.csv", "currency,rate\nUSD,0.05\n");
    let evaluation = evaluate_on(&drop, "2026-01-01");
    let p1 = risk(&evaluation, "P1");
    assert_eq!(p1.nlv, dec("7443.00"));
    assert_eq!(p1.worst_scenario_name.as_deref(), Some("XYZ@-50%"));
    assert_eq!(p1.worst_loss, dec("8955.18"));
    assert_eq!(p1.uncovered, dec("1512.18"));
    // The model's base price against the mark is reported per contract.
    let report = &evaluation.options[0];
    assert!(
        (report.model_price - 5.5735).abs() < 5e-5,
        "{}",
        report.model_price
    );
    assert_eq!(report.mark, dec("5.57"));
}

#[test]
fn expired_option_is_an_input_error_and_expiring_today_is_intrinsic() {
    let drop = TestDrop::new(
        "E1,USD\nE2,USD\n",
        "E1,XYZ 261120C90,OPT,USD,1,100,10,XYZ,90,2026-11-20,C,american\nE2,XYZ 261119C90,OPT,USD,1,100,10,XYZ,90,2026-11-19,C,american\n",
    );
    drop.write(
        "market/underlyings.csv",
        "symbol,currency,price,implied_vol,dividend_yield\nXYZ,USD,100,0.30,0\n",
    );
    drop.write("market/rates.csv", "currency,rate\nUSD,0.04\n");
    let evaluation = evaluate_on(&drop, "2026-11-20");
    // Expiring on the valuation date: worth its intrinsic value, 100 − 90 = 10.
    assert!((evaluation.options[0].model_price - 10.0).abs() < 1e-9);
    // XYZ defaults to a single stock: its own −50 % leaves the call worthless:
    // loss 100 × 10 = 1,000.
    assert_eq!(risk(&evaluation, "E1").worst_loss, dec("1000.00"));
    let found = errors(&evaluation, "E2");
    assert_eq!(
        found,
        ["OPT XYZ 261119C90: expired on 2026-11-19 (valuation date 2026-11-20)"]
    );
}

#[test]
fn missing_implied_vol_uses_the_documented_default_and_says_so() {
    let drop = TestDrop::new(
        "W1,USD\n",
        "W1,SPX 271217C7000,OPT,USD,1,100,300,SPX,7000,2027-12-17,C,european\n",
    );
    drop.write(
        "market/underlyings.csv",
        "symbol,currency,price,implied_vol,dividend_yield\nSPX,USD,6800,,0.013\n",
    );
    drop.write("market/rates.csv", "currency,rate\nUSD,0.04\n");
    let evaluation = evaluate_on(&drop, "2026-11-20");
    let w1 = risk(&evaluation, "W1");
    assert_eq!(
        w1.warnings,
        ["OPT SPX 271217C7000: no implied volatility for SPX; used the default 0.2 for Equity"]
    );
    assert!(evaluation.options[0].vol_defaulted);
    assert_eq!(evaluation.options[0].implied_vol, 0.2);
}
