use crate::error::AdjustError;

pub use exfee_fee::Measure;

/// How the adjustments evaluate the fee crate's [`Measure`] on a P&L vector.
///
/// Losses are the negated scenario P&L (a scenario that gains has a negative
/// loss). [`Measure::Worst`] is the largest loss; [`Measure::TailAverage`]
/// the mean of the `k` largest losses (with fewer than `k` scenarios, of all
/// of them); [`Measure::ExpectedShortfall`] the mean of the worst
/// `ceil((1 − level)·N)` of the vector's `N` scenarios (the vector must
/// hold every scenario of the set).
///
/// # Examples
///
/// ```
/// use exfee_adjust::{Measure, MeasureExt};
///
/// let pnl = [-120.0, -30.0, 30.0]; // losses 120, 30, -30
/// assert_eq!(Measure::Worst.evaluate(&pnl)?, 120.0);
/// assert_eq!(Measure::TailAverage { k: 2 }.evaluate(&pnl)?, 75.0);
/// # Ok::<(), exfee_adjust::AdjustError>(())
/// ```
pub trait MeasureExt {
    /// The measure of an account's scenario P&L vector (losses are `-pnl`).
    ///
    /// # Errors
    ///
    /// [`AdjustError::NoScenarios`] for an empty vector,
    /// [`AdjustError::NonFinite`] for a NaN or infinite value,
    /// [`AdjustError::ZeroK`] for a tail average with `k = 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use exfee_adjust::{AdjustError, Measure, MeasureExt};
    ///
    /// assert_eq!(Measure::TailAverage { k: 5 }.evaluate(&[-4.0, 2.0])?, 1.0);
    /// assert_eq!(Measure::Worst.evaluate(&[f64::NAN]), Err(AdjustError::NonFinite { what: "account P&L", index: 0 }));
    /// # Ok::<(), AdjustError>(())
    /// ```
    fn evaluate(&self, pnl: &[f64]) -> Result<f64, AdjustError>;
}

impl MeasureExt for Measure {
    fn evaluate(&self, pnl: &[f64]) -> Result<f64, AdjustError> {
        let k = checked_k(self, pnl.len())?;
        check_finite("account P&L", pnl)?;
        let mut losses: Vec<f64> = pnl.iter().map(|p| -p).collect();
        Ok(mean_of_largest(k, &mut losses))
    }
}

/// The number of losses averaged for `m` scenarios (1 for the worst loss),
/// or an error for no scenario or `k = 0`.
pub(crate) fn checked_k(measure: &Measure, m: usize) -> Result<usize, AdjustError> {
    if m == 0 {
        return Err(AdjustError::NoScenarios);
    }
    match *measure {
        Measure::TailAverage { k: 0 } => Err(AdjustError::ZeroK),
        _ => Ok(measure.scenarios_needed(m)),
    }
}

// The mean of the `k` largest losses (`1 ≤ k ≤ len`): the fee crate's one
// evaluation of a measure, on finite values only (checked by the callers).
pub(crate) use exfee_fee::mean_of_largest;

/// The first non-finite value of `values` as an error.
pub(crate) fn check_finite(what: &'static str, values: &[f64]) -> Result<(), AdjustError> {
    if all_finite(values) {
        return Ok(());
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(AdjustError::NonFinite { what, index }),
        None => Ok(()),
    }
}

/// Whether every value is finite, in one pass without an early exit that
/// the compiler can put in vector lanes: `value × 0` is ±0 for a finite
/// value and NaN for an infinite or NaN one, and a sum of them is NaN
/// exactly when one of them is.
fn all_finite(values: &[f64]) -> bool {
    let mut poison = [0.0_f64; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for j in 0..8 {
            poison[j] += chunk[j] * 0.0;
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|v| v * 0.0).sum();
    (poison.iter().sum::<f64>() + tail) == 0.0
}

/// Checked per-position scenario P&L: `n ≥ 1` rows of `m ≥ 1` finite
/// values, whose absolute sum in every scenario is finite (so no partial sum
/// of any reduction can overflow).
pub(crate) struct Book<'a> {
    pub(crate) rows: Vec<&'a [f64]>,
    pub(crate) m: usize,
}

