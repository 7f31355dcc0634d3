//! A risk desk checking an order before it is sent: what does it do to the
//! account's exposure fee?
//!
//! Reads the shipped nightly drop, then asks about two orders for account
//! U9709660 (950 TSLA on margin): selling 500 TSLA, and buying 10 SPY.
//!
//! Run with `cargo run --release --example what_if`.

use exfee::fee::FeeSchedule;
use exfee::io::{DropPaths, read_drop};
use exfee::{Decimal, EngineConfig, Position, ScenarioSource, WhatIf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let drop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nightly");
    let source = ScenarioSource::default_set();
    let batch = read_drop(&DropPaths::in_dir(&drop), source.factor_table())?;
    let config = EngineConfig::new("2026-11-20".parse()?);
    let schedule = FeeSchedule::default();

    let desk = WhatIf::new(&batch, "U9709660", &source, &config, &schedule)?;
    let now = desk.before();
    println!(
        "U9709660 tonight: NLV {} USD, worst loss {} USD, uncovered {} USD, daily fee {} USD",
        now.nlv, now.measure, now.uncovered, now.daily_fee
    );

    // Orders reuse instruments the drop already knows (same marks).
    let instrument = |symbol: &str| {
        batch
            .accounts
            .iter()
            .flat_map(|a| &a.positions)
            .find(|p| p.instrument.symbol == symbol)
            .map(|p| p.instrument.clone())
            .ok_or(format!("{symbol} is not in the drop"))
    };
    for (symbol, quantity) in [("TSLA", -500), ("SPY", 10)] {
        let order = Position {
            instrument: instrument(symbol)?,
            quantity: Decimal::from(quantity),
        };
        let answer = desk.order(&[order])?;
        println!(
            "  {:>+5} {symbol:<5} → worst loss {:>12} USD, daily fee {:>8} USD ({:+})",
            quantity, answer.after.measure, answer.after.daily_fee, answer.change
        );
    }
    Ok(())
}
