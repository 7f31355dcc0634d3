use rust_decimal::Decimal;

use crate::{AccountInput, MarketData, MarketError};

/// Why an account's NLV cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NlvError {
    /// The account has no valid base currency.
    #[error("account has no valid base currency")]
    NoBaseCurrency,
    /// A currency it holds cannot be converted.
    #[error(transparent)]
    Market(#[from] MarketError),
    /// The sum does not fit a Decimal (about 7.9e28).
    #[error("net liquidation value overflows")]
    Overflow,
    /// A term or the sum needs more digits than a Decimal holds (a
    /// mantissa below 2⁹⁶, 28 to 29 digits) and would be rounded to a unit
    /// coarser than [`NLV_RESOLUTION_SCALE`] decimal places (e.g. 10²⁷ of
    /// stock and 0.21 of cash).
    #[error(
        "net liquidation value cannot be held to the cent: its sum needs more digits than a \
         Decimal holds (about 28)"
    )]
    Inexact,
}

/// The decimal places an NLV term or sum keeps at least whenever Decimal
/// arithmetic rounds it: a value rounded to 10⁻⁶ is still right to the cent.
/// FX conversions carry up to 28 digits and round far below that.
pub const NLV_RESOLUTION_SCALE: u32 = 6;

/// `result` of an operation whose exact result has `exact_scale` decimal
/// places: refused when Decimal rounded it coarser than
/// [`NLV_RESOLUTION_SCALE`] places ([`holds_places`](crate::holds_places)).
fn held(result: Decimal, exact_scale: u32) -> Result<Decimal, NlvError> {
    if crate::holds_places(result, exact_scale.min(NLV_RESOLUTION_SCALE)) {
        Ok(result)
    } else {
        Err(NlvError::Inexact)
    }
}