impl<'a> Book<'a> {
    pub(crate) fn new<P: AsRef<[f64]>>(pnl: &'a [P]) -> Result<Self, AdjustError> {
        let rows: Vec<&[f64]> = pnl.iter().map(AsRef::as_ref).collect();
        let m = rows.first().ok_or(AdjustError::NoPositions)?.len();
        if m == 0 {
            return Err(AdjustError::NoScenarios);
        }
        let mut abs_sum = vec![0.0_f64; m];
        for (position, row) in rows.iter().enumerate() {
            if row.len() != m {
                return Err(AdjustError::PositionLength {
                    position,
                    expected: m,
                    found: row.len(),
                });
            }
            for (scenario, (&v, acc)) in row.iter().zip(abs_sum.iter_mut()).enumerate() {
                if !v.is_finite() {
                    return Err(AdjustError::NonFinitePnl { position, scenario });
                }
                *acc += v.abs();
            }
        }
        if let Some(scenario) = abs_sum.iter().position(|v| !v.is_finite()) {
            return Err(AdjustError::Overflow { scenario });
        }
        Ok(Book { rows, m })
    }

    pub(crate) fn n(&self) -> usize {
        self.rows.len()
    }

    /// The scenario losses after closing `fractions` (the canonical
    /// evaluation every reported measure uses): `loss_s = −Σ_i (1 − x_i)·pnl_is`,
    /// summed over positions in order.
    pub(crate) fn losses_into(&self, fractions: &[f64], out: &mut Vec<f64>) {
        out.clear();
        out.resize(self.m, 0.0);
        for (row, &x) in self.rows.iter().zip(fractions) {
            let keep = 1.0 - x;
            if keep != 0.0 {
                for (acc, &v) in out.iter_mut().zip(row.iter()) {
                    *acc += keep * v;
                }
            }
        }
        for v in out.iter_mut() {
            *v = -*v;
        }
    }

    /// The measure after closing `fractions` (see [`Book::losses_into`]).
    pub(crate) fn measure(&self, k: usize, fractions: &[f64], scratch: &mut Vec<f64>) -> f64 {
        self.losses_into(fractions, scratch);
        mean_of_largest(k, scratch)
    }
}

/// Checks that `fractions` has one value in `[0, 1]` per position.
pub(crate) fn check_fractions(n: usize, fractions: &[f64]) -> Result<(), AdjustError> {
    if fractions.len() != n {
        return Err(AdjustError::LengthMismatch {
            what: "fractions",
            expected: n,
            found: fractions.len(),
        });
    }
    check_finite("fraction", fractions)?;
    match fractions.iter().position(|x| !(0.0..=1.0).contains(x)) {
        Some(position) => Err(AdjustError::FractionOutOfRange {
            position,
            fraction: fractions[position],
        }),
        None => Ok(()),
    }
}

/// The account's scenario P&L after closing the fraction `fractions[i]` of
/// each position `i`: `Σ_i (1 − x_i)·pnl[i][s]` for every scenario `s`.
///
/// This is the evaluation behind every measure this crate reports (summed
/// over positions in order).
///
/// # Errors
///
/// The input checks of [`reduce_positions`](crate::reduce_positions) on
/// `pnl`, and [`AdjustError::LengthMismatch`], [`AdjustError::NonFinite`] or
/// [`AdjustError::FractionOutOfRange`] on `fractions`.
///
/// # Examples
///
/// ```
/// use exfee_adjust::reduced_pnl;
///
/// let pnl = [vec![-100.0, 50.0], vec![-20.0, -80.0]];
/// assert_eq!(reduced_pnl(&pnl, &[0.5, 1.0])?, vec![-50.0, 25.0]);
/// # Ok::<(), exfee_adjust::AdjustError>(())
/// ```
pub fn reduced_pnl<P: AsRef<[f64]>>(pnl: &[P], fractions: &[f64]) -> Result<Vec<f64>, AdjustError> {
    let book = Book::new(pnl)?;
    check_fractions(book.n(), fractions)?;
    let mut losses = Vec::new();
    book.losses_into(fractions, &mut losses);
    Ok(losses.into_iter().map(|l| -l).collect())
}

