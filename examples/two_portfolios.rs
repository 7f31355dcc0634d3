//! A risk desk embedding exfee: build two portfolios in code, evaluate them
//! under the current fixed stress set, and print their results.
//!
//! Run with `cargo run --example two_portfolios`.

use exfee::model::FactorMapping;
use exfee::{
    AccountInput, Batch, CashBalance, Currency, Decimal, EngineConfig, Instrument, InstrumentKind,
    MarketData, Outcome, Position, ScenarioTables, evaluate_batch,
};

fn stock(symbol: &str, currency: Currency, mark: Decimal, quantity: i64) -> Position {
    Position {
        instrument: Instrument {
            symbol: symbol.into(),
            kind: InstrumentKind::Stock,
            currency,
            multiplier: Decimal::ONE,
            mark,
        },
        quantity: Decimal::from(quantity),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let usd = Currency::USD;
    let eur: Currency = "EUR".parse()?;

    // Market data: one FX rate and two factor mappings.
    let mut market = MarketData::with_fx([(eur, Decimal::new(108, 2))]);
    market.factors.insert(
        "NVDA".into(),
        Ok(FactorMapping {
            factor: "Equity".into(),
            beta: 1.7,
            idio_vol: Some(0.5),
        }),
    );
    market.factors.insert(
        "SAP".into(),
        Ok(FactorMapping {
            factor: "European Equity".into(),
            beta: 1.1,
            idio_vol: Some(0.3),
        }),
    );

    // A concentrated, leveraged USD account.
    let mut growth = AccountInput::new("DESK-GROWTH", usd);
    growth
        .positions
        .push(stock("NVDA", usd, Decimal::new(18250, 2), 2_000));
    growth.cash.push(CashBalance {
        currency: usd,
        amount: Decimal::from(-250_000),
    });

    // A EUR account holding SAP and some dollars.
    let mut balanced = AccountInput::new("DESK-BALANCED", eur);
    balanced
        .positions
        .push(stock("SAP", eur, Decimal::new(23410, 2), 400));
    balanced.cash.push(CashBalance {
        currency: usd,
        amount: Decimal::from(40_000),
    });
    balanced.cash.push(CashBalance {
        currency: eur,
        amount: Decimal::from(25_000),
    });

    let batch = Batch {
        accounts: vec![growth, balanced],
        market,
        errors: vec![],
    };
    let evaluation = evaluate_batch(
        &batch,
        &ScenarioTables::current().into(),
        &EngineConfig::default(),
    )?;
    println!(
        "{} scenarios, {} legs priced per scenario",
        evaluation.scenarios.len(),
        evaluation.legs
    );
    for result in &evaluation.results {
        let base = result
            .base_currency
            .map(|c| c.to_string())
            .unwrap_or_default();
        match &result.outcome {
            Outcome::Evaluated(risk) => println!(
                "{:<14} NLV {:>12} {base}  worst loss {:>12} ({})  uncovered {:>12}",
                result.account,
                risk.nlv,
                risk.worst_loss,
                risk.worst_scenario_name
                    .as_deref()
                    .unwrap_or("Monte Carlo draw"),
                risk.uncovered
            ),
            Outcome::Failed(errors) => println!("{:<14} failed: {errors:?}", result.account),
        }
    }
    Ok(())
}
