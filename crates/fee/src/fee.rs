use crate::schedule::{DayCount, FeeSchedule, ScheduleError};
use rust_decimal::{Decimal, RoundingStrategy};

/// Why a fee could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeeError {
    /// The schedule has a value out of range (it was built in code, not read
    /// with [`FeeSchedule::from_toml_str`], which checks).
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// The USD-to-base rate is zero or negative.
    #[error("the USD to base currency rate must be positive, not {0}")]
    BadRate(Decimal),
    /// An amount is too large for exact decimal arithmetic (about 7.9e28).
    #[error("amount too large: the fee arithmetic overflows a Decimal (about 7.9e28)")]
    Overflow,
    /// No scenario loss to measure.
    #[error("no scenario loss to measure")]
    NoScenarios,
    /// The risk measure is NaN or infinite.
    #[error("the risk measure is not a finite number")]
    NotFinite,
}

/// One tier's part of a daily fee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierSlice {
    /// The tier's index in the schedule (0 for the first).
    pub tier: usize,
    /// The slice's lower end, in base currency (the previous tier's bound).
    pub from: Decimal,
    /// The slice's upper end, in base currency; `None` for the last tier.
    pub to: Option<Decimal>,
    /// The part of the uncovered amount in this slice, in base currency.
    pub amount: Decimal,
    /// The tier's annual rate.
    pub annual_rate: Decimal,
    /// `amount × annual_rate`, exact.
    pub annual_amount: Decimal,
    /// `annual_amount / day count`, not rounded (for display; the daily fee
    /// is computed from the total, not from these).
    pub daily_amount: Decimal,
}

/// How a daily fee was computed, tier by tier.
///
/// All amounts are in the account's base currency. Only
/// [`daily_fee`](FeeBreakdown::daily_fee) is rounded (once, to cents, half
/// to even).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeBreakdown {
    /// The uncovered amount charged on (a negative input counts as 0).
    pub uncovered: Decimal,
    /// The threshold, converted to base.
    pub threshold: Decimal,
    /// Whether the uncovered amount is above the threshold: the account is
    /// subject to the fee tonight.
    pub subject: bool,
    /// The tiers the uncovered amount reaches, in order; empty when not
    /// subject.
    pub slices: Vec<TierSlice>,
    /// The sum of the slices' annual amounts, exact.
    pub annual_amount: Decimal,
    /// The day-count basis used.
    pub day_count: DayCount,
    /// `annual_amount / day count`, before the minimum and rounding.
    pub daily_unrounded: Decimal,
    /// The minimum daily fee, converted to base.
    pub minimum: Decimal,
    /// Whether a positive fee below the minimum was raised to it.
    pub minimum_applied: bool,
    /// The daily fee: `max(daily_unrounded, minimum)` when positive, rounded
    /// once to cents, half to even; 0 when not subject.
    pub daily_fee: Decimal,
}

