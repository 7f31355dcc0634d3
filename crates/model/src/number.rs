//! The one reader of numbers in input text: plain decimals only.
//!
//! Every number exfee reads from a file goes through [`parse_plain_decimal`]
//! (CSV fields, Flex reports, decimals given as strings in TOML) or, for TOML
//! number literals, [`check_toml_numbers`]. `rust_decimal`'s own parser would
//! also take `1_000` (as 1000) and `5_00` (as 500); TOML would take `1_000`,
//! `0x10` and `inf`. None of those is a plain decimal, so none is a number
//! here.

use rust_decimal::Decimal;

/// Whether `text` is a plain decimal: an optional `+` or `-`, digits with at
/// most one `.`, at least one digit, nothing else (no `_`, no exponent, no
/// spaces, no thousands separators).
///
/// # Examples
///
/// ```
/// use exfee_model::is_plain_decimal;
/// assert!(is_plain_decimal("-1234.50"));
/// assert!(!is_plain_decimal("1_000"));
/// assert!(!is_plain_decimal("1e3"));
/// ```
pub fn is_plain_decimal(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    !(whole.is_empty() && fraction.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a plain decimal number (see [`is_plain_decimal`]), at most 28
/// significant digits; `-0` reads as 0. The error is the reason in words.
///
/// # Errors
///
/// The reason, in words, when `text` is not a plain decimal or does not fit.
///
/// # Examples
///
/// ```
/// use exfee_model::{Decimal, parse_plain_decimal};
/// assert_eq!(parse_plain_decimal("1000").unwrap(), Decimal::from(1000));
/// assert!(parse_plain_decimal("1_000").is_err());
/// ```
pub fn parse_plain_decimal(text: &str) -> Result<Decimal, String> {
    let not_a_number = || {
        format!(
            "{text:?} is not a decimal number (plain notation like 1234.56, at most 28 \
             significant digits)"
        )
    };
    // Checked first: the common case allocates nothing (a plain decimal is
    // never `nan` or `inf`).
    if !is_plain_decimal(text) {
        let name = text.trim_start_matches(['+', '-']);
        if ["nan", "inf", "infinity"]
            .iter()
            .any(|word| name.eq_ignore_ascii_case(word))
        {
            return Err(format!("{text:?} is not a finite number"));
        }
        return Err(not_a_number());
    }
    let mut value = Decimal::from_str_exact(text).map_err(|_| not_a_number())?;
    // `-0` is 0: a negative zero would show as `-0` downstream.
    if value.is_zero() {
        value.set_sign_positive(true);
    }
    Ok(value)
}

/// Checks every number literal of a TOML document: only plain decimal
/// integers and floats (an exponent is allowed in a float, `1e-6`). TOML
/// itself also takes `1_000`, `0x10`, `0o17`, `0b11`, `inf` and `nan`; exfee
/// does not. A document that is not TOML passes here: the caller's parser
/// reports it.
///
/// # Errors
///
/// The first offending literal, with its line, in words.
///
/// # Examples
///
/// ```
/// use exfee_model::check_toml_numbers;
/// assert!(check_toml_numbers("a = 1000\nb = 0.05\nc = [1, 2.5e-3]\n").is_ok());
/// assert_eq!(
///     check_toml_numbers("a = 1\nb = 1_000\n").unwrap_err(),
///     "line 2: 1_000 is not a plain decimal number (no `_`, no hexadecimal, octal or binary, no inf or nan)"
/// );
/// ```
pub fn check_toml_numbers(text: &str) -> Result<(), String> {
    let Ok(table) = toml::de::DeTable::parse(text) else {
        return Ok(());
    };
    let mut first = None;
    for (_, value) in table.get_ref().iter() {
        check_value(text, value, &mut first);
    }
    match first {
        None => Ok(()),
        Some(start) => {
            let line = text[..start].bytes().filter(|&b| b == b'\n').count() + 1;
            let literal: String = text[start..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}' | '#'))
                .collect();
            Err(format!(
                "line {line}: {literal} is not a plain decimal number (no `_`, no hexadecimal, \
                 octal or binary, no inf or nan)"
            ))
        }
    }
}

/// Records in `first` the smallest offset of a number literal of `value`
/// (nested tables and arrays included) that is not plain.
fn check_value(
    text: &str,
    value: &toml::Spanned<toml::de::DeValue<'_>>,
    first: &mut Option<usize>,
) {
    use toml::de::DeValue;
    match value.get_ref() {
        DeValue::Integer(_) | DeValue::Float(_) => {
            let span = value.span();
            let literal = text.get(span.clone()).unwrap_or("");
            if !is_plain_toml_number(literal) && first.is_none_or(|f| span.start < f) {
                *first = Some(span.start);
            }
        }
        DeValue::Array(items) => {
            for item in items.iter() {
                check_value(text, item, first);
            }
        }
        DeValue::Table(table) => {
            for (_, item) in table.iter() {
                check_value(text, item, first);
            }
        }
        DeValue::String(_) | DeValue::Boolean(_) | DeValue::Datetime(_) => {}
    }
}

/// A TOML number literal exfee takes: a plain decimal, optionally followed
/// by an exponent `e`/`E`, sign and digits.
fn is_plain_toml_number(literal: &str) -> bool {
    let (mantissa, exponent) = match literal.find(['e', 'E']) {
        Some(at) => (&literal[..at], Some(&literal[at + 1..])),
        None => (literal, None),
    };
    is_plain_decimal(mantissa)
        && exponent.is_none_or(|e| {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Whether `result`, a Decimal sum or product whose exact value has
/// `places` decimal places (at most 28), is that value: not rounded to
/// fewer places. Decimal lowers a result's scale only to fit its 96-bit
/// mantissa (rounding it) or when it normalises a zero (`0 × 7.8125` has
/// scale 0), so a result that can be held at `places` was not rounded.
/// The one test of "exact or refused" for the NLV's sum
/// ([`net_liquidation_value`](crate::net_liquidation_value)) and an
/// account's rows of one holding (the engine's merge).
#[must_use]
pub fn holds_places(result: Decimal, places: u32) -> bool {
    if result.scale() >= places {
        return true;
    }
    let mut at_places = result;
    at_places.rescale(places);
    at_places.scale() == places
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn underscores_and_other_forms_are_not_numbers() {
        for text in [
            "1_000", "5_00", "_5", "5_", "1__0.5", "0.5_0", "+", "-.", ".", "1.2.3", "1 000",
            "--1", "1e3", "0x10", "1,000.00", "", "NaN", "-inf",
        ] {
            assert!(parse_plain_decimal(text).is_err(), "{text}");
        }
        assert_eq!(parse_plain_decimal("1000").unwrap(), Decimal::from(1000));
        assert_eq!(parse_plain_decimal("+.5").unwrap(), Decimal::new(5, 1));
        assert_eq!(parse_plain_decimal("7.").unwrap(), Decimal::from(7));
        assert_eq!(
            parse_plain_decimal("-12.50").unwrap(),
            Decimal::new(-1250, 2)
        );
        assert_eq!(parse_plain_decimal("-0").unwrap().to_string(), "0");
    }

    #[test]
    fn infinities_and_nan_are_named_as_not_finite() {
        for text in ["NaN", "nan", "-inf", "+Infinity", "+-INF"] {
            assert_eq!(
                parse_plain_decimal(text),
                Err(format!("{text:?} is not a finite number")),
                "{text}"
            );
        }
        for text in ["1_000", "info", "nan1", "-"] {
            assert_eq!(
                parse_plain_decimal(text),
                Err(format!(
                    "{text:?} is not a decimal number (plain notation like 1234.56, at most 28 \
                     significant digits)"
                )),
                "{text}"
            );
        }
    }

    #[test]
    fn toml_literals_with_underscores_radix_or_specials_are_refused() {
        for (text, line) in [
            ("a = 1_000", 1),
            ("a = 1\n[t]\nb = 5_00.0", 3),
            ("a = [1, 0x10]", 1),
            ("a = 0o17", 1),
            ("a = 0b11", 1),
            ("a = inf", 1),
            ("a = -nan", 1),
            ("[[t]]\nx = 1\n[[t]]\nx = 2_0", 4),
            ("a = { b = 1e1_0 }", 1),
        ] {
            let err = check_toml_numbers(text).unwrap_err();
            assert!(err.starts_with(&format!("line {line}: ")), "{text}: {err}");
        }
        for text in [
            "a = 1000",
            "a = -0.05",
            "a = +3",
            "a = 1e-6",
            "a = 2.5E+3",
            "a = \"1_000\"",
        ] {
            assert!(check_toml_numbers(text).is_ok(), "{text}");
        }
    }
}
