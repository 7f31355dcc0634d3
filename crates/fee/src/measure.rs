use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

/// The risk measure that turns an account's scenario losses into one loss.
///
/// Losses are positive numbers (money lost); a scenario that gains has a
/// negative loss. The uncovered amount is `max(0, measure − NLV)` (see
/// [`quote`](crate::quote)).
///
/// In the fee schedule TOML the measure is a table with a `kind`:
///
/// ```toml
/// [measure]
/// kind = "worst"                 # the single worst scenario (default)
/// # kind = "tail_average"        # the average of the worst k scenarios
/// # k = 10
/// # kind = "expected_shortfall"  # the average of the worst ceil((1 − level)·N)
/// # level = 0.99
/// ```
///
/// The engine need not keep every scenario's loss: it keeps the
/// [`scenarios_needed`](Measure::scenarios_needed) largest losses of each
/// account and hands them to [`apply`](Measure::apply).
///
/// # Examples
///
/// ```
/// use exfee_fee::Measure;
/// let worst = Measure::Worst;
/// assert_eq!(worst.scenarios_needed(1000), 1);
/// assert_eq!(worst.apply(&[5.0, 9.0, -2.0], 1000), Some(9.0));
///
/// let tail = Measure::TailAverage { k: 2 };
/// assert_eq!(tail.apply(&[5.0, 9.0, -2.0], 1000), Some(7.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "RawMeasure", into = "RawMeasure")]
pub enum Measure {
    /// The largest scenario loss (the default: the method's "largest scenario
    /// loss").
    #[default]
    Worst,
    /// The average loss of the `k` worst scenarios (the notices' "average
    /// loss"). With fewer than `k` scenarios, the average of all of them.
    TailAverage {
        /// How many of the worst scenarios to average; at least 1.
        k: usize,
    },
    /// Expected shortfall at `level`: the average loss of the worst
    /// `ceil((1 − level) · N)` of `N` scenarios (at least one).
    ExpectedShortfall {
        /// The confidence level, strictly between 0 and 1 (e.g. 0.99).
        level: Decimal,
    },
}

/// The measure as written in TOML: a `kind` and the parameter that kind
/// needs, nothing else.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeasure {
    kind: MeasureKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<usize>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::plain::optional"
    )]
    level: Option<Decimal>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum MeasureKind {
    Worst,
    TailAverage,
    ExpectedShortfall,
}

impl TryFrom<RawMeasure> for Measure {
    type Error = String;

    fn try_from(raw: RawMeasure) -> Result<Self, Self::Error> {
        match (raw.kind, raw.k, raw.level) {
            (MeasureKind::Worst, None, None) => Ok(Measure::Worst),
            (MeasureKind::TailAverage, Some(k), None) => Ok(Measure::TailAverage { k }),
            (MeasureKind::ExpectedShortfall, None, Some(level)) => {
                Ok(Measure::ExpectedShortfall { level })
            }
            (MeasureKind::Worst, _, _) => Err("measure kind \"worst\" takes no k or level".into()),
            (MeasureKind::TailAverage, _, _) => {
                Err("measure kind \"tail_average\" takes k (and no level)".into())
            }
            (MeasureKind::ExpectedShortfall, _, _) => {
                Err("measure kind \"expected_shortfall\" takes level (and no k)".into())
            }
        }
    }
}

impl From<Measure> for RawMeasure {
    fn from(measure: Measure) -> Self {
        match measure {
            Measure::Worst => RawMeasure {
                kind: MeasureKind::Worst,
                k: None,
                level: None,
            },
            Measure::TailAverage { k } => RawMeasure {
                kind: MeasureKind::TailAverage,
                k: Some(k),
                level: None,
            },
            Measure::ExpectedShortfall { level } => RawMeasure {
                kind: MeasureKind::ExpectedShortfall,
                k: None,
                level: Some(level),
            },
        }
    }
}

