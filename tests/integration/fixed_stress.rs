//! Hand-computed portfolios under the current fixed stress set. Every
//! expected number is worked out in the comments from the published bounds
//! (scenarios/risk-factors-current.csv, fx-factors-current.csv), not taken
//! from the engine's output.

use exfee::ScenarioTables;
use exfee::scenarios::{ScenarioSet, SingleStock};

use crate::common::{TestDrop, dec, risk};

#[test]
fn the_set_has_both_bounds_of_every_factor_currency_and_single_stock() {
    let tables = ScenarioTables::current();
    let set = ScenarioSet::fixed_stress(
        tables.factors,
        tables.fx,
        vec![
            SingleStock {
                symbol: "TSLA".into(),
                idio_vol: 0.6,
            },
            SingleStock {
                symbol: "AAPL".into(),
                idio_vol: 0.3,
            },
        ],
    );
    // 38 primary factors (39 table rows less "Individual Stocks"), 38
    // currencies, 2 stocks: (38 + 38 + 2) × 2 = 156.
    assert_eq!(set.len(), 156);
    let names: Vec<&str> = (0..set.len()).filter_map(|i| set.name(i)).collect();
    for expected in [
        "Equity@-30%",
        "Equity@+20%",
        "Oil (Crude Oil)@+62%",
        "Crypto@-100%",
        "Crypto@+93.9%",
        "EUR@-9.9%",
        "EUR@+9.9%",
        "TRY@+40.1%",
        "AAPL@-50%",
        "TSLA@+50%",
    ] {
        assert!(names.contains(&expected), "{expected} missing");
    }
    // Stocks are sorted, so the set does not depend on reading order.
    assert_eq!(set.name(152), Some("AAPL@-50%"));
}

#[test]
fn foreign_currency_etf_with_euro_loan() {
    // Base USD, EUR = 1.10 USD. 1,000 EXS1 (a EUR equity tracker, mapped to
    // European Equity, beta 1.2, no own move) at 200 EUR = 220,000 USD.
    // Cash: EUR −50,000 (−55,000 USD) and USD −150,000. NLV = 15,000.
    // European Equity@-30%: move 1.2 × −30 % = −36 % → −79,200 USD.
    // EUR@-9.9%: stock −21,780, EUR loan +5,445 → −16,335. Worst: −79,200.
    // Uncovered = 79,200 − 15,000 = 64,200.
    let drop = TestDrop::new("A1,USD\n", "A1,EXS1,STK,EUR,1000,1,200,,,,,\n");
    drop.cash("A1,EUR,-50000\nA1,USD,-150000\n");
    drop.factors("EXS1,European Equity,1.2,0\n");
    let evaluation = drop.evaluate();
    let a1 = risk(&evaluation, "A1");
    assert_eq!(a1.nlv, dec("15000.00"));
    assert_eq!(a1.worst_loss, dec("79200.00"));
    assert_eq!(
        a1.worst_scenario_name.as_deref(),
        Some("European Equity@-30%")
    );
    assert_eq!(a1.uncovered, dec("64200.00"));
}

#[test]
fn short_single_stock_is_hurt_by_its_own_rise() {
    // Base USD. Short 2,000 GME at 30 (−60,000), GME mapped to Equity with
    // beta 1.5 and its own volatility (a single stock). Cash 80,000.
    // NLV = 20,000. Equity@+20%: 1.5 × 20 % = +30 % → −18,000.
    // GME@+50%: −30,000, the worst. Uncovered = 30,000 − 20,000 = 10,000.
    let drop = TestDrop::new("S1,USD\n", "S1,GME,STK,USD,-2000,1,30,,,,,\n");
    drop.cash("S1,USD,80000\n");
    drop.factors("GME,Equity,1.5,0.9\n");
    let evaluation = drop.evaluate();
    let s1 = risk(&evaluation, "S1");
    assert_eq!(s1.nlv, dec("20000.00"));
    assert_eq!(s1.worst_loss, dec("30000.00"));
    assert_eq!(s1.worst_scenario_name.as_deref(), Some("GME@+50%"));
    assert_eq!(s1.uncovered, dec("10000.00"));
}

#[test]
fn crude_futures_in_a_sterling_account() {
    // Base GBP = 1.25 USD, so 1 USD = 0.8 GBP. Long 4 CLF7 (underlying CL,
    // the Oil (Crude Oil) factor's own symbol), multiplier 1,000, at 70 USD.
    // Cash 50,000 GBP; futures add nothing to NLV: NLV = 50,000 GBP.
    // Oil (Crude Oil)@-32%: 4 × 1,000 × 70 × −0.32 = −89,600 USD = −71,680 GBP.
    // USD@±9.3% moves only the (zero) variation margin. Worst: −71,680.
    let drop = TestDrop::new("G1,GBP\n", "G1,CLF7,FUT,USD,4,1000,70,CL,,2026-12-21,,\n");
    drop.cash("G1,GBP,50000\n");
    let evaluation = drop.evaluate();
    let g1 = risk(&evaluation, "G1");
    assert_eq!(g1.nlv, dec("50000.00"));
    assert_eq!(g1.worst_loss, dec("71680.00"));
    assert_eq!(
        g1.worst_scenario_name.as_deref(),
        Some("Oil (Crude Oil)@-32%")
    );
    assert_eq!(g1.uncovered, dec("21680.00"));
}

