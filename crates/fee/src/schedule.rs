use crate::grace::GraceRules;
use crate::measure::Measure;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The shipped default fee schedule, `default-fee.toml`, as text.
///
/// It parses to exactly [`FeeSchedule::default()`]; copy it as a starting
/// point for a schedule of your own.
///
/// # Examples
///
/// ```
/// use exfee_fee::{DEFAULT_FEE_TOML, FeeSchedule};
/// let shipped = FeeSchedule::from_toml_str(DEFAULT_FEE_TOML).unwrap();
/// assert_eq!(shipped, FeeSchedule::default());
/// ```
pub const DEFAULT_FEE_TOML: &str = include_str!("../default-fee.toml");

/// Why a fee schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The text is not TOML of the expected shape (unknown field, wrong
    /// type, …); the message carries the line and column.
    #[error("fee schedule: {0}")]
    Parse(String),
    /// A value is out of range.
    #[error("fee schedule: {field}: {reason}")]
    Invalid {
        /// The field at fault, e.g. `tiers[1].up_to_usd`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ScheduleError {
    fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ScheduleError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The number of days in a year that turns an annual rate into a daily one.
///
/// Written `360` or `365` in the schedule TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub enum DayCount {
    /// Actual/360: the daily charge is the annual charge / 360.
    Days360,
    /// Actual/365: the daily charge is the annual charge / 365 (the default).
    #[default]
    Days365,
}

impl DayCount {
    /// The divisor: 360 or 365.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(exfee_fee::DayCount::Days360.days(), 360);
    /// ```
    pub fn days(self) -> u16 {
        match self {
            DayCount::Days360 => 360,
            DayCount::Days365 => 365,
        }
    }
}

impl TryFrom<u16> for DayCount {
    type Error = String;

    fn try_from(days: u16) -> Result<Self, Self::Error> {
        match days {
            360 => Ok(DayCount::Days360),
            365 => Ok(DayCount::Days365),
            other => Err(format!("day_count must be 360 or 365, not {other}")),
        }
    }
}

impl From<DayCount> for u16 {
    fn from(day_count: DayCount) -> u16 {
        day_count.days()
    }
}

/// One tier of the fee: an annual rate on a slice of the uncovered amount.
///
/// Tiers are marginal, like tax brackets: tier `i` charges `annual_rate` on
/// the part of the uncovered amount between tier `i − 1`'s bound (0 for the
/// first tier) and its own `up_to_usd`. Bounds are cumulative USD amounts,
/// converted to the account's base currency; the last tier has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// The upper end of the slice, in USD, cumulative; `None` for the last
    /// tier (no upper end).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::plain::optional"
    )]
    pub up_to_usd: Option<Decimal>,
    /// The rate per annum on the slice, e.g. 0.05 for 5%.
    #[serde(deserialize_with = "crate::plain::decimal")]
    pub annual_rate: Decimal,
}

/// The fee schedule: how an uncovered amount becomes a daily fee, and the
/// grace rules.
///
/// Read from TOML with [`from_toml_str`](FeeSchedule::from_toml_str); a field
/// left out takes its [default](FeeSchedule::default), and an unknown field
/// is an error. See [`DEFAULT_FEE_TOML`] for the shipped file, with comments.
///
/// # Examples
///
/// ```
/// use exfee_fee::{DayCount, FeeSchedule};
/// use rust_decimal::Decimal;
/// let schedule = FeeSchedule::from_toml_str(
///     "threshold_usd = 76000\nday_count = 360\n",
/// ).unwrap();
/// assert_eq!(schedule.threshold_usd, Decimal::from(76_000));
/// assert_eq!(schedule.day_count, DayCount::Days360);
/// // everything else is the default
/// assert_eq!(schedule.tiers, FeeSchedule::default().tiers);
///
/// assert!(FeeSchedule::from_toml_str("treshold_usd = 1").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeeSchedule {
    /// The risk measure over the scenario losses.
    pub measure: Measure,
    /// No fee while the uncovered amount is at or below this (USD, converted
    /// to base). Above it, the whole uncovered amount is charged.
    #[serde(deserialize_with = "crate::plain::decimal")]
    pub threshold_usd: Decimal,
    /// The marginal tiers, in order of increasing bound; the last has no
    /// bound.
    pub tiers: Vec<Tier>,
    /// 360 or 365.
    pub day_count: DayCount,
    /// A positive daily fee below this (USD, converted to base) is raised to
    /// it.
    #[serde(deserialize_with = "crate::plain::decimal")]
    pub minimum_daily_usd: Decimal,
    /// The grace week and when an account starts over.
    pub grace: GraceRules,
}

