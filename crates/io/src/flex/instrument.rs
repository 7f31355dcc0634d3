//! Instrument mapping: a Flex position row's asset class, kind, terms and
//! (for bonds) multiplier, as exfee prices them.

use chrono::NaiveDate;
use exfee_model::{
    AssetClass, Decimal, Exercise, InputError, InstrumentKind, OptionRight, OptionTerms,
};

use super::{
    ASSET_CLASS, EXPIRY, OLD_QUANTITY, POSITION_VALUE, PUT_CALL, QUANTITY, STRIKE, UNDERLYING,
};
use crate::csvin::Row;

/// The `AssetClass` column, as an asset class exfee prices.
pub(super) fn asset_class(row: &Row<'_>) -> Result<AssetClass, InputError> {
    let text = row.required(ASSET_CLASS)?;
    Ok(match text.to_ascii_uppercase().as_str() {
        "STK" | "FUND" => AssetClass::Stock,
        "OPT" => AssetClass::Option,
        "FOP" => AssetClass::FutureOption,
        "FUT" => AssetClass::Future,
        "BOND" | "BILL" => AssetClass::Bond,
        "CRYPTO" => AssetClass::Crypto,
        code @ ("CASH" | "WAR" | "CFD" | "CMDTY") => {
            return Err(row.error(
                ASSET_CLASS,
                format!("asset class {code} is not priced by exfee yet"),
            ));
        }
        _ => {
            return Err(row.error(
                ASSET_CLASS,
                format!(
                    "unknown asset class {text:?} (Flex classes: STK, OPT, FUT, FOP, CASH, BOND, \
                     BILL, WAR, CFD, CRYPTO, FUND, CMDTY)"
                ),
            ));
        }
    })
}

/// The kind and terms of an instrument of `class`, or every problem found.
pub(super) fn kind(
    row: &Row<'_>,
    class: AssetClass,
    symbol: &str,
    expiry: Result<Option<NaiveDate>, InputError>,
) -> Result<InstrumentKind, Vec<InputError>> {
    Ok(match class {
        AssetClass::Stock => InstrumentKind::Stock,
        AssetClass::Bond => InstrumentKind::Bond,
        AssetClass::Crypto => InstrumentKind::Crypto,
        AssetClass::Future => match (row.text(UNDERLYING), expiry) {
            (Ok(underlying), Ok(expiry)) => InstrumentKind::Future {
                underlying: if underlying.is_empty() {
                    symbol.to_string()
                } else {
                    underlying.to_string()
                },
                expiry,
            },
            (a, b) => return Err([a.err(), b.err()].into_iter().flatten().collect()),
        },
        AssetClass::Option | AssetClass::FutureOption => {
            let underlying = row.required(UNDERLYING);
            let strike = row.decimal(STRIKE).and_then(|k| {
                if k < Decimal::ZERO {
                    Err(row.error(STRIKE, format!("negative strike {k}")))
                } else {
                    Ok(k)
                }
            });
            let expiry = expiry.and_then(|d| d.ok_or_else(|| row.error(EXPIRY, "missing value")));
            let right = row.required(PUT_CALL).and_then(|text| {
                OptionRight::parse(text)
                    .ok_or_else(|| row.error(PUT_CALL, format!("{text:?} is not P or C")))
            });
            match (underlying, strike, expiry, right) {
                (Ok(underlying), Ok(strike), Ok(expiry), Ok(right)) => InstrumentKind::Option {
                    underlying: underlying.to_string(),
                    on_future: class == AssetClass::FutureOption,
                    terms: OptionTerms {
                        strike,
                        expiry,
                        right,
                        exercise: Exercise::American,
                    },
                },
                (a, b, c, d) => {
                    return Err([a.err(), b.err(), c.err(), d.err()]
                        .into_iter()
                        .flatten()
                        .collect());
                }
            }
        }
    })
}

/// A bond's multiplier: see the module documentation.
pub(super) fn bond_multiplier(
    row: &Row<'_>,
    quantity: Decimal,
    multiplier: Decimal,
    mark: Decimal,
) -> Result<Decimal, InputError> {
    // Divisions by 100 cannot overflow; checked all the same (no panic path).
    let hundredth = |v: Decimal| v.checked_div(Decimal::ONE_HUNDRED).unwrap_or(v);
    let per_100 = hundredth(multiplier);
    let Some(value) = row.optional_decimal(POSITION_VALUE)? else {
        return Ok(per_100);
    };
    let Some(full) = quantity
        .checked_mul(multiplier)
        .and_then(|v| v.checked_mul(mark))
    else {
        return Err(row.error(row_quantity_column(row), "quantity × price overflows"));
    };
    let close = |a: Decimal, b: Decimal| {
        let tolerance = b
            .abs()
            .checked_mul(Decimal::new(1, 4))
            .unwrap_or(Decimal::MAX)
            .max(Decimal::new(1, 2));
        // Far apart when the gap itself overflows.
        a.checked_sub(b).is_some_and(|gap| gap.abs() <= tolerance)
    };
    if close(hundredth(full), value) {
        Ok(per_100)
    } else if close(full, value) {
        Ok(multiplier)
    } else {
        Err(row.error(
            POSITION_VALUE,
            format!(
                "PositionValue {value} matches neither Quantity × Multiplier × MarkPrice ({}) \
                 nor that per 100 of face ({})",
                full.normalize(),
                hundredth(full).normalize()
            ),
        ))
    }
}

/// `Quantity` or `Position`, whichever the row's file has.
fn row_quantity_column(row: &Row<'_>) -> &'static str {
    if row.columns.contains_key(QUANTITY) || !row.columns.contains_key(OLD_QUANTITY) {
        QUANTITY
    } else {
        OLD_QUANTITY
    }
}

/// Sets the expiry of a future or option.
pub(super) fn set_expiry(kind: &mut InstrumentKind, date: NaiveDate) {
    match kind {
        InstrumentKind::Future { expiry, .. } => *expiry = Some(date),
        InstrumentKind::Option { terms, .. } => terms.expiry = date,
        _ => {}
    }
}
