//! Instrument mapping: a Flex position row's asset class, kind, terms and
//! (for bonds) multiplier, as exfee prices them.

use chrono::NaiveDate;
use exfee_model::{
    AssetClass, Decimal, Exercise, InputError, InstrumentKind, OptionRight, OptionTerms,
};

use super::{
    ASSET_CLASS, EXPIRY, OLD_QUANTITY, POSITION_VALUE, PUT_CALL, QUANTITY, STRIKE, UNDERLYING,
};
use crate::csvin::{Fields, Row};

/// The `AssetClass` column, as an asset class exfee prices.
pub(super) fn asset_class(row: &Row<'_>) -> Result<AssetClass, InputError> {
    let text = row.required(ASSET_CLASS)?;
    if let Some(&(_, class)) = PRICED
        .iter()
        .find(|(code, _)| code.eq_ignore_ascii_case(text))
    {
        return Ok(class);
    }
    let reason = match NOT_PRICED
        .iter()
        .find(|code| code.eq_ignore_ascii_case(text))
    {
        Some(code) => format!("asset class {code} is not priced by exfee yet"),
        None => format!(
            "unknown asset class {text:?} (Flex classes: STK, OPT, FUT, FOP, CASH, BOND, BILL, \
             WAR, CFD, CRYPTO, FUND, CMDTY)"
        ),
    };
    Err(row.error(ASSET_CLASS, reason))
}

/// The Flex asset classes exfee prices, and what each is (codes in any
/// case).
const PRICED: [(&str, AssetClass); 8] = [
    ("STK", AssetClass::Stock),
    ("FUND", AssetClass::Stock),
    ("OPT", AssetClass::Option),
    ("FOP", AssetClass::FutureOption),
    ("FUT", AssetClass::Future),
    ("BOND", AssetClass::Bond),
    ("BILL", AssetClass::Bond),
    ("CRYPTO", AssetClass::Crypto),
];

/// The Flex asset classes exfee does not price yet: they fail the account.
const NOT_PRICED: [&str; 4] = ["CASH", "WAR", "CFD", "CMDTY"];

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
            let strike = row.strike(STRIKE);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csvin::with_test_row as with_row;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str_exact(text).unwrap()
    }

    #[test]
    fn flex_classes_map_to_what_exfee_prices() {
        for (code, class) in [
            ("STK", AssetClass::Stock),
            ("fund", AssetClass::Stock),
            ("OPT", AssetClass::Option),
            ("FOP", AssetClass::FutureOption),
            ("FUT", AssetClass::Future),
            ("BILL", AssetClass::Bond),
            ("CRYPTO", AssetClass::Crypto),
        ] {
            let read = with_row(&[ASSET_CLASS], &[code], asset_class);
            assert_eq!(read, Ok(class), "{code}");
        }
        let war = with_row(&[ASSET_CLASS], &["WAR"], asset_class).unwrap_err();
        assert_eq!(
            war.to_string(),
            "p.csv line 2 column 1 (AssetClass): asset class WAR is not priced by exfee yet"
        );
        let odd = with_row(&[ASSET_CLASS], &["XYZ"], asset_class).unwrap_err();
        assert!(odd.to_string().contains("unknown asset class \"XYZ\""));
    }

    /// 10,000 face at 98.5 per 100 is worth 9,850: the multiplier that
    /// turns quantity × mark into that value is 1/100; a value of
    /// 985,000 means the mark is per unit (multiplier 1).
    #[test]
    fn a_bond_multiplier_follows_its_position_value() {
        let names = [QUANTITY, "MarkPrice", POSITION_VALUE];
        let read = |value: &str| {
            with_row(&names, &["10000", "98.5", value], |row| {
                bond_multiplier(row, dec("10000"), Decimal::ONE, dec("98.5"))
            })
        };
        assert_eq!(read("9850"), Ok(dec("0.01")));
        assert_eq!(read("9850.5"), Ok(dec("0.01")), "within 0.01 % of 9,850");
        assert_eq!(read("985000"), Ok(Decimal::ONE));
        assert_eq!(read(""), Ok(dec("0.01")), "no value: per 100 of face");
        let error = read("5000").unwrap_err().to_string();
        assert!(
            error.contains("PositionValue 5000 matches neither") && error.contains("(985000)"),
            "{error}"
        );
    }

    #[test]
    fn a_future_without_underlying_is_on_itself_and_an_option_needs_its_terms() {
        let expiry = NaiveDate::from_ymd_opt(2027, 3, 19).unwrap();
        let future = with_row(&[UNDERLYING], &[""], |row| {
            kind(row, AssetClass::Future, "ESH7", Ok(Some(expiry)))
        });
        assert_eq!(
            future,
            Ok(InstrumentKind::Future {
                underlying: "ESH7".into(),
                expiry: Some(expiry),
            })
        );
        let names = [UNDERLYING, STRIKE, EXPIRY, PUT_CALL];
        let option = with_row(&names, &["AAPL", "-5", "", "X"], |row| {
            kind(row, AssetClass::Option, "AAPL 270319C", Ok(None))
        });
        let reasons: Vec<String> = option
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            reasons,
            [
                "p.csv line 2 column 2 (Strike): negative strike -5",
                "p.csv line 2 column 3 (Expiry): missing value",
                "p.csv line 2 column 4 (Put/Call): \"X\" is not P or C",
            ]
        );
    }
}