/// Net liquidation value in the account's base currency: cash converted at
/// the FX rates, plus the market value (quantity × multiplier × mark) of
/// every position except futures (whose variation margin is already cash),
/// converted. Exact Decimal arithmetic; not rounded.
///
/// # Errors
///
/// [`NlvError`] when the account has no base currency, a currency has no
/// usable FX rate, or the sum overflows or would be rounded coarser than
/// [`NLV_RESOLUTION_SCALE`] places.
///
/// # Examples
///
/// The first fact of the method notes: base USD, EUR.USD = 1.40, cash
/// EUR 100,000 and USD −112,000, a long USD stock worth 112,000.
///
/// ```
/// use exfee_model::*;
/// let (usd, eur) = (Currency::USD, "EUR".parse::<Currency>().unwrap());
/// let market = MarketData::with_fx([(eur, Decimal::new(140, 2))]);
/// let mut account = AccountInput::new("U1", usd);
/// account.cash.push(CashBalance { currency: eur, amount: Decimal::from(100_000) });
/// account.cash.push(CashBalance { currency: usd, amount: Decimal::from(-112_000) });
/// account.positions.push(Position {
///     instrument: Instrument {
///         symbol: "XYZ".into(),
///         kind: InstrumentKind::Stock,
///         currency: usd,
///         multiplier: Decimal::ONE,
///         mark: Decimal::from(112),
///     },
///     quantity: Decimal::from(1000),
/// });
/// assert_eq!(net_liquidation_value(&account, &market).unwrap(), Decimal::from(140_000));
/// ```
pub fn net_liquidation_value(
    account: &AccountInput,
    market: &MarketData,
) -> Result<Decimal, NlvError> {
    let base = account.base_currency.ok_or(NlvError::NoBaseCurrency)?;
    let mut total = Decimal::ZERO;
    // Each currency's rate to the base, looked up (and divided) once: an
    // account holds a few currencies over many rows.
    let mut rates: Vec<(crate::Currency, Decimal)> = Vec::new();
    let mut add = |currency, amount: Decimal| -> Result<(), NlvError> {
        let rate = match rates.iter().find(|(held, _)| *held == currency) {
            Some(&(_, rate)) => rate,
            None => {
                let rate = market.fx_rate(currency, base)?;
                rates.push((currency, rate));
                rate
            }
        };
        let converted = held(
            amount.checked_mul(rate).ok_or(NlvError::Overflow)?,
            amount.scale() + rate.scale(),
        )?;
        total = held(
            total.checked_add(converted).ok_or(NlvError::Overflow)?,
            total.scale().max(converted.scale()),
        )?;
        Ok(())
    };
    for cash in &account.cash {
        add(cash.currency, cash.amount)?;
    }
    for position in &account.positions {
        let instrument = &position.instrument;
        let value = instrument
            .market_value(position.quantity)
            .ok_or(NlvError::Overflow)?;
        add(instrument.currency, value)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CashBalance, Currency, Instrument, InstrumentKind, Position};

    fn stock(symbol: &str, currency: Currency, mark: i64, quantity: i64) -> Position {
        Position {
            instrument: Instrument {
                symbol: symbol.into(),
                kind: InstrumentKind::Stock,
                currency,
                multiplier: Decimal::ONE,
                mark: Decimal::from(mark),
            },
            quantity: Decimal::from(quantity),
        }
    }

    /// 10²⁷ of stock and 0.21 of cash is 1000000000000000000000000000.21,
    /// 30 digits, a mantissa past a Decimal's 2⁹⁶ ≈ 7.9 × 10²⁸: Decimal
    /// rounds it to …000.2, a wrong NLV printed as 10²⁷ + 0.20. Refused;
    /// 10²⁴ and 0.21 (27 digits) is exact.
    #[test]
    fn a_sum_decimal_would_round_above_the_resolution_is_refused() {
        let usd = Currency::USD;
        let market = MarketData::with_fx([]);
        let mut account = AccountInput::new("U1", usd);
        account.cash.push(CashBalance {
            currency: usd,
            amount: Decimal::new(21, 2),
        });
        let mut big = stock("XYZ", usd, 100, 1);
        big.quantity = "10000000000000000000000".parse().unwrap();
        account.positions.push(big.clone());
        assert_eq!(
            net_liquidation_value(&account, &market).unwrap(),
            "1000000000000000000000000.21".parse::<Decimal>().unwrap()
        );
        big.quantity = "10000000000000000000000000".parse().unwrap();
        account.positions[0] = big;
        assert_eq!(
            net_liquidation_value(&account, &market),
            Err(NlvError::Inexact)
        );
        // A future (market value 0, a zero product of scale 0 however many
        // places its rate has) in a base whose rate has places: exact.
        let hkd: Currency = "HKD".parse().unwrap();
        let market = MarketData::with_fx([(hkd, Decimal::new(128, 3))]);
        let mut account = AccountInput::new("U3", hkd);
        let mut future = stock("COIL2703", usd, 74, -2);
        future.instrument.kind = InstrumentKind::Future {
            underlying: "COIL".into(),
            expiry: None,
        };
        account.positions.push(future);
        account.cash.push(CashBalance {
            currency: hkd,
            amount: Decimal::new(-115_210_070, 2),
        });
        assert_eq!(
            net_liquidation_value(&account, &market).unwrap(),
            Decimal::new(-115_210_070, 2)
        );
        // A conversion rounded far below a cent stays: 1/3 EUR per USD.
        let eur: Currency = "EUR".parse().unwrap();
        let third = Decimal::ONE / Decimal::from(3);
        let market = MarketData::with_fx([(eur, third)]);
        let mut account = AccountInput::new("U2", usd);
        for _ in 0..3 {
            account.cash.push(CashBalance {
                currency: eur,
                amount: Decimal::from(1_000_000),
            });
        }
        let nlv = net_liquidation_value(&account, &market).unwrap();
        assert_eq!(nlv.round_dp(2), Decimal::from(1_000_000));
    }

    /// Method notes, test fact 2: base USD, cash 80,000, long stock 100,000,
    /// short stock −100,000 → NLV 80,000 USD.
    #[test]
    fn long_and_short_stock_cancel() {
        let usd = Currency::USD;
        let mut account = AccountInput::new("U2", usd);
        account.cash.push(CashBalance {
            currency: usd,
            amount: Decimal::from(80_000),
        });
        account.positions.push(stock("AAA", usd, 100, 1000));
        account.positions.push(stock("BBB", usd, 50, -2000));
        let nlv = net_liquidation_value(&account, &MarketData::default()).unwrap();
        assert_eq!(nlv, Decimal::from(80_000));
    }

    #[test]
    fn futures_add_nothing_and_unknown_currency_fails() {
        let usd = Currency::USD;
        let mut account = AccountInput::new("U3", usd);
        account.positions.push(Position {
            instrument: Instrument {
                symbol: "CLZ6".into(),
                kind: InstrumentKind::Future {
                    underlying: "CL".into(),
                    expiry: None,
                },
                currency: usd,
                multiplier: Decimal::from(1000),
                mark: Decimal::from(70),
            },
            quantity: Decimal::from(10),
        });
        assert_eq!(
            net_liquidation_value(&account, &MarketData::default()).unwrap(),
            Decimal::ZERO
        );
        let sek: Currency = "SEK".parse().unwrap();
        account.cash.push(CashBalance {
            currency: sek,
            amount: Decimal::ONE,
        });
        assert_eq!(
            net_liquidation_value(&account, &MarketData::default()),
            Err(NlvError::Market(MarketError::NoFxRate(sek)))
        );
    }

    #[test]
    fn each_row_is_converted_at_its_own_currencys_rate() {
        // Base GBP (1.25 USD), rows in EUR (1.10 USD), USD and GBP taking
        // turns, so that each currency comes back after another: EUR 1,000
        // = 880 GBP, USD 500 = 400 GBP, GBP 100; the stocks EUR 10 × 20 =
        // 176 GBP and USD 25 × 4 = 80 GBP. Total 1,636 GBP.
        let (usd, gbp, eur): (Currency, Currency, Currency) = (
            Currency::USD,
            "GBP".parse().unwrap(),
            "EUR".parse().unwrap(),
        );
        let market =
            MarketData::with_fx([(gbp, Decimal::new(125, 2)), (eur, Decimal::new(110, 2))]);
        let mut account = AccountInput::new("U4", gbp);
        for (currency, amount) in [(eur, 400), (usd, 500), (eur, 600), (gbp, 100)] {
            account.cash.push(CashBalance {
                currency,
                amount: Decimal::from(amount),
            });
        }
        account.positions.push(stock("AAA", eur, 10, 20));
        account.positions.push(stock("BBB", usd, 25, 4));
        let nlv = net_liquidation_value(&account, &market).unwrap();
        assert_eq!(nlv, Decimal::from(1636));
    }
}
