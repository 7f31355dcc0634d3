//! Small hand-made batches, legs and scenario sets for the unit tests.

use exfee_model::{
    Bounds as FactorBounds, Currency, Decimal, FactorTable, FxTable, InputError, PrimaryFactor,
};
use exfee_pricing::Right;
use exfee_scenarios::{ScenarioSet, SingleStock};

use crate::EngineConfig;
use crate::leg::{Leg, LegDriver, LegInfo, LegKind, OptionLeg};
use crate::prepare::{Prepared, PreparedAccount};

/// A leg of `kind` in the base currency, at rate `rate`.
pub(crate) fn leg(kind: LegKind, rate: f64) -> Leg {
    Leg {
        kind,
        info: LegInfo {
            label: "test".into(),
            symbol: "T".into(),
            class: "Test".into(),
            unit_value: 0.0,
            unit_exposure: 0.0,
            currency: Currency::USD,
            driver_symbol: String::new(),
            single_stock: false,
            option: false,
        },
        fx: None,
        rate,
    }
}

/// Factor 0 with beta 1, and single stock `stock`.
pub(crate) fn driver(stock: Option<usize>) -> LegDriver {
    LegDriver {
        factor: 0,
        beta: 1.0,
        stock,
    }
}

/// A linear leg worth `value` a unit, on factor 0 and single stock `stock`.
pub(crate) fn linear(value: f64, stock: Option<usize>) -> Leg {
    leg(
        LegKind::Linear {
            value,
            driver: driver(stock),
        },
        1.0,
    )
}

/// A put on 100 at 100, half a year, r 3 %, carry 1 %, vol 20 %, 100 a
/// contract marked at 6, its base price `model_base`.
pub(crate) fn put(american: bool, strike: f64, model_base: f64) -> OptionLeg {
    OptionLeg {
        driver: driver(Some(0)),
        right: Right::Put,
        american,
        strike,
        t: 0.5,
        rate: 0.03,
        carry: 0.01,
        spot: 100.0,
        vol: 0.2,
        value: 100.0 * 6.0,
        multiplier: 100.0,
        model_base,
    }
}

/// A ready account holding `holdings` (leg, quantity).
pub(crate) fn ready(holdings: &[(usize, f64)]) -> PreparedAccount {
    PreparedAccount::Ready {
        nlv: Decimal::ZERO,
        holdings: holdings.to_vec(),
        warnings: Vec::new(),
    }
}

/// A failed account.
pub(crate) fn failed() -> PreparedAccount {
    PreparedAccount::Failed(vec![InputError::new("bad")])
}

/// A prepared batch of `accounts` over `legs`, holding single `stocks`.
pub(crate) fn prepared(
    accounts: Vec<PreparedAccount>,
    legs: Vec<Leg>,
    stocks: &[&str],
) -> Prepared {
    let n = accounts.len();
    Prepared {
        ids: (0..n).map(|i| format!("U{i}")).collect(),
        bases: vec![Some(Currency::USD); n],
        accounts,
        legs,
        stocks: single_stocks(stocks),
        options: Vec::new(),
        config: EngineConfig::new(chrono::NaiveDate::default()),
    }
}

/// Factor Equity (−30 %, +20 %, represented by the S&P 500) and single
/// stocks (−50 %, +50 %).
pub(crate) fn equity_and_stocks() -> FactorTable {
    let pct = |p: i64| Decimal::from(p);
    FactorTable::new(vec![
        PrimaryFactor {
            name: "Equity".into(),
            representative: "S&P 500".into(),
            symbol: "SPX".into(),
            bounds: FactorBounds::new("Equity", pct(-30), pct(20)).unwrap(),
        },
        PrimaryFactor {
            name: "Individual Stocks".into(),
            representative: String::new(),
            symbol: String::new(),
            bounds: FactorBounds::new("stocks", pct(-50), pct(50)).unwrap(),
        },
    ])
    .unwrap()
}

/// `stocks` as single stocks of idiosyncratic volatility 35 %.
pub(crate) fn single_stocks(stocks: &[&str]) -> Vec<SingleStock> {
    stocks
        .iter()
        .map(|s| SingleStock {
            symbol: (*s).to_string(),
            idio_vol: 0.35,
        })
        .collect()
}

/// The fixed stress set of [`equity_and_stocks`] moving `stocks`, no
/// currencies.
pub(crate) fn fixed_set(stocks: &[&str]) -> ScenarioSet {
    ScenarioSet::fixed_stress(
        equity_and_stocks(),
        FxTable::new(vec![]).unwrap(),
        single_stocks(stocks),
    )
}
