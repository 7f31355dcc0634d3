//! Proposed orders, as the what-if service and the Python package receive
//! them: one row of `positions.csv` each, with `price` in place of `mark`.
//!
//! An order is validated by the drop's own rule for a position row
//! ([`exfee_io::read_position`] over the order's fields, through
//! [`exfee_io::Fields`]), so an order is accepted exactly when the same row
//! in tonight's drop would be, with the same reasons; no CSV is written or
//! read for it (docs/serve.md, *Orders*).

use std::borrow::Cow;

use exfee_io::Fields;
use exfee_model::{AssetClass, Batch, InputError, Position, SourceLocation};
use serde::Deserialize;

/// A number as JSON gives it: a string (`"12.50"`) or a JSON number
/// (`12.50`), each kept as its exact text and read by the drop's decimal
/// rule (plain notation: `1e3` is refused in either form). A JSON number is
/// never read through an `f64`: `1e-400` is not taken for 0, nor
/// `12345678901234567.89` for `12345678901234568`.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A JSON string's text.
    Text(String),
    /// A JSON number's text, as sent.
    Number(String),
}

impl Scalar {
    fn text(&self) -> Cow<'_, str> {
        match self {
            Scalar::Text(text) | Scalar::Number(text) => Cow::Borrowed(text),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // The value's text as the request holds it (JSON's number grammar
        // already checked by the parser).
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        match text.chars().next() {
            Some('"') => serde_json::from_str(text)
                .map(Scalar::Text)
                .map_err(D::Error::custom),
            Some(c) if c == '-' || c.is_ascii_digit() => Ok(Scalar::Number(text.to_string())),
            _ => Err(D::Error::custom(
                "expected a number or a string holding a decimal number",
            )),
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

/// The columns of `positions.csv` in its order: an order's fields are
/// these (the account's being the asking account's, `mark` the price), and
/// a field error names its column as the drop's would (its number, 1-based,
/// is its place here).
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

/// Where `mark` is among [`POSITIONS_HEADER`].
const MARK: usize = 6;

/// An order as a record of the columns of `positions.csv` (its number
/// among the request's orders, 1-based, for errors).
struct OrderFields<'a> {
    number: usize,
    /// The text of each column of [`POSITIONS_HEADER`] (the account's is
    /// empty: a position's rule does not read it).
    texts: [Cow<'a, str>; 12],
}

impl<'a> OrderFields<'a> {
    fn new(number: usize, order: &'a Order, mark: Cow<'a, str>) -> Self {
        let text = |s: &'a Option<String>| Cow::Borrowed(s.as_deref().unwrap_or_default());
        let number_text =
            |s: &'a Option<Scalar>| s.as_ref().map_or(Cow::Borrowed(""), Scalar::text);
        OrderFields {
            number,
            texts: [
                Cow::Borrowed(""),
                Cow::Borrowed(order.symbol.as_str()),
                Cow::Borrowed(order.asset_class.as_str()),
                Cow::Borrowed(order.currency.as_str()),
                order.quantity.text(),
                number_text(&order.multiplier),
                mark,
                text(&order.underlying),
                number_text(&order.strike),
                text(&order.expiry),
                text(&order.right),
                text(&order.exercise),
            ],
        }
    }

    /// What a CSV row of these fields could not carry and the drop's reader
    /// refuses before any field rule: a field over the reader's length
    /// limit, or a line break where the drop allows none (a JSON string may
    /// hold one; a `positions.csv` row holds one only in quotes, in the
    /// columns of [`exfee_io::POSITION_LINE_BREAKS`]). The first such field
    /// in column order.
    fn framing_error(&self) -> Option<InputError> {
        POSITIONS_HEADER
            .iter()
            .zip(&self.texts)
            .find_map(|(column, text)| {
                if let Some(reason) = exfee_io::oversize_reason(text) {
                    return Some(self.error(column, reason));
                }
                (text.contains(['\n', '\r']) && !exfee_io::POSITION_LINE_BREAKS.contains(column))
                    .then(|| self.error(column, "this column cannot hold a line break"))
            })
    }
}

impl Fields for OrderFields<'_> {
    fn raw(&self, column: &str) -> Result<&str, InputError> {
        Ok(POSITIONS_HEADER
            .iter()
            .position(|c| *c == column)
            .and_then(|i| self.texts.get(i))
            .map_or("", |text| text.as_ref()))
    }

    fn error(&self, column: &str, reason: impl Into<String>) -> InputError {
        let index = POSITIONS_HEADER.iter().position(|c| *c == column);
        InputError::at(
            SourceLocation {
                file: "orders".into(),
                line: u64::try_from(self.number).unwrap_or(u64::MAX),
                column: index.map(|i| (i + 1, column.to_string())),
            },
            reason,
        )
    }
}

/// Tonight's mark of the instrument an order names (same symbol, asset
/// class and currency, each read from the order by the drop's field rule:
/// trimmed, the class in any case, the currency in capitals or small
/// letters): the ordering account's own mark when it holds the instrument,
/// else that of the first account of the batch holding it. (Marks of one
/// instrument may differ between accounts of a drop; the account's own is
/// the one its NLV uses.)
fn mark_of(batch: &Batch, account: &str, fields: &OrderFields<'_>) -> Option<String> {
    let symbol = fields.required("symbol").ok()?;
    let class = AssetClass::parse(fields.required("asset_class").ok()?)?;
    let currency = fields.currency("currency").ok()?;
    let is_it = |p: &&Position| {
        p.instrument.symbol == symbol
            && p.instrument.currency == currency
            && p.instrument.asset_class() == class
    };
    let own = batch.accounts.iter().filter(|a| a.id == account);
    let others = batch.accounts.iter().filter(|a| a.id != account);
    own.chain(others)
        .flat_map(|a| &a.positions)
        .find(is_it)
        .map(|p| p.instrument.mark.to_string())
}

/// The reason of an order's field error: `order N field NAME: reason`.
fn reason(error: &InputError) -> String {
    match &error.location {
        Some(l) => format!(
            "order {}{}: {}",
            l.line,
            l.column
                .as_ref()
                .map(|(_, name)| format!(" field {name}"))
                .unwrap_or_default(),
            error.reason
        ),
        None => error.reason.clone(),
    }
}

/// Order `number`'s fields, its mark the price given or else tonight's mark
/// of the instrument.
fn with_mark<'a>(
    batch: &Batch,
    account: &str,
    number: usize,
    order: &'a Order,
) -> Result<OrderFields<'a>, OrderError> {
    let mut fields = OrderFields::new(number, order, Cow::Borrowed(""));
    let mark = match &order.price {
        Some(price) => price.text(),
        None => Cow::Owned(mark_of(batch, account, &fields).ok_or_else(|| {
            OrderError(format!(
                "order {number}: no price given and no mark tonight for {} {} {}",
                order.asset_class, order.symbol, order.currency
            ))
        })?),
    };
    fields.texts[MARK] = mark;
    Ok(fields)
}

