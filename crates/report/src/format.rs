//! Number formatting and escaping shared by every renderer.

use rust_decimal::{Decimal, RoundingStrategy};

// Money and grouped decimals are shown one way everywhere: the rule lives
// in exfee-model, next to `cents`.
use exfee_model::group_thousands;
pub use exfee_model::{fixed, money};

/// Money with its currency: `1,234.50 USD`.
pub fn money_ccy(d: Decimal, ccy: &str) -> String {
    format!("{} {}", money(d), ccy)
}

/// A decimal with between `min_dp` and `max_dp` decimals (trailing zeros past
/// `min_dp` dropped), thousands separated. For unrounded daily tier amounts.
pub fn decimal_trim(d: Decimal, min_dp: u32, max_dp: u32) -> String {
    let r = d.round_dp_with_strategy(max_dp, RoundingStrategy::MidpointNearestEven);
    let dp = r.normalize().scale().clamp(min_dp, max_dp);
    fixed(r, dp)
}

/// An annual rate given as a fraction (`0.0525`) as a percentage (`5.25%`),
/// with 2 to 4 decimals.
pub fn rate_pct(rate: Decimal) -> String {
    format!("{}%", decimal_trim(rate * Decimal::ONE_HUNDRED, 2, 4))
}

/// A relative move (`-0.3`) as a signed percentage (`-30.0%`); `n/a` when
/// not finite.
pub fn move_pct(m: f64) -> String {
    if !m.is_finite() {
        return "n/a".to_string();
    }
    let p = m * 100.0;
    // never "-0.0%"
    let p = if p.abs() < 0.05 { 0.0 } else { p };
    if p > 0.0 {
        format!("+{p:.1}%")
    } else {
        format!("{p:.1}%")
    }
}

