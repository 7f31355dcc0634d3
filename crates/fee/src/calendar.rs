use chrono::{Datelike, NaiveDate, Weekday};
use std::collections::BTreeSet;

/// Why a holiday file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// A line is neither blank, a comment nor a `YYYY-MM-DD` date.
    #[error("holidays line {line}: {text:?} is not a date (YYYY-MM-DD)")]
    BadDate {
        /// 1-based line number.
        line: usize,
        /// The line's text, without its comment.
        text: String,
    },
}

/// Which days are trading days: every Monday to Friday that is not a
/// holiday.
///
/// The fee accrues on every calendar day and is charged on the following
/// trading day (see [`days_charged`](TradingCalendar::days_charged)).
///
/// # Examples
///
/// ```
/// use chrono::NaiveDate;
/// use exfee_fee::TradingCalendar;
/// let calendar = TradingCalendar::parse_holidays("2026-12-25 # Christmas\n").unwrap();
/// let day = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
/// assert!(!calendar.is_trading_day(day(12, 25))); // a holiday
/// assert!(!calendar.is_trading_day(day(12, 26))); // a Saturday
/// assert_eq!(calendar.previous_trading_day(day(12, 28)), Some(day(12, 24)));
/// assert_eq!(calendar.days_charged(day(12, 28)), Some(4)); // Thu 24 to Sun 27
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TradingCalendar {
    /// Days that are not trading days although they fall on a weekday (a
    /// holiday on a weekend is allowed and changes nothing).
    pub holidays: BTreeSet<NaiveDate>,
}

impl TradingCalendar {
    /// A calendar with these holidays. [`TradingCalendar::default()`] has
    /// none: weekends only.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use exfee_fee::TradingCalendar;
    /// let new_year = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
    /// let calendar = TradingCalendar::new([new_year]);
    /// assert!(!calendar.is_trading_day(new_year));
    /// ```
    pub fn new(holidays: impl IntoIterator<Item = NaiveDate>) -> Self {
        TradingCalendar {
            holidays: holidays.into_iter().collect(),
        }
    }

    /// Reads a holiday file: one `YYYY-MM-DD` date per line; `#` starts a
    /// comment (a whole line or the end of one); blank lines and the
    /// whitespace around a date are ignored; a date given twice counts once.
    ///
    /// # Errors
    ///
    /// [`CalendarError::BadDate`] with the 1-based line number of the first
    /// line that is not a date.
    ///
    /// # Examples
    ///
    /// ```
    /// use exfee_fee::TradingCalendar;
    /// let text = "# US holidays\n2026-07-03  # Independence Day (observed)\n\n2026-09-07\n";
    /// assert_eq!(TradingCalendar::parse_holidays(text).unwrap().holidays.len(), 2);
    ///
    /// let err = TradingCalendar::parse_holidays("2026-07-03\n07/04/2026\n").unwrap_err();
    /// assert_eq!(err.to_string(), "holidays line 2: \"07/04/2026\" is not a date (YYYY-MM-DD)");
    /// ```
    pub fn parse_holidays(text: &str) -> Result<TradingCalendar, CalendarError> {
        let mut holidays = BTreeSet::new();
        for (index, raw) in text.lines().enumerate() {
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let date = parse_iso_date(content).ok_or_else(|| CalendarError::BadDate {
                line: index + 1,
                text: content.to_string(),
            })?;
            holidays.insert(date);
        }
        Ok(TradingCalendar { holidays })
    }

    /// Whether `date` is a trading day: not a Saturday or Sunday, and not a
    /// holiday.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// let saturday = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
    /// assert!(!exfee_fee::TradingCalendar::default().is_trading_day(saturday));
    /// ```
    pub fn is_trading_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&date)
    }

    /// The last trading day strictly before `date`; `None` only when that
    /// would be before the first representable date.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// let monday = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
    /// let friday = NaiveDate::from_ymd_opt(2026, 3, 6).unwrap();
    /// assert_eq!(exfee_fee::TradingCalendar::default().previous_trading_day(monday), Some(friday));
    /// ```
    pub fn previous_trading_day(&self, date: NaiveDate) -> Option<NaiveDate> {
        // Ends: the holidays are finite, so a weekday that is not one comes.
        let mut day = date.pred_opt()?;
        while !self.is_trading_day(day) {
            day = day.pred_opt()?;
        }
        Some(day)
    }

    /// The first trading day strictly after `date` (when a fee accrued on
    /// `date` is deducted); `None` only past the last representable date.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// let friday = NaiveDate::from_ymd_opt(2026, 3, 6).unwrap();
    /// let monday = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
    /// assert_eq!(exfee_fee::TradingCalendar::default().next_trading_day(friday), Some(monday));
    /// ```
    pub fn next_trading_day(&self, date: NaiveDate) -> Option<NaiveDate> {
        let mut day = date.succ_opt()?;
        while !self.is_trading_day(day) {
            day = day.succ_opt()?;
        }
        Some(day)
    }

    /// How many calendar days the nightly run of valuation date `date`
    /// charges, each at the daily fee this run measures.
    ///
    /// On a trading day: every calendar day since the previous trading day,
    /// `[previous_trading_day(date), date)`, so `date − previous_trading_day`.
    /// An ordinary weekday charges 1 (the day before), a Monday 3 (Friday,
    /// Saturday, Sunday), a Tuesday after a Monday holiday 4, the day after a
    /// mid-week holiday 2.
    ///
    /// On a weekend day or a holiday: 0. Those days are charged by the next
    /// trading day's run, which counts back to the previous trading day
    /// whether or not a run happened in between; counting back from a
    /// non-trading day too would charge them twice.
    ///
    /// `None` only when the previous trading day is not representable.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use exfee_fee::TradingCalendar;
    /// let calendar = TradingCalendar::default();
    /// let day = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
    /// assert_eq!(calendar.days_charged(day(4)), Some(1)); // Wednesday
    /// assert_eq!(calendar.days_charged(day(9)), Some(3)); // Monday
    /// assert_eq!(calendar.days_charged(day(8)), Some(0)); // Sunday
    /// ```
    pub fn days_charged(&self, date: NaiveDate) -> Option<u32> {
        if !self.is_trading_day(date) {
            return Some(0);
        }
        let previous = self.previous_trading_day(date)?;
        u32::try_from(date.signed_duration_since(previous).num_days()).ok()
    }
}