/// The positions `orders` add to `account` of `batch`, each validated as a
/// row of `positions.csv` by the drop's rule ([`exfee_io::read_position`]:
/// errors name `order N` and the field, with the reason the drop gives for
/// that field).
///
/// # Errors
///
/// [`OrderError`] with the first order that cannot be read or priced.
pub fn orders_to_positions(
    batch: &Batch,
    account: &str,
    orders: &[Order],
) -> Result<Vec<Position>, OrderError> {
    if orders.is_empty() {
        return Err(OrderError("no orders".into()));
    }
    let mut positions = Vec::with_capacity(orders.len());
    for (n, order) in orders.iter().enumerate() {
        let fields = with_mark(batch, account, n + 1, order)?;
        if let Some(error) = fields.framing_error() {
            return Err(OrderError(reason(&error)));
        }
        match exfee_io::read_position(&fields, &batch.market) {
            Ok(position) => positions.push(position),
            Err(errors) => {
                let first = errors
                    .first()
                    .map_or_else(|| format!("order {}: cannot be read", n + 1), reason);
                return Err(OrderError(first));
            }
        }
    }
    Ok(positions)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> exfee_model::FactorTable {
        exfee_io::parse_factor_table(
            "factors.csv",
            "factor,symbol,lower_bound_pct,upper_bound_pct\nEquity,SPX,-30,20\n\
             Individual Stocks,,-50,50\n"
                .as_bytes(),
        )
        .unwrap()
    }

    /// A batch with one account holding AAPL at 245.30 and a market that
    /// prices USD, EUR and (badly) GBP.
    fn batch() -> Batch {
        let files = [
            ("d/accounts.csv", "account,base_currency\nU1,USD\n"),
            (
                "d/positions.csv",
                "account,symbol,asset_class,currency,quantity,mark\nU1,AAPL,STK,USD,10,245.30\n",
            ),
            (
                "d/market/fx.csv",
                "currency,usd_per_unit\nUSD,1\nEUR,1.08\nGBP,-1\n",
            ),
        ];
        exfee_io::read_drop_with(
            &exfee_io::DropPaths::in_dir(std::path::Path::new("d")),
            &table(),
            |path| {
                files
                    .iter()
                    .find(|(name, _)| std::path::Path::new(name) == path)
                    .map(|(_, text)| text.as_bytes())
                    .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
            },
        )
        .unwrap()
    }

    /// The oracle: the orders written as the rows of a `positions.csv` (the
    /// price, or the mark found, as `mark`) and read by the drop's reader
    /// with tonight's FX rates (as the service validated orders before it
    /// read their fields directly), errors placed as `order N field F`.
    fn through_csv(batch: &Batch, orders: &[Order]) -> Result<Vec<Position>, String> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(POSITIONS_HEADER).unwrap();
        for (n, order) in orders.iter().enumerate() {
            let mark =
                with_mark(batch, "U1", n + 1, order).map_err(|e| e.0)?.texts[MARK].to_string();
            let text = |s: &Option<String>| s.clone().unwrap_or_default();
            let number = |s: &Option<Scalar>| s.as_ref().map(|s| s.text().into_owned());
            writer
                .write_record([
                    "U1".to_string(),
                    order.symbol.clone(),
                    order.asset_class.clone(),
                    order.currency.clone(),
                    order.quantity.text().into_owned(),
                    number(&order.multiplier).unwrap_or_default(),
                    mark,
                    text(&order.underlying),
                    number(&order.strike).unwrap_or_default(),
                    text(&order.expiry),
                    text(&order.right),
                    text(&order.exercise),
                ])
                .unwrap();
        }
        let positions = writer.into_inner().unwrap();
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
        let read =
            exfee_io::read_drop_with(&paths, &table(), |path| match path.to_str().unwrap() {
                "accounts" => Ok("account,base_currency\nU1,USD\n".as_bytes()),
                "orders" => Ok(positions.as_slice()),
                "fx" => Ok(fx.as_bytes()),
                _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
            })
            .unwrap();
        let place = |e: &InputError| match &e.location {
            // Line 2 of the file is order 1.
            Some(l) => format!(
                "order {}{}: {}",
                l.line - 1,
                l.column
                    .as_ref()
                    .map(|(_, name)| format!(" field {name}"))
                    .unwrap_or_default(),
                e.reason
            ),
            None => e.reason.clone(),
        };
        if let Some(error) = read.errors.first() {
            return Err(place(error));
        }
        let account = read.accounts.into_iter().next().unwrap();
        match account.errors.first() {
            Some(error) => Err(place(error)),
            None => Ok(account.positions),
        }
    }

    fn orders(json: &str) -> Vec<Order> {
        serde_json::from_str(json).unwrap()
    }

    /// Each order list, read directly and through the drop's CSV reader:
    /// the same positions, or the same reason.
    #[test]
    fn a_json_order_validates_as_the_same_positions_csv_row() {
        let batch = batch();
        let stock = r#""symbol":"AAPL","asset_class":"STK","currency":"USD""#;
        let option = r#""symbol":"AAPL 270115C250","asset_class":"OPT","currency":"USD","multiplier":100,"underlying":"AAPL""#;
        let cases = [
            format!(r#"[{{{stock},"quantity":-1}}]"#),
            format!(r#"[{{{stock},"quantity":"2.50","price":"250.1"}}]"#),
            format!(r#"[{{{stock},"quantity":" 12.5 ","price":" 3 "}}]"#),
            format!(r#"[{{{stock},"quantity":1e3}}]"#),
            format!(r#"[{{{stock},"quantity":"lots"}}]"#),
            format!(r#"[{{{stock},"quantity":""}}]"#),
            format!(r#"[{{{stock},"quantity":"NaN"}}]"#),
            format!(r#"[{{{stock},"quantity":"1e400"}}]"#),
            format!(r#"[{{{stock},"quantity":1,"price":"-3"}}]"#),
            format!(r#"[{{{stock},"quantity":1,"multiplier":0}}]"#),
            format!(r#"[{{{stock},"quantity":1,"multiplier":"-100"}}]"#),
            format!(r#"[{{{stock},"quantity":1,"multiplier":"abc"}}]"#),
            r#"[{"symbol":"AAPL","asset_class":"XYZ","currency":"USD","quantity":1,"price":1}]"#
                .into(),
            r#"[{"symbol":"SAP","asset_class":"STK","currency":"EUR","quantity":1,"price":"120"}]"#
                .into(),
            r#"[{"symbol":"SAP","asset_class":"STK","currency":"eur","quantity":1,"price":"120"}]"#
                .into(),
            r#"[{"symbol":"X","asset_class":"STK","currency":"JPY","quantity":1,"price":"1"}]"#
                .into(),
            r#"[{"symbol":"X","asset_class":"STK","currency":"EU","quantity":1,"price":"1"}]"#
                .into(),
            r#"[{"symbol":"","asset_class":"","currency":"","quantity":"","price":""}]"#.into(),
            r#"[{"symbol":"A,\"B\"","asset_class":"STK","currency":"USD","quantity":1,"price":"1"}]"#
                .into(),
            format!(
                r#"[{{{option},"quantity":1,"price":"12","strike":"250","expiry":"2027-01-15","right":"C","exercise":"european"}}]"#
            ),
            format!(
                r#"[{{{option},"quantity":1,"price":"12","strike":"250","expiry":"20270115","right":"p"}}]"#
            ),
            format!(
                r#"[{{{option},"quantity":1,"price":"12","strike":"-5","expiry":"2026-13-40","right":"X","exercise":"bermudan"}}]"#
            ),
            format!(r#"[{{{option},"quantity":1,"price":"12"}}]"#),
            r#"[{"symbol":"ESZ6","asset_class":"FUT","currency":"USD","quantity":1,"price":"6000","multiplier":50,"expiry":"2026-12-18"}]"#
                .into(),
            r#"[{"symbol":"ESZ6","asset_class":"FUT","currency":"USD","quantity":1,"price":"6000","underlying":"SPX","expiry":"12/18/2026"}]"#
                .into(),
            // The second order is at fault: its number is in the reason.
            format!(r#"[{{{stock},"quantity":1}},{{{stock},"quantity":"x"}}]"#),
            // No price and no mark tonight.
            r#"[{"symbol":"NEWCO","asset_class":"STK","currency":"USD","quantity":5}]"#.into(),
        ];
        let mut accepted = Vec::new();
        for (n, case) in cases.iter().enumerate() {
            let orders = orders(case);
            let direct = orders_to_positions(&batch, "U1", &orders).map_err(|e| e.0);
            assert_eq!(direct, through_csv(&batch, &orders), "{case}");
            if direct.is_ok() {
                accepted.push(n);
            }
        }
        // Both kinds are covered: the good stock orders (a JSON number
        // read as its text, spaces trimmed), EUR in any case, a symbol with
        // a comma and quotes, the two good options (right in any case), the
        // future without an underlying (its own symbol); every other case
        // is refused.
        // `1e3` (case 3) is refused: plain notation only, as in a string.
        assert_eq!(accepted, [0, 1, 2, 13, 14, 18, 19, 20, 23]);
        assert_eq!(POSITIONS_HEADER[MARK], "mark");
    }

    /// A JSON number is its text as sent: never rounded through an `f64`,
    /// and held to the plain-decimal rule a string is held to.
    #[test]
    fn a_json_number_is_read_as_its_exact_text() {
        let batch = batch();
        let quantity = |q: &str| {
            let json = format!(
                r#"[{{"symbol":"AAPL","asset_class":"STK","currency":"USD","quantity":{q},"price":2.5}}]"#
            );
            orders_to_positions(&batch, "U1", &orders(&json))
                .map(|p| (p[0].quantity.to_string(), p[0].instrument.mark.to_string()))
                .map_err(|e| e.0)
        };
        let ok = |q: &str| Ok((q.to_string(), "2.5".to_string()));
        // 19 and 28 significant digits: an f64 holds about 17.
        assert_eq!(quantity("12345678901234567.89"), ok("12345678901234567.89"));
        assert_eq!(
            quantity("0.1234567890123456789012345678"),
            ok("0.1234567890123456789012345678")
        );
        assert_eq!(quantity("0.0000001"), ok("0.0000001"));
        assert_eq!(quantity("-2.50"), ok("-2.50"));
        assert_eq!(quantity(r#""-2.50""#), ok("-2.50"));
        // Exponent forms, refused whatever their size (`1e-400` is not 0,
        // `1e2` is refused as `1e-7` is).
        for refused in ["1e-400", "1e2", "1E2", "1e-7", "2.5e+3", "-1e400"] {
            assert_eq!(
                quantity(refused),
                Err(format!(
                    "order 1 field quantity: \"{refused}\" is not a decimal number (plain \
                     notation like 1234.56, at most 28 significant digits)"
                )),
            );
        }
        // Neither a number nor a string: the request is malformed.
        for value in ["true", "null", "[1]", r#"{"a":1}"#] {
            let json = format!(
                r#"[{{"symbol":"AAPL","asset_class":"STK","currency":"USD","quantity":{value}}}]"#
            );
            assert!(
                serde_json::from_str::<Vec<Order>>(&json).is_err(),
                "{value}"
            );
        }
    }

    /// The instrument whose mark an order without a price takes is found by
    /// the fields as the drop reads them: symbol trimmed, class in any case,
    /// currency in capitals or small letters.
    #[test]
    fn an_order_without_a_price_finds_its_mark_by_the_field_rules() {
        let batch = batch();
        for (symbol, class, currency) in [
            ("AAPL", "STK", "USD"),
            (" AAPL ", "STK", "USD"),
            ("AAPL", "stk", "usd"),
            ("AAPL", " Stk ", " usd "),
        ] {
            let json = format!(
                r#"[{{"symbol":"{symbol}","asset_class":"{class}","currency":"{currency}","quantity":3}}]"#
            );
            let positions = orders_to_positions(&batch, "U1", &orders(&json)).unwrap();
            // AAPL's mark in the batch: 245.30.
            assert_eq!(positions[0].instrument.mark.to_string(), "245.30", "{json}");
            assert_eq!(positions[0].instrument.symbol, "AAPL");
        }
        let json = r#"[{"symbol":"AAPLX","asset_class":"stk","currency":"usd","quantity":3}]"#;
        assert_eq!(
            orders_to_positions(&batch, "U1", &orders(json))
                .unwrap_err()
                .0,
            "order 1: no price given and no mark tonight for stk AAPLX usd"
        );
    }

    /// An order without a price in an account holding the instrument takes
    /// that account's own mark, the one its NLV uses; it took the first
    /// holder's (B's 10 new AAPL valued at A's 245.30, not B's 300).
    #[test]
    fn an_order_without_a_price_takes_its_own_accounts_mark_first() {
        let mut batch = batch();
        let mut b = batch.accounts[0].clone();
        b.id = "B".into();
        b.positions[0].instrument.mark = "300".parse().unwrap();
        batch.accounts.push(b);
        let json = r#"[{"symbol":"AAPL","asset_class":"STK","currency":"USD","quantity":10}]"#;
        let mark = |account: &str| {
            orders_to_positions(&batch, account, &orders(json)).unwrap()[0]
                .instrument
                .mark
                .to_string()
        };
        assert_eq!(mark("B"), "300");
        assert_eq!(mark("U1"), "245.30");
        // An account not holding it: the first holder's.
        assert_eq!(mark("C"), "245.30");
    }

    #[test]
    fn an_order_field_error_names_the_order_the_field_and_the_drops_reason() {
        let batch = batch();
        let reason = |json: &str| {
            orders_to_positions(&batch, "U1", &orders(json))
                .unwrap_err()
                .0
        };
        assert_eq!(
            reason(r#"[{"symbol":"AAPL","asset_class":"STK","currency":"USD","quantity":"lots"}]"#),
            "order 1 field quantity: \"lots\" is not a decimal number (plain notation like \
             1234.56, at most 28 significant digits)"
        );
        assert_eq!(
            reason(
                r#"[{"symbol":"AAPL","asset_class":"STK","currency":"USD","quantity":1},
                    {"symbol":"AAPL","asset_class":"STK","currency":"USD","quantity":1,"multiplier":0}]"#
            ),
            "order 2 field multiplier: zero multiplier"
        );
        assert_eq!(
            reason(
                r#"[{"symbol":"AAPL","asset_class":"STK","currency":"USD","quantity":1,"price":"-0.5"}]"#
            ),
            "order 1 field mark: negative price -0.5"
        );
        assert_eq!(reason("[]"), "no orders");
        // A currency whose row of tonight's fx.csv is bad: the reason is
        // that row's, as for a position of the drop in that currency.
        assert_eq!(
            reason(
                r#"[{"symbol":"HSBA","asset_class":"STK","currency":"GBP","quantity":1,"price":"7"}]"#
            ),
            "order 1 field currency: no usable FX rate for GBP: d/market/fx.csv line 4 column 2 \
             (usd_per_unit): FX rate must be positive, got -1"
        );
    }

    /// What a CSV row cannot carry is refused as the drop's reader refuses
    /// it: a field over its length limit, a line break outside the free-text
    /// columns. A symbol may hold a line break, as in the drop.
    #[test]
    fn long_fields_and_line_breaks_are_refused_as_the_drop_refuses_them() {
        let batch = batch();
        let long = "1".repeat(exfee_io::MAX_FIELD_BYTES + 1);
        let json = format!(
            r#"[{{"symbol":"AAPL","asset_class":"STK","currency":"USD","quantity":"x","price":"{long}"}}]"#
        );
        let reason = orders_to_positions(&batch, "U1", &orders(&json))
            .unwrap_err()
            .0;
        // The length first, before the other fields' rules (the row is
        // not read), as the CSV reader does.
        assert_eq!(
            reason,
            format!(
                "order 1 field mark: field longer than {} bytes (the limit per field); the row is \
                 not read",
                exfee_io::MAX_FIELD_BYTES
            )
        );
        assert_eq!(
            through_csv(&batch, &orders(&json)).unwrap_err(),
            reason,
            "the drop's reader refuses it alike"
        );
        let broken = r#"[{"symbol":"AAPL","asset_class":"STK","currency":"USD","quantity":"1\n"}]"#;
        assert_eq!(
            orders_to_positions(&batch, "U1", &orders(broken))
                .unwrap_err()
                .0,
            "order 1 field quantity: this column cannot hold a line break"
        );
        let symbol = r#"[{"symbol":"TWO\nLINES","asset_class":"STK","currency":"USD","quantity":1,"price":"2"}]"#;
        let positions = orders_to_positions(&batch, "U1", &orders(symbol)).unwrap();
        assert_eq!(positions[0].instrument.symbol, "TWO\nLINES");
        assert_eq!(positions, through_csv(&batch, &orders(symbol)).unwrap());
    }
}