/// The daily exposure fee on an uncovered amount, with how it was computed.
///
/// `uncovered_base` is in the account's base currency; `usd_to_base`
/// converts the schedule's USD amounts (threshold, tier bounds, minimum) to
/// it: `amount_base = amount_usd × usd_to_base` (1 for a USD account, 0.8
/// for a EUR account when EUR.USD = 1.25).
///
/// 1. Not subject (0 fee) while `uncovered ≤ threshold`.
/// 2. Above the threshold the *whole* uncovered amount is charged, not only
///    the excess: the notices describe a fee on the uncovered amount that
///    applies once it is large enough, and a fee that started from zero at
///    the threshold would make the threshold a free allowance instead.
/// 3. Each tier charges its annual rate on its slice; the slices' annual
///    amounts add up exactly; the daily amount is the total / day count.
/// 4. A positive daily amount below the minimum is raised to it.
/// 5. The result is rounded once, to cents, half to even.
///
/// # Errors
///
/// [`FeeError::Schedule`] when the schedule fails
/// [`validate`](FeeSchedule::validate); [`FeeError::BadRate`] when
/// `usd_to_base ≤ 0`; [`FeeError::Overflow`] for amounts beyond `Decimal`'s
/// range.
///
/// # Examples
///
/// ```
/// use exfee_fee::{FeeSchedule, daily_fee};
/// use rust_decimal::Decimal;
/// // 250,000 uncovered at the default tiers:
/// // 100,000 × 5% + 150,000 × 10% = 20,000 a year; / 365 = 54.7945… → 54.79
/// let fee = daily_fee(&FeeSchedule::default(), Decimal::from(250_000), Decimal::ONE).unwrap();
/// assert_eq!(fee.annual_amount, Decimal::from(20_000));
/// assert_eq!(fee.daily_fee, Decimal::new(5479, 2));
/// assert_eq!(fee.slices.len(), 2);
/// ```
pub fn daily_fee(
    schedule: &FeeSchedule,
    uncovered_base: Decimal,
    usd_to_base: Decimal,
) -> Result<FeeBreakdown, FeeError> {
    schedule.validate()?;
    if usd_to_base <= Decimal::ZERO {
        return Err(FeeError::BadRate(usd_to_base));
    }
    let to_base = |usd: Decimal| usd.checked_mul(usd_to_base).ok_or(FeeError::Overflow);
    let uncovered = uncovered_base.max(Decimal::ZERO);
    let threshold = to_base(schedule.threshold_usd)?;
    let minimum = to_base(schedule.minimum_daily_usd)?;
    let day_count = schedule.day_count;
    let days = Decimal::from(day_count.days());
    let subject = uncovered > threshold;

    let mut slices = Vec::new();
    let mut annual_amount = Decimal::ZERO;
    if subject {
        let mut from = Decimal::ZERO;
        for (tier, spec) in schedule.tiers.iter().enumerate() {
            if uncovered <= from {
                break;
            }
            let to = spec.up_to_usd.map(to_base).transpose()?;
            let top = to.map_or(uncovered, |bound| bound.min(uncovered));
            let amount = top.checked_sub(from).ok_or(FeeError::Overflow)?;
            let slice_annual = amount
                .checked_mul(spec.annual_rate)
                .ok_or(FeeError::Overflow)?;
            annual_amount = annual_amount
                .checked_add(slice_annual)
                .ok_or(FeeError::Overflow)?;
            slices.push(TierSlice {
                tier,
                from,
                to,
                amount,
                annual_rate: spec.annual_rate,
                annual_amount: slice_annual,
                daily_amount: slice_annual.checked_div(days).ok_or(FeeError::Overflow)?,
            });
            match to {
                Some(bound) => from = bound,
                None => break,
            }
        }
    }
    let daily_unrounded = annual_amount.checked_div(days).ok_or(FeeError::Overflow)?;
    let minimum_applied = daily_unrounded > Decimal::ZERO && daily_unrounded < minimum;
    let raised = if minimum_applied {
        minimum
    } else {
        daily_unrounded
    };
    let daily_fee = raised.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
    Ok(FeeBreakdown {
        uncovered,
        threshold,
        subject,
        slices,
        annual_amount,
        day_count,
        daily_unrounded,
        minimum,
        minimum_applied,
        daily_fee,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Tier;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn fee(schedule: &FeeSchedule, uncovered: &str, usd_to_base: &str) -> FeeBreakdown {
        daily_fee(schedule, d(uncovered), d(usd_to_base)).unwrap()
    }

    #[test]
    fn two_tiers_at_365() {
        // 100,000 × 5% = 5,000; 150,000 × 10% = 15,000; 20,000 / 365 = 54.7945… → 54.79
        let f = fee(&FeeSchedule::default(), "250000", "1");
        assert!(f.subject);
        assert_eq!(f.slices.len(), 2);
        assert_eq!(f.slices[0].amount, d("100000"));
        assert_eq!(f.slices[0].annual_amount, d("5000"));
        assert_eq!(f.slices[1].from, d("100000"));
        assert_eq!(f.slices[1].to, Some(d("500000")));
        assert_eq!(f.slices[1].amount, d("150000"));
        assert_eq!(f.slices[1].annual_amount, d("15000"));
        assert_eq!(f.annual_amount, d("20000"));
        assert!(f.daily_unrounded > d("54.7945") && f.daily_unrounded < d("54.7946"));
        assert!(!f.minimum_applied);
        assert_eq!(f.daily_fee, d("54.79"));
    }

    #[test]
    fn two_tiers_at_360() {
        // 20,000 / 360 = 55.5555… → 55.56
        let schedule = FeeSchedule {
            day_count: DayCount::Days360,
            ..FeeSchedule::default()
        };
        assert_eq!(fee(&schedule, "250000", "1").daily_fee, d("55.56"));
    }

    #[test]
    fn all_three_tiers() {
        // 100,000 × 5% + 400,000 × 10% + 100,000 × 20% = 5,000 + 40,000 + 20,000 = 65,000
        // 65,000 / 365 = 178.0821… → 178.08
        let f = fee(&FeeSchedule::default(), "600000", "1");
        assert_eq!(f.slices.len(), 3);
        assert_eq!(f.slices[2].amount, d("100000"));
        assert_eq!(f.slices[2].to, None);
        assert_eq!(f.annual_amount, d("65000"));
        assert_eq!(f.daily_fee, d("178.08"));
        // the charge grows faster than linearly: 600k costs more than 6 × 100k
        let one = fee(&FeeSchedule::default(), "100000", "1").daily_fee; // 5,000 / 365 = 13.70
        assert_eq!(one, d("13.70"));
        assert!(f.daily_fee > one * d("6"));
    }

    #[test]
    fn exactly_on_a_tier_bound() {
        // 500,000: 5,000 + 40,000 = 45,000 / 365 = 123.2876… → 123.29; no third slice
        let f = fee(&FeeSchedule::default(), "500000", "1");
        assert_eq!(f.slices.len(), 2);
        assert_eq!(f.daily_fee, d("123.29"));
    }

    #[test]
    fn threshold_at_or_below_is_free_above_charges_the_whole_amount() {
        let schedule = FeeSchedule {
            threshold_usd: d("76000"),
            ..FeeSchedule::default()
        };
        // 70,000 ≤ 76,000 → 0
        let below = fee(&schedule, "70000", "1");
        assert!(!below.subject);
        assert!(below.slices.is_empty());
        assert_eq!(below.daily_fee, d("0"));
        // exactly 76,000 → still 0
        assert_eq!(fee(&schedule, "76000", "1").daily_fee, d("0"));
        // 80,000 > 76,000 → the whole 80,000: 80,000 × 5% = 4,000 / 365 = 10.9589… → 10.96
        let above = fee(&schedule, "80000", "1");
        assert!(above.subject);
        assert_eq!(above.slices[0].amount, d("80000"));
        assert_eq!(above.daily_fee, d("10.96"));
    }

    #[test]
    fn small_fee_is_raised_to_the_minimum() {
        // 1,000 × 5% = 50 / 365 = 0.1369… → raised to 1.00
        let f = fee(&FeeSchedule::default(), "1000", "1");
        assert!(f.daily_unrounded > d("0.1369") && f.daily_unrounded < d("0.137"));
        assert!(f.minimum_applied);
        assert_eq!(f.daily_fee, d("1.00"));
        // 7,300 × 5% = 365 / 365 = 1 exactly: not raised
        let f = fee(&FeeSchedule::default(), "7300", "1");
        assert!(!f.minimum_applied);
        assert_eq!(f.daily_fee, d("1"));
    }

    #[test]
    fn zero_uncovered_or_zero_rate_is_not_raised_to_the_minimum() {
        assert_eq!(fee(&FeeSchedule::default(), "0", "1").daily_fee, d("0"));
        assert_eq!(fee(&FeeSchedule::default(), "-5", "1").daily_fee, d("0"));
        let free = FeeSchedule {
            tiers: vec![Tier {
                up_to_usd: None,
                annual_rate: d("0"),
            }],
            ..FeeSchedule::default()
        };
        let f = fee(&free, "1000", "1");
        assert!(f.subject);
        assert!(!f.minimum_applied);
        assert_eq!(f.daily_fee, d("0"));
    }

    #[test]
    fn eur_base_converts_bounds_threshold_and_minimum() {
        // usd_to_base 0.8: bound 100,000 USD = 80,000 EUR, 500,000 USD = 400,000 EUR
        // uncovered 200,000 EUR: 80,000 × 5% + 120,000 × 10% = 4,000 + 12,000 = 16,000
        // 16,000 / 365 = 43.8356… → 43.84
        let f = fee(&FeeSchedule::default(), "200000", "0.8");
        assert_eq!(f.slices[0].to, Some(d("80000")));
        assert_eq!(f.slices[1].from, d("80000"));
        assert_eq!(f.slices[1].to, Some(d("400000")));
        assert_eq!(f.slices[1].amount, d("120000"));
        assert_eq!(f.annual_amount, d("16000"));
        assert_eq!(f.daily_fee, d("43.84"));
        assert_eq!(f.minimum, d("0.8")); // 1.00 USD = 0.80 EUR
        // threshold 76,000 USD = 60,800 EUR: 61,000 EUR is above it
        let schedule = FeeSchedule {
            threshold_usd: d("76000"),
            ..FeeSchedule::default()
        };
        assert!(!fee(&schedule, "60800", "0.8").subject);
        // 61,000 × 5% = 3,050 / 365 = 8.3561… → 8.36
        assert_eq!(fee(&schedule, "61000", "0.8").daily_fee, d("8.36"));
        // minimum in EUR: 500 × 5% = 25 / 365 = 0.068… → 0.80 EUR
        assert_eq!(
            fee(&FeeSchedule::default(), "500", "0.8").daily_fee,
            d("0.80")
        );
    }

    #[test]
    fn rounding_is_once_and_half_even() {
        // one tier at 3.65% so that the daily fee is uncovered / 10,000 exactly
        let schedule = FeeSchedule {
            tiers: vec![Tier {
                up_to_usd: None,
                annual_rate: d("0.0365"),
            }],
            minimum_daily_usd: d("0"),
            ..FeeSchedule::default()
        };
        // 12,345 → 1.2345 → 1.23 ; 12,350 → 1.235 → 1.24 (4 is even) ; 12,250 → 1.225 → 1.22
        assert_eq!(fee(&schedule, "12345", "1").daily_fee, d("1.23"));
        assert_eq!(fee(&schedule, "12350", "1").daily_fee, d("1.24"));
        assert_eq!(fee(&schedule, "12250", "1").daily_fee, d("1.22"));
        assert_eq!(fee(&schedule, "12250", "1").daily_unrounded, d("1.225"));
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let s = FeeSchedule::default();
        assert_eq!(
            daily_fee(&s, d("1"), d("0")),
            Err(FeeError::BadRate(d("0")))
        );
        assert!(matches!(
            daily_fee(&s, d("1"), d("-1")),
            Err(FeeError::BadRate(_))
        ));
        assert_eq!(
            daily_fee(&s, Decimal::MAX, Decimal::MAX),
            Err(FeeError::Overflow)
        );
        // a huge amount within range still works (or reports overflow), never panics
        for rate in [d("1"), d("0.0000000000000000000000000001")] {
            let fee = daily_fee(&s, Decimal::MAX, rate);
            assert!(matches!(fee, Ok(_) | Err(FeeError::Overflow)), "{fee:?}");
        }
        let broken = FeeSchedule {
            tiers: vec![],
            ..FeeSchedule::default()
        };
        assert!(matches!(
            daily_fee(&broken, d("1"), d("1")),
            Err(FeeError::Schedule(_))
        ));
    }
}