/// A strict `YYYY-MM-DD` date.
fn parse_iso_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    // March 2026: Mon 2, Tue 3, Wed 4, Thu 5, Fri 6, Sat 7, Sun 8, Mon 9, Tue 10.

    #[test]
    fn plain_weekday_charges_one_day() {
        let c = TradingCalendar::default();
        assert_eq!(c.days_charged(day(2026, 3, 4)), Some(1));
        assert_eq!(c.days_charged(day(2026, 3, 6)), Some(1)); // Friday charges Thursday
    }

    #[test]
    fn monday_charges_friday_saturday_sunday() {
        let c = TradingCalendar::default();
        assert_eq!(
            c.previous_trading_day(day(2026, 3, 9)),
            Some(day(2026, 3, 6))
        );
        assert_eq!(c.days_charged(day(2026, 3, 9)), Some(3));
    }

    #[test]
    fn tuesday_after_a_monday_holiday_charges_four_days() {
        let c = TradingCalendar::new([day(2026, 3, 9)]);
        assert!(!c.is_trading_day(day(2026, 3, 9)));
        // Fri 6, Sat 7, Sun 8, Mon 9 (holiday)
        assert_eq!(c.days_charged(day(2026, 3, 10)), Some(4));
    }

    #[test]
    fn day_after_a_midweek_holiday_charges_two_days() {
        let c = TradingCalendar::new([day(2026, 3, 4)]);
        // Thursday 5 charges Tue 3 and Wed 4 (holiday)
        assert_eq!(c.days_charged(day(2026, 3, 5)), Some(2));
    }

    #[test]
    fn a_run_on_a_weekend_or_holiday_charges_nothing() {
        let c = TradingCalendar::new([day(2026, 3, 4)]);
        assert_eq!(c.days_charged(day(2026, 3, 7)), Some(0)); // Saturday
        assert_eq!(c.days_charged(day(2026, 3, 8)), Some(0)); // Sunday
        assert_eq!(c.days_charged(day(2026, 3, 4)), Some(0)); // holiday
        // … and the next trading day still charges every day since Friday
        assert_eq!(c.days_charged(day(2026, 3, 9)), Some(3));
    }

    #[test]
    fn every_calendar_day_is_charged_exactly_once_over_a_year() {
        let text = "2026-01-01\n2026-01-19\n2026-02-16\n2026-04-03\n2026-05-25\n2026-07-03\n2026-09-07\n2026-11-26\n2026-12-25\n";
        let c = TradingCalendar::parse_holidays(text).unwrap();
        let mut charged = 0;
        let mut d = day(2026, 1, 2); // a trading day; count what runs after it charge
        while d < day(2026, 12, 31) {
            d = d.succ_opt().unwrap();
            charged += c.days_charged(d).unwrap();
        }
        // runs from Jan 3 to Dec 31 charge [Jan 2, last trading day ≤ Dec 31)
        let last = if c.is_trading_day(day(2026, 12, 31)) {
            day(2026, 12, 31)
        } else {
            c.previous_trading_day(day(2026, 12, 31)).unwrap()
        };
        assert_eq!(i64::from(charged), (last - day(2026, 1, 2)).num_days());
    }

    #[test]
    fn previous_and_next_skip_runs_of_holidays() {
        let c = TradingCalendar::new((1..=20).map(|d| day(2026, 3, d)));
        assert_eq!(
            c.previous_trading_day(day(2026, 3, 21)),
            Some(day(2026, 2, 27))
        );
        assert_eq!(c.next_trading_day(day(2026, 2, 27)), Some(day(2026, 3, 23)));
        assert_eq!(c.days_charged(day(2026, 3, 23)), Some(24));
    }

    #[test]
    fn edges_of_the_date_range_do_not_panic() {
        let c = TradingCalendar::default();
        assert_eq!(c.previous_trading_day(NaiveDate::MIN), None);
        assert_eq!(c.next_trading_day(NaiveDate::MAX), None);
        let _ = c.days_charged(NaiveDate::MIN);
        let _ = c.days_charged(NaiveDate::MAX);
    }

    #[test]
    fn holiday_file_comments_blanks_and_errors() {
        let text = "# header\n\n  2026-12-25  \n2026-12-25 # twice\r\n2027-01-01#no space\n";
        let c = TradingCalendar::parse_holidays(text).unwrap();
        assert_eq!(c.holidays.len(), 2);
        assert!(c.holidays.contains(&day(2027, 1, 1)));

        for (text, line) in [
            ("2026-12-25\n\n2026-13-01\n", 3),
            ("2026-2-3\n", 1),
            ("# ok\n2026-02-30\n", 2),
            ("2026-02-03 2026-02-04\n", 1),
            ("+2026-02-03\n", 1),
            ("20260203\n", 1),
        ] {
            match TradingCalendar::parse_holidays(text) {
                Err(CalendarError::BadDate { line: got, .. }) => assert_eq!(got, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert_eq!(
            TradingCalendar::parse_holidays("").unwrap(),
            TradingCalendar::default()
        );
    }
}
