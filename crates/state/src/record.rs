use crate::error::StateError;
use chrono::{Datelike, NaiveDate};
use exfee_fee::{AccountState, ChargedFee, FeeStatus};
use exfee_model::Currency;
use rust_decimal::Decimal;
use std::str::FromStr;

/// What one nightly run measured for one account, as given to
/// [`Run::record`](crate::Run::record).
///
/// Money is in the account's base currency, `currency`. What the run posts
/// is not given: [`Run::record`](crate::Run::record) works it out from the
/// stored nights (every calendar day priced by the measurement in force on
/// it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NightRecord {
    /// Tonight's status, from [`exfee_fee::next_state`] over
    /// [`Run::previous_state`](crate::Run::previous_state).
    pub status: FeeStatus,
    /// The uncovered amount (≥ 0).
    pub uncovered: Decimal,
    /// The risk measure's loss, as measured.
    pub measure: Decimal,
    /// The daily exposure fee (≥ 0) at tonight's measure, shown even in
    /// grace.
    pub daily_fee: Decimal,
    /// What each calendar day priced by tonight's measurement costs once it
    /// is past the grace week (≥ 0; 0 when clear): the fee actually paid,
    /// the greater of the exposure and the inventory fee
    /// ([`Assessment::accrues`](exfee_fee::Assessment::accrues)).
    pub accrues: Decimal,
    /// Which fee `accrues` is.
    pub basis: ChargedFee,
    /// The date the fee takes effect: `None`, or the date the grace rules
    /// give (the one in [`FeeStatus::Grace`]); filled in when `None` on a
    /// subject night.
    pub effective_date: Option<NaiveDate>,
    /// The base currency of the amounts.
    pub currency: Currency,
}

/// One stored night of one account, as read back by
/// [`StateDb::nights`](crate::StateDb::nights).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NightRow {
    /// The valuation date of the run.
    pub date: NaiveDate,
    /// What was recorded (with the effective date filled in).
    pub record: NightRecord,
    /// Calendar days the run posted.
    pub days_posted: u32,
    /// The amount the run posted.
    pub amount_posted: Decimal,
}

/// Why a ledger day is charged what it is (the `basis` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Basis {
    /// The exposure fee of the measurement in force on the day.
    Exposure,
    /// The inventory fee, greater than the exposure fee on that measurement.
    Inventory,
    /// Priced by the last measurement although a trading day's run between
    /// it and the day is missing.
    Estimated,
}

impl Basis {
    /// `exposure`, `inventory` or `estimated`.
    pub fn name(&self) -> &'static str {
        match self {
            Basis::Exposure => "exposure",
            Basis::Inventory => "inventory",
            Basis::Estimated => "estimated",
        }
    }

    pub(crate) fn parse(account: &str, text: &str) -> Result<Basis, StateError> {
        match text {
            "exposure" => Ok(Basis::Exposure),
            "inventory" => Ok(Basis::Inventory),
            "estimated" => Ok(Basis::Estimated),
            _ => Err(StateError::Corrupt {
                table: "ledger",
                account: account.to_string(),
                column: "basis",
                value: text.to_string(),
            }),
        }
    }
}

/// One calendar day of fee of one account, posted by a trading day's run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    /// The account.
    pub account: String,
    /// The currency of the amount (the account's base currency).
    pub currency: Currency,
    /// The calendar day the fee is for.
    pub day: NaiveDate,
    /// The run date whose measurement priced it (the last run on or before
    /// `day`).
    pub measured_on: NaiveDate,
    /// The trading day whose run posted it.
    pub posted_on: NaiveDate,
    /// The day's fee.
    pub amount: Decimal,
    /// Why.
    pub basis: Basis,
}

/// What [`Run::record`](crate::Run::record) did for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The account's grace state after tonight.
    pub state: AccountState,
    /// The days tonight's run posts, oldest first (empty on a weekend or
    /// holiday run, or when nothing accrued).
    pub posted: Vec<LedgerRow>,
}

impl Recorded {
    /// How many days tonight posts.
    pub fn days_posted(&self) -> u32 {
        u32::try_from(self.posted.len()).unwrap_or(u32::MAX)
    }

    /// The amount tonight posts (saturating at `Decimal::MAX`).
    pub fn amount_posted(&self) -> Decimal {
        self.posted
            .iter()
            .fold(Decimal::ZERO, |sum, row| sum.saturating_add(row.amount))
    }
}

