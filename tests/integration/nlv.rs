//! The two NLV facts of `shared/reference/method.md`, read from drop files
//! and reproduced exactly as Decimal.

use crate::common::{TestDrop, dec, risk};

#[test]
fn multi_currency_cash_and_stock() {
    // Base USD, EUR.USD = 1.40; cash EUR 100,000 and USD −112,000; a long
    // USD stock worth 112,000. NLV = 140,000 − 112,000 + 112,000 = 140,000.
    let drop = TestDrop::new("U1,USD\n", "U1,XYZ,STK,USD,1000,,112,,,,,\n");
    drop.write("market/fx.csv", "currency,usd_per_unit\nEUR,1.40\n");
    drop.cash("U1,EUR,100000\nU1,USD,-112000\n");
    assert_eq!(risk(&drop.evaluate(), "U1").nlv, dec("140000.00"));
}

#[test]
fn long_and_short_stock() {
    // Base USD; cash 80,000; long stock 100,000; short stock −100,000.
    let drop = TestDrop::new(
        "U2,USD\n",
        "U2,AAA,STK,USD,1000,1,100,,,,,\nU2,BBB,STK,USD,-2000,1,50,,,,,\n",
    );
    drop.cash("U2,USD,80000\n");
    assert_eq!(risk(&drop.evaluate(), "U2").nlv, dec("80000.00"));
}

#[test]
fn nlv_is_exact_for_base_other_than_usd() {
    // Base EUR at 1.25 USD: 1,000 USD of cash is 800 EUR exactly, and a
    // future adds nothing (its variation margin is already cash).
    let drop = TestDrop::new("E1,EUR\n", "E1,CLF7,FUT,USD,3,1000,70,CL,,2026-12-21,,\n");
    drop.write("market/fx.csv", "currency,usd_per_unit\nEUR,1.25\n");
    drop.cash("E1,USD,1000\nE1,EUR,0.01\n");
    assert_eq!(risk(&drop.evaluate(), "E1").nlv, dec("800.01"));
}
