//! The one fee pipeline: measure → uncovered → tiers → minimum → greater of
//! inventory and exposure fee ([`quote`]), then grace ([`assess`]). The
//! nightly batch, the reports, the adjustments and what-if all call these.

use chrono::NaiveDate;
use exfee_model::cents;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

use crate::fee::{FeeBreakdown, FeeError, daily_fee};
use crate::grace::{AccountState, FeeStatus, next_state};
use crate::schedule::FeeSchedule;

/// Which fee an account pays when it owes both the exposure fee and an
/// overnight inventory fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChargedFee {
    /// The exposure fee (also on a tie, and when there is no inventory fee).
    Exposure,
    /// The overnight inventory fee, which was strictly greater.
    Inventory,
}

impl ChargedFee {
    /// `exposure` or `inventory` (the `fee_paid` column, the ledger's basis).
    pub fn name(&self) -> &'static str {
        match self {
            ChargedFee::Exposure => "exposure",
            ChargedFee::Inventory => "inventory",
        }
    }
}

/// An account's portfolio as the fee sees it: its scenario losses, its NLV,
/// its base currency's USD rate and its inventory fee.
#[derive(Debug, Clone, Copy)]
pub struct Portfolio<'a> {
    /// Scenario losses (positive = money lost): every scenario's, or at least
    /// the [`scenarios_needed`](crate::Measure::scenarios_needed) largest.
    pub losses: &'a [f64],
    /// How many scenarios the whole set has (the expected shortfall sizes its
    /// tail from it).
    pub scenarios: usize,
    /// Net liquidation value, base currency.
    pub nlv: Decimal,
    /// Units of the base currency per USD (the schedule's amounts are USD).
    pub usd_to_base: Decimal,
    /// The account's daily overnight inventory fee, if it has one.
    pub inventory_fee: Option<Decimal>,
}

/// The fee of a portfolio, before grace: what one day costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// The schedule's risk measure (a loss), base currency, to cents.
    pub measure: Decimal,
    /// The NLV it was compared with.
    pub nlv: Decimal,
    /// `max(0, measure − NLV)`, to cents.
    pub uncovered: Decimal,
    /// The exposure fee, tier by tier.
    pub breakdown: FeeBreakdown,
    /// The inventory fee, if any.
    pub inventory_fee: Option<Decimal>,
    /// Which of the two is the greater (the exposure fee on a tie).
    pub pays: ChargedFee,
    /// The fee the account actually pays a day: the greater of the exposure
    /// fee and the inventory fee (the inventory fee alone when the account is
    /// not subject to the exposure fee; 0 with neither).
    pub fee_paid: Decimal,
}

impl Quote {
    /// Whether the account is subject to the exposure fee (uncovered above
    /// the threshold).
    pub fn subject(&self) -> bool {
        self.breakdown.subject
    }
}

/// A night's fee of an account: the quote and the grace decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The fee of tonight's portfolio.
    pub quote: Quote,
    /// Tonight's status.
    pub status: FeeStatus,
    /// The account's grace state after tonight.
    pub state: AccountState,
    /// When the fee takes (or took) effect, for a subject account.
    pub effective_date: Option<NaiveDate>,
    /// What each calendar day priced by tonight's measurement costs once it
    /// is past the grace week: the fee paid when subject, else 0. Shown on
    /// grace nights too (the fee that will apply).
    pub accrues: Decimal,
    /// The daily exposure fee payable tonight: the exposure fee when the
    /// account is charged and the exposure fee is the one it pays, else 0.
    pub daily_fee: Decimal,
}

/// The fee of a portfolio: the schedule's measure over its losses, the
/// uncovered amount, the tiered daily exposure fee with its minimum, and the
/// greater of that and the inventory fee (the exposure fee on a tie).
///
/// # Errors
///
/// [`FeeError::NoScenarios`] when there is no loss, [`FeeError::NotFinite`]
/// when the measure is NaN or infinite, and the errors of [`daily_fee`].
///
/// # Examples
///
/// ```
/// use exfee_fee::{ChargedFee, FeeSchedule, Portfolio, quote};
/// use rust_decimal::Decimal;
/// let losses = [30_000.0, 1_000.0];
/// let q = quote(&FeeSchedule::default(), &Portfolio {
///     losses: &losses, scenarios: 2, nlv: Decimal::from(20_000),
///     usd_to_base: Decimal::ONE, inventory_fee: Some(Decimal::new(137, 2)),
/// }).unwrap();
/// // 10,000 × 5 % / 365 = 1.3698… → 1.37; a tie with the inventory fee: exposure
/// assert_eq!(q.fee_paid, Decimal::new(137, 2));
/// assert_eq!(q.pays, ChargedFee::Exposure);
/// ```
pub fn quote(schedule: &FeeSchedule, portfolio: &Portfolio<'_>) -> Result<Quote, FeeError> {
    let raw = schedule
        .measure
        .apply(portfolio.losses, portfolio.scenarios)
        .ok_or(FeeError::NoScenarios)?;
    if !raw.is_finite() {
        return Err(FeeError::NotFinite);
    }
    let measure = cents(Decimal::from_f64(raw).ok_or(FeeError::Overflow)?);
    let gap = measure
        .checked_sub(portfolio.nlv)
        .ok_or(FeeError::Overflow)?;
    let uncovered = cents(gap.max(Decimal::ZERO));
    let breakdown = daily_fee(schedule, uncovered, portfolio.usd_to_base)?;
    let exposure = breakdown.daily_fee;
    let (fee_paid, pays) = match portfolio.inventory_fee {
        Some(inventory) if inventory > exposure => (inventory, ChargedFee::Inventory),
        _ => (exposure, ChargedFee::Exposure),
    };
    Ok(Quote {
        measure,
        nlv: portfolio.nlv,
        uncovered,
        breakdown,
        inventory_fee: portfolio.inventory_fee,
        pays,
        fee_paid,
    })
}