/// A share (`part / whole`) as a percentage with one decimal, when defined.
pub fn share_pct(part: Decimal, whole: Decimal) -> Option<String> {
    if whole.is_zero() {
        return None;
    }
    let s = (part / whole * Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(1, RoundingStrategy::MidpointNearestEven);
    Some(format!("{}%", fixed(s, 1)))
}

/// A signed quantity change, trailing zeros dropped: `+3`, `-40.5`.
pub fn signed_qty(q: Decimal) -> String {
    let s = decimal_trim(q, 0, 8);
    if q.is_sign_positive() && !q.is_zero() {
        format!("+{s}")
    } else {
        s
    }
}

/// An f64 amount for chart axes: `-1.25M`, `250k`, `12`; ASCII minus, never `-0`.
pub fn compact(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e12 {
        (v / 1e12, "T")
    } else if a >= 1e9 {
        (v / 1e9, "B")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let mut s = format!("{scaled:.2}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".to_string();
    }
    format!("{s}{suffix}")
}

/// An f64 amount with thousands separators and no decimals (chart labels).
pub fn whole_f64(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_string();
    }
    let r = v.round();
    let neg = r < 0.0;
    let s = group_thousands(&format!("{:.0}", r.abs()));
    if neg { format!("-{s}") } else { s }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Makes an href safe to put in an attribute: it stays a relative reference.
/// Every byte outside `A-Za-z0-9-._~/` is percent-encoded, so `:` cannot
/// start a scheme (`javascript:` becomes a harmless relative path) and `"`,
/// `<`, spaces, `#`, `?` cannot break the attribute or the link.
pub fn href(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Escapes text for Markdown (inline text and table cells): Markdown
/// punctuation is backslash-escaped, so `<script>` shows as text and `|`
/// cannot split a table cell; line breaks become spaces.
pub fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Quotes a CSV field when needed, and keeps text that a spreadsheet would
/// read as a formula (`=`, `+`, `@`, or `-` not followed by a digit) as text.
pub fn csv_text(s: &str) -> String {
    csv_quote(&formula_guard(s)).into_owned()
}

/// `s` with a `'` in front when a spreadsheet would read it as a formula
/// (`=`, `+`, `@`, a tab, a carriage return, or `-` not followed by a
/// digit or `.`): the report's own rule, [`csv_text`]'s first step.
pub(crate) fn formula_guard(s: &str) -> std::borrow::Cow<'_, str> {
    let risky = match s.as_bytes() {
        [b'=' | b'+' | b'@' | b'\t' | b'\r', ..] => true,
        [b'-', rest @ ..] => !matches!(rest.first(), Some(b'0'..=b'9' | b'.')),
        _ => false,
    };
    if risky {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// `s` as a CSV field: in double quotes (each `"` doubled) when it holds a
/// comma, a quote or a line break — the fields the `csv` crate's writer
/// quotes by default — else as it is.
pub(crate) fn csv_quote(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        std::borrow::Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Shortens `s` to at most `max` characters, ending with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A file-name stem for an account: only `A-Za-z0-9-_.`, never starting with
/// `.`, `_` or `-` (a leading `-` reads as an option to shell tools, and a
/// spreadsheet would show `reports/files.csv`'s cell neutralised as `'-…`, not
/// the file's name), at most 80 characters; when the id had to be changed, a hash of the
/// original id is appended so two different ids never share a stem
/// (`../x` → `x-3c1b…`). Stable across runs and platforms.
pub fn file_stem(account: &str) -> String {
    let mut clean: String = account
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = clean.trim_start_matches(['.', '_', '-']).to_string();
    clean = trimmed.chars().take(64).collect();
    if clean != account || clean.is_empty() {
        let h = fnv1a64(account.as_bytes());
        if clean.is_empty() {
            clean = "account".to_string();
        }
        clean = format!("{clean}-{h:016x}");
    }
    clean
}

/// Where the files of `stem` go so that no two accounts share a path: the
/// folder (relative, `""` or `"n/"`) of the first free place among `stem`,
/// `2/stem`, `3/stem`, … in `used`, which is marked used. [`file_stem`]s
/// of different ids differ unless an id is crafted to equal another's
/// hashed stem; this settles that case too.
pub fn free_folder(used: &mut std::collections::HashSet<String>, stem: &str) -> String {
    let mut folder = String::new();
    let mut n = 1u64;
    while !used.insert(format!("{folder}{stem}")) {
        n += 1;
        folder = format!("{n}/");
    }
    folder
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn money_groups_and_rounds_half_even() {
        assert_eq!(money(d("1234567.891")), "1,234,567.89");
        assert_eq!(money(d("-1234.5")), "-1,234.50");
        assert_eq!(money(d("0.125")), "0.12");
        assert_eq!(money(d("0.135")), "0.14");
        assert_eq!(money(d("-0.001")), "0.00");
        assert_eq!(money(d("999")), "999.00");
        assert_eq!(money(d("1000")), "1,000.00");
        assert_eq!(money(Decimal::ZERO), "0.00");
    }

    #[test]
    fn other_numbers() {
        assert_eq!(rate_pct(d("0.0525")), "5.25%");
        assert_eq!(rate_pct(d("0.12345")), "12.345%");
        assert_eq!(decimal_trim(d("12.3456789"), 2, 6), "12.345679");
        assert_eq!(decimal_trim(d("12.3"), 2, 6), "12.30");
        assert_eq!(move_pct(-0.3), "-30.0%");
        assert_eq!(move_pct(0.939), "+93.9%");
        assert_eq!(move_pct(-0.0001), "0.0%");
        assert_eq!(move_pct(f64::NAN), "n/a");
        assert_eq!(signed_qty(d("3")), "+3");
        assert_eq!(signed_qty(d("-40.50")), "-40.5");
        assert_eq!(compact(-1_250_000.0), "-1.25M");
        assert_eq!(compact(250_000.0), "250k");
        assert_eq!(compact(-0.001), "0");
        assert_eq!(whole_f64(-140_000.4), "-140,000");
        assert_eq!(share_pct(d("-50"), d("-200")).unwrap(), "25.0%");
        assert!(share_pct(d("1"), Decimal::ZERO).is_none());
    }

    #[test]
    fn escapes() {
        assert_eq!(
            html_escape("<script>alert('x')&\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&amp;&quot;&lt;/script&gt;"
        );
        assert_eq!(href("reports/a b.html"), "reports/a%20b.html");
        assert_eq!(href("javascript:alert(1)"), "javascript%3Aalert%281%29");
        assert_eq!(href("x\"><script>"), "x%22%3E%3Cscript%3E");
        assert_eq!(md_escape("a|b <c>\nd"), "a\\|b \\<c\\> d");
        assert_eq!(csv_text("=1+2"), "'=1+2");
        assert_eq!(csv_text("-1.5"), "-1.5");
        assert_eq!(csv_text("-cmd"), "'-cmd");
        assert_eq!(csv_text("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }

    #[test]
    fn file_stems_are_safe_and_distinct() {
        assert_eq!(file_stem("U1234567"), "U1234567");
        let up = file_stem("../x");
        assert!(up.starts_with("x-"), "{up}");
        assert!(!up.contains('/') && !up.starts_with('.'));
        assert_ne!(file_stem("a/b"), file_stem("a_b"));
        assert_ne!(file_stem("a/b"), file_stem("a:b"));
        let s = file_stem("<script>alert(1)</script>");
        assert!(
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
        assert!(file_stem(&"A".repeat(500)).len() <= 64 + 17);
        assert!(file_stem("").starts_with("account-"));
        assert!(file_stem("..").starts_with("account-"));
        assert_eq!(file_stem("../x"), up, "stable");
        // Never a leading `-`: `-rf` is not `rf` and gets a hash.
        for id in ["-rf", "--help", "-", "_-x", ".-y"] {
            let stem = file_stem(id);
            assert!(!stem.starts_with(['-', '.', '_']), "{id}: {stem}");
            assert!(stem.contains('-'), "{id}: hashed, {stem}");
        }
        assert!(file_stem("-rf").starts_with("rf-"));
        assert_eq!(file_stem("a-b"), "a-b");
    }

    #[test]
    fn a_taken_stem_goes_into_a_numbered_folder() {
        let mut used = std::collections::HashSet::from(["files".to_string()]);
        assert_eq!(free_folder(&mut used, "A"), "");
        assert_eq!(free_folder(&mut used, "A"), "2/");
        assert_eq!(free_folder(&mut used, "A"), "3/");
        assert_eq!(free_folder(&mut used, "files"), "2/");
        assert_eq!(free_folder(&mut used, "B"), "");
    }
}
