use crate::error::StateError;
use chrono::NaiveDate;
use exfee_fee::FeeStatus;
use exfee_model::Currency;
use rust_decimal::Decimal;
use std::str::FromStr;

/// What one nightly run found and charged for one account, as given to
/// [`Run::record`](crate::Run::record).
///
/// Money is in the account's base currency, `currency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NightRecord {
    /// Tonight's status, from [`exfee_fee::next_state`] over
    /// [`Run::previous_state`](crate::Run::previous_state).
    pub status: FeeStatus,
    /// The uncovered amount (≥ 0).
    pub uncovered: Decimal,
    /// The risk measure's loss, as measured.
    pub measure: Decimal,
    /// The daily fee (≥ 0): what one day costs at tonight's measure. It may
    /// be shown during grace; only `amount_charged` is a charge.
    pub daily_fee: Decimal,
    /// Calendar days charged by tonight's run
    /// ([`TradingCalendar::days_charged`](exfee_fee::TradingCalendar::days_charged)).
    pub days_charged: u32,
    /// The amount charged tonight (≥ 0), normally `daily_fee ×
    /// days_charged`; must be 0 unless the status is
    /// [`Charged`](FeeStatus::Charged).
    pub amount_charged: Decimal,
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
}

/// One charge: a night on which the account was charged a positive amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    /// The account.
    pub account: String,
    /// The valuation date of the run that charged.
    pub date: NaiveDate,
    /// The uncovered amount that night.
    pub uncovered: Decimal,
    /// The daily fee.
    pub daily_fee: Decimal,
    /// Calendar days charged.
    pub days: u32,
    /// The amount charged.
    pub amount: Decimal,
    /// The currency of the amounts.
    pub currency: Currency,
}

/// Dates are stored as `YYYY-MM-DD` text, which sorts by date for years 1 to
/// 9999 (checked for the run date; other dates round-trip through chrono's
/// ISO form).
pub(crate) fn date_text(date: NaiveDate) -> String {
    date.to_string()
}

/// Money is stored as the exact decimal text.
pub(crate) fn money_text(value: Decimal) -> String {
    value.to_string()
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
        assert_eq!(money_text(money), "54.790");
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