impl Measure {
    /// How many of the largest scenario losses the measure reads, out of
    /// `n_scenarios`: 1 for [`Worst`](Measure::Worst), `k` for
    /// [`TailAverage`](Measure::TailAverage), `ceil((1 − level) · N)` for
    /// [`ExpectedShortfall`](Measure::ExpectedShortfall).
    ///
    /// The count is always at least 1 and, when `n_scenarios` is not zero,
    /// at most `n_scenarios`. The expected-shortfall count is computed in
    /// exact decimal arithmetic, so level 0.99 over 1,000 scenarios is 10
    /// (a binary float would give 10.000000000000009 and round up to 11). An
    /// out-of-range level is clamped: level ≥ 1 reads one scenario, level ≤ 0
    /// reads all of them.
    ///
    /// # Examples
    ///
    /// ```
    /// use exfee_fee::Measure;
    /// use rust_decimal::Decimal;
    /// let es = Measure::ExpectedShortfall { level: Decimal::new(99, 2) };
    /// assert_eq!(es.scenarios_needed(1000), 10);
    /// assert_eq!(es.scenarios_needed(1001), 11);
    /// assert_eq!(es.scenarios_needed(50), 1);
    /// assert_eq!(Measure::TailAverage { k: 20 }.scenarios_needed(8), 8);
    /// ```
    pub fn scenarios_needed(&self, n_scenarios: usize) -> usize {
        let wanted = match *self {
            Measure::Worst => 1,
            Measure::TailAverage { k } => k,
            Measure::ExpectedShortfall { level } => es_count(level, n_scenarios),
        };
        wanted.clamp(1, n_scenarios.max(1))
    }

    /// The measure over the worst losses of one account.
    ///
    /// `worst_losses` holds the account's largest scenario losses (positive =
    /// money lost), in any order; it may hold every scenario's loss or only
    /// the [`scenarios_needed`](Measure::scenarios_needed)`(n_scenarios)`
    /// largest ones. `n_scenarios` is the size of the whole scenario set,
    /// which the expected shortfall needs to size its tail. The measure is
    /// the average of the `min(scenarios_needed, worst_losses.len())`
    /// largest values (the largest one for [`Worst`](Measure::Worst)).
    ///
    /// Returns `None` when `worst_losses` is empty. A NaN among the losses
    /// sorts above every number and makes the result NaN.
    ///
    /// # Examples
    ///
    /// ```
    /// use exfee_fee::Measure;
    /// use rust_decimal::Decimal;
    /// let es = Measure::ExpectedShortfall { level: Decimal::new(98, 2) };
    /// // 100 scenarios at 98%: the average of the worst 2.
    /// let losses = [1.0, 40.0, 10.0, 20.0];
    /// assert_eq!(es.apply(&losses, 100), Some(30.0));
    /// assert_eq!(es.apply(&[], 100), None);
    /// ```
    pub fn apply(&self, worst_losses: &[f64], n_scenarios: usize) -> Option<f64> {
        let take = self.scenarios_needed(n_scenarios).min(worst_losses.len());
        match take {
            0 => None,
            // The worst loss reorders nothing: no copy (the reports'
            // adjustments re-check thousands of times per account).
            1 => Some(largest(worst_losses)),
            _ => Some(mean_of_largest(take, &mut worst_losses.to_vec())),
        }
    }
}

/// The mean of the `k` largest values of `values`, which it reorders: the
/// one evaluation of a measure over losses, shared by the fee
/// ([`Measure::apply`]) and the adjustments (`exfee-adjust`, on every
/// candidate).
///
/// Values are ranked by [`f64::total_cmp`] (a NaN sorts above every number
/// and makes the mean NaN) and the `k` largest are summed from the largest
/// down, so the result does not depend on the order of `values`. `k` is
/// clamped to `1..=values.len()`; an empty slice gives NaN.
///
/// # Examples
///
/// ```
/// use exfee_fee::mean_of_largest;
/// assert_eq!(mean_of_largest(2, &mut [1.0, 9.0, 5.0]), 7.0);
/// assert_eq!(mean_of_largest(1, &mut [1.0, 9.0, 5.0]), 9.0);
/// assert_eq!(mean_of_largest(9, &mut [1.0, 5.0]), 3.0);
/// assert!(mean_of_largest(1, &mut []).is_nan());
/// ```
pub fn mean_of_largest(k: usize, values: &mut [f64]) -> f64 {
    let k = k.clamp(1, values.len().max(1));
    if k == 1 {
        return largest(values);
    }
    if k < values.len() {
        values.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    }
    let top = &mut values[..k];
    // a fixed summation order, whatever order the selection left
    top.sort_unstable_by(|a, b| b.total_cmp(a));
    top.iter().sum::<f64>() / k as f64
}