/// A night's fee: [`quote`] then the grace week ([`next_state`]) from the
/// account's state before tonight.
///
/// # Errors
///
/// As [`quote`].
pub fn assess(
    schedule: &FeeSchedule,
    portfolio: &Portfolio<'_>,
    previous: Option<&AccountState>,
    date: NaiveDate,
) -> Result<Assessment, FeeError> {
    let quote = quote(schedule, portfolio)?;
    let (state, status) = next_state(previous, date, quote.subject(), schedule.grace);
    let effective_date = match status {
        FeeStatus::Grace { effective } => Some(effective),
        FeeStatus::Charged => state.effective_date(schedule.grace),
        FeeStatus::Clear => None,
    };
    let accrues = if quote.subject() {
        quote.fee_paid
    } else {
        Decimal::ZERO
    };
    let daily_fee = if status == FeeStatus::Charged && quote.pays == ChargedFee::Exposure {
        quote.breakdown.daily_fee
    } else {
        Decimal::ZERO
    };
    Ok(Assessment {
        quote,
        status,
        state,
        effective_date,
        accrues,
        daily_fee,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn portfolio<'a>(losses: &'a [f64], nlv: &str, inventory: Option<&str>) -> Portfolio<'a> {
        Portfolio {
            losses,
            scenarios: losses.len(),
            nlv: d(nlv),
            usd_to_base: Decimal::ONE,
            inventory_fee: inventory.map(d),
        }
    }

    #[test]
    fn measure_uncovered_tiers_and_greater_of() {
        let s = FeeSchedule::default();
        // worst 350,000 − 100,000 = 250,000: 5,000 + 15,000 = 20,000 / 365 → 54.79
        let q = quote(&s, &portfolio(&[350_000.0, 2.0], "100000", None)).unwrap();
        assert_eq!(q.measure, d("350000.00"));
        assert_eq!(q.uncovered, d("250000.00"));
        assert_eq!(q.fee_paid, d("54.79"));
        assert_eq!(q.pays, ChargedFee::Exposure);
        // an inventory fee of 60 is greater
        let q = quote(&s, &portfolio(&[350_000.0], "100000", Some("60"))).unwrap();
        assert_eq!((q.fee_paid, q.pays), (d("60"), ChargedFee::Inventory));
        assert_eq!(q.breakdown.daily_fee, d("54.79"));
        // a tie: the exposure fee (documented rule)
        let q = quote(&s, &portfolio(&[350_000.0], "100000", Some("54.79"))).unwrap();
        assert_eq!((q.fee_paid, q.pays), (d("54.79"), ChargedFee::Exposure));
        // not subject: only the inventory fee is paid
        let q = quote(&s, &portfolio(&[10.0], "100000", Some("5"))).unwrap();
        assert!(!q.subject());
        assert_eq!(q.uncovered, d("0.00"));
        assert_eq!((q.fee_paid, q.pays), (d("5"), ChargedFee::Inventory));
    }

    #[test]
    fn a_tie_is_charged_as_the_exposure_fee_tonight() {
        let s = FeeSchedule {
            grace: crate::GraceRules {
                grace_days: 0,
                reset_after_clear_nights: 5,
            },
            ..FeeSchedule::default()
        };
        let date = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        // 10,000 uncovered → 1.37, inventory 1.37
        let a = assess(
            &s,
            &portfolio(&[30_000.0], "20000", Some("1.37")),
            None,
            date,
        )
        .unwrap();
        assert_eq!(a.status, FeeStatus::Charged);
        assert_eq!(a.daily_fee, d("1.37"));
        assert_eq!(a.accrues, d("1.37"));
        // inventory 1.38: the inventory fee is paid; no exposure fee tonight
        let a = assess(
            &s,
            &portfolio(&[30_000.0], "20000", Some("1.38")),
            None,
            date,
        )
        .unwrap();
        assert_eq!(a.daily_fee, d("0"));
        assert_eq!(a.accrues, d("1.38"));
    }

    #[test]
    fn grace_nights_show_what_will_accrue() {
        let s = FeeSchedule::default();
        let date = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let a = assess(&s, &portfolio(&[30_000.0], "20000", None), None, date).unwrap();
        assert!(matches!(a.status, FeeStatus::Grace { .. }));
        assert_eq!(a.daily_fee, d("0"));
        assert_eq!(a.accrues, d("1.37"));
        assert_eq!(a.effective_date, NaiveDate::from_ymd_opt(2026, 3, 9));
    }

    #[test]
    fn no_negative_zero_and_bad_losses_are_errors() {
        let s = FeeSchedule::default();
        let q = quote(&s, &portfolio(&[-0.001], "5", None)).unwrap();
        assert_eq!(q.measure.to_string(), "0.00");
        assert_eq!(
            quote(&s, &portfolio(&[], "5", None)),
            Err(FeeError::NoScenarios)
        );
        assert_eq!(
            quote(&s, &portfolio(&[f64::NAN], "5", None)),
            Err(FeeError::NotFinite)
        );
        assert_eq!(
            quote(&s, &portfolio(&[1e300], "5", None)),
            Err(FeeError::Overflow)
        );
    }
}