#[test]
fn single_stock_total_move_is_capped_and_ties_go_to_the_first_scenario() {
    // Long 1,000 TSLA at 400 (400,000 USD), beta 2 to Equity. Equity@-30%
    // would move it −60 %, capped at the single-stock bound −50 %:
    // −200,000, the same as TSLA@-50%. The tie goes to the earlier scenario,
    // Equity@-30% (factors come before stocks). Cash −300,000: NLV 100,000,
    // uncovered 100,000.
    let drop = TestDrop::new("T1,USD\n", "T1,TSLA,STK,USD,1000,1,400,,,,,\n");
    drop.cash("T1,USD,-300000\n");
    drop.factors("TSLA,Equity,2,0.6\n");
    let evaluation = drop.evaluate();
    let t1 = risk(&evaluation, "T1");
    assert_eq!(t1.worst_loss, dec("200000.00"));
    assert_eq!(t1.worst_scenario_name.as_deref(), Some("Equity@-30%"));
    assert_eq!(t1.uncovered, dec("100000.00"));
}

#[test]
fn rows_that_offset_each_other_leave_the_holding_exact() {
    // T1 of the test above (1,000 TSLA at 400, cash −300,000: worst loss
    // 200,000, uncovered 100,000) with rows of +10^17 and −10^17 TSLA
    // besides; T2 with ±10^26: the same 1,000 shares, the same figures.
    // (Summed in f64, 1,000 + 10^17 − 10^17 is 992: the unit is lost.)
    // T3: 9,007,199,254,740,000 + 992 = 2^53 shares, held exactly: the
    // worst move −50 % (Equity@-30% × beta 2, capped) loses 2^53 × 200 =
    // 1,801,439,850,948,198,400. T4: one share more is beyond what the f64
    // engine holds to the unit (2^53 + 1 would be 2^53): T4 fails, naming
    // the instrument.
    let drop = TestDrop::new(
        "T1,USD\nT2,USD\nT3,USD\nT4,USD\n",
        "T1,TSLA,STK,USD,1000,1,400,,,,,\n\
         T1,TSLA,STK,USD,100000000000000000,1,400,,,,,\n\
         T1,TSLA,STK,USD,-100000000000000000,1,400,,,,,\n\
         T2,TSLA,STK,USD,1000,1,400,,,,,\n\
         T2,TSLA,STK,USD,100000000000000000000000000,1,400,,,,,\n\
         T2,TSLA,STK,USD,-100000000000000000000000000,1,400,,,,,\n\
         T3,TSLA,STK,USD,9007199254740000,1,400,,,,,\n\
         T3,TSLA,STK,USD,992,1,400,,,,,\n\
         T4,TSLA,STK,USD,9007199254740000,1,400,,,,,\n\
         T4,TSLA,STK,USD,993,1,400,,,,,\n",
    );
    drop.cash("T1,USD,-300000\nT2,USD,-300000\n");
    drop.factors("TSLA,Equity,2,0.6\n");
    let evaluation = drop.evaluate();
    for id in ["T1", "T2"] {
        let t = risk(&evaluation, id);
        assert_eq!(t.nlv, dec("100000"), "{id}");
        assert_eq!(t.worst_loss, dec("200000.00"), "{id}");
        assert_eq!(t.uncovered, dec("100000.00"), "{id}");
    }
    let t3 = risk(&evaluation, "T3");
    assert_eq!(t3.worst_loss, dec("1801439850948198400.00"));
    assert_eq!(
        crate::common::errors(&evaluation, "T4"),
        [
            "TSLA (STK USD): quantity 9007199254740993 (the account's rows of it summed) is \
          beyond what the engine holds to the unit (at most 9007199254740992 = 2^53 in \
          magnitude)"
        ]
    );
}

#[test]
fn unmapped_symbols_take_documented_defaults() {
    // A JPY stock with no factors.csv row: Japanese Equity, beta 1, and a
    // single stock. 100 shares × 3,000 JPY × 0.0064 = 1,920 USD.
    // Its own −50 % is the worst: −960 USD. A bond with no row: USD → Treasury
    // (TLT, −19.8 %): 10 × 10 × 98 = 9,800 USD → −1,940.40 in its own account.
    let drop = TestDrop::new(
        "J1,USD\nB1,USD\n",
        "J1,7203,STK,JPY,100,1,3000,,,,,\nB1,T 4.25 11/15/34,BOND,USD,10,10,98,,,,,\n",
    );
    let evaluation = drop.evaluate();
    let j1 = risk(&evaluation, "J1");
    assert_eq!(j1.worst_loss, dec("960.00"));
    assert_eq!(j1.worst_scenario_name.as_deref(), Some("7203@-50%"));
    let b1 = risk(&evaluation, "B1");
    assert_eq!(b1.worst_loss, dec("1940.40"));
    assert_eq!(b1.worst_scenario_name.as_deref(), Some("Treasury@-19.8%"));
}
