//! The sample Flex reports in `examples/flex/` read to the same batch as the
//! equivalent native drop in `examples/flex/native/`.

use std::path::{Path, PathBuf};

use exfee_io::{DropPaths, parse_factor_table, read_drop, read_flex};
use exfee_model::{AccountInput, Batch, Currency, Decimal, MarketData};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn examples() -> PathBuf {
    root().join("examples/flex")
}

fn native() -> Batch {
    let table = root().join("scenarios/risk-factors-current.csv");
    let table = parse_factor_table(
        "risk-factors-current.csv",
        std::fs::File::open(table).expect("factor table"),
    )
    .expect("a valid factor table");
    let batch =
        read_drop(&DropPaths::in_dir(&examples().join("native")), &table).expect("native drop");
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
    for account in &batch.accounts {
        assert!(
            account.errors.is_empty(),
            "{}: {:?}",
            account.id,
            account.errors
        );
    }
    batch
}

/// The native market folder without the FX rates the Flex files carry: only
/// JPY (held as cash only, so no Flex row gives its rate) is left.
fn market_folder_without_file_rates() -> MarketData {
    let mut market = native().market;
    market.fx.retain(|currency, _| currency.as_str() == "JPY");
    market
}

/// Positions and cash in a canonical order.
fn canonical(account: &AccountInput) -> AccountInput {
    let mut account = account.clone();
    account.positions.sort_by(|a, b| {
        a.instrument
            .cmp(&b.instrument)
            .then(a.quantity.cmp(&b.quantity))
    });
    account
        .cash
        .sort_by(|a, b| a.currency.cmp(&b.currency).then(a.amount.cmp(&b.amount)));
    account
}

fn fx(batch: &Batch) -> Vec<(Currency, Decimal)> {
    batch
        .market
        .fx
        .iter()
        .filter(|(currency, _)| **currency != Currency::USD)
        .map(|(currency, rate)| (*currency, rate.clone().expect("a usable rate")))
        .collect()
}

fn assert_same(flex: &Batch, native: &Batch) {
    assert!(flex.errors.is_empty(), "{:?}", flex.errors);
    let ids = |b: &Batch| b.accounts.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(flex), ids(native), "same accounts in the same order");
    for (f, n) in flex.accounts.iter().zip(&native.accounts) {
        assert_eq!(canonical(f), canonical(n), "account {}", n.id);
    }
    assert_eq!(fx(flex), fx(native), "FX rates");
    assert_eq!(flex.market.factors, native.market.factors);
    assert_eq!(flex.market.underlyings, native.market.underlyings);
    assert_eq!(flex.market.rates, native.market.rates);
}

fn read(paths: &[&str], market: MarketData) -> Batch {
    let paths: Vec<PathBuf> = paths.iter().map(|p| examples().join(p)).collect();
    read_flex(&paths, market).expect("readable Flex files")
}

#[test]
fn header_data_layout_equals_the_native_drop() {
    let flex = read(
        &["header-data/nightly.csv"],
        market_folder_without_file_rates(),
    );
    assert_same(&flex, &native());
}

#[test]
fn marker_layout_equals_the_native_drop() {
    // A folder: desk-a-usd.csv then desk-b-eur.csv.
    let flex = read(&["markers"], market_folder_without_file_rates());
    assert_same(&flex, &native());
}

#[test]
fn plain_layout_equals_the_native_drop() {
    let flex = read(
        &["plain/positions.csv", "plain/cash.csv"],
        market_folder_without_file_rates(),
    );
    assert_same(&flex, &native());
}

#[test]
fn the_files_agree_with_the_full_market_folder() {
    for paths in [
        &["header-data"][..],
        &["markers/desk-a-usd.csv", "markers/desk-b-eur.csv"],
        &["plain"],
    ] {
        let flex = read(paths, native().market);
        assert_same(&flex, &native());
    }
}

#[test]
fn the_eur_desk_alone_takes_eur_from_its_usd_rows() {
    let flex = read(
        &["markers/desk-b-eur.csv"],
        market_folder_without_file_rates(),
    );
    for account in &flex.accounts {
        assert!(
            account.errors.is_empty(),
            "{}: {:?}",
            account.id,
            account.errors
        );
    }
    let eur = Decimal::ONE / Decimal::from_str_exact("0.92464").unwrap();
    let rate = |code: &str| flex.market.usd_per_unit(code.parse().unwrap()).unwrap();
    assert_eq!(rate("EUR"), eur);
    assert_eq!(
        rate("CHF"),
        Decimal::from_str_exact("1.04669").unwrap() * eur
    );
    assert_eq!(
        rate("GBP"),
        Decimal::from_str_exact("1.17337").unwrap() * eur
    );
}

#[test]
fn the_same_report_twice_is_never_counted_twice() {
    let flex = read(
        &["header-data/nightly.csv", "markers"],
        market_folder_without_file_rates(),
    );
    for account in &flex.accounts {
        assert!(
            account
                .errors
                .iter()
                .any(|e| e.reason.contains("listed twice")),
            "{}: {:?}",
            account.id,
            account.errors
        );
    }
}
