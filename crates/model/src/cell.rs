//! A cell as a spreadsheet would read it: the one rule of formula
//! neutralisation every CSV the project writes follows (`exfee-io`'s
//! writers and `exfee-report`'s report CSV), here so that both share it
//! without the report crate depending on the file edge.

/// A cell as written to a CSV file: text that a spreadsheet would run as a
/// formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) is
/// prefixed with `'`, unless it is a plain number (`-12.5`, `+3`, `-1e-7`;
/// not `-inf`, `-NaN` or `-2+3`, which are text).
///
/// # Examples
///
/// ```
/// use exfee_model::neutralise;
/// assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
/// assert_eq!(neutralise("-2+3"), "'-2+3");
/// assert_eq!(neutralise("-1234.56"), "-1234.56");
/// assert_eq!(neutralise("U1234"), "U1234");
/// ```
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !is_plain_number(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// `[+-]digits[.digits][e[+-]digits]` (at least one digit before the
/// exponent), as a spreadsheet reads a number.
fn is_plain_number(cell: &str) -> bool {
    let bytes = cell.strip_prefix(['+', '-']).unwrap_or(cell).as_bytes();
    let (mantissa, exponent) = match bytes.iter().position(|b| matches!(b, b'e' | b'E')) {
        Some(at) => (&bytes[..at], Some(&bytes[at + 1..])),
        None => (bytes, None),
    };
    let mut digits = 0;
    let mut dots = 0;
    for b in mantissa {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' => dots += 1,
            _ => return false,
        }
    }
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e
            .strip_prefix(b"+")
            .or_else(|| e.strip_prefix(b"-"))
            .unwrap_or(e);
        !e.is_empty() && e.iter().all(u8::is_ascii_digit)
    });
    digits > 0 && dots <= 1 && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_numbers_kept() {
        for risky in [
            "=HYPERLINK(\"x\")",
            "+cmd",
            "@sum",
            "-2+3",
            "\tx",
            "\rx",
            "-inf",
            "-NaN",
            "+",
            "-",
            "-1 XYZ 270101P100 (OPT)",
            "-1e",
            "-.",
            "-1.2.3",
            "=1",
        ] {
            assert_eq!(neutralise(risky), format!("'{risky}"), "{risky:?}");
        }
        for kept in [
            "-12.5", "+3", "-1e-7", "-0", "-.5", "+1E+3", "U1", "", "'=x", " =x", "12,5",
        ] {
            assert_eq!(neutralise(kept), kept, "{kept:?}");
        }
    }
}
