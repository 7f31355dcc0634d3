//! Proposed orders, as the what-if service and the Python package receive
//! them: one row of `positions.csv` each, with `price` in place of `mark`.
//!
//! An order is validated by the drop reader itself (it is written as a
//! `positions.csv` row and read back), so an order is accepted exactly when
//! the same row in tonight's drop would be, with the same reasons.

use exfee_model::{AssetClass, Batch, FactorTable, Position};
use serde::Deserialize;

/// A number as JSON gives it: a string (`"12.50"`, exact) or a JSON number.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// Decimal text.
    Text(String),
    /// A JSON number (its shortest text is read as a decimal).
    Number(serde_json::Number),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Text(text) => text.clone(),
            Scalar::Number(number) => number.to_string(),
        }
    }
}

/// One proposed order: the field names of `positions.csv`; `price`
/// (default: tonight's mark of the same instrument in the batch) stands for
/// `mark`. A signed quantity: negative sells.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    /// Symbol.
    pub symbol: String,
    /// `STK`, `FUT`, `OPT`, … as in `positions.csv`.
    pub asset_class: String,
    /// Trading currency.
    pub currency: String,
    /// Signed quantity.
    pub quantity: Scalar,
    /// Fill price; default: the instrument's mark tonight.
    #[serde(default)]
    pub price: Option<Scalar>,
    /// Contract multiplier.
    #[serde(default)]
    pub multiplier: Option<Scalar>,
    /// An option's or future's underlying.
    #[serde(default)]
    pub underlying: Option<String>,
    /// An option's strike.
    #[serde(default)]
    pub strike: Option<Scalar>,
    /// An option's expiry (YYYY-MM-DD).
    #[serde(default)]
    pub expiry: Option<String>,
    /// `C` or `P`.
    #[serde(default)]
    pub right: Option<String>,
    /// `european` or `american`.
    #[serde(default)]
    pub exercise: Option<String>,
}

/// Why an order cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OrderError(pub String);

const POSITIONS_HEADER: [&str; 12] = [
    "account",
    "symbol",
    "asset_class",
    "currency",
    "quantity",
    "multiplier",
    "mark",
    "underlying",
    "strike",
    "expiry",
    "right",
    "exercise",
];

/// Tonight's mark of the instrument an order names, from any account of
/// the batch holding it (same symbol, asset class and currency).
fn mark_of(batch: &Batch, order: &Order) -> Option<String> {
    let class = AssetClass::parse(&order.asset_class)?;
    batch
        .accounts
        .iter()
        .flat_map(|a| &a.positions)
        .find(|p| {
            p.instrument.symbol == order.symbol
                && p.instrument.currency.to_string() == order.currency
                && p.instrument.asset_class() == class
        })
        .map(|p| p.instrument.mark.to_string())
}

