use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The grace rules: how long a newly subject account is only notified, and
/// how long it must stay clear to start over.
///
/// In the schedule TOML:
///
/// ```toml
/// [grace]
/// grace_days = 7
/// reset_after_clear_nights = 5
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraceRules {
    /// Calendar days from the first night an account is found subject to the
    /// night the fee takes effect (default 7). 0 charges from the first
    /// night.
    pub grace_days: u32,
    /// Consecutive clear nightly runs after which an account starts over: its
    /// next subject night is a first night again, with a new grace week
    /// (default 5; at least 1).
    pub reset_after_clear_nights: u32,
}

impl Default for GraceRules {
    /// One week of grace, as the method describes; reset after five clear
    /// nights (a trading week), a project choice.
    fn default() -> Self {
        GraceRules {
            grace_days: 7,
            reset_after_clear_nights: 5,
        }
    }
}

/// What one nightly run decides for one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeeStatus {
    /// Not subject to the fee this night (uncovered at or below the
    /// threshold).
    Clear,
    /// Subject, but within the grace week: the holder is notified, the fee is
    /// 0, and it takes effect on `effective` if the account is still subject
    /// then.
    Grace {
        /// The first night the fee is charged: first subject night + grace
        /// days.
        effective: NaiveDate,
    },
    /// Subject, and the grace week is over: the fee is charged.
    Charged,
}

impl FeeStatus {
    /// The status as a word: `clear`, `grace` or `charged` (the
    /// `fee_status` column).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(exfee_fee::FeeStatus::Charged.name(), "charged");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            FeeStatus::Clear => "clear",
            FeeStatus::Grace { .. } => "grace",
            FeeStatus::Charged => "charged",
        }
    }

    /// Whether the account was subject to the fee this night (grace or
    /// charged).
    ///
    /// # Examples
    ///
    /// ```
    /// use exfee_fee::FeeStatus;
    /// assert!(FeeStatus::Charged.is_subject());
    /// assert!(!FeeStatus::Clear.is_subject());
    /// ```
    pub fn is_subject(&self) -> bool {
        !matches!(self, FeeStatus::Clear)
    }
}

impl fmt::Display for FeeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is remembered of one account from one nightly run to the next.
///
/// Built by [`next_state`] only; the state after a run of nights depends on
/// nothing but whether the account was subject on each of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountState {
    /// The first night of the current episode of being subject; `None` when
    /// the account is not in one (never subject, or started over).
    pub first_subject: Option<NaiveDate>,
    /// Subject nights in the current episode (0 when none).
    pub nights_subject: u32,
    /// Consecutive clear nights up to the last run, counted up to
    /// [`GraceRules::reset_after_clear_nights`] and no further: reaching it is
    /// what starts the account over, so counting on would change nothing.
    pub clear_nights: u32,
    /// The status of the last run.
    pub last_status: FeeStatus,
    /// The valuation date of the last run.
    pub last_date: NaiveDate,
}

impl AccountState {
    /// The date the fee takes (or took) effect in the current episode:
    /// first subject night + grace days; `None` outside an episode.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use exfee_fee::{GraceRules, next_state};
    /// let d = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    /// let (state, _) = next_state(None, d, true, GraceRules::default());
    /// assert_eq!(state.effective_date(GraceRules::default()),
    ///            NaiveDate::from_ymd_opt(2026, 3, 9));
    /// ```
    pub fn effective_date(&self, rules: GraceRules) -> Option<NaiveDate> {
        self.first_subject
            .map(|first| effective_from(first, rules.grace_days))
    }
}

/// `first + grace_days`, or the last representable date when that overflows.
fn effective_from(first: NaiveDate, grace_days: u32) -> NaiveDate {
    first
        .checked_add_days(Days::new(u64::from(grace_days)))
        .unwrap_or(NaiveDate::MAX)
}