impl Default for FeeSchedule {
    /// The project's default schedule, identical to [`DEFAULT_FEE_TOML`]:
    ///
    /// - measure: the worst scenario;
    /// - threshold: 0 USD. The only public figure, 76,000 USD over NLV, comes
    ///   from a single notice and the official wording is only "in excess of
    ///   specified levels", so by default every uncovered dollar is subject;
    ///   set `threshold_usd = 76000` to follow that notice;
    /// - tiers: the first 100,000 USD at 5% a year, the next 400,000 at 10%,
    ///   the rest at 20%. Chosen so that retail-sized uncovered amounts cost
    ///   what users report, "$1 to $125 a day": 7,300 USD costs 1.00 a day,
    ///   100,000 costs 13.70 and 500,000 costs 123.29, and the rising rates
    ///   make the charge grow faster than linearly, as reported;
    /// - day count 365 (the fee accrues on every calendar day);
    /// - minimum daily fee 1.00 USD;
    /// - grace: 7 calendar days, reset after 5 clear nights.
    fn default() -> Self {
        FeeSchedule {
            measure: Measure::Worst,
            threshold_usd: Decimal::ZERO,
            tiers: vec![
                Tier {
                    up_to_usd: Some(Decimal::from(100_000)),
                    annual_rate: Decimal::new(5, 2),
                },
                Tier {
                    up_to_usd: Some(Decimal::from(500_000)),
                    annual_rate: Decimal::new(10, 2),
                },
                Tier {
                    up_to_usd: None,
                    annual_rate: Decimal::new(20, 2),
                },
            ],
            day_count: DayCount::Days365,
            minimum_daily_usd: Decimal::ONE,
            grace: GraceRules::default(),
        }
    }
}

impl FeeSchedule {
    /// Parses and [validates](FeeSchedule::validate) a schedule from TOML
    /// text. Fields left out take their default.
    ///
    /// # Errors
    ///
    /// [`ScheduleError::Parse`] when the text is not TOML, has an unknown
    /// field or a value of the wrong type (the message gives the line);
    /// [`ScheduleError::Invalid`] when a value is out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// use exfee_fee::{FeeSchedule, Measure};
    /// let text = r#"
    /// [measure]
    /// kind = "tail_average"
    /// k = 25
    ///
    /// [[tiers]]
    /// annual_rate = "0.08"
    /// "#;
    /// let schedule = FeeSchedule::from_toml_str(text).unwrap();
    /// assert_eq!(schedule.measure, Measure::TailAverage { k: 25 });
    /// assert_eq!(schedule.tiers.len(), 1);
    ///
    /// let bad = "[[tiers]]\nup_to_usd = 100\nannual_rate = 0.05\n";
    /// assert!(FeeSchedule::from_toml_str(bad).is_err()); // the last tier needs no bound
    /// ```
    pub fn from_toml_str(text: &str) -> Result<FeeSchedule, ScheduleError> {
        exfee_model::check_toml_numbers(text).map_err(ScheduleError::Parse)?;
        let schedule: FeeSchedule =
            toml::from_str(text).map_err(|e| ScheduleError::Parse(e.to_string()))?;
        schedule.validate()?;
        Ok(schedule)
    }