/// The positions `orders` add to account `account` of `batch`, validated as
/// rows of `positions.csv` (errors name `order N` and the field).
///
/// # Errors
///
/// [`OrderError`] with the first order that cannot be read or priced.
pub fn orders_to_positions(
    batch: &Batch,
    account: &str,
    orders: &[Order],
    factor_table: &FactorTable,
) -> Result<Vec<Position>, OrderError> {
    if orders.is_empty() {
        return Err(OrderError("no orders".into()));
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| OrderError(format!("orders: {e}"));
    writer.write_record(POSITIONS_HEADER).map_err(io)?;
    for (n, order) in orders.iter().enumerate() {
        let price = match &order.price {
            Some(price) => price.text(),
            None => mark_of(batch, order).ok_or_else(|| {
                OrderError(format!(
                    "order {}: no price given and no mark tonight for {} {} {}",
                    n + 1,
                    order.asset_class,
                    order.symbol,
                    order.currency
                ))
            })?,
        };
        let text = |s: &Option<String>| s.clone().unwrap_or_default();
        let number = |s: &Option<Scalar>| s.as_ref().map(Scalar::text).unwrap_or_default();
        writer
            .write_record([
                account.to_string(),
                order.symbol.clone(),
                order.asset_class.clone(),
                order.currency.clone(),
                order.quantity.text(),
                number(&order.multiplier),
                price,
                text(&order.underlying),
                number(&order.strike),
                text(&order.expiry),
                text(&order.right),
                text(&order.exercise),
            ])
            .map_err(io)?;
    }
    let positions = writer
        .into_inner()
        .map_err(|e| OrderError(format!("orders: {e}")))?;
    let accounts = format!("account,base_currency\n{},USD\n", csv_cell(account));
    // Tonight's FX rates: an order's currency is one the market prices.
    let mut fx = String::from("currency,usd_per_unit\n");
    for (currency, rate) in &batch.market.fx {
        if let Ok(rate) = rate {
            fx.push_str(&format!("{currency},{rate}\n"));
        }
    }
    let paths = exfee_io::DropPaths {
        accounts: "accounts".into(),
        positions: "orders".into(),
        cash: "cash".into(),
        fx: "fx".into(),
        factors: "factors".into(),
        underlyings: "underlyings".into(),
        rates: "rates".into(),
    };
    let read = exfee_io::read_drop_with(&paths, factor_table, |path| {
        match path.to_str().unwrap_or_default() {
            "accounts" => Ok(accounts.as_bytes()),
            "orders" => Ok(positions.as_slice()),
            "fx" => Ok(fx.as_bytes()),
            _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        }
    })
    .map_err(|e| OrderError(e.to_string()))?;
    let reason = |e: &exfee_model::InputError| match &e.location {
        // Line 2 of the written file is order 1.
        Some(l) => format!(
            "order {}{}: {}",
            l.line.saturating_sub(1),
            l.column
                .as_ref()
                .map(|(_, name)| format!(" field {name}"))
                .unwrap_or_default(),
            e.reason
        ),
        None => e.reason.clone(),
    };
    if let Some(error) = read.errors.first() {
        return Err(OrderError(reason(error)));
    }
    let Some(parsed) = read.accounts.into_iter().next() else {
        return Err(OrderError("no orders".into()));
    };
    if let Some(error) = parsed.errors.first() {
        return Err(OrderError(reason(error)));
    }
    if parsed.positions.len() != orders.len() {
        return Err(OrderError(format!(
            "{} of {} orders could be read",
            parsed.positions.len(),
            orders.len()
        )));
    }
    Ok(parsed.positions)
}

/// A CSV cell holding `text` (quoted when it needs to be).
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The what-if answer as the service sends it (and the Python package
/// returns it): `{"account", "currency", "before", "after", "change"}`, each
/// side `{"daily_fee", "fee_status", "measure", "uncovered", "nlv",
/// "worst_scenario", "by_class": {class: fee}}`, money
/// as decimal strings. `tonight` is the account's fee tonight (its status is
/// `before.fee_status`); `after.fee_status` is what the grace rules give on
/// the same history (`previous`, `None` on a first night) with the after
/// figures. `daily_fee` is the fee the measurement implies under the
/// schedule, in grace or not.
pub fn what_if_answer(
    account: &str,
    currency: &str,
    tonight: Option<&crate::FeeLine>,
    previous: Option<&exfee_fee::AccountState>,
    schedule: &exfee_fee::FeeSchedule,
    date: chrono::NaiveDate,
    answer: &crate::WhatIfAnswer,
) -> serde_json::Value {
    let before = tonight.map_or("clear", |f| f.status.name());
    let (_, after) = exfee_fee::next_state(
        previous,
        date,
        answer.after.daily_fee > exfee_model::Decimal::ZERO,
        schedule.grace,
    );
    let side = |quote: &crate::Quote, status: &str| {
        serde_json::json!({
            "daily_fee": quote.daily_fee.to_string(),
            "fee_paid": quote.fee_paid.to_string(),
            "fee_status": status,
            "measure": quote.measure.to_string(),
            "uncovered": quote.uncovered.to_string(),
            "nlv": quote.nlv.to_string(),
            "worst_scenario": quote.worst_scenario,
            "by_class": quote
                .by_class
                .iter()
                .map(|(class, fee)| (class.clone(), serde_json::Value::String(fee.to_string())))
                .collect::<serde_json::Map<_, _>>(),
        })
    };
    serde_json::json!({
        "account": account,
        "currency": currency,
        "before": side(&answer.before, before),
        "after": side(&answer.after, after.name()),
        "change": answer.change.to_string(),
    })
}