/// The grace state machine: the account's state and fee status after the
/// nightly run of `date`, given its state after the previous run (`None` for
/// an account never seen) and whether it is subject tonight.
///
/// - Subject, not in an episode: a first night. `first_subject = date`,
///   status [`Grace`](FeeStatus::Grace) with `effective = date + grace_days`
///   (or [`Charged`](FeeStatus::Charged) at once when `grace_days` is 0).
/// - Subject, in an episode that began on `first`: `Grace { effective }`
///   while `date < first + grace_days`, then `Charged`.
/// - Not subject: [`Clear`](FeeStatus::Clear); the episode goes on (a clear
///   night inside the grace week does not restart it) until
///   `reset_after_clear_nights` consecutive clear nights, when the account
///   starts over (`first_subject = None`, `nights_subject = 0`).
///
/// Nights count nightly runs, not calendar days: a weekend without runs
/// neither adds to nor clears anything. Grace is counted in calendar days.
/// Feed nights in increasing date order; the function never panics, whatever
/// it is fed.
///
/// # Examples
///
/// ```
/// use chrono::NaiveDate;
/// use exfee_fee::{FeeStatus, GraceRules, next_state};
/// let rules = GraceRules::default();
/// let day = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
///
/// let (s1, status) = next_state(None, day(2), true, rules);
/// assert_eq!(status, FeeStatus::Grace { effective: day(9) });
/// let (s2, status) = next_state(Some(&s1), day(9), true, rules);
/// assert_eq!(status, FeeStatus::Charged);
/// assert_eq!(s2.nights_subject, 2);
/// ```
pub fn next_state(
    previous: Option<&AccountState>,
    date: NaiveDate,
    subject: bool,
    rules: GraceRules,
) -> (AccountState, FeeStatus) {
    if subject {
        let (first, nights) =
            match previous.and_then(|p| p.first_subject.map(|f| (f, p.nights_subject))) {
                Some((first, nights)) => (first, nights.saturating_add(1)),
                None => (date, 1),
            };
        let effective = effective_from(first, rules.grace_days);
        let status = if date >= effective {
            FeeStatus::Charged
        } else {
            FeeStatus::Grace { effective }
        };
        let state = AccountState {
            first_subject: Some(first),
            nights_subject: nights,
            clear_nights: 0,
            last_status: status,
            last_date: date,
        };
        (state, status)
    } else {
        let reset_after = rules.reset_after_clear_nights;
        let clear_nights = previous
            .map_or(0, |p| p.clear_nights)
            .saturating_add(1)
            .min(reset_after);
        let (first_subject, nights_subject) = match previous {
            Some(p) if clear_nights < reset_after => (p.first_subject, p.nights_subject),
            _ => (None, 0),
        };
        let state = AccountState {
            first_subject,
            nights_subject,
            clear_nights,
            last_status: FeeStatus::Clear,
            last_date: date,
        };
        (state, FeeStatus::Clear)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: NaiveDate = match NaiveDate::from_ymd_opt(2026, 3, 2) {
        Some(d) => d,
        None => NaiveDate::MIN,
    };

    fn plus(days: u64) -> NaiveDate {
        D.checked_add_days(Days::new(days)).unwrap()
    }

    /// Runs the machine over (day offset from D, subject) nights.
    fn run(nights: &[(u64, bool)], rules: GraceRules) -> Vec<(AccountState, FeeStatus)> {
        let mut state: Option<AccountState> = None;
        let mut out = Vec::new();
        for &(offset, subject) in nights {
            let (next, status) = next_state(state.as_ref(), plus(offset), subject, rules);
            out.push((next, status));
            state = Some(next);
        }
        out
    }

    #[test]
    fn first_night_is_grace_with_the_effective_date() {
        let (state, status) = next_state(None, D, true, GraceRules::default());
        assert_eq!(status, FeeStatus::Grace { effective: plus(7) });
        assert_eq!(state.first_subject, Some(D));
        assert_eq!(state.nights_subject, 1);
        assert_eq!(state.effective_date(GraceRules::default()), Some(plus(7)));
    }

    #[test]
    fn grace_week_then_charged_on_night_eight() {
        // nights D, D+1, …, D+7 all subject
        let nights: Vec<(u64, bool)> = (0..=7).map(|i| (i, true)).collect();
        let out = run(&nights, GraceRules::default());
        for (i, (_, status)) in out.iter().enumerate().take(7) {
            assert_eq!(
                *status,
                FeeStatus::Grace { effective: plus(7) },
                "night D+{i}"
            );
        }
        assert_eq!(out[7].1, FeeStatus::Charged);
        assert_eq!(out[7].0.nights_subject, 8);
        assert_eq!(out[7].0.first_subject, Some(D));
    }

    #[test]
    fn charged_follows_the_calendar_not_the_number_of_runs() {
        // runs only on D and D+9: the second is past the grace week
        let out = run(&[(0, true), (9, true)], GraceRules::default());
        assert_eq!(out[1].1, FeeStatus::Charged);
    }

    #[test]
    fn a_clear_night_below_the_reset_count_does_not_restart_grace() {
        let out = run(
            &[(0, true), (1, false), (2, true), (7, true)],
            GraceRules::default(),
        );
        assert_eq!(out[1].1, FeeStatus::Clear);
        assert_eq!(out[1].0.first_subject, Some(D));
        assert_eq!(out[1].0.clear_nights, 1);
        assert_eq!(out[2].1, FeeStatus::Grace { effective: plus(7) });
        assert_eq!(out[2].0.clear_nights, 0);
        assert_eq!(out[3].1, FeeStatus::Charged);
        assert_eq!(out[3].0.nights_subject, 3);
    }

    #[test]
    fn four_clear_nights_do_not_reset_but_five_do() {
        let rules = GraceRules::default();
        // subject D, clear D+1..D+4 (4 nights), subject D+7 → still the same episode: charged
        let out = run(
            &[
                (0, true),
                (1, false),
                (2, false),
                (3, false),
                (4, false),
                (7, true),
            ],
            rules,
        );
        assert_eq!(out[4].0.first_subject, Some(D));
        assert_eq!(out[5].1, FeeStatus::Charged);

        // subject D, clear D+1..D+5 (5 nights) → starts over: D+8 is a first night again
        let out = run(
            &[
                (0, true),
                (1, false),
                (2, false),
                (3, false),
                (4, false),
                (5, false),
                (8, true),
            ],
            rules,
        );
        let after_reset = out[5].0;
        assert_eq!(after_reset.first_subject, None);
        assert_eq!(after_reset.nights_subject, 0);
        assert_eq!(after_reset.clear_nights, 5);
        assert_eq!(
            out[6].1,
            FeeStatus::Grace {
                effective: plus(15)
            }
        );
        assert_eq!(out[6].0.first_subject, Some(plus(8)));
        assert_eq!(out[6].0.nights_subject, 1);
    }

    #[test]
    fn clear_count_stops_at_the_reset_count() {
        let nights: Vec<(u64, bool)> = (0..20).map(|i| (i, false)).collect();
        let out = run(&nights, GraceRules::default());
        assert_eq!(out[19].0.clear_nights, 5);
        assert_eq!(out[19].0.first_subject, None);
    }

    #[test]
    fn zero_grace_days_charge_from_the_first_night() {
        let rules = GraceRules {
            grace_days: 0,
            reset_after_clear_nights: 5,
        };
        assert_eq!(next_state(None, D, true, rules).1, FeeStatus::Charged);
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let rules = GraceRules {
            grace_days: u32::MAX,
            reset_after_clear_nights: 0,
        };
        let (s, status) = next_state(None, NaiveDate::MAX, true, rules);
        assert_eq!(status, FeeStatus::Charged); // MAX ≥ MAX: the clamp gives MAX
        let (s, status) = next_state(Some(&s), NaiveDate::MIN, false, rules);
        assert_eq!(status, FeeStatus::Clear);
        assert_eq!(s.first_subject, None); // reset count 0 resets on any clear night
        let (_, status) = next_state(Some(&s), NaiveDate::MIN, true, rules);
        assert!(matches!(status, FeeStatus::Grace { .. }));
        let long = AccountState {
            first_subject: Some(D),
            nights_subject: u32::MAX,
            clear_nights: u32::MAX,
            last_status: FeeStatus::Clear,
            last_date: D,
        };
        let (s, _) = next_state(Some(&long), plus(1), true, GraceRules::default());
        assert_eq!(s.nights_subject, u32::MAX);
    }
}
