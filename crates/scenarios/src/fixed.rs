use rust_decimal::Decimal;

/// The one move of a fixed stress scenario; everything else stays still.
#[derive(Debug, Copy, Clone, PartialEq)]
pub enum Shock {
    /// Primary factor `index` (in factor-table order) moves by `fraction`.
    Factor {
        /// Index into the factor table's factors.
        index: usize,
        /// Relative move, e.g. −0.30.
        fraction: f64,
    },
    /// Currency `index` (in FX-table order) moves by `fraction` against every
    /// other base currency.
    Currency {
        /// Index into the FX table.
        index: usize,
        /// Relative move of its value in the account's base currency.
        fraction: f64,
    },
    /// The equity-volatility factor moves by `fraction` (relative change of
    /// implied volatility).
    Vol {
        /// Relative move, e.g. +1.50.
        fraction: f64,
    },
    /// Single stock `index` (in the set's stock list) moves by `fraction` on
    /// its own.
    Stock {
        /// Index into the set's single stocks.
        index: usize,
        /// The stock's own move.
        fraction: f64,
    },
}

/// A named fixed stress scenario, e.g. `Equity@-30%`.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedScenario {
    /// Readable name: `<factor, currency or symbol>@<signed percent>%`.
    pub name: String,
    /// The move.
    pub shock: Shock,
}

/// Formats a percent move the way scenario names show it: explicit sign,
/// no trailing zeros.
///
/// # Examples
///
/// ```
/// use exfee_scenarios::format_move;
/// use rust_decimal::Decimal;
/// assert_eq!(format_move(Decimal::new(-3000, 2)), "-30%");
/// assert_eq!(format_move(Decimal::new(990, 2)), "+9.9%");
/// ```
pub fn format_move(pct: Decimal) -> String {
    let pct = pct.normalize();
    if pct.is_sign_negative() && !pct.is_zero() {
        format!("{pct}%")
    } else if pct.is_zero() {
        "0%".to_string()
    } else {
        format!("+{pct}%")
    }
}
