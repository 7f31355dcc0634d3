//! Every kind of bad row is reported with file, line, column and reason, on
//! the account it touches, while the other accounts are evaluated.

use crate::common::{TestDrop, errors, risk};

/// A drop with a valid account `OK` and an account `BAD` whose only
/// position row (line 3 of positions.csv) is `bad_position`.
fn drop_with(bad_position: &str) -> TestDrop {
    TestDrop::new(
        "OK,USD\nBAD,USD\n",
        &format!("OK,AAPL,STK,USD,10,1,200,,,,,\n{bad_position}\n"),
    )
}

/// Asserts that `BAD` failed with exactly one error, located as `location`
/// and containing `reason`, and that `OK` was evaluated.
fn assert_single_error(drop: &TestDrop, location: &str, reason: &str) {
    let evaluation = drop.evaluate();
    let found = errors(&evaluation, "BAD");
    assert_eq!(found.len(), 1, "{found:?}");
    let expected_prefix = format!("{}{location}", drop.path().display());
    assert!(
        found[0].starts_with(&expected_prefix) && found[0].contains(reason),
        "got {:?}, expected {expected_prefix:?} … {reason:?}",
        found[0]
    );
    risk(&evaluation, "OK");
}

#[test]
fn unknown_currency() {
    assert_single_error(
        &drop_with("BAD,VOW3,STK,XYZ,10,1,100,,,,,"),
        "/positions.csv line 3 column 4 (currency): ",
        "unknown currency XYZ: no FX rate",
    );
}

#[test]
fn not_a_currency_code() {
    assert_single_error(
        &drop_with("BAD,VOW3,STK,EURO,10,1,100,,,,,"),
        "/positions.csv line 3 column 4 (currency): ",
        "not a currency code",
    );
}

#[test]
fn negative_price() {
    assert_single_error(
        &drop_with("BAD,XOM,STK,USD,10,1,-117.85,,,,,"),
        "/positions.csv line 3 column 7 (mark): ",
        "negative price -117.85",
    );
}

#[test]
fn non_finite_price() {
    for text in ["NaN", "inf", "-Infinity"] {
        assert_single_error(
            &drop_with(&format!("BAD,META,STK,USD,10,1,{text},,,,,")),
            "/positions.csv line 3 column 7 (mark): ",
            "is not a finite number",
        );
    }
}

#[test]
fn zero_multiplier() {
    assert_single_error(
        &drop_with("BAD,ESZ6,FUT,USD,1,0,6800,ES,,2026-12-18,,"),
        "/positions.csv line 3 column 6 (multiplier): ",
        "zero multiplier",
    );
}

#[test]
fn derivative_without_strike_expiry_or_right() {
    assert_single_error(
        &drop_with("BAD,AAPL C,OPT,USD,1,100,5,AAPL,,2027-01-15,C,american"),
        "/positions.csv line 3 column 9 (strike): ",
        "missing value",
    );
    assert_single_error(
        &drop_with("BAD,AAPL C,OPT,USD,1,100,5,AAPL,260,,C,american"),
        "/positions.csv line 3 column 10 (expiry): ",
        "missing value",
    );
    assert_single_error(
        &drop_with("BAD,AAPL C,OPT,USD,1,100,5,AAPL,260,2027-01-15,,american"),
        "/positions.csv line 3 column 11 (right): ",
        "missing value",
    );
}

#[test]
fn expiry_that_is_not_a_date() {
    assert_single_error(
        &drop_with("BAD,MSFT P,OPT,USD,1,100,2.24,MSFT,450,2026-13-45,P,american"),
        "/positions.csv line 3 column 10 (expiry): ",
        "\"2026-13-45\" is not a date",
    );
}

#[test]
fn every_problem_of_a_row_is_reported() {
    let drop = drop_with("BAD,X,STK,USD,abc,0,-1,,,,,");
    let found = errors(&drop.evaluate(), "BAD");
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].contains("column 5 (quantity)"));
    assert!(found[1].contains("column 6 (multiplier)"));
    assert!(found[2].contains("column 7 (mark)"));
}