/// Whether `date` is in the years 1 to 9999, where its `YYYY-MM-DD` text
/// sorts as the date does (the run date must be; a query's bounds are
/// compared accordingly).
pub(crate) fn sorts_as_text(date: NaiveDate) -> bool {
    (1..=9999).contains(&date.year())
}

/// Dates are stored as `YYYY-MM-DD` text, which sorts by date for years 1 to
/// 9999 (checked for the run date; other dates round-trip through chrono's
/// ISO form).
pub(crate) fn date_text(date: NaiveDate) -> String {
    let mut text = String::new();
    text_into(&mut text, date);
    text
}

/// A stored value's text — a date as `YYYY-MM-DD`, money as the exact
/// decimal text — formatted into `buffer` (reused from one value to the
/// next) and borrowed from it.
pub(crate) fn text_into(buffer: &mut String, value: impl std::fmt::Display) -> &str {
    use std::fmt::Write;
    buffer.clear();
    #[allow(
        clippy::let_underscore_must_use,
        reason = "writing into a String cannot fail"
    )]
    let _ = write!(buffer, "{value}");
    buffer.as_str()
}

/// Reads one stored text back, or says which value is corrupt.
pub(crate) fn parse<T: FromStr>(
    table: &'static str,
    account: &str,
    column: &'static str,
    text: &str,
) -> Result<T, StateError> {
    let corrupt = || StateError::Corrupt {
        table,
        account: account.to_string(),
        column,
        value: text.to_string(),
    };
    // No stored value holds `_`; `Decimal`'s parser would read `1_000` as
    // 1000 (only plain decimals are numbers, as in every input).
    if text.contains('_') {
        return Err(corrupt());
    }
    text.parse().map_err(|_| corrupt())
}

/// Rebuilds a status from its stored name and effective date.
pub(crate) fn parse_status(
    table: &'static str,
    account: &str,
    name: &str,
    effective: Option<NaiveDate>,
) -> Result<FeeStatus, StateError> {
    match (name, effective) {
        ("clear", _) => Ok(FeeStatus::Clear),
        ("charged", _) => Ok(FeeStatus::Charged),
        ("grace", Some(effective)) => Ok(FeeStatus::Grace { effective }),
        _ => Err(StateError::Corrupt {
            table,
            account: account.to_string(),
            column: "status",
            value: name.to_string(),
        }),
    }
}

/// Whether a stored status name means subject.
pub(crate) fn status_is_subject(
    table: &'static str,
    account: &str,
    name: &str,
) -> Result<bool, StateError> {
    match name {
        "clear" => Ok(false),
        "grace" | "charged" => Ok(true),
        _ => Err(StateError::Corrupt {
            table,
            account: account.to_string(),
            column: "status",
            value: name.to_string(),
        }),
    }
}

/// An optional stored date.
pub(crate) fn parse_opt_date(
    table: &'static str,
    account: &str,
    column: &'static str,
    text: Option<String>,
) -> Result<Option<NaiveDate>, StateError> {
    text.map(|t| parse(table, account, column, &t)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip_exactly() {
        let money: Decimal = "54.790".parse().unwrap();
        let mut buffer = String::from("left over");
        assert_eq!(text_into(&mut buffer, money), "54.790");
        assert_eq!(text_into(&mut buffer, Decimal::new(-5, 1)), "-0.5");
        assert_eq!(
            parse::<Decimal>("t", "a", "c", "54.790").unwrap().scale(),
            3
        );
        let date = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
        assert_eq!(date_text(date), "2026-03-09");
        assert_eq!(
            parse::<NaiveDate>("t", "a", "c", "2026-03-09").unwrap(),
            date
        );
        let far = NaiveDate::MAX;
        assert_eq!(
            parse::<NaiveDate>("t", "a", "c", &date_text(far)).unwrap(),
            far
        );
    }

    #[test]
    fn bad_text_is_corrupt_not_a_panic() {
        assert!(matches!(
            parse::<Decimal>("nights", "U1", "amount", "12,5"),
            Err(StateError::Corrupt {
                column: "amount",
                ..
            })
        ));
        // Issue 10: `Decimal` alone reads `1_000` as 1000.
        assert!(matches!(
            parse::<Decimal>("nights", "U1", "amount", "1_000"),
            Err(StateError::Corrupt { .. })
        ));
        assert_eq!(
            parse::<Decimal>("nights", "U1", "amount", "1000.50").unwrap(),
            Decimal::new(100_050, 2)
        );
        assert!(parse_status("nights", "U1", "grace", None).is_err());
        assert!(parse_status("nights", "U1", "paid", None).is_err());
        assert!(status_is_subject("nights", "U1", "").is_err());
    }
}