/// The largest value under [`f64::total_cmp`] (NaN when empty): the value
/// `max_by(f64::total_cmp)` gives (values equal under that order have equal
/// bits). The numeric maximum in lanes when that is exact
/// ([`exfee_model::exact_max`]), else each value's total-order key is
/// ranked (the reports' adjustments take this measure thousands of times
/// per account).
fn largest(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    exfee_model::exact_max(values).unwrap_or_else(|| largest_by_keys(values))
}

/// [`largest`] by total-order keys alone (any values, at least one).
fn largest_by_keys(values: &[f64]) -> f64 {
    // `total_cmp`'s key (flipping again gives the bits back).
    fn key(bits: u64) -> i64 {
        exfee_model::total_order_key(bits.cast_signed())
    }
    let mut lanes = [i64::MIN; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, value) in lanes.iter_mut().zip(chunk) {
            *lane = (*lane).max(key(value.to_bits()));
        }
    }
    let mut best = i64::MIN;
    for lane in lanes {
        best = best.max(lane);
    }
    for value in chunks.remainder() {
        best = best.max(key(value.to_bits()));
    }
    // `key` is its own inverse on the bits.
    f64::from_bits(key(best.cast_unsigned()).cast_unsigned())
}

/// `ceil((1 − level) · n)`, exactly, clamped to `0..=n`.
fn es_count(level: Decimal, n: usize) -> usize {
    let tail = Decimal::ONE
        .checked_sub(level.clamp(Decimal::ZERO, Decimal::ONE))
        .unwrap_or(Decimal::ZERO);
    let count = Decimal::from(n).checked_mul(tail).map(|c| c.ceil());
    count.and_then(|c| c.to_usize()).unwrap_or(n).min(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn mean_of_largest_matches_a_full_sort_in_any_order() {
        let base = [3.5, -1.0, 8.25, 0.0, 8.25, -7.5, 2.0, 1e-3, 5.0];
        for rotation in 0..base.len() {
            let mut values = base.to_vec();
            values.rotate_left(rotation);
            for k in 1..=base.len() {
                // oracle: sort a copy descending, sum the first k by hand
                let mut sorted = base.to_vec();
                sorted.sort_by(|a, b| b.partial_cmp(a).unwrap());
                let mut sum = 0.0;
                for v in &sorted[..k] {
                    sum += v;
                }
                let got = mean_of_largest(k, &mut values.clone());
                assert_eq!(got.to_bits(), (sum / k as f64).to_bits(), "k {k}");
            }
        }
        // the largest of two zeros is +0, whatever their order
        assert!(mean_of_largest(1, &mut [-0.0, 0.0]).is_sign_positive());
        assert!(mean_of_largest(1, &mut [0.0, -0.0]).is_sign_positive());
    }

    #[test]
    fn the_largest_is_total_cmps_maximum_bit_for_bit() {
        // Oracle: the plain `max_by(total_cmp)` over the same values, for
        // every length around the eight lanes and the largest value at every
        // place; signed zeros, infinities, subnormals and NaNs of both signs
        // (total_cmp puts +NaN above +inf and -NaN below -inf).
        let neg_nan = f64::from_bits(f64::NAN.to_bits() | (1 << 63));
        let specials = [
            -0.0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE / 4.0,
            -f64::MIN_POSITIVE / 4.0,
            f64::NAN,
            neg_nan,
            f64::from_bits(u64::MAX),
            -1.5,
            2.25,
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for len in 0..40 {
            for round in 0..30 {
                let values: Vec<f64> = (0..len)
                    .map(|_| {
                        let r = next();
                        if round % 5 == 1 {
                            // only zeros and negatives: a zero maximum
                            [-0.0, 0.0, -2.5, -1e300][usize::try_from(r % 4).unwrap()]
                        } else if round % 3 == 0 {
                            specials[usize::try_from(r % 11).unwrap()]
                        } else {
                            // finite values of both signs, small and large
                            f64::from_bits(r & !(0x7ff_u64 << 52) | ((r % 2047) << 52))
                        }
                    })
                    .collect();
                let want = values.iter().copied().max_by(f64::total_cmp);
                let got = mean_of_largest(1, &mut values.clone());
                match want {
                    Some(w) => assert_eq!(got.to_bits(), w.to_bits(), "{values:?}"),
                    None => assert!(got.is_nan()),
                }
            }
        }
        // By hand: +NaN is the largest of all, -NaN the smallest.
        assert!(mean_of_largest(1, &mut [f64::INFINITY, f64::NAN, 1.0]).is_nan());
        assert_eq!(
            mean_of_largest(1, &mut [neg_nan, f64::NEG_INFINITY, -3.0]),
            -3.0
        );
        assert_eq!(
            mean_of_largest(1, &mut [neg_nan]).to_bits(),
            neg_nan.to_bits()
        );
    }

    #[test]
    fn worst_needs_one_and_takes_the_maximum() {
        assert_eq!(Measure::Worst.scenarios_needed(0), 1);
        assert_eq!(Measure::Worst.scenarios_needed(5000), 1);
        assert_eq!(Measure::Worst.apply(&[-3.0, -1.0, -7.0], 3), Some(-1.0));
    }

    #[test]
    fn tail_average_averages_the_k_largest_whatever_the_order() {
        let m = Measure::TailAverage { k: 3 };
        // worst three of [1, 8, 3, 6, 2] are 8, 6, 3 → 17 / 3
        let got = m.apply(&[1.0, 8.0, 3.0, 6.0, 2.0], 5).unwrap();
        assert!((got - 17.0 / 3.0).abs() < 1e-12);
        // fewer values than k: average them all
        assert_eq!(m.apply(&[4.0, 2.0], 2), Some(3.0));
        // k = 0 (an invalid schedule built in code) still reads one
        assert_eq!(
            Measure::TailAverage { k: 0 }.apply(&[4.0, 2.0], 2),
            Some(4.0)
        );
    }

    #[test]
    fn expected_shortfall_count_is_exact() {
        let es = Measure::ExpectedShortfall { level: d("0.99") };
        assert_eq!(es.scenarios_needed(1000), 10); // 0.01 × 1000 = 10 exactly
        assert_eq!(es.scenarios_needed(10_000), 100);
        assert_eq!(es.scenarios_needed(150), 2); // 1.5 → 2
        assert_eq!(es.scenarios_needed(0), 1);
        let es975 = Measure::ExpectedShortfall { level: d("0.975") };
        assert_eq!(es975.scenarios_needed(1000), 25);
        // out-of-range levels clamp instead of panicking
        let all = Measure::ExpectedShortfall { level: d("-3") };
        assert_eq!(all.scenarios_needed(40), 40);
        let one = Measure::ExpectedShortfall { level: d("7") };
        assert_eq!(one.scenarios_needed(40), 1);
        let huge = Measure::ExpectedShortfall { level: d("0.5") };
        assert_eq!(huge.scenarios_needed(usize::MAX), usize::MAX / 2 + 1);
    }

    #[test]
    fn nan_propagates_instead_of_panicking() {
        assert!(Measure::Worst.apply(&[1.0, f64::NAN], 2).unwrap().is_nan());
        let m = Measure::TailAverage { k: 2 };
        assert!(m.apply(&[f64::NAN, 1.0, 2.0], 3).unwrap().is_nan());
    }
}