#[test]
fn account_with_two_base_currencies() {
    let drop = TestDrop::new(
        "OK,USD\nBAD,USD\nBAD,EUR\n",
        "OK,AAPL,STK,USD,10,1,200,,,,,\n",
    );
    assert_single_error(
        &drop,
        "/accounts.csv line 4 column 2 (base_currency): ",
        "account BAD has two base currencies: USD and EUR",
    );
}

#[test]
fn rows_for_an_account_missing_from_accounts_csv() {
    let drop = TestDrop::new(
        "OK,USD\n",
        "OK,AAPL,STK,USD,10,1,200,,,,,\nBAD,AAPL,STK,USD,1,1,200,,,,,\n",
    );
    drop.cash("BAD,USD,100\n");
    let evaluation = drop.evaluate();
    let found = errors(&evaluation, "BAD");
    assert_eq!(found.len(), 1, "reported once, at its first row: {found:?}");
    assert!(found[0].ends_with(
        "/positions.csv line 3 column 1 (account): account BAD has no row in accounts.csv"
    ));
    // Cash only: reported at the cash row.
    let drop = TestDrop::new("OK,USD\n", "OK,AAPL,STK,USD,10,1,200,,,,,\n");
    drop.cash("OK,USD,5\nBAD,USD,100\n");
    let found = errors(&drop.evaluate(), "BAD");
    assert!(
        found[0].ends_with(
            "/cash.csv line 3 column 1 (account): account BAD has no row in accounts.csv"
        )
    );
}

#[test]
fn unknown_factor_name_fails_only_its_holders() {
    let drop = TestDrop::new(
        "OK,USD\nBAD,USD\n",
        "OK,AAPL,STK,USD,10,1,200,,,,,\nBAD,AMD,STK,USD,250,1,160,,,,,\n",
    );
    drop.factors("AAPL,Equity,1.1,0.3\nAMD,Equities,1.6,0.5\n");
    assert_single_error(
        &drop,
        "/market/factors.csv line 3 column 2 (factor): ",
        "unknown factor \"Equities\"",
    );
}

#[test]
fn bad_fx_row_fails_only_the_accounts_holding_that_currency() {
    let drop = TestDrop::new("OK,USD\nBAD,USD\n", "OK,AAPL,STK,USD,10,1,200,,,,,\n");
    drop.write(
        "market/fx.csv",
        "currency,usd_per_unit\nEUR,1.10\nSEK,-0.09\n",
    );
    drop.cash("OK,EUR,1000\nBAD,SEK,350000\n");
    let evaluation = drop.evaluate();
    let found = errors(&evaluation, "BAD");
    assert_eq!(found.len(), 1);
    assert!(found[0].contains("/cash.csv line 3 column 2 (currency): no usable FX rate for SEK: "));
    assert!(found[0].contains(
        "/market/fx.csv line 3 column 2 (usd_per_unit): FX rate must be positive, got -0.09"
    ));
    risk(&evaluation, "OK");
}

#[test]
fn a_row_without_account_is_a_batch_error_not_dropped() {
    let drop = TestDrop::new(
        "OK,USD\n",
        "OK,AAPL,STK,USD,10,1,200,,,,,\n,AAPL,STK,USD,1,1,200,,,,,\n",
    );
    let batch = drop.read();
    assert_eq!(batch.errors.len(), 1);
    assert!(
        batch.errors[0]
            .to_string()
            .ends_with("/positions.csv line 3 column 1 (account): missing value")
    );
}

#[test]
fn option_without_underlying_market_data_fails_its_account() {
    let drop = drop_with("BAD,AAPL C,OPT,USD,1,100,5,AAPL,260,2027-01-15,C,american");
    let evaluation = drop.evaluate();
    let found = errors(&evaluation, "BAD");
    assert_eq!(
        found,
        ["OPT AAPL C: no market/underlyings.csv row for its underlying AAPL"]
    );
    risk(&evaluation, "OK");
}