/// The measure of the account after closing `fractions` of its positions
/// (see [`reduced_pnl`]).
///
/// # Errors
///
/// As [`reduced_pnl`], and [`AdjustError::ZeroK`] for a tail average with
/// `k = 0`.
///
/// # Examples
///
/// ```
/// use exfee_adjust::{Measure, measure_after_reduction};
///
/// let pnl = [vec![-100.0, 50.0, 0.0], vec![-20.0, -80.0, 30.0]];
/// let worst = measure_after_reduction(&pnl, &[0.0, 0.0], Measure::Worst)?;
/// assert_eq!(worst, 120.0);
/// # Ok::<(), exfee_adjust::AdjustError>(())
/// ```
pub fn measure_after_reduction<P: AsRef<[f64]>>(
    pnl: &[P],
    fractions: &[f64],
    measure: Measure,
) -> Result<f64, AdjustError> {
    let book = Book::new(pnl)?;
    let k = checked_k(&measure, book.m)?;
    check_fractions(book.n(), fractions)?;
    let mut scratch = Vec::new();
    Ok(book.measure(k, fractions, &mut scratch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_non_finite_value_is_found_wherever_it_is() {
        // Oracle: the plain scan for the first value that is not finite.
        let plain = |values: &[f64]| values.iter().position(|v| !v.is_finite());
        let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -f64::NAN];
        let fillers = [
            0.0,
            -0.0,
            1.5,
            -2.5e300,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
        ];
        for n in 0..40 {
            for filler in fillers {
                let base = vec![filler; n];
                let want = plain(&base).map(|index| AdjustError::NonFinite { what: "x", index });
                assert_eq!(check_finite("x", &base).err(), want);
                for at in 0..n {
                    for special in specials {
                        let mut values = base.clone();
                        values[at] = special;
                        // a second bad value later does not move the first
                        if at + 3 < n {
                            values[at + 3] = f64::INFINITY;
                        }
                        assert_eq!(
                            check_finite("x", &values),
                            Err(AdjustError::NonFinite {
                                what: "x",
                                index: at
                            }),
                            "n {n} at {at} {special} among {filler}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn tail_average_of_fewer_scenarios_than_k_averages_all() {
        assert_eq!(
            Measure::TailAverage { k: 10 }.evaluate(&[-1.0, -3.0]),
            Ok(2.0)
        );
    }

    #[test]
    fn the_measure_of_losses_is_order_independent() {
        let mut a = vec![1.0, 7.0, 3.0, 5.0, 2.0];
        let mut b = vec![5.0, 2.0, 7.0, 1.0, 3.0];
        assert_eq!(mean_of_largest(3, &mut a), 5.0);
        assert_eq!(mean_of_largest(3, &mut b), 5.0);
        assert_eq!(mean_of_largest(1, &mut b), 7.0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let empty: [Vec<f64>; 0] = [];
        assert_eq!(Book::new(&empty).err(), Some(AdjustError::NoPositions));
        assert_eq!(
            Book::new(&[Vec::<f64>::new()]).err(),
            Some(AdjustError::NoScenarios)
        );
        assert_eq!(
            Book::new(&[vec![1.0, 2.0], vec![1.0]]).err(),
            Some(AdjustError::PositionLength {
                position: 1,
                expected: 2,
                found: 1
            })
        );
        assert_eq!(
            Book::new(&[vec![1.0, f64::INFINITY]]).err(),
            Some(AdjustError::NonFinitePnl {
                position: 0,
                scenario: 1
            })
        );
        assert_eq!(
            Book::new(&[vec![f64::MAX], vec![f64::MAX]]).err(),
            Some(AdjustError::Overflow { scenario: 0 })
        );
        assert_eq!(
            measure_after_reduction(&[vec![1.0]], &[1.5], Measure::Worst),
            Err(AdjustError::FractionOutOfRange {
                position: 0,
                fraction: 1.5
            })
        );
        assert_eq!(
            measure_after_reduction(&[vec![1.0]], &[0.5], Measure::TailAverage { k: 0 }),
            Err(AdjustError::ZeroK)
        );
        assert_eq!(Measure::Worst.evaluate(&[]), Err(AdjustError::NoScenarios));
    }
}