    /// Checks every value is in range.
    ///
    /// The rules: a tail average reads at least one scenario; an
    /// expected-shortfall level is strictly between 0 and 1; the threshold,
    /// the minimum and every rate are not negative; there is at least one
    /// tier; every tier but the last has a positive bound, each above the
    /// one before; the last tier has no bound (otherwise amounts above it
    /// would go uncharged); an account starts over after at least one clear
    /// night.
    ///
    /// # Errors
    ///
    /// [`ScheduleError::Invalid`] naming the first field out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// use exfee_fee::FeeSchedule;
    /// use rust_decimal::Decimal;
    /// let mut schedule = FeeSchedule::default();
    /// assert!(schedule.validate().is_ok());
    /// schedule.minimum_daily_usd = Decimal::from(-1);
    /// assert!(schedule.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match self.measure {
            Measure::Worst => {}
            Measure::TailAverage { k } => {
                if k == 0 {
                    return Err(ScheduleError::invalid("measure.k", "must be at least 1"));
                }
            }
            Measure::ExpectedShortfall { level } => {
                if level <= Decimal::ZERO || level >= Decimal::ONE {
                    return Err(ScheduleError::invalid(
                        "measure.level",
                        format!("must be strictly between 0 and 1, not {level}"),
                    ));
                }
            }
        }
        if self.threshold_usd < Decimal::ZERO {
            return Err(ScheduleError::invalid(
                "threshold_usd",
                format!("must not be negative, not {}", self.threshold_usd),
            ));
        }
        if self.minimum_daily_usd < Decimal::ZERO {
            return Err(ScheduleError::invalid(
                "minimum_daily_usd",
                format!("must not be negative, not {}", self.minimum_daily_usd),
            ));
        }
        if self.tiers.is_empty() {
            return Err(ScheduleError::invalid(
                "tiers",
                "at least one tier is needed",
            ));
        }
        let last = self.tiers.len() - 1;
        let mut previous = Decimal::ZERO;
        for (index, tier) in self.tiers.iter().enumerate() {
            if tier.annual_rate < Decimal::ZERO {
                return Err(ScheduleError::invalid(
                    format!("tiers[{index}].annual_rate"),
                    format!("must not be negative, not {}", tier.annual_rate),
                ));
            }
            match (tier.up_to_usd, index == last) {
                (Some(bound), false) => {
                    if bound <= previous {
                        return Err(ScheduleError::invalid(
                            format!("tiers[{index}].up_to_usd"),
                            format!("must be above the previous bound ({previous}), not {bound}"),
                        ));
                    }
                    previous = bound;
                }
                (None, false) => {
                    return Err(ScheduleError::invalid(
                        format!("tiers[{index}].up_to_usd"),
                        "only the last tier may leave out its bound",
                    ));
                }
                (Some(_), true) => {
                    return Err(ScheduleError::invalid(
                        format!("tiers[{index}].up_to_usd"),
                        "the last tier has no bound (it charges everything above the previous one)",
                    ));
                }
                (None, true) => {}
            }
        }
        if self.grace.reset_after_clear_nights == 0 {
            return Err(ScheduleError::invalid(
                "grace.reset_after_clear_nights",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn shipped_file_is_the_default() {
        let shipped = FeeSchedule::from_toml_str(DEFAULT_FEE_TOML).unwrap();
        assert_eq!(shipped, FeeSchedule::default());
        // digit for digit, not merely equal in value
        assert_eq!(shipped.tiers[0].annual_rate.to_string(), "0.05");
    }

    /// Issue 10: `"5_00"` was read as 500 and `1_000` as 1000. Only plain
    /// decimals are numbers, as TOML literals and as strings.
    #[test]
    fn numbers_with_underscores_are_refused() {
        let err = |text: &str| FeeSchedule::from_toml_str(text).unwrap_err().to_string();
        assert_eq!(
            err("threshold_usd = 1_000\n"),
            "fee schedule: line 1: 1_000 is not a plain decimal number (no `_`, no \
             hexadecimal, octal or binary, no inf or nan)"
        );
        let e = err("[[tiers]]\nannual_rate = \"5_00\"\n");
        assert!(
            e.contains("\"5_00\" is not a decimal number") && e.contains("line 2"),
            "{e}"
        );
        let e = err("[measure]\nkind = \"expected_shortfall\"\nlevel = \"0.9_9\"\n");
        assert!(e.contains("\"0.9_9\" is not a decimal number"), "{e}");
        let e = err("minimum_daily_usd = 0x10\n");
        assert!(e.contains("0x10 is not a plain decimal number"), "{e}");
        // Plain decimals, as literals or strings, read exactly.
        let schedule = FeeSchedule::from_toml_str(
            "threshold_usd = \"76000.50\"\nminimum_daily_usd = 2\n[[tiers]]\nannual_rate = 0.07\n",
        )
        .unwrap();
        assert_eq!(schedule.threshold_usd, Decimal::new(7_600_050, 2));
        assert_eq!(schedule.minimum_daily_usd, Decimal::from(2));
        assert_eq!(schedule.tiers[0].annual_rate.to_string(), "0.07");
    }

    #[test]
    fn a_schedule_written_back_to_toml_reads_the_same() {
        let mut schedule = FeeSchedule {
            measure: Measure::ExpectedShortfall { level: d("0.99") },
            day_count: DayCount::Days360,
            ..FeeSchedule::default()
        };
        let text = toml::to_string(&schedule).unwrap();
        assert_eq!(
            FeeSchedule::from_toml_str(&text).unwrap(),
            schedule,
            "{text}"
        );
        schedule.measure = Measure::TailAverage { k: 7 };
        let text = toml::to_string(&schedule).unwrap();
        assert_eq!(
            FeeSchedule::from_toml_str(&text).unwrap(),
            schedule,
            "{text}"
        );
    }

    #[test]
    fn empty_text_is_the_default() {
        assert_eq!(
            FeeSchedule::from_toml_str("").unwrap(),
            FeeSchedule::default()
        );
    }

    #[test]
    fn every_field_can_be_set() {
        let text = r#"
            threshold_usd = "76000"
            day_count = 360
            minimum_daily_usd = 0.5
            [measure]
            kind = "expected_shortfall"
            level = 0.975
            [[tiers]]
            up_to_usd = 50000
            annual_rate = 0.04
            [[tiers]]
            annual_rate = 0.3
            [grace]
            grace_days = 3
            reset_after_clear_nights = 2
        "#;
        let s = FeeSchedule::from_toml_str(text).unwrap();
        assert_eq!(s.threshold_usd, d("76000"));
        assert_eq!(s.day_count, DayCount::Days360);
        assert_eq!(s.minimum_daily_usd, d("0.5"));
        assert_eq!(s.measure, Measure::ExpectedShortfall { level: d("0.975") });
        assert_eq!(s.tiers.len(), 2);
        assert_eq!(s.tiers[0].up_to_usd, Some(d("50000")));
        assert_eq!(s.tiers[1].annual_rate, d("0.3"));
        assert_eq!(s.grace.grace_days, 3);
        assert_eq!(s.grace.reset_after_clear_nights, 2);
    }

    #[test]
    fn unknown_fields_are_refused_everywhere() {
        for text in [
            "threshold = 1",
            "[measure]\nkind = \"worst\"\nk = 3",
            "[measure]\nkind = \"median\"",
            "[measure]\nkind = \"tail_average\"",
            "[measure]\nkind = \"tail_average\"\nk = 3\nlevel = 0.9",
            "[measure]\nkind = \"expected_shortfall\"\nk = 3",
            "[[tiers]]\nannual_rate = 0.1\nrate = 0.1",
            "[grace]\ngrace_weeks = 1",
        ] {
            let err = FeeSchedule::from_toml_str(text).unwrap_err();
            assert!(matches!(err, ScheduleError::Parse(_)), "{text}: {err}");
        }
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let cases = [
            ("day_count = 364", "day_count"),
            ("[measure]\nkind = \"tail_average\"\nk = 0", "measure.k"),
            (
                "[measure]\nkind = \"expected_shortfall\"\nlevel = 1",
                "measure.level",
            ),
            (
                "[measure]\nkind = \"expected_shortfall\"\nlevel = 0",
                "measure.level",
            ),
            ("threshold_usd = -1", "threshold_usd"),
            ("minimum_daily_usd = -0.01", "minimum_daily_usd"),
            ("tiers = []", "tiers"),
            ("[[tiers]]\nannual_rate = -0.05", "tiers[0].annual_rate"),
            (
                "[[tiers]]\nup_to_usd = 10\nannual_rate = 0.05\n[[tiers]]\nup_to_usd = 10\nannual_rate = 0.1\n[[tiers]]\nannual_rate = 0.2",
                "tiers[1].up_to_usd",
            ),
            (
                "[[tiers]]\nannual_rate = 0.05\n[[tiers]]\nannual_rate = 0.1",
                "tiers[0].up_to_usd",
            ),
            (
                "[[tiers]]\nup_to_usd = 0\nannual_rate = 0.05\n[[tiers]]\nannual_rate = 0.1",
                "tiers[0].up_to_usd",
            ),
            (
                "[grace]\nreset_after_clear_nights = 0",
                "grace.reset_after_clear_nights",
            ),
        ];
        for (text, field) in cases {
            let err = FeeSchedule::from_toml_str(text).unwrap_err();
            assert!(err.to_string().contains(field), "{text}: {err}");
        }
    }

    #[test]
    fn parse_errors_carry_the_line() {
        let err = FeeSchedule::from_toml_str("day_count = 365\nthreshold_usd = [\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
